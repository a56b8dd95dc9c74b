import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from sheets.selectors import row_index

from .factories import make_sheet, member, user


@pytest.fixture(autouse=True)
def _fresh_row_index():
    row_index.clear()
    yield
    row_index.clear()


@pytest.fixture
def workspace(db):
    from .factories import WorkspaceFactory

    return WorkspaceFactory()


@pytest.fixture
def owner(workspace):
    return member(workspace, Role.OWNER)


@pytest.fixture
def editor(workspace):
    return member(workspace, Role.EDITOR)


@pytest.fixture
def viewer(workspace):
    return member(workspace, Role.VIEWER)


@pytest.fixture
def outsider(db):
    return user()


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner)


@pytest.fixture
def api():
    def client_for(as_user=None):
        client = APIClient()
        if as_user is not None:
            client.force_authenticate(as_user)
        return client

    return client_for

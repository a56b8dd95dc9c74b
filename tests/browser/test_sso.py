"""SSO login in a real browser: the Gridcast login page's provider button leads to the test
OpenID Connect provider (tests/oidc_provider/, a real one in its own process), its login form
leads back, and the person lands logged in on Gridcast's home page with the workspace they were
invited to."""

import tempfile

import pytest
from django.conf import settings

from accounts.invitations import invite_member
from accounts.models import Role
from tests.oidc_provider.process import NAME, PASSWORD
from tests.realtime.servers import ServerProcess, server_env

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def sso_server(oidc_provider, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        env = server_env(settings.REDIS_URL, **oidc_provider.gridcast_env())
    server = ServerProcess("uvicorn", env, tempfile.mkdtemp(prefix="gc-sso-web-")).start()
    yield server
    server.stop()


def test_sso_login_from_the_login_page_to_the_home_page(chromium, sso_server, oidc_provider, workspace):
    invite_member(workspace=workspace, email="browser@example.com", role="editor", by_role=Role.OWNER)
    context = chromium.new_context(base_url=sso_server.http_url)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/accounts/login/")
        button = page.get_by_role("button", name=NAME)
        assert button.is_visible()
        screenshot(page, "sso-login")
        button.click()

        page.wait_for_url(f"{oidc_provider.url}/login/**")
        page.fill("input[name=username]", "browser")
        page.fill("input[name=password]", PASSWORD)
        page.click("#idp-login")

        page.wait_for_url(f"{sso_server.http_url}/")
        page.wait_for_selector("text=browser@example.com")
        page.wait_for_selector(f"[data-workspace-id='{workspace.pk}']")
        screenshot(page, "sso-home")
    finally:
        context.close()

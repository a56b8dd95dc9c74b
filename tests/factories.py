import factory

from accounts.models import Membership, Role, User, Workspace
from sheets import services


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("pass-word-123")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")


def user(**kwargs):
    return UserFactory(**kwargs)


def member(workspace, role=Role.EDITOR, **kwargs):
    person = UserFactory(**kwargs)
    Membership.objects.create(workspace=workspace, user=person, role=role)
    return person


DEFAULT_COLUMNS = [
    {"name": "Name", "type": "text"},
    {"name": "Amount", "type": "number"},
    {"name": "Count", "type": "integer"},
    {"name": "Paid", "type": "boolean"},
    {"name": "Day", "type": "date"},
    {"name": "At", "type": "datetime"},
    {"name": "Status", "type": "choice", "options": {"choices": ["new", "shipped", "cancelled"]}},
]


def make_sheet(workspace, actor, rows=0, columns=None, name="Orders"):
    """A sheet with columns c1..c7 of every type, and `rows` empty rows."""
    sheet = services.sheet_create(workspace=workspace, name=name, actor=actor, columns=columns or DEFAULT_COLUMNS)
    if rows:
        services.rows_insert(sheet=sheet, actor=actor, count=rows)
    sheet.refresh_from_db()
    return sheet


def pushed_notification(workspace_id, **fields):
    """A notification as alerts push it to a workspace (analytics.alerts.evaluation._push)."""
    return {
        "id": None,
        "workspace": workspace_id,
        "kind": "alert",
        "rule": 3,
        "message": "Orders dropped",
        "value": 12.5,
        "link": "",
        "created_at": "2026-03-02T12:01:03Z",
        "read_at": None,
        "rule_name": "Orders",
        "state": "firing",
        "ids": {},
        **fields,
    }

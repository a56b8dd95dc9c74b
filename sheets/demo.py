"""The Demo workspace that `manage.py seed_demo` makes: its names, how to find it, and the signal
seed_demo sends once it made a new one, so that apps above sheets (analytics: a day of metrics, a
dashboard, an alert rule) add their part without sheets importing them."""

from django.dispatch import Signal

from accounts.models import Role, Workspace

DEMO_WORKSPACE = "Demo"
DEMO_PASSWORD = "gridcast-demo"
DEMO_MEMBERS = [
    ("owner@demo.gridcast", Role.OWNER),
    ("admin@demo.gridcast", Role.ADMIN),
    ("editor@demo.gridcast", Role.EDITOR),
    ("viewer@demo.gridcast", Role.VIEWER),
]
# Not a workspace member: the account for Django's /admin/.
DEMO_SUPERUSER = "superuser@demo.gridcast"
# The demo collaborator: an editor who now and then edits the orders sheet while the server runs
# (analytics.demo). It has no usable password: nobody logs in as it.
DEMO_BOT = "demo-bot@demo.gridcast"
DEMO_BOT_NAME = "Ada (demo)"
SHEET_NAME = "orders"

# Sent by seed_demo after the workspace, its members and the sheet are committed, with
# workspace, sheet, seed (the random seed) and progress (a rich Progress, or None when quiet).
# A receiver may return a sentence of what it added; seed_demo prints it.
demo_seeded = Signal()


def demo_workspace() -> Workspace | None:
    """The Demo workspace seed_demo made: named Demo and owned by the demo owner."""
    return Workspace.objects.filter(
        name=DEMO_WORKSPACE, memberships__user__email=DEMO_MEMBERS[0][0], memberships__role=Role.OWNER
    ).first()

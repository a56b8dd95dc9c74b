"""Guest tokens Django mints for a workspace's embedded Superset dashboard."""

import datetime as dt
import logging
import time

import jwt

from accounts.models import User
from accounts.permissions import Access, workspace_access

from .client import GUEST_TOKEN_ALGO, SupersetError, SupersetFailed, SupersetUnavailable, available, conf
from .provisioning import lake_file, stored_object, sync_workspace

log = logging.getLogger(__name__)


def rls_rules(user: User, workspace_id: int) -> list[dict]:
    """The row-level security of a guest token: the workspace's rows of every dataset; for someone
    who may not edit, none of the history's (cell_history holds every value a cell ever had)."""
    rules = [{"clause": f"workspace_id = {int(workspace_id)}"}]
    history = stored_object("dataset", "history")
    if workspace_access(user, workspace_id) < Access.EDIT:
        # Without a stored dataset (a sync that has not made it yet) there is nothing to hide.
        if history is not None:
            rules.append({"dataset": history.superset_id, "clause": "1 = 0"})
    return rules


def guest_token(*, user: User, workspace_id: int, seconds: int | None = None, now: float | None = None) -> dict:
    """A guest token for the workspace's dashboard only. Its one row-level security rule names no
    dataset, so Superset applies it to every dataset the guest reads: a dataset with the
    workspace_id column shows the workspace's rows, and any other (one added to the dashboard in
    Superset by hand, say) fails: guests fail closed."""
    dashboard = stored_object("dashboard", f"ws:{int(workspace_id)}")
    # No lake file: Superset could not read the lake (a Superset database made by an older
    # Gridcast, a var/ cleaned): the sync writes it and points the database at it.
    if dashboard is None or not lake_file().exists():
        if not available():
            raise SupersetUnavailable("Superset is not running (start it with `make superset`)")
        try:
            dashboard = sync_workspace(workspace_id)
        except SupersetError as error:
            log.warning("superset: provisioning workspace %s failed: %s", workspace_id, error)
            raise SupersetFailed("Superset could not set up this workspace's dashboard; try again") from None
    now = int(now if now is not None else time.time())
    expires = now + int(seconds or conf("GUEST_TOKEN_SECONDS"))
    claims = {
        "user": {
            "username": f"gridcast-{user.pk}",
            "first_name": str(getattr(user, "label", "") or "Gridcast")[:60],
            "last_name": "",
        },
        "resources": [{"type": "dashboard", "id": dashboard.uuid}],
        "rls_rules": rls_rules(user, workspace_id),
        "iat": now,
        "exp": expires,
        "aud": conf("GUEST_TOKEN_AUDIENCE"),
        "type": "guest",
    }
    token = jwt.encode(claims, conf("GUEST_TOKEN_SECRET"), algorithm=GUEST_TOKEN_ALGO)
    return {
        "token": token,
        "dashboard": dashboard.uuid,
        "url": conf("PUBLIC_URL"),
        "expires_at": dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(),
    }

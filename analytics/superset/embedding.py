"""Embedding a workspace's Superset dashboard in Gridcast's dashboard page: whether the page shows
it, and where the page gets a guest token."""

from . import client, provisioning, sync


def superset_panel(workspace_id: int) -> dict:
    """Whether the page embeds the workspace's Superset dashboard: only when Superset answers and
    the dashboard was provisioned (else a sync is started in the background, never on the page's time).
    When it does not answer, `failure` is why it could not be installed or started (written by
    `make run`), or None when it is simply off."""
    available = client.available(timeout=0.5)
    provisioned = available and provisioning.is_provisioned(workspace_id)
    if available and not provisioned:
        sync.schedule_sync(workspace_id)
    return {
        "available": available,
        "provisioned": provisioned,
        "failure": None if available else client.failure_reason(),
        "tokenUrl": f"/api/v1/workspaces/{workspace_id}/superset/guest-token/",
    }

"""Live pushes of the analytics app, through the channel layer (Redis or in-memory).

- metrics_arrived(workspace_id): new metric events (or sheet data) for a workspace were committed;
  dashboard connections of that workspace (group "dashboard.<id>") recompute their widgets.
- notification(workspace_id, payload): an alert fired; everyone of the workspace connected to
  a page with the bell (group "workspace.<id>") gets it.
Call them after the commit (transaction.on_commit): a push must never announce data that a
rollback removed.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def dashboard_group(workspace_id):
    return f"dashboard.{workspace_id}"


def workspace_group(workspace_id):
    return f"workspace.{workspace_id}"


def _send(group, message):
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a push is best effort: the data is committed, pages also poll
        log.exception("could not push to %s", group)


def metrics_arrived(workspace_id):
    _send(dashboard_group(workspace_id), {"type": "metrics.arrived", "workspace": workspace_id})


def notification(workspace_id, payload):
    _send(workspace_group(workspace_id), {"type": "notification.created", "notification": payload})

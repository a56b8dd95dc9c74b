"""Live pushes of the analytics app, through the channel layer (Redis or in-memory).

- data_arrived(workspace_id): new metric events, or sheet data in the lake, for a workspace were committed;
  dashboard connections of that workspace (group "dashboard.<id>") recompute their widgets.
- notification(workspace_id, payload): an alert fired; everyone of the workspace connected to
  a page with the bell (group "workspace.<id>") gets it.
Call them after the commit (transaction.on_commit): a push must never announce data that a
rollback removed.
"""
from realtime.layers import group_send


def dashboard_group(workspace_id):
    return f"dashboard.{workspace_id}"


def workspace_group(workspace_id):
    return f"workspace.{workspace_id}"


def data_arrived(workspace_id):
    group_send(dashboard_group(workspace_id), {"type": "data.arrived", "workspace": workspace_id})


def notification(workspace_id, payload):
    group_send(workspace_group(workspace_id), {"type": "notification.created", "notification": payload})

"""Live pushes of alerts, through the channel layer (Redis or in-memory): notification(workspace_id,
payload) when an alert fired; everyone of the workspace connected to a page with the bell (group
"workspace.<id>") gets it. Call it after the commit (transaction.on_commit): a push must never
announce what a rollback removed.
"""

from realtime.layers import group_send


def workspace_group(workspace_id: int) -> str:
    return f"workspace.{workspace_id}"


def notification(workspace_id: int, payload: dict) -> None:
    group_send(workspace_group(workspace_id), {"type": "notification.created", "notification": payload})


def personal_notification(payload: dict | None, user_id: int) -> dict:
    """The workspace-wide push of an alert (evaluation.notification_payload with `ids`: user id ->
    that person's Notification id) as this person sees it: their own id, nobody else's."""
    payload = dict(payload or {})
    ids = payload.pop("ids", None)
    if isinstance(ids, dict):
        payload["id"] = ids.get(str(user_id), payload.get("id"))
    return payload

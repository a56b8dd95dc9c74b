"""Live pushes of notifications, through the channel layer (Redis or in-memory): notification(
workspace_id, payload) when an alert fired, which everyone of the workspace connected to a page
with the bell (group "workspace.<id>") gets; personal(user_id, payload) for one person's own (a
mention, a reply). Call them after the commit (transaction.on_commit): a push must never announce
what a rollback removed.
"""

from realtime.layers import group_send


def workspace_group(workspace_id: int) -> str:
    return f"workspace.{workspace_id}"


def person_group(user_id: int) -> str:
    """One person's bell streams: the notifications that are theirs alone (a mention, a reply),
    which reach them even on a sheet shared with them outside their workspaces."""
    return f"notifications.user.{user_id}"


def notification(workspace_id: int, payload: dict) -> None:
    group_send(workspace_group(workspace_id), {"type": "notification.created", "notification": payload})


def personal(user_id: int, payload: dict) -> None:
    group_send(person_group(user_id), {"type": "notification.created", "notification": payload})


def personal_notification(payload: dict | None, user_id: int) -> dict | None:
    """The workspace-wide push of an alert (evaluation.notification_payload with `ids`: user id ->
    that person's Notification id) as this person sees it: their own id, nobody else's; or None
    for those `muted`, who chose not to hear of alerts in the app (accounts.notification_preferences)."""
    payload = dict(payload or {})
    ids = payload.pop("ids", None)
    muted = payload.pop("muted", None) or []
    if user_id in muted:
        return None
    if isinstance(ids, dict):
        payload["id"] = ids.get(str(user_id), payload.get("id"))
    return payload


def notification_frame(payload: dict | None, user_id: int) -> dict | None:
    """The `notification` frame of a push for this person, or None when it is not for them."""
    notification = personal_notification(payload, user_id)
    return None if notification is None else {"type": "notification", "notification": notification}

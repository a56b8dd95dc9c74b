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


def personal_notification(payload: dict | None, user_id: int) -> dict | None:
    """The workspace-wide push (evaluation.notification_payload with `ids`: user id -> that person's
    Notification id) as this person sees it: their own id, nobody else's; or None when it is not
    theirs: a `personal` push (a mention, a reply) is only for those in `ids`, and those in `muted`
    chose not to hear of its kind in the app (accounts.notification_preferences)."""
    payload = dict(payload or {})
    ids = payload.pop("ids", None)
    personal = payload.pop("personal", False)
    muted = payload.pop("muted", None) or []
    if user_id in muted:
        return None
    if isinstance(ids, dict):
        if personal and str(user_id) not in ids:
            return None
        payload["id"] = ids.get(str(user_id), payload.get("id"))
    return payload


def notification_frame(payload: dict | None, user_id: int) -> dict | None:
    """The `notification` frame of a push for this person, or None when it is not for them."""
    notification = personal_notification(payload, user_id)
    return None if notification is None else {"type": "notification", "notification": notification}

"""The bell's inbox: what becomes a Notification of whom, as each person chose for its kind
(accounts.notification_preferences: in the app, by e-mail, both or none). Alerts that fire
(evaluation.py), comments that mention someone or reply in their thread (sheets' comment_posted)
and access given (accounts' invited: made a member, a sheet shared) come here; the e-mails are
queued for the person's next digest (analytics.deliveries.digest), the stored notifications pushed
live after the commit (notify.py)."""

from django.db import transaction
from django.urls import reverse

from accounts import notification_preferences as preferences
from analytics.deliveries import digest
from analytics.models import Notification
from sheets.models import Comment

from . import notify


def _fit(text: str) -> str:
    most = Notification._meta.get_field("message").max_length
    return text if len(text) <= most else text[: most - 1] + "…"


def notification_payload(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "workspace": notification.workspace_id,
        "kind": notification.kind,
        "rule": notification.rule_id,
        "message": notification.message,
        "value": notification.value,
        "link": notification.link,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
    }


def deliver(
    *,
    workspace_id: int,
    kind: str,
    user_ids: list[int],
    message: str,
    link: str = "",
    by_email: bool = True,
    **fields: object,
) -> tuple[list[Notification], list[int]]:
    """In the caller's transaction: a Notification for each of `user_ids` who hears of `kind` in the
    app, an e-mail queued for each who hears of it by e-mail (unless `by_email` is False: its sender
    e-mails it itself). Returns (the notifications, the ids of those who chose no bell for it: their
    pages must not toast it either)."""
    channels = preferences.channels_for(list(user_ids), kind)
    message = _fit(message)
    bell = [u for u in user_ids if preferences.wants_in_app(channels[u])]
    created = Notification.objects.bulk_create(
        Notification(user_id=u, workspace_id=workspace_id, kind=kind, message=message, link=link, **fields)
        for u in bell
    )
    if by_email:
        mailed = [u for u in user_ids if preferences.wants_email(channels[u])]
        digest.enqueue(user_ids=mailed, kind=kind, text=message, link=link)
    return created, [u for u in user_ids if u not in set(bell)]


# --- comments ------------------------------------------------------------------------------------


def _quoted(body: str) -> str:
    line = " ".join(body.split())
    return f"“{line[:120]}…”" if len(line) > 120 else f"“{line}”"


def comment_link(comment: Comment) -> str:
    return f"{reverse('sheet', args=[comment.sheet_id])}?comment={comment.thread_id or comment.pk}"


def on_comment_posted(sender: object, *, comment: Comment, mentioned: list[int], replied: list[int], **kwargs) -> None:
    """Whoever a new comment mentions hears of it, and on a reply whoever wrote in the thread before.
    In the comment's transaction: both are committed together or not at all."""
    sheet, who = comment.sheet, comment.author.label if comment.author else "Someone"
    link = comment_link(comment)
    pushes = []
    for kind, user_ids, words in (
        (Notification.Kind.MENTION, mentioned, "mentioned you"),
        (Notification.Kind.REPLY, replied, "replied in your thread"),
    ):
        if not user_ids:
            continue
        message = f"{who} {words} on {sheet.name}: {_quoted(comment.body)}"
        created, _ = deliver(
            workspace_id=sheet.workspace_id, kind=kind, user_ids=user_ids, message=message, link=link, sheet=sheet
        )
        if created:
            pushes.append(created)
    for created in pushes:
        transaction.on_commit(lambda created=created: _push_personal(created))


def _push_personal(created: list[Notification]) -> None:
    """Each person's own push, to their bell streams (notify.person_group)."""
    for notification in created:
        notify.personal(notification.user_id, notification_payload(notification))


# --- access given --------------------------------------------------------------------------------


def on_invited(
    sender: object,
    *,
    user_id: int,
    workspace_id: int,
    sheet_id: int | None,
    message: str,
    link: str,
    emailed: bool,
    **kwargs: object,
) -> None:
    """Someone made a member or given a sheet (accounts.signals.invited): the bell for those who hear
    of invitations in the app; a digest e-mail for those who hear of them by e-mail, unless the
    sender e-mails it itself (a sheet share: its e-mail carries the link)."""
    created, _ = deliver(
        workspace_id=workspace_id,
        kind=Notification.Kind.INVITATION,
        user_ids=[user_id],
        message=message,
        link=link,
        by_email=not emailed,
        sheet_id=sheet_id,
    )
    if created:
        transaction.on_commit(lambda: _push_personal(created))

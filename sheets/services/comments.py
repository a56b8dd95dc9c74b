"""Comment threads on cells and rows: write, reply, edit, delete, resolve, reopen. Who may do what is
decided here (sheets.comments says it in words); each service is one transaction, announces its
change to the sheet's live connections after the commit (signals.comment_changed) and, inside the
transaction, the people to notify (signals.comment_posted), so nothing is half applied."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Access
from core.errors import InvalidInput, NotFound, PermissionDenied, check_quota
from core.events import announce_on_commit

from .. import signals
from ..comments import can_see, comment_dict, thread_participants
from ..models import Column, Comment, Row, Sheet
from ..values import check_text
from .common import limit


def _announce(comment: Comment, event: str, deleted_ids: list[int] | None = None) -> None:
    data = comment_dict(comment)
    announce_on_commit(
        signals.comment_changed,
        Comment,
        "comment_changed",
        sheet_id=comment.sheet_id,
        event=event,
        comment=data,
        deleted_ids=deleted_ids or [],
    )


def _require_write(access: Access) -> None:
    if access < Access.EDIT:
        raise PermissionDenied("you may read this sheet's comments but not write them: editors comment")


def _body(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("the comment is empty: write something", field="body")
    body = body.strip()
    most = limit("MAX_COMMENT_CHARS")
    if len(body) > most:
        raise InvalidInput(f"the comment is longer than {most} characters ({len(body)})", field="body")
    try:
        return check_text(body, "the comment")
    except ValueError as error:
        raise InvalidInput(str(error), field="body") from None


def _mentions(sheet: Sheet, mentions: object) -> list[int]:
    """The ids mentioned, each once, in order; every one must be able to see the sheet."""
    if mentions is None:
        return []
    if not isinstance(mentions, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in mentions):
        raise InvalidInput("mentions is a list of user ids", field="mentions")
    ids = list(dict.fromkeys(mentions))
    most = limit("MAX_COMMENT_MENTIONS")
    if len(ids) > most:
        raise InvalidInput(f"a comment mentions at most {most} people", field="mentions")
    seeing = can_see(sheet, set(ids))
    outside = [i for i in ids if i not in seeing]
    if outside:
        # The same words for an id that exists and one that does not: accounts are not revealed.
        raise InvalidInput(
            f"user {outside[0]} cannot see this sheet: mention only people who can", field="mentions", id=outside[0]
        )
    return ids


def _row_held(sheet: Sheet, row_id: int) -> bool:
    """Whether the row is there, locked until the commit: a deletion waits for the comment, so a
    new comment never lands on a row deleted meanwhile."""
    held = Row.objects.select_for_update(of=("self",)).filter(sheet_id=sheet.pk, pk=row_id).order_by()
    return held.values_list("pk", flat=True).first() is not None


def _place(sheet: Sheet, row: object, col: object) -> tuple[int, str]:
    """(row id, column key or "") of a new thread: an existing row, an active column or none."""
    if not isinstance(row, int) or isinstance(row, bool):
        raise InvalidInput("row is a row id", field="row")
    if col is None:
        col = ""
    if not isinstance(col, str):
        raise InvalidInput('col is a column key, or "" for the whole row', field="col")
    if not _row_held(sheet, row):
        raise NotFound(f"row {row} not found: it was deleted, or is not of this sheet", row=row)
    if col and not Column.objects.filter(sheet_id=sheet.pk, key=col, deleted=False).exists():
        raise NotFound(f"column {col[:20]!r} not found: it was deleted, or is not of this sheet", col=col[:16])
    return row, col


def _thread(sheet: Sheet, thread: object) -> Comment:
    if not isinstance(thread, int) or isinstance(thread, bool):
        raise InvalidInput("thread is the id of the thread's first comment", field="thread")
    root = Comment.objects.select_for_update().filter(sheet_id=sheet.pk, pk=thread).first()
    if root is None:
        raise NotFound(f"comment {thread} not found on this sheet")
    if root.thread_id is not None:
        raise InvalidInput("reply to the thread's first comment", field="thread")
    if not _row_held(sheet, root.row_id):
        raise NotFound(f"row {root.row_id} was deleted: its comments are kept, but take no replies", row=root.row_id)
    return root


@transaction.atomic
def comment_create(
    *,
    sheet: Sheet,
    actor: User,
    access: Access,
    body: object,
    row: object = None,
    col: object = None,
    thread: object = None,
    mentions: object = None,
) -> Comment:
    """A new thread on a cell or row (`row`, `col`), or a reply to `thread` (its place is the thread's).
    Mentioned people are notified, and on a reply the thread's earlier writers."""
    _require_write(access)
    body = _body(body)
    mentioned = _mentions(sheet, mentions)
    root = _thread(sheet, thread) if thread is not None else None
    row, col = (root.row_id, root.col) if root is not None else _place(sheet, row, col)
    check_quota("MAX_COMMENTS_PER_SHEET", Comment.objects.filter(sheet_id=sheet.pk).count(), "comments per sheet")
    comment = Comment.objects.create(
        sheet=sheet, row_id=row, col=col, thread=root, author=actor, body=body, mentions=mentioned
    )
    replied = sorted(thread_participants(root) - {actor.pk} - set(mentioned)) if root is not None else []
    signals.comment_posted.send(
        sender=Comment, comment=comment, mentioned=[i for i in mentioned if i != actor.pk], replied=replied
    )
    _announce(comment, "created")
    return comment


@transaction.atomic
def comment_update(*, comment: Comment, actor: User, access: Access, body: object, mentions: object = None) -> Comment:
    """Its author edits a comment (the body, and the mentions when given); those newly mentioned
    are notified."""
    _require_write(access)
    if comment.author_id != actor.pk:
        raise PermissionDenied("only its author edits a comment")
    comment.body = _body(body)
    if mentions is not None:
        before = set(comment.mentions)
        comment.mentions = _mentions(comment.sheet, mentions)
        added = [i for i in comment.mentions if i not in before and i != actor.pk]
    else:
        added = []
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "mentions", "edited_at"])
    if added:
        signals.comment_posted.send(sender=Comment, comment=comment, mentioned=added, replied=[])
    _announce(comment, "changed")
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, actor: User, access: Access) -> None:
    """Its author, or an admin or owner, deletes a comment; the first comment of a thread takes
    its replies with it."""
    if comment.author_id != actor.pk and access < Access.MANAGE:
        raise PermissionDenied("only its author, an admin or an owner deletes a comment")
    gone = [comment.pk]
    if comment.thread_id is None:
        gone += list(comment.replies.values_list("pk", flat=True))
    _announce(comment, "deleted", gone)
    comment.delete()


@transaction.atomic
def comment_resolve(*, comment: Comment, actor: User, access: Access, resolved: bool) -> Comment:
    """An editor resolves a thread (its markers go) or reopens it; asked of a reply, it is its thread."""
    _require_write(access)
    root = comment if comment.thread_id is None else comment.thread
    root = Comment.objects.select_for_update().get(pk=root.pk)
    if resolved and root.resolved_at is None:
        root.resolved_at, root.resolved_by = timezone.now(), actor
    elif not resolved and root.resolved_at is not None:
        root.resolved_at, root.resolved_by = None, None
    else:
        return root  # already so: nothing to announce
    root.save(update_fields=["resolved_at", "resolved_by"])
    _announce(root, "resolved" if resolved else "reopened")
    return root

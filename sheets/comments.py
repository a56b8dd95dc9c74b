"""Reading comments: a sheet's threads, one comment, the people who may be mentioned, and the one
shape a comment has in the REST answers and in the sheet socket's `comment` frames. Writes are in
services.comments.

Who may do what (checked in services.comments, the same for REST and WebSocket since both call it):
everyone who can see the sheet reads its comments (a public link does not); editors and above write,
reply, resolve and reopen; a person edits only their own comments and deletes their own (admins and
owners delete anyone's); deleting the first comment of a thread deletes the thread."""

from django.db.models import Q
from guardian.shortcuts import get_users_with_perms

from accounts.models import User
from accounts.permissions import Access
from core.errors import NotFound

from .models import Comment, Sheet
from .permissions import sheet_access


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _person(user: User | None) -> dict | None:
    return {"id": user.pk, "name": user.label} if user is not None else None


def comment_dict(comment: Comment, people: dict[int, User] | None = None) -> dict:
    """The comment as REST answers it and the `comment` frame carries it. `people`: user id -> User
    for the mentions (read here when not given)."""
    if people is None:
        people = users_by_id(comment.mentions)
    return {
        "id": comment.pk,
        "sheet": comment.sheet_id,
        "row": comment.row_id,
        "col": comment.col,
        "thread": comment.thread_id,
        "author": _person(comment.author),
        "body": comment.body,
        "mentions": [_person(people[i]) for i in comment.mentions if i in people],
        "resolved": comment.resolved_at is not None,
        "resolved_at": _iso(comment.resolved_at),
        "resolved_by": _person(comment.resolved_by),
        "created_at": _iso(comment.created_at),
        "edited_at": _iso(comment.edited_at),
    }


def users_by_id(ids: list[int]) -> dict[int, User]:
    return {u.pk: u for u in User.objects.filter(pk__in=set(ids))} if ids else {}


def comments_dicts(comments: list[Comment]) -> list[dict]:
    people = users_by_id([i for c in comments for i in c.mentions])
    return [comment_dict(c, people) for c in comments]


def comments_of(
    sheet: Sheet,
    row: int | None = None,
    col: str | None = None,
    resolved: bool | None = None,
    after: int | None = None,
    threads: int | None = None,
) -> list[Comment]:
    """The sheet's comments, threads in order of their first comment, each followed by its replies.
    `row`/`col` narrow to a row (all its cells and the row itself) or one cell (col "" : the row's own);
    `resolved` keeps the threads resolved (True) or open (False). A page: the first `threads` threads
    whose first comment's id is above `after` (the next page is after the last one's)."""
    found = Comment.objects.filter(sheet_id=sheet.pk).select_related("author", "resolved_by")
    if after is not None:
        found = found.filter(Q(thread__isnull=True, pk__gt=after) | Q(thread_id__gt=after))
    if row is not None:
        found = found.filter(row_id=row)
    if col is not None:
        found = found.filter(col=col)
    if resolved is not None:
        found = found.filter(
            Q(thread__isnull=True, resolved_at__isnull=not resolved)
            | Q(thread__isnull=False, thread__resolved_at__isnull=not resolved)
        )
    if threads is not None:
        roots = found.filter(thread__isnull=True).order_by("pk").values_list("pk", flat=True)[:threads]
        found = found.filter(Q(pk__in=list(roots)) | Q(thread_id__in=list(roots)))
    return sorted(found, key=lambda c: (c.thread_id or c.pk, c.pk))


def comment_get(sheet: Sheet, comment_id: int) -> Comment:
    comment = Comment.objects.filter(sheet_id=sheet.pk, pk=comment_id).select_related("author", "resolved_by").first()
    if comment is None:
        raise NotFound(f"comment {comment_id} not found on this sheet")
    return comment


def thread_participants(root: Comment) -> set[int]:
    """Who wrote in the thread: its first comment's author and every replier."""
    authors = set(Comment.objects.filter(Q(pk=root.pk) | Q(thread_id=root.pk)).values_list("author_id", flat=True))
    authors.discard(None)
    return authors


def can_see(sheet: Sheet, user_ids: set[int]) -> set[int]:
    """Those of `user_ids` who can see the sheet (workspace role or the sheet shared with them)."""
    return {u.pk for u in User.objects.filter(pk__in=user_ids, is_active=True) if sheet_access(u, sheet) >= Access.VIEW}


def mentionable(sheet: Sheet, query: str = "", limit: int = 20) -> list[User]:
    """The people who can see the sheet whose name or address contains `query`: the workspace's
    members and those the sheet is shared with, as the `@` of the comment box offers them."""
    candidates = User.objects.filter(is_active=True).filter(
        Q(memberships__workspace_id=sheet.workspace_id) | Q(pk__in=[u.pk for u in get_users_with_perms(sheet)])
    )
    if query:
        candidates = candidates.filter(
            Q(display_name__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(email__icontains=query)
        )
    found = []
    for user in candidates.distinct().order_by("display_name", "email")[: limit * 3]:
        if sheet_access(user, sheet) >= Access.VIEW:
            found.append(user)
        if len(found) == limit:
            break
    return found

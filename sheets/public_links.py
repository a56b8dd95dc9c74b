"""Public read-only links (/p/<key>/): publishing a sheet or a workspace's dashboard to anyone who
has the url, listing and revoking those links, and resolving a key to what it shows. The key is the
whole credential: unknown keys are not found, revoked ones answer LinkRevoked (410) and give nothing.
A link works only while whoever published it still manages the workspace (owner or admin): a
publisher who is demoted, removed or deactivated has their links revoked (the receivers below, on
every path that saves a membership or a user; a link is also refused whenever its publisher is
found not to manage the workspace). Open connections end when their link is revoked or its sheet
deleted (realtime.public)."""

import re
import secrets
from collections.abc import Callable

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts import audit
from accounts.models import Membership, User, Workspace
from accounts.permissions import Access, workspace_access
from core.errors import GridcastError, InvalidInput, NotFound

from .models import PublicLink, Sheet

KEY_PREFIX = "gcp_"
_KEY = re.compile(r"^gcp_[A-Za-z0-9_-]{16,60}$")
ACCESS_MESSAGE = 'access must be "view": a public link can only show, never edit'
CREATOR_GONE = "This link no longer works: whoever published it no longer manages the workspace"


class LinkRevoked(GridcastError):
    """The link existed and was revoked: nothing of what it showed is reachable any more."""

    code = "link_revoked"
    status = 410

    def __init__(self, message: str = "This link was revoked", **detail: object) -> None:
        super().__init__(message, **detail)


def _valid_access(access: object) -> str:
    if access != PublicLink.ACCESS_VIEW:
        raise InvalidInput(ACCESS_MESSAGE, field="access")
    return access


@transaction.atomic
def public_link_create(
    *, workspace: Workspace, access: object, created_by: User, sheet: Sheet | None = None
) -> PublicLink:
    """Publish `sheet` (or, without one, the workspace's dashboard) read-only. The caller checked
    that `created_by` manages the workspace."""
    if sheet is not None and sheet.workspace_id != workspace.pk:
        raise InvalidInput("the sheet is not in this workspace")
    link = PublicLink.objects.create(
        workspace=workspace,
        kind=PublicLink.Kind.SHEET if sheet is not None else PublicLink.Kind.DASHBOARD,
        sheet=sheet,
        access=_valid_access(access),
        key=KEY_PREFIX + secrets.token_urlsafe(24),
        created_by=created_by,
    )
    audit.record("public_link.created", actor=created_by, workspace=workspace, target=link, shows=_shows(link))
    return link


def _shows(link: PublicLink) -> str:
    return f'sheet {link.sheet_id} "{link.sheet.name}"' if link.sheet_id else "the dashboard"


@transaction.atomic
def public_link_revoke(*, link: PublicLink) -> None:
    """Revoke the link (idempotent): its url answers 410 and its open connections close
    (realtime.public hears the save)."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit.record("public_link.revoked", workspace=link.workspace_id, target=link, shows=_shows(link))


def public_links_active(*, workspace: Workspace, sheet: Sheet | None = None) -> list[PublicLink]:
    """The links of `sheet` (or of the workspace's dashboard) that still work, oldest first."""
    kind = PublicLink.Kind.SHEET if sheet is not None else PublicLink.Kind.DASHBOARD
    links = PublicLink.objects.filter(workspace=workspace, kind=kind, sheet=sheet, revoked_at__isnull=True)
    return [link for link in links.select_related("created_by") if _publisher_manages(link)]


def public_link_of(*, workspace: Workspace, link_id: int, sheet: Sheet | None = None) -> PublicLink:
    """One link of `sheet` (or of the workspace's dashboard), revoked or not; NotFound otherwise."""
    kind = PublicLink.Kind.SHEET if sheet is not None else PublicLink.Kind.DASHBOARD
    link = PublicLink.objects.filter(pk=link_id, workspace=workspace, kind=kind, sheet=sheet).first()
    if link is None:
        raise NotFound("Public link not found")
    return link


def public_link_for_key(key: object, kind: str | None = PublicLink.Kind.SHEET) -> PublicLink:
    """The active link of `key` showing a `kind` (None: any): NotFound for a key that is malformed,
    unknown or of another kind, LinkRevoked for a revoked one."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise NotFound("Link not found")
    links = PublicLink.objects.filter(key=key) if kind is None else PublicLink.objects.filter(key=key, kind=kind)
    link = links.select_related("sheet", "workspace").first()
    if link is None:
        raise NotFound("Link not found")
    if link.revoked_at is not None:
        raise LinkRevoked()
    if not _publisher_manages(link):
        raise LinkRevoked(CREATOR_GONE)
    return link


def public_link_still_active(link_id: int) -> bool:
    """(Database thread.) Whether the link still exists, unrevoked, its publisher still managing the
    workspace (an open connection looks again)."""
    link = PublicLink.objects.filter(pk=link_id, revoked_at__isnull=True).select_related("created_by").first()
    return link is not None and _publisher_manages(link)


def _publisher_manages(link: PublicLink) -> bool:
    return link.created_by is not None and workspace_access(link.created_by, link.workspace_id) >= Access.MANAGE


# The page /p/<key>/ of each kind but sheets (sheets.views has the sheet's): registered by the app
# that owns the kind (analytics registers the dashboard's), so that sheets never imports it.
PAGES: dict[str, Callable[[HttpRequest, PublicLink], HttpResponse]] = {}


def register_page(kind: str, page: Callable[[HttpRequest, PublicLink], HttpResponse]) -> None:
    PAGES[kind] = page


# --- a publisher who no longer manages the workspace ---------------------------------------------------


def public_links_of_publisher_revoke(*, user_id: int, workspace_id: int | None = None) -> int:
    """Revoke the active links `user_id` published (in one workspace, or in all) that they may no
    longer publish; how many."""
    links = PublicLink.objects.filter(created_by_id=user_id, revoked_at__isnull=True).select_related("created_by")
    if workspace_id is not None:
        links = links.filter(workspace_id=workspace_id)
    gone = [link for link in links if not _publisher_manages(link)]
    for link in gone:
        public_link_revoke(link=link)
    return len(gone)


def _membership_changed(sender: object, instance: Membership, **kwargs: object) -> None:
    origin = kwargs.get("origin")
    if isinstance(origin, Workspace) or getattr(origin, "model", None) is Workspace:
        return  # the workspace is being deleted: its links go with it
    public_links_of_publisher_revoke(user_id=instance.user_id, workspace_id=instance.workspace_id)


def _user_saved(sender: object, instance: User, created: bool = False, **kwargs: object) -> None:
    if not created and not instance.is_active:
        public_links_of_publisher_revoke(user_id=instance.pk)


def connect_receivers() -> None:
    """(SheetsConfig.ready.) Whatever path changes a role or deactivates a user."""
    post_save.connect(_membership_changed, sender=Membership, dispatch_uid="sheets.public_links.membership")
    post_delete.connect(_membership_changed, sender=Membership, dispatch_uid="sheets.public_links.membership_gone")
    post_save.connect(_user_saved, sender=User, dispatch_uid="sheets.public_links.user")

"""Saved views of a sheet: create, change, delete. Who may is checked here (shared views are for
editors, personal ones for their owner); the config's schema is sheets.saved_views.config_check."""

from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.permissions import Access
from core.errors import PermissionDenied, check_quota

from .. import saved_views, selectors
from ..models import Sheet, SheetView
from ..signals import view_changed
from .common import clean_name


def _announce(view: SheetView, event: str, shared: bool | None = None) -> None:
    """`shared`: whether others saw the view (a view made personal leaves them as if deleted)."""
    sheet_id, view_id, owner = view.sheet_id, view.pk, view.created_by_id
    shared = view.shared if shared is None else shared
    transaction.on_commit(
        lambda: view_changed.send(
            sender=SheetView, sheet_id=sheet_id, view_id=view_id, event=event, shared=shared, owner_id=owner
        )
    )


def _require_share(shared: bool, access: Access) -> None:
    if shared and access < Access.EDIT:
        raise PermissionDenied("shared views are created and changed by editors; save a personal view instead")


def _require_may_change(view: SheetView, actor: User, access: Access, verb: str) -> None:
    if not saved_views.view_may_change(view, actor, access):
        message = f"only editors {verb} shared views" if view.shared else f"this view is not yours to {verb}"
        raise PermissionDenied(message)


@transaction.atomic
def view_create(*, sheet: Sheet, actor: User, access: Access, name: str, shared: bool, config: Any) -> SheetView:
    _require_share(shared, access)
    name = clean_name(name, "the view's name")
    config = saved_views.config_check(config, selectors.sheet_columns(sheet))
    check_quota("MAX_VIEWS_PER_SHEET", SheetView.objects.filter(sheet_id=sheet.pk).count(), "views per sheet")
    view = SheetView.objects.create(sheet=sheet, name=name, created_by=actor, shared=shared, config=config)
    _announce(view, "created")
    return view


@transaction.atomic
def view_update(
    *,
    view: SheetView,
    actor: User,
    access: Access,
    name: str | None = None,
    shared: bool | None = None,
    config: Any = None,
) -> SheetView:
    """Rename, share or unshare, or replace the config of a view the actor may change."""
    _require_may_change(view, actor, access, "change")
    if shared is not None:
        if view.created_by_id != actor.pk and not shared:
            raise PermissionDenied("only the view's creator makes it personal again")
        _require_share(shared, access)
        was_shared, view.shared = view.shared, shared
        if was_shared and not shared:
            _announce(view, "deleted", shared=True)  # gone for everyone but its owner
    if name is not None:
        view.name = clean_name(name, "the view's name")
    if config is not None:
        view.config = saved_views.config_check(config, selectors.sheet_columns(sheet=view.sheet))
    view.save()
    _announce(view, "changed")
    return view


@transaction.atomic
def view_delete(*, view: SheetView, actor: User, access: Access) -> None:
    _require_may_change(view, actor, access, "delete")
    _announce(view, "deleted")
    view.delete()

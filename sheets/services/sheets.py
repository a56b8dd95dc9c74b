"""Sheets: create, rename, delete, share."""

from collections.abc import Callable
from typing import Any

from django.db import transaction

from accounts import audit
from accounts.models import User, Workspace
from core.errors import InvalidInput, NotFound, check_quota
from core.events import announce_on_commit
from core.transactions import atomic_retried

from .. import column_types, signals
from ..models import Operation, Sheet
from .columns import column_create, column_spec
from .common import clean_name
from .formulas import compiled_options
from .operations import next_version, operation, operations_append

DEFAULT_COLUMNS = [{"name": "A"}, {"name": "B"}, {"name": "C"}]


# --- sheets ------------------------------------------------------------------------------------


@transaction.atomic
def sheet_create(*, workspace: Workspace, name: str, actor: User | None, columns: list[dict] | None = None) -> Sheet:
    """A new sheet with the given columns (by default A, B and C, all text) and no rows, logged
    as one sheet.create operation (which undo never reverts)."""
    # The workspace's row is locked so that two creations at once cannot both pass the quota (and
    # a creation waiting on the workspace's deletion finds it gone).
    if type(workspace).objects.select_for_update(no_key=True).filter(pk=workspace.pk).first() is None:
        raise NotFound("Workspace not found")
    check_quota("MAX_SHEETS_PER_WORKSPACE", Sheet.objects.filter(workspace=workspace).count(), "sheets per workspace")
    sheet = Sheet.objects.create(workspace=workspace, name=clean_name(name), created_by=actor)
    specs = [column_spec(**spec) for spec in (DEFAULT_COLUMNS if columns is None else columns)]
    created = [column_create(sheet, **spec) for spec in specs]
    for column in created:  # formulas read the other columns, so they are compiled once all exist
        if column.type == column_types.FORMULA:
            column.options = compiled_options(sheet, column.key, column.options)
            column.save(update_fields=["options"])
    sheet.version = next_version(sheet.pk)
    payload = {"name": sheet.name, "columns": [column.as_dict() for column in created]}
    created_op = Operation(sheet_id=sheet.pk, version=sheet.version, kind="sheet.create", actor=actor, payload=payload)
    operations_append([(created_op, None)], announce=False)
    return sheet


@operation("sheet.rename")
def sheet_rename(*, sheet: Sheet, actor: User | None, name: str) -> Callable:
    name = clean_name(name)

    def write(version):
        previous = Sheet.objects.filter(pk=sheet.pk).values_list("name", flat=True).get()
        Sheet.objects.filter(pk=sheet.pk).update(name=name)
        sheet.name = name
        return {"name": name}, {"name": previous}

    return write


def lock_workspace_sheets(sender: type, workspace: Workspace, **kwargs: Any) -> None:
    """accounts.signals.workspace_deleting: the workspace's sheets locked as edits lock them (their
    row), in id order, so an edit under way commits before the cascade reads the sheet's rows, and
    a later one finds no sheet. Unlocked, the two deadlocked (the edit's commit against the delete)."""
    list(Sheet.objects.select_for_update().filter(workspace=workspace).order_by("pk").values_list("pk", flat=True))


@atomic_retried
def sheet_delete(*, sheet: Sheet, actor: User | None) -> None:
    # The sheet's row is locked first, as edits lock it: an edit under way ends before the cascade
    # reads the rows, a later one finds no sheet. Other racing writes make it try again.
    sheet_id = sheet.pk
    if Sheet.objects.select_for_update(of=("self",)).filter(pk=sheet_id).values_list("pk", flat=True).first() is None:
        raise NotFound("Sheet not found")
    audit.record("sheet.deleted", actor=actor, workspace=sheet.workspace_id, target=sheet)
    sheet.delete()
    announce_on_commit(signals.sheet_deleted, Sheet, "sheet deleted", sheet_id=sheet_id)


def sheet_share(*, sheet: Sheet, user: User, level: str | None) -> None:
    """Share one sheet with a user: level "view", "edit", or None to stop sharing."""
    from guardian.shortcuts import assign_perm, remove_perm

    if level not in ("view", "edit", None):
        raise InvalidInput('level must be "view", "edit" or null')
    with transaction.atomic():
        remove_perm("change_sheet", user, sheet)
        remove_perm("view_sheet", user, sheet)
        if level:
            assign_perm("view_sheet", user, sheet)
        if level == "edit":
            assign_perm("change_sheet", user, sheet)

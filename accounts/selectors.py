"""Reads for the account pages: what the workspace home page starts with."""
from django.db.models.expressions import RawSQL
from guardian.shortcuts import get_objects_for_user

from sheets.models import Row, Sheet
from sheets.permissions import ROLE_ACCESS, Access

from .models import Membership, Role

# Rows are counted up to this many per sheet, so that a huge sheet costs the home page a
# bounded index scan; beyond it the page says "more than".
ROW_COUNT_CAP = 100_000


def _counted(sheets):
    # A sub-select with LIMIT inside COUNT: plain SQL that PostgreSQL and SQLite both run.
    table, sheet_table = Row._meta.db_table, Sheet._meta.db_table
    return sheets.annotate(row_count=RawSQL(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} r WHERE r.sheet_id = {sheet_table}.id LIMIT %s) capped",
        (ROW_COUNT_CAP + 1,),
    ))


def _sheet(sheet, access):
    return {
        "id": sheet.pk,
        "name": sheet.name,
        "workspace": sheet.workspace_id,
        "rows": min(sheet.row_count, ROW_COUNT_CAP),
        "rows_capped": sheet.row_count > ROW_COUNT_CAP,
        "updated_at": sheet.updated_at.isoformat(),
        "url": f"/sheets/{sheet.pk}/",
        "access": access.name.lower(),
    }


def _shared_levels(user):
    """Sheet id -> access for sheets shared with the user one by one (django-guardian)."""
    def ids(perm):
        return set(get_objects_for_user(
            user, perm, klass=Sheet, with_superuser=False, accept_global_perms=False,
        ).values_list("pk", flat=True))

    levels = dict.fromkeys(ids("sheets.view_sheet"), Access.VIEW)
    levels.update(dict.fromkeys(ids("sheets.change_sheet"), Access.EDIT))
    return levels


def home_for_user(user):
    """The user's workspaces with their role and sheets, and the sheets shared with them
    individually, with what the user may do with each: the home page's initial data."""
    memberships = list(Membership.objects.filter(user=user).select_related("workspace").order_by(
        "workspace__name", "workspace_id"))
    shared = _shared_levels(user)
    role_of = {m.workspace_id: Role(m.role) for m in memberships}
    sheets = _counted(
        Sheet.objects.filter(workspace_id__in=role_of) | Sheet.objects.filter(pk__in=shared)
    ).select_related("workspace").order_by("name", "pk")

    by_workspace = {workspace_id: [] for workspace_id in role_of}
    shared_sheets = []
    for sheet in sheets:
        role = role_of.get(sheet.workspace_id)
        # The same rule as sheets.permissions.sheet_access, without a query per sheet.
        access = ROLE_ACCESS[role] if role else Access.NONE
        if access < Access.EDIT:
            access = max(access, shared.get(sheet.pk, Access.NONE))
        if role is None:
            shared_sheets.append({**_sheet(sheet, access), "workspace_name": sheet.workspace.name})
        else:
            by_workspace[sheet.workspace_id].append(_sheet(sheet, access))

    return {
        "user": {"id": user.pk, "email": user.email},
        "workspaces": [
            {
                "id": m.workspace_id,
                "name": m.workspace.name,
                "role": m.role,
                "can_edit": ROLE_ACCESS[Role(m.role)] >= Access.EDIT,
                "can_manage": ROLE_ACCESS[Role(m.role)] >= Access.MANAGE,
                "sheets": by_workspace[m.workspace_id],
            }
            for m in memberships
        ],
        "shared": shared_sheets,
        "row_count_cap": ROW_COUNT_CAP,
    }

"""Reads of sheets, columns, rows and the operation log, and the home page's first data."""

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from guardian.shortcuts import get_objects_for_user, get_users_with_perms

from accounts.models import Membership, Role, User
from accounts.permissions import ROLE_ACCESS, Access, refused_workspace_ids
from core.errors import InvalidInput

from . import column_types
from .models import Column, FormulaRecompute, Operation, Row, Sheet
from .values import check_text


def sheets_for_user(user: User, workspace_id: int | None = None) -> QuerySet[Sheet]:
    """Sheets of the user's workspaces and sheets shared with the user individually (none of a
    workspace that refuses the user for want of two-factor authentication)."""
    shared = get_objects_for_user(
        user,
        ["sheets.view_sheet", "sheets.change_sheet"],
        klass=Sheet,
        any_perm=True,
        with_superuser=False,
        accept_global_perms=False,
    ).values("pk")
    sheets = (
        Sheet.objects.filter(Q(workspace__memberships__user=user) | Q(pk__in=shared))
        .exclude(workspace_id__in=refused_workspace_ids(user))
        .distinct()
    )
    scope = getattr(user, "token_workspace_id", None)
    if scope is not None:
        sheets = sheets.filter(workspace_id=scope)
    if workspace_id is not None:
        sheets = sheets.filter(workspace_id=workspace_id)
    return sheets.select_related("workspace").order_by("workspace__name", "name", "pk")


def sheet_columns(sheet: Sheet) -> list[Column]:
    return list(Column.objects.filter(sheet_id=sheet.pk, deleted=False).order_by("position", "pk"))


def workspace_sheets_with_columns(workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's sheets by name, each with its columns in order (deleted ones left out), for
    pickers of a sheet and a column: [{id, name, columns: [{key, name, type}]}]."""
    sheets = (
        Sheet.objects.filter(workspace_id=workspace_id)
        .order_by("name", "pk")
        .prefetch_related(Prefetch("columns", queryset=Column.objects.filter(deleted=False).order_by("position", "pk")))
    )
    return [
        {
            "id": sheet.pk,
            "name": sheet.name,
            "columns": [{"key": c.key, "name": c.name, "type": c.type} for c in sheet.columns.all()],
        }
        for sheet in sheets
    ]


def operations_since(sheet: Sheet, version: int, limit: int | None = None) -> list[Operation]:
    limit = limit or settings.GRIDCAST["OPERATIONS_PAGE"]
    return list(Operation.objects.filter(sheet_id=sheet.pk, version__gt=version).order_by("version")[:limit])


# --- row windows -------------------------------------------------------------------------------
#
# OFFSET over a million rows costs hundreds of milliseconds, so each process keeps, per sheet,
# the position of every STRIDE-th row (one index-only scan), valid for one layout version.
# A window then starts from the nearest checkpoint and skips fewer than STRIDE rows.

STRIDE = 1000
_CACHE_SIZE = 64


class _RowIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int], tuple[int, list[float], int]] = OrderedDict()

    def get(self, sheet: Sheet) -> tuple[list[float], int]:
        key = (connection.alias, sheet.pk)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == sheet.layout_version:
                self._entries.move_to_end(key)
                return entry[1], entry[2]
        # Tagged with the layout version read before the scan: a concurrent change makes the
        # entry stale at worst, and the next read rebuilds it.
        checkpoints, count = _scan_checkpoints(sheet.pk)
        with self._lock:
            self._entries[key] = (sheet.layout_version, checkpoints, count)
            while len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)
        return checkpoints, count

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


row_index = _RowIndex()


def _scan_checkpoints(sheet_id: int) -> tuple[list[float], int]:
    # The database walks the index from checkpoint to checkpoint (OFFSET within the index), so
    # only the checkpoints come back: a million positions through Python took seconds.
    # Positions are distinct within a sheet; `>` keeps the walk finite even if two were not.
    # One statement for PostgreSQL and SQLite: both answer MIN() from the (sheet, position) index,
    # and SQLite allows no parenthesized SELECT as the first arm of a UNION.
    table = Row._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE checkpoint(position) AS (
                SELECT MIN(position) FROM {table} WHERE sheet_id = %s
                UNION ALL
                SELECT (SELECT r.position FROM {table} r WHERE r.sheet_id = %s AND r.position > c.position
                        ORDER BY r.position LIMIT 1 OFFSET %s)
                FROM checkpoint c WHERE c.position IS NOT NULL
            ) SELECT position FROM checkpoint WHERE position IS NOT NULL""",
            [sheet_id, sheet_id, STRIDE - 1],
        )
        checkpoints = [position for (position,) in cursor.fetchall()]
        if not checkpoints:
            return [], 0
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE sheet_id = %s", [sheet_id])
        count = cursor.fetchone()[0]
    return checkpoints, count


def _current_layout(sheet: Sheet) -> Sheet:
    sheet.layout_version = Sheet.objects.filter(pk=sheet.pk).values_list("layout_version", flat=True).first()
    return sheet


def row_count(sheet: Sheet) -> int:
    return row_index.get(_current_layout(sheet))[1]


def row_checkpoints(sheet: Sheet) -> tuple[list[float], int]:
    """The position of every STRIDE-th row in sheet order, and the number of rows (time travel
    starts its windows from them as rows_window does)."""
    return row_index.get(_current_layout(sheet))


def _row_dict(row, keys, index):
    return {"id": row[0], "index": index, "values": {k: row[1].get(k) for k in keys}}


FILTER_OPS = {"eq", "ne", "lt", "lte", "gt", "gte", "contains", "not_contains", "empty", "not_empty", "notempty", "in"}
MAX_IN_VALUES = 100


def _empty_q(field):
    return Q(**{f"{field}__isnull": True}) | Q(**{field: None}) | Q(**{field: ""})


def _compared_as(column):
    """The type a filter value is read as: a formula column's by the type of its results."""
    if column.type != column_types.FORMULA:
        return column.type
    options = column.options or {}
    return options.get("result_type") or options.get("inferred") or column_types.TEXT


def filter_q(columns: dict[str, Column], spec: tuple[str, str, Any]) -> Q:
    """The condition of one filter (column key, operator, value) on rows, or InvalidInput."""
    key, op, raw = spec
    column = columns.get(key)
    if column is None:
        raise InvalidInput(f"no column {key!r} to filter on", col=key)
    if op not in FILTER_OPS:
        raise InvalidInput(f"unknown filter operator {op!r}; one of {', '.join(sorted(FILTER_OPS))}")
    field = f"data__{key}"
    if op == "empty":
        return _empty_q(field)
    if op in ("notempty", "not_empty"):
        return ~_empty_q(field)
    try:
        if op in ("contains", "not_contains"):
            q = Q(**{f"{field}__icontains": check_text("" if raw is None else str(raw), "the value")})
            return ~q if op == "not_contains" else q
        if op == "in":
            items = raw.split("|") if isinstance(raw, str) else raw
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_IN_VALUES:
                raise InvalidInput(f"filter in on {column.name} needs a list of 1 to {MAX_IN_VALUES} values", col=key)
            values = [column_types.coerce(_compared_as(column), item, column.options) for item in items]
            return Q(**{f"{field}__in": [v for v in values if v is not None]})
        value = column_types.coerce(_compared_as(column), raw, column.options)
    except ValueError as error:
        raise InvalidInput(f"filter value for {column.name}: {error}", col=key) from None
    lookup = {"eq": "", "ne": "", "lt": "__lt", "lte": "__lte", "gt": "__gt", "gte": "__gte"}[op]
    if value is None and lookup:  # nothing to compare with (eq and ne with nothing test for empty)
        raise InvalidInput(f"filter {op} on {column.name} needs a value ({key}:{op}:<value>)", col=key)
    q = Q(**{f"{field}{lookup}": value})
    return ~q if op == "ne" else q


def _order_by(columns, key, descending):
    if key not in columns:
        raise InvalidInput(f"no column {key!r} to sort by", col=key)
    expression = (
        KeyTextTransform(key, "data") if column_types.get(columns[key].type).sort_as_text else KeyTransform(key, "data")
    )
    return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)


def view_rows(sheet: Sheet, view: dict[str, Any] | None, filters: Iterable[tuple[str, str, Any]] = ()) -> QuerySet[Row]:
    """The sheet's rows that a view's filters (a config already applied to the live columns, see
    sheets.saved_views) and ad hoc (column key, op, value) filters let through, the two ANDed."""
    columns = {c.key: c for c in sheet_columns(sheet)}
    rows = Row.objects.filter(sheet_id=sheet.pk)
    conditions = (view or {}).get("filters", {}).get("conditions", [])
    if conditions:
        qs = [filter_q(columns, (c["column"], c["operator"], c.get("value"))) for c in conditions]
        combined = qs[0]
        for q in qs[1:]:
            combined = (combined | q) if view["filters"].get("op") == "or" else (combined & q)
        rows = rows.filter(combined)
    for spec in filters:
        rows = rows.filter(filter_q(columns, spec))
    return rows


def view_narrows(view: dict[str, Any] | None, filters: Iterable = (), sort: str | None = None) -> bool:
    """Whether a view (with ad hoc filters and sort) shows other rows or another order than the sheet's."""
    view = view or {}
    return bool(filters or sort or view.get("sorts") or view.get("filters", {}).get("conditions"))


def view_order(columns: dict[str, Column], view: dict[str, Any] | None, sort: str | None = None) -> list:
    """The order of a view's rows: `sort` (a column key, "-" in front for descending) or else the
    view's sorts, then sheet order."""
    sorts = [(sort.lstrip("-"), sort.startswith("-"))] if sort else []
    if not sorts and view:
        sorts = [(s["column"], s["direction"] == "desc") for s in view.get("sorts", [])]
    return [_order_by(columns, key, descending) for key, descending in sorts] + ["position", "pk"]


def rows_window(
    sheet: Sheet,
    *,
    offset: int = 0,
    limit: int = 200,
    filters: Iterable[tuple[str, str, str]] = (),
    sort: str | None = None,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`limit` rows from `offset` in sheet order (or sorted by columns), as
    {"rows": [{id, index, values}], "total": n}. filters: (column key, op, value) triples;
    sort: a column key, with "-" in front for descending (it replaces the view's sorts);
    view: a saved view's config applied to the live columns (sheets.saved_views.config_applied)."""
    max_rows = settings.GRIDCAST["MAX_WINDOW_ROWS"]
    if offset < 0 or not 1 <= limit <= max_rows:
        raise InvalidInput(f"offset must be at least 0 and limit between 1 and {max_rows}")
    columns = {c.key: c for c in sheet_columns(sheet)}
    keys = list(columns)
    if not view_narrows(view, filters, sort):
        rows = Row.objects.filter(sheet_id=sheet.pk)
        checkpoints, total = row_index.get(_current_layout(sheet))
        if offset >= total:
            return {"rows": [], "total": total}
        anchor = checkpoints[offset // STRIDE]
        page = rows.filter(position__gte=anchor).order_by("position").values_list("pk", "data")
        start = offset % STRIDE
        page = page[start : start + limit]
        return {"rows": [_row_dict(r, keys, offset + i) for i, r in enumerate(page)], "total": total}
    rows = view_rows(sheet, view, filters)
    order = view_order(columns, view, sort)
    total = rows.count()
    page = rows.order_by(*order).values_list("pk", "data")[offset : offset + limit]
    return {"rows": [_row_dict(r, keys, offset + i) for i, r in enumerate(page)], "total": total}


def rows_in_order(sheet: Sheet, chunk: int = 5000) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every row of the sheet in order, streamed by keyset pages (for exports)."""
    last = None
    while True:
        rows = Row.objects.filter(sheet_id=sheet.pk)
        if last is not None:
            rows = rows.filter(Q(position__gt=last[0]) | Q(position=last[0], pk__gt=last[1]))
        page = list(rows.order_by("position", "pk").values_list("position", "pk", "data")[:chunk])
        if not page:
            return
        yield from ((pk, data) for _, pk, data in page)
        last = (page[-1][0], page[-1][1])


def sheet_people(sheet: Sheet) -> dict[int, str]:
    """{user id: display name} of everyone who can reach the sheet (for naming actors)."""
    users = set(User.objects.filter(memberships__workspace_id=sheet.workspace_id))
    users.update(get_users_with_perms(sheet, with_group_users=False))
    return {user.pk: user.label for user in users}


# --- the home page ------------------------------------------------------------------------------

# Rows are counted up to this many per sheet, so that a huge sheet costs the home page a
# bounded index scan; beyond it the page says "more than".
ROW_COUNT_CAP = 100_000


def _counted(sheets):
    # A sub-select with LIMIT inside COUNT: plain SQL that PostgreSQL and SQLite both run.
    table, sheet_table = Row._meta.db_table, Sheet._meta.db_table
    return sheets.annotate(
        row_count=RawSQL(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} r WHERE r.sheet_id = {sheet_table}.id LIMIT %s) capped",
            (ROW_COUNT_CAP + 1,),
        )
    )


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
        return set(
            get_objects_for_user(
                user,
                perm,
                klass=Sheet,
                with_superuser=False,
                accept_global_perms=False,
            ).values_list("pk", flat=True)
        )

    levels = dict.fromkeys(ids("sheets.view_sheet"), Access.VIEW)
    levels.update(dict.fromkeys(ids("sheets.change_sheet"), Access.EDIT))
    return levels


def home_for_user(user: User) -> dict:
    """The user's workspaces with their role and sheets, and the sheets shared with them
    individually, with what the user may do with each: the home page's initial data."""
    refused = refused_workspace_ids(user)  # for want of two-factor authentication
    memberships = list(
        Membership.objects.filter(user=user)
        .exclude(workspace_id__in=refused)
        .select_related("workspace")
        .order_by("workspace__name", "workspace_id")
    )
    shared = _shared_levels(user)
    role_of = {m.workspace_id: Role(m.role) for m in memberships}
    sheets = (
        _counted(Sheet.objects.filter(workspace_id__in=role_of) | Sheet.objects.filter(pk__in=shared))
        .exclude(workspace_id__in=refused)
        .select_related("workspace")
        .order_by("name", "pk")
    )

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


def recompute_progress(sheet: Sheet) -> dict | None:
    """The sheet's formula columns being recomputed in the background (sheets.services.recompute):
    {"columns", "done", "total"} rows, or None."""
    state = FormulaRecompute.objects.filter(sheet_id=sheet.pk).exclude(columns=[]).first()
    return state.progress() if state else None

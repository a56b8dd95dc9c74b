"""Find over a whole sheet (not only the rows a client loaded), in SQL on the rows' JSON data.

A query (`FindQuery`) is literal text: no pattern characters. A cell matches when its stored
value's text contains the query (or equals it, `whole_cell`), with or without case. The test is
one SQL expression per column (StrIndex: STRPOS on PostgreSQL, INSTR on SQLite; LOWER on both
sides without case), so the count, the pages of matches and replace-all (sheets.services.replace)
all agree. Matches come in sheet order: by row position, then column position. Each carries its
row's index in the sheet (what the grid scrolls to), computed from the row index's checkpoints.

Within a view (`Scope`: a saved view's filters and sorts, ad hoc filters, a sort, as the rows API
takes them) find sees only the rows the view shows, in the view's order, and each match carries
its row's index in the view: one query numbers the view's rows (ROW_NUMBER) and keeps the matches.
"""

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, RowNumber, StrIndex
from django.db.models.lookups import Exact, GreaterThan

from core.errors import InvalidInput

from . import column_types
from .models import Column, Row, Sheet
from .selectors import STRIDE, _current_layout, row_index, sheet_columns, view_narrows, view_order, view_rows
from .values import check_text

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class FindQuery:
    text: str
    match_case: bool = False
    whole_cell: bool = False
    columns: tuple[str, ...] | None = None  # column keys; None: every column


@dataclass(frozen=True)
class Scope:
    """The rows find looks in: those a view shows, in its order (the whole sheet by default).
    `view`: a saved view's config applied to the live columns (sheets.saved_views.config_applied);
    `filters`: (column key, op, value); `sort`: a column key, "-" in front for descending."""

    view: dict | None = None
    filters: tuple = ()
    sort: str | None = None

    @property
    def whole_sheet(self) -> bool:
        return not view_narrows(self.view, self.filters, self.sort)

    def rows(self, sheet: Sheet) -> QuerySet[Row]:
        if self.view or self.filters:
            return view_rows(sheet, self.view, self.filters)
        return Row.objects.filter(sheet_id=sheet.pk)


WHOLE_SHEET = Scope()


def max_query_chars() -> int:
    return settings.GRIDCAST["MAX_FIND_CHARS"]


def parse_flag(raw: object, name: str) -> bool:
    """A boolean given as JSON or as a query parameter ("1", "true", "0", "false", ...)."""
    if isinstance(raw, bool) or raw is None:
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return raw.strip().lower() in TRUE_WORDS
    raise InvalidInput(f"{name} must be true or false")


def parse_query(
    text: object, *, match_case: object = False, whole_cell: object = False, columns: object = None
) -> FindQuery:
    """The query as outside input gives it, checked: non-empty text of at most MAX_FIND_CHARS,
    flags, and column keys (a comma-separated string or a list)."""
    if not isinstance(text, str) or text == "":
        raise InvalidInput("q (the text to find) must be a non-empty string")
    if len(text) > max_query_chars():
        raise InvalidInput(f"q is longer than {max_query_chars()} characters")
    try:
        check_text(text, "q")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if isinstance(columns, str):
        columns = [key for key in columns.split(",") if key]
    if columns is not None:
        if not isinstance(columns, list) or not all(isinstance(key, str) for key in columns):
            raise InvalidInput("columns must be a list of column keys")
        if len(columns) > settings.GRIDCAST["MAX_COLUMNS"]:
            raise InvalidInput("too many columns")
        columns = tuple(dict.fromkeys(columns)) or None
    return FindQuery(
        text,
        match_case=parse_flag(match_case, "match_case"),
        whole_cell=parse_flag(whole_cell, "whole_cell"),
        columns=columns,
    )


def searched_columns(sheet: Sheet, query: FindQuery, *, text_only: bool = False) -> list[Column]:
    """The sheet's columns the query looks in, in sheet order (`text_only`: those replace writes)."""
    columns = sheet_columns(sheet)
    if query.columns is not None:
        known = {c.key for c in columns}
        unknown = [key for key in query.columns if key not in known]
        if unknown:
            raise InvalidInput(f"no column {unknown[0]!r} in this sheet", col=unknown[0])
        columns = [c for c in columns if c.key in query.columns]
    wanted = "text_values" if text_only else "findable"
    return [c for c in columns if getattr(column_types.get(c.type), wanted)]


def cell_matches(key: str, query: FindQuery) -> Q:
    """The SQL test of one column's cell against the query (a row without the key never matches)."""
    cell = KeyTextTransform(key, "data")
    needle = Value(query.text)
    if not query.match_case:
        cell, needle = Lower(cell), Lower(needle)
    if query.whole_cell:
        return Q(Exact(cell, needle))
    return Q(GreaterThan(StrIndex(cell, needle), 0))


def _any_match(tests):
    any_match = Q()
    for test in tests.values():
        any_match |= test
    return any_match


def _hits(rows, tests):
    return rows.annotate(
        **{
            f"hit_{key}": Case(When(test, then=Value(True)), default=Value(False), output_field=BooleanField())
            for key, test in tests.items()
        }
    )


def matching_rows(sheet: Sheet, columns: list[Column], query: FindQuery, scope: Scope = WHOLE_SHEET) -> QuerySet[Row]:
    """The rows of the scope with at least one match, each annotated with hit_<key> per column."""
    tests = {c.key: cell_matches(c.key, query) for c in columns}
    return _hits(scope.rows(sheet).filter(_any_match(tests)), tests)


def count_matches(sheet: Sheet, columns: list[Column], query: FindQuery, scope: Scope = WHOLE_SHEET) -> int:
    if not columns:
        return 0
    counts = scope.rows(sheet).aggregate(
        **{f"n_{c.key}": Count("pk", filter=cell_matches(c.key, query)) for c in columns}
    )
    return sum(counts.values())


def _parse_cursor(sheet, raw, keys):
    """`row id:column key`, the last match of the previous page."""
    row_id, _, key = raw.partition(":")
    if not row_id.isdigit() or len(row_id) > 18 or key not in keys:
        raise InvalidInput("cursor is not one this endpoint gave")
    position = Row.objects.filter(sheet_id=sheet.pk, pk=int(row_id)).values_list("position", flat=True).first()
    if position is None:
        raise InvalidInput("cursor names a row deleted since: find again from the start")
    return position, int(row_id), keys.index(key)


def _row_indexes(sheet, positions):
    """The index in sheet order of each row position, from the row index's checkpoints: one
    short read (under STRIDE rows) per checkpoint interval the positions fall in."""
    checkpoints, _ = row_index.get(_current_layout(sheet))
    indexes, buckets = {}, {}
    for position in positions:
        buckets.setdefault(max(bisect_right(checkpoints, position) - 1, 0), []).append(position)
    for bucket, wanted in buckets.items():
        start = checkpoints[bucket] if checkpoints else float("-inf")
        read = Row.objects.filter(sheet_id=sheet.pk, position__gte=start).order_by("position")
        window = list(read.values_list("position", flat=True)[: STRIDE + 1])
        for position in wanted:
            indexes[position] = bucket * STRIDE + bisect_right(window, position) - 1
    return indexes


def _page_matches(page, keys, after, limit):
    """(row id, row's place, column key) of each match on a page of rows (pk, place, *hits),
    those up to the cursor's (`after`: row id, column number) left out; `limit` + 1 at most."""
    matches = []
    for pk, place, *hits in page:
        for number, (key, hit) in enumerate(zip(keys, hits, strict=True)):
            if hit and not (after and pk == after[0] and number <= after[1]):
                matches.append((pk, place, key))
    return matches[: limit + 1]


def _sheet_cursor(match):
    row_id, _, key = match
    return f"{row_id}:{key}"


def _view_cursor(match):
    row_id, index, key = match
    return f"{index + 1}:{row_id}:{key}"


def _sheet_page(sheet, columns, query, cursor, limit):
    """A page of matches in sheet order (keyset on position), with each row's index in the sheet."""
    keys = [c.key for c in columns]
    rows = matching_rows(sheet, columns, query).order_by("position", "pk")
    after = None
    if cursor:
        position, row_id, number = _parse_cursor(sheet, cursor, keys)
        rows = rows.filter(Q(position__gt=position) | Q(position=position, pk__gte=row_id))
        after = (row_id, number)
    # limit + 2 rows: the cursor's own row may have no match left, and each other row has one.
    page = list(rows.values_list("pk", "position", *[f"hit_{k}" for k in keys])[: limit + 2])
    matches = _page_matches(page, keys, after, limit)
    indexes = _row_indexes(sheet, sorted({position for _, position, _ in matches}))
    return [(pk, indexes[position], key) for pk, position, key in matches], _sheet_cursor


def _view_page(sheet, columns, query, scope, cursor, limit):
    """A page of matches in the view's order, with each row's index in the view."""
    keys = [c.key for c in columns]
    tests = {c.key: cell_matches(c.key, query) for c in columns}
    order = view_order({c.key: c for c in sheet_columns(sheet)}, scope.view, scope.sort)
    numbered = _hits(scope.rows(sheet), tests).annotate(view_index=Window(RowNumber(), order_by=order))
    # A condition on the window function is tested in an outer query (QUALIFY), and so is one ORed
    # with it: the rows are numbered among all the view shows, then the matches kept.
    any_hit = Q(view_index__lt=1)
    for key in keys:
        any_hit |= Q(**{f"hit_{key}": True})
    rows = numbered.filter(any_hit)
    after = None
    if cursor:
        index, row_id, number = _parse_view_cursor(cursor, keys)
        rows = rows.filter(view_index__gte=index)
        after = (row_id, number)
    page = list(rows.order_by("view_index").values_list("pk", "view_index", *[f"hit_{k}" for k in keys])[: limit + 2])
    matches = _page_matches(page, keys, after, limit)
    return [(pk, index - 1, key) for pk, index, key in matches], _view_cursor


def _parse_view_cursor(raw, keys):
    """`row's number in the view:row id:column key`, the last match of the previous page."""
    index, _, rest = raw.partition(":")
    row_id, _, key = rest.partition(":")
    if not (index.isdigit() and row_id.isdigit()) or len(index) > 18 or len(row_id) > 18 or key not in keys:
        raise InvalidInput("cursor is not one this endpoint gave")
    return int(index), int(row_id), keys.index(key)


def find(
    sheet: Sheet, query: FindQuery, *, cursor: str | None = None, limit: int = 100, scope: Scope = WHOLE_SHEET
) -> dict[str, Any]:
    """{"total", "matches": [{row, col, index}], "next": cursor or None}: `limit` matches after
    `cursor` in the scope's order (sheet order by default), and how many the scope has."""
    columns = searched_columns(sheet, query)
    answer = {"total": count_matches(sheet, columns, query, scope), "matches": [], "next": None}
    if not columns:
        return answer
    if scope.whole_sheet:
        matches, cursor_of = _sheet_page(sheet, columns, query, cursor, limit)
    else:
        matches, cursor_of = _view_page(sheet, columns, query, scope, cursor, limit)
    if len(matches) > limit:
        matches = matches[:limit]
        answer["next"] = cursor_of(matches[-1])
    answer["matches"] = [{"row": pk, "col": key, "index": index} for pk, index, key in matches]
    return answer

"""Find over a whole sheet (not only the rows a client loaded), in SQL on the rows' JSON data.

A query (`FindQuery`) is literal text: no pattern characters. A cell matches when its stored
value's text contains the query (or equals it, `whole_cell`), with or without case. The test is
one SQL expression per column (StrIndex: STRPOS on PostgreSQL, INSTR on SQLite; LOWER on both
sides without case), so the count, the pages of matches and replace-all (sheets.services.replace)
all agree. Matches come in sheet order: by row position, then column position. Each carries its
row's index in the sheet (what the grid scrolls to), computed from the row index's checkpoints.
"""

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, StrIndex
from django.db.models.lookups import Exact, GreaterThan

from core.errors import InvalidInput

from . import column_types
from .models import Column, Row, Sheet
from .selectors import STRIDE, _current_layout, row_index, sheet_columns
from .values import check_text

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class FindQuery:
    text: str
    match_case: bool = False
    whole_cell: bool = False
    columns: tuple[str, ...] | None = None  # column keys; None: every column


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


def matching_rows(sheet: Sheet, columns: list[Column], query: FindQuery) -> QuerySet[Row]:
    """The sheet's rows with at least one match, each annotated with hit_<key> per column."""
    tests = {c.key: cell_matches(c.key, query) for c in columns}
    any_match = Q()
    for test in tests.values():
        any_match |= test
    rows = Row.objects.filter(sheet_id=sheet.pk).filter(any_match)
    return rows.annotate(
        **{
            f"hit_{key}": Case(When(test, then=Value(True)), default=Value(False), output_field=BooleanField())
            for key, test in tests.items()
        }
    )


def count_matches(sheet: Sheet, columns: list[Column], query: FindQuery) -> int:
    if not columns:
        return 0
    counts = Row.objects.filter(sheet_id=sheet.pk).aggregate(
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


def find(sheet: Sheet, query: FindQuery, *, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    """{"total", "matches": [{row, col, index}], "next": cursor or None}: `limit` matches after
    `cursor` in sheet order, and how many the whole sheet has."""
    columns = searched_columns(sheet, query)
    keys = [c.key for c in columns]
    answer = {"total": count_matches(sheet, columns, query), "matches": [], "next": None}
    if not columns:
        return answer
    rows = matching_rows(sheet, columns, query).order_by("position", "pk")
    after = None
    if cursor:
        after = _parse_cursor(sheet, cursor, keys)
        rows = rows.filter(Q(position__gt=after[0]) | Q(position=after[0], pk__gte=after[1]))
    # limit + 2 rows: the cursor's own row may have no match left, and each other row has one.
    page = list(rows.values_list("pk", "position", *[f"hit_{k}" for k in keys])[: limit + 2])
    matches = []
    for pk, position, *hits in page:
        for number, (key, hit) in enumerate(zip(keys, hits, strict=True)):
            if hit and not (after and pk == after[1] and number <= after[2]):
                matches.append((pk, position, key))
    if len(matches) > limit:
        matches = matches[:limit]
        answer["next"] = f"{matches[-1][0]}:{matches[-1][2]}"
    indexes = _row_indexes(sheet, sorted({position for _, position, _ in matches}))
    answer["matches"] = [{"row": pk, "col": key, "index": indexes[position]} for pk, position, key in matches]
    return answer

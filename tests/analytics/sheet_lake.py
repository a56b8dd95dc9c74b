"""Helpers of the write-through tests: the sheet as PostgreSQL has it, shaped like its lake view,
and random values of each column type."""

import datetime as dt

from analytics.lake.schema import column_names
from analytics.queries.selectors import sheet_rows
from sheets.column_types import value_type
from sheets.models import Column, Row, Sheet


def typed(column_type, value):
    """A stored (JSON) cell value as the view must return it."""
    if value is None or (column_type != "text" and isinstance(value, str) and value.startswith("#")):
        return None  # a formula's error (#DIV/0!) is NULL in a typed column
    if column_type == "number":
        return float(value)
    if column_type == "date":
        return dt.date.fromisoformat(value)
    if column_type == "datetime":
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    return value


def expected_rows(sheet_id):
    """The sheet as PostgreSQL has it, shaped like the view: by position, typed, named."""
    sheet = Sheet.objects.get(pk=sheet_id)
    columns = {
        c.key: {"name": c.name, "type": value_type(c.type, c.options), "position": c.position, "deleted": c.deleted}
        for c in Column.objects.filter(sheet_id=sheet_id)
    }
    names = column_names(columns)
    rows = []
    for row_id, position, data in (
        Row.objects.filter(sheet_id=sheet_id).order_by("position", "id").values_list("id", "position", "data")
    ):
        item = {"_row": row_id, "_position": position, "workspace_id": sheet.workspace_id}
        for key, name in names.items():
            item[name] = typed(columns[key]["type"], data.get(key))
        rows.append(item)
    return rows


def assert_lake_matches(sheet_id):
    expected = expected_rows(sheet_id)
    actual = sheet_rows(sheet_id)
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual):
        assert list(got) == list(want)  # the same column names in the same order
        for name, value in want.items():
            assert got[name] == value and type(got[name]) is type(value), (want["_row"], name, got[name], value)


def random_value(rng, column_type, options=None):
    if rng.random() < 0.1:
        return None
    if column_type == "text":
        return rng.choice(["Ada", "Bob", "élan", "a'b\"c", "12", "", "  spaced  "]) + str(rng.randint(0, 99))
    if column_type == "number":
        return rng.choice([rng.uniform(-1e6, 1e6), rng.randint(-1000, 1000), "3.25", "1e3"])
    if column_type == "integer":
        return rng.choice([rng.randint(-(10**12), 10**12), str(rng.randint(0, 99))])
    if column_type == "boolean":
        return rng.choice([True, False, "yes", "no"])
    if column_type == "date":
        return (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 700))).isoformat()
    if column_type == "datetime":
        moment = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=rng.randint(-5, 5))))
        return (moment + dt.timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999999))).isoformat()
    if column_type == "choice":
        return rng.choice((options or {}).get("choices") or ["x"])
    raise AssertionError(column_type)

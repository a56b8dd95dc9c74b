"""Hostile input to sheets: text PostgreSQL cannot hold (NUL, unpaired surrogates), moments outside
what Python and the databases hold, numbers that overflow, deeply nested or malformed JSON, over
REST, CSV import and filters. Each is a 400 with a JSON body naming the cell or the field, nothing
of it is stored, and one person's bad value never fails another's edit.

Before: NUL, surrogates and year 1 / 9999 moments with an offset were HTML 500s (PostgreSQL's
DataError, Python's OverflowError), 10**400 was stored, 10,000 levels of JSON a RecursionError 500,
a filter on such a moment or with a NUL a 500, a CSV with such a moment a 500."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core import jsonio
from core.errors import CellValueInvalid, InvalidInput
from sheets import column_types, selectors, services
from sheets.models import Operation, Row, Sheet
from sheets.services import Edit

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

NUMBER_400 = "1" + "0" * 400

# (column, JSON text of the value, code, what the error names)
HOSTILE_CELLS = [
    ("c1", json.dumps("a\u0000b"), "invalid_value", "NUL character"),
    ("c1", '"\\ud800"', "parse_error", "unpaired surrogate"),
    ("c1", '"x\\udfffy"', "parse_error", "unpaired surrogate"),
    ("c6", '"0001-01-01T00:00:00+05:00"', "invalid_value", "out of range"),
    ("c6", '"9999-12-31T23:59:59-05:00"', "invalid_value", "out of range"),
    ("c2", NUMBER_400, "parse_error", "out of range"),
    ("c3", NUMBER_400, "parse_error", "out of range"),
    ("c1", "1e400", "parse_error", "out of range"),
    ("c2", "-1e400", "parse_error", "out of range"),
    ("c2", '"Infinity"', "invalid_value", "not a number"),
    ("c2", '"NaN"', "invalid_value", "not a number"),
    ("c2", '"1e999"', "invalid_value", "finite"),
]


@pytest.fixture
def grid(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet, rows


@pytest.fixture
def client(api, owner):
    client = api(owner)
    client.raise_request_exception = False
    return client


def post(client, url, text):
    return client.post(url, text, content_type="application/json")


def assert_refused(response, code, words):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error
    return error


@pytest.mark.parametrize("col, value, code, words", HOSTILE_CELLS)
def test_a_hostile_cell_value_is_a_400_naming_the_cell_and_nothing_is_stored(client, grid, col, value, code, words):
    sheet, rows = grid
    before = Operation.objects.filter(sheet=sheet).count()
    response = post(
        client,
        f"/api/v1/sheets/{sheet.pk}/cells/",
        f'{{"cells": [{{"row": {rows[0]}, "col": "c1", "value": "fine"}}, '
        f'{{"row": {rows[1]}, "col": "{col}", "value": {value}}}]}}',
    )
    error = assert_refused(response, code, words)
    if code == "invalid_value":
        assert (error["row"], error["col"]) == (rows[1], col)
    else:
        assert error["field"] == "cells[1].value"
    assert Operation.objects.filter(sheet=sheet).count() == before
    assert Row.objects.get(pk=rows[0]).data == {}  # the batch's good cell is not applied either


@pytest.mark.parametrize("col, value, code, words", HOSTILE_CELLS)
def test_a_hostile_value_in_inserted_rows_is_a_400_naming_the_cell(client, grid, col, value, code, words):
    sheet, _ = grid
    response = post(client, f"/api/v1/sheets/{sheet.pk}/rows/", f'{{"rows": [{{"c1": "ok"}}, {{"{col}": {value}}}]}}')
    error = assert_refused(response, code, words)
    if code == "invalid_value":
        assert (error["row"], error["col"]) == (1, col)
    else:
        assert error["field"] == f"rows[1].{col}"
    assert Row.objects.filter(sheet=sheet).count() == 2


def test_the_largest_values_that_fit_are_kept(client, grid):
    sheet, rows = grid
    cells = [
        {"row": rows[0], "col": "c2", "value": 1e308},
        {"row": rows[0], "col": "c6", "value": "0001-01-01T05:00:00+05:00"},
        {"row": rows[1], "col": "c6", "value": "9999-12-31T18:59:59-05:00"},
        {"row": rows[1], "col": "c1", "value": "é😀"},
    ]
    response = client.post(f"/api/v1/sheets/{sheet.pk}/cells/", {"cells": cells}, format="json")
    assert response.status_code == 200, response.json()
    first = Row.objects.get(pk=rows[0]).data
    # (PostgreSQL's jsonb gives 1e308 back written out: 1 and 308 zeros.)
    assert float(first.pop("c2")) == 1e308 and first == {"c6": "0001-01-01T00:00:00Z"}
    assert Row.objects.get(pk=rows[1]).data == {"c6": "9999-12-31T23:59:59Z", "c1": "é😀"}


@pytest.mark.parametrize(
    "body, words",
    [
        ('{"cells": ' + "[" * 10_000 + "]" * 10_000 + "}", "nested deeper than 32"),
        ('{"cells": [{"row": 1, "col": "c1", "value": ' + "[" * 40 + "]" * 40 + "}]}", "nested deeper than 32"),
        ('{"cells": [{"row": 1, "col": "c1", "value": NaN}]}', "cells[0].value: NaN is not a number"),
        ('{"cells": [{"row": 1, "col": "c1", "value": Infinity}]}', "cells[0].value: the number is out of range"),
        ('{"cells": [{"row": 1, "col": "c1", "value": "x"}', "not valid JSON"),
        ('{"cells": [{"row": 1, "col": "c1", "value": ' + "9" * 5000 + "}]}", "out of range"),
    ],
)
def test_malformed_or_deeply_nested_json_is_a_400(client, grid, body, words):
    sheet, _ = grid
    assert_refused(post(client, f"/api/v1/sheets/{sheet.pk}/cells/", body), "parse_error", words)


def test_an_oversized_body_is_a_413_in_json(client, grid):
    sheet, rows = grid
    body = json.dumps({"cells": [{"row": rows[0], "col": "c1", "value": "x" * (11 * 1024 * 1024)}]})
    response = post(client, f"/api/v1/sheets/{sheet.pk}/cells/", body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_ids_beyond_64_bits_are_a_400(client, grid):
    sheet, rows = grid
    huge = "1" + "0" * 30
    assert_refused(
        post(client, f"/api/v1/sheets/{sheet.pk}/cells/", f'{{"cells": [{{"row": {huge}, "col": "c1", "value": 1}}]}}'),
        "invalid",
        "row is a row id",
    )
    assert_refused(
        client.get(f"/api/v1/sheets/{sheet.pk}/rows/", {"offset": huge, "sort": "c1"}), "invalid", "offset is too large"
    )
    assert_refused(
        client.get(f"/api/v1/sheets/{sheet.pk}/operations/", {"since": huge}), "invalid", "since is too large"
    )


@pytest.mark.parametrize(
    "spec, words",
    [
        ("c6:gt:0001-01-01T00:00:00+05:00", "out of range"),
        ("c6:lt:9999-12-31T23:59:59-05:00", "out of range"),
        ("c5:eq:2024-13-45", "is not a date"),
        ("c5:eq:2024-02-30", "is not a date"),
        ("c6:gte:2024-02-30T10:00:00Z", "is not a date and time"),
        ("c1:contains:a\x00b", "NUL character"),
        ("c1:eq:a\x00b", "NUL character"),
        ("c2:gt:" + NUMBER_400, "finite"),
        ("c2:gt:Infinity", "not a number"),
        ("c3:eq:" + NUMBER_400, "finite"),
    ],
)
def test_a_hostile_filter_is_a_400_naming_the_column(client, grid, spec, words):
    sheet, _ = grid
    error = assert_refused(client.get(f"/api/v1/sheets/{sheet.pk}/rows/", {"filter": spec}), "invalid", words)
    assert error["col"] == spec.split(":")[0]


@pytest.mark.parametrize("name", ["a\x00b", "\ud800"])
def test_names_that_cannot_be_stored_are_refused_by_the_services(grid, owner, name):
    sheet, _ = grid
    for call in (
        lambda: services.column_add(sheet=sheet, actor=owner, name=name),
        lambda: services.column_rename(sheet=sheet, actor=owner, key="c1", name=name),
        lambda: services.sheet_rename(sheet=sheet, actor=owner, name=name),
        lambda: services.column_add(
            sheet=sheet, actor=owner, name="Pick", type="choice", options={"choices": ["ok", name]}
        ),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_a_csv_with_moments_and_numbers_beyond_range_imports_them_as_text(client, workspace):
    content = (
        "Name,At,Big,Huge,Inf\n"
        "a,0001-01-01T00:00:00+05:00,1e308,1" + "0" * 400 + ",Infinity\n"
        "b,9999-12-31T23:59:59-05:00,1e308,2,NaN\n"
    ).encode()
    response = client.post(
        f"/api/v1/workspaces/{workspace.pk}/import/",
        {"file": SimpleUploadedFile("data.csv", content, content_type="text/csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content[:300]
    sheet_id = response.json()["id"]
    types = [(c["name"], c["type"]) for c in response.json()["columns"]]
    assert types == [("Name", "text"), ("At", "text"), ("Big", "number"), ("Huge", "text"), ("Inf", "text")]
    rows = [data for _, data in selectors.rows_in_order(Sheet.objects.get(pk=sheet_id))]
    assert rows[0]["c2"] == "0001-01-01T00:00:00+05:00" and rows[1]["c2"] == "9999-12-31T23:59:59-05:00"
    assert rows[0]["c4"] == "1" + "0" * 400 and float(rows[0]["c3"]) == 1e308  # nothing lost


@pytest.mark.parametrize(
    "value, words",
    [
        ("a\x00b", "NUL character"),
        ("\ud800", "unpaired surrogate"),
        (10**400, "too large"),
        (float("inf"), "finite"),
        (float("nan"), "finite"),
    ],
)
def test_coerce_refuses_what_cannot_be_stored_in_every_column_type(value, words):
    for column_type in ("text", "number", "integer"):
        with pytest.raises(ValueError, match=words):
            column_types.coerce(column_type, value)


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+00:01"]
)
def test_moments_outside_years_1_to_9999_in_utc_are_out_of_range(text):
    with pytest.raises(ValueError, match="out of range"):
        column_types.coerce("datetime", text)


def test_a_value_the_database_refuses_fails_only_its_own_edit(grid, owner, editor, monkeypatch):
    """Should a value the database refuses get past validation, the batch it came in (edits of
    several people, one transaction) is applied again edit by edit: only that edit fails."""
    sheet, rows = grid
    monkeypatch.setattr(column_types, "check_text", lambda text, what="text": text)  # let a NUL through
    bad = Edit(owner, [{"row": rows[0], "col": "c1", "value": "a\x00b"}])
    good = Edit(editor, [{"row": rows[1], "col": "c1", "value": "fine"}])
    results = services.cells_update_many(sheet=sheet, edits=[good, bad, good])
    assert isinstance(results[0], Operation) and isinstance(results[2], Operation)
    assert isinstance(results[1], InvalidInput) and "cannot be stored" in results[1].message
    assert Row.objects.get(pk=rows[1]).data == {"c1": "fine"} and Row.objects.get(pk=rows[0]).data == {}
    versions = list(Operation.objects.filter(sheet=sheet).order_by("version").values_list("version", flat=True))
    assert versions == list(range(1, len(versions) + 1))  # no gap left by the refused edit


def test_a_bad_cell_among_many_names_its_cell(grid, owner):
    sheet, rows = grid
    cells = [{"row": rows[0], "col": "c1", "value": "ok"}] * 10 + [
        {"row": rows[1], "col": "c6", "value": "0001-01-01T00:00+05:00"}
    ]
    with pytest.raises(CellValueInvalid) as raised:
        services.cells_update(sheet=sheet, actor=owner, cells=cells)
    assert (raised.value.detail["row"], raised.value.detail["col"]) == (rows[1], "c6")


# --- the JSON parser every edge uses (core/jsonio.py) ------------------------------------------------


@pytest.mark.parametrize(
    "text, words, field",
    [
        ("[" * 10_000 + "]" * 10_000, "nested deeper than 32", None),
        ('{"a": ' * 33 + "1" + "}" * 33, "nested deeper than 32", None),
        ('{"a": [1, {"b": "\\ud800"}]}', "unpaired surrogate", "a[1].b"),
        ('{"\\udc00x": 1}', "unpaired surrogate", "\\udc00x"),
        ('{"v": [1e400]}', "out of range", "v[0]"),
        ('{"v": -' + NUMBER_400 + "}", "out of range", "v"),
        ("NaN", "NaN is not a number", None),
        ('{"v": -Infinity}', "out of range", "v"),
        (b"\xff\xfe", "UTF-8", None),
    ],
)
def test_jsonio_refuses_with_what_and_where(text, words, field):
    with pytest.raises(jsonio.JsonInvalid, match=words) as raised:
        jsonio.loads(text)
    assert raised.value.detail.get("field") == field
    jsonio.dumps(raised.value.as_dict())  # the error itself can always be sent


def test_jsonio_takes_what_is_fine():
    assert jsonio.loads('{"e": "\\ud83d\\ude00", "n": [1.5, -2, 9223372036854775807]}') == {
        "e": "😀",
        "n": [1.5, -2, 2**63 - 1],
    }
    assert jsonio.loads('{"v": ' + "[" * 31 + "]" * 31 + "}")
    assert jsonio.loads(str(2**64)) == float(2**64)  # beyond 64 bits: a float, never an id for the database


def test_jsonio_dumps_never_writes_nan_or_infinity():
    for value in (float("nan"), float("inf"), {"v": [float("-inf")]}):
        with pytest.raises(ValueError):
            jsonio.dumps(value)

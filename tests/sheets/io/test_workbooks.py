"""Workbook import (XLSX, ODS; python-calamine) through the workspace import API: worksheets
chosen, typed through the registry, formulas' cached values, merged headers, jobs, bad files."""

import datetime as dt
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sheets import selectors
from sheets.models import ImportJob, Sheet

from .workbook_files import encrypted, ods, xls, xlsx

pytestmark = pytest.mark.django_db

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PEOPLE = [
    ["Name", "Born", "Seen", "Score", "Active", "Zip"],
    ["Ann", dt.date(2000, 1, 2), dt.datetime(2020, 1, 1, 10, 30), 1.5, True, "007"],
    ["Bob", dt.date(2001, 3, 4), dt.datetime(2021, 6, 1, 8, 0), 2, False, "123"],
]


def post(client, workspace, content, file_name="book.xlsx", query="", **fields):
    data = {"file": SimpleUploadedFile(file_name, content, content_type=XLSX_TYPE), **fields}
    return client.post(f"/api/v1/workspaces/{workspace.pk}/import/{query}", data, format="multipart")


def columns_of(sheet):
    return [(c.name, c.type) for c in selectors.sheet_columns(sheet)]


def rows_of(sheet):
    columns = selectors.sheet_columns(sheet)
    return [[data.get(c.key) for c in columns] for _, data in selectors.rows_in_order(sheet)]


def test_every_non_empty_worksheet_becomes_a_typed_sheet(api, workspace, editor):
    book = xlsx({"People": PEOPLE, "Empty": [], "Totals": [["Item", "Total"], ["a", 3], ["b", 4.25]]})
    response = post(api(editor), workspace, book, file_name="Team.xlsx")
    assert response.status_code == 201, response.content
    names = [s["name"] for s in response.json()["sheets"]]
    assert names == ["Team – People", "Team – Totals"]
    assert response.json()["id"] == response.json()["sheets"][0]["id"]
    people = Sheet.objects.get(name="Team – People", workspace=workspace)
    assert columns_of(people) == [
        ("Name", "text"),
        ("Born", "date"),
        ("Seen", "datetime"),
        ("Score", "number"),
        ("Active", "boolean"),
        ("Zip", "text"),  # held as text in the workbook: stays text, leading zero kept
    ]
    assert rows_of(people) == [
        ["Ann", "2000-01-02", "2020-01-01T10:30:00Z", 1.5, True, "007"],
        ["Bob", "2001-03-04", "2021-06-01T08:00:00Z", 2, False, "123"],
    ]
    totals = Sheet.objects.get(name="Team – Totals", workspace=workspace)
    assert columns_of(totals) == [("Item", "text"), ("Total", "number")]


def test_chosen_worksheets_only_and_a_given_name_for_one(api, workspace, editor):
    book = xlsx({"People": PEOPLE, "Totals": [["Item", "Total"], ["a", 3]]})
    response = post(api(editor), workspace, book, sheets=["Totals"], name="Money")
    assert response.status_code == 201, response.content
    assert [s["name"] for s in response.json()["sheets"]] == ["Money"]
    assert not Sheet.objects.filter(name__contains="People").exists()


def test_an_unknown_or_empty_worksheet_is_refused_and_nothing_made(api, workspace, editor):
    book = xlsx({"People": PEOPLE, "Empty": []})
    response = post(api(editor), workspace, book, sheets=["People", "Nope"])
    assert response.status_code == 400
    assert "Nope" in response.json()["error"]["message"]
    response = post(api(editor), workspace, book, sheets=["Empty"])
    assert response.status_code == 400
    assert "empty" in response.json()["error"]["message"]
    assert not Sheet.objects.filter(workspace=workspace, name__startswith="book").exists()


def test_formula_cells_give_their_cached_value(api, workspace, editor):
    book = xlsx({"F": [["a", "double"], [1, "=A2*2"], [5, "=A3*2"]]}, cached={(0, "B2"): 2, (0, "B3"): 10})
    response = post(api(editor), workspace, book)
    assert response.status_code == 201, response.content
    sheet = Sheet.objects.get(pk=response.json()["id"])
    assert columns_of(sheet) == [("a", "integer"), ("double", "integer")]
    assert rows_of(sheet) == [[1, 2], [5, 10]]


def test_merged_and_blank_header_cells_get_unique_names(api, workspace, editor):
    rows = [["Quarter", None, None, "Name"], [1, 2, 3, "x"], [4, 5, 6, "y"]]
    book = xlsx({"Q": rows}, merged={"Q": ["A1:C1"]})
    response = post(api(editor), workspace, book)
    assert response.status_code == 201, response.content
    sheet = Sheet.objects.get(pk=response.json()["id"])
    assert [n for n, _ in columns_of(sheet)] == ["Quarter", "Quarter (2)", "Quarter (3)", "Name"]
    book = xlsx({"B": [["A", None, "A"], [1, 2, 3]]})
    sheet = Sheet.objects.get(pk=post(api(editor), workspace, book, file_name="b.xlsx").json()["id"])
    assert [n for n, _ in columns_of(sheet)] == ["A", "Column 2", "A (2)"]


def test_ods_imports(api, workspace, editor):
    book = ods([["Name", "Amount", "Day"], ["a", 1.5, dt.date(2020, 1, 2)], ["b", 2, dt.date(2021, 5, 6)]])
    response = post(api(editor), workspace, book, file_name="sales.ods")
    assert response.status_code == 201, response.content
    sheet = Sheet.objects.get(pk=response.json()["id"])
    assert sheet.name == "sales – Data"
    assert columns_of(sheet) == [("Name", "text"), ("Amount", "number"), ("Day", "date")]
    assert rows_of(sheet) == [["a", 1.5, "2020-01-02"], ["b", 2, "2021-05-06"]]


def test_a_workbook_is_recognised_by_its_content_whatever_its_name(api, workspace, editor):
    response = post(api(editor), workspace, xlsx({"S": [["a"], [1]]}), file_name="export.csv")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "export – S"


def test_preview_lists_worksheets_and_imports_nothing(api, workspace, editor):
    book = xlsx({"People": PEOPLE, "Empty": []})
    before = Sheet.objects.count()
    response = post(api(editor), workspace, book, query="?preview=1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["format"] == "workbook"
    people, empty = body["worksheets"]
    assert people["name"] == "People" and people["rows"] == 2
    assert [c["type"] for c in people["columns"]] == ["text", "date", "datetime", "number", "boolean", "text"]
    assert people["sample"][0][:2] == ["Ann", "2000-01-02"]
    assert empty == {"name": "Empty", "rows": 0, "columns": [], "sample": []}
    assert Sheet.objects.count() == before
    csv = post(api(editor), workspace, b"a,b\n1,hello\n", file_name="d.csv", query="?preview=1").json()
    assert csv["format"] == "csv"
    assert csv["worksheets"][0]["columns"] == [{"name": "a", "type": "integer"}, {"name": "b", "type": "text"}]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"PK\x03\x04" + b"\x00" * 200, "cannot be read"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "cannot be read"),
        (xlsx({"Empty": [], "Also": []}), "empty"),
    ],
)
def test_broken_or_empty_workbooks_are_refused_clearly(api, workspace, editor, content, message):
    before = Sheet.objects.count()
    response = post(api(editor), workspace, content)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert post(api(editor), workspace, content, query="?preview=1").status_code in (200, 400)
    assert Sheet.objects.count() == before


def test_a_password_protected_workbook_is_refused_clearly(api, workspace, editor):
    """A real protected XLSX (encrypted as Excel does): calamine calls it an unknown format; the
    answer says it is the password, on import and on preview, and nothing is created."""
    before = Sheet.objects.count()
    protected = encrypted(xlsx({"S": [["a"], [1]]}))
    for query in ("", "?preview=1"):
        response = post(api(editor), workspace, protected, query=query)
        assert response.status_code == 400, response.content
        assert "protected by a password" in response.json()["error"]["message"]
    assert Sheet.objects.count() == before


def test_an_excel_97_workbook_imports_with_its_types(api, workspace, editor):
    """A real .xls (BIFF8): numbers as numbers, Excel dates as dates, each worksheet a sheet."""
    book = xls(
        {
            "Orders": [["Item", "Qty", "Day"], ["Pen", 3, dt.date(2024, 1, 31)], ["Ink", 2.5, dt.date(2024, 2, 1)]],
            "Notes": [["Text"], ["hello"]],
        }
    )
    response = post(api(editor), workspace, book, file_name="legacy.xls")
    assert response.status_code == 201, response.content
    assert [s["name"] for s in response.json()["sheets"]] == ["legacy – Orders", "legacy – Notes"]
    orders = Sheet.objects.get(name="legacy – Orders", workspace=workspace)
    assert columns_of(orders) == [("Item", "text"), ("Qty", "number"), ("Day", "date")]
    assert rows_of(orders) == [["Pen", 3, "2024-01-31"], ["Ink", 2.5, "2024-02-01"]]


def test_a_bad_cell_leaves_no_sheet_behind(api, workspace, editor, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_CELL_CHARS": 5}
    book = xlsx({"Good": [["a"], ["ok"]], "Bad": [["a"], ["far too long"]]})
    response = post(api(editor), workspace, book)
    assert response.status_code == 400
    assert "Bad" in response.json()["error"]["message"]
    assert not Sheet.objects.filter(workspace=workspace, name__startswith="book").exists()


def test_viewers_cannot_import_or_preview(api, workspace, viewer):
    book = xlsx({"S": [["a"], [1]]})
    assert post(api(viewer), workspace, book).status_code == 403
    assert post(api(viewer), workspace, book, query="?preview=1").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_large_workbook_runs_as_a_job_with_progress(api, workspace, editor, settings, jobs_worker):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 100}
    book = xlsx({"One": [["n"], *[[i] for i in range(300)]], "Two": [["t"], ["x"]]})
    response = post(api(editor), workspace, book)
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    for _ in range(200):
        job = ImportJob.objects.get(pk=job_id)
        if job.status in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job.status == "done", job.error
    assert job.rows == 301 and job.progress == 1.0
    body = api(editor).get(f"/api/v1/imports/{job_id}/").json()
    assert len(body["sheets"]) == 2 and body["sheet"] == body["sheets"][0]
    assert [Sheet.objects.get(pk=pk).name for pk in body["sheets"]] == ["book – One", "book – Two"]

"""Import into an existing sheet (POST /api/v1/sheets/<id>/import/): append or upsert on a key,
column mapping, preview, bad rows listed with nothing applied, one undoable operation broadcast."""

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile

from sheets import selectors, services
from sheets.models import Operation
from sheets.undo import operation_redo, operation_undo
from tests.factories import make_sheet
from tests.realtime.conftest import connect  # noqa: F401 (a WebSocket client of the sheet)

from .workbook_files import xlsx

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Code", "type": "text"}, {"name": "Amount", "type": "number"}, {"name": "Day", "type": "date"}]


@pytest.fixture
def target(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Stock")
    services.rows_insert(
        sheet=sheet,
        actor=owner,
        rows=[{"c1": "A1", "c2": 1, "c3": "2024-01-01"}, {"c1": "B2", "c2": 2}, {"c1": "C3", "c2": 3}],
    )
    return sheet


def post(client, to, content, query="", file_name="data.csv", **fields):
    data = {"file": SimpleUploadedFile(file_name, content), **fields}
    return client.post(f"/api/v1/sheets/{to.pk}/import/{query}", data, format="multipart")


def table(sheet):
    return [(d.get("c1"), d.get("c2"), d.get("c3")) for _, d in selectors.rows_in_order(sheet)]


BEFORE = [("A1", 1, "2024-01-01"), ("B2", 2, None), ("C3", 3, None)]


def test_append_adds_every_row_as_one_operation(api, target, editor):
    version = Operation.objects.filter(sheet=target).count()
    response = post(api(editor), target, b"Code,Amount,Day\nD4,4,2024/02/03\nA1,9,\n", mode="append")
    assert response.status_code == 200, response.content
    assert response.json()["new"] == 2 and response.json()["updated"] == 0
    assert response.json()["mapping"] == {"Code": "c1", "Amount": "c2", "Day": "c3"}
    assert table(target) == BEFORE + [("D4", 4, "2024-02-03"), ("A1", 9, None)]
    assert Operation.objects.filter(sheet=target).count() == version + 1
    assert Operation.objects.filter(sheet=target).latest("version").kind == "rows.import"


def test_upsert_updates_matched_rows_and_adds_the_others(api, target, editor):
    content = b"code,amount,other\na1,10,x\nC3,3,y\nE5,5,z\n"
    response = post(api(editor), target, content, mode="upsert", key="c1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["new"], body["updated"]) == (1, 1)
    assert body["mapping"] == {"code": "c1", "amount": "c2"}  # by name, case ignored; "other" left out
    # matched ignoring case; an empty file cell (Day) leaves the value; C3 was already so.
    assert table(target) == [("A1", 10, "2024-01-01"), ("B2", 2, None), ("C3", 3, None), ("E5", 5, None)]


def test_preview_says_what_would_happen_and_changes_nothing(api, target, editor):
    content = b"Code,Amount\nA1,10\nC3,3\nE5,5\nF6,lots\n,7\nE5,8\n"
    version = target.version
    response = post(api(editor), target, content, query="?preview=1", mode="upsert", key="c1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["new"], body["updated"], body["unchanged"], body["bad_count"]) == (1, 1, 1, 3)
    assert [b["row"] for b in body["bad"]] == [4, 5, 6]
    assert "Amount" in body["bad"][0]["reason"] and "empty" in body["bad"][1]["reason"]
    assert "same key as row 3" in body["bad"][2]["reason"]
    assert body["sample"][0] == ["A1", "10"]
    assert table(target) == BEFORE
    target.refresh_from_db()
    assert target.version == version


def test_any_bad_row_and_nothing_is_applied(api, target, editor):
    version = Operation.objects.filter(sheet=target).count()
    response = post(api(editor), target, b"Code,Amount,Day\nD4,4,\nE5,5,31/02/2024\n", mode="append")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "nothing was imported" in error["message"]
    assert error["rows"] == [{"row": 2, "reason": error["rows"][0]["reason"]}]
    assert "Day" in error["rows"][0]["reason"]
    assert table(target) == BEFORE
    assert Operation.objects.filter(sheet=target).count() == version


def test_a_key_matching_several_rows_is_a_bad_row(api, target, editor, owner):
    services.rows_insert(sheet=target, actor=owner, rows=[{"c1": "a1"}])
    response = post(api(editor), target, b"Code,Amount\nA1,5\n", mode="upsert", key="c1")
    assert response.status_code == 400
    assert "matches 2 rows" in response.json()["error"]["rows"][0]["reason"]


def test_mapping_and_bad_parameters(api, target, editor):
    content = b"Ref,Qty\nZ9,7\n"
    assert "mapping" in post(api(editor), target, content, mode="append").json()["error"]["message"]
    response = post(api(editor), target, content, mode="append", mapping='{"Ref": "c1", "Qty": "c2"}')
    assert response.status_code == 200, response.content
    assert table(target)[-1] == ("Z9", 7, None)
    for fields, message in [
        ({"mode": "merge"}, "mode"),
        ({"mode": "upsert"}, "key"),
        ({"mode": "upsert", "key": "c2", "mapping": '{"Ref": "c1"}'}, "key"),
        ({"mode": "append", "mapping": "[1]"}, "mapping"),
        ({"mode": "append", "mapping": "{nope"}, "mapping"),
        ({"mode": "append", "mapping": '{"Nope": "c1"}'}, "no column 'Nope'"),
        ({"mode": "append", "mapping": '{"Ref": "c99"}'}, "no column 'c99'"),
        ({"mode": "append", "mapping": '{"Ref": "c1", "Qty": "c1"}'}, "same sheet column"),
        ({"mode": "append", "sheet": "S"}, "workbook"),
    ]:
        response = post(api(editor), target, content, **fields)
        assert response.status_code == 400, (fields, response.content)
        assert message in response.json()["error"]["message"], fields
    assert post(api(editor), target, b"", mode="append").status_code == 400
    response = api(editor).post(f"/api/v1/sheets/{target.pk}/import/", {"mode": "append"}, format="multipart")
    assert response.status_code == 400


def test_a_workbook_worksheet_imports(api, target, editor):
    book = xlsx({"Other": [["x"], [1]], "New": [["Code", "Amount"], ["W1", 1.25]]})
    response = post(api(editor), target, book, file_name="b.xlsx", mode="append", sheet="New")
    assert response.status_code == 200, response.content
    assert table(target)[-1] == ("W1", 1.25, None)


def test_undo_and_redo_revert_the_whole_import(api, target, editor):
    response = post(api(editor), target, b"Code,Amount\nA1,10\nE5,5\n", mode="upsert", key="c1")
    assert response.status_code == 200
    after = table(target)
    undo = operation_undo(sheet=target, actor=editor)
    assert undo.kind == "rows.import" and undo.payload["undo_of"] == response.json()["version"]
    assert table(target) == BEFORE
    redo = operation_redo(sheet=target, actor=editor)
    assert redo.kind == "rows.import"
    assert table(target) == after
    operation_undo(sheet=target, actor=editor)
    assert table(target) == BEFORE


@pytest.mark.django_db(transaction=True)
async def test_the_import_is_broadcast_to_the_sheet(api, workspace, owner, editor, connect):  # noqa: F811
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, columns=COLUMNS, name="Live")
    watcher, _ = await connect(owner, sheet)
    response = await database_sync_to_async(post)(api(editor), sheet, b"Code,Amount\nQ1,1\n", mode="append")
    assert response.status_code == 200, response.content
    ops = await watcher.recv_type("ops")
    assert ops["kind"] == "rows.import" and ops["actor"] == editor.pk
    assert [r["values"] for r in ops["changes"]["rows"]] == [{"c1": "Q1", "c2": 1}]
    assert ops["changes"]["cells"] == [] and ops["changes"]["ids"] == []


def test_imported_rows_get_their_formula_cells_in_the_same_operation(api, target, editor, owner):
    services.column_add(sheet=target, actor=owner, name="Double", type="formula", options={"formula": "[Amount] * 2"})
    key = next(c.key for c in selectors.sheet_columns(target) if c.name == "Double")
    response = post(api(editor), target, b"Code,Amount\nA1,10\nF6,6\n", mode="upsert", key="c1")
    assert response.status_code == 200, response.content
    doubles = {d.get("c1"): d.get(key) for _, d in selectors.rows_in_order(target)}
    assert doubles == {"A1": 20, "B2": 4, "C3": 6, "F6": 12}
    operation = Operation.objects.filter(sheet=target).latest("version")
    assert [c["value"] for c in operation.payload["cells"] if c["col"] == key] == [20]
    assert operation.payload["rows"][0]["values"][key] == 12
    operation_undo(sheet=target, actor=editor)
    assert {d.get("c1"): d.get(key) for _, d in selectors.rows_in_order(target)} == {"A1": 2, "B2": 4, "C3": 6}


def test_a_workbook_answers_its_worksheets_and_the_one_read(api, target, editor):
    book = xlsx({"Empty": [], "First": [["Code"], ["F1"]], "Second": [["Ref", "Amount"], ["S1", 2]]})
    response = post(api(editor), target, book, query="?preview=1", file_name="b.xlsx", mode="append")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["worksheets"] == ["Empty", "First", "Second"]
    assert (body["sheet"], body["columns"], body["new"]) == ("First", ["Code"], 1)
    response = post(api(editor), target, book, query="?preview=1", file_name="b.xlsx", mode="append", sheet="Second")
    assert (response.json()["sheet"], response.json()["columns"]) == ("Second", ["Ref", "Amount"])
    csv = post(api(editor), target, b"Code\nX\n", query="?preview=1", mode="append").json()
    assert (csv["worksheets"], csv["sheet"]) == ([], None)


def test_a_mapping_that_does_not_fit_answers_the_files_columns(api, target, editor):
    """So that a client can show the file's columns to map even when none matches by name."""
    book = xlsx({"Only": [["Ref", "Qty"], ["Z9", 7]]})
    for fields in [{"mode": "append"}, {"mode": "upsert", "key": "c1", "mapping": '{"Qty": "c2"}'}]:
        response = post(api(editor), target, book, query="?preview=1", file_name="b.xlsx", **fields)
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert (error["columns"], error["worksheets"], error["sheet"]) == (["Ref", "Qty"], ["Only"], "Only")
    assert table(target) == BEFORE

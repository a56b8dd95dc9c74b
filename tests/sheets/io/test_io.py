import csv
import io as stdio
import time
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import AsyncClient
from prometheus_client import REGISTRY

from core import exports
from core.errors import CellValueInvalid
from sheets import column_types, io, selectors, services
from sheets.models import ImportJob, Operation, Sheet
from tests.factories import DEFAULT_COLUMNS, make_sheet

pytestmark = pytest.mark.django_db

MIXED_COLUMNS = DEFAULT_COLUMNS[:6]  # every type but choice, which CSV brings back as text
MIXED_ROWS = [
    {"c1": "plain", "c2": 1234.5, "c3": -3, "c4": True, "c5": "2026-11-23", "c6": "2026-11-23T09:00:00Z"},
    {
        "c1": 'comma, "quotes"\nand a new line',
        "c2": -2.25,
        "c3": 0,
        "c4": False,
        "c5": "2020-02-29",
        "c6": "1999-12-31T23:59:59Z",
    },
    {"c1": "=1+1", "c2": 0.1, "c3": 7, "c5": "2026-01-01"},
    {"c1": "-1"},
    {"c1": "'=already quoted", "c2": 1e20, "c3": 123456789012},
    {"c1": "Zoë – naïve ✓", "c4": True},
    {"c1": "007"},
    {},
    {"c1": "@SUM(A1:A2)", "c6": "2026-06-01T12:30:00Z"},
]


def upload(content, name="data.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def post_import(client, workspace, content, name=None, file_name="data.csv"):
    data = {"file": upload(content, file_name)}
    if name is not None:
        data["name"] = name
    return client.post(f"/api/v1/workspaces/{workspace.pk}/import/", data, format="multipart")


def export(client, sheet, fmt="csv"):
    return client.get(f"/api/v1/sheets/{sheet.pk}/export/", {"format": fmt})


def columns_of(sheet):
    return [(c.name, c.type) for c in selectors.sheet_columns(sheet)]


def table(sheet):
    """Rows as lists of values in column order, by column name to not depend on keys."""
    keys = [c.key for c in selectors.sheet_columns(sheet)]
    return [[data.get(k) for k in keys] for _, data in selectors.rows_in_order(sheet)]


def analyzed(content):
    return io.analyze_csv(stdio.BytesIO(content))


def nothing_created(workspace):
    return not Sheet.objects.filter(workspace=workspace).exists() and not ImportJob.objects.exists()


def body(response):
    return b"".join(response.streaming_content)


def mixed_sheet(workspace, owner, name="Orders"):
    sheet = make_sheet(workspace, owner, columns=MIXED_COLUMNS, name=name)
    services.rows_insert(sheet=sheet, actor=owner, rows=MIXED_ROWS)
    return sheet


# --- round trip -------------------------------------------------------------------------------


def test_csv_export_then_import_gives_the_same_columns_and_values(api, workspace, owner, editor):
    original = mixed_sheet(workspace, owner)
    exported = export(api(owner), original)
    assert exported.status_code == 200
    response = post_import(api(editor), workspace, body(exported), name="Copy")
    assert response.status_code == 201, response.json()
    copy = Sheet.objects.get(pk=response.json()["id"])
    assert response.json()["row_count"] == len(MIXED_ROWS)
    assert [(c["name"], c["type"]) for c in response.json()["columns"]] == columns_of(original)
    assert columns_of(copy) == columns_of(original)
    assert table(copy) == table(original)
    assert copy.name == "Copy" and copy.created_by == editor


def test_import_stores_typed_values_and_names_the_sheet_after_the_file(api, workspace, editor):
    content = b"name,amount,paid,day,when\nA,1.5,yes,2026-01-02,2026-01-02 10:00\nB,,no,,\n"
    response = post_import(api(editor), workspace, content, file_name="Q3 orders.csv")
    assert response.status_code == 201
    sheet = Sheet.objects.get(pk=response.json()["id"])
    assert sheet.name == "Q3 orders"
    assert columns_of(sheet) == [
        ("name", "text"),
        ("amount", "number"),
        ("paid", "boolean"),
        ("day", "date"),
        ("when", "datetime"),
    ]
    assert table(sheet) == [["A", 1.5, True, "2026-01-02", "2026-01-02T10:00:00Z"], ["B", None, False, None, None]]


def test_each_chunk_of_rows_is_one_operation(settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_INSERT_ROWS": 10}
    content = b"n\n" + b"".join(b"r%d\n" % i for i in range(25))
    sheet = io.csv_import(file=stdio.BytesIO(content), workspace=workspace, actor=editor, name="Chunks")
    inserts = Operation.objects.filter(sheet=sheet, kind="rows.insert")
    assert [len(op.payload["rows"]) for op in inserts] == [10, 10, 5]
    assert table(sheet) == [[f"r{i}"] for i in range(25)]


# --- type inference ----------------------------------------------------------------------------

# (values of one column, inferred type)
INFERENCE_CASES = [
    (["1", "2", "-3"], "integer"),
    (["1", "2.5"], "number"),
    (["1,234", "5"], "integer"),
    (["1e3", "0.5"], "number"),
    (["true", "no", "Y"], "boolean"),
    (["1", "0", "yes"], "boolean"),
    (["2026-11-23", "2026-01-01"], "date"),
    (["2026-11-23", "2026-11-23T10:00:00Z"], "datetime"),
    (["abc", "1"], "text"),
    (["", ""], "text"),
    (["5", "", "7"], "integer"),
    (["2026-02-30"], "text"),
    (["007", "12"], "text"),
    (["1,5", "2,25"], "text"),
    (["'-1", "2"], "text"),
    ([" 12 ", "", "   "], "integer"),
]


@pytest.mark.parametrize("samples,expected", INFERENCE_CASES)
def test_type_inference(samples, expected):
    content = "value,other\n" + "".join(f'"{v}",abc\n' for v in samples)
    plan = analyzed(content.encode())
    assert plan.columns[0]["type"] == expected
    assert plan.columns[1]["type"] == "text"
    assert plan.rows == len(samples)
    assert column_types.infer(samples) == expected  # the same inference outside an import


def test_inference_looks_at_every_value_not_a_sample(workspace, editor):
    content = b"n\n" + b"".join(b"%d\n" % i for i in range(20000)) + b"1.5\n"
    assert analyzed(content).columns == [{"name": "n", "type": "number"}]


def test_blank_duplicate_and_extra_headers_get_unique_names():
    plan = analyzed(b"Name,,name,Total,Total\n1,2,3,4,5,6,7\n")
    assert [c["name"] for c in plan.columns] == [
        "Name",
        "Column 2",
        "name (2)",
        "Total",
        "Total (2)",
        "Column 6",
        "Column 7",
    ]


def test_ragged_rows_fill_missing_cells_with_empty(workspace, editor):
    sheet = io.csv_import(file=stdio.BytesIO(b"a,b,c\n1\n1,2,3,4\n"), workspace=workspace, actor=editor, name="R")
    assert columns_of(sheet) == [("a", "integer"), ("b", "integer"), ("c", "integer"), ("Column 4", "integer")]
    assert table(sheet) == [[1, None, None, None], [1, 2, 3, 4]]


# --- encodings and delimiters ------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoded",
    [
        "Café,Größe\nZoë,€ 5\n".encode(),
        "Café,Größe\nZoë,€ 5\n".encode("utf-8-sig"),
        "Café,Größe\nZoë,€ 5\n".encode("cp1252"),
        "Café,Größe\nZoë,€ 5\n".encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "utf-16-bom"],
)
def test_encoding_is_detected(workspace, editor, encoded):
    sheet = io.csv_import(file=stdio.BytesIO(encoded), workspace=workspace, actor=editor, name="Enc")
    assert columns_of(sheet) == [("Café", "text"), ("Größe", "text")]
    assert table(sheet) == [["Zoë", "€ 5"]]


def test_latin1_bytes_after_a_utf8_looking_start_are_read_as_latin1(workspace, editor):
    # The sample (first 64 KB) is plain ASCII; the first non-UTF-8 byte comes much later.
    content = b"word\n" + b"plain\n" * 20000 + "déjà vu\n".encode("latin-1")
    sheet = io.csv_import(file=stdio.BytesIO(content), workspace=workspace, actor=editor, name="Late")
    assert table(sheet)[-1] == ["déjà vu"]
    assert len(table(sheet)) == 20001


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"a,b\n1,foo\n", [[1, "foo"]]),
        (b"a;b\n1,5;foo\n", [["1,5", "foo"]]),
        (b'a\tb\n1\t"x, y; z"\n', [[1, "x, y; z"]]),
        (b'a;b;c\n"x;y";2;3\n"p,q";5;6\n', [["x;y", 2, 3], ["p,q", 5, 6]]),
        (b"only\none\ntwo\n", [["one"], ["two"]]),
        (b'a,b\r\n1,"multi\r\nline"\r\n', [[1, "multi\r\nline"]]),
    ],
    ids=["comma", "semicolon", "tab", "quoted-delimiters", "single-column", "crlf"],
)
def test_delimiter_is_detected(workspace, editor, content, expected):
    sheet = io.csv_import(file=stdio.BytesIO(content), workspace=workspace, actor=editor, name="Delim")
    assert table(sheet) == expected


# --- bad files ---------------------------------------------------------------------------------


def _zip_bytes():
    output = stdio.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")
    return output.getvalue()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"\n\n  \r\n", "the file is empty"),
        (b"\xef\xbb\xbf", "the file is empty"),
        (b",,\n1,2,3\n", "no header"),
        (b"\n\na,b\n1,2\n", "no header"),
        (b"1,2,3\n4,5,6\n", "no header"),
        (bytes(range(256)) * 50, "binary data"),
        (b"a,b\n" + bytes(range(1, 32)) * 40, "binary data"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "PNG image"),
        (_zip_bytes(), "ZIP archive"),  # workbooks import (test_workbooks.py); other archives do not
        (b'a,b\n1,"' + b"x" * 200_000 + b'"\n', "not valid CSV"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "bom-only",
        "blank-header",
        "leading-blank-line",
        "numbers-as-header",
        "binary",
        "control-characters",
        "png",
        "zip",
        "runaway-quote",
    ],
)
def test_bad_files_are_rejected_with_a_clear_error_and_nothing_created(api, workspace, editor, content, message):
    response = post_import(api(editor), workspace, content)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert nothing_created(workspace)


def test_a_value_longer_than_a_cell_holds_is_rejected_before_anything_is_created(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_CELL_CHARS": 50}
    response = post_import(api(editor), workspace, b"a,b\nok,fine\nok," + b"y" * 51 + b"\n")
    assert response.status_code == 400
    assert "line 3, column 2" in response.json()["error"]["message"]
    assert nothing_created(workspace)


def test_too_many_columns_is_rejected(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_COLUMNS": 3}
    response = post_import(api(editor), workspace, b"a,b,c,d\n1,2,3,4\n")
    assert response.status_code == 413
    assert "at most 3" in response.json()["error"]["message"]
    assert nothing_created(workspace)


def test_a_file_over_the_size_limit_is_413(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_IMPORT_BYTES": 20}
    response = post_import(api(editor), workspace, b"a,b\n" + b"1,2\n" * 10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert nothing_created(workspace)


def test_missing_file_and_blank_name_are_400(api, workspace, editor):
    client = api(editor)
    response = client.post(f"/api/v1/workspaces/{workspace.pk}/import/", {"name": "x"}, format="multipart")
    assert response.status_code == 400 and "file is required" in response.json()["error"]["message"]
    response = post_import(client, workspace, b"a\n1\n", name="   ")
    assert response.status_code == 400 and "name" in response.json()["error"]["message"]
    assert nothing_created(workspace)


def test_a_failure_midway_deletes_the_half_made_sheet(api, monkeypatch, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_INSERT_ROWS": 5}
    real_insert, calls = services.rows_insert, []

    def failing_insert(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise CellValueInvalid("disk full, say", row=0, col="c1")
        return real_insert(**kwargs)

    monkeypatch.setattr(services, "rows_insert", failing_insert)
    response = post_import(api(editor), workspace, b"n\n" + b"x\n" * 20)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "data row 11: disk full, say"
    assert len(calls) == 3
    assert not Sheet.objects.filter(workspace=workspace).exists()


# --- permissions -------------------------------------------------------------------------------


def test_viewer_cannot_import_and_outsider_does_not_see_the_workspace(api, workspace, viewer, outsider):
    assert post_import(api(viewer), workspace, b"a\n1\n").status_code == 403
    assert post_import(api(outsider), workspace, b"a\n1\n").status_code == 404
    assert post_import(api(), workspace, b"a\n1\n").status_code in (401, 403)
    assert nothing_created(workspace)


def test_export_needs_view_access(api, sheet, viewer, outsider):
    assert export(api(viewer), sheet).status_code == 200
    assert export(api(viewer), sheet, "xlsx").status_code == 200
    response = export(api(outsider), sheet)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert export(api(outsider), sheet, "xlsx").status_code == 404


def test_unknown_export_format_is_a_json_400(api, sheet, owner):
    response = export(api(owner), sheet, "pdf")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "format must be csv or xlsx"


# --- export ------------------------------------------------------------------------------------

INJECTIONS = ["=1+1", "+1", "-1", "@SUM(A1:A2)", "\tTAB", "\rCR", "'=already", "plain", "it's -fine"]


def injection_sheet(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=[{"name": "=Title"}, {"name": "Amount", "type": "number"}])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": v, "c2": -1} for v in INJECTIONS])
    return sheet


def test_csv_export_neutralizes_formulas_in_text_but_not_numbers(api, workspace, owner):
    sheet = injection_sheet(workspace, owner)
    response = export(api(owner), sheet)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(stdio.StringIO(body(response).decode("utf-8"), newline="")))
    assert rows[0] == ["'=Title", "Amount"]
    assert rows[1:] == [
        ["'=1+1", "-1"],
        ["'+1", "-1"],
        ["'-1", "-1"],
        ["'@SUM(A1:A2)", "-1"],
        ["'\tTAB", "-1"],
        ["'\rCR", "-1"],
        ["''=already", "-1"],
        ["plain", "-1"],
        ["it's -fine", "-1"],
    ]


def test_xlsx_export_neutralizes_formulas_and_never_stores_text_as_a_formula(api, workspace, owner):
    sheet = injection_sheet(workspace, owner)
    response = export(api(owner), sheet, "xlsx")
    assert response.status_code == 200
    content = body(response)
    assert int(response["Content-Length"]) == len(content)
    workbook = openpyxl.load_workbook(stdio.BytesIO(content))
    cells = [list(row) for row in workbook.active.iter_rows()]
    assert [(c.value, c.data_type) for c in cells[0]] == [("'=Title", "s"), ("Amount", "s")]
    # (XML reads a stored carriage return back as a line feed.)
    assert [c[0].value for c in cells[1:]] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1:A2)",
        "'\tTAB",
        "'\nCR",
        "''=already",
        "plain",
        "it's -fine",
    ]
    assert all(c[0].data_type == "s" for c in cells[1:])
    assert all((c[1].value, c[1].data_type) == (-1, "n") for c in cells[1:])
    with zipfile.ZipFile(stdio.BytesIO(content)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_xlsx_text_cells_are_text_even_when_they_look_like_formulas():
    # Neutralization already keeps = away from the start; the cell type must not rely on it.
    workbook = openpyxl.Workbook(write_only=True)
    ws = workbook.create_sheet("t")
    ws.append([exports._xlsx_text(ws, "=1+1"), exports._xlsx_text(ws, "bad\x07bell")])
    output = stdio.BytesIO()
    workbook.save(output)
    row = next(openpyxl.load_workbook(output).active.iter_rows())
    assert [(c.value, c.data_type) for c in row] == [("=1+1", "s"), ("badbell", "s")]


def test_xlsx_cells_are_typed(api, workspace, owner):
    import datetime as dt

    sheet = mixed_sheet(workspace, owner)
    workbook = openpyxl.load_workbook(stdio.BytesIO(body(export(api(owner), sheet, "xlsx"))))
    rows = [[c.value for c in row] for row in workbook.active.iter_rows()]
    assert rows[0] == ["Name", "Amount", "Count", "Paid", "Day", "At"]
    assert rows[1] == ["plain", 1234.5, -3, True, dt.datetime(2026, 11, 23), dt.datetime(2026, 11, 23, 9, 0)]
    assert rows[2][1:] == [-2.25, 0, False, dt.datetime(2020, 2, 29), dt.datetime(1999, 12, 31, 23, 59, 59)]
    assert rows[3][0] == "'=1+1" and rows[5][2] == 123456789012
    assert rows[8] == [None] * 6
    assert workbook.active.title == "Orders"


@pytest.mark.parametrize(
    "name,disposition",
    [
        ("Orders", 'attachment; filename="Orders.csv"'),
        ('Q3 "final"/../..\\report\n', 'attachment; filename="Q3 _final_.._.._report.csv"'),
        ("Übersicht", "attachment; filename*=utf-8''%C3%9Cbersicht.csv"),
        ("...", 'attachment; filename="sheet.csv"'),
    ],
)
def test_export_file_name_is_safe(api, workspace, owner, name, disposition):
    sheet = make_sheet(workspace, owner, name=name)
    assert export(api(owner), sheet)["Content-Disposition"] == disposition


def test_csv_export_streams_in_chunks(api, workspace, owner):
    sheet = make_sheet(workspace, owner, columns=[{"name": "n", "type": "integer"}])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": i} for i in range(1200)])
    response = export(api(owner), sheet)
    assert response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) == 4  # the header, then 500 + 500 + 200 rows
    assert b"".join(chunks).decode().split("\r\n")[:3] == ["n", "0", "1"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_csv_export_streams_under_asgi_without_buffering(workspace, owner):
    from asgiref.sync import sync_to_async

    sheet = await sync_to_async(mixed_sheet)(workspace, owner)
    client = AsyncClient()
    try:
        await client.aforce_login(owner)
        response = await client.get(f"/api/v1/sheets/{sheet.pk}/export/", {"format": "csv"})
        assert response.status_code == 200
        assert response.is_async  # a sync iterator would be read whole before the first byte is sent
        content = b"".join([chunk async for chunk in response.streaming_content])
    finally:
        # The request ran in asgiref's sync thread, whose connection would outlive the test database.
        await sync_to_async(connections.close_all)()
    assert content.decode().startswith("Name,Amount,Count,Paid,Day,At\r\nplain,1234.5,-3,TRUE,")


# --- large imports: a job, polled ---------------------------------------------------------------


def _jobs_counted(status):
    return REGISTRY.get_sample_value("gridcast_import_jobs_total", {"status": status}) or 0


def _jobs_timed():
    return REGISTRY.get_sample_value("gridcast_import_job_seconds_count") or 0


def _wait_for(client, job_id, timeout=60):
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/imports/{job_id}/").json()
        seen.append(job["progress"])
        if job["status"] in ("done", "failed"):
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"import {job_id} did not finish: {job}")


@pytest.mark.django_db(transaction=True)
def test_a_large_file_imports_as_a_job_polled_to_the_end(api, settings, workspace, editor, owner, jobs_worker):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 1000, "MAX_INSERT_ROWS": 50}
    content = b"id,label,score\n" + b"".join(b"%d,row %d,%d.5\n" % (i, i, i) for i in range(400))
    assert len(content) > 1000
    client = api(editor)
    done_before, timed_before = _jobs_counted("done"), _jobs_timed()
    response = post_import(client, workspace, content, file_name="big.csv")
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] in ("queued", "running", "done") and started["name"] == "big"
    assert 0.0 <= started["progress"] <= 1.0

    job, seen = _wait_for(client, started["id"])
    assert job["status"] == "done", job
    assert job["progress"] == 1.0 and job["rows"] == 400 and job["error"] == ""
    assert seen == sorted(seen)  # never backwards
    assert _jobs_counted("done") == done_before + 1 and _jobs_timed() == timed_before + 1  # /metrics
    sheet = Sheet.objects.get(pk=job["sheet"])
    assert columns_of(sheet) == [("id", "integer"), ("label", "text"), ("score", "number")]
    assert table(sheet)[:2] == [[0, "row 0", 0.5], [1, "row 1", 1.5]] and len(table(sheet)) == 400
    assert Operation.objects.filter(sheet=sheet, kind="rows.insert").count() == 8
    # Only its creator sees the job, not even the workspace owner.
    assert api(owner).get(f"/api/v1/imports/{started['id']}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_job_that_fails_midway_deletes_its_sheet_and_says_why(
    api, monkeypatch, settings, workspace, editor, jobs_worker
):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 100, "MAX_INSERT_ROWS": 20}
    real_insert, calls = services.rows_insert, []

    def failing_insert(**kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise CellValueInvalid("Score: 'x' is not a number", row=3, col="c2")
        return real_insert(**kwargs)

    monkeypatch.setattr(services, "rows_insert", failing_insert)
    client = api(editor)
    failed_before = _jobs_counted("failed")
    response = post_import(client, workspace, b"id,score\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(100)))
    assert response.status_code == 202
    job, _ = _wait_for(client, response.json()["id"])
    assert job["status"] == "failed"
    assert _jobs_counted("failed") == failed_before + 1
    assert job["error"] == "data row 64: Score: 'x' is not a number"
    assert job["sheet"] is None
    assert len(calls) == 4
    assert not Sheet.objects.filter(workspace=workspace).exists()


@pytest.mark.django_db(transaction=True)
def test_an_obviously_bad_large_file_is_rejected_at_once(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 100}
    response = post_import(api(editor), workspace, bytes(range(256)) * 10)
    assert response.status_code == 400 and "binary data" in response.json()["error"]["message"]
    assert nothing_created(workspace)


def test_progress_is_reported_in_order_up_to_one(settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_INSERT_ROWS": 100}
    reports = []
    content = b"n\n" + b"".join(b"%d\n" % i for i in range(1000))
    io.csv_import(
        file=stdio.BytesIO(content),
        workspace=workspace,
        actor=editor,
        name="P",
        progress=lambda fraction, rows: reports.append((fraction, rows)),
    )
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and len(set(fractions)) >= 10
    assert reports[-1] == (1.0, 1000)
    assert [rows for _, rows in reports if 0 < rows < 1000] == list(range(100, 1000, 100))


# --- the management command ---------------------------------------------------------------------


def test_import_csv_command(tmp_path, workspace, editor, viewer):
    path = tmp_path / "people.csv"
    path.write_bytes("name;age\nAda;36\nGrace;45\n".encode("utf-8-sig"))
    out = stdio.StringIO()
    call_command("import_csv", str(path), workspace=workspace.pk, user=editor.email.upper(), stdout=out, verbosity=0)
    sheet = Sheet.objects.get(workspace=workspace, name="people")
    assert columns_of(sheet) == [("name", "text"), ("age", "integer")]
    assert table(sheet) == [["Ada", 36], ["Grace", 45]]
    assert f"Imported 2 rows into sheet {sheet.pk}" in out.getvalue()

    with pytest.raises(CommandError, match="edit access"):
        call_command("import_csv", str(path), workspace=workspace.pk, user=viewer.email, name="Again", verbosity=0)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_csv", str(tmp_path / "missing.csv"), workspace=workspace.pk, user=editor.email)
    assert Sheet.objects.filter(workspace=workspace).count() == 1


def test_a_sheet_too_large_for_excel_is_refused_as_xlsx_but_not_csv(api, monkeypatch, workspace, owner):
    monkeypatch.setattr(io.export, "XLSX_MAX_ROWS", 3)
    sheet = make_sheet(workspace, owner, rows=3)
    response = export(api(owner), sheet, "xlsx")
    assert response.status_code == 413 and "export it as CSV" in response.json()["error"]["message"]
    assert export(api(owner), sheet, "csv").status_code == 200

"""Formula injection in exports: every text export (a sheet's CSV and XLSX, a workspace's metric
events as CSV and XLSX) neutralizes text a spreadsheet would run as a formula (it starts with
= + - @, a tab or a carriage return: OWASP's CSV injection guidance) with a leading apostrophe,
XLSX stores text as text (data type "s"), and real numbers stay numbers. One helper does it on the
server (sheets.io: neutralize, export_text, xlsx_text_cell); the dashboard widget's CSV, made in the
browser, has its own (frontend/src/lib/csv.js, unit-tested by vitest: frontend/src/lib/csv.test.js).

Before: the metric XLSX wrote "=cmd|..." and "-5" from a source as they were (typed as text, but a
spreadsheet runs them as soon as someone edits the cell); the browser's CSV let any text starting
with "-" and a digit through ("-2+3+cmd|..."), as its unit test shows."""

import csv
import io as stdio
import zipfile

import openpyxl
import pytest

from analytics.metrics import schema as metric_schema
from analytics.queries import exports as metric_exports
from core import exports
from tests.analytics.metric_helpers import token_client
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db

ATTACKS = [
    "=1+1",
    "-5",
    "+1",
    "@SUM(A1:A2)",
    "\tTAB",
    "\rCR",
    "=cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "'=quoted",
]
NEUTRALIZED = [
    "'=1+1",
    "'-5",
    "'+1",
    "'@SUM(A1:A2)",
    "'\tTAB",
    "'\rCR",
    "'=cmd|' /C calc'!A0",
    "'-2+3+cmd|' /C calc'!A0",
    "''=quoted",
]
SAFE = ["plain", "it's -fine", "5", "2026-01-31"]


@pytest.fixture(autouse=True, scope="module")
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def body(response):
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def xlsx_rows(content):
    with zipfile.ZipFile(stdio.BytesIO(content)) as archive:
        assert all(b"<f>" not in archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/"))
    return [list(row) for row in openpyxl.load_workbook(stdio.BytesIO(content)).active.iter_rows()]


def test_the_server_helper_neutralizes_text_and_leaves_numbers():
    assert [exports.export_text(text) for text in ATTACKS + SAFE] == NEUTRALIZED + SAFE
    assert [exports.export_text(value) for value in (-5, -2.5, 0, True, None)] == ["-5", "-2.5", "0", "TRUE", ""]
    assert metric_exports.xlsx_text_cell is exports.xlsx_text_cell  # one helper for both exports


@pytest.fixture
def sheet(workspace, owner):
    from sheets import services

    sheet = make_sheet(
        workspace,
        owner,
        columns=[{"name": "=Note", "type": "text"}, {"name": "Amount", "type": "number"}],
        name="Injected",
    )
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": text, "c2": -5} for text in ATTACKS + SAFE])
    return sheet


def test_a_sheet_as_csv(api, owner, sheet):
    rows = list(
        csv.reader(stdio.StringIO(body(api(owner).get(f"/api/v1/sheets/{sheet.pk}/export/")).decode(), newline=""))
    )
    assert rows[0] == ["'=Note", "Amount"]
    assert [row[0] for row in rows[1:]] == NEUTRALIZED + SAFE
    assert all(row[1] == "-5" for row in rows[1:])  # a number column's -5 is a number


def test_a_sheet_as_xlsx(api, owner, sheet):
    rows = xlsx_rows(body(api(owner).get(f"/api/v1/sheets/{sheet.pk}/export/", {"format": "xlsx"})))
    assert [(c.value, c.data_type) for c in rows[0]] == [("'=Note", "s"), ("Amount", "s")]
    # (XML reads a stored carriage return back as a line feed.)
    assert [row[0].value for row in rows[1:]] == [t.replace("\r", "\n") for t in NEUTRALIZED] + SAFE
    assert all(row[0].data_type == "s" for row in rows[1:])
    assert all((row[1].value, row[1].data_type) == (-5, "n") for row in rows[1:])


@pytest.fixture
def events(workspace, editor):
    sender = token_client(editor, workspace)
    sent = [{"metric": "orders", "value": -5, "source": text, "tags": {"note": text}} for text in ATTACKS + SAFE]
    assert sender.post("/api/v1/metrics/", sent, format="json").status_code == 201
    return sender


def test_metric_events_as_csv(workspace, events):
    text = body(events.get(f"/api/v1/workspaces/{workspace.pk}/metrics/export/", {"metric": "orders"})).decode()
    rows = list(csv.DictReader(stdio.StringIO(text, newline="")))
    assert sorted(row["source"] for row in rows) == sorted(NEUTRALIZED + SAFE)
    assert {row["value"] for row in rows} == {"-5"}
    assert all(row["tags"].startswith("{") for row in rows)  # JSON, which no spreadsheet runs


def test_metric_events_as_xlsx(workspace, events):
    rows = xlsx_rows(
        body(events.get(f"/api/v1/workspaces/{workspace.pk}/metrics/export/", {"metric": "orders", "format": "xlsx"}))
    )
    header = [c.value for c in rows[0]]
    source, value = header.index("source"), header.index("value")
    assert sorted(row[source].value for row in rows[1:]) == sorted(t.replace("\r", "\n") for t in NEUTRALIZED + SAFE)
    assert all(row[source].data_type == "s" for row in rows[1:])
    assert {(row[value].value, row[value].data_type) for row in rows[1:]} == {(-5, "n")}

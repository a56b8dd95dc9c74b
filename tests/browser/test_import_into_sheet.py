"""Import into an existing sheet from its page, in a real browser: a multi-sheet XLSX whose key
column is named differently from the sheet's; the second worksheet picked, the column mapped, an
upsert on the key previewed with its counts, then applied: another editor's page gets the rows
live, and Ctrl+Z undoes the whole import for both. A file with a bad row: listed with its
reason, Import disabled, nothing written."""

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from sheets import selectors, services
from sheets.models import Operation
from tests.factories import WorkspaceFactory, make_sheet, member
from tests.sheets.io.workbook_files import xlsx

from .test_accessibility import serious_violations
from .test_views import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "Code", "type": "text"}, {"name": "Amount", "type": "number"}, {"name": "Note", "type": "text"}]
BEFORE = [["A1", 1], ["B2", 2], ["C3", 3]]

# The grid's rows as the page's model holds them, once it holds n of them: [[Code, Amount], ...].
ROWS = """(n) => {
  const model = window.gridcast.model;
  if (model.total !== n) return null;
  const rows = [...Array(n).keys()].map((i) => model.rowAt(i));
  return rows.every(Boolean) ? rows.map((r) => [r.values.c1 ?? null, r.values.c2 ?? null]) : null;
}"""


def rows_shown(page, n):
    return page.wait_for_function(ROWS, arg=n).json_value()


@pytest.fixture
def team():
    workspace = WorkspaceFactory(name="Acme")
    owner = member(workspace, Role.OWNER, email="owner@acme.test")
    alice = member(workspace, Role.EDITOR, email="alice@acme.test", display_name="Alice")
    bob = member(workspace, Role.EDITOR, email="bob@acme.test", display_name="Bob")
    sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Stock")
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": code, "c2": n} for code, n in BEFORE])
    return sheet, alice, bob


def table(sheet):
    return [[d.get("c1"), d.get("c2")] for _, d in selectors.rows_in_order(sheet)]


def open_dialog(page):
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into “Stock”")
    expect(dialog).to_be_visible()
    return dialog


def test_import_a_worksheet_upserted_on_a_key_live_and_undone(open_as, team):
    sheet, alice, bob = team
    book = xlsx(
        {
            "Cover": [["Read me"], ["Stock counted on Monday"]],
            "Counted": [["Ref", "Amount"], ["a1", 10], ["C3", 3], ["D4", 4], ["E5", 5]],
        }
    )
    page = open_sheet(open_as, alice, f"/sheets/{sheet.pk}/")
    other = open_sheet(open_as, bob, f"/sheets/{sheet.pk}/")
    assert rows_shown(other, 3) == BEFORE

    dialog = open_dialog(page)
    dialog.get_by_label("File (CSV, XLSX, XLS or ODS)").set_input_files(
        {"name": "count.xlsx", "mimeType": "application/octet-stream", "buffer": book}
    )
    # The first worksheet is read first: nothing of it matches a sheet column, so nothing to import yet.
    worksheet = dialog.get_by_label("Worksheet")
    expect(worksheet).to_have_value("Cover")
    expect(worksheet.locator("option")).to_have_text(["Cover", "Counted"])
    expect(dialog.get_by_label("Sheet column for “Read me”")).to_have_value("")
    expect(dialog.get_by_test_id("import-blocked")).to_contain_text("at least one column")
    import_button = dialog.get_by_role("button", name="Import", exact=True)
    expect(import_button).to_be_disabled()

    worksheet.select_option("Counted")
    expect(dialog.get_by_label("Sheet column for “Amount”")).to_have_value("c2")  # by name
    ref = dialog.get_by_label("Sheet column for “Ref”")
    expect(ref).to_have_value("")  # no sheet column of that name
    expect(dialog.get_by_test_id("import-counts")).to_have_text("4 new rows")  # append: Amount alone
    ref.select_option(label="Code")
    dialog.get_by_label("Update the rows whose key matches, add the others").check()
    dialog.get_by_label("Key column").select_option(label="Code")
    # a1 matches A1 (case ignored) and changes its amount; C3 is there as it is; D4 and E5 are new.
    expect(dialog.get_by_test_id("import-counts")).to_have_text("2 new rows · 1 updated · 1 unchanged")
    expect(dialog.get_by_test_id("import-sample")).to_contain_text("a1")
    expect(dialog.get_by_test_id("import-sample").locator("th").first).to_have_text("Ref → Code")
    expect(import_button).to_be_enabled()
    assert serious_violations(page) == []

    import_button.click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("Imported: 2 rows added, 1 updated")
    expected = [["A1", 10], ["B2", 2], ["C3", 3], ["D4", 4], ["E5", 5]]
    assert rows_shown(other, 5) == expected  # live, through the operation's broadcast
    assert rows_shown(page, 5) == expected
    assert table(sheet) == expected
    assert Operation.objects.filter(sheet=sheet, kind="rows.import").count() == 1

    expect(page.get_by_test_id("grid")).to_be_focused()
    page.keyboard.press("Control+z")  # the whole import, at once
    assert rows_shown(other, 3) == BEFORE
    assert rows_shown(page, 3) == BEFORE
    assert table(sheet) == BEFORE


def test_a_bad_row_is_listed_and_nothing_is_imported(open_as, team):
    sheet, alice, _bob = team
    version = sheet.version
    page = open_sheet(open_as, alice, f"/sheets/{sheet.pk}/")
    dialog = open_dialog(page)
    dialog.get_by_label("File (CSV, XLSX, XLS or ODS)").set_input_files(
        {"name": "more.csv", "mimeType": "text/csv", "buffer": b"Code,Amount\nX1,5\nX2,lots\nX3,7\n"}
    )
    expect(dialog.get_by_test_id("import-counts")).to_have_text("2 new rows")
    bad = dialog.get_by_test_id("import-bad-rows")
    expect(bad).to_contain_text("1 row cannot be imported")
    expect(bad.locator("li")).to_have_count(1)
    expect(bad.locator("li")).to_contain_text("Row 2 of the data: Amount:")
    import_button = dialog.get_by_role("button", name="Import", exact=True)
    expect(import_button).to_be_disabled()
    expect(dialog.get_by_test_id("import-blocked")).to_have_text(
        "1 row of the file cannot be imported (listed above): correct the file, or skip the columns at fault."
    )
    # Skipping the faulty column clears it: the reason goes, Import can be pressed (it is not).
    dialog.get_by_label("Sheet column for “Amount”").select_option(label="Skip")
    expect(bad).to_be_hidden()
    expect(import_button).to_be_enabled()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Import…")).to_be_focused()
    sheet.refresh_from_db()
    assert sheet.version == version and table(sheet) == BEFORE
    assert not Operation.objects.filter(sheet=sheet, kind="rows.import").exists()


def test_a_server_error_is_shown_in_the_dialog_and_viewers_have_no_import(open_as, team):
    sheet, alice, _bob = team
    page = open_sheet(open_as, alice, f"/sheets/{sheet.pk}/")
    dialog = open_dialog(page)
    dialog.get_by_label("File (CSV, XLSX, XLS or ODS)").set_input_files(
        {"name": "broken.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04 not really a workbook"}
    )
    expect(dialog.get_by_test_id("import-error")).to_contain_text("the workbook cannot be read")
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()

    viewer = member(sheet.workspace, Role.VIEWER, email="vera@acme.test")
    watching = open_sheet(open_as, viewer, f"/sheets/{sheet.pk}/")
    expect(watching.get_by_test_id("read-only")).to_be_visible()
    expect(watching.get_by_role("button", name="Import…")).to_have_count(0)


DROP_CSV = """([rows]) => {
  const text = "Code,Amount\\n" + Array.from({ length: rows }, (_, i) => `Y${i},${i}`).join("\\n") + "\\n";
  const data = new DataTransfer();
  data.items.add(new File([text], "dropped.csv", { type: "text/csv" }));
  const zone = document.querySelector("[data-testid=import-dialog] [aria-label='Drop a file to import']");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
}"""

PROGRESS_BETWEEN = """() => {
  const bar = document.querySelector("[data-testid=import-dialog] progress");
  return bar && bar.value > 0.05 && bar.value < 0.95;
}"""


def test_a_dropped_file_shows_its_upload_progress(open_as, team):
    """A file dropped on the dialog, sent over a slow link: the upload's progress is shown as it
    goes, for the preview and for the import itself."""
    sheet, alice, _bob = team
    page = open_sheet(open_as, alice, f"/sheets/{sheet.pk}/")
    dialog = open_dialog(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # About 60 KB sent at 20 KB/s: three seconds of upload each time.
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 20_000}
    cdp.send("Network.emulateNetworkConditions", slow)
    page.evaluate(DROP_CSV, [5000])
    page.wait_for_function(PROGRESS_BETWEEN, timeout=10_000)
    expect(dialog.get_by_role("status")).to_contain_text("Sending the file…")
    expect(dialog.get_by_test_id("import-counts")).to_have_text("5,000 new rows", timeout=30_000)
    dialog.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_function(PROGRESS_BETWEEN, timeout=10_000)
    expect(dialog.get_by_role("button", name="Importing…")).to_be_disabled()
    expect(dialog).to_be_hidden(timeout=30_000)
    expect(page.locator("#toasts")).to_contain_text("Imported: 5,000 rows added")
    assert len(table(sheet)) == 5003


def test_rows_gone_bad_since_the_preview_are_refused_whole_and_listed(open_as, team):
    """Between the preview and Import someone adds a second row of key B2: the import is refused
    whole, the dialog says so and lists the row (previewed again), nothing is written."""
    sheet, alice, bob = team
    page = open_sheet(open_as, alice, f"/sheets/{sheet.pk}/")
    dialog = open_dialog(page)
    dialog.get_by_label("File (CSV, XLSX, XLS or ODS)").set_input_files(
        {"name": "update.csv", "mimeType": "text/csv", "buffer": b"Code,Amount\nB2,20\nZ9,9\n"}
    )
    dialog.get_by_label("Update the rows whose key matches, add the others").check()
    expect(dialog.get_by_label("Key column")).to_have_value("c1")
    expect(dialog.get_by_test_id("import-counts")).to_have_text("1 new row · 1 updated · 0 unchanged")
    services.rows_insert(sheet=sheet, actor=bob, rows=[{"c1": "b2"}])
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(dialog.get_by_test_id("import-error")).to_contain_text("nothing was imported")
    expect(dialog.get_by_test_id("import-bad-rows").locator("li")).to_have_text(
        "Row 1 of the data: Code: the key matches 2 rows of the sheet"
    )
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    assert table(sheet) == [*BEFORE, ["b2", None]]
    assert not Operation.objects.filter(sheet=sheet, kind="rows.import").exists()

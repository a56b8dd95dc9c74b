"""A newcomer's first session with `make run` (the embedded default: SQLite, the in-memory channel
layer, DuckLake on SQLite, one server process): read the printed logins, log in, open the demo
sheet, edit it with a colleague, import and export, watch the dashboard, find the tokens, the API
docs and the admin. See conftest.py for how the server is started and what fails every test."""

import csv
import io
import json
import re
import uuid
import zipfile

import openpyxl
from playwright.sync_api import expect

from .conftest import DEMO_PASSWORD, EDITOR, OWNER, SUPERUSER, Session, screenshot

GRID_CELLS = "[data-testid=grid] .gc-cell:not([hidden])"
GRID_HEADS = "[data-testid=grid] .gc-colhead:not([hidden])"


def marker(label):
    return f"{label} {uuid.uuid4().hex[:6]}"


def demo_card(page):
    return page.locator("section.workspace", has=page.get_by_role("heading", name="Demo", exact=True))


def open_demo_sheet(page):
    """From the workspace page, by clicking, as a person finds it."""
    demo_card(page).get_by_role("link", name="orders", exact=True).click()
    page.wait_for_url(re.compile(r"/sheets/\d+/$"))
    return sheet_ready(page)


def sheet_ready(page):
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading):not([hidden])').length > 0"
    )
    return page


def cell(page, row, col):
    """The grid cell at 1-based row `row` and 0-based column `col` (by position on screen)."""
    return page.locator(GRID_CELLS).nth((row - 1) * page.locator(GRID_HEADS).count() + col)


def cell_text_is(page, row, col, text, timeout=15_000):
    page.wait_for_function(
        """([row, col, text]) => {
            const heads = document.querySelectorAll('[data-testid=grid] .gc-colhead:not([hidden])').length;
            const cells = document.querySelectorAll('[data-testid=grid] .gc-cell:not([hidden])');
            return cells[(row - 1) * heads + col]?.textContent === text;
        }""",
        arg=[row, col, text],
        timeout=timeout,
    )


def shows(page, text):
    page.wait_for_function("t => [...document.querySelectorAll('.gc-cell')].some(c => c.textContent === t)", arg=text)


def not_shown(page, text):
    page.wait_for_function("t => ![...document.querySelectorAll('.gc-cell')].some(c => c.textContent === t)", arg=text)


def saved(page):
    """Every write of this page acknowledged."""
    page.wait_for_function("window.gridcast && window.gridcast.socket.unacknowledged === 0")


def type_into(page, row, col, text):
    cell(page, row, col).click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


# --- the tests, in the order a newcomer meets things -------------------------------------------


def test_make_run_prints_the_demo_logins_and_serves_on_host_and_port(embedded):
    output = embedded.output()
    for login in (OWNER, EDITOR, "viewer@demo.gridcast", SUPERUSER):
        assert login in output, f"`make run` did not print the login {login}:\n{embedded.tail()}"
    assert DEMO_PASSWORD in output
    status, body = Session(embedded.url).request("/accounts/login/")
    assert status == 200 and b"Sign In" in body
    # The embedded default keeps its data where GRIDCAST_VAR_DIR says, in SQLite.
    assert (embedded.var_dir / "gridcast.sqlite3").exists(), sorted(p.name for p in embedded.var_dir.iterdir())


def test_log_in_with_a_printed_login_and_find_the_demo_sheet(browse):
    page = browse.login(OWNER)
    card = demo_card(page)
    expect(card.locator(".badge")).to_have_text("owner")
    item = card.locator("li", has=page.get_by_role("link", name="orders", exact=True))
    count = item.get_by_test_id("row-count").inner_text()
    assert int(re.sub(r"\D", "", count)) >= 50_000, count
    screenshot(page, "home")
    open_demo_sheet(page)
    assert re.fullmatch(r"ORD-\d{7}", cell(page, 1, 0).inner_text())
    # 50,000 rows: the end of the sheet is one key away.
    page.locator("[data-testid=grid]").press("Control+End")
    page.wait_for_function("""() => [...document.querySelectorAll('.gc-rowhead:not([hidden])')]
        .some(r => Number(r.textContent.replace(/\\D/g, '')) >= 50000)""")
    screenshot(page, "sheet-end")


def test_two_people_edit_insert_delete_and_undo_live(browse):
    alice = open_demo_sheet(browse.login(OWNER))
    bob = open_demo_sheet(browse.login(EDITOR))
    first = cell(alice, 1, 0).inner_text()
    assert re.fullmatch(r"ORD-\d{7}", first)
    cell_text_is(bob, 1, 0, first)

    # Each sees the other's edit arrive.
    from_alice, from_bob = marker("typed by owner"), marker("typed by editor")
    type_into(alice, 2, 1, from_alice)
    shows(bob, from_alice)
    bob.wait_for_selector(f"[data-testid=activity] >> text={from_alice}")
    type_into(bob, 3, 1, from_bob)
    shows(alice, from_bob)
    saved(alice)
    saved(bob)
    screenshot(alice, "sheet-two-people")

    # Undo (Ctrl+Z) takes back one's own edit, for everyone; the other's stays.
    alice.keyboard.press("Control+z")
    not_shown(alice, from_alice)
    not_shown(bob, from_alice)
    shows(alice, from_bob)
    saved(alice)

    # A row inserted above the first: the other sees the rows move down...
    cell(alice, 1, 0).click()
    alice.get_by_role("button", name="+ Row ↑").click()
    cell_text_is(bob, 2, 0, first)
    cell_text_is(bob, 1, 0, "")
    saved(alice)
    in_new_row = marker("new row")
    type_into(alice, 1, 0, in_new_row)
    shows(bob, in_new_row)
    saved(alice)
    # ...deleted again: they move back.
    cell(alice, 1, 0).click()
    alice.get_by_role("button", name="− Rows").click()
    not_shown(bob, in_new_row)
    cell_text_is(bob, 1, 0, first)
    saved(alice)
    # Undo brings the row back with its value; undoing the value and the insertion too leaves the
    # sheet as it was.
    cell(alice, 2, 2).click()
    alice.keyboard.press("Control+z")
    shows(bob, in_new_row)
    cell_text_is(bob, 2, 0, first)
    saved(alice)
    alice.keyboard.press("Control+z")
    not_shown(bob, in_new_row)
    saved(alice)
    alice.keyboard.press("Control+z")
    cell_text_is(bob, 1, 0, first)
    cell_text_is(alice, 1, 0, first)
    saved(alice)
    shows(bob, from_bob)


def test_import_a_csv_and_open_the_new_sheet(browse):
    page = browse.login(OWNER)
    card = demo_card(page)
    name = marker("visitors").replace(" ", "-")
    card.get_by_role("button", name="Import CSV").click()
    card.get_by_label("CSV file or workbook", exact=True).set_input_files(
        {
            "name": f"{name}.csv",
            "mimeType": "text/csv",
            "buffer": b"city,visitors,opened\nLisbon,1200,2024-03-01\nOslo,830,2023-11-30\nNairobi,2150,2025-02-01\n",
        }
    )
    card.get_by_role("button", name="Import", exact=True).click()
    link = card.get_by_role("link", name=name, exact=True)
    expect(link).to_be_visible()
    expect(
        card.locator("li", has=page.get_by_role("link", name=name, exact=True)).get_by_test_id("row-count")
    ).to_have_text("3 rows")
    link.click()
    page.wait_for_url(re.compile(r"/sheets/\d+/$"))
    sheet_ready(page)
    expect(page.locator(GRID_HEADS)).to_have_count(3)
    assert "city" in page.locator(GRID_HEADS).nth(0).inner_text()
    cell_text_is(page, 1, 0, "Lisbon")
    cell_text_is(page, 3, 1, "2150")
    screenshot(page, "imported-sheet")


def test_export_the_demo_sheet_as_csv_and_xlsx(browse):
    page = open_demo_sheet(browse.login(OWNER))
    first = cell(page, 1, 0).inner_text()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    assert download.value.failure() is None
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["Order", "Customer", "Region", "Product"], rows[0]
    assert rows[1][0] == first
    assert len(rows) - 1 >= 50_000

    with page.expect_download(timeout=90_000) as download:
        page.get_by_role("link", name="XLSX", exact=True).click()
    assert download.value.failure() is None
    assert download.value.suggested_filename.endswith(".xlsx")
    data = download.value.path().read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    head, second = book.worksheets[0].iter_rows(min_row=1, max_row=2, values_only=True)
    book.close()
    assert list(head[:4]) == ["Order", "Customer", "Region", "Product"], head
    assert second[0] == first
    # Every row is there (the number of the last <row>; reading 50,000 rows with openpyxl takes seconds).
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read(next(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")))
    last = int(re.findall(rb'<row r="(\d+)"', xml[-20_000:])[-1])
    assert last - 1 >= 50_000


def dashboard(browse):
    page = browse.login(OWNER, viewport={"width": 1280, "height": 1000})
    demo_card(page).get_by_role("link", name="Live dashboard").click()
    page.wait_for_url(re.compile(r"/workspaces/\d+/dashboard/$"))
    page.wait_for_selector('[data-testid=live-status][data-mode="ws"][data-state=live]', timeout=20_000)
    for widget in ("orders-per-minute", "revenue-total"):
        page.wait_for_selector(f'[data-widget="{widget}"] footer')  # the widget got its data
    return page


def test_the_dashboard_opens_live(browse):
    page = dashboard(browse)
    screenshot(page, "dashboard")


def test_the_demo_stream_moves_the_dashboard(browse):
    page = dashboard(browse)
    # The demo order stream of `make run` sends orders: the orders chart or the revenue tile moves.
    page.wait_for_function(
        """() => {
        const total = () => [document.querySelector('[data-widget="orders-per-minute"] .chart')?.dataset.total,
                             document.querySelector('[data-widget="revenue-total"] .tile-value')?.dataset.value].join();
        window.__gcFirst ??= total();
        return total() !== window.__gcFirst;
    }""",
        timeout=20_000,
        polling=250,
    )
    screenshot(page, "dashboard-moving")


def test_tokens_page_makes_a_token_that_reads_rows(browse, embedded, demo):
    page = browse.login(OWNER)
    page.goto("/tokens/")
    page.get_by_label("Name").fill("embedded suite")
    page.get_by_label("Reaches").select_option(label="Only Demo")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-key").inner_text().strip()
    assert key.startswith("gc_")
    expect(page.get_by_role("row", name=re.compile("embedded suite"))).to_contain_text("Demo")
    screenshot(page, "tokens")
    status, body = Session(embedded.url).request(
        f"/api/v1/sheets/{demo['sheet']}/rows/?offset=20000&limit=200", headers={"Authorization": f"Token {key}"}
    )
    assert status == 200, body[:500]
    window = json.loads(body)
    assert len(window["rows"]) == 200 and window["rows"][0]["index"] == 20000


def test_rows_deep_in_the_demo_sheet_over_plain_http(embedded, demo):
    session = Session(embedded.url).login(EDITOR)
    window = session.get_json(f"/api/v1/sheets/{demo['sheet']}/rows/?offset=20000&limit=200")
    assert len(window["rows"]) == 200
    assert [r["index"] for r in window["rows"]] == list(range(20000, 20200))
    assert window["total"] >= 50_000
    assert all(re.fullmatch(r"ORD-\d{7}", str(next(iter(r["values"].values())))) for r in window["rows"])


def test_api_docs(browse):
    page = browse.new_page()
    page.goto("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Gridcast API", timeout=20_000)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    screenshot(page, "api-docs")


def test_django_admin_as_the_demo_superuser(browse):
    page = browse.new_page("superuser")
    page.goto("/admin/")
    page.locator("#id_username").fill(SUPERUSER)
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#content h1")).to_have_text("Site administration")
    screenshot(page, "admin")
    # Every model's list opens (the rows of the demo sheet included).
    lists = page.locator("#content-main th[scope=row] a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert lists
    for href in lists:
        response = page.goto(href)
        assert response.status == 200, href
        expect(page.locator("#changelist, #content-main")).not_to_have_count(0)

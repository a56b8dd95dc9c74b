"""The workspace home page in a real browser: sheets created, renamed, shared, deleted and
imported through the REST API; what each role sees; the theme; a phone-sized screen."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from accounts.models import Role
from sheets.models import Row, Sheet
from tests.factories import WorkspaceFactory, make_sheet, member, user
from tests.realtime.servers import running_servers

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team():
    workspace = WorkspaceFactory(name="Acme")
    return workspace, member(workspace, Role.OWNER, email="owner@acme.test")


def _item(page, sheet_id):
    return page.locator(f"li[data-sheet-id='{sheet_id}']")


def _card(page, workspace):
    return page.locator(f"section[data-workspace-id='{workspace.pk}']")


def test_owner_creates_a_sheet_from_the_home_page(open_as, team):
    workspace, owner = team
    make_sheet(workspace, owner, rows=3, name="Orders")
    page = open_as(owner, "/")
    card = _card(page, workspace)
    expect(card.get_by_role("heading", name="Acme")).to_be_visible()
    expect(card.locator(".badge")).to_have_text("owner")
    expect(_item(page, Sheet.objects.get(name="Orders").pk).get_by_test_id("row-count")).to_have_text("3 rows")

    card.get_by_role("button", name="New sheet").click()
    card.get_by_label("Sheet name").fill("Budget 2026")
    card.get_by_label("Columns").fill("Item, Cost:number, Due:date")
    card.get_by_role("button", name="Create sheet").click()

    link = card.get_by_role("link", name="Budget 2026")
    expect(link).to_be_visible()
    sheet = Sheet.objects.get(name="Budget 2026")
    assert link.get_attribute("href") == f"/sheets/{sheet.pk}/"
    assert [(c.name, c.type) for c in sheet.columns.order_by("position")] == [
        ("Item", "text"),
        ("Cost", "number"),
        ("Due", "date"),
    ]
    # Sorted by name among the workspace's sheets, and there after a reload.
    expect(card.locator("li .name")).to_have_text(["Budget 2026", "Orders"])
    page.reload()
    expect(_card(page, workspace).get_by_role("link", name="Budget 2026")).to_be_visible()
    screenshot(page, "home-light")


def test_a_bad_column_type_is_explained_next_to_the_form(open_as, team):
    workspace, owner = team
    page = open_as(owner, "/")
    card = _card(page, workspace)
    card.get_by_role("button", name="New sheet").click()
    card.get_by_label("Sheet name").fill("Typo")
    card.get_by_label("Columns").fill("Amount:nubmer")
    card.get_by_role("button", name="Create sheet").click()
    expect(card.get_by_role("alert")).to_contain_text("“nubmer” is not a column type")
    assert not Sheet.objects.filter(name="Typo").exists()


def test_rename_a_sheet(open_as, team):
    workspace, owner = team
    sheet = make_sheet(workspace, owner, name="Draft")
    page = open_as(owner, "/")
    item = _item(page, sheet.pk)
    item.get_by_role("button", name="Rename").click()
    field = item.get_by_label("New name of Draft")
    expect(field).to_be_focused()
    field.fill("Final numbers")
    item.get_by_role("button", name="Save").click()
    expect(item.get_by_role("link", name="Final numbers")).to_be_visible()
    expect(item.get_by_role("textbox")).to_have_count(0)
    sheet.refresh_from_db()
    assert sheet.name == "Final numbers"


def test_delete_a_sheet_after_confirming(open_as, team):
    workspace, owner = team
    keep = make_sheet(workspace, owner, name="Keep")
    doomed = make_sheet(workspace, owner, rows=2, name="Old")
    page = open_as(owner, "/")
    item = _item(page, doomed.pk)
    item.get_by_role("button", name="Delete").click()
    confirm = item.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Delete Old and its 2 rows?")
    # Cancel keeps it.
    confirm.get_by_role("button", name="Cancel").click()
    expect(item.get_by_role("alertdialog")).to_have_count(0)
    assert Sheet.objects.filter(pk=doomed.pk).exists()

    item.get_by_role("button", name="Delete").click()
    item.get_by_role("button", name="Delete sheet").click()
    expect(item).to_have_count(0)
    assert not Sheet.objects.filter(pk=doomed.pk).exists()
    expect(_item(page, keep.pk)).to_be_visible()


@pytest.fixture
def open_on_fresh_server(chromium):
    """Like open_as, on a server process started for this test alone. Sharing goes through
    django-guardian, which finds permissions by content type; the session-wide server keeps
    content type ids cached from before the flushes between transactional tests, and those
    ids change with each flush."""
    contexts = []
    with running_servers(["uvicorn"], settings.REDIS_URL) as (server,):

        def open_page(person, path="/"):
            client = Client()
            client.force_login(person)
            context = chromium.new_context(base_url=server.http_url)
            contexts.append(context)
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                        "url": server.http_url,
                    }
                ]
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(path)
            return page

        yield open_page
        for context in contexts:
            context.close()


def test_share_a_sheet_by_email_whether_or_not_it_has_an_account(open_on_fresh_server, team):
    workspace, owner = team
    sheet = make_sheet(workspace, owner, name="Plan")
    guest = user(email="guest@elsewhere.test")
    open_as = open_on_fresh_server
    page = open_as(owner, "/")
    item = _item(page, sheet.pk)

    # An address without an account answers as one with an account does: nothing tells them apart.
    item.get_by_role("button", name="Share").click()
    item.get_by_label("E-mail to share Plan with").fill("nobody@nowhere.test")
    item.get_by_role("button", name="Share", exact=True).last.click()
    expect(item.get_by_role("status")).to_have_text(
        "Shared with nobody@nowhere.test (can view). If no account has verified this address yet, access starts "
        "when one does."
    )

    item.get_by_role("button", name="Share").click()
    item.get_by_label("E-mail to share Plan with").fill("guest@elsewhere.test")
    item.get_by_label("Access").select_option("edit")
    item.get_by_role("button", name="Share", exact=True).last.click()
    expect(item.get_by_role("status")).to_have_text(
        "Shared with guest@elsewhere.test (can edit). If no account has verified this address yet, access starts "
        "when one does."
    )
    assert guest.has_perm("sheets.change_sheet", sheet)

    # The guest finds it under "Shared with you", may rename but not delete or share it.
    guest_page = open_as(guest, "/")
    shared = guest_page.get_by_role("region", name="Shared with you")
    guest_item = shared.locator(f"li[data-sheet-id='{sheet.pk}']")
    expect(guest_item.get_by_role("link", name="Plan")).to_be_visible()
    expect(guest_item).to_contain_text("Acme")
    expect(guest_item.get_by_role("button", name="Rename")).to_be_visible()
    expect(guest_item.get_by_role("button", name="Delete")).to_have_count(0)
    expect(guest_item.get_by_role("button", name="Share")).to_have_count(0)


def test_a_viewer_sees_the_sheets_but_no_controls_to_change_them(open_as, team):
    workspace, owner = team
    sheet = make_sheet(workspace, owner, name="Report")
    viewer = member(workspace, Role.VIEWER)
    page = open_as(viewer, "/")
    card = _card(page, workspace)
    expect(card.get_by_role("link", name="Report")).to_be_visible()
    expect(card.locator(".badge")).to_have_text("viewer")
    for name in ("New sheet", "Import CSV", "Rename", "Share", "Delete"):
        expect(card.get_by_role("button", name=name)).to_have_count(0)
    # An editor may create and rename, but deleting and sharing need an admin.
    editor = member(workspace, Role.EDITOR)
    page = open_as(editor, "/")
    item = _item(page, sheet.pk)
    expect(_card(page, workspace).get_by_role("button", name="New sheet")).to_be_visible()
    expect(item.get_by_role("button", name="Rename")).to_be_visible()
    expect(item.get_by_role("button", name="Delete")).to_have_count(0)


def test_import_a_small_csv_into_a_new_sheet(open_as, team):
    workspace, owner = team
    page = open_as(owner, "/")
    card = _card(page, workspace)
    card.get_by_role("button", name="Import CSV").click()
    card.get_by_label("CSV file or workbook", exact=True).set_input_files(
        {
            "name": "people.csv",
            "mimeType": "text/csv",
            "buffer": b"name,age,joined\nAda,36,2024-01-05\nGrace,45,2023-11-30\nLinus,29,2025-02-01\n",
        }
    )
    card.get_by_role("button", name="Import", exact=True).click()
    link = card.get_by_role("link", name="people")
    expect(link).to_be_visible()
    sheet = Sheet.objects.get(name="people", workspace=workspace)
    expect(_item(page, sheet.pk).get_by_test_id("row-count")).to_have_text("3 rows")
    assert Row.objects.filter(sheet=sheet).count() == 3
    assert [c.name for c in sheet.columns.order_by("position")] == ["name", "age", "joined"]


def test_a_failed_import_says_why(open_as, team):
    workspace, owner = team
    page = open_as(owner, "/")
    card = _card(page, workspace)
    card.get_by_role("button", name="Import CSV").click()
    card.get_by_role("button", name="Import", exact=True).click()
    expect(card.get_by_role("alert")).to_have_text("Choose a CSV file or a workbook first.")
    card.get_by_label("CSV file or workbook", exact=True).set_input_files(
        {"name": "empty.csv", "mimeType": "text/csv", "buffer": b""}
    )
    card.get_by_role("button", name="Import", exact=True).click()
    expect(card.get_by_role("alert")).not_to_have_text("Choose a CSV file or a workbook first.")
    expect(card.get_by_role("alert")).not_to_be_empty()
    assert not Sheet.objects.filter(workspace=workspace).exists()


def test_a_large_csv_is_imported_as_a_polled_job(open_as, team, jobs_worker):
    workspace, owner = team
    # Above the 1 MB the server imports inline: it answers 202 with a job to poll, run by a jobs worker.
    lines = [b"id,label,amount"] + [b"%d,item number %d with some padding text,%d.5" % (n, n, n) for n in range(30_000)]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 1024 * 1024
    page = open_as(owner, "/")
    card = _card(page, workspace)
    card.get_by_role("button", name="Import CSV").click()
    card.get_by_label("CSV file or workbook", exact=True).set_input_files(
        {"name": "big.csv", "mimeType": "text/csv", "buffer": data}
    )
    card.get_by_label("Sheet name").fill("Big import")
    with page.expect_response(lambda r: r.url.endswith(f"/workspaces/{workspace.pk}/import/")) as answer:
        card.get_by_role("button", name="Import", exact=True).click()
    assert answer.value.status == 202
    link = card.get_by_role("link", name="Big import")
    expect(link).to_be_visible(timeout=60_000)
    expect(card.locator("progress")).to_have_count(0)
    sheet = Sheet.objects.get(name="Big import")
    expect(_item(page, sheet.pk).get_by_test_id("row-count")).to_have_text("30,000 rows")


def test_create_a_workspace(open_as):
    person = user(email="solo@example.com")
    page = open_as(person, "/")
    expect(page.get_by_text("You do not belong to a workspace yet")).to_be_visible()
    page.get_by_role("button", name="New workspace").click()
    page.get_by_label("Workspace name").fill("Side project")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name="Side project")).to_be_visible()
    workspace = person.workspaces.get()
    expect(_card(page, workspace).get_by_role("button", name="New sheet")).to_be_visible()


def test_theme_toggle_is_remembered_after_reload(open_as, team):
    workspace, owner = team
    make_sheet(workspace, owner, rows=5, name="Orders")
    page = open_as(owner, "/")
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_text("◐ Auto")
    for label, theme in (("☀ Light", "light"), ("☾ Dark", "dark")):
        with page.expect_response("**/account/theme/") as answer:
            toggle.click()
        assert answer.value.json() == {"theme": theme}
        expect(toggle).to_have_text(label)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("[data-theme-toggle]")).to_have_text("☾ Dark")
    owner.refresh_from_db()
    assert owner.theme == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 21, 28)"  # --bg of the dark theme
    screenshot(page, "home-dark")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_phone_sized_screen_shows_the_sheets_without_horizontal_scrolling(open_as, team, theme):
    workspace, owner = team
    owner.theme = theme
    owner.save(update_fields=["theme"])
    make_sheet(workspace, owner, rows=12, name="A sheet with a rather long name that has to wrap somewhere")
    make_sheet(workspace, owner, name="Orders")
    page = open_as(owner, "/", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    card = _card(page, workspace)
    expect(card.get_by_role("link", name="Orders")).to_be_visible()
    card.get_by_role("button", name="New sheet").click()
    expect(card.get_by_label("Sheet name")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for link in card.locator("li .name").all():
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    screenshot(page, f"home-phone-{theme}")


# --- the account pages around the home page (allauth, tokens) ------------------------------------


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_login_page_fits_a_phone_and_shows_errors(open_as, theme):
    user(email="ada@example.com")
    page = open_as(None, "/accounts/login/", viewport={"width": 360, "height": 740}, is_mobile=True)
    page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
    box = page.get_by_label("Email").bounding_box()
    assert box["width"] > 250  # full width of the card
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Create an account")).to_be_visible()
    screenshot(page, f"account-login-phone-{theme}")


def test_account_pages_and_tokens_share_the_tabs(open_as, team):
    workspace, owner = team
    page = open_as(owner, "/accounts/password/change/")
    tabs = page.get_by_role("navigation", name="Account settings")
    expect(tabs.get_by_role("link", name="Password")).to_have_attribute("aria-current", "page")
    screenshot(page, "account-password-light")
    tabs.get_by_role("link", name="API tokens").click()
    page.wait_for_url("**/tokens/")
    page.get_by_label("Name").fill("metrics script")
    page.get_by_label("Reaches").select_option(label="Only Acme")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-key")).to_contain_text("gc_")
    expect(page.get_by_role("row", name="metrics script")).to_contain_text("Acme")
    screenshot(page, "account-tokens-light")
    tabs = page.get_by_role("navigation", name="Account settings")
    tabs.get_by_role("link", name="E-mail").click()
    page.wait_for_url("**/accounts/email/")
    expect(page.get_by_text(owner.email).first).to_be_visible()
    screenshot(page, "account-email-light")

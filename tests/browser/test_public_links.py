"""A public read-only link in a real browser: the owner publishes a sheet over the API, a browser
with no account opens the url and watches an editor's edit arrive live; revoking the link ends the
open page at once, and the url then says the link was revoked."""

import json
import re
import urllib.error
import urllib.request

import pytest

from accounts.models import ApiToken, Role
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet, member

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def call(server, method, path, key, body=None):
    """(status, JSON answer) of a request to the real server with an API token."""
    request = urllib.request.Request(
        server.http_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_open_a_public_link_logged_out_and_watch_an_edit_arrive_then_the_link_end(open_as, web_server, workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    sheet = make_sheet(workspace, owner, rows=3, name="Launch plan")
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "before"}])
    _, owner_key = ApiToken.issue(user=owner, name="browser test")
    _, editor_key = ApiToken.issue(user=editor, name="browser test")

    status, link = call(web_server, "POST", f"/api/v1/sheets/{sheet.pk}/public-links/", owner_key, {"access": "view"})
    assert status == 201, link
    path = re.fullmatch(r"https?://[^/]+(/p/gcp_[A-Za-z0-9_-]+/)", link["url"]).group(1)

    public = open_as(None, path)  # a context with no session: logged out
    public.wait_for_selector("[data-testid=status][data-state=open]")
    public.wait_for_selector("[data-testid=grid] .gc-cell >> text=before")
    assert public.locator("[data-testid=read-only]").is_visible()
    # Nothing of the workspace or its people: no navigation, no presence, no activity, no export.
    page_text = public.locator("body").inner_text()
    for absent in ("Olivia Owner", "Eddie Editor", "Workspaces", "Log out", "Activity", "CSV"):
        assert absent not in page_text, absent
    assert public.locator("a[href='/']").count() == 0

    status, _ = call(
        web_server,
        "POST",
        f"/api/v1/sheets/{sheet.pk}/cells/",
        editor_key,
        {"cells": [{"row": rows[0], "col": "c1", "value": "edited live"}]},
    )
    assert status == 200
    public.wait_for_selector("[data-testid=grid] .gc-cell >> text=edited live", timeout=5_000)
    assert "Eddie Editor" not in public.locator("body").inner_text()
    screenshot(public, "public-link")

    status, _ = call(web_server, "DELETE", f"/api/v1/sheets/{sheet.pk}/public-links/{link['id']}/", owner_key)
    assert status == 204
    public.wait_for_selector("[data-testid=notice] >> text=This link was revoked", timeout=5_000)
    public.wait_for_selector("[data-testid=status][data-state=closed]")

    answer = public.goto(path)
    assert answer.status == 410
    assert public.locator("[data-testid=public-ended]").inner_text() == "This link was revoked"
    assert "Launch plan" not in public.locator("body").inner_text()


def test_an_owner_publishes_and_revokes_from_the_sheet_page(open_as, workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    sheet = make_sheet(workspace, owner, rows=2, name="Roadmap")
    page = open_as(owner, f"/sheets/{sheet.pk}/")
    page.click("[data-testid=publish]")
    page.click("[data-testid=create-public-link]")
    field = page.locator("[data-testid=public-links] input")
    field.wait_for()
    url = field.input_value()
    assert re.fullmatch(r"https?://[^/]+/p/gcp_[A-Za-z0-9_-]+/", url)
    public = open_as(None, url)
    public.wait_for_selector("[data-testid=status][data-state=open]")
    page.click("[data-testid=public-links] >> text=Revoke")
    public.wait_for_selector("[data-testid=notice] >> text=This link was revoked", timeout=5_000)
    assert page.locator("[data-testid=public-links] input").count() == 0
    # Editors get no such button.
    assert open_as(editor, f"/sheets/{sheet.pk}/").locator("[data-testid=publish]").count() == 0


def test_a_public_dashboard_link_shows_the_widgets_live_and_ends_when_revoked(open_as, web_server, workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    _, owner_key = ApiToken.issue(user=owner, name="browser test")
    links = f"/api/v1/workspaces/{workspace.pk}/dashboard/public-links/"
    status, link = call(web_server, "POST", links, owner_key, {"access": "view"})
    assert status == 201, link
    path = re.fullmatch(r"https?://[^/]+(/p/gcp_[A-Za-z0-9_-]+/)", link["url"]).group(1)

    public = open_as(None, path)
    public.wait_for_selector("[data-testid=live-status][data-state=live]")
    public.wait_for_selector("[data-widget] footer")  # the published widgets got their data
    text = public.locator("body").inner_text()
    for absent in (workspace.name, "Add widget", "Save layout", "Alerts", "Log out"):
        assert absent not in text, absent
    assert public.locator("[data-widget] .tools").count() == 0
    screenshot(public, "public-dashboard")

    status, _ = call(web_server, "DELETE", f"{links}{link['id']}/", owner_key)
    assert status == 204
    public.wait_for_selector("[data-testid=notice] >> text=This link was revoked", timeout=5_000)
    assert public.goto(path).status == 410

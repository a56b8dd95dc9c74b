"""The grid's first rows come with the page: opened by the url of a sorted and filtered saved view,
with every request for rows refused, the grid still shows the view's first rows in its order;
and an edit committed after the page was rendered but before its scripts ran (so before the
socket opened) still reaches the grid, caught up from the version the embedded rows were read at."""

import re
import time

import pytest
from django.conf import settings
from django.test import Client

from sheets import services
from sheets.models import SheetView

from .conftest import team_and_sheet

pytestmark = pytest.mark.django_db(transaction=True)

ROWS_API = re.compile(r"/api/v1/sheets/\d+/rows/")
SHEET_SCRIPT = re.compile(r"/static/dist/assets/sheet-[^/]*\.js$")

SHOWN = """() => {
  const rows = [...document.querySelectorAll('[data-testid=grid] [role=row][aria-rowindex]')]
    .filter((row) => !row.hidden && row.querySelector('.gc-cell:not(.loading)'))
    .sort((a, b) => Number(a.getAttribute('aria-rowindex')) - Number(b.getAttribute('aria-rowindex')));
  return rows.map((row) => row.querySelector("[aria-colindex='1']")?.textContent ?? null);
}"""


def test_the_views_first_rows_show_without_a_rows_request_and_a_late_edit_arrives(chromium, web_server, workspace):
    team = team_and_sheet(workspace)
    sheet, editor, owner = team["sheet"], team["editor"], team["owner"]
    view = SheetView.objects.create(
        sheet=sheet,
        name="Small amounts, biggest first",
        shared=True,
        created_by=owner,
        config={
            "sorts": [{"column": "c2", "direction": "desc"}],
            "filters": {"op": "and", "conditions": [{"column": "c2", "operator": "lt", "value": 100}]},
            "hidden": ["c3"],
        },
    )
    client = Client()
    client.force_login(editor)
    context = chromium.new_context(base_url=web_server.http_url)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": web_server.http_url,
            }
        ]
    )
    rows_requests, held = [], []

    def refuse_rows(route):
        rows_requests.append(route.request.url)
        route.abort()

    context.route(ROWS_API, refuse_rows)
    context.route(SHEET_SCRIPT, lambda route: held.append(route))  # the script waits for the edit below
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"/sheets/{sheet.pk}/?view={view.pk}", wait_until="commit")
        deadline = time.monotonic() + 15
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert held, "the sheet's script was never requested"
        html = page.content()
        assert "item 10" in html  # the first rows are in the page itself

        # The page was rendered at some version; this edit comes after it, before any socket.
        item_10 = team["rows"][9]
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": item_10.pk, "col": "c1", "value": "late edit"}])
        held[0].continue_()

        page.wait_for_selector("[data-testid=status][data-state=open]")
        page.wait_for_function(f"({SHOWN})()[0] === 'late edit'")
        expected = ["late edit"] + [f"item {i}" for i in range(9, 0, -1)]
        assert page.evaluate(SHOWN) == expected
        assert page.locator(".gc-colhead[data-col=c3]").count() == 0  # the view's hidden column, at once
        assert page.evaluate("window.gridcast.model.total") == 10
        assert rows_requests == []
    finally:
        context.close()

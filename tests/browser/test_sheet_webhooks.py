"""A sheet's webhooks in Chromium, as its owner meets them: the sheet's Webhooks menu refuses a
private address with the server's reason, adds a webhook of some events and columns and shows its
secret once, lists its deliveries after an edit, pauses and removes it. Editors have no such menu."""

import pytest

from accounts.models import Role
from analytics.models import Delivery, Webhook
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet, member

from .conftest import screenshot
from .test_sheet_page import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_owner_adds_a_webhook_sees_its_deliveries_pauses_and_removes_it(open_as, web_server, workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    sheet = make_sheet(workspace, owner, rows=2, name="Orders")
    assert open_sheet(open_as, editor, sheet).get_by_test_id("webhooks-button").count() == 0

    page = open_sheet(open_as, owner, sheet)
    page.get_by_test_id("webhooks-button").click()
    menu = page.get_by_role("dialog", name="Webhooks")
    menu.get_by_text("No webhook.").wait_for()
    menu.get_by_label("Webhook URL").fill("http://10.0.0.1/hook")
    menu.get_by_test_id("add-webhook").click()
    page.locator(".toast", has_text="loopback, private or reserved address").wait_for()
    assert not Webhook.objects.exists()

    menu.get_by_label("Webhook URL").fill("https://8.8.8.8/hooks/orders")
    menu.get_by_label("Rows added").uncheck()
    menu.get_by_label("Rows deleted").uncheck()
    menu.get_by_label("Amount").check()
    menu.get_by_test_id("add-webhook").click()
    menu.get_by_test_id("webhook-secret").wait_for()
    webhook = Webhook.objects.get(sheet=sheet)
    assert (webhook.url, webhook.events, webhook.columns) == ("https://8.8.8.8/hooks/orders", ["rows.updated"], ["c2"])
    assert menu.get_by_label("Webhook secret").input_value() == webhook.secret  # shown once
    item = menu.locator(f"li[data-webhook='{webhook.pk}']")
    assert "rows.updated · only Amount" in item.inner_text()

    row = Row.objects.filter(sheet=sheet).order_by("position").first()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row.pk, "col": "c2", "value": 12}])
    assert Delivery.objects.filter(webhook=webhook, event="rows.updated").count() == 1
    item.get_by_role("button", name="Deliveries").click()
    log = item.get_by_test_id("webhook-deliveries")
    log.locator("tr[data-delivery]").first.wait_for()
    line = log.locator("tbody tr").first.inner_text().lower()
    assert "rows.updated" in line and "https://8.8.8.8/hooks/orders" in line and "pending" in line
    screenshot(page, "sheet-webhooks")

    item.get_by_role("button", name="Pause").click()
    item.get_by_text("paused").wait_for()
    assert not Webhook.objects.get(pk=webhook.pk).active
    item.get_by_role("button", name="Remove").click()
    menu.get_by_text("No webhook.").wait_for()
    assert not Webhook.objects.exists()

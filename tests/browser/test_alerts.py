"""Alert rules on the dashboard page, in Chromium: a rule on a sheet column made with the pickers
of the workspace's sheets and their columns."""

import pytest

from accounts.models import Role
from analytics.models import AlertRule, Delivery
from tests.factories import WorkspaceFactory, make_sheet, member

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sheet_column_rule_is_made_with_the_pickers(open_as, web_server):
    workspace = WorkspaceFactory(name="Shop")
    owner = member(workspace, Role.OWNER, email="owner@alerts.test")
    sheet = make_sheet(workspace, owner)
    make_sheet(WorkspaceFactory(), owner, name="Another workspace's")
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/")

    page.get_by_role("button", name="New alert").click()
    form = page.get_by_role("form", name="Alert rule")
    form.get_by_label("Name").fill("Big order book")
    form.get_by_label("Watch").select_option("sheet")
    assert form.get_by_label("Sheet").locator("option").all_inner_texts() == ["Orders"]
    assert form.get_by_label("Over the last (seconds)").count() == 0  # a sheet rule has no window
    # A text column can only be counted.
    form.get_by_label("Column").select_option(label="Name (text)")
    assert form.get_by_label("Aggregate").input_value() == "count"
    assert form.locator("#a-agg option[value=sum]").is_disabled()
    form.get_by_label("Column").select_option(label="Amount (number)")
    form.get_by_label("Aggregate").select_option("sum")
    form.get_by_label("Fires when").select_option(">")
    form.get_by_label("Threshold").fill("100")
    form.get_by_role("button", name="Create alert").click()

    page.locator(".rule", has_text="Big order book").wait_for()
    assert "sum(Amount) of sheet Orders > 100" in page.locator(".rule", has_text="Big order book").inner_text()
    rule = AlertRule.objects.get(workspace=workspace)
    assert (
        rule.source,
        rule.sheet_id,
        rule.column,
        rule.agg,
        rule.comparison,
        rule.threshold,
        rule.window_seconds,
    ) == ("sheet", sheet.pk, "c2", "sum", ">", 100, None)


def test_contact_points_are_edited_and_their_deliveries_shown(open_as, web_server):
    workspace = WorkspaceFactory(name="Shop")
    owner = member(workspace, Role.OWNER, email="owner@hooks.test")
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/")

    page.get_by_role("button", name="New alert").click()
    form = page.get_by_role("form", name="Alert rule")
    form.get_by_label("Name").fill("Errors")
    form.get_by_label("every member of the workspace by e-mail").check()
    form.get_by_role("button", name="Add webhook").click()
    form.get_by_label("Webhook URL").fill("http://10.0.0.1/hook")  # a private address: refused
    form.get_by_role("button", name="Create alert").click()
    refusal = form.get_by_role("alert").inner_text()
    assert refusal.startswith("webhooks #1 url: 10.0.0.1 is a loopback, private or reserved address")
    assert not AlertRule.objects.exists()
    form.get_by_label("Webhook URL").fill("https://8.8.8.8/hooks/abc")
    form.get_by_label("Format").select_option("slack")
    form.get_by_role("button", name="Create alert").click()

    secrets = page.locator(".secrets")
    secrets.wait_for()
    rule = AlertRule.objects.get(workspace=workspace)
    (webhook,) = rule.webhooks.all()
    assert (rule.email_members, webhook.url, webhook.format) == (True, "https://8.8.8.8/hooks/abc", "slack")
    assert webhook.secret in secrets.inner_text()  # shown once
    secrets.get_by_role("button", name="Done").click()
    row = page.locator(".rule", has_text="Errors")
    assert "tells members by e-mail and 1 webhook" in row.inner_text()

    Delivery.objects.create(
        workspace=workspace,
        rule=rule,
        webhook=webhook,
        channel="webhook",
        target=webhook.url,
        format="slack",
        event="fired",
        payload={},
        status="pending",
        attempts=1,
        status_code=500,
        error="answered 500",
        response="upstream down",
    )
    Delivery.objects.create(
        workspace=workspace,
        rule=rule,
        channel="email",
        target="owner@hooks.test",
        event="fired",
        payload={},
        status="delivered",
        attempts=1,
    )
    row.get_by_role("button", name="Deliveries").click()
    log = row.get_by_test_id("alert-deliveries")
    log.locator("tr[data-delivery]").first.wait_for()
    lines = [line.lower() for line in log.locator("tbody tr").all_inner_texts()]
    assert "owner@hooks.test" in lines[0] and "delivered" in lines[0]
    assert "https://8.8.8.8/hooks/abc (slack)" in lines[1] and "pending" in lines[1] and "500" in lines[1]
    log.get_by_role("button", name="body").click()
    assert log.locator("pre").inner_text() == "upstream down"

    row.get_by_role("button", name="Edit").click()
    form.get_by_role("button", name="Remove").click()
    form.get_by_role("button", name="Save alert").click()
    row.filter(has_not_text="webhook").wait_for()
    assert not rule.webhooks.exists()

"""Alert rules on the dashboard page, in Chromium: a rule on a sheet column made with the pickers
of the workspace's sheets and their columns."""

import pytest

from accounts.models import Role
from analytics.models_alerts import AlertRule
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

"""The audit log in a real browser: an owner changes a member's role on the members page, follows
the link to the audit page, sees the change with who did it and from where, filters by kind and
gets the CSV link with the same filter."""

import pytest

from accounts.models import Role
from tests.factories import member

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_role_change_shows_in_the_audit_log_and_its_filter(open_as, workspace):
    owner = member(workspace, Role.OWNER, email="olga@example.com")
    colleague = member(workspace, Role.VIEWER, email="pat@example.com")
    page = open_as(owner, f"/workspaces/{workspace.pk}/members/")
    page.select_option(f"#role-{colleague.pk}", "editor")
    page.locator(f"tr[data-email='{colleague.email}'] form:has(select) button[type=submit]").click()
    page.wait_for_selector("text=is now editor")

    page.click("text=Audit log")
    page.wait_for_url(f"**/workspaces/{workspace.pk}/audit/")
    row = page.locator("[data-testid=audit] tr[data-kind='member.role_changed']")
    assert row.count() == 1
    text = row.inner_text()
    assert "olga@example.com" in text and "pat@example.com" in text and "127.0.0.1" in text
    screenshot(page, "audit")

    page.select_option("#audit-kind", "member.role_changed")
    page.click("form.audit-filters button[type=submit]")
    page.wait_for_url("**kind=member.role_changed**")
    kinds = page.locator("[data-testid=audit] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert set(kinds) == {"member.role_changed"}
    href = page.get_attribute("[data-testid=audit-csv]", "href")
    assert href.endswith(f"/api/v1/workspaces/{workspace.pk}/audit/?format=csv&kind=member.role_changed")

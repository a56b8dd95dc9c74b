"""axe-core in Chromium on the home, sheet and dashboard pages: no serious or critical violation.

axe-core comes from frontend/node_modules (a dev dependency: `make frontend` installs it)."""

import time

import pytest

from accounts.models import Role
from tests.factories import WorkspaceFactory, make_sheet, member
from tests.realtime.servers import REPO

from .test_dashboard import _fresh_lake_connection, ingest  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def team():
    workspace = WorkspaceFactory(name="Acme")
    owner = member(workspace, Role.OWNER, email="owner@acme.test", display_name="Olivia Owner")
    sheet = make_sheet(workspace, owner, rows=5, name="Orders")
    return workspace, owner, sheet


def serious_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    assert AXE.exists(), "axe-core is missing: run `make frontend`"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.parse(JSON.stringify(await axe.run()))")
    found = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    for violation in found:
        print(violation["id"], violation["impact"], violation["help"])
        for node in violation["nodes"]:
            print("   ", node["target"], node["failureSummary"].replace("\n", " "))
    return [{"id": v["id"], "targets": [n["target"] for n in v["nodes"]]} for v in found]


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_home_page(open_as, team, color_scheme):
    _workspace, owner, _sheet = team
    page = open_as(owner, "/", color_scheme=color_scheme)
    page.wait_for_selector("li[data-sheet-id]")
    assert serious_violations(page) == []


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_sheet_page(open_as, team, color_scheme):
    _workspace, owner, sheet = team
    page = open_as(owner, f"/sheets/{sheet.pk}/", color_scheme=color_scheme)
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function("document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading)').length > 0")
    assert serious_violations(page) == []


def test_dashboard_page(open_as, team):
    workspace, owner, _sheet = team
    now = time.time()
    ingest(
        workspace,
        [
            {"metric": "orders", "value": 1, "timestamp": now - minutes * 60 - 5, "tags": {"region": "eu"}}
            for minutes in (1, 3, 3)
        ],
    )
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/")
    page.wait_for_selector("[data-testid=live-status][data-state=live]", timeout=20_000)
    page.wait_for_selector('[data-widget="orders-per-minute"] footer')
    # The charts' text alternative: what they show, in words.
    chart = page.locator('[data-widget="orders-per-minute"] .chart')
    assert chart.get_attribute("role") == "img"
    label = chart.get_attribute("aria-label")
    assert "latest" in label and "max 2" in label, label
    assert serious_violations(page) == []

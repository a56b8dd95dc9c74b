"""An alert rule's state history: each firing, recovery and reset (a changed condition while it
fires) kept with its value and the condition of that moment, newest first and paged, through
GET /api/v1/workspaces/<id>/alerts/<rule id>/history/ under the workspace's permissions."""

import datetime as dt

import pytest

from analytics.alerts import evaluation
from analytics.alerts import services as alert_services
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, AlertStateChange
from tests.analytics.metric_helpers import token_client
from tests.factories import WorkspaceFactory

from .test_alerts import RULE, alerts_url, send

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def history_url(workspace, rule):
    return f"{alerts_url(workspace)}{rule.pk}/history/"


def test_firing_recovering_and_a_reset_are_kept_newest_first(workspace, editor, viewer, api):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    sender = token_client(editor, workspace)
    send(sender, 0.01)  # fine: no change of state, nothing kept
    assert not AlertStateChange.objects.exists()
    send(sender, 0.3)  # avg 0.155 > 0.05: fires
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    evaluation.rule_evaluate(rule_id=rule.pk, now=later)  # the window empties: recovers
    send(sender, 0.9)  # fires again
    rule.refresh_from_db()
    alert_services.rule_update(rule=rule, threshold=0.95)  # a new condition while firing: reset

    answer = api(viewer).get(history_url(workspace, rule))
    assert answer.status_code == 200, answer.content
    changes = answer.json()["results"]
    assert [(c["event"], c["state"]) for c in changes] == [
        ("reset", "ok"),
        ("fired", "firing"),
        ("recovered", "ok"),
        ("fired", "firing"),
    ]
    assert changes[3]["value"] == pytest.approx(0.155)
    assert changes[2]["value"] is None  # an empty window has no average
    assert changes[1]["value"] == pytest.approx((0.01 + 0.3 + 0.9) / 3)  # the window holds all three
    assert changes[3]["condition"] == "avg(error_rate) over 60s > 0.05"
    assert changes[0]["condition"] == "avg(error_rate) over 60s > 0.95"
    assert answer.json()["next"] is None


def test_the_history_pages_and_rejects_bad_parameters(workspace, editor, api):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    now = dt.datetime.now(dt.UTC)
    AlertStateChange.objects.bulk_create(
        AlertStateChange(rule=rule, event="fired", state="firing", value=i, condition="x", at=now) for i in range(5)
    )
    first = api(editor).get(history_url(workspace, rule), {"limit": 2}).json()
    assert [c["value"] for c in first["results"]] == [4, 3]
    second = api(editor).get(history_url(workspace, rule), {"limit": 2, "before": first["next"]}).json()
    third = api(editor).get(history_url(workspace, rule), {"limit": 2, "before": second["next"]}).json()
    assert [c["value"] for c in second["results"] + third["results"]] == [2, 1, 0]
    assert third["next"] is None
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"before": "-1"}, {"before": "9" * 30}):
        answer = api(editor).get(history_url(workspace, rule), bad)
        assert answer.status_code == 400, (bad, answer.content)
        assert answer.json()["error"]["code"] == "invalid"


def test_only_the_rules_workspace_sees_its_history(workspace, editor, outsider, api):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    other = WorkspaceFactory()
    assert api(outsider).get(history_url(workspace, rule)).status_code == 404
    assert token_client(editor, other).get(history_url(workspace, rule)).status_code == 404
    assert api(editor).get(f"/api/v1/workspaces/{other.pk}/alerts/{rule.pk}/history/").status_code == 404
    rule.delete()
    assert not AlertStateChange.objects.exists()


def test_the_admin_shows_a_rules_last_changes(workspace, editor, admin_client):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    at = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    AlertStateChange.objects.create(rule=rule, event="fired", state="firing", value=0.5, condition="<b>x</b>", at=at)
    page = admin_client.get(f"/admin/analytics/alertrule/{rule.pk}/change/").content.decode()
    assert "2026-05-01 12:00:00 · Fired · value 0.5 · &lt;b&gt;x&lt;/b&gt;" in page
    assert "none yet" in admin_client.get("/admin/analytics/alertrule/add/").content.decode()

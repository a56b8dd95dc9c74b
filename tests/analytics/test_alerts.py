"""Alert rules: CRUD with permissions, firing once as data arrives (one notification per member,
pushed live), not again while firing, again after recovery; the notification inbox."""
import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.models import Role
from analytics import alerts, metrics, notify
from analytics.models import AlertRule, Notification
from tests.factories import WorkspaceFactory, member

from .metric_helpers import token_client


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metrics.reset_connection()


def alerts_url(workspace):
    return f"/api/v1/workspaces/{workspace.pk}/alerts/"


RULE = {"name": "Errors above 5 %", "metric": "error_rate", "agg": "avg", "window_seconds": 60,
        "comparison": ">", "threshold": 0.05}


def send(client, *values, metric="error_rate", tags=None):
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    response = client.post("/api/v1/metrics/", [{"metric": metric, "value": v, "timestamp": now, "tags": tags or {}}
                                                for v in values], format="json")
    assert response.status_code == 201, response.json()


def test_rule_crud_and_permissions(workspace, editor, viewer, outsider, api):
    created = api(editor).post(alerts_url(workspace), {**RULE, "tag_filter": {"region": "eu"}}, format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["state"] == "ok" and rule["workspace"] == workspace.pk and rule["created_by"] == editor.pk
    assert api(viewer).get(alerts_url(workspace)).json()[0]["id"] == rule["id"]
    assert api(viewer).post(alerts_url(workspace), RULE, format="json").status_code == 403
    assert api(viewer).patch(f"{alerts_url(workspace)}{rule['id']}/", {"threshold": 1}, format="json").status_code == 403
    assert api(outsider).get(alerts_url(workspace)).status_code == 404
    assert token_client(editor, WorkspaceFactory()).get(alerts_url(workspace)).status_code == 404
    updated = api(editor).patch(f"{alerts_url(workspace)}{rule['id']}/", {"threshold": 0.1}, format="json")
    assert updated.json()["threshold"] == 0.1
    for bad in ({"agg": "median"}, {"comparison": "=="}, {"window_seconds": 0}, {"metric": "a b"},
                {"tag_filter": {"region": 5}}):
        response = api(editor).post(alerts_url(workspace), {**RULE, **bad}, format="json")
        assert response.status_code == 400, bad
    # A rule of another workspace is not reachable through this one.
    other = WorkspaceFactory()
    foreign = AlertRule.objects.create(workspace=other, **RULE)
    assert api(editor).get(f"{alerts_url(workspace)}{foreign.pk}/").status_code == 404
    assert api(editor).delete(f"{alerts_url(workspace)}{rule['id']}/").status_code == 204
    assert not AlertRule.objects.filter(pk=rule["id"]).exists()


def test_a_rule_fires_once_then_again_after_recovering(workspace, owner, editor, viewer, django_capture_on_commit_callbacks):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    quiet = AlertRule.objects.create(workspace=workspace, **{**RULE, "name": "other metric", "metric": "cpu"})
    sender = token_client(editor, workspace)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(notify.workspace_group(workspace.pk), channel)

    send(sender, 0.01, 0.02)  # avg 0.015: fine
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value == pytest.approx(0.015) and not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        send(sender, 0.2, 0.3)  # avg of the window 0.1325 > 0.05: fires
    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value == pytest.approx(0.1325)
    fired = Notification.objects.filter(rule=rule)
    assert sorted(fired.values_list("user_id", flat=True)) == sorted([owner.pk, editor.pk, viewer.pk])
    assert "Errors above 5 %" in fired[0].message and fired[0].value == pytest.approx(0.1325)
    pushed = async_to_sync(layer.receive)(channel)
    assert pushed["type"] == "notification.created"
    assert pushed["notification"]["rule"] == rule.pk and pushed["notification"]["ids"] == {
        str(n.user_id): n.pk for n in fired}

    send(sender, 0.5)  # still above: no new notification while firing
    assert Notification.objects.filter(rule=rule).count() == 3

    # Later, the window holds nothing above the threshold: the rule recovers.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    assert alerts.rule_evaluate(rule_id=rule.pk, now=later) == []
    rule.refresh_from_db()
    assert rule.state == "ok"

    send(sender, 0.9)  # above again: a second firing
    rule.refresh_from_db()
    assert rule.state == "firing" and Notification.objects.filter(rule=rule).count() == 6
    quiet.refresh_from_db()
    assert quiet.last_evaluated_at is None  # rules of other metrics are left alone


def test_tag_filters_and_thresholds_below(workspace, editor):
    rule = AlertRule.objects.create(workspace=workspace, name="EU orders dropped", metric="orders", agg="count",
                                    window_seconds=300, comparison="<", threshold=3, tag_filter={"region": "eu"})
    sender = token_client(editor, workspace)
    send(sender, 1, 1, 1, 1, metric="orders", tags={"region": "us"})  # count of EU orders: 0 < 3
    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value == 0
    send(sender, 1, 1, 1, metric="orders", tags={"region": "eu"})
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value == 3


def test_the_inbox(workspace, owner, editor, api):
    rule = AlertRule.objects.create(workspace=workspace, **RULE)
    elsewhere = WorkspaceFactory()
    Membership = type(owner.memberships.first())
    Membership.objects.create(workspace=elsewhere, user=owner, role=Role.OWNER)
    old = Notification.objects.create(user=owner, workspace=workspace, rule=rule, message="old", value=1)
    new = Notification.objects.create(user=owner, workspace=workspace, rule=rule, message="new", value=2)
    other = Notification.objects.create(user=owner, workspace=elsewhere, message="elsewhere")
    theirs = Notification.objects.create(user=editor, workspace=workspace, rule=rule, message="editor's")
    client = api(owner)

    assert client.post(f"/api/v1/notifications/{old.pk}/read/").json()["is_read"] is True
    listed = client.get("/api/v1/notifications/").json()
    assert listed["unread"] == 2
    assert [n["message"] for n in listed["results"]] == ["elsewhere", "new", "old"]  # unread first, newest first
    assert listed["results"][1]["rule_name"] == RULE["name"]
    assert [n["id"] for n in client.get("/api/v1/notifications/", {"unread": "1"}).json()["results"]] == [other.pk, new.pk]

    # Someone else's notification does not exist for this user; a scoped token sees its workspace only.
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    scoped = token_client(owner, elsewhere)
    assert [n["id"] for n in scoped.get("/api/v1/notifications/").json()["results"]] == [other.pk]
    assert scoped.post(f"/api/v1/notifications/{new.pk}/read/").status_code == 404
    assert scoped.post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}
    assert client.get("/api/v1/notifications/").json()["unread"] == 1
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}
    assert client.get("/api/v1/notifications/", {"unread": "1"}).json() == {"unread": 0, "results": []}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # A person who left a workspace no longer sees its notifications.
    Membership.objects.filter(workspace=workspace, user=editor).delete()
    assert api(editor).get("/api/v1/notifications/").json()["results"] == []


def test_members_of_other_workspaces_get_nothing(workspace, editor):
    elsewhere = WorkspaceFactory()
    stranger = member(elsewhere, Role.OWNER)
    AlertRule.objects.create(workspace=workspace, **RULE)
    send(token_client(editor, workspace), 1.0)
    assert Notification.objects.filter(workspace=workspace).count() == 1  # the editor, the only member
    assert not Notification.objects.filter(user=stranger).exists()

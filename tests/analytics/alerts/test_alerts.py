"""Alert rules on metrics and sheet columns: CRUD with permissions and validation, firing once as
data arrives (one notification per member, pushed live), not again while firing, again after
recovery; the worker's periodic pass (data that stops, windows that empty); the notification inbox."""

import asyncio
import datetime as dt
import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.models import Role
from analytics.alerts import evaluation, sources
from analytics.alerts import notify as alert_notify
from analytics.alerts import services as alert_services
from analytics.lake import connections as lake_connections
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, Notification
from analytics.queries import metric_aggregates
from analytics.writethrough import announcer
from analytics.writethrough import worker as wt_worker
from sheets import services
from sheets.models import Row
from tests.analytics.metric_helpers import token_client
from tests.factories import WorkspaceFactory, make_sheet, member


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def alerts_url(workspace):
    return f"/api/v1/workspaces/{workspace.pk}/alerts/"


RULE = {
    "name": "Errors above 5 %",
    "metric": "error_rate",
    "agg": "avg",
    "window_seconds": 60,
    "comparison": ">",
    "threshold": 0.05,
}


def send(client, *values, metric="error_rate", tags=None):
    now = dt.datetime.now(dt.UTC).isoformat()
    response = client.post(
        "/api/v1/metrics/",
        [{"metric": metric, "value": v, "timestamp": now, "tags": tags or {}} for v in values],
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_rule_crud_and_permissions(workspace, editor, viewer, outsider, api):
    created = api(editor).post(alerts_url(workspace), {**RULE, "tag_filter": {"region": "eu"}}, format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["state"] == "ok" and rule["workspace"] == workspace.pk and rule["created_by"] == editor.pk
    assert api(viewer).get(alerts_url(workspace)).json()[0]["id"] == rule["id"]
    assert api(viewer).post(alerts_url(workspace), RULE, format="json").status_code == 403
    assert (
        api(viewer).patch(f"{alerts_url(workspace)}{rule['id']}/", {"threshold": 1}, format="json").status_code == 403
    )
    assert api(outsider).get(alerts_url(workspace)).status_code == 404
    assert token_client(editor, WorkspaceFactory()).get(alerts_url(workspace)).status_code == 404
    updated = api(editor).patch(f"{alerts_url(workspace)}{rule['id']}/", {"threshold": 0.1}, format="json")
    assert updated.json()["threshold"] == 0.1
    for bad in (
        {"agg": "median"},
        {"comparison": "=="},
        {"window_seconds": 0},
        {"metric": "a b"},
        {"tag_filter": {"region": 5}},
    ):
        response = api(editor).post(alerts_url(workspace), {**RULE, **bad}, format="json")
        assert response.status_code == 400, bad
    # A rule of another workspace is not reachable through this one.
    other = WorkspaceFactory()
    foreign = AlertRule.objects.create(workspace=other, **RULE)
    assert api(editor).get(f"{alerts_url(workspace)}{foreign.pk}/").status_code == 404
    assert api(editor).delete(f"{alerts_url(workspace)}{rule['id']}/").status_code == 204
    assert not AlertRule.objects.filter(pk=rule["id"]).exists()


def test_a_rule_fires_once_then_again_after_recovering(
    workspace, owner, editor, viewer, django_capture_on_commit_callbacks
):
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    quiet = AlertRule.objects.create(workspace=workspace, **{**RULE, "name": "other metric", "metric": "cpu"})
    sender = token_client(editor, workspace)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(alert_notify.workspace_group(workspace.pk), channel)

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
        str(n.user_id): n.pk for n in fired
    }

    send(sender, 0.5)  # still above: no new notification while firing
    assert Notification.objects.filter(rule=rule).count() == 3

    # Later, the window holds nothing above the threshold: the rule recovers.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    assert evaluation.rule_evaluate(rule_id=rule.pk, now=later) == []
    rule.refresh_from_db()
    assert rule.state == "ok"

    send(sender, 0.9)  # above again: a second firing
    rule.refresh_from_db()
    assert rule.state == "firing" and Notification.objects.filter(rule=rule).count() == 6
    quiet.refresh_from_db()
    assert quiet.last_evaluated_at is None  # rules of other metrics are left alone


def test_tag_filters_and_thresholds_below(workspace, editor):
    rule = AlertRule.objects.create(
        workspace=workspace,
        name="EU orders dropped",
        metric="orders",
        agg="count",
        window_seconds=300,
        comparison="<",
        threshold=3,
        tag_filter={"region": "eu"},
    )
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
    assert [n["id"] for n in client.get("/api/v1/notifications/", {"unread": "1"}).json()["results"]] == [
        other.pk,
        new.pk,
    ]

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


# --- the worker's periodic pass ------------------------------------------------------------------


ORDERS_BELOW = {
    "name": "Orders stopped",
    "metric": "orders",
    "agg": "count",
    "window_seconds": 60,
    "comparison": "<",
    "threshold": 5,
}


def test_count_of_an_empty_window_is_zero_and_avg_has_no_value(workspace):
    assert (
        metric_aggregates.window_value(workspace_id=workspace.pk, metric="orders", agg="count", window_seconds=60) == 0
    )
    assert metric_aggregates.window_value(workspace_id=workspace.pk, metric="orders", agg="sum", window_seconds=60) == 0
    assert (
        metric_aggregates.window_value(workspace_id=workspace.pk, metric="orders", agg="avg", window_seconds=60) is None
    )


def test_the_periodic_pass_fires_when_data_stops_and_recovers_when_a_window_empties(workspace, owner, editor):
    stopped = AlertRule.objects.create(workspace=workspace, **ORDERS_BELOW)
    errors = AlertRule.objects.create(workspace=workspace, **RULE)
    AlertRule.objects.create(workspace=workspace, **{**ORDERS_BELOW, "name": "disabled", "enabled": False})
    sender = token_client(editor, workspace)
    send(sender, *[1] * 5, metric="orders")
    send(sender, 0.5)  # error rate 0.5 > 0.05: fires as it arrives
    stopped.refresh_from_db()
    errors.refresh_from_db()
    assert stopped.state == "ok" and stopped.last_value == 5 and errors.state == "firing"
    assert Notification.objects.filter(rule=errors).count() == 2

    # Two minutes on, nothing arrived: no orders in the window is a count of 0, a breach; the
    # error rate's window is empty, no value, so that rule recovers.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    fired = evaluation.rules_evaluate_all(now=later)
    assert {n.rule_id for n in fired} == {stopped.pk} and len(fired) == 2  # the owner and the editor
    stopped.refresh_from_db()
    errors.refresh_from_db()
    assert stopped.state == "firing" and stopped.last_value == 0 and stopped.last_fired_at == later
    assert errors.state == "ok" and errors.last_value is None and errors.last_evaluated_at == later
    assert "Orders stopped: count(orders) over 60s is 0 (< 5)" == fired[0].message

    # Still nothing: it does not fire again; orders come back: it recovers.
    assert evaluation.rules_evaluate_all(now=later + dt.timedelta(seconds=5)) == []
    assert Notification.objects.filter(rule=stopped).count() == 2
    send(sender, *[1] * 6, metric="orders")
    stopped.refresh_from_db()
    assert stopped.state == "ok" and stopped.last_value == 11  # the first 5 and these 6, now
    assert not AlertRule.objects.filter(name="disabled", last_evaluated_at__isnull=False).exists()


def test_one_broken_rule_does_not_stop_the_pass(workspace, editor, monkeypatch):
    broken = AlertRule.objects.create(workspace=workspace, **{**ORDERS_BELOW, "name": "broken"})
    fine = AlertRule.objects.create(workspace=workspace, **ORDERS_BELOW)
    real = evaluation.rule_value

    def value(rule, now=None):
        if rule.pk == broken.pk:
            raise RuntimeError("the lake is on fire")
        return real(rule, now)

    monkeypatch.setattr(evaluation, "rule_value", value)
    fired = evaluation.rules_evaluate_all()
    assert {n.rule_id for n in fired} == {fine.pk}
    broken.refresh_from_db()
    assert broken.state == "ok" and broken.last_evaluated_at is None


@pytest.mark.django_db(transaction=True)
def test_the_worker_loop_evaluates_rules_every_alert_interval(workspace, owner, settings):
    settings.ANALYTICS = {**settings.ANALYTICS, "ALERT_INTERVAL": 0.2, "MAINTENANCE_SECONDS": 0}
    rule = AlertRule.objects.create(workspace=workspace, **ORDERS_BELOW)
    stop = threading.Event()
    worker = threading.Thread(target=wt_worker.run, args=(stop,), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not Notification.objects.filter(rule=rule).exists():
            time.sleep(0.1)
        rule.refresh_from_db()
        assert rule.state == "firing" and Notification.objects.get(rule=rule).user_id == owner.pk
        first = rule.last_evaluated_at
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and rule.last_evaluated_at == first:
            time.sleep(0.1)
            rule.refresh_from_db()
        assert rule.last_evaluated_at > first  # evaluated again, without firing again
        assert Notification.objects.filter(rule=rule).count() == 1
    finally:
        stop.set()
        worker.join(timeout=30)
        lake_connections.close()
    assert not worker.is_alive()


# --- sheet-column rules ----------------------------------------------------------------------------


def sheet_rule(of, **fields):
    return {
        "name": "Big order book",
        "source": "sheet",
        "sheet": of.pk,
        "column": "c2",
        "agg": "sum",
        "comparison": ">",
        "threshold": 100,
        **fields,
    }


def test_sheet_rules_through_the_api(workspace, editor, viewer, outsider, api):
    sheet = make_sheet(workspace, editor)
    created = api(editor).post(alerts_url(workspace), {**sheet_rule(sheet), "window_seconds": 60}, format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["source"] == "sheet" and rule["sheet"] == sheet.pk and rule["column"] == "c2"
    assert rule["sheet_name"] == "Orders" and rule["column_name"] == "Amount"
    assert rule["window_seconds"] is None and rule["metric"] == ""  # no window: every row counts
    assert rule["condition"] == "sum(Amount) of sheet Orders > 100"
    listed = api(viewer).get(alerts_url(workspace)).json()
    assert [(r["id"], r["source"], r["sheet_name"], r["column_name"]) for r in listed] == [
        (rule["id"], "sheet", "Orders", "Amount")
    ]
    assert api(viewer).post(alerts_url(workspace), sheet_rule(sheet), format="json").status_code == 403
    assert api(outsider).post(alerts_url(workspace), sheet_rule(sheet), format="json").status_code == 404
    assert api(outsider).get(alerts_url(workspace)).status_code == 404

    # Count works on any column; a change of the condition starts over; a metric rule again
    # leaves the sheet behind.
    url = f"{alerts_url(workspace)}{rule['id']}/"
    AlertRule.objects.filter(pk=rule["id"]).update(state="firing")
    counted = api(editor).patch(url, {"agg": "count", "column": "c1", "comparison": "<", "threshold": 1}, format="json")
    assert counted.status_code == 200, counted.json()
    assert counted.json()["column_name"] == "Name" and counted.json()["state"] == "ok"
    back = api(editor).patch(url, {"source": "metric", "metric": "orders", "window_seconds": 60}, format="json").json()
    assert (back["source"], back["sheet"], back["column"], back["metric"]) == ("metric", None, "", "orders")


def test_sheet_rules_are_validated_with_clear_messages(workspace, editor, api):
    sheet = make_sheet(workspace, editor)
    services.column_delete(sheet=sheet, actor=editor, key="c3")
    elsewhere = make_sheet(WorkspaceFactory(), editor)
    client = api(editor)

    def refused(field, **fields):
        response = client.post(alerts_url(workspace), sheet_rule(sheet, **fields), format="json")
        assert response.status_code == 400, (fields, response.json())
        error = response.json()["error"]
        assert field in error["fields"], error
        return error["message"]

    # Another workspace's sheet reads as one that does not exist.
    foreign = refused("sheet", sheet=elsewhere.pk)
    assert foreign == f"sheet: no sheet {elsewhere.pk} in this workspace"
    missing = refused("sheet", sheet=elsewhere.pk + 1000)
    assert missing == foreign.replace(str(elsewhere.pk), str(elsewhere.pk + 1000))
    assert refused("sheet", sheet=None) == "sheet: a sheet rule needs a sheet"
    assert refused("column", column="") == "column: a sheet rule needs a column (its key, e.g. c3)"
    assert refused("column", column="c99") == "column: sheet Orders has no column c99"
    assert refused("column", column="c3") == "column: column Count (c3) of sheet Orders was deleted"
    assert refused("column", column="c1", agg="avg") == (
        "column: avg needs a number column; Name is a text column (count works on any column)"
    )
    assert refused("column", column="c7", agg="max") == (
        "column: max needs a number column; Status is a single choice column (count works on any column)"
    )
    assert not AlertRule.objects.exists()

    # A metric rule needs its metric; an update is held to the same rules.
    response = client.post(alerts_url(workspace), {**RULE, "metric": ""}, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("metric: a metric rule needs")
    rule = client.post(alerts_url(workspace), sheet_rule(sheet, column="c1", agg="count"), format="json").json()
    response = client.patch(f"{alerts_url(workspace)}{rule['id']}/", {"agg": "sum"}, format="json")
    assert response.status_code == 400 and "sum needs a number column" in response.json()["error"]["message"]
    response = client.patch(f"{alerts_url(workspace)}{rule['id']}/", {"sheet": elsewhere.pk}, format="json")
    assert response.json()["error"]["message"] == foreign
    assert AlertRule.objects.get(pk=rule["id"]).agg == "count"


def test_the_model_keeps_a_sheet_in_its_rules_workspace(workspace, editor):
    from django.core.exceptions import ValidationError

    elsewhere = make_sheet(WorkspaceFactory(), editor)
    rule = AlertRule(
        workspace=workspace,
        name="x",
        source="sheet",
        sheet=elsewhere,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=1,
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert error.value.message_dict == {"sheet": [f"no sheet {elsewhere.pk} in this workspace"]}
    with pytest.raises(alert_services.AlertRuleInvalid):
        alert_services.rule_create(
            workspace_id=workspace.pk,
            actor=editor,
            name="x",
            source="sheet",
            sheet=elsewhere,
            column="c2",
            agg="sum",
            comparison=">",
            threshold=1,
        )


def test_the_admin_lists_and_filters_rules_by_source_and_sheet(workspace, editor, admin_client):
    sheet = make_sheet(workspace, editor)
    AlertRule.objects.create(
        workspace=workspace,
        name="Sheet rule",
        source="sheet",
        sheet=sheet,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=100,
        metric="",
        window_seconds=None,
    )
    AlertRule.objects.create(workspace=workspace, **RULE)
    page = admin_client.get("/admin/analytics/alertrule/", {"source__exact": "sheet"}).content.decode()
    assert "Sheet rule" in page and RULE["name"] not in page and "sum(Amount) of sheet Orders &gt; 100" in page
    page = admin_client.get("/admin/analytics/alertrule/", {"sheet__id__exact": sheet.pk}).content.decode()
    assert "Sheet rule" in page and RULE["name"] not in page
    # The admin's form is held to the model's rules.
    form = {
        "workspace": workspace.pk,
        "name": "Bad",
        "enabled": "on",
        "source": "sheet",
        "metric": "",
        "window_seconds": "",
        "tag_filter": "{}",
        "sheet": sheet.pk,
        "column": "c1",
        "agg": "sum",
        "comparison": ">",
        "threshold": "1",
    }
    response = admin_client.post("/admin/analytics/alertrule/add/", form)
    assert response.status_code == 200 and "sum needs a number column" in response.content.decode()
    assert not AlertRule.objects.filter(name="Bad").exists()


def test_the_dashboard_page_lists_sheets_and_columns_for_the_rule_editor(workspace, viewer, editor, client):
    sheet = make_sheet(workspace, editor)
    services.column_delete(sheet=sheet, actor=editor, key="c3")
    make_sheet(WorkspaceFactory(), editor, name="Not here")
    client.force_login(viewer)
    config = client.get(f"/workspaces/{workspace.pk}/dashboard/").context["config"]
    assert [s["name"] for s in config["sheets"]] == ["Orders"]
    assert config["sheets"][0]["columns"][:3] == [
        {"key": "c1", "name": "Name", "type": "text"},
        {"key": "c2", "name": "Amount", "type": "number"},
        {"key": "c4", "name": "Paid", "type": "boolean"},
    ]


def received(layer, channel, timeout=5):
    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout)

    return async_to_sync(receive)()


@pytest.mark.django_db(transaction=True)
def test_a_sheet_rule_fires_once_as_edits_reach_the_lake_and_again_after_recovering(
    workspace, owner, editor, viewer, lake_writer
):
    sheet = make_sheet(workspace, owner, rows=3)
    other = make_sheet(workspace, owner, name="Other")
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    rule = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=editor,
        name="Big order book",
        source="sheet",
        sheet=sheet,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=100,
    )
    untouched = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=editor,
        name="Other sheet",
        source="sheet",
        sheet=other,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=0,
    )
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(alert_notify.workspace_group(workspace.pk), channel)

    def edit(*cells):
        services.cells_update(
            sheet=sheet,
            actor=owner,
            op_id=uuid.uuid4(),
            cells=[{"row": rows[i], "col": "c2", "value": v} for i, v in cells],
        )
        lake_writer.catch_up()
        return announcer.announce(lake_writer.take_applied())

    edit((0, 10), (1, 20))  # (the other sheet's creation reaches the lake too: its rule is evaluated)
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value == 30 and not Notification.objects.exists()
    untouched.refresh_from_db()
    seen = untouched.last_evaluated_at

    edit((2, 80))  # 110 > 100: fires, one notification per member, pushed to the workspace
    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value == 110
    fired = Notification.objects.filter(rule=rule)
    assert sorted(fired.values_list("user_id", flat=True)) == sorted([owner.pk, editor.pk, viewer.pk])
    assert fired[0].message == "Big order book: sum(Amount) of sheet Orders is 110 (> 100)"
    pushed = received(layer, channel)
    assert pushed["type"] == "notification.created" and pushed["notification"]["rule"] == rule.pk
    assert pushed["notification"]["ids"] == {str(n.user_id): n.pk for n in fired}
    assert pushed["notification"]["message"] == fired[0].message and pushed["notification"]["state"] == "firing"

    edit((0, 15))  # 115: still above, no new notification while firing
    rule.refresh_from_db()
    assert rule.last_value == 115 and Notification.objects.filter(rule=rule).count() == 3

    edit((2, 0))  # 35: recovers
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value == 35

    edit((2, 100))  # 135: fires again
    rule.refresh_from_db()
    assert rule.state == "firing" and Notification.objects.filter(rule=rule).count() == 6
    assert received(layer, channel)["notification"]["value"] == 135
    untouched.refresh_from_db()
    assert untouched.last_evaluated_at == seen  # only the rules of the sheets that changed

    # The column is deleted: nothing left to compare, which is no breach; the rule recovers.
    services.column_delete(sheet=sheet, actor=owner, key="c2")
    lake_writer.catch_up()
    announcer.announce(lake_writer.take_applied())
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value is None and Notification.objects.filter(rule=rule).count() == 6


@pytest.mark.django_db(transaction=True)
def test_sheet_rules_on_integers_and_counts_and_a_failing_rule(workspace, owner, lake_writer, monkeypatch):
    sheet = make_sheet(workspace, owner, rows=2)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.column_rename(sheet=sheet, actor=owner, key="c3", name="Items (count)")
    top = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=owner,
        name="Many items",
        source="sheet",
        sheet=sheet,
        column="c3",
        agg="max",
        comparison=">=",
        threshold=7,
    )
    empty = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=owner,
        name="No names",
        source="sheet",
        sheet=sheet,
        column="c1",
        agg="count",
        comparison="<",
        threshold=1,
    )
    broken = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=owner,
        name="Broken",
        source="sheet",
        sheet=sheet,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=0,
    )
    real = sources.sheet_column_value

    def value(*, sheet_id, column_key, agg):
        if column_key == "c2":
            raise RuntimeError("broken")
        return real(sheet_id=sheet_id, column_key=column_key, agg=agg)

    monkeypatch.setattr(sources, "sheet_column_value", value)
    # The sheet has not reached the lake yet: nothing to evaluate, no error, states kept.
    assert evaluation.rules_evaluate_all() == []
    assert not AlertRule.objects.filter(last_evaluated_at__isnull=False).exists()
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": rows[0], "col": "c3", "value": 7},
            {"row": rows[1], "col": "c3", "value": 3},
            {"row": rows[1], "col": "c2", "value": 3},
        ],
    )
    lake_writer.catch_up()
    announcer.announce(lake_writer.take_applied())
    for rule in (top, empty, broken):
        rule.refresh_from_db()
    assert top.state == "firing" and top.last_value == 7
    assert Notification.objects.get(rule=top).message == "Many items: max(Items (count)) of sheet Orders is 7 (>= 7)"
    assert empty.state == "firing" and empty.last_value == 0  # no filled Name cells
    assert broken.last_evaluated_at is None
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "Ada"}])
    lake_writer.catch_up()
    announcer.announce(lake_writer.take_applied())
    empty.refresh_from_db()
    assert empty.state == "ok" and empty.last_value == 1

    # A column renamed a moment ago keeps its values: the rule reads it under the name the lake's
    # view still has. A column retyped a moment ago is not in the lake as it is in the database:
    # the rule waits (a recovery from a missing value would be false) until the lake has it.
    services.column_rename(sheet=sheet, actor=owner, key="c3", name="Items")
    evaluation.rules_announced(sources.SOURCES["sheet"], applied=[sheet.pk])
    top.refresh_from_db()
    assert top.state == "firing" and top.last_value == 7
    services.column_retype(sheet=sheet, actor=owner, key="c3", type="number")
    evaluated = top.last_evaluated_at
    evaluation.rules_announced(sources.SOURCES["sheet"], applied=[sheet.pk])
    top.refresh_from_db()
    assert top.state == "firing" and top.last_evaluated_at == evaluated
    lake_writer.catch_up()
    announcer.announce(lake_writer.take_applied())
    top.refresh_from_db()
    assert top.state == "firing" and top.last_evaluated_at > evaluated and top.last_value == 7

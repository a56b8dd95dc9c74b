"""Threat: a sheet alert rule whose names are long (rule, sheet and column names at their
maximum lengths) never fires, because its notification message is longer than the
Notification model allows. Messages are cut (with "…") at the model's limit, not refused."""

import pytest

from analytics.alerts import evaluation
from analytics.alerts import services as alert_services
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, Notification
from analytics.writethrough import announcer
from sheets import services
from sheets.models import Column, Row, Sheet
from tests.factories import make_sheet


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def limit(model, field):
    return model._meta.get_field(field).max_length


@pytest.mark.django_db(transaction=True)
def test_a_rule_with_long_names_fires_and_its_message_is_cut(workspace, owner, editor, lake_writer):
    sheet_name = "S" * limit(Sheet, "name")
    column_name = "C" * limit(Column, "name")
    rule_name = "R" * limit(AlertRule, "name")
    assert len(sheet_name) >= 200 and len(column_name) >= 200
    sheet = make_sheet(workspace, owner, rows=1, name=sheet_name)
    services.column_rename(sheet=sheet, actor=owner, key="c2", name=column_name)
    row = Row.objects.filter(sheet=sheet).values_list("pk", flat=True).first()
    rule = alert_services.rule_create(
        workspace_id=workspace.pk,
        actor=editor,
        name=rule_name,
        source="sheet",
        sheet=sheet,
        column="c2",
        agg="sum",
        comparison=">",
        threshold=100,
    )

    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c2", "value": 150}])
    lake_writer.catch_up()
    announcer.announce(lake_writer.take_applied())

    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value == 150
    fired = list(Notification.objects.filter(rule=rule))
    assert sorted(n.user_id for n in fired) == sorted([owner.pk, editor.pk])
    message = fired[0].message
    most = limit(Notification, "message")
    assert len(message) == most and message.endswith("…")
    assert message.startswith(rule_name + ": sum(" + column_name[:10])


def test_messages_are_cut_at_the_models_limit_and_short_ones_are_kept():
    rule = AlertRule(name="Errors", metric="error_rate", agg="avg", window_seconds=60, comparison=">", threshold=0.05)
    assert evaluation._message(rule, 0.1) == "Errors: avg(error_rate) over 60s is 0.1 (> 0.05)"
    rule.name = "x" * 2000
    cut = evaluation._message(rule, 0.1)
    assert len(cut) == limit(Notification, "message") and cut.endswith("…")

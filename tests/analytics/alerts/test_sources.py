"""The alert-source registry: each source's rules are evaluated when its producer announces data,
with the announcement's arguments, and evaluation asks the rule's source for its value."""

import pytest

from analytics.alerts import evaluation, sources
from analytics.metrics.signals import metrics_ingested
from analytics.models import AlertRule
from analytics.writethrough.signals import cells_written

pytestmark = pytest.mark.django_db


def test_the_sources_are_metrics_and_sheet_columns_and_are_registered_once():
    assert list(sources.SOURCES) == [AlertRule.Source.METRIC, AlertRule.Source.SHEET]
    with pytest.raises(ValueError, match="registered twice"):
        sources.register(sources.SOURCES["metric"])


def test_each_source_is_evaluated_when_its_producer_announces(monkeypatch, workspace):
    announced = []
    monkeypatch.setattr(evaluation, "rules_announced", lambda source, **kwargs: announced.append((source.name, kwargs)))
    metrics_ingested.send(sender=None, workspace_id=workspace.pk, metrics=["orders"])
    cells_written.send(sender=None, applied={5: 3})
    assert announced == [
        ("metric", {"workspace_id": workspace.pk, "metrics": ["orders"]}),
        ("sheet", {"applied": {5: 3}}),
    ]


def test_rules_sharing_a_condition_share_it_and_others_do_not():
    def row(**fields):
        base = {
            "pk": 1,
            "workspace_id": 1,
            "source": "metric",
            "metric": "orders",
            "agg": "sum",
            "window_seconds": 60,
            "tag_filter": {"region": "eu"},
            "sheet_id": None,
            "column": "",
        }
        return {**base, **fields}

    assert evaluation._condition(row(pk=1)) == evaluation._condition(row(pk=2))
    assert evaluation._condition(row(tag_filter={"region": "us"})) != evaluation._condition(row())
    sheet = row(source="sheet", metric="", window_seconds=None, sheet_id=4, column="c2")
    assert evaluation._condition(sheet) == ("sheet", 4, "c2", "sum")

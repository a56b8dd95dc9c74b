"""Metrics of the analytics side that operators alert on (core/metrics.py): the time of each pass
over alert rules, and Superset syncs that failed."""

import pytest
from prometheus_client import REGISTRY

from analytics.alerts.evaluation import rules_evaluate_all
from analytics.superset import sync
from tests.realtime.servers import free_port

pytestmark = pytest.mark.django_db


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_pass_over_alert_rules_is_timed():
    before = value("gridcast_alert_evaluation_seconds_count", trigger="periodic")
    rules_evaluate_all()
    rules_evaluate_all()
    assert value("gridcast_alert_evaluation_seconds_count", trigger="periodic") == before + 2


def test_a_superset_sync_that_fails_is_counted(workspace, settings):
    """Superset not answering (a closed port): each try of the workspace's sync (a job) counts."""
    settings.SUPERSET = {**settings.SUPERSET, "URL": f"http://127.0.0.1:{free_port()}", "TIMEOUT": 2}
    before = value("gridcast_superset_sync_failures_total")
    assert not sync._sync_once(workspace.pk)
    assert not sync._sync_once(workspace.pk)
    assert value("gridcast_superset_sync_failures_total") == before + 2

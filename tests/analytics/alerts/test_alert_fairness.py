"""Threat: one workspace's many alert rules delay every other workspace's alerts (the periodic
pass went through all rules in id order, one aggregate query and one transaction each: a
workspace with 20,000 rules held another's alert for minutes). Now rules with one condition share
one query and workspaces take turns: workspace B's alert fires within a second while workspace
A's 20,000 rules are being evaluated (run with -s for the figures)."""

import datetime as dt
import threading
import time

import pytest

from accounts.models import Role
from analytics.alerts import evaluation
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, Notification
from analytics.queries import metric_aggregates
from analytics.writethrough import announcer as announcer_module
from tests.analytics.metric_helpers import token_client
from tests.factories import WorkspaceFactory, member

pytestmark = pytest.mark.django_db(transaction=True)

A_RULES = 20_000
A_METRICS = 200  # 100 rules on each metric: A's pass is 200 aggregate queries (20,000 before)


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def many_rules(workspace):
    AlertRule.objects.bulk_create(
        [
            AlertRule(
                workspace=workspace,
                name=f"cpu {n}",
                metric=f"cpu{n % A_METRICS}",
                agg="avg",
                window_seconds=60,
                comparison=">",
                threshold=1e9 + n,
            )
            for n in range(A_RULES)
        ],
        batch_size=5000,
    )


def run_in_thread(target):
    """`target` in a thread like the worker's, whose lake connection is open already (the
    worker's is: its first opening is not what is measured); returns when it starts."""
    from django.db import connections

    started, done = threading.Event(), threading.Event()
    result = {}

    def run():
        try:
            metric_aggregates.window_value(workspace_id=0, metric="warm", agg="count", window_seconds=60)
            started.set()
            result["value"] = target()
        finally:
            connections.close_all()
            started.set()
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(60)
    return thread, done, result


def wait_for(predicate, timeout):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def test_another_workspaces_rule_fires_within_a_second_of_the_periodic_pass_starting():
    big, small = WorkspaceFactory(), WorkspaceFactory()
    member(big, Role.OWNER)
    person = member(small, Role.OWNER)
    many_rules(big)  # created first: lower ids
    AlertRule.objects.create(
        workspace=small,
        name="Orders stopped",
        metric="orders",
        agg="count",
        window_seconds=60,
        comparison="<",
        threshold=1,
    )

    thread, done, _ = run_in_thread(evaluation.rules_evaluate_all)
    waited = wait_for(lambda: Notification.objects.filter(workspace=small, user=person).exists(), 10)
    still_running = not done.is_set()
    thread.join(300)
    assert waited is not None and waited < 1.0, f"B's alert after {waited} s (A's rules first)"
    print(f"B fired {waited * 1000:.0f} ms after the pass began; A's pass still running then: {still_running}")
    assert AlertRule.objects.filter(workspace=big, last_evaluated_at__isnull=False).count() == A_RULES


def test_data_for_another_workspace_fires_its_alert_within_a_second_during_the_pass():
    big, small = WorkspaceFactory(), WorkspaceFactory()
    member(big, Role.OWNER)
    person = member(small, Role.EDITOR)
    many_rules(big)
    AlertRule.objects.create(
        workspace=small,
        name="Errors",
        metric="error_rate",
        agg="avg",
        window_seconds=60,
        comparison=">",
        threshold=0.05,
    )
    sender = token_client(person, small)

    def send(value):
        response = sender.post(
            "/api/v1/metrics/",
            [{"metric": "error_rate", "value": value, "timestamp": dt.datetime.now(dt.UTC).isoformat()}],
            format="json",
        )
        assert response.status_code == 201, response.content

    send(0.01)  # fine; opens what a running server has open already
    assert not Notification.objects.filter(workspace=small).exists()
    thread, done, _ = run_in_thread(evaluation.rules_evaluate_all)
    time.sleep(0.2)
    ingested = time.monotonic()
    send(1.0)  # avg 0.505 > 0.05
    waited = wait_for(lambda: Notification.objects.filter(workspace=small, user=person).exists(), 10)
    elapsed = time.monotonic() - ingested
    thread.join(300)
    assert waited is not None and elapsed < 1.5, f"B's alert {elapsed:.2f} s after its data"


def test_rules_of_one_condition_share_one_query(monkeypatch):
    workspace = WorkspaceFactory()
    member(workspace, Role.OWNER)
    AlertRule.objects.bulk_create(
        [
            AlertRule(
                workspace=workspace,
                name=f"r{n}",
                metric="orders",
                agg="count",
                window_seconds=60,
                comparison="<",
                threshold=n,
            )
            for n in range(50)
        ]
    )
    calls = []
    original = evaluation.rule_value
    monkeypatch.setattr(evaluation, "rule_value", lambda rule, now=None: calls.append(rule.pk) or original(rule, now))
    evaluation.rules_evaluate_all()
    assert len(calls) == 1
    # count 0 < threshold for thresholds 1..49: those fire, the one with threshold 0 does not
    assert AlertRule.objects.filter(workspace=workspace, state=AlertRule.State.FIRING).count() == 49
    assert AlertRule.objects.filter(workspace=workspace, last_value=0).count() == 50


def test_the_worker_announces_new_sheet_data_between_the_turns_of_a_long_pass(monkeypatch):
    """The periodic pass runs in the worker's announcer thread: sheet data applied meanwhile is
    announced (its sheet rules evaluated) between two workspaces' turns, not after the pass."""

    big, small = WorkspaceFactory(), WorkspaceFactory()
    member(big, Role.OWNER)
    many_rules(big)
    AlertRule.objects.create(
        workspace=small,
        name="Orders stopped",
        metric="orders",
        agg="count",
        window_seconds=60,
        comparison="<",
        threshold=0,
    )
    announced = []

    def announce(applied):
        announced.append(AlertRule.objects.filter(workspace=big, last_evaluated_at__isnull=False).count())

    monkeypatch.setattr(announcer_module, "announce", announce)
    announcer = announcer_module.Announcer.__new__(announcer_module.Announcer)
    announcer.lock, announcer.pending = threading.Lock(), {}
    calls = []

    def between():
        calls.append(1)
        if len(calls) == 2:
            announcer.pending[123] = small.pk  # sheet data applied while the pass runs
        announcer._announce_pending()

    announcer_module.periodic_pass(between=between)
    assert announced and announced[0] < A_RULES, "announced only after the pass"

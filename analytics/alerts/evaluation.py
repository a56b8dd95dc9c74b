"""Alert rules on what their sources watch (sources.py: metrics, sheet columns): evaluated as data
arrives (a metric ingestion, sheet data reaching the lake) and every few seconds by the analytics
worker, so that a rule also sees data that stops coming. A rule that starts to hold fires once (a
stored notification for each member of the workspace, pushed live) and fires again only after it
has recovered. The rules' and
notifications' writes for the API are in services.py.

Fair across workspaces: rules with the same condition (workspace, metric or sheet column, agg,
window, tag filter) are evaluated together, one aggregate query for all of them; and a pass over
many workspaces' rules takes them in turns (round-robin, at most ALERT_TURN_SECONDS of one
workspace's groups before the next workspace's turn), so a workspace with 20,000 rules does not
hold back another's alert (tests/analytics/alerts/test_alert_fairness.py; run it with -s for the figures)."""

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from analytics.models import AlertRule, AlertStateChange, Notification
from core import metrics

from . import contacts, inbox, notify
from .inbox import notification_payload
from .sources import CONDITION_FIELDS, SOURCES, AlertSource, ValueUnavailable

log = logging.getLogger(__name__)


def _message(rule, value):
    """The notification's text, cut with "…" at the model's limit (a rule, sheet and column named
    at their longest would not fit: the rule must fire all the same)."""
    shown = "no data" if value is None else f"{value:g}"
    message = f"{rule.name}: {rule.subject} is {shown} ({rule.comparison} {rule.threshold:g})"
    most = Notification._meta.get_field("message").max_length
    return message if len(message) <= most else message[: most - 1] + "…"


def rule_value(rule: AlertRule, now: dt.datetime | None = None) -> float | None:
    """The value the rule compares now, as its source computes it (sources.py)."""
    return SOURCES[rule.source].value(rule, now)


def rule_evaluate(*, rule_id: int, now: dt.datetime | None = None) -> list[Notification]:
    """Compute the rule's value and move its state; returns the notifications created (empty
    unless it fired now). The rule's row lock serializes concurrent evaluations (an ingestion, the
    worker's announcement of sheet data, its periodic pass), so a rule fires once however many
    of them come together."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return []
        value = rule_value(rule, now)
        created = _transition(rule, value, now or timezone.now())
        if created is None:
            created = []
            rule.save(update_fields=["last_value", "last_evaluated_at", "updated_at"])
    return created


def _transition(rule, value, moment):
    """Move a locked rule's state for `value` (in the caller's transaction). A rule whose state
    changes is saved (and, if it fired, its notifications created and pushed after the commit):
    returns its notifications; its contact points get word after the commit. A rule whose state
    stays is only given its new value: returns None, the caller saves it (or all of a group in one
    UPDATE)."""
    rule.last_value = value
    rule.last_evaluated_at = moment
    holds = rule.holds(value)
    created = []
    if holds and rule.state == AlertRule.State.OK:
        rule.state = AlertRule.State.FIRING
        change = state_changed(rule, AlertStateChange.Event.FIRED, value, moment)
        rule.last_fired_at = moment
        message = _message(rule, value)
        members = list(Membership.objects.filter(workspace_id=rule.workspace_id).values_list("user_id", flat=True))
        created, muted = inbox.deliver(
            workspace_id=rule.workspace_id,
            kind=Notification.Kind.ALERT,
            user_ids=members,
            message=message,
            link=reverse("dashboard", args=[rule.workspace_id]),
            rule=rule,
            value=value,
        )
    elif not holds and rule.state == AlertRule.State.FIRING:
        rule.state = AlertRule.State.OK
        change = state_changed(rule, AlertStateChange.Event.RECOVERED, value, moment)
    else:
        return None
    rule.save(update_fields=["state", "last_value", "last_evaluated_at", "last_fired_at", "updated_at"])
    contacts.on_state_changed(change)  # its webhooks and e-mails, queued after the commit
    if created:
        transaction.on_commit(lambda: _push(rule, created, muted))
    return created


def state_changed(rule: AlertRule, event: str, value: float | None, moment: dt.datetime) -> AlertStateChange:
    """The rule's history gets its change to `rule.state` (in the caller's transaction)."""
    return AlertStateChange.objects.create(
        rule=rule, event=event, state=rule.state, value=value, condition=rule.condition[:500], at=moment
    )


def _push(rule, created, muted):
    # One push per firing to the workspace's group; each member's notification id is in `ids`
    # so a page can mark its own copy read; those `muted` chose no bell for alerts.
    first = notification_payload(created[0])
    first.update(
        id=None, rule_name=rule.name, state=rule.state, ids={str(n.user_id): n.pk for n in created}, muted=muted
    )
    notify.notification(rule.workspace_id, first)


def _evaluate_each(rule_ids, now):
    fired = []
    for rule_id in list(rule_ids):
        try:
            fired += rule_evaluate(rule_id=rule_id, now=now)
        except ValueUnavailable as error:
            log.warning("alert rule %s not evaluated yet: %s", rule_id, error)
        except Exception:  # one broken rule does not stop the others
            log.exception("alert rule %s could not be evaluated", rule_id)
    return fired


def _condition(row: dict) -> tuple:
    """What a rule's value depends on: rules with the same condition share one computation."""
    return SOURCES[row["source"]].condition(row)


def _turn_seconds():
    return float(settings.ANALYTICS.get("ALERT_TURN_SECONDS", 0.05))


def _evaluate_fairly(rules, now, between=None):
    """Evaluate the rules of the queryset `rules`: grouped by condition, workspaces in turns;
    `between()`, if given, is called after each turn (the worker announces new sheet data there,
    so a long pass does not hold sheet alerts back)."""
    by_workspace = collections.defaultdict(dict)
    for row in rules.order_by("pk").values(*CONDITION_FIELDS):
        by_workspace[row["workspace_id"]].setdefault(_condition(row), []).append(row["pk"])
    # Workspaces with fewer conditions first (their turn ends their pass), then in turns.
    turns = collections.deque(
        (workspace_id, collections.deque(groups.values()))
        for workspace_id, groups in sorted(by_workspace.items(), key=lambda item: (len(item[1]), item[0]))
    )
    fired, turn = [], _turn_seconds()
    while turns:
        workspace_id, groups = turns.popleft()
        ends = time.monotonic() + turn
        while groups:  # at least one group a turn
            fired += _evaluate_group(groups.popleft(), now)
            if time.monotonic() >= ends:
                break
        if groups:
            turns.append((workspace_id, groups))
        if between is not None and turns:
            between()
    return fired


def _evaluate_group(rule_ids, now):
    """Rules of one condition: one value for all, the rules whose state stays updated in one
    statement. If anything fails, each rule is evaluated alone (one broken rule does not stop
    the others)."""
    if len(rule_ids) == 1:
        return _evaluate_each(rule_ids, now)
    try:
        with transaction.atomic():
            rules = list(AlertRule.objects.select_for_update().filter(pk__in=rule_ids, enabled=True).order_by("pk"))
            if not rules:
                return []
            value = rule_value(rules[0], now)
            moment = now or timezone.now()
            fired, quiet = [], []
            for rule in rules:
                created = _transition(rule, value, moment)
                if created is None:
                    quiet.append(rule.pk)
                else:
                    fired += created
            for start in range(0, len(quiet), 5000):
                AlertRule.objects.filter(pk__in=quiet[start : start + 5000]).update(
                    last_value=value, last_evaluated_at=moment, updated_at=timezone.now()
                )
            return fired
    except ValueUnavailable as error:
        log.warning("alert rules %s… not evaluated yet: %s", rule_ids[:3], error)
        return []
    except Exception:
        log.exception("alert rules %s… could not be evaluated together; one by one", rule_ids[:3])
        return _evaluate_each(rule_ids, now)


def _enabled(**filters):
    return AlertRule.objects.filter(enabled=True, **filters)


def rules_announced(source: AlertSource, now: dt.datetime | None = None, **announced: Any) -> list[Notification]:
    """New data of `source` was announced (`announced`: the signal's arguments): evaluate the
    enabled rules of that source it concerns."""
    with metrics.alert_evaluation.labels("announced").time():
        return _evaluate_fairly(_enabled(source=source.name).filter(source.concerned(**announced)), now)


def rules_evaluate_all(
    *, now: dt.datetime | None = None, between: Callable[[], object] | None = None
) -> list[Notification]:
    """The analytics worker's periodic pass over every enabled rule: a metric window moves with
    time, so a rule must fire when data stops ("count below 5") and recover when its window
    empties, without any event to trigger it. One query when there are no rules. Workspaces take
    turns (see the module's docstring)."""
    with metrics.alert_evaluation.labels("periodic").time():
        return _evaluate_fairly(_enabled(), now, between)

"""Alert rules on metrics and sheet columns: evaluated as data arrives (a metric ingestion, sheet
data reaching the lake) and every few seconds by the analytics worker, so that a rule also sees
data that stops coming. A rule that starts to hold fires once (a stored notification for each
member of the workspace, pushed live) and fires again only after it has recovered. Also the
rules' and notifications' writes for the API."""
import logging

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from sheets.errors import InvalidInput
from sheets.models import NUMERIC_COLUMN_TYPES, Column

from . import aggregates, dashboards, notify
from .models import AlertRule, Notification

log = logging.getLogger(__name__)


class AlertRuleInvalid(InvalidInput):
    """A rule that breaks the model's rules (AlertRule.clean); `fields`: field -> messages."""


class ValueUnavailable(Exception):
    """The lake is behind the database for this rule (a sheet not written yet, a column added,
    renamed or retyped a moment ago): the rule keeps its state until the next evaluation."""


def _message(rule, value):
    """The notification's text, cut with "…" at the model's limit (a rule, sheet and column named
    at their longest would not fit: the rule must fire all the same)."""
    shown = "no data" if value is None else f"{value:g}"
    message = f"{rule.name}: {rule.subject} is {shown} ({rule.comparison} {rule.threshold:g})"
    most = Notification._meta.get_field("message").max_length
    return message if len(message) <= most else message[:most - 1] + "…"


def notification_payload(notification):
    return {
        "id": notification.pk,
        "workspace": notification.workspace_id,
        "rule": notification.rule_id,
        "message": notification.message,
        "value": notification.value,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
    }


def sheet_column_value(*, sheet_id, column_key, agg):
    """`agg` of the column's current values in the sheet's lake view, computed as a dashboard's
    sheet tile is (aggregates.sheet_aggregate): count counts filled cells, sum and count of none
    are 0. None when the column was deleted, or retyped to a non-number for an aggregate other
    than count (the rule then has nothing to compare); ValueUnavailable while the lake is behind
    the database."""
    column = (Column.objects.filter(sheet_id=sheet_id, key=column_key)
              .values("deleted", "type", "sheet__workspace_id").first())
    if column is None or column["deleted"] or (agg != "count" and column["type"] not in NUMERIC_COLUMN_TYPES):
        return None
    query = dashboards.clean_sheet_query({"sheet": sheet_id, "agg": agg, "column": column_key})
    try:
        answer = aggregates.sheet_aggregate(workspace_id=column["sheet__workspace_id"], query=query)
    except aggregates.SheetNotInLake as error:  # the sheet, or this column's latest change, is on its way
        raise ValueUnavailable(f"sheet {sheet_id} column {column_key}: {error.message}") from None
    total = answer["totals"][0]
    if total.get("overflow"):  # beyond what a float holds: no value to compare
        return None
    value = total["value"]
    if value is None:
        return 0.0 if agg in ("sum", "count") else None
    return float(value)


def rule_value(rule, now=None):
    """The value the rule compares now: its metric's window aggregate, or its sheet column's aggregate."""
    if rule.is_sheet_rule:
        return sheet_column_value(sheet_id=rule.sheet_id, column_key=rule.column, agg=rule.agg)
    return aggregates.window_value(
        workspace_id=rule.workspace_id, metric=rule.metric, agg=rule.agg, window_seconds=rule.window_seconds,
        tags=sorted((rule.tag_filter or {}).items()), now=now,
    )


def rule_evaluate(*, rule_id, now=None):
    """Compute the rule's value and move its state; returns the notifications created (empty
    unless it fired now). The rule's row lock serializes concurrent evaluations (an ingestion, the
    worker's announcement of sheet data, its periodic pass), so a rule fires once however many
    of them come together."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return []
        value = rule_value(rule, now)
        moment = now or timezone.now()
        created = []
        holds = rule.holds(value)
        if holds and rule.state == AlertRule.State.OK:
            rule.state = AlertRule.State.FIRING
            rule.last_fired_at = moment
            message = _message(rule, value)
            members = Membership.objects.filter(workspace_id=rule.workspace_id).values_list("user_id", flat=True)
            created = Notification.objects.bulk_create(
                Notification(user_id=user_id, workspace_id=rule.workspace_id, rule=rule, message=message, value=value)
                for user_id in members
            )
        elif not holds and rule.state == AlertRule.State.FIRING:
            rule.state = AlertRule.State.OK
        rule.last_value = value
        rule.last_evaluated_at = moment
        rule.save(update_fields=["state", "last_value", "last_evaluated_at", "last_fired_at", "updated_at"])
        if created:
            transaction.on_commit(lambda: _push(rule, created))
    return created


def _push(rule, created):
    # One push per firing to the workspace's group; each member's notification id is in `ids`
    # so a page can mark its own copy read.
    first = notification_payload(created[0])
    first.update(id=None, rule_name=rule.name, state=rule.state, ids={str(n.user_id): n.pk for n in created})
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


def _enabled(**filters):
    return AlertRule.objects.filter(enabled=True, **filters).order_by("pk").values_list("pk", flat=True)


def rules_evaluate(*, workspace_id, metrics, now=None):
    """After an ingestion commit: evaluate the workspace's enabled rules on these metrics."""
    return _evaluate_each(_enabled(source=AlertRule.Source.METRIC, workspace_id=workspace_id, metric__in=metrics), now)


def sheet_rules_evaluate(*, sheet_ids, now=None):
    """New data of these sheets is in the lake: evaluate their enabled rules."""
    return _evaluate_each(_enabled(source=AlertRule.Source.SHEET, sheet_id__in=list(sheet_ids)), now)


def rules_evaluate_all(*, now=None):
    """The analytics worker's periodic pass over every enabled rule: a metric window moves with
    time, so a rule must fire when data stops ("count below 5") and recover when its window
    empties, without any event to trigger it. One query when there are no rules."""
    return _evaluate_each(_enabled(), now)


def _validated(rule):
    """Run the model's validation (fields, AlertRule.clean, constraints); AlertRuleInvalid with
    every field's messages otherwise, the first one as the message."""
    try:
        rule.full_clean()
    except ValidationError as error:
        fields = {("non_field_errors" if name == NON_FIELD_ERRORS else name): messages
                  for name, messages in error.message_dict.items()}
        name, messages = next(iter(fields.items()))
        message = messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
        raise AlertRuleInvalid(message, fields=fields) from None
    return rule


CONDITION_FIELDS = {"source", "metric", "sheet", "column", "agg", "window_seconds", "comparison", "threshold",
                    "tag_filter", "enabled"}


@transaction.atomic
def rule_create(*, workspace_id, actor, **fields):
    rule = _validated(AlertRule(workspace_id=workspace_id, created_by=actor, **fields))
    rule.save()
    return rule


@transaction.atomic
def rule_update(*, rule, **fields):
    for name, value in fields.items():
        setattr(rule, name, value)
    if CONDITION_FIELDS & set(fields):
        rule.state = AlertRule.State.OK  # a changed condition starts over
    _validated(rule).save()
    return rule


def rule_delete(*, rule):
    rule.delete()


def notifications_mark_read(*, user, ids=None, scope_workspace_id=None):
    """Mark the user's unread notifications read (these ids, or all); returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if scope_workspace_id is not None:
        unread = unread.filter(workspace_id=scope_workspace_id)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())

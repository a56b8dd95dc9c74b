"""Alert rules: evaluated as metric events arrive; a rule that starts to hold fires once (a stored
notification for each member of the workspace, pushed live) and fires again only after it has
recovered. Also the rules' and notifications' writes for the API."""
import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership

from . import aggregates, notify
from .models import AlertRule, Notification

log = logging.getLogger(__name__)


def _message(rule, value):
    shown = "no data" if value is None else f"{value:g}"
    return f"{rule.name}: {rule.agg}({rule.metric}) over {rule.window_seconds}s is {shown} ({rule.comparison} {rule.threshold:g})"


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


def rule_evaluate(*, rule_id, now=None):
    """Compute the rule's window aggregate and move its state; returns the notifications created
    (empty unless it fired now). The rule's row lock serializes concurrent evaluations, so a
    rule fires once however many batches arrive together."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return []
        value = aggregates.window_value(
            workspace_id=rule.workspace_id, metric=rule.metric, agg=rule.agg, window_seconds=rule.window_seconds,
            tags=sorted((rule.tag_filter or {}).items()), now=now,
        )
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


def rules_evaluate(*, workspace_id, metrics, now=None):
    """After an ingestion commit: evaluate the workspace's enabled rules on these metrics."""
    fired = []
    rule_ids = AlertRule.objects.filter(workspace_id=workspace_id, enabled=True, metric__in=metrics).values_list("pk", flat=True)
    for rule_id in rule_ids:
        try:
            fired += rule_evaluate(rule_id=rule_id, now=now)
        except Exception:  # one broken rule does not stop the others
            log.exception("alert rule %s could not be evaluated", rule_id)
    return fired


def rule_create(*, workspace_id, actor, **fields):
    return AlertRule.objects.create(workspace_id=workspace_id, created_by=actor, **fields)


def rule_update(*, rule, **fields):
    for name, value in fields.items():
        setattr(rule, name, value)
    if {"metric", "agg", "window_seconds", "comparison", "threshold", "tag_filter", "enabled"} & set(fields):
        rule.state = AlertRule.State.OK  # a changed condition starts over
    rule.save()
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

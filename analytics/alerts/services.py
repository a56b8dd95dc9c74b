"""Writes of alert rules and notifications for the API: create, change and delete a rule (validated by
the model's rules) with its contact points (contacts.py), mark notifications read."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import User, Workspace
from analytics.models import AlertRule, AlertStateChange, Notification
from core.errors import InvalidInput, NotFound, check_quota

from . import contacts
from .evaluation import state_changed


class AlertRuleInvalid(InvalidInput):
    """A rule that breaks the model's rules (AlertRule.clean); `fields`: field -> messages."""


def _validated(rule):
    """Run the model's validation (fields, AlertRule.clean, constraints); AlertRuleInvalid with
    every field's messages otherwise, the first one as the message."""
    try:
        rule.full_clean()
    except ValidationError as error:
        fields = {
            ("non_field_errors" if name == NON_FIELD_ERRORS else name): messages
            for name, messages in error.message_dict.items()
        }
        name, messages = next(iter(fields.items()))
        message = messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
        raise AlertRuleInvalid(message, fields=fields) from None
    return rule


CONDITION_FIELDS = {
    "source",
    "metric",
    "sheet",
    "column",
    "agg",
    "window_seconds",
    "comparison",
    "threshold",
    "tag_filter",
    "enabled",
}


def _webhooks_set(rule, webhooks):
    """The rule's webhooks as listed (None: unchanged); the secrets shown once are kept on the rule
    as `revealed_secrets` for the answer."""
    rule.revealed_secrets = {} if webhooks is None else contacts.webhooks_set(rule=rule, webhooks=webhooks)


@transaction.atomic
def rule_create(*, workspace_id: int, actor: User, webhooks: list[dict] | None = None, **fields: object) -> AlertRule:
    if Workspace.objects.select_for_update(no_key=True).filter(pk=workspace_id).first() is None:
        raise NotFound("Workspace not found")  # deleted while this waited for its lock
    check_quota(
        "MAX_ALERT_RULES_PER_WORKSPACE",
        AlertRule.objects.filter(workspace_id=workspace_id).count(),
        "alert rules per workspace",
    )
    rule = _validated(AlertRule(workspace_id=workspace_id, created_by=actor, **fields))
    rule.save()
    _webhooks_set(rule, webhooks)
    audit.record("alert_rule.created", actor=actor, workspace=workspace_id, target=rule)
    return rule


@transaction.atomic
def rule_update(*, rule: AlertRule, webhooks: list[dict] | None = None, **fields: object) -> AlertRule:
    for name, value in fields.items():
        setattr(rule, name, value)
    reset = bool(CONDITION_FIELDS & set(fields))
    reset_firing = reset and rule.state == AlertRule.State.FIRING
    if reset:
        rule.state = AlertRule.State.OK  # a changed condition starts over
    _validated(rule).save()
    if reset_firing:
        state_changed(rule, AlertStateChange.Event.RESET, rule.last_value, timezone.now())
    _webhooks_set(rule, webhooks)
    changed = sorted([*fields, *(["webhooks"] if webhooks is not None else [])])
    audit.record("alert_rule.changed", workspace=rule.workspace_id, target=rule, fields=changed)
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule) -> None:
    audit.record("alert_rule.deleted", workspace=rule.workspace_id, target=rule)
    rule.delete()


def notifications_mark_read(*, user: User, ids: list[int] | None = None, scope_workspace_id: int | None = None) -> int:
    """Mark the user's unread notifications read (these ids, or all); returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if scope_workspace_id is not None:
        unread = unread.filter(workspace_id=scope_workspace_id)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())

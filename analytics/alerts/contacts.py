"""An alert rule's contact points (e-mail to the workspace's members, webhooks) and what they are
sent when it fires or recovers: written with the rule (services.py), queued after the evaluation's
commit (evaluation.py) and sent by the worker (analytics/deliveries/)."""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from accounts.models import Membership
from analytics.deliveries import queue
from analytics.models import AlertRule, AlertStateChange, Delivery, Webhook, new_secret
from core.errors import InvalidInput

log = logging.getLogger(__name__)
DELIVERED_EVENTS = (AlertStateChange.Event.FIRED, AlertStateChange.Event.RECOVERED)


class ContactPointInvalid(InvalidInput):
    """A webhook of the request that cannot be applied (an id not of this rule, twice the same)."""


def max_webhooks() -> int | None:
    """GRIDCAST["MAX_WEBHOOKS_PER_RULE"]; None when it is 0 (no limit, as with the quotas)."""
    return int(settings.GRIDCAST.get("MAX_WEBHOOKS_PER_RULE", 10)) or None


def webhooks_set(*, rule: AlertRule, webhooks: list[dict]) -> dict[int, str]:
    """Make the rule's webhooks those listed (in the caller's transaction): an item with an `id`
    keeps that webhook (its url and format changed if given, its secret renewed with
    `rotate_secret`), one without is new; the others are removed. Returns {webhook id: secret} of
    the new and renewed ones, the only time a secret is shown."""
    current = {w.pk: w for w in Webhook.objects.select_for_update().filter(rule=rule)}
    listed = [item["id"] for item in webhooks if item.get("id") is not None]
    for position, webhook_id in enumerate(listed):
        if webhook_id not in current:
            message = f"this rule has no webhook {webhook_id}"
            raise ContactPointInvalid(f"webhooks: {message}", fields={"webhooks": [message]})
        if webhook_id in listed[:position]:
            message = f"webhook {webhook_id} is listed twice"
            raise ContactPointInvalid(f"webhooks: {message}", fields={"webhooks": [message]})
    most = max_webhooks()
    if most is not None and len(webhooks) > most:
        message = f"at most {most} webhooks per alert rule"
        raise ContactPointInvalid(f"webhooks: {message}", fields={"webhooks": [message]})
    Webhook.objects.filter(rule=rule).exclude(pk__in=listed).delete()
    shown = {}
    for item in webhooks:
        webhook = current.get(item.get("id")) or Webhook(workspace_id=rule.workspace_id, rule=rule)
        reveal = webhook.pk is None or bool(item.get("rotate_secret"))
        for name in ("url", "format"):
            if item.get(name):
                setattr(webhook, name, item[name])
        if item.get("rotate_secret"):
            webhook.secret = new_secret()
        webhook.save()
        if reveal:
            shown[webhook.pk] = webhook.secret
    return shown


# --- deliveries ------------------------------------------------------------------------------------


def _when(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shown(value: float | None) -> str:
    return "no data" if value is None else f"{value:g}"


def dashboard_url(workspace_id: int) -> str:
    return settings.GRIDCAST.get("PUBLIC_URL", "") + reverse("dashboard", args=[workspace_id])


def payload(rule: AlertRule, change: AlertStateChange) -> dict:
    """The JSON webhooks get (signed): the rule, the event, the value and when."""
    return {
        "rule": {"id": rule.pk, "name": rule.name, "condition": change.condition},
        "event": change.event,
        "state": change.state,
        "value": change.value,
        "at": _when(change.at),
        "workspace": {"id": rule.workspace_id, "name": rule.workspace.name},
        "url": dashboard_url(rule.workspace_id),
    }


def _headline(rule: AlertRule, change: AlertStateChange) -> str:
    verb = "fired" if change.event == AlertStateChange.Event.FIRED else "recovered"
    return f"Alert {verb}: {rule.name}"


def slack_payload(rule: AlertRule, change: AlertStateChange) -> dict:
    """Slack's incoming-webhook message (also taken by Mattermost, Rocket.Chat, Discord's /slack)."""
    icon = ":rotating_light:" if change.event == AlertStateChange.Event.FIRED else ":white_check_mark:"
    link = dashboard_url(rule.workspace_id)
    return {
        "text": f"{icon} *{_headline(rule, change)}* ({rule.workspace.name})\n"
        f"{change.condition}: the value is {_shown(change.value)} at {_when(change.at)}\n<{link}|Open the dashboard>"
    }


def email_payload(rule: AlertRule, change: AlertStateChange) -> dict:
    subject = f"[Gridcast] {_headline(rule, change)}"
    body = (
        f"{_headline(rule, change)}\n\n"
        f"Workspace: {rule.workspace.name}\n"
        f"Condition: {change.condition}\n"
        f"Value: {_shown(change.value)}\n"
        f"At: {_when(change.at)}\n\n"
        f"Dashboard: {dashboard_url(rule.workspace_id)}\n"
    )
    return {"subject": subject[:200].replace("\n", " "), "body": body}


def deliveries_queue(*, change_id: int) -> list[Delivery]:
    """Queue a firing's or recovery's delivery to each contact point of its rule: one per webhook,
    one per active member's e-mail address if the rule e-mails members. Called after the evaluation's
    commit; the worker sends them."""
    change = AlertStateChange.objects.select_related("rule__workspace").filter(pk=change_id).first()
    if change is None or change.event not in DELIVERED_EVENTS:
        return []
    rule = change.rule
    common = {"workspace_id": rule.workspace_id, "rule": rule, "event": change.event}
    deliveries = [
        Delivery(
            webhook=webhook,
            channel=Delivery.Channel.WEBHOOK,
            target=webhook.url,
            format=webhook.format,
            payload=slack_payload(rule, change) if webhook.format == Webhook.Format.SLACK else payload(rule, change),
            **common,
        )
        for webhook in rule.webhooks.all()
    ]
    if rule.email_members:
        addresses = (
            Membership.objects.filter(workspace_id=rule.workspace_id, user__is_active=True)
            .exclude(user__email="")
            .order_by("user__email")
            .values_list("user__email", flat=True)
        )
        message = email_payload(rule, change)
        deliveries += [Delivery(channel=Delivery.Channel.EMAIL, target=a, payload=message, **common) for a in addresses]
    return queue.enqueue(deliveries)


def on_state_changed(change: AlertStateChange) -> None:
    """deliveries_queue() for `change` once the caller's transaction commits: never inside the
    evaluation's transaction, and a failure to queue never undoes the change."""
    if change.event not in DELIVERED_EVENTS:
        return

    def queue_deliveries():
        try:
            deliveries_queue(change_id=change.pk)
        except Exception:
            log.exception("deliveries of alert state change %s not queued", change.pk)

    transaction.on_commit(queue_deliveries)

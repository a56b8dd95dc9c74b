"""Writing a sheet's webhooks: add, change (a new secret with `rotate_secret`), remove. The URL is
checked by the API's serializer (core.outbound: http(s), a public address unless the operator allows
others); the rules that need the sheet are checked here, before anything is written."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from accounts import audit
from accounts.models import User
from analytics.models import Webhook, new_secret
from core.errors import InvalidInput, NotFound
from sheets.models import Column, Sheet

DEFAULT_EVENTS = [e.value for e in Webhook.Event]


class SheetWebhookInvalid(InvalidInput):
    """A sheet webhook that cannot be saved as asked (a column the sheet does not have, too many)."""


def max_webhooks() -> int | None:
    """GRIDCAST["MAX_WEBHOOKS_PER_SHEET"]; None when it is 0 (no limit)."""
    return int(settings.GRIDCAST.get("MAX_WEBHOOKS_PER_SHEET", 10)) or None


def _invalid(field: str, message: str) -> SheetWebhookInvalid:
    return SheetWebhookInvalid(f"{field}: {message}", fields={field: [message]})


def _check_columns(sheet: Sheet, columns: list[str]) -> list[str]:
    """The keys as given (in order, once each), every one an active column of the sheet."""
    columns = list(dict.fromkeys(columns))
    active = set(Column.objects.filter(sheet_id=sheet.pk, deleted=False).values_list("key", flat=True))
    unknown = [key for key in columns if key not in active]
    if unknown:
        raise _invalid("columns", f"sheet {sheet.name} has no column {', '.join(unknown[:5])}")
    return columns


def _audit(kind: str, webhook: Webhook, **details: object) -> None:
    """An audit event naming the webhook by its sheet and host: its URL may itself be a secret."""
    host = urlsplit(webhook.url).hostname or ""
    target = f'webhook {webhook.pk} of sheet {webhook.sheet_id} "{webhook.sheet.name}" to {host}'
    audit.record(kind, workspace=webhook.workspace_id, target=target, sheet=webhook.sheet_id, **details)


def _check_events(events: list[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    if not events:
        raise _invalid("events", f"name at least one event of {', '.join(DEFAULT_EVENTS)}")
    return events


@transaction.atomic
def webhook_create(
    *,
    sheet: Sheet,
    actor: User | None,
    url: str,
    events: list[str] | None = None,
    columns: list[str] | None = None,
    active: bool = True,
) -> Webhook:
    """A new webhook of the sheet (its secret is new; the caller shows it once)."""
    locked = Sheet.objects.select_for_update(of=("self",)).filter(pk=sheet.pk).first()
    if locked is None:
        raise NotFound("Sheet not found")
    most = max_webhooks()
    if most is not None and Webhook.objects.filter(sheet_id=sheet.pk).count() >= most:
        raise _invalid("url", f"at most {most} webhooks per sheet")
    webhook = Webhook.objects.create(
        workspace_id=sheet.workspace_id,
        sheet=sheet,
        url=url,
        events=_check_events(DEFAULT_EVENTS if events is None else events),
        columns=_check_columns(sheet, columns or []),
        active=active,
        created_by=actor if actor and actor.is_authenticated else None,
    )
    _audit("webhook.created", webhook, events=webhook.events, columns=webhook.columns)
    return webhook


@transaction.atomic
def webhook_update(*, webhook: Webhook, rotate_secret: bool = False, **fields) -> Webhook:
    """Change what is given of url, events, columns and active; a new secret with `rotate_secret`."""
    if "events" in fields:
        fields["events"] = _check_events(fields["events"])
    if "columns" in fields:
        fields["columns"] = _check_columns(webhook.sheet, fields["columns"] or [])
    for name, value in fields.items():
        setattr(webhook, name, value)
    if rotate_secret:
        webhook.secret = new_secret()
    webhook.save()
    _audit("webhook.changed", webhook, fields=sorted([*fields, *(["secret"] if rotate_secret else [])]))
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook) -> None:
    """Remove it; its pending deliveries fail at their next attempt (the log keeps them)."""
    _audit("webhook.deleted", webhook)
    webhook.delete()

"""The audit log: the kinds of security-relevant events (KINDS, the one registry), the one way to
record one (record), what a workspace's owners and admins see of it (workspace_events, with
filters), its CSV form, and retention (purge).

Events are recorded where the change happens (services, and the receivers of Django's, allauth's
and allauth.mfa's signals below), inside the caller's transaction: a change rolled back leaves no
event. A service does not receive the HTTP request; `record` reads the actor and the client IP
from the request being served (RequestContext, a middleware) unless they are given.
"""

import contextvars
import csv
import datetime as dt
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import InvalidInput
from core.exports import TextChunks, export_text
from core.throttling import client_ip

from .models import AuditEvent, Membership, User, Workspace

KINDS: dict[str, str] = {
    "auth.login": "Logged in",
    "auth.login_failed": "Failed login",
    "auth.logout": "Logged out",
    "mfa.added": "Two-factor method added",
    "mfa.removed": "Two-factor method removed",
    "mfa.reset": "Recovery codes regenerated",
    "invitation.sent": "Invitation sent",
    "invitation.accepted": "Invitation accepted",
    "invitation.revoked": "Invitation revoked",
    "member.added": "Member added",
    "member.role_changed": "Role changed",
    "member.removed": "Member removed",
    "sheet.shared": "Sheet shared",
    "sheet.unshared": "Sheet unshared",
    "sheet.deleted": "Sheet deleted",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "public_link.created": "Public link created",
    "public_link.revoked": "Public link revoked",
    "export": "Data exported",
    "workspace.deleted": "Workspace deleted",
    "workspace.two_factor_changed": "Two-factor requirement changed",
    "workspace.metric_retention_changed": "Metric retention changed",
    "alert_rule.created": "Alert rule created",
    "alert_rule.changed": "Alert rule changed",
    "alert_rule.deleted": "Alert rule deleted",
    "webhook.created": "Sheet webhook added",
    "webhook.changed": "Sheet webhook changed",
    "webhook.deleted": "Sheet webhook removed",
}

# Events of an account rather than of a workspace (recorded without one). A workspace's log shows
# them for its current members: the account is how its data is reached. An API token without a
# workspace reaches every workspace of its user, so its creation and revocation are among them.
ACCOUNT_KINDS = frozenset(
    {"auth.login", "auth.login_failed", "auth.logout", "mfa.added", "mfa.removed", "mfa.reset"}
    | {"token.created", "token.revoked"}
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_NUMBER = re.compile(r"[0-9]{1,18}")


# --- the request being served --------------------------------------------------------------------

_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("audit_request", default=None)


class RequestContext:
    """Middleware: makes the request being served known to `record`, which takes the actor and
    the client IP from it when a service records an event (services are not given requests)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


# --- recording ------------------------------------------------------------------------------------


def _target(target: object | None) -> tuple[str, str, str]:
    """(type, id, text) of what an event is about: a model instance as `sheet 12 "Orders"`, text as is."""
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        kind = target._meta.model_name
        return kind, str(target.pk), _text(f'{kind} {target.pk} "{target}"')[:300]
    return "", "", _text(str(target))[:300]


def _text(value: str) -> str:
    # PostgreSQL stores no NUL character, in text or in JSON: outside input may hold one.
    return value.replace("\x00", "")


def _json(value: Any) -> Any:
    """`value` as JSON values (anything else as its text), without NUL characters."""
    if isinstance(value, dict):
        return {_text(str(key)): _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json(item) for item in value]
    if value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return _text(str(value))


def _ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def record(
    kind: str,
    *,
    actor: User | str | None = None,
    workspace: Workspace | int | None = None,
    target: object | None = None,
    request: HttpRequest | None = None,
    **details: Any,
) -> AuditEvent:
    """Record one event of `kind` (a key of KINDS; any other is a ValueError). `actor` is the user
    who acted (or, for a failed login, the address tried); by default the request's user. The IP is
    the request's client IP as the login limits and throttles see it. `request` defaults to the one
    being served. `details` must be JSON values (others are written as text)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind {kind!r}: add it to accounts.audit.KINDS")
    request = request if request is not None else _current_request.get()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if isinstance(actor, str):
        actor, actor_email = None, _text(actor).strip().lower()[:254]
    else:
        actor = actor if actor is not None and actor.is_authenticated else None  # not AnonymousUser
        actor_email = actor.email if actor is not None else ""
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    target_type, target_id, target_text = _target(target)
    _purge_daily()
    return AuditEvent.objects.create(
        kind=kind,
        actor=actor,
        actor_email=actor_email,
        ip=_ip(request),
        workspace_id=workspace_id,
        workspace_ref=workspace_id,
        target_type=target_type,
        target_id=target_id,
        target=target_text,
        details=_json(details),
    )


# --- retention ------------------------------------------------------------------------------------


def retention_days() -> int:
    return int(settings.GRIDCAST.get("AUDIT_RETENTION_DAYS") or 0)


def purge(*, now: dt.datetime | None = None) -> int:
    """Delete the events older than GRIDCAST["AUDIT_RETENTION_DAYS"] days (0: keep forever); returns
    how many. The only deletion of audit events (a queryset delete: AuditEvent.delete refuses)."""
    days = retention_days()
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _purge_daily() -> None:
    """At most once a day (per cache, shared by the processes), recording purges: an installation
    without a scheduled `manage.py audit_purge` stays bounded too."""
    if retention_days() > 0 and cache.add(f"audit:purged:{timezone.now():%Y-%m-%d}", 1, 2 * 86400):
        purge()


# --- reading --------------------------------------------------------------------------------------


def workspace_events(workspace_id: int) -> QuerySet[AuditEvent]:
    """What a workspace's owners and admins see, newest first: the events of the workspace, and the
    account events (ACCOUNT_KINDS: logins, logouts, MFA changes, tokens without a workspace) of the
    users who are members of it now; a failed login is matched by the address tried. Account
    events of anyone else, and other workspaces' events, are not shown."""
    member_ids = Membership.objects.filter(workspace_id=workspace_id).values("user_id")
    member_emails = (
        User.objects.filter(memberships__workspace_id=workspace_id).annotate(address=Lower("email")).values("address")
    )
    account = Q(workspace_ref__isnull=True, kind__in=ACCOUNT_KINDS) & (
        Q(actor_id__in=member_ids) | Q(kind="auth.login_failed", actor__isnull=True, actor_email__in=member_emails)
    )
    return AuditEvent.objects.filter(Q(workspace_id=workspace_id) | account).order_by("-created_at", "-id")


def _moment(value: str, name: str) -> tuple[dt.datetime, bool]:
    """An ISO date-time (naive: UTC), or a date as its start; and whether it was a date."""
    value = str(value).strip()
    try:
        day = parse_date(value)  # first: a date alone also reads as a date-time (its midnight)
        moment = None if day else parse_datetime(value)
    except ValueError:
        moment = day = None
    if day is not None:
        moment = dt.datetime.combine(day, dt.time.min)
    if moment is None:
        raise InvalidInput(f"{name} must be an ISO date or date-time (2026-01-31 or 2026-01-31T12:00:00Z)")
    return (moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt.UTC)), day is not None


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    many = params.getlist(name) if hasattr(params, "getlist") else [params.get(name)]
    return [part.strip() for value in many if value for part in str(value).split(",") if part.strip()]


def filtered(events: QuerySet[AuditEvent], params: Mapping[str, Any]) -> QuerySet[AuditEvent]:
    """`events` narrowed by the query parameters `actor` (a user id or an e-mail address), `kind`
    (repeated or comma-separated), `since` and `until` (ISO dates or date-times; a date as `until`
    includes that day). Bad values are InvalidInput, never ignored."""
    kinds = _values(params, "kind")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise InvalidInput(f"unknown kind {unknown[0][:60]!r}: one of {', '.join(KINDS)}")
    if kinds:
        events = events.filter(kind__in=kinds)
    actor = str(params.get("actor") or "").strip()
    if _NUMBER.fullmatch(actor):
        events = events.filter(actor_id=int(actor))
    elif actor:
        try:
            validate_email(actor)
        except ValidationError:
            raise InvalidInput("actor must be a user id or an e-mail address") from None
        events = events.filter(actor_email=actor.lower())
    if params.get("since"):
        events = events.filter(created_at__gte=_moment(params["since"], "since")[0])
    if params.get("until"):
        moment, is_day = _moment(params["until"], "until")
        if is_day:  # the whole day
            events = events.filter(created_at__lt=moment + dt.timedelta(days=1))
        else:
            events = events.filter(created_at__lte=moment)
    return events


def page_of(events: QuerySet[AuditEvent], params: Mapping[str, Any]) -> tuple[list[AuditEvent], int, bool]:
    """One page of `events` (`page`, from 1; `page_size`, at most MAX_PAGE_SIZE): (events, page
    number, whether a next page exists)."""
    number, size = str(params.get("page") or "1"), str(params.get("page_size") or PAGE_SIZE)
    if not _NUMBER.fullmatch(number) or not 1 <= int(number) <= 10**6:
        raise InvalidInput("page must be a number from 1")
    if not _NUMBER.fullmatch(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be a number from 1 to {MAX_PAGE_SIZE}")
    number, size = int(number), int(size)
    rows = list(events.select_related("actor")[(number - 1) * size : number * size + 1])
    return rows[:size], number, len(rows) > size


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "label": KINDS.get(event.kind, event.kind),
        "created_at": event.created_at,
        "actor": event.actor_id,
        "actor_email": event.actor_email,
        "ip": event.ip,
        "workspace": event.workspace_ref,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target": event.target,
        "details": event.details,
    }


CSV_COLUMNS = ["time", "kind", "event", "actor_id", "actor_email", "ip", "workspace", "target", "details"]


def csv_chunks(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    """The events as CSV, a chunk at a time, every text formula-neutralized (core.exports)."""
    out = TextChunks()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for count, event in enumerate(events.iterator(chunk_size=1000), start=1):
        writer.writerow(
            [
                event.created_at.isoformat(),
                export_text(event.kind),
                export_text(KINDS.get(event.kind, event.kind)),
                event.actor_id or "",
                export_text(event.actor_email),
                event.ip or "",
                event.workspace_ref or "",
                export_text(event.target),
                export_text(json.dumps(event.details, sort_keys=True)) if event.details else "",
            ]
        )
        if count % 500 == 0:
            yield out.take()
    yield out.take()


# --- events that arrive as signals ---------------------------------------------------------------


def _on_logged_in(sender: object, request: HttpRequest | None = None, user: User | None = None, **kwargs: Any) -> None:
    record("auth.login", actor=user, request=request, target=user)


def _on_logged_out(sender: object, request: HttpRequest | None = None, user: User | None = None, **kwargs: Any) -> None:
    if user is not None:  # logging out without being logged in is no event
        record("auth.logout", actor=user, request=request, target=user)


def _on_login_failed(
    sender: object, credentials: Mapping[str, Any] | None = None, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = str((credentials or {}).get("email") or (credentials or {}).get("username") or "")
    record("auth.login_failed", actor=tried, request=request, target=tried[:254] or None)


def _mfa_receiver(kind: str) -> Callable[..., None]:
    def receive(sender: object, request: HttpRequest | None = None, user: User | None = None, **kwargs: Any) -> None:
        authenticator = kwargs.get("authenticator")
        method = str(getattr(authenticator, "type", "") or "")
        record(kind, actor=user, request=request, target=user, method=method)

    return receive


_MFA_RECEIVERS = {name: _mfa_receiver(f"mfa.{name}") for name in ("added", "removed", "reset")}


def connect_signals() -> None:
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(_on_logged_in, dispatch_uid="gridcast-audit-login")
    user_logged_out.connect(_on_logged_out, dispatch_uid="gridcast-audit-logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="gridcast-audit-login-failed")
    # allauth.mfa's signals module imports its models: only when the app is installed.
    if apps.is_installed("allauth.mfa"):
        from allauth.mfa import signals as mfa

        mfa.authenticator_added.connect(_MFA_RECEIVERS["added"], dispatch_uid="gridcast-audit-mfa-added")
        mfa.authenticator_removed.connect(_MFA_RECEIVERS["removed"], dispatch_uid="gridcast-audit-mfa-removed")
        mfa.authenticator_reset.connect(_MFA_RECEIVERS["reset"], dispatch_uid="gridcast-audit-mfa-reset")

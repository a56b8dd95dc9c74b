"""The worker's sender of queued deliveries: claims the due ones (several workers never take the same
one), sends them a few at a time, logs each attempt and schedules the next after a failure
(ANALYTICS["DELIVERY_RETRY_SECONDS"], then failed for good). At least once: a receiver tells
repeats by X-Gridcast-Delivery. A claim is a lease: a delivery whose
worker died mid-attempt is due again once the lease ends, so a restart resumes what was pending.

Webhooks: a POST of the stored body, `X-Gridcast-Signature: sha256=<hex HMAC-SHA256 of the raw body
with the webhook's secret>`, X-Gridcast-Event, X-Gridcast-Delivery (the id, the same on every
retry), X-Gridcast-Timestamp; any 2xx is delivered. Addresses are checked again at each attempt
(core/outbound.py: DNS may have changed); a refused one fails at once. E-mails: through Django's
e-mail backend."""

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from analytics.models import Delivery
from core import outbound

from .queue import wake

log = logging.getLogger(__name__)
BATCH = 20
CONCURRENCY = 4
USER_AGENT = "Gridcast-Webhook/1"


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


def retry_delays() -> list[float]:
    return [float(s) for s in _setting("DELIVERY_RETRY_SECONDS", [10, 60, 300, 1800])]


def _timeout() -> float:
    return float(_setting("DELIVERY_TIMEOUT", 5.0))


@dataclasses.dataclass
class Outcome:
    ok: bool = False
    status_code: int | None = None
    response: str = ""
    error: str = ""
    final: bool = False  # no retry (a refused address, a removed webhook)


def body_bytes(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _request(delivery: Delivery, now: dt.datetime) -> tuple | None:
    """What to send for a delivery (read in the claiming thread): (kind, arguments), or None."""
    if delivery.channel == Delivery.Channel.EMAIL:
        return ("email", delivery.payload.get("subject", ""), delivery.payload.get("body", ""), delivery.target)
    if delivery.webhook is None:
        return None
    body = body_bytes(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gridcast-Event": delivery.event,
        "X-Gridcast-Delivery": str(delivery.pk),
        "X-Gridcast-Timestamp": str(int(now.timestamp())),
        "X-Gridcast-Signature": signature(delivery.webhook.secret, body),
    }
    return ("webhook", delivery.target, body, headers)


def _prepared(delivery: Delivery, now: dt.datetime) -> tuple | Outcome | None:
    """_request(), or the Outcome of a delivery that cannot be sent (a stored payload of the wrong
    shape): logged and failed, so that it does not come back after each lease."""
    if delivery.webhook is not None and not delivery.webhook.active:
        return Outcome(error="the webhook is paused", final=True)
    try:
        return _request(delivery, now)
    except Exception:
        log.exception("delivery %s could not be prepared", delivery.pk)
        return Outcome(error="the delivery could not be prepared (see the worker's log)", final=True)


def _attempt(request: tuple | Outcome | None) -> Outcome:
    """One attempt (in a pool thread: no database here)."""
    if isinstance(request, Outcome):
        return request
    if request is None:
        return Outcome(error="the webhook was removed", final=True)
    try:
        if request[0] == "email":
            _, subject, body, address = request
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
            return Outcome(ok=True)
        _, url, body, headers = request
        answer = outbound.post(
            url, body, headers, timeout=_timeout(), max_bytes=int(_setting("DELIVERY_RESPONSE_BYTES", 2000))
        )
    except outbound.OutboundRefused as error:
        return Outcome(error=error.message[:500], final=True)
    except outbound.OutboundFailed as error:
        return Outcome(error=str(error)[:500])
    except Exception as error:  # an SMTP server's refusal, a bug: logged, retried like any failure
        log.exception("delivery failed")
        return Outcome(error=f"{type(error).__name__}: {error}"[:500])
    text = answer.body.decode("utf-8", "replace").replace("\x00", "")
    ok = 200 <= answer.status < 300
    return Outcome(
        ok=ok,
        status_code=answer.status,
        response=text + ("…" if answer.truncated else ""),
        error="" if ok else f"answered {answer.status}",
    )


def _record(delivery: Delivery, outcome: Outcome, now: dt.datetime) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.status_code = outcome.status_code
    delivery.response = outcome.response
    delivery.error = outcome.error
    delays = retry_delays()
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = Delivery.Status.DELIVERED, now, None
    elif outcome.final or delivery.attempts > len(delays):
        delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
    else:
        delivery.next_attempt_at = now + dt.timedelta(seconds=delays[delivery.attempts - 1])
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "status_code",
            "response",
            "error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )


def _claim(now: dt.datetime, limit: int) -> list[Delivery]:
    """The due deliveries, leased for as long as sending them all may take (each attempt at most
    twice the timeout: connecting, then the answer): due again only if it is never recorded."""
    rounds = -(-limit // CONCURRENCY)
    lease = now + dt.timedelta(seconds=rounds * 2 * _timeout() * 1.5 + 1)
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:limit]
        )
        Delivery.objects.filter(pk__in=[d.pk for d in due]).update(next_attempt_at=lease)
    return due


def send_due(now: dt.datetime | None = None, limit: int = BATCH) -> int:
    """Attempt the deliveries due at `now` (at most `limit`); returns how many were attempted."""
    now = now or timezone.now()
    due = _claim(now, limit)
    if not due:
        return 0
    requests = [_prepared(delivery, now) for delivery in due]
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(due)), thread_name_prefix="delivery") as pool:
        outcomes = list(pool.map(_attempt, requests))
    for delivery, outcome in zip(due, outcomes):
        _record(delivery, outcome, now)
    return len(due)


def purge(now: dt.datetime | None = None) -> int:
    """Delete the finished deliveries older than ANALYTICS["DELIVERY_RETENTION_DAYS"] (0: keep
    them); returns how many."""
    days = float(_setting("DELIVERY_RETENTION_DAYS", 30))
    if not days:
        return 0
    before = (now or timezone.now()) - dt.timedelta(days=days)
    finished = Delivery.objects.filter(created_at__lt=before).exclude(status=Delivery.Status.PENDING)
    return finished.delete()[0]


def run(stop: threading.Event) -> None:
    """The sender's loop (a thread of the worker) until `stop` is set: the due deliveries, then a
    wait for new ones (woken at once by this process's queue, or after DELIVERY_POLL_SECONDS);
    the old ones purged every hour."""
    poll = float(_setting("DELIVERY_POLL_SECONDS", 1.0))
    purge_due = time.monotonic()
    try:
        while not stop.is_set():
            close_old_connections()  # one lost (a database restart) is replaced, not reused
            try:
                if time.monotonic() >= purge_due:
                    purge_due = time.monotonic() + 3600
                    purge()
                if send_due() == BATCH:
                    continue  # more may be due
            except Exception:
                log.exception("sending deliveries failed; retrying in %s s", poll)
            wake.wait(poll)
            wake.clear()
    finally:
        connections.close_all()

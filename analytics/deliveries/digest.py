"""Notifications by e-mail, batched: each is queued (QueuedEmail) and the worker sends one e-mail per
person gathering all of theirs once the oldest has waited NOTIFICATION_EMAIL_BATCH_SECONDS (60), so
a busy minute of mentions is one e-mail, not twenty. Through Django's e-mail backend.

A person's queued e-mails are claimed with a lease before sending (another worker skips them), and
deleted once sent: a worker that dies mid-send leaves them to be sent again when the lease ends (at
least once)."""

import datetime as dt
import logging
import threading

from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections, connections, transaction
from django.db.models import Min, Q
from django.utils import timezone

from accounts.models import User
from analytics.models import QueuedEmail

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=5)
MOST_LISTED = 50  # an e-mail lists this many; the rest are counted


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


def batch_seconds() -> float:
    return float(_setting("NOTIFICATION_EMAIL_BATCH_SECONDS", 60))


def enqueue(*, user_ids: list[int], kind: str, text: str, link: str = "") -> None:
    """Queue `text` (and where it leads) for each of `user_ids`' next digest, in the caller's transaction."""
    now = timezone.now()
    QueuedEmail.objects.bulk_create(
        QueuedEmail(user_id=user_id, kind=kind, text=text[:1000], link=link[:500], created_at=now)
        for user_id in user_ids
    )


def _free(now: dt.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _due_users(now: dt.datetime) -> list[int]:
    oldest = now - dt.timedelta(seconds=batch_seconds())
    found = QueuedEmail.objects.filter(_free(now)).values("user_id").annotate(first=Min("created_at"))
    return [row["user_id"] for row in found.filter(first__lte=oldest)[:100]]


def _claim(user_id: int, now: dt.datetime) -> list[QueuedEmail]:
    with transaction.atomic():
        queued = list(
            QueuedEmail.objects.select_for_update(skip_locked=True).filter(_free(now), user_id=user_id).order_by("id")
        )
        QueuedEmail.objects.filter(pk__in=[q.pk for q in queued]).update(claimed_until=now + LEASE)
    return queued


def _absolute(link: str) -> str:
    return f"{settings.GRIDCAST['PUBLIC_URL']}{link}" if link.startswith("/") else link


def digest_text(queued: list[QueuedEmail]) -> tuple[str, str]:
    """(subject, body) of one person's digest."""
    subject = f"Gridcast: {queued[0].text[:150]}" if len(queued) == 1 else f"Gridcast: {len(queued)} notifications"
    lines = [f"- {q.text}" + (f"\n  {_absolute(q.link)}" if q.link else "") for q in queued[:MOST_LISTED]]
    if len(queued) > MOST_LISTED:
        lines.append(f"… and {len(queued) - MOST_LISTED} more: see the bell in Gridcast.")
    footer = f"\n\nChoose what reaches you by e-mail: {_absolute('/account/notifications/')}"
    return subject.replace("\n", " "), "\n".join(lines) + footer


def _send(user_id: int, queued: list[QueuedEmail]) -> bool:
    """Mail them to the person (not to one made inactive since) and drop them; True if mailed."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        subject, body = digest_text(queued)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    QueuedEmail.objects.filter(pk__in=[q.pk for q in queued]).delete()
    return user is not None


def send_due(now: dt.datetime | None = None) -> int:
    """Send the digest of everyone whose oldest queued notification has waited long enough; returns
    how many e-mails went out. A failure leaves that person's queued for the lease to end."""
    now = now or timezone.now()
    sent = 0
    for user_id in _due_users(now):
        queued = _claim(user_id, now)
        if not queued:
            continue
        try:
            sent += _send(user_id, queued)
        except Exception:
            log.exception("notification e-mail to user %s failed; retried in %s", user_id, LEASE)
    return sent


def run(stop: threading.Event) -> None:
    """The digests' loop (a thread of the worker) until `stop` is set."""
    poll = float(_setting("NOTIFICATION_EMAIL_POLL_SECONDS", 5.0))
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                send_due()
            except Exception:
                log.exception("sending notification e-mails failed; retrying in %s s", poll)
            stop.wait(poll)
    finally:
        connections.close_all()

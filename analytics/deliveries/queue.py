"""Queueing deliveries: rows of Delivery, due at once, sent by the worker's sender after the commit
(woken at once in this process, found by its poll in another)."""

import threading

from django.db import transaction
from django.utils import timezone

from analytics.models import Delivery

wake = threading.Event()


def enqueue(deliveries: list[Delivery]) -> list[Delivery]:
    """Store `deliveries` (unsaved Delivery objects), due now; the sender is woken on commit."""
    if not deliveries:
        return []
    now = timezone.now()
    for delivery in deliveries:
        delivery.status = Delivery.Status.PENDING
        delivery.next_attempt_at = now
    created = Delivery.objects.bulk_create(deliveries)
    transaction.on_commit(wake.set)
    return created

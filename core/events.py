"""Announcing what happened to whoever subscribed (Django signals between apps and domains): a
subscriber's failure is logged, never raised, because what is announced is done already (committed
data, stored events) and the other subscribers still run."""

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)


def announce(signal: Signal, sender: Any, what: str, **kwargs: Any) -> None:
    """Send `signal` to every receiver; `what` names the announcement in the log of a failure."""
    for receiver, outcome in signal.send_robust(sender=sender, **kwargs):
        if isinstance(outcome, Exception):
            log.error(
                "%s: %s failed",
                what,
                getattr(receiver, "__qualname__", receiver),
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )


def announce_on_commit(signal: Signal, sender: Any, what: str, **kwargs: Any) -> None:
    """announce() once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: announce(signal, sender, what, **kwargs))

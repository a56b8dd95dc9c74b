"""The Announcer: tells whoever subscribed (signals.cells_written, signals.periodic_pass_due) what the
writer applied, from a thread of its own, so that the writer only hands over what it applied."""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

from analytics.lake import connections as lake_connections
from core import events

from . import signals

log = logging.getLogger(__name__)


def announce(applied: dict[int, int]) -> None:
    """New data of these sheets (id -> workspace id) is in the lake: tell the subscribers of
    signals.cells_written (live dashboards recompute, the sheets' alert rules are evaluated)."""
    events.announce(signals.cells_written, Announcer, f"new data of sheets {sorted(applied)}", applied=applied)


def periodic_pass(between: Callable[[], None] | None = None) -> None:
    """The periodic pass (ANALYTICS["ALERT_INTERVAL"]): signals.periodic_pass_due, `between()`
    running between the turns of a long pass."""
    events.announce(signals.periodic_pass_due, Announcer, "the periodic pass", between=between)


class Announcer:
    """announce() and the periodic pass, in a thread of their own: a push and the rules'
    queries take milliseconds, and batches come every few tens of milliseconds, so the writer
    only hands over what it applied. Sheets applied while an announcement runs go in the next."""

    def __init__(self, stop):
        self.stop, self.wake, self.lock, self.pending = stop, threading.Event(), threading.Lock(), {}
        self.thread = threading.Thread(target=self._run, name="lake-announcer", daemon=True)
        self.thread.start()

    def add(self, applied: dict[int, int]) -> None:
        with self.lock:
            self.pending.update(applied)
        self.wake.set()

    def _announce_pending(self):
        """Announce the sheets applied so far (also between the turns of a long alert pass)."""
        with self.lock:
            applied, self.pending = self.pending, {}
        if applied:
            announce(applied)

    def _run(self):
        interval = settings.ANALYTICS.get("ALERT_INTERVAL", 5.0)
        alerts_due = time.monotonic()
        try:
            while not self.stop.is_set():
                close_old_connections()  # one a database restart broke is replaced, not reused for ever
                if interval and time.monotonic() >= alerts_due:
                    alerts_due = time.monotonic() + interval
                    periodic_pass(between=self._announce_pending)
                self.wake.wait(max(0.0, alerts_due - time.monotonic()) if interval else 1.0)
                self.wake.clear()
                with self.lock:
                    applied, self.pending = self.pending, {}
                if applied:
                    announce(applied)
        finally:
            lake_connections.close()  # the lake connection of this thread's rule evaluations
            connections.close_all()

    def join(self, timeout: float = 30) -> None:
        self.wake.set()
        self.thread.join(timeout)

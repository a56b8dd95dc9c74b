"""The worker loop (`manage.py analytics_worker`, or a thread of the embedded server): the writer's
batches and compactions, and beside them the Announcer, the lake's maintenance and the metric rollup."""

import functools
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

from analytics.deliveries import digest, sender
from analytics.lake import maintenance
from analytics.lake.connections import close_quietly, postgres_conninfo
from analytics.metrics import retention, rollup
from core import metrics

from .announcer import Announcer
from .wakeup import Wakeup
from .writer import Writer

log = logging.getLogger(__name__)


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


def run(
    stop: threading.Event,
    interval: float | None = None,
    on_progress: Callable[[Writer, int], None] | None = None,
) -> None:
    """The worker loop: a batch every `interval` seconds (less when behind), a compaction when one
    is due, until `stop` (a threading.Event) is set; beside it the Announcer (dashboards and alert
    rules of the sheets applied, every alert rule every ALERT_INTERVAL seconds), the lake's
    maintenance, the metric rollup (analytics/metrics/rollup.py) and the sender of deliveries to
    contact points (analytics/deliveries/sender.py) and the digests of notifications by e-mail
    (analytics/deliveries/digest.py). Errors are logged and retried after a pause."""
    interval = interval if interval is not None else _setting("WRITER_INTERVAL", 0.02)
    writer = None
    announcer = Announcer(stop)
    helpers = []
    # A SQLite catalog takes one writer at a time: there the writer's loop refreshes the rollup on
    # its own connection, rather than one more connection contending for the file.
    rollup_every = _setting("ROLLUP_SECONDS", 2.0)
    rollup_due = None if postgres_conninfo() or not rollup_every else time.monotonic()
    for loop, every, name in (
        # The metric retention is a pass of the lake's upkeep: the files it frees expire in its loop.
        (
            functools.partial(maintenance.run, passes=(retention.Pass(),)),
            _setting("MAINTENANCE_SECONDS", 5.0),
            "lake-maintenance",
        ),
        (rollup.run, rollup_every if rollup_due is None else 0, "metric-rollup"),
        (sender.run, _setting("DELIVERY_POLL_SECONDS", 1.0), "deliveries"),
        (digest.run, _setting("NOTIFICATION_EMAIL_POLL_SECONDS", 5.0), "notification-emails"),
    ):
        if every:
            helpers.append(threading.Thread(target=loop, args=(stop,), name=name, daemon=True))
            helpers[-1].start()
    wakeup = None
    try:
        while not stop.is_set():
            try:
                if writer is None:
                    writer = Writer()
                    wakeup = Wakeup(stop, interval)
                    log.info("analytics writer started at batch %s with %s sheets", writer.batch, len(writer.states))
                started = time.perf_counter()
                applied = writer.step()
                metrics.worker_step.observe(time.perf_counter() - started)
                metrics.worker_heartbeat.set_to_current_time()
                if on_progress and applied:
                    on_progress(writer, applied)
                if writer.applied:
                    announcer.add(writer.take_applied())
                if applied < writer.max_ops:
                    if writer.lock is not None:
                        writer.compact_in_background()
                    else:
                        writer.compact()
                if rollup_due is not None and time.monotonic() >= rollup_due:
                    rollup_due = time.monotonic() + rollup_every
                    try:
                        rollup.timed_refresh(writer.con)
                    except Exception:  # the sheets' batches go on; the next refresh folds these too
                        log.exception("metric rollup failed; retrying in %s s", rollup_every)
                writer.renew_connection()
                if not applied:
                    wakeup.wait()
            except Exception:
                log.exception("analytics writer failed; retrying in 2 s")
                metrics.worker_failures.inc()
                close_quietly(writer, wakeup)
                writer = wakeup = None
                close_old_connections()  # one a database restart broke is replaced, not reused for ever
                stop.wait(2.0)
    finally:
        for resource in (writer, wakeup):
            if resource is not None:
                resource.close()
        announcer.join()
        for helper in helpers:
            helper.join(timeout=30)
        connections.close_all()

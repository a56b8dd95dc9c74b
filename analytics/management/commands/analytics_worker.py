"""`manage.py analytics_worker`: write sheet data through to DuckLake (writer + compactor) until
SIGTERM or SIGINT."""

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from analytics.writethrough.worker import run
from core import metrics

log = logging.getLogger("analytics.worker")


class Command(BaseCommand):
    help = "Follow the operation log into DuckLake (events, compaction, per-sheet views) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=None, help="seconds between batches when idle")

    def handle(self, *args, interval, verbosity, **options):
        if verbosity and not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO if verbosity > 0 else logging.WARNING,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        totals = {"ops": 0, "since": time.monotonic()}

        def progress(writer, applied):
            totals["ops"] += applied
            now = time.monotonic()
            if now - totals["since"] >= 10:
                log.info(
                    "applied %s operations in %.0f s (batch %s, %s sheets)",
                    totals["ops"],
                    now - totals["since"],
                    writer.batch,
                    len(writer.states),
                )
                totals.update(ops=0, since=now)

        if settings.WORKER_METRICS_PORT:  # its own /metrics (docs/operations.md)
            metrics.serve(settings.WORKER_METRICS_PORT, settings.WORKER_METRICS_ADDR)
            log.info("metrics on %s:%s", settings.WORKER_METRICS_ADDR, settings.WORKER_METRICS_PORT)
        log.info("analytics worker running; SIGTERM stops it")
        run(stop, interval=interval, on_progress=progress)
        log.info("analytics worker stopped")

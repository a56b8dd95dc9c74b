"""Wakeup: what the idle worker waits on (a LISTEN on PostgreSQL, else a plain interval)."""

import time

import psycopg
from django.db import connection as db


class Wakeup:
    """What the idle worker waits on: with PostgreSQL, the NOTIFY that every change of
    sheets_sheet sends (migration analytics 0005), so a batch starts as soon as an edit commits
    and the poll every `interval` is only a fallback; otherwise the interval alone."""

    CHANNEL = "gridcast_sheets"
    FALLBACK = 0.5  # seconds between polls when notifications wake the worker

    def __init__(self, stop, interval):
        self.stop, self.interval, self.pg = stop, interval, None
        if db.vendor == "postgresql":
            params = db.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self.pg = psycopg.connect(**params, autocommit=True)
            self.pg.execute(f"LISTEN {self.CHANNEL}")
            self.interval = max(interval, self.FALLBACK)

    def wait(self) -> None:
        """Until a sheet changes, `interval` passes or `stop` is set."""
        if self.pg is None:
            self.stop.wait(self.interval)
            return
        deadline = time.monotonic() + self.interval
        while not self.stop.is_set() and time.monotonic() < deadline:
            # In slices, so that `stop` is seen within 0.1 s.
            if any(
                True for _ in self.pg.notifies(timeout=min(0.1, max(0.0, deadline - time.monotonic())), stop_after=1)
            ):
                for _ in self.pg.notifies(timeout=0.0):  # the others queued meanwhile: one batch serves them all
                    pass
                break

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()

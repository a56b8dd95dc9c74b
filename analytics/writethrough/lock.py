"""WriterLock: the single-writer guard of a PostgreSQL catalog (see analytics/writethrough/__init__.py)."""

import time
from typing import Self

import psycopg

from analytics.lake.connections import postgres_conninfo


class WriterLock:
    """The single-writer guard of a PostgreSQL catalog: a session advisory lock taken around each
    transaction that writes sheet data, on a psycopg connection of its own (a crashed holder's
    lock goes with its connection), and a generation counter bumped under the lock before each
    such transaction. `acquire()` returns True when someone else bumped it since this holder's
    last bump (then the holder's idea of the lake is stale: reload it)."""

    KEY = 0x47726964636173  # "Gridcas"

    def __init__(self, conninfo):
        self.pg = psycopg.connect(conninfo, autocommit=True)
        self.seen = None
        self.held = False
        for attempt in range(5):
            try:
                self.pg.execute(
                    "CREATE TABLE IF NOT EXISTS ducklake.gridcast_writer (id INTEGER PRIMARY KEY,"
                    " generation BIGINT NOT NULL)"
                )
                self.pg.execute("INSERT INTO ducklake.gridcast_writer VALUES (1, 0) ON CONFLICT DO NOTHING")
                break
            except psycopg.errors.UniqueViolation:  # created by another process at the same moment
                if attempt == 4:
                    raise
                time.sleep(0.05)

    @classmethod
    def open(cls) -> Self | None:
        """A lock for this catalog, or None when the catalog is not PostgreSQL."""
        conninfo = postgres_conninfo()
        return cls(conninfo) if conninfo else None

    def acquire(self) -> bool:
        self.pg.execute("SELECT pg_advisory_lock(%s)", [self.KEY])
        self.held = True
        try:
            generation = self.pg.execute(
                "UPDATE ducklake.gridcast_writer SET generation = generation + 1 WHERE id = 1 RETURNING generation"
            ).fetchone()[0]
        except BaseException:
            self.release()
            raise
        stale = self.seen is None or generation != self.seen + 1
        self.seen = generation
        return stale

    def release(self) -> None:
        if self.held:
            self.held = False
            self.pg.execute("SELECT pg_advisory_unlock(%s)", [self.KEY])

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.pg.close()

"""Retention of metric events (downsampling): per workspace (Workspace.metric_retention_days), the
raw events older than the cutoff are deleted from `metric_events` once the rollup holds them, while
their per-minute and per-hour rollup rows stay; then DuckLake rewrites the files they leave mostly
empty, and the worker's lake upkeep (lake/maintenance.py) deletes the old files once their
snapshots expire.

- The cutoff is `now - days`, rounded down to a whole hour (both rollup grains end there).
- Only events the rollup has folded are deleted (rollup.unfolded(): the snapshots up to its
  watermark). An old event that arrived late waits for the next refresh and the next pass.
- Per workspace, one lake transaction deletes them and moves the workspace's horizon in
  `metric_retention` (schema.RETENTION_TABLE): before it, aggregates answer from the rollup
  (queries/metric_aggregates.py). Another workspace's events are never in the DELETE's reach.
- The rewrite re-stamps the rows it copies with its own snapshot id: rollup.rewrite_begin marks it
  pending first, so that neither a refresh nor an aggregate takes them for new events.

The analytics worker's maintenance loop runs `Pass` every ANALYTICS["RETENTION_SECONDS"];
`manage.py apply_retention [--workspace ID] [--dry-run]` runs `apply` by hand.
"""

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
from django.conf import settings
from django.db import connections

from accounts.models import Workspace
from analytics.lake import connections as lake

from . import rollup, schema
from .schema import RETENTION_TABLE, TABLE

log = logging.getLogger(__name__)

HOUR_US = 3600 * 1_000_000
# The rewrite's default share of deleted rows above which a file of metric_events is rewritten.
REWRITE_THRESHOLD = 0.5


@dataclass
class Outcome:
    """What a pass did (or, dry, would do) to one workspace's events."""

    workspace_id: int
    days: int
    cutoff: dt.datetime
    deleted: int  # raw events older than the cutoff and in the rollup: deleted (or to delete)
    waiting: int  # older than the cutoff but not folded yet: kept until a later pass


@dataclass
class Reclaimed:
    files_rewritten: int = 0
    files_created: int = 0
    skipped: str = ""  # why no rewrite ran, when one was due


def cutoff_us(days: int, now: dt.datetime | None = None) -> int:
    """Epoch microseconds of `now - days`, rounded down to a whole hour."""
    moment = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    micros = int(moment.timestamp()) * 1_000_000
    return micros // HOUR_US * HOUR_US


def targets(workspace_id: int | None = None) -> list[tuple[int, int]]:
    """[(workspace id, days)] of the workspaces with a retention (or just the one asked for)."""
    workspaces = Workspace.objects.filter(metric_retention_days__isnull=False)
    if workspace_id is not None:
        workspaces = workspaces.filter(pk=workspace_id)
    return list(workspaces.order_by("pk").values_list("pk", "metric_retention_days"))


def workspace_apply(
    con: duckdb.DuckDBPyConnection,
    *,
    workspace_id: int,
    days: int,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Delete the workspace's folded raw events older than its cutoff, and move its horizon, in one
    lake transaction (dry: count them only)."""
    cutoff = cutoff_us(days, now)
    old = f"workspace_id = {int(workspace_id)} AND ts < make_timestamp({int(cutoff)})::TIMESTAMPTZ"
    with lake.snapshot(con) if dry_run else lake.transaction(con):
        pending = rollup.unfolded(con)
        deleted, waiting = con.execute(
            f"SELECT count(*) FILTER (WHERE NOT ({pending})), count(*) FILTER (WHERE {pending}) "
            f"FROM {TABLE} WHERE {old}"
        ).fetchone()
        if deleted and not dry_run:
            con.execute(f"DELETE FROM {TABLE} WHERE {old} AND NOT ({pending})")
            before, total = con.execute(
                f"SELECT coalesce(max(horizon), 0), coalesce(sum(deleted), 0) FROM {RETENTION_TABLE} "
                "WHERE workspace_id = ?",
                [workspace_id],
            ).fetchone()
            con.execute(f"DELETE FROM {RETENTION_TABLE} WHERE workspace_id = ?", [workspace_id])
            con.execute(
                f"INSERT INTO {RETENTION_TABLE} VALUES (?, ?, ?, now())",
                [workspace_id, max(before, cutoff), total + deleted],
            )
    return Outcome(
        workspace_id=workspace_id,
        days=days,
        cutoff=dt.datetime.fromtimestamp(cutoff / 1_000_000, dt.UTC),
        deleted=deleted,
        waiting=waiting,
    )


def reclaim(con: duckdb.DuckDBPyConnection, threshold: float | None = None) -> Reclaimed:
    """Rewrite the files of metric_events that deletes left at least `threshold` empty (a file whose
    rows are all deleted is dropped by DuckLake itself). The files they replace are deleted by the
    lake's upkeep once their snapshots expire. Call with the rollup's refreshes held."""
    threshold = (
        settings.ANALYTICS.get("RETENTION_REWRITE_THRESHOLD", REWRITE_THRESHOLD) if threshold is None else threshold
    )
    catalog, table = TABLE.split(".")
    files = f"SELECT data_file FROM ducklake_list_files('{catalog}', '{table}') WHERE delete_file IS NOT NULL"
    if not con.execute(f"SELECT count(*) FROM ({files})").fetchone()[0]:
        return Reclaimed()
    rollup.refresh(con)
    # A rewritten row is taken as folded: a file holding events not folded yet waits for a pass
    # after the next refresh (only a merge of fresh events with old ones makes one).
    with lake.snapshot(con):
        unfolded = con.execute(
            f"SELECT count(*) FROM {TABLE} WHERE {rollup.unfolded(con)} AND filename IN ({files})"
        ).fetchone()[0]
    if unfolded:
        return Reclaimed(skipped=f"{unfolded} events of files to rewrite are not in the rollup yet")
    rollup.rewrite_begin(con)
    try:
        with lake.transaction(con):
            con.execute(f"CALL {catalog}.set_commit_message('gridcast', 'metric retention: files rewritten')")
            rewritten = con.execute(
                f"SELECT coalesce(sum(files_processed), 0), coalesce(sum(files_created), 0) FROM "
                f"ducklake_rewrite_data_files('{catalog}', '{table}', delete_threshold => {float(threshold)})"
            ).fetchone()
    finally:
        rollup.refresh(con, rewrite_done=True)
    return Reclaimed(files_rewritten=int(rewritten[0]), files_created=int(rewritten[1]))


def apply(
    con: duckdb.DuckDBPyConnection,
    *,
    workspace_id: int | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    wait: float = 0.0,
    on_workspace: Callable[[Outcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> tuple[list[Outcome], Reclaimed] | None:
    """One retention pass over the workspaces with a retention (or the one asked for), then the
    rewrite of the files left mostly empty. None when another worker's rollup refresh or
    retention pass held the lock for `wait` seconds."""
    schema.ensure_table(con)
    chosen = targets(workspace_id)
    if on_start:
        on_start(len(chosen))
    # A SQLite catalog: one writer at a time across processes (the embedded worker refreshes the
    # rollup without the PostgreSQL lock); nothing with a PostgreSQL catalog.
    with lake.write_lock(), rollup.refreshes_held(wait) as held:
        if not held:
            return None
        # Everything committed so far in the rollup first (and a mark left by a pass that died
        # during its rewrite cleared): then every old event is deleted in this pass.
        rollup.refresh(con, rewrite_done=not dry_run)
        outcomes = []
        for ws, days in chosen:
            outcome = workspace_apply(con, workspace_id=ws, days=days, now=now, dry_run=dry_run)
            outcomes.append(outcome)
            if on_workspace:
                on_workspace(outcome)
        reclaimed = Reclaimed() if dry_run else reclaim(con)
    return outcomes, reclaimed


class Pass:
    """The retention as a pass of the worker's maintenance loop: apply() every `every` seconds
    (ANALYTICS["RETENTION_SECONDS"]; 0: never), the first at the loop's first round."""

    def __init__(self, every: float | None = None):
        self.every = settings.ANALYTICS.get("RETENTION_SECONDS", 3600.0) if every is None else every
        self.due = time.monotonic()

    def __call__(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.every or time.monotonic() < self.due:
            return
        started = time.perf_counter()
        try:
            result = apply(con)
        finally:
            connections.close_all()  # this thread's: not held open until the next pass
        if result is None:
            self.due = time.monotonic() + 5  # another worker holds the rollup: soon again
            return
        self.due = time.monotonic() + self.every
        outcomes, reclaimed = result
        deleted = sum(o.deleted for o in outcomes)
        if deleted or reclaimed.files_rewritten:
            log.info(
                "metric retention: %s events of %s workspace(s) deleted, %s files rewritten in %.0f ms",
                deleted,
                sum(1 for o in outcomes if o.deleted),
                reclaimed.files_rewritten,
                (time.perf_counter() - started) * 1000,
            )
        if reclaimed.skipped:
            log.info("metric retention: no rewrite this pass (%s)", reclaimed.skipped)

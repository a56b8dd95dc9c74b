"""Recomputing formula columns over every row of a sheet: when one is added, its formula changes or
a column it reads is deleted or comes back (columns.py, undo.py), and when the day changes under
TODAY()/NOW().

- A sheet of at most FORMULA_INLINE_ROWS rows is recomputed in the operation that changed the
  column: its payload carries the values ("computed": {column key: {row id: value}}), or, beyond
  RECOMPUTE_VALUES_IN_PAYLOAD values, "reload": true.
- A larger one in the background: the operation commits at once with "recompute": {"columns",
  "done": 0, "total"}, and the cells keep what they held (a new column's are empty) until their
  batch replaces them. A background job (a django-tasks task saved with the operation, run by a
  jobs worker, core.jobs: never a thread of the web process) then computes
  FORMULA_RECOMPUTE_BATCH rows (5,000) a transaction: it takes the sheet lock as an edit does
  (operations.next_version), reads the rows as they are now, writes the formula cells that
  changed and appends a "formulas.compute" operation ({"columns", "computed", "done", "total"})
  whose broadcast brings the values and the progress to the open grids (and the values to the
  lake). It also reads the next batch under
  that lock and computes it while this one is written; the next transaction uses it only if
  nothing was written to the sheet in between (its version follows), else reads it again. Edits
  are serialized with the batches by that lock and compute their own rows' formulas, so an edit
  is never lost nor overwritten by a stale result. REST reads during a recompute return what is
  stored: rows not reached yet have their former values.
- What is left is kept in FormulaRecompute (the columns, the last row id done, the token of the job
  that runs it). A start while one runs supersedes it (their columns join, from the first row
  again; the older job stops at its next batch). A recompute whose job died with its worker is
  queued again at once by the jobs worker's sweep (`recompute_swept`), to go on where it stopped;
  one whose job is not queued and whose heartbeat is older than FORMULA_RECOMPUTE_STALE_SECONDS
  (its worker hangs, or is on a host the sweep cannot see) when its sheet is opened
  (`sheet_opened`) or at the sweep's tick.
- TODAY()/NOW() columns (options "volatile") are computed on each edit of their row, and for every
  row when the UTC day changes: `volatile_refresh` starts a background recompute of a sheet's
  volatile columns when FormulaRecompute.volatile_day is not today, on the sheet's open and every
  FORMULA_TICKER_SECONDS from the jobs worker's sweep (`formulas_tick`).
"""

import logging
import math
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks import task
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.base import TaskResultStatus

from core import jsonio
from core.errors import NotFound
from core.sql import bound_cursor

from .. import column_types
from ..models import Column, FormulaRecompute, Operation, Row, Sheet
from .formulas import SheetFormulas, columns_of, compute_rows, write_patches
from .operations import next_version, operations_append

log = logging.getLogger(__name__)

RECOMPUTE_VALUES_IN_PAYLOAD = 10_000
KIND = "formulas.compute"


def _setting(name: str, default: float) -> float:
    return settings.GRIDCAST.get(name, default)


def _batch() -> int:
    return int(_setting("FORMULA_RECOMPUTE_BATCH", 5_000))


def _formulas(sheet_id: int) -> SheetFormulas:
    return SheetFormulas(columns_of({c.key: c for c in Column.objects.filter(sheet_id=sheet_id, deleted=False)}))


@dataclass
class Batch:
    """Rows of a sheet as JSON text, [[row id, {key: value}], ...], parsed by `_compute` (in the
    thread that computes the batch read ahead while the one before is written): on PostgreSQL one
    value, which orjson reads in a fraction of the time of a row at a time."""

    count: int
    last: int
    text: str


_ROWS_SQL = """
SELECT count(*), max(id), json_agg(json_build_array(id, data) ORDER BY id)::text FROM (
  SELECT id, jsonb_build_object({pairs}) AS data FROM {table}
   WHERE sheet_id = %s AND id > %s ORDER BY id LIMIT %s) AS batch
"""


def _rows(sheet_id: int, after: int, count: int, keys: set[str]) -> Batch | None:
    """The next `count` rows after row id `after` (None: there are none), with the `keys` of their
    data that the formulas read (all of it elsewhere than on PostgreSQL)."""
    if connection.vendor != "postgresql" or len(keys) > 50:  # (jsonb_build_object: 100 arguments)
        rows = Row.objects.filter(sheet_id=sheet_id, pk__gt=after).order_by("pk").values_list("pk", "data")
        rows = list(rows[:count])
        return Batch(len(rows), rows[-1][0], jsonio.dumps_db(rows)) if rows else None
    pairs = ", ".join(["%s::text, data -> %s::text"] * len(keys))
    with bound_cursor() as cursor:
        cursor.execute(
            _ROWS_SQL.format(pairs=pairs, table=Row._meta.db_table),
            [part for key in sorted(keys) for part in (key, key)] + [sheet_id, after, count],
        )
        found, last, text = cursor.fetchone()
    return Batch(found, last, text) if found else None


def _compute(formulas: SheetFormulas, batch: Batch | None, only: set[str] | None) -> tuple[set, list, dict]:
    """The batch's row ids, and its formula cells computed (see compute_rows)."""
    rows = jsonio.loads_db(batch.text) if batch else []
    return {pk for pk, _ in rows}, *compute_rows(formulas, rows, only)


def recompute(sheet: Sheet, only: set[str]) -> dict:
    """Recompute the formula columns `only` (and the formulas reading them) of every row, under
    the sheet lock of the operation that asked; returns the payload's part (see the module)."""
    if not only:
        return {}
    _mark_volatile_day(sheet.pk, only)
    total = Row.objects.filter(sheet_id=sheet.pk).count()
    if total > _setting("FORMULA_INLINE_ROWS", 2_000):
        return {"recompute": _start(sheet.pk, only, total)}
    formulas, computed, count, last = _formulas(sheet.pk), {}, 0, 0
    while formulas and (batch := _rows(sheet.pk, last, _batch(), formulas.reads(only))):
        last = batch.last
        _, patches, values = _compute(formulas, batch, only)
        write_patches(patches)
        for key, column in values.items():
            count += len(column)
            if count <= RECOMPUTE_VALUES_IN_PAYLOAD:
                computed.setdefault(key, {}).update(column)
    return {"reload": True} if count > RECOMPUTE_VALUES_IN_PAYLOAD else {"computed": computed}


def _volatile_keys(sheet_id: int) -> set[str]:
    return set(
        Column.objects.filter(
            sheet_id=sheet_id, deleted=False, type=column_types.FORMULA, options__volatile=True
        ).values_list("key", flat=True)
    )


def _mark_volatile_day(sheet_id: int, only: set[str]) -> None:
    """Volatile columns computed now are computed for today."""
    if only & _volatile_keys(sheet_id):
        FormulaRecompute.objects.update_or_create(sheet_id=sheet_id, defaults={"volatile_day": timezone.now().date()})


def _start(sheet_id: int, only: set[str], total: int) -> dict:
    """Persist a recompute of `only` (joining the columns of one in progress, which it supersedes)
    and queue its job in the same transaction; its progress as the payload shows it."""
    state, _ = FormulaRecompute.objects.select_for_update().get_or_create(sheet_id=sheet_id)
    state.columns = sorted(set(state.columns) | set(only))
    state.after, state.done, state.total = 0, 0, total
    state.token, state.heartbeat_at = uuid.uuid4().hex, timezone.now()
    state.save()
    _launch(sheet_id, state.token)
    return state.progress()


def _launch(sheet_id: int, token: str) -> None:
    """Queue the job of the recompute with this token (in the caller's transaction)."""
    recompute_job.enqueue(sheet_id=sheet_id, token=token)


class Superseded(Exception):
    """The recompute is no longer this runner's (superseded, resumed elsewhere, or the sheet gone)."""


@task()
def recompute_job(sheet_id: int, token: str) -> None:
    """The background job of a recompute (run by a jobs worker, core.jobs)."""
    recompute_run(sheet_id, token)


def recompute_run(sheet_id: int, token: str) -> None:
    """Run the recompute with this token to its end, a batch per transaction; nothing when it was
    superseded meanwhile. A failure leaves it to be resumed (see the module)."""
    try:
        close_old_connections()
        # The next batch's formulas are computed while this one is written: two cores at work.
        with ThreadPoolExecutor(1, thread_name_prefix=f"gridcast-recompute-{sheet_id}-") as pool:
            ahead = _step(sheet_id, token, None, pool)
            while ahead:
                ahead = _step(sheet_id, token, ahead, pool)
    except (Superseded, NotFound):  # NotFound: the sheet is gone
        pass
    except Exception:
        log.exception("recompute of the formulas of sheet %s failed (it is resumed later)", sheet_id)


def _written_since(sheet_id: int, since: int, version: int) -> set[int] | None:
    """The rows whose cells were edited after version `since` (before this batch's `version`), or
    None when anything else was written meanwhile (rows, columns: the batch read ahead is void)."""
    written = set()
    between = Operation.objects.filter(sheet_id=sheet_id, version__gt=since, version__lt=version)
    for kind, payload in between.values_list("kind", "payload") if version - since > 1 else ():
        if kind != "cells.update":
            return None
        written.update(cell["row"] for cell in payload.get("cells", []))
    return written


def _read_again(
    formulas: SheetFormulas, only: set[str], ids: set[int], patches: list[dict], computed: dict
) -> tuple[list[dict], dict]:
    """The batch's results with the rows `ids` (edited since it was read) read and computed again."""
    fresh = list(Row.objects.filter(pk__in=ids).values_list("pk", "data"))
    patches_again, computed_again = compute_rows(formulas, fresh, only)
    patches = [patch for patch in patches if patch[0] not in ids] + patches_again
    stale = {str(pk) for pk in ids}
    for values in computed.values():
        for row in stale & values.keys():
            del values[row]
    for key, values in computed_again.items():
        computed.setdefault(key, {}).update(values)
    return patches, computed


@dataclass
class Ahead:
    """The next batch's rows, read under the lock of the batch before (at `version`), and their
    formula cells being computed meanwhile (while that batch is written)."""

    version: int
    batch: Batch
    computing: Future | None


def _step(
    sheet_id: int, token: str, ahead: Ahead | None = None, pool: ThreadPoolExecutor | None = None
) -> Ahead | None:
    """One batch, in one transaction under the sheet lock; the next batch (None: it was the last).
    The batch read ahead is used only if nothing was written to the sheet since it was read (its
    version is the one before this batch's): else it is read again, under this lock."""
    ready = ahead.computing.result() if ahead and ahead.computing else None
    with transaction.atomic():
        version = next_version(sheet_id)  # the sheet lock, taken as edits take it
        state = FormulaRecompute.objects.filter(sheet_id=sheet_id, token=token).first()
        if state is None:
            raise Superseded(sheet_id)  # rolls the version back
        formulas = _formulas(sheet_id)
        only = set(state.columns) & ({key for key, _, _ in formulas.steps} | formulas.cyclic)
        size = _batch()
        written = _written_since(sheet_id, ahead.version, version) if ready is not None else None
        if written is not None:
            batch, (ids, patches, computed) = ahead.batch, ready
            if again := written & ids:
                patches, computed = _read_again(formulas, only, again, patches, computed)
        else:
            batch = _rows(sheet_id, state.after, size, formulas.reads(only)) if only else None
            _, patches, computed = _compute(formulas, batch, only)
        following = _rows(sheet_id, batch.last, size, formulas.reads(only)) if batch and batch.count == size else None
        computing = pool.submit(_compute, formulas, following, only) if pool and following else None
        write_patches(patches)
        columns = state.columns
        if batch:
            state.done += batch.count
            state.after = batch.last
        state.total = max(state.total, state.done) if following else state.done
        if not following:
            state.columns, state.token = [], ""
        state.heartbeat_at = timezone.now()
        state.save()
        payload = {"computed": computed, **state.progress(), "columns": columns}
        operations_append([(Operation(sheet_id=sheet_id, version=version, kind=KIND, payload=payload), None)])
    return Ahead(version, following, computing) if following else None


# --- resuming, and the day's refresh ---------------------------------------------------------------


def _queued(token: str) -> bool:
    """Whether the job of the recompute with this token waits in the queue (it will run)."""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=recompute_job.module_path, args_kwargs__kwargs__token=token
    ).exists()


def _resume(sheet_id: int, token: str) -> bool:
    """Take over the recompute with this token under a new one and queue its job, which goes on
    from its last batch; whether it was still this token's."""
    with transaction.atomic():
        fresh = uuid.uuid4().hex
        claimed = (
            FormulaRecompute.objects.filter(sheet_id=sheet_id, token=token)
            .exclude(columns=[])
            .update(token=fresh, heartbeat_at=timezone.now())
        )
        if claimed:
            log.info("resuming the interrupted recompute of the formulas of sheet %s", sheet_id)
            _launch(sheet_id, fresh)
    return bool(claimed)


def recompute_resume(sheet_id: int) -> bool:
    """Resume the sheet's recompute if its job is lost: not queued, and no batch written for
    FORMULA_RECOMPUTE_STALE_SECONDS; whether it did."""
    stale = timezone.now() - timedelta(seconds=_setting("FORMULA_RECOMPUTE_STALE_SECONDS", 30))
    state = FormulaRecompute.objects.filter(sheet_id=sheet_id, heartbeat_at__lt=stale).exclude(columns=[]).first()
    return bool(state and not _queued(state.token) and _resume(sheet_id, state.token))


def volatile_refresh(sheet_id: int) -> bool:
    """Recompute the sheet's TODAY()/NOW() columns in the background if they were last computed
    before today (UTC); whether it started."""
    today = timezone.now().date()
    if not _volatile_keys(sheet_id) or FormulaRecompute.objects.filter(sheet_id=sheet_id, volatile_day=today).exists():
        return False  # (checked again under the lock)
    with transaction.atomic():
        if not Sheet.objects.select_for_update().filter(pk=sheet_id).exists():  # the sheet lock
            return False
        keys = _volatile_keys(sheet_id)
        state = FormulaRecompute.objects.filter(sheet_id=sheet_id).first()
        if not keys or (state and state.volatile_day == today):
            return False
        FormulaRecompute.objects.update_or_create(sheet_id=sheet_id, defaults={"volatile_day": today})
        _start(sheet_id, keys, Row.objects.filter(sheet_id=sheet_id).count())
    return True


def sheet_opened(sheet_id: int) -> None:
    """A sheet is being opened: resume its lost recompute, refresh its TODAY()/NOW() columns."""
    try:
        recompute_resume(sheet_id)
        volatile_refresh(sheet_id)
    except Exception:
        log.exception("could not check the formulas of sheet %s", sheet_id)


def formulas_tick() -> None:
    """Resume every lost recompute and refresh every sheet whose TODAY()/NOW() columns are of an
    earlier day."""
    today = timezone.now().date()
    for sheet_id in FormulaRecompute.objects.exclude(columns=[]).values_list("sheet_id", flat=True):
        recompute_resume(sheet_id)
    volatile = Column.objects.filter(deleted=False, type=column_types.FORMULA, options__volatile=True)
    due = volatile.exclude(sheet__formula_recompute__volatile_day=today).values_list("sheet_id", flat=True)
    for sheet_id in set(due):
        volatile_refresh(sheet_id)


_ticked_at = -math.inf


def recompute_swept(sender: object, dead: list[DBTaskResult], **kwargs: object) -> None:
    """core.jobs' sweep (a jobs worker's start, then every JOBS_SWEEP_SECONDS): the recomputes
    whose job died with its worker are queued again at once; formulas_tick every
    FORMULA_TICKER_SECONDS (0: never)."""
    global _ticked_at
    for result in dead:
        if result.task_path == recompute_job.module_path:
            _resume(**result.args_kwargs["kwargs"])
    every = _setting("FORMULA_TICKER_SECONDS", 60)
    if every and time.monotonic() - _ticked_at >= every:
        _ticked_at = time.monotonic()
        formulas_tick()

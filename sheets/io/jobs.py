"""Imports from an upload: inline when small, else a durable background job (a django-tasks task
run by a jobs worker, core.jobs), polled, and run again or failed when the worker that ran it died."""

import datetime as dt
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.base import TaskResultStatus

from accounts.models import User, Workspace
from accounts.permissions import Access, workspace_access
from core import metrics
from core.errors import GridcastError, InvalidInput, NotFound, TooLarge, check_quota
from core.jobs import PROCESS, process_gone

from .. import permissions, selectors
from ..models import ImportJob, Sheet
from ..services.imports import APPEND, UPSERT
from .csv_import import analyze_csv, csv_import, csv_preview, discard, sheet_name_for, sniff_csv
from .dates import DATE_ORDERS
from .into_sheet import import_into_sheet
from .workbook_import import is_workbook, workbook_import, workbook_preview

log = logging.getLogger(__name__)

INLINE_IMPORT_BYTES = 1024 * 1024


def _setting(name, default):
    return settings.GRIDCAST.get(name, default)


# --- imports from an upload, inline or as a job -------------------------------------------------


def _check_upload(upload):
    if upload is None:
        raise InvalidInput("file is required (a CSV file or a workbook in the multipart field 'file')")
    limit = settings.GRIDCAST["MAX_IMPORT_BYTES"]
    if upload.size > limit:
        raise TooLarge(f"the file is larger than {limit} bytes")


@dataclass
class Imported:
    """What an import made at once: its sheets (a CSV's one, a workbook's one per worksheet) and
    notes the user should read (date columns kept as text because ambiguous)."""

    sheets: list[Sheet]
    notes: list[str] = field(default_factory=list)


def upload_import(
    *,
    upload: UploadedFile | None,
    workspace: Workspace,
    actor: User,
    name: str | None = None,
    worksheets: list[str] | None = None,
    date_order: str | None = None,
) -> Imported | ImportJob:
    """Import an uploaded CSV (one sheet) or workbook (a sheet per chosen worksheet, all non-empty
    ones by default): small files at once (Imported), larger ones in a background job (returns
    the ImportJob, already started). `date_order` ("dmy", "mdy") reads CSV dates like 01/02/2024
    that read both ways."""
    _check_upload(upload)
    workbook = is_workbook(upload, upload.name)
    if worksheets and not workbook:
        raise InvalidInput("sheets (worksheet names) can only be given for a workbook (.xlsx, .xls, .ods)")
    base = sheet_name_for(name, upload.name)
    named = name is not None and name != ""
    if upload.size < _setting("IMPORT_INLINE_BYTES", INLINE_IMPORT_BYTES):
        if workbook:
            sheets = workbook_import(
                file=upload, workspace=workspace, actor=actor, base_name=base, named=named, worksheets=worksheets
            )
            return Imported(sheets)
        plan = analyze_csv(upload, date_order=date_order)
        return Imported([csv_import(file=upload, workspace=workspace, actor=actor, name=base, plan=plan)], plan.notes)
    # Obvious mistakes (empty, binary, no header) and a full workspace (the sheet quota) are
    # answered now; the rest by the job (whose sheet_create checks the quota again).
    if workbook:
        _check_worksheets(upload, worksheets)
    else:
        sniff_csv(upload)
    check_quota("MAX_SHEETS_PER_WORKSPACE", Sheet.objects.filter(workspace=workspace).count(), "sheets per workspace")
    path = _keep_upload(upload)
    if date_order not in (None, "", *DATE_ORDERS):
        raise InvalidInput("date_order must be dmy (day first) or mdy (month first)")
    options = {"workbook": True, "worksheets": worksheets or [], "named": named} if workbook else {}
    if date_order:
        options["date_order"] = date_order
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                workspace=workspace,
                created_by=actor,
                name=base,
                file_name=(upload.name or "")[:255],
                size=upload.size,
                heartbeat_at=timezone.now(),
                path=path,
                options=options,
            )
            _enqueue(job)
    except BaseException:
        os.unlink(path)
        raise
    return job


def _check_worksheets(upload, worksheets):
    """The workbook opens, and has the worksheets asked for (InvalidInput otherwise)."""
    names = [w["name"] for w in workbook_preview(upload)]
    for wanted in worksheets or []:
        if wanted not in names:
            raise InvalidInput(f"the workbook has no worksheet named {wanted!r} (it has: {', '.join(names)})")


def upload_preview(*, upload: UploadedFile | None, date_order: str | None = None) -> dict:
    """What an import of the upload would make, without making it: its format and, per worksheet
    (a CSV has one, named after the file), data rows, columns with inferred types and first rows."""
    _check_upload(upload)
    if is_workbook(upload, upload.name):
        return {"format": "workbook", "worksheets": workbook_preview(upload)}
    preview = csv_preview(upload, sheet_name_for(None, upload.name), date_order=date_order)
    return {"format": "csv", "worksheets": [preview]}


class LimitedUpload(FileUploadHandler):
    """An upload handler that stops a multipart upload as soon as it is larger than `limit` bytes
    (first handler of the request, so the next ones never store more than that): a body
    announced larger is refused before anything is read, a streamed one at the chunk that
    crosses the limit. The files begun are closed (and their temporary files removed) and the
    request fails with a 413 (TooLarge)."""

    SLACK = 64 * 1024  # room for the multipart headers and the other fields

    def __init__(self, request=None, limit=None):
        super().__init__(request)
        self.limit = settings.GRIDCAST["MAX_IMPORT_BYTES"] if limit is None else limit
        self.received = 0
        self.crossed = False

    def _message(self):
        return f"the file is larger than {self.limit} bytes"

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + self.SLACK:
            raise TooLarge(self._message())

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.crossed = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None

    def upload_complete(self):
        if self.crossed:
            raise TooLarge(self._message())


def sheet_upload_import(
    *,
    sheet: Sheet,
    actor: User,
    upload: UploadedFile | None,
    mode: str,
    key: str | None = None,
    mapping: dict | None = None,
    worksheet: str | None = None,
    date_order: str | None = None,
    preview: bool = False,
) -> dict | ImportJob:
    """Import an upload into an existing sheet (see import_into_sheet): a preview or a small file at
    once (its answer), a larger one as a background job (the ImportJob, queued), which applies it
    as one operation and ends the job in the same transaction: applied once, or not at all."""
    inline = _setting("IMPORT_INLINE_BYTES", INLINE_IMPORT_BYTES)
    if preview or upload is None or upload.size < inline:
        return import_into_sheet(
            sheet=sheet,
            actor=actor,
            upload=upload,
            mode=mode,
            key=key,
            mapping=mapping,
            worksheet=worksheet,
            date_order=date_order,
            preview=preview,
        )
    # What the request can tell at once is answered now (the rest, as inline, by the job).
    _check_upload(upload)
    if mode not in (APPEND, UPSERT):
        raise InvalidInput("mode must be append or upsert")
    if mode == UPSERT and not key:
        raise InvalidInput("key is required for upsert: the key of the sheet column rows are matched on")
    if date_order not in (None, "", *DATE_ORDERS):
        raise InvalidInput("date_order must be dmy (day first) or mdy (month first)")
    if is_workbook(upload, upload.name):
        _check_worksheets(upload, [worksheet] if worksheet else None)
    elif worksheet:
        raise InvalidInput("sheet (a worksheet's name) can only be given for a workbook")
    else:
        sniff_csv(upload)
    if mapping not in (None, "") and not isinstance(mapping, str | dict):
        raise InvalidInput("mapping must be an object of file column name to sheet column key")
    path = _keep_upload(upload)
    into = {"sheet": sheet.pk, "mode": mode, "key": key or "", "mapping": mapping, "worksheet": worksheet or ""}
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                workspace_id=sheet.workspace_id,
                created_by=actor,
                name=sheet.name[:200],
                file_name=(upload.name or "")[:255],
                size=upload.size,
                heartbeat_at=timezone.now(),
                path=path,
                options={"into": into, **({"date_order": date_order} if date_order else {})},
            )
            _enqueue(job)
    except BaseException:
        os.unlink(path)
        raise
    return job


def workspace_for_import(workspace_id: int) -> Workspace:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def _keep_upload(upload):
    """Copy the upload to a file of our own, where every jobs worker reads it (IMPORT_UPLOAD_DIR):
    the request's temporary file goes with the request."""
    suffix = os.path.splitext(upload.name or "")[1][:10] or ".csv"
    folder = _setting("IMPORT_UPLOAD_DIR", tempfile.gettempdir())
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(prefix="gridcast-import-", suffix=suffix, dir=folder, delete=False) as kept:
        for chunk in upload.chunks():
            kept.write(chunk)
    return kept.name


@task()
def import_run(job_id: int) -> None:
    """The background task of an import job (run by a jobs worker, core.jobs)."""
    run_import_job(job_id)


def _enqueue(job: ImportJob) -> None:
    """Queue the job's task, in the caller's transaction: the job and its task are saved together."""
    job.task_id = str(import_run.enqueue(job_id=job.pk).id)
    ImportJob.objects.filter(pk=job.pk).update(task_id=job.task_id)


ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
INTERRUPTED = "the import was interrupted (the server stopped while it ran); please upload the file again"
UPLOAD_GONE = "the uploaded file is no longer there to import; please upload the file again"


def _stale_seconds():
    return float(_setting("IMPORT_STALE_SECONDS", 60))


def _max_attempts():
    return max(1, int(_setting("IMPORT_MAX_ATTEMPTS", 2)))


class JobGone(Exception):
    """The job is no longer this process's to run (it was failed or queued again meanwhile)."""


def _beat(job_id, **fields):
    """Write the job's progress with a sign of life; JobGone when it is no longer running here."""
    alive = ImportJob.objects.filter(pk=job_id, owner=PROCESS, status__in=ACTIVE).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not alive:
        raise JobGone(job_id)


class _JobProgress:
    """Writes a job's progress, at most a few times a second and never backwards."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.best = 0.0
        self.written = 0.0

    def __call__(self, fraction, rows):
        self.best = max(self.best, fraction)
        now = time.monotonic()
        if now - self.written >= 0.2:
            self.written = now
            _beat(self.job_id, progress=self.best, rows=rows)


def _may_still_import(job):
    """The job's creator may still create sheets in its workspace (rights are checked again when
    the job runs: they may have been lost since the upload)."""
    user = job.created_by
    return user.is_active and workspace_access(user, job.workspace_id) >= Access.EDIT


def _half_made(job):
    return set(job.sheets or []) | ({job.sheet_id} if job.sheet_id else set())


def _claim(job_id):
    """Take the job for this process: the job (with what an earlier, interrupted run of it left to
    remove), or None when it is not to run here (ended, or running in a live worker)."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("workspace", "created_by")
            .filter(pk=job_id, status__in=ACTIVE)
            .first()
        )
        if job is None or job.owner == PROCESS:
            return None, set()
        if job.owner and not _is_stale(job, now):
            return None, set()  # a live worker runs it (a task queued twice)
        left = _half_made(job)
        error = None
        if job.attempts >= _max_attempts():
            error = INTERRUPTED
        elif not job.path or not os.path.exists(job.path):
            error = UPLOAD_GONE
        if error:
            _fail(job, error)
        else:
            job.owner, job.status, job.heartbeat_at, job.attempts = (
                PROCESS,
                ImportJob.Status.RUNNING,
                now,
                job.attempts + 1,
            )
            job.progress, job.rows, job.sheet, job.sheets, job.error = 0.0, 0, None, [], ""
            job.save()
    _discard(left, job.created_by)
    if error:
        _remove(job.path_before_fail)
        return None, set()
    return job, left


def run_import_job(job_id: int) -> None:
    """Run one import job to the end (a jobs worker's task): done with its sheets, or failed with why.
    Run again after its worker died, it starts over (what the interrupted run made is removed)."""
    path = None
    try:
        job, _ = _claim(job_id)
        if job is None:
            return
        path = job.path
        if not _may_still_import(job):
            _finish(
                job_id,
                status=ImportJob.Status.FAILED,
                rows=0,
                error="you can no longer create sheets in this workspace: nothing was imported",
            )
            _remove(path)
            return
        _started[job_id] = time.monotonic()
        if job.options.get("into"):
            _run_into(job, path)
            return
        progress = _JobProgress(job_id)

        made = []

        def created(sheet):  # the half-made sheets, for whoever finds the job interrupted
            made.append(sheet.pk)
            ImportJob.objects.filter(pk=job_id).update(sheet_id=made[0], sheets=made)

        try:
            with open(path, "rb") as file:
                sheets = _run(job, file, progress, created)
        except JobGone:
            return
        except GridcastError as error:
            _finish(job_id, status=ImportJob.Status.FAILED, error=error.message, rows=0, sheet=None, sheets=[])
            _remove(path)
            return
        except Exception:
            log.exception("import job %s failed", job_id)
            _finish(
                job_id,
                status=ImportJob.Status.FAILED,
                error="the import failed unexpectedly",
                rows=0,
                sheet=None,
                sheets=[],
            )
            _remove(path)
            return
        rows = sum(selectors.row_count(sheet) for sheet in sheets)
        done = _finish(
            job_id,
            status=ImportJob.Status.DONE,
            progress=1.0,
            rows=rows,
            sheet=sheets[0],
            sheets=[s.pk for s in sheets],
            error="",
        )
        if done:
            _remove(path)
        else:
            for sheet in sheets:  # failed or queued again meanwhile: its sheets go (the reaper has the file)
                discard(sheet, job.created_by)
    except JobGone:
        pass
    finally:
        _started.pop(job_id, None)


def _run_into(job, path):
    """An import into an existing sheet: applied (one operation) and the job ended as done in one
    transaction, so that a worker killed at any point leaves it applied and done, or neither."""
    into = job.options["into"]
    try:
        sheet = Sheet.objects.filter(pk=into["sheet"], workspace_id=job.workspace_id).first()
        if sheet is None:
            raise NotFound("the sheet was deleted: nothing was imported")
        if permissions.sheet_access(job.created_by, sheet) < Access.EDIT:
            raise InvalidInput("you can no longer edit this sheet: nothing was imported")
        _beat(job.pk, progress=0.1)
        with open(path, "rb") as raw, transaction.atomic():
            answer = import_into_sheet(
                sheet=sheet,
                actor=job.created_by,
                upload=File(raw, name=job.file_name or os.path.basename(path)),
                mode=into["mode"],
                key=into["key"] or None,
                mapping=into["mapping"],
                worksheet=into["worksheet"] or None,
                date_order=job.options.get("date_order"),
            )
            notes = [*answer.get("notes", []), _applied_text(answer)]
            done = _finish(
                job.pk,
                status=ImportJob.Status.DONE,
                progress=1.0,
                rows=answer["rows"],
                sheet=sheet,
                sheets=[sheet.pk],
                error="",
                options={**job.options, "notes": notes, "result": answer},
            )
            if not done:
                transaction.set_rollback(True)  # failed or queued again meanwhile: not applied here
    except JobGone:
        return
    except GridcastError as error:
        _finish(job.pk, status=ImportJob.Status.FAILED, error=_error_text(error), rows=0, sheet=None, sheets=[])
    except Exception:
        log.exception("import job %s failed", job.pk)
        _finish(job.pk, status=ImportJob.Status.FAILED, error="the import failed unexpectedly", rows=0, sheet=None)
    _remove(path)


def _applied_text(answer):
    return f"{answer['new']} new rows, {answer['updated']} updated (version {answer['version']})"


def _error_text(error):
    """A domain error as the job's reason, with the first bad rows it lists (the 400 lists them all)."""
    rows = error.detail.get("rows") if isinstance(getattr(error, "detail", None), dict) else None
    if not rows:
        return error.message
    listed = "; ".join(f"row {r.get('row')}: {r.get('reason')}" for r in rows[:5])
    return f"{error.message} ({listed}{'; ...' if len(rows) > 5 else ''})"


def _run(job, file, progress, created):
    """The job's import: its sheets."""
    if job.options.get("workbook"):
        return workbook_import(
            file=file,
            workspace=job.workspace,
            actor=job.created_by,
            base_name=job.name,
            named=bool(job.options.get("named")),
            worksheets=job.options.get("worksheets") or None,
            progress=progress,
            created=created,
        )
    plan = analyze_csv(file, progress, job.options.get("date_order"))
    if plan.notes:
        ImportJob.objects.filter(pk=job.pk).update(options={**job.options, "notes": plan.notes})
    sheet = csv_import(
        file=file,
        workspace=job.workspace,
        actor=job.created_by,
        name=job.name,
        plan=plan,
        progress=progress,
        created=created,
    )
    return [sheet]


def _remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _discard(sheet_ids, actor):
    for sheet in Sheet.objects.filter(pk__in=sheet_ids):
        discard(sheet, actor)


def _fail(job, error):
    """Fail the (locked) job with `error`; its file's path is kept in job.path_before_fail for the
    caller to remove after the commit."""
    job.path_before_fail = job.path
    job.status, job.error, job.rows, job.sheet, job.sheets, job.path = ImportJob.Status.FAILED, error, 0, None, [], ""
    job.save(update_fields=["status", "error", "rows", "sheet", "sheets", "path", "updated_at"])
    metrics.import_jobs.labels(ImportJob.Status.FAILED).inc()


def _finish(job_id, **fields):
    """End the job if it is still this process's to end; whether it was (counted for operators)."""
    ended = ImportJob.objects.filter(pk=job_id, owner=PROCESS, status__in=ACTIVE).update(
        heartbeat_at=timezone.now(), path="", **fields
    )
    started = _started.pop(job_id, None)
    if ended:
        metrics.import_jobs.labels(fields.get("status", "ended")).inc()
        if started is not None:
            metrics.import_duration.observe(time.monotonic() - started)
    return ended


_started: dict[int, float] = {}  # job id: when this process began running it (monotonic)


def _task_lost(job, now):
    """A queued job that no worker took yet: whether its task can no longer run it (ended, gone,
    or taken by a worker that never claimed the job within IMPORT_STALE_SECONDS)."""
    if not job.task_id:
        return job.heartbeat_at is None or now - job.heartbeat_at >= dt.timedelta(seconds=_stale_seconds())
    task_row = DBTaskResult.objects.filter(pk=job.task_id).values("status", "started_at").first()
    if task_row is None or task_row["status"] in (TaskResultStatus.FAILED, TaskResultStatus.SUCCEEDED):
        return True
    started = task_row["started_at"]
    return task_row["status"] == TaskResultStatus.RUNNING and (
        started is None or now - started >= dt.timedelta(seconds=_stale_seconds())
    )


def _is_stale(job, now):
    """Whether the active job's run is lost: its worker died (known gone, or silent for
    IMPORT_STALE_SECONDS), or, not taken yet, its task can no longer run it."""
    if job.status not in ACTIVE:
        return False
    if not job.owner:
        return _task_lost(job, now)
    if job.owner == PROCESS and job.heartbeat_at and now - job.heartbeat_at < dt.timedelta(seconds=_stale_seconds()):
        return False
    if job.heartbeat_at is None or now - job.heartbeat_at >= dt.timedelta(seconds=_stale_seconds()):
        return True
    return process_gone(job.owner)

"""Imports from an upload: inline when small, else a job run in a thread, polled, and reaped when
the process that ran it died."""

import datetime as dt
import logging
import os
import socket
import tempfile
import threading
import time
import uuid

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from accounts.models import User, Workspace
from accounts.permissions import Access, workspace_access
from core.errors import GridcastError, InvalidInput, NotFound, TooLarge, check_quota

from .. import selectors
from ..models import ImportJob, Sheet
from .csv_import import csv_import, discard, sheet_name_for, sniff_csv

log = logging.getLogger(__name__)

INLINE_IMPORT_BYTES = 1024 * 1024
# Imports running at once in this process; the others wait as "queued".
RUNNING_IMPORTS = threading.BoundedSemaphore(2)


def _setting(name, default):
    return settings.GRIDCAST.get(name, default)


# --- imports from an upload, inline or as a job -------------------------------------------------


def upload_import(
    *, upload: UploadedFile | None, workspace: Workspace, actor: User, name: str | None = None
) -> Sheet | ImportJob:
    """Import an uploaded CSV: small files at once (returns the Sheet), larger ones in a
    background job (returns the ImportJob, already started)."""
    if upload is None:
        raise InvalidInput("file is required (a CSV file in the multipart field 'file')")
    limit = settings.GRIDCAST["MAX_IMPORT_BYTES"]
    if upload.size > limit:
        raise TooLarge(f"the file is larger than {limit} bytes")
    name = sheet_name_for(name, upload.name)
    if upload.size < _setting("IMPORT_INLINE_BYTES", INLINE_IMPORT_BYTES):
        return csv_import(file=upload, workspace=workspace, actor=actor, name=name)
    # Obvious mistakes (empty, binary, no header) and a full workspace (the sheet quota) are
    # answered now; the rest by the job (whose sheet_create checks the quota again).
    sniff_csv(upload)
    check_quota("MAX_SHEETS_PER_WORKSPACE", Sheet.objects.filter(workspace=workspace).count(), "sheets per workspace")
    imports_reap_once()
    path = _keep_upload(upload)
    try:
        job = ImportJob.objects.create(
            workspace=workspace,
            created_by=actor,
            name=name,
            file_name=(upload.name or "")[:255],
            size=upload.size,
            owner=PROCESS,
            heartbeat_at=timezone.now(),
            path=path,
        )
    except BaseException:
        os.unlink(path)
        raise
    transaction.on_commit(lambda: _start(job.pk, path))
    return job


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


def workspace_for_import(workspace_id: int) -> Workspace:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def _keep_upload(upload):
    """Copy the upload to a file of our own: the request's temporary file goes with the request."""
    with tempfile.NamedTemporaryFile(prefix="gridcast-import-", suffix=".csv", delete=False) as kept:
        for chunk in upload.chunks():
            kept.write(chunk)
    return kept.name


def _start(job_id, path):
    threading.Thread(target=run_import_job, args=(job_id, path), name=f"gridcast-import-{job_id}", daemon=True).start()


# This process, as an import job's owner: host, pid and a token of this start (a restarted
# server may get the pid of the one that died, as the first process of a container does).
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
INTERRUPTED = "the import was interrupted (the server stopped while it ran); please upload the file again"


def _stale_seconds():
    return float(_setting("IMPORT_STALE_SECONDS", 60))


class JobGone(Exception):
    """The job is no longer this process's to run (it was failed as interrupted meanwhile)."""


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


def _wait_for_a_slot(job_id):
    """Take one of RUNNING_IMPORTS, beating while the job waits its turn as queued."""
    while not RUNNING_IMPORTS.acquire(timeout=max(_stale_seconds() / 4, 0.05)):
        _beat(job_id)


def _may_still_import(job):
    """The job's creator may still create sheets in its workspace (rights are checked again when
    the job runs: they may have been lost since the upload)."""
    user = job.created_by
    return user.is_active and workspace_access(user, job.workspace_id) >= Access.EDIT


def run_import_job(job_id: int, path: str) -> None:
    """Run one import job to the end (in its own thread): done with its sheet, or failed with why."""
    slot = False
    try:
        close_old_connections()
        _wait_for_a_slot(job_id)
        slot = True
        job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
        if not _may_still_import(job):
            _finish(
                job_id,
                status=ImportJob.Status.FAILED,
                rows=0,
                error="you can no longer create sheets in this workspace: nothing was imported",
            )
            return
        _beat(job_id, status=ImportJob.Status.RUNNING)
        progress = _JobProgress(job_id)

        def created(sheet):  # the half-made sheet, for whoever finds the job interrupted
            ImportJob.objects.filter(pk=job_id).update(sheet=sheet)

        try:
            with open(path, "rb") as file:
                sheet = csv_import(
                    file=file,
                    workspace=job.workspace,
                    actor=job.created_by,
                    name=job.name,
                    progress=progress,
                    created=created,
                )
        except JobGone:
            return
        except GridcastError as error:
            _finish(job_id, status=ImportJob.Status.FAILED, error=error.message, rows=0, sheet=None)
            return
        except Exception:
            log.exception("import job %s failed", job_id)
            _finish(job_id, status=ImportJob.Status.FAILED, error="the import failed unexpectedly", rows=0, sheet=None)
            return
        rows = selectors.row_count(sheet)
        if not _finish(job_id, status=ImportJob.Status.DONE, progress=1.0, rows=rows, sheet=sheet, error=""):
            discard(sheet, job.created_by)  # failed as interrupted meanwhile: its sheet goes too
    except JobGone:
        pass
    except Exception:
        log.exception("import job %s could not run", job_id)
    finally:
        if slot:
            RUNNING_IMPORTS.release()
        _remove(path)
        connections.close_all()


def _remove(path: str) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _finish(job_id, **fields):
    """End the job if it is still this process's to end; whether it was."""
    return ImportJob.objects.filter(pk=job_id, owner=PROCESS, status__in=ACTIVE).update(
        heartbeat_at=timezone.now(), path="", **fields
    )


ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _owner_dead(owner):
    """Whether the process named by `owner` is known to be gone: on this host, a pid that no longer
    exists, or this pid with another start token (a previous start of this server)."""
    host, _, rest = (owner or "").partition(":")
    pid, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner != PROCESS
    return not _pid_alive(int(pid))


def _is_stale(job, now):
    if job.status not in ACTIVE:
        return False
    if job.owner == PROCESS and job.heartbeat_at and now - job.heartbeat_at < dt.timedelta(seconds=_stale_seconds()):
        return False
    if job.heartbeat_at is None or now - job.heartbeat_at >= dt.timedelta(seconds=_stale_seconds()):
        return True
    return _owner_dead(job.owner)


def import_reap(job_id: int, now: dt.datetime | None = None) -> bool:
    """Fail the job if its process died (no sign of life for IMPORT_STALE_SECONDS, or its owner
    gone), removing its half-made sheet and temporary file; whether it did."""
    now = now or timezone.now()
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("created_by")
            .filter(pk=job_id, status__in=ACTIVE)
            .first()
        )
        if job is None or not _is_stale(job, now):
            return False
        sheet, path = job.sheet, job.path
        job.status, job.error, job.rows, job.sheet, job.path = ImportJob.Status.FAILED, INTERRUPTED, 0, None, ""
        job.save(update_fields=["status", "error", "rows", "sheet", "path", "updated_at"])
    log.warning("import job %s was interrupted (owner %s): failed, its sheet and file removed", job_id, job.owner)
    if sheet is not None:
        discard(sheet, job.created_by)
    _remove(path)
    return True


def imports_reap(now: dt.datetime | None = None) -> int:
    """Fail every import job whose process died (see import_reap); how many."""
    ids = ImportJob.objects.filter(status__in=ACTIVE).values_list("pk", flat=True)
    return sum(import_reap(job_id, now) for job_id in list(ids))


_reaped = threading.Event()


def imports_reap_once() -> None:
    """imports_reap at the first use of the import API in this process (the server's start)."""
    if _reaped.is_set():
        return
    _reaped.set()
    try:
        imports_reap()
    except Exception:
        log.exception("could not check for interrupted import jobs")


def import_job_for(user: User, job_id: int) -> ImportJob:
    """An import job, for the user who started it only (failed first if its process died)."""
    job = ImportJob.objects.filter(pk=job_id, created_by_id=user.pk).first()
    if job is None:
        raise NotFound("Import not found")
    if job.status in ACTIVE and import_reap(job.pk):
        job.refresh_from_db()
    return job

"""Import jobs whose run is lost (their worker died, or their task can no longer run them):
queued again while they have attempts and their upload, else failed with the reason, their
half-made sheets and file removed. Run by a jobs worker's sweep, by the import API's first use in a
process and by a status read of the job."""

import datetime as dt
import logging
import os
import threading

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import NotFound

from ..models import ImportJob
from .jobs import (
    ACTIVE,
    INTERRUPTED,
    UPLOAD_GONE,
    _discard,
    _enqueue,
    _fail,
    _half_made,
    _is_stale,
    _max_attempts,
    _remove,
)

log = logging.getLogger(__name__)


def import_reap(job_id: int, now: dt.datetime | None = None) -> bool:
    """When the job's run is lost (see _is_stale): queue it again (its half-made sheets removed) while
    it has attempts left (IMPORT_MAX_ATTEMPTS) and its upload, else fail it as interrupted (its
    sheets and file removed); whether it did either."""
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
        left, owner = _half_made(job), job.owner
        attempts_left = job.attempts < _max_attempts()
        resumed = attempts_left and bool(job.path) and os.path.exists(job.path)
        if resumed:
            job.status, job.owner, job.heartbeat_at, job.progress, job.rows = ImportJob.Status.QUEUED, "", now, 0.0, 0
            job.sheet, job.sheets, job.error = None, [], ""
            job.save()
            _enqueue(job)
        else:
            _fail(job, UPLOAD_GONE if attempts_left else INTERRUPTED)
    if resumed:
        log.warning(
            "import job %s was interrupted (owner %r): queued again (attempt %s)", job_id, owner, job.attempts + 1
        )
    else:
        log.warning("import job %s was interrupted (owner %r): failed, its sheets and file removed", job_id, owner)
        _remove(job.path_before_fail)
    _discard(left, job.created_by)
    return True


def imports_reap(now: dt.datetime | None = None) -> int:
    """Resume or fail every import job whose run is lost (see import_reap); how many."""
    ids = ImportJob.objects.filter(status__in=ACTIVE).values_list("pk", flat=True)
    return sum(import_reap(job_id, now) for job_id in list(ids))


def imports_swept(sender: object, dead: list, **kwargs: object) -> None:
    """core.jobs' sweep (a jobs worker's start, then every JOBS_SWEEP_SECONDS): resume or fail the
    import jobs whose run is lost."""
    imports_reap()


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

"""The background jobs' worker: django-tasks' database worker (imports, formula recomputes,
Superset syncs), run by `manage.py jobs_worker` or as a thread of the embedded server, that also
sweeps for the tasks a dead worker left "running" and announces them (jobs_swept) so that their
domains run them again."""

import atexit
import logging
import math
import os
import socket
import threading
import time
import uuid

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, close_old_connections, connections
from django.dispatch import Signal
from django.utils import timezone
from django_tasks.backends.database.management.commands.db_worker import Worker
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.utils import exclusive_transaction
from django_tasks.base import TaskResultStatus

log = logging.getLogger(__name__)

# This process, as the worker of a task or the owner of a job: host, pid and a token of this start
# (a restarted process may get the pid of the one that died, as the first process of a container
# does). At most 64 characters: django-tasks' limit for a worker id.
PROCESS = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

# Sent by the worker's sweep with `dead`: the tasks (DBTaskResult) a dead worker left running,
# failed meanwhile. Domains resume their jobs (run again, idempotently) or fail them with why.
jobs_swept = Signal()


class WorkerDied(Exception):
    """What a task left running by a dead worker failed with."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def process_gone(owner: str) -> bool:
    """Whether the process named by `owner` (a PROCESS) is known to be gone: on this host, a pid
    that no longer exists, or this pid with another start token (a previous start)."""
    host, _, rest = (owner or "").partition(":")
    pid, _, _token = rest.partition(":")
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner != PROCESS
    return not _pid_alive(int(pid))


def tasks_sweep() -> list[DBTaskResult]:
    """Fail every task left running by a worker known gone (see process_gone), then announce
    them (jobs_swept), so that nothing stays "running" for ever; the tasks failed."""
    dead = []
    for result in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING):
        worker = (result.worker_ids or [""])[-1]
        if not process_gone(worker):
            continue
        failed = DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path=f"{WorkerDied.__module__}.{WorkerDied.__qualname__}",
            traceback=f"the worker {worker} died while it ran this task",
        )
        if failed:
            log.warning("task %s (%s) was left running by the dead worker %s", result.pk, result.task_path, worker)
            dead.append(result)
    for _receiver, answer in jobs_swept.send_robust(sender=DBTaskResult, dead=dead):
        if isinstance(answer, Exception):
            log.error("a receiver of jobs_swept failed: %r", answer, exc_info=answer)
    return dead


class JobsWorker(Worker):
    """django-tasks' worker over every queue of the default backend, that sweeps (tasks_sweep) at
    its start and every JOBS_SWEEP_SECONDS, and stops when `stop` is set (a thread's worker)."""

    def __init__(self, *, stop: threading.Event | None = None, batch: bool = False, max_tasks: int | None = None):
        super().__init__(
            queue_names=["*"],
            interval=settings.JOBS_POLL_SECONDS,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=PROCESS,
        )
        self.stop = stop or threading.Event()
        self.swept_at = -math.inf

    def next_task(self) -> DBTaskResult | None:
        """The next ready task, claimed for this worker (None when there is none)."""
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not tasks.exists():  # idle: no write lock taken (SQLite has one for the whole database)
            return None
        with exclusive_transaction(tasks.db):
            try:
                result = tasks.get_locked()
            except OperationalError as error:
                if "is locked" in str(error):  # SQLite's writer lock, busy: next round
                    return None
                raise
            if result is not None:
                result.claim(self.worker_id)
        return result

    def sweep(self) -> None:
        self.swept_at = time.monotonic()
        try:
            tasks_sweep()
        except Exception:
            log.exception("the sweep for tasks of dead workers failed")

    def run(self) -> None:
        log.info("jobs worker %s started", self.worker_id)
        while self.running and not self.stop.is_set():
            if time.monotonic() - self.swept_at >= settings.JOBS_SWEEP_SECONDS:
                self.sweep()
            result = self.next_task()
            if result is not None:
                self.run_task(result)
            elif self.batch:
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return
            close_old_connections()
            if result is None:
                self.stop.wait(self.interval)


_embedded = None


def start_embedded_worker() -> tuple[threading.Thread, threading.Event]:
    """The jobs worker as a daemon thread of this process (the embedded default's one server),
    started once; stopped at the interpreter's exit after its current task."""
    global _embedded
    if _embedded is not None:
        return _embedded
    stop = threading.Event()
    thread = threading.Thread(target=_run_embedded, args=(stop,), name="jobs-worker", daemon=True)
    thread.start()
    atexit.register(_stop_embedded, thread, stop)
    _embedded = (thread, stop)
    return _embedded


def _run_embedded(stop):
    while not apps.ready:  # started from AppConfig.ready(): its first query waits for every app
        if stop.wait(0.05):
            return
    try:
        JobsWorker(stop=stop).run()
    finally:
        connections.close_all()


def _stop_embedded(thread, stop, timeout=10.0):
    stop.set()
    thread.join(timeout)

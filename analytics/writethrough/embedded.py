"""The write-through worker as a daemon thread of the server process (`make run`: one process,
SQLite): started from AnalyticsConfig.ready() when ANALYTICS["EMBEDDED_WORKER"] is on."""

import atexit
import logging
import threading

from django.apps import apps

from .worker import run

log = logging.getLogger(__name__)
_started = None


def start_worker() -> tuple:
    global _started
    if _started is not None:
        return _started
    stop = threading.Event()
    thread = threading.Thread(target=_run, args=(run, stop), name="analytics-writer", daemon=True)
    thread.start()
    atexit.register(_stop, thread, stop)
    _started = (thread, stop)
    log.info("embedded analytics writer started")
    return _started


def _run(loop, stop):
    """The writer's loop, once every app is ready: started from AppConfig.ready(), its first query
    came before (Django warned "Accessing the database during app initialization")."""
    while not apps.ready:
        if stop.wait(0.05):
            return
    loop(stop)


def _stop(thread, stop, timeout=10.0):
    """At the server's exit: end the writer's loop and wait for it, so that it neither writes nor
    pushes while the interpreter shuts down (it did: "cannot schedule new futures after interpreter
    shutdown", then DuckDB's threads aborted the process)."""
    stop.set()
    thread.join(timeout)

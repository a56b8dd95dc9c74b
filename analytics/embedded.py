"""The write-through worker as a daemon thread of the server process (`make run`: one process,
SQLite): started from AnalyticsConfig.ready() when ANALYTICS["EMBEDDED_WORKER"] is on."""
import atexit
import logging
import threading

log = logging.getLogger(__name__)
_started = None


def start_worker():
    global _started
    if _started is not None:
        return _started
    from . import writethrough

    stop = threading.Event()
    thread = threading.Thread(target=writethrough.run, args=(stop,), name="analytics-writer", daemon=True)
    thread.start()
    atexit.register(stop.set)
    _started = (thread, stop)
    log.info("embedded analytics writer started")
    return _started

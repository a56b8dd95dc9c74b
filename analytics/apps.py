import os
import sys

from django.apps import AppConfig
from django.conf import settings


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        from sheets.demo import demo_seeded

        from . import demo
        from .superset import connect_signals

        connect_signals()
        demo_seeded.connect(demo.seeded, dispatch_uid="analytics.demo.seeded")
        if settings.ANALYTICS.get("EMBEDDED_WORKER") and _serving():
            from .embedded import start_worker

            start_worker()
        if settings.GRIDCAST_DEMO and _serving():
            demo.start_stream()


def _serving():
    """True in the process that serves requests: daphne or uvicorn, or runserver's child (the one
    that reloads), never manage.py migrate, shell or the tests."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program in ("daphne", "uvicorn", "gunicorn"):
        return True
    if "runserver" in sys.argv[1:2]:
        return os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv
    return False

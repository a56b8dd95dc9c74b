import os
import sys

from django.apps import AppConfig
from django.conf import settings


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # Imported once the models are ready (Django's way): these modules import models.
        from core.jobs import start_embedded_worker
        from sheets.demo import demo_seeded
        from sheets.models import PublicLink
        from sheets.public_links import register_page
        from sheets.signals import operations_committed

        from .alerts import receivers as alert_receivers
        from .dashboards import receivers as dashboard_receivers
        from .dashboards.public import public_dashboard_page
        from .demo import stream as demo
        from .superset import receivers as superset_receivers
        from .webhooks import events as webhook_events
        from .writethrough.embedded import start_worker

        # Subscribers of what ingestion and the write-through announce; dashboards first, as the
        # push of new data came before the alert rules' evaluation.
        dashboard_receivers.connect()
        alert_receivers.connect()
        superset_receivers.connect()
        operations_committed.connect(webhook_events.on_operations_committed, dispatch_uid="analytics.webhooks")
        register_page(PublicLink.Kind.DASHBOARD, public_dashboard_page)  # /p/<key>/ of a dashboard link
        demo_seeded.connect(demo.seeded, dispatch_uid="analytics.demo.seeded")
        if settings.ANALYTICS.get("EMBEDDED_WORKER") and _serving():
            start_worker()
        if settings.JOBS_EMBEDDED_WORKER and _serving():
            start_embedded_worker()  # imports and Superset syncs, beside the writer (the embedded default)
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

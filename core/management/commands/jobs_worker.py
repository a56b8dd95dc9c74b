"""`manage.py jobs_worker`: run the background jobs (imports, formula recomputes, Superset syncs)
until SIGTERM or SIGINT, failing or running again what a dead worker left running (core.jobs).
django-tasks' `db_worker` runs the same queue but never sweeps: prefer this one."""

import logging

from django.core.management.base import BaseCommand

from core.jobs import JobsWorker


class Command(BaseCommand):
    help = "Run the background jobs (imports, recomputes, Superset syncs) until stopped; resume those of dead workers."

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="run the jobs ready now, then exit")
        parser.add_argument("--max-tasks", type=int, default=None, help="exit after running this many")

    def handle(self, *args, batch, max_tasks, verbosity, **options):
        if verbosity and not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO if verbosity > 0 else logging.WARNING,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
        worker = JobsWorker(batch=batch, max_tasks=max_tasks)
        # SIGTERM or Ctrl-C: the task under way ends first (a second one stops it at once).
        worker.configure_signals()
        worker.run()

"""`manage.py restore <path> [--force]`: an archive of `manage.py backup` into this installation
(analytics/backup/). Refused, before anything is changed, when the archive is corrupt, partial, of
another format version or engine, or from a newer Gridcast; and when this installation is not
empty, unless --force. Stop the servers and the analytics worker first."""

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from analytics.backup.installation import backup_restore
from analytics.backup.manifest import BackupFailed, BackupRefused
from analytics.metrics import schema as metric_schema

from ._backup_progress import progress_bars


class Command(BaseCommand):
    help = "Restore a backup archive (of manage.py backup) into this installation."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the archive written by manage.py backup")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace this installation's data even though it is not empty",
        )

    def handle(self, *args, path, force, verbosity, **options):
        metric_schema.reset_connection()  # nothing of this process may hold the lake while it is replaced
        with progress_bars(self.stdout, verbosity) as (console, progress):
            try:
                restored = backup_restore(path=Path(path), force=force, progress=progress)
            except (BackupFailed, BackupRefused) as error:
                raise CommandError(str(error)) from None
            # An archive of an older Gridcast: its database is brought up to this code's migrations.
            executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if plan:
                progress("migrate", 0, len(plan))
                call_command("migrate", interactive=False, verbosity=0)
                progress("migrate", len(plan), len(plan))
        if verbosity:
            console.print(
                f"Restored the {restored['engine']} database and lake ({restored['lake']['files']} lake files) of "
                f"{restored['installation']!r}, backed up at {restored['created_at']} by Gridcast "
                f"{restored['gridcast_version']}{f'; applied {len(plan)} newer migration(s)' if plan else ''}."
            )

"""`manage.py backup [path]`: this installation's database and lake in one archive
(analytics/backup/). The servers may keep running: the archive is one consistent snapshot."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analytics.backup.installation import backup_write, default_name
from analytics.backup.manifest import BackupFailed, BackupRefused

from ._backup_progress import progress_bars


class Command(BaseCommand):
    help = "Back up the database and the analytics lake into one archive (.tar.gz by default)."

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="the archive to write (.tar, .tar.gz, .tgz, .tar.xz or .tar.bz2), or a directory for "
            "gridcast-backup-<installation>-<UTC time>.tar.gz; default: that name in the current directory",
        )

    def handle(self, *args, path, verbosity, **options):
        target = Path(path) if path else Path(default_name())
        if target.is_dir():
            target = target / default_name()
        with progress_bars(self.stdout, verbosity) as (console, progress):
            try:
                written = backup_write(path=target, progress=progress)
            except (BackupFailed, BackupRefused) as error:
                raise CommandError(str(error)) from None
        if verbosity:
            console.print(
                f"Backed up {written['engine']} database and lake ({written['lake']['files']} lake files) "
                f"to {target} ({written['bytes'] / 1e6:,.1f} MB)."
            )

"""`manage.py import_csv PATH --workspace ID --user EMAIL [--name N]`: a CSV file as a new sheet."""

import os

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from accounts import permissions as workspace_permissions
from accounts.models import User
from accounts.permissions import Access
from core.errors import GridcastError
from sheets import io, selectors


class Command(BaseCommand):
    help = "Import a CSV file as a new sheet of a workspace, on behalf of a user with edit access to it."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file")
        parser.add_argument("--workspace", type=int, required=True, help="id of the workspace")
        parser.add_argument("--user", required=True, help="e-mail of the user the sheet is created by")
        parser.add_argument("--name", help="name of the new sheet (default: the file name)")

    def handle(self, *args, path, workspace, user, name=None, verbosity=1, **options):
        actor = User.objects.filter(email__iexact=user).first()
        if actor is None:
            raise CommandError(f"no user with e-mail {user!r}")
        try:
            workspace_permissions.require_workspace(actor, workspace, Access.EDIT)
            target = io.workspace_for_import(workspace)
            name = io.sheet_name_for(name, path)
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]} rows"),
                TimeRemainingColumn(),
            )
            console = Console(stderr=True, quiet=verbosity == 0)
            with open(path, "rb") as file, Progress(*columns, console=console) as bar:
                task = bar.add_task(f"Importing {os.path.basename(path)}", total=1.0, rows=0)
                sheet = io.csv_import(
                    file=file,
                    workspace=target,
                    actor=actor,
                    name=name,
                    progress=lambda fraction, rows: bar.update(task, completed=fraction, rows=rows),
                )
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
        except GridcastError as error:
            raise CommandError(error.message) from None
        rows = selectors.row_count(sheet)
        self.stdout.write(self.style.SUCCESS(f"Imported {rows} rows into sheet {sheet.pk} {sheet.name!r}"))

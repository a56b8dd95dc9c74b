"""`manage.py apply_retention [--workspace ID] [--dry-run]`: one pass of the metric retention
(analytics/metrics/retention.py) now, as the analytics worker runs it every RETENTION_SECONDS:
each workspace's raw metric events older than its metric_retention_days, once in the rollups, are
deleted, and the files they leave mostly empty rewritten."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from accounts.models import Workspace
from analytics.lake.connections import connect
from analytics.metrics import retention


class Command(BaseCommand):
    help = (
        "Delete the raw metric events older than each workspace's metric retention (those the rollups "
        "hold), and rewrite the lake files they leave mostly empty."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", type=int, help="only this workspace (its id)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
        parser.add_argument(
            "--wait", type=float, default=60.0, help="seconds to wait for a running rollup refresh (default 60)"
        )

    def handle(self, *args, workspace, dry_run, wait, verbosity, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        if workspace is not None:
            found = Workspace.objects.filter(pk=workspace).values_list("metric_retention_days", flat=True)
            if not found:
                raise CommandError(f"no workspace {workspace}")
            if found[0] is None:
                console.print(f"Workspace {workspace} keeps its metric events forever (no metric_retention_days).")
                return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("workspaces"),
            TimeElapsedColumn(),
            console=console,
            disable=verbosity == 0,
        )
        con = connect()
        con.execute("SET TimeZone = 'UTC'")
        verb = "would delete" if dry_run else "deleted"
        try:
            with progress:
                task = progress.add_task("Metric retention" + (" (dry run)" if dry_run else ""), total=None)

                def started(total):
                    progress.update(task, total=total)

                def done(outcome):
                    progress.advance(task)
                    if verbosity:
                        waiting = f", {outcome.waiting} newer in the rollup's queue kept" if outcome.waiting else ""
                        progress.console.print(
                            f"  workspace {outcome.workspace_id} ({outcome.days} days, before "
                            f"{outcome.cutoff:%Y-%m-%d %H:%M} UTC): {verb} {outcome.deleted} events{waiting}"
                        )

                result = retention.apply(
                    con, workspace_id=workspace, dry_run=dry_run, wait=wait, on_start=started, on_workspace=done
                )
        finally:
            con.close()
        if result is None:
            raise CommandError(f"the metric rollup stayed busy for {wait:g} s (another worker?); try again")
        outcomes, reclaimed = result
        deleted = sum(outcome.deleted for outcome in outcomes)
        console.print(f"{len(outcomes)} workspace(s) with a retention: {verb} {deleted} raw metric events.")
        if reclaimed.files_rewritten:
            keep = settings.ANALYTICS.get("SNAPSHOT_RETENTION_SECONDS", 600)
            console.print(
                f"{reclaimed.files_rewritten} lake file(s) rewritten as {reclaimed.files_created}; the old files are "
                f"deleted by the worker's lake upkeep once their snapshots expire ({keep:g} s)."
            )
        if reclaimed.skipped:
            console.print(f"No file rewritten this time: {reclaimed.skipped}.")

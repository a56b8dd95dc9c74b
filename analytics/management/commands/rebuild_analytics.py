"""`manage.py rebuild_analytics [--sheet ID]`: replace the lake's sheet data by a snapshot of the
database. Each sheet is rebuilt in one lake transaction with its checkpoint at the snapshot's
version, so a running writer simply continues from there."""

import time

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from analytics.lake.connections import connect
from analytics.lake.schema import ensure_schema
from analytics.writethrough.rebuild import rebuild_sheet
from analytics.writethrough.state import load_states
from sheets.models import Sheet


class Command(BaseCommand):
    help = "Rebuild DuckLake sheet data (base tables, views, checkpoints) from the database."

    def add_arguments(self, parser):
        parser.add_argument("--sheet", type=int, action="append", help="only this sheet (repeatable)")

    def handle(self, *args, sheet, verbosity, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        con = connect()
        ensure_schema(con)
        ids = sheet or list(Sheet.objects.order_by("id").values_list("id", flat=True))
        if not sheet:
            # Sheets the lake knows but the database no longer has.
            _, states = load_states(con)
            ids += sorted(set(states) - set(ids))
        started = time.perf_counter()
        rows_total = 0
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=verbosity == 0,
        )
        with progress:
            overall = progress.add_task(f"Rebuilding {len(ids)} sheet(s)", total=len(ids))
            for sheet_id in ids:
                task = progress.add_task(f"  sheet {sheet_id}", total=None)

                def advance(n, total, task=task):
                    progress.update(task, total=total, advance=n)

                for attempt in range(5):
                    try:
                        _, state = rebuild_sheet(con, sheet_id, progress=advance)
                        break
                    except Exception as error:  # a concurrent writer committed first: try again
                        if "conflict" not in str(error).lower() or attempt == 4:
                            raise
                        progress.reset(task)
                rows_total += progress.tasks[task].completed
                if state is None:
                    progress.update(task, description=f"  sheet {sheet_id}: dropped (deleted)", total=0)
                else:
                    progress.update(task, description=f"  sheet {sheet_id} (v{state.version})")
                progress.advance(overall)
        con.close()
        console.print(
            f"Rebuilt {len(ids)} sheet(s), {int(rows_total):,} rows, in {time.perf_counter() - started:.1f} s."
        )

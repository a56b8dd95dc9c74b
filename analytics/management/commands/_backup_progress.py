"""The progress bars of `manage.py backup` and `manage.py restore`: one bar per stage of the
services' progress(stage, done, total) reports."""

import contextlib

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

# Stages whose counts are bytes (the others count files or steps).
BYTES = {"checksums", "archive", "verify"}
LABELS = {
    "lake catalog": "Lake catalog snapshot",
    "lake files": "Lake files",
    "database": "Database",
    "checksums": "Checksums",
    "archive": "Writing archive",
    "verify": "Verifying archive",
    "migrate": "Migrations",
}


def _amount(stage, done, total):
    if stage in BYTES:
        return f"{done / 1e6:,.1f}/{(total or 0) / 1e6:,.1f} MB"
    return f"{done}/{total}" if total is not None else str(done)


@contextlib.contextmanager
def progress_bars(stdout, verbosity):
    console = Console(file=stdout._out, highlight=False, soft_wrap=True)
    bars = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}"),
        TimeElapsedColumn(),
        console=console,
        disable=verbosity == 0,
    )
    tasks = {}

    def progress(stage, done, total):
        amount = _amount(stage, done, total)
        if stage not in tasks:
            if not tasks:
                bars.start()  # on the first report: a command refused at once prints only its error
            tasks[stage] = bars.add_task(LABELS.get(stage, stage), total=total, amount=amount)
        bars.update(tasks[stage], completed=done, total=total, amount=amount)

    try:
        yield console, progress
    finally:
        if tasks:
            bars.stop()

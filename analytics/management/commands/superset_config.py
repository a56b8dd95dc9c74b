"""Write Superset's config (var/superset/superset_config.py by default) from Gridcast's settings:
the guest-token secret, algorithm and audience Django signs with, the embedding headers, and
the hook that attaches Gridcast's DuckLake to every DuckDB connection Superset opens."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from analytics.superset.config import config_text


class Command(BaseCommand):
    help = "Write Superset's superset_config.py from Gridcast's settings (SUPERSET)."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(Path(settings.VAR_DIR) / "superset" / "superset_config.py"))

    def handle(self, *args, output, **options):
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = config_text(path.parent)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            self.stdout.write(f"wrote {path}")
        else:
            self.stdout.write(f"{path} is up to date")

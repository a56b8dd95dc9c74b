"""manage.py frames_doc: rewrite the frame tables of the docs from the frame registries (core.frames);
--check only says whether they are up to date."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.frames import doc_updates


class Command(BaseCommand):
    help = "Rewrite the generated frame tables of docs/*.md from the frame registries."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="fail when a doc is out of date; write nothing")

    def handle(self, *args, check=False, **options):
        base = Path(settings.BASE_DIR)
        stale = doc_updates(base)
        if check and stale:
            raise CommandError(f"out of date: {', '.join(str(p.relative_to(base)) for p in stale)}")
        for path, text in stale.items():
            path.write_text(text)
            self.stdout.write(f"rewrote {path.relative_to(base)}")
        if not stale:
            self.stdout.write("the frame tables are up to date")

"""Print the column-type table the pages give the front end (JSON), e.g. to refresh the front end's
test fixture: python manage.py column_types > frontend/src/test/columnTypes.json"""

import json

from django.core.management.base import BaseCommand

from sheets import column_types


class Command(BaseCommand):
    help = "Print the column-type table the front end gets (JSON)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(column_types.client_table(), indent=2, ensure_ascii=False))

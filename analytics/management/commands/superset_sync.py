"""Provision Superset for Gridcast: the DuckLake database, a dataset per sheet view and for
metric events, and each workspace's embedded dashboard. Safe to run again (updates in place)."""

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.superset.client import Client, available, conf
from analytics.superset.provisioning import sync_all, sync_workspace


class Command(BaseCommand):
    help = "Create or update Superset's DuckLake connection, datasets and per-workspace dashboards."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", type=int, action="append", help="only this workspace (repeatable)")

    def handle(self, *args, workspace=None, **options):
        if not available(timeout=3):
            raise CommandError(f"Superset does not answer at {conf('URL')}: start it with `make superset`")
        client = Client()
        started = time.monotonic()
        if workspace:
            dashboards = [sync_workspace(wid, client) for wid in workspace]
        else:
            dashboards = sync_all(client)
        for dashboard in dashboards:
            self.stdout.write(f"{dashboard.key}: dashboard {dashboard.superset_id}, embed {dashboard.uuid}")
        self.stdout.write(f"synced {len(dashboards)} workspace(s) in {time.monotonic() - started:.1f} s")

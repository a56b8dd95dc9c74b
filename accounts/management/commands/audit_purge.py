"""Delete the audit events older than the retention (GRIDCAST_AUDIT_RETENTION_DAYS); run it daily
from cron or a timer. Recording also purges, at most once a day."""

from django.core.management.base import BaseCommand

from accounts import audit


class Command(BaseCommand):
    help = "Delete audit events older than GRIDCAST_AUDIT_RETENTION_DAYS days (0: keep forever)."

    def handle(self, *args: object, **options: object) -> None:
        days = audit.retention_days()
        if days <= 0:
            self.stdout.write("Audit retention is 0 (keep forever): nothing deleted.")
            return
        deleted = audit.purge()
        self.stdout.write(f"Deleted {deleted} audit events older than {days} days.")

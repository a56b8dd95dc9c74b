"""The lake's lag for operators (core/metrics.py): how long after its commit in the database an
operation's batch was committed to the lake, per sheet and overall."""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from core import metrics


def lake_lag_observe(newest: dict[int, dt.datetime], applied: int) -> None:
    """After a batch's lake commit: `newest` maps each sheet of the batch to when its newest
    operation was committed; `applied` operations went in. Clocks of the web processes and the
    worker are compared, so they should agree (NTP)."""
    now = timezone.now()
    metrics.lake_operations.inc(applied)
    for sheet_id, created_at in newest.items():
        lag = max(0.0, (now - created_at).total_seconds())
        metrics.lake_lag.observe(lag)
        metrics.lake_lag_sheet.labels(metrics.sheet_label(sheet_id, settings.METRICS_SHEET_LABELS)).set(lag)

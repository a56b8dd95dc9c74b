"""Alert rules follow the data: evaluated when metrics are ingested or sheet data reaches the lake,
and on the worker's periodic pass. Connected by AnalyticsConfig.ready(); the producers
(analytics.metrics, analytics.writethrough) know nothing of alerts."""

import logging
from collections.abc import Callable

from analytics.metrics.signals import metrics_ingested
from analytics.writethrough.signals import cells_written, periodic_pass_due

from . import evaluation

log = logging.getLogger(__name__)


def on_metrics_ingested(sender: object, *, workspace_id: int, metrics: list[str], **kwargs: object) -> None:
    try:
        evaluation.rules_evaluate(workspace_id=workspace_id, metrics=metrics)
    except Exception:  # the events are stored whatever happens to an alert
        log.exception("alert evaluation failed for workspace %s", workspace_id)


def on_cells_written(sender: object, *, applied: dict[int, int], **kwargs: object) -> None:
    try:
        evaluation.sheet_rules_evaluate(sheet_ids=applied)
    except Exception:  # each rule's failure is caught inside: this is the query of the rules
        log.exception("alert rules of sheets %s not evaluated", sorted(applied))


def on_periodic_pass(sender: object, *, between: Callable[[], object] | None = None, **kwargs: object) -> None:
    """Every enabled rule: a metric window moves with time, so a rule must fire when data stops."""
    try:
        evaluation.rules_evaluate_all(between=between)
    except Exception:
        log.exception("periodic evaluation of alert rules failed")


def connect() -> None:
    metrics_ingested.connect(on_metrics_ingested, dispatch_uid="analytics.alerts.metrics_ingested")
    cells_written.connect(on_cells_written, dispatch_uid="analytics.alerts.cells_written")
    periodic_pass_due.connect(on_periodic_pass, dispatch_uid="analytics.alerts.periodic_pass_due")

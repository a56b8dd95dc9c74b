"""Live dashboards follow the data: a workspace's open dashboards recompute when its metrics are
ingested or its sheets' data reaches the lake. Connected by AnalyticsConfig.ready(); the producers
(analytics.metrics, analytics.writethrough) know nothing of dashboards."""

import logging

from analytics.metrics.signals import metrics_ingested
from analytics.writethrough.signals import cells_written

from . import live

log = logging.getLogger(__name__)


def on_metrics_ingested(sender: object, *, workspace_id: int, **kwargs: object) -> None:
    live.data_arrived(workspace_id)


def on_cells_written(sender: object, *, applied: dict[int, int], **kwargs: object) -> None:
    for workspace_id in set(applied.values()):
        try:
            live.data_arrived(workspace_id)
        except Exception:
            log.exception("dashboards of workspace %s not told of new sheet data", workspace_id)


def connect() -> None:
    metrics_ingested.connect(on_metrics_ingested, dispatch_uid="analytics.dashboards.metrics_ingested")
    cells_written.connect(on_cells_written, dispatch_uid="analytics.dashboards.cells_written")

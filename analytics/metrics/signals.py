"""What metric ingestion announces. Producers never import their consumers: alerts and live dashboards
connect receivers (analytics/alerts/receivers.py, analytics/dashboards/receivers.py)."""

from django.dispatch import Signal

# A batch of a workspace's events was committed (durable). Sent in the request's thread after the
# commit, with `workspace_id` and `metrics` (the sorted names of the batch's metrics).
metrics_ingested = Signal()

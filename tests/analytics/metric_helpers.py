"""Helpers of the metrics tests: API clients with scoped tokens, counting events in the lake."""

from rest_framework.test import APIClient

from accounts.models import ApiToken
from analytics.lake import connections as lake_connections
from analytics.metrics import schema as metric_schema


def token_client(user, workspace=None):
    _, key = ApiToken.issue(user=user, name="test", workspace=workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def stored(workspace_id, fresh=False):
    """Events of the workspace in DuckLake; fresh: through a brand-new connection (another process's view)."""
    metric_schema.ensure_table()
    if fresh:
        con = lake_connections.connect(read_only=True)
        try:
            return con.execute("SELECT count(*) FROM metric_events WHERE workspace_id = ?", [workspace_id]).fetchone()[
                0
            ]
        finally:
            con.close()
    return (
        metric_schema.connection()
        .execute("SELECT count(*) FROM lake.metric_events WHERE workspace_id = ?", [workspace_id])
        .fetchone()[0]
    )

"""API routes of metrics, aggregates, alerts, notifications and Superset guest tokens (mounted under
/api/v1/). Only the map: each view lives with its domain (metrics/api.py, queries/api.py,
alerts/api.py, superset/api.py, webhooks/api.py)."""

from django.urls import path

from .alerts import api as alerts_api
from .dashboards import public as dashboard_public
from .metrics import api as metrics_api
from .queries import api as queries_api
from .superset import api as superset_api
from .webhooks import api as webhooks_api

urlpatterns = [
    path("metrics/", metrics_api.MetricIngest.as_view(), name="api-metrics-ingest"),
    path("workspaces/<int:pk>/metrics/", queries_api.MetricList.as_view(), name="api-metrics"),
    path("workspaces/<int:pk>/metrics/aggregate/", queries_api.MetricAggregate.as_view(), name="api-metrics-aggregate"),
    path("workspaces/<int:pk>/metrics/export/", queries_api.MetricExport.as_view(), name="api-metrics-export"),
    path("workspaces/<int:pk>/alerts/", alerts_api.AlertRuleList.as_view(), name="api-alerts"),
    path("workspaces/<int:pk>/alerts/<int:rule_id>/", alerts_api.AlertRuleDetail.as_view(), name="api-alert"),
    path(
        "workspaces/<int:pk>/alerts/<int:rule_id>/history/",
        alerts_api.AlertRuleHistory.as_view(),
        name="api-alert-history",
    ),
    path(
        "workspaces/<int:pk>/alerts/<int:rule_id>/deliveries/",
        alerts_api.AlertRuleDeliveries.as_view(),
        name="api-alert-deliveries",
    ),
    path(
        "workspaces/<int:pk>/superset/guest-token/",
        superset_api.SupersetGuestToken.as_view(),
        name="api-superset-guest-token",
    ),
    path(
        "workspaces/<int:pk>/dashboard/public-links/",
        dashboard_public.DashboardPublicLinks.as_view(),
        name="api-dashboard-public-links",
    ),
    path(
        "workspaces/<int:pk>/dashboard/public-links/<int:link_id>/",
        dashboard_public.DashboardPublicLinkDetail.as_view(),
        name="api-dashboard-public-link",
    ),
    path("sheets/<int:pk>/webhooks/", webhooks_api.SheetWebhookList.as_view(), name="api-sheet-webhooks"),
    path(
        "sheets/<int:pk>/webhooks/<int:webhook_id>/",
        webhooks_api.SheetWebhookDetail.as_view(),
        name="api-sheet-webhook",
    ),
    path(
        "sheets/<int:pk>/webhooks/<int:webhook_id>/deliveries/",
        webhooks_api.SheetWebhookDeliveries.as_view(),
        name="api-sheet-webhook-deliveries",
    ),
    path("notifications/", alerts_api.NotificationList.as_view(), name="api-notifications"),
    path("notifications/read-all/", alerts_api.NotificationReadAll.as_view(), name="api-notifications-read-all"),
    path("notifications/<int:pk>/read/", alerts_api.NotificationRead.as_view(), name="api-notification-read"),
]

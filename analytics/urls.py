"""API routes of metrics, aggregates, alerts and notifications (mounted under /api/v1/)."""
from django.urls import path

from . import api, superset_api

urlpatterns = [
    path("metrics/", api.MetricIngest.as_view(), name="api-metrics-ingest"),
    path("workspaces/<int:pk>/metrics/", api.MetricList.as_view(), name="api-metrics"),
    path("workspaces/<int:pk>/metrics/aggregate/", api.MetricAggregate.as_view(), name="api-metrics-aggregate"),
    path("workspaces/<int:pk>/metrics/export/", api.MetricExport.as_view(), name="api-metrics-export"),
    path("workspaces/<int:pk>/alerts/", api.AlertRuleList.as_view(), name="api-alerts"),
    path("workspaces/<int:pk>/alerts/<int:rule_id>/", api.AlertRuleDetail.as_view(), name="api-alert"),
    path("workspaces/<int:pk>/superset/guest-token/", superset_api.SupersetGuestToken.as_view(),
         name="api-superset-guest-token"),
    path("notifications/", api.NotificationList.as_view(), name="api-notifications"),
    path("notifications/read-all/", api.NotificationReadAll.as_view(), name="api-notifications-read-all"),
    path("notifications/<int:pk>/read/", api.NotificationRead.as_view(), name="api-notification-read"),
]

"""The WebSocket routes of every app (config/asgi.py serves them)."""

from django.urls import path

from analytics.dashboards.consumers import DashboardConsumer
from analytics.dashboards.public import PublicDashboardConsumer
from realtime.consumers import SheetConsumer
from realtime.public import PublicSheetConsumer

websocket_urlpatterns = [
    path("ws/sheets/<int:sheet_id>/", SheetConsumer.as_asgi()),
    path("ws/public/dashboards/<str:key>/", PublicDashboardConsumer.as_asgi()),
    path("ws/public/<str:key>/", PublicSheetConsumer.as_asgi()),
    path("ws/dashboards/<int:workspace_id>/", DashboardConsumer.as_asgi()),
]

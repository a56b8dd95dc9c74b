from django.urls import path

from analytics.dashboards.consumers import DashboardConsumer

from .consumers import SheetConsumer

websocket_urlpatterns = [
    path("ws/sheets/<int:sheet_id>/", SheetConsumer.as_asgi()),
    path("ws/dashboards/<int:workspace_id>/", DashboardConsumer.as_asgi()),
]

"""Pages and page data of live dashboards (the REST API of metrics lives under /api/v1/)."""

from django.urls import path

from . import pages
from .dashboards import views

urlpatterns = [
    path("workspaces/<int:workspace_id>/dashboard/", pages.dashboard_page, name="dashboard"),
    path("workspaces/<int:workspace_id>/dashboard/layout/", views.dashboard_layout, name="dashboard-layout"),
    path("workspaces/<int:workspace_id>/dashboard/events/", views.dashboard_events, name="dashboard-events"),
    path("workspaces/<int:workspace_id>/dashboard/widget/", views.dashboard_widget, name="dashboard-widget"),
    path("notifications/events/", views.notification_events, name="notification-events"),
]

"""The live dashboard page (a Django template hosting the Svelte dashboard): Gridcast's own live
widgets (analytics.dashboards) beside the workspace's embedded Superset dashboard
(analytics.superset). It composes two domains, so it sits above both."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sheets.selectors import workspace_sheets_with_columns

from .dashboards import layouts
from .dashboards.views import viewable_workspace
from .queries.widget_query import AGGS, BUCKETS
from .superset.embedding import superset_panel


@login_required
def dashboard_page(request: HttpRequest, workspace_id: int) -> HttpResponse:
    workspace, access = viewable_workspace(request.user, workspace_id)
    wid = workspace.pk
    config = {
        "workspace": {"id": wid, "name": workspace.name},
        "access": access.name.lower(),
        "you": {"id": request.user.pk, "name": request.user.label},
        "dashboard": layouts.dashboard_for_user(user=request.user, workspace_id=wid),
        "options": {"types": layouts.WIDGET_TYPES, "aggs": AGGS, "buckets": BUCKETS},
        # The workspace's sheets and their columns, for the pickers of sheet alert rules (and widgets).
        "sheets": workspace_sheets_with_columns(wid),
        "urls": {
            "layout": f"/workspaces/{wid}/dashboard/layout/",
            "events": f"/workspaces/{wid}/dashboard/events/",
            "widget": f"/workspaces/{wid}/dashboard/widget/",
            "sheetExport": "/api/v1/sheets/{id}/export/",
            "socket": f"/ws/dashboards/{wid}/",
            "metrics": f"/api/v1/workspaces/{wid}/metrics/",
            "aggregate": f"/api/v1/workspaces/{wid}/metrics/aggregate/",
            "export": f"/api/v1/workspaces/{wid}/metrics/export/",
            "alerts": f"/api/v1/workspaces/{wid}/alerts/",
        },
        "superset": superset_panel(wid),
    }
    return render(request, "dashboard.html", {"workspace": workspace, "config": config})

from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from realtime.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("sheets.api.urls")),
    path("api/v1/", include("analytics.urls")),  # metrics, aggregates, alerts, notifications
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask every site for /favicon.ico (a 404 there is an error in the console).
    path("favicon.ico", lambda request: redirect(static("favicon.svg"))),
    path("", include("analytics.dashboard_urls")),
    path("", include("accounts.urls")),
]


def handler404(request, exception=None):
    """API clients get JSON, people the usual page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "no such API endpoint"}}, status=404)
    return page_not_found(request, exception)

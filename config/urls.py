from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views import defaults

from accounts.admin_login import RateLimitedAdminAuthenticationForm
from realtime.views import metrics_view
from core.api_errors import json_error_page

# The admin login counts failed attempts with allauth's limits (accounts/admin_login.py).
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("sheets.api.urls")),
    path("api/v1/", include("analytics.urls")),  # metrics, aggregates, alerts, notifications
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask every site for /favicon.ico (a 404 there is an error in the console).
    path("favicon.ico", lambda request: redirect(static("favicon.svg"))),
    path("", include("analytics.dashboard_urls")),
    path("", include("sheets.urls")),
    path("", include("accounts.urls")),
]


def _api_or_page(status_code, page):
    """API clients get JSON (core/api_errors.py), people the usual page."""
    def handler(request, exception=None):
        if request.path.startswith("/api/"):
            return json_error_page(request, status_code, exception)
        return page(request) if status_code == 500 else page(request, exception)

    return handler


handler400 = _api_or_page(400, defaults.bad_request)
handler403 = _api_or_page(403, defaults.permission_denied)
handler404 = _api_or_page(404, defaults.page_not_found)
handler500 = _api_or_page(500, defaults.server_error)

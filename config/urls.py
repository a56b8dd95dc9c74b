from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from accounts.admin_login import RateLimitedAdminAuthenticationForm
from config.health import healthz, metrics_view, readyz
from core.pages import error_handler

# The admin login counts failed attempts with allauth's limits (accounts/admin_login.py).
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("sheets.api.urls")),
    path("api/v1/", include("analytics.urls")),  # metrics, aggregates, alerts, notifications
    # Operators' endpoints (config/health.py, docs/operations.md): no login, no throttle.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask every site for /favicon.ico (a 404 there is an error in the console).
    path("favicon.ico", lambda request: redirect(static("favicon.svg"))),
    path("", include("analytics.dashboard_urls")),
    path("", include("sheets.urls")),
    path("", include("accounts.urls")),
]


handler400 = error_handler(400)
handler403 = error_handler(403)
handler404 = error_handler(404)
handler500 = error_handler(500)

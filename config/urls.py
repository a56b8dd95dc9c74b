from django.contrib import admin
from django.urls import include, path

from realtime.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("sheets.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("accounts.urls")),
]

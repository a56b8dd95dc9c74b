from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from . import metrics


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Counters of this process, for staff or with `Authorization: Bearer $METRICS_TOKEN`."""
    token = settings.METRICS_TOKEN
    allowed = request.user.is_authenticated and request.user.is_staff
    if token and request.headers.get("Authorization") == f"Bearer {token}":
        allowed = True
    if not allowed:
        return HttpResponseForbidden("metrics are for staff or the METRICS_TOKEN bearer\n")
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4")

"""How a page answers a failure (the REST answers are core/api_errors.py, the WebSocket's error
frames realtime's): Django's error handlers give /api/ paths JSON and people the usual page, and a
domain error that escapes a page view is answered with the page of its status."""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults

from .api_errors import json_error_page
from .errors import GridcastError

_PAGES = {
    400: defaults.bad_request,
    403: defaults.permission_denied,
    404: defaults.page_not_found,
    500: defaults.server_error,
}


def error_handler(status_code: int) -> Callable[..., HttpResponse]:
    """Django's handler400/403/404/500 (config/urls.py)."""

    def handler(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if request.path.startswith("/api/"):
            return json_error_page(request, status_code, exception)
        page = _PAGES[status_code]
        return page(request) if status_code == 500 else page(request, exception)

    return handler


class DomainErrorPages:
    """A GridcastError raised in a page view becomes the page of its status: Django's not found or
    forbidden page, else its message as text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, GridcastError) or request.path.startswith("/api/"):
            return None
        if exception.status == 404:
            return _PAGES[404](request, Http404(exception.message))
        if exception.status == 403:
            return _PAGES[403](request, DjangoPermissionDenied(exception.message))
        return HttpResponse(exception.message, status=exception.status, content_type="text/plain; charset=utf-8")

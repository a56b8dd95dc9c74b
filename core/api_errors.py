"""Every API error is JSON: {"error": {"code", "message", ...}} with the right status, a failure of
the server's own included (500, "server_error", logged, with nothing of its internals). DRF's
views answer through exception_handler; whatever fails outside them (middleware, Django refusing
the request) through json_error_page, which config/urls.py installs as Django's error handlers
(400, 403, 404, 500) for /api/ paths."""

import logging
from typing import Any

from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core import jsonio
from core.errors import GridcastError

log = logging.getLogger("django.request")
SERVER_ERROR = {"code": "server_error", "message": "the server failed; try again later"}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def error_response(code: str, message: str, status_code: int, **extra: Any) -> Response:
    return Response({"error": {"code": code, "message": message, **extra}}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, GridcastError):
        return Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return error_response("too_large", "request body is too large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        return error_response("not_found", "not found", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = exc.default_code if not isinstance(exc, exceptions.ValidationError) else "invalid"
        extra = {"fields": exc.detail} if isinstance(exc, exceptions.ValidationError) else {}
        body = {"error": {"code": code, "message": _first_message(exc.detail), **extra}}
        return Response(body, status=exc.status_code, headers=headers)
    # A fault of ours: logged with its traceback and signalled as Django does (the test client
    # raises it unless told not to), answered without it.
    request = getattr(context.get("request"), "_request", None)
    log.error("Internal Server Error: %s", getattr(request, "path", "?"), exc_info=exc)
    signals.got_request_exception.send(sender=None, request=request)
    set_rollback()
    return Response({"error": SERVER_ERROR}, status=500)


# --- Django's error handlers, for /api/ paths ----------------------------------------------------


def json_error(error: GridcastError | str, message: str = "", status_code: int = 400) -> HttpResponse:
    """The JSON error answer of a view outside DRF (the dashboard's endpoints, Django's handlers): a
    domain error with its status, or a code, its message and a status; the same body as the API's."""
    if isinstance(error, GridcastError):
        body, status_code = error.as_dict(), error.status
    else:
        body = {"code": error, "message": message}
    return HttpResponse(jsonio.dumps({"error": body}), status=status_code, content_type="application/json")


def json_error_page(request: HttpRequest, status_code: int, exception: Exception | None = None) -> HttpResponse:
    """The JSON answer of an /api/ path for Django's handler400, 403, 404 and 500."""
    if status_code == 500:
        return json_error(SERVER_ERROR["code"], SERVER_ERROR["message"], 500)
    return json_error(
        *{
            400: ("bad_request", "the request could not be understood"),
            403: ("forbidden", "you may not do this"),
            404: ("not_found", "no such API endpoint"),
        }[status_code],
        status_code,
    )

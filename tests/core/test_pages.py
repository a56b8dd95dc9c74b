"""core.pages: a domain error escaping a page view is answered with the page of its status."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.errors import Conflict, NotFound, PermissionDenied
from core.pages import DomainErrorPages, error_handler


@pytest.fixture
def middleware():
    return DomainErrorPages(lambda request: HttpResponse("fine"))


@pytest.mark.parametrize(
    "error, status", [(NotFound("no such sheet"), 404), (PermissionDenied("no"), 403), (Conflict("taken"), 409)]
)
def test_a_domain_error_in_a_page_view_is_the_page_of_its_status(middleware, error, status):
    response = middleware.process_exception(RequestFactory().get("/sheets/1/"), error)
    assert response.status_code == status


def test_api_paths_and_other_errors_are_left_to_their_own_handlers(middleware):
    assert middleware.process_exception(RequestFactory().get("/api/v1/sheets/1/"), NotFound("x")) is None
    assert middleware.process_exception(RequestFactory().get("/sheets/1/"), ValueError("x")) is None


def test_the_error_handlers_answer_json_under_api_and_a_page_elsewhere():
    api = error_handler(404)(RequestFactory().get("/api/v1/nothing/"))
    page = error_handler(404)(RequestFactory().get("/nothing/"))
    assert api["Content-Type"] == "application/json" and b'"not_found"' in api.content
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")

"""Every /api/ error is JSON {"error": {"code", "message", ...}}, a failure of the server's own
(500) included, and says nothing of the server's internals; pages stay HTML.

Before: an exception in a DRF view, and any 500, 400 or 403 outside DRF, was Django's HTML page."""

import json

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import get_resolver

from sheets import selectors

pytestmark = pytest.mark.django_db

SECRET = "secret-internals: psycopg.OperationalError at 10.0.0.7"


@pytest.fixture
def client(api, owner):
    client = api(owner)
    client.raise_request_exception = False  # answer as a served request does
    return client


def assert_json_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@override_settings(DEBUG=False)
def test_an_unexpected_exception_in_an_api_view_is_a_json_500_without_internals(client, sheet, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(selectors, "sheets_for_user", broken)
    response = client.get("/api/v1/sheets/")
    error = assert_json_error(response, 500, "server_error")
    assert SECRET not in response.content.decode() and "Traceback" not in response.content.decode()
    assert error == {"code": "server_error", "message": "the server failed; try again later"}
    # The operator still gets the traceback, in the log.
    assert any(
        record.levelname == "ERROR" and record.exc_info and SECRET in str(record.exc_info[1])
        for record in caplog.records
    )


@override_settings(DEBUG=False)
def test_a_failure_in_a_write_rolls_back_and_is_a_json_500(client, sheet, monkeypatch):
    from sheets.services import operations

    original = operations.next_version

    def fail_after_the_version(sheet_id):
        original(sheet_id)
        raise RuntimeError(SECRET)

    monkeypatch.setattr(operations, "next_version", fail_after_the_version)
    before = type(sheet).objects.get(pk=sheet.pk).version
    response = client.patch(f"/api/v1/sheets/{sheet.pk}/", {"name": "Renamed"}, format="json")
    assert_json_error(response, 500, "server_error")
    assert type(sheet).objects.get(pk=sheet.pk).version == before


def test_the_test_client_still_raises_it_unless_told_not_to(api, owner, monkeypatch):
    monkeypatch.setattr(selectors, "sheets_for_user", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        api(owner).get("/api/v1/sheets/")


@pytest.mark.parametrize(
    "status, code", [(400, "bad_request"), (403, "forbidden"), (404, "not_found"), (500, "server_error")]
)
def test_djangos_error_handlers_answer_api_paths_in_json_and_pages_in_html(status, code):
    handler = get_resolver().resolve_error_handler(status)
    request = RequestFactory().get("/api/v1/anything/")
    args = (request,) if status == 500 else (request, Exception(SECRET))
    response = handler(*args)
    assert_json_error(response, status, code)
    assert SECRET not in response.content.decode()
    page = RequestFactory().get("/some/page/")
    response = handler(page) if status == 500 else handler(page, Exception(SECRET))
    assert response.status_code == status and not response["Content-Type"].startswith("application/json")


@override_settings(DEBUG=False)
def test_an_unknown_api_path_is_a_json_404(owner):
    response = Client().get("/api/v1/no/such/thing/")
    assert_json_error(response, 404, "not_found")


@override_settings(DEBUG=False)
def test_a_request_django_refuses_before_any_view_is_json(owner):
    # A Host not allowed is refused by Django itself (SuspiciousOperation: a 400 through handler400).
    response = Client(raise_request_exception=False).get("/api/v1/sheets/", HTTP_HOST="evil.example")
    assert_json_error(response, 400, "bad_request")
    response = Client(raise_request_exception=False).get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("body", ["{", "[" * 5000 + "]" * 5000, '{"name": NaN}', '{"name": "\\udc00"}'])
def test_a_body_that_is_not_acceptable_json_is_a_json_400(client, sheet, body):
    response = client.patch(f"/api/v1/sheets/{sheet.pk}/", body, content_type="application/json")
    assert_json_error(response, 400, "parse_error")

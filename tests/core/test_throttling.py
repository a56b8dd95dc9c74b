"""Threat: one user or client floods the REST API (or its expensive endpoints) and slows everyone
else. Requests are throttled per user, per anonymous IP and per expensive scope, counted in the
shared cache (Redis) so the limit holds across processes; over it: 429 JSON with Retry-After."""

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import make_sheet

pytestmark = pytest.mark.django_db


def rates(**changed):
    """Lower rates; per day in tests, so that no window ends (the count starts over) mid-test."""
    framework = dict(settings.REST_FRAMEWORK)
    framework["DEFAULT_THROTTLE_RATES"] = {**framework["DEFAULT_THROTTLE_RATES"], **changed}
    return override_settings(REST_FRAMEWORK=framework)


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert "json" in response["Content-Type"]
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_the_cache_is_redis_with_a_prefix_per_installation():
    default = settings.CACHES["default"]
    assert default["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings.INSTALLATION_NAME in default["KEY_PREFIX"]


def test_a_user_over_the_rate_gets_429_json_with_retry_after(api, owner, workspace):
    client = api(owner)
    with rates(user="3/d"):
        for _ in range(3):
            assert client.get("/api/v1/workspaces/").status_code == 200
        assert_throttled(client.get("/api/v1/workspaces/"))


def test_one_users_flood_does_not_throttle_another(api, owner, editor, workspace):
    with rates(user="2/d"):
        flooder = api(owner)
        for _ in range(3):
            flooder.get("/api/v1/workspaces/")
        assert_throttled(flooder.get("/api/v1/workspaces/"))
        assert api(editor).get("/api/v1/workspaces/").status_code == 200


def test_anonymous_requests_are_counted_per_ip_ignoring_a_forged_forwarded_for():
    """The schema is open to anonymous clients: changing X-Forwarded-For (no trusted proxy is
    configured) does not make a new client; another address does."""
    with rates(anon="1/d"):
        client = APIClient()
        assert client.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 200
        assert_throttled(client.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR="10.0.0.9"))
        other = APIClient(REMOTE_ADDR="192.0.2.7")
        assert other.get("/api/v1/schema/?format=json").status_code == 200


def test_expensive_endpoints_have_their_own_lower_limit(api, owner, workspace):
    sheet = make_sheet(workspace, owner)
    client = api(owner)
    with rates(exports="2/d"):
        for _ in range(2):
            assert client.get(f"/api/v1/sheets/{sheet.pk}/export/?format=csv").status_code == 200
        assert_throttled(client.get(f"/api/v1/sheets/{sheet.pk}/export/?format=csv"))
        # ordinary endpoints are not held back by the export limit
        assert client.get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200


def test_aggregates_and_ingestion_are_scoped(api, owner, workspace):
    client = api(owner)
    with rates(aggregates="1/d"):
        url = f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/?metric=orders&agg=count"
        assert client.get(url).status_code != 429
        assert_throttled(client.get(url))
    with rates(ingest="1/d"):
        client.post("/api/v1/metrics/", {"workspace": workspace.pk, "events": []}, format="json")
        assert_throttled(client.post("/api/v1/metrics/", {"workspace": workspace.pk, "events": []}, format="json"))


def test_the_count_is_shared_between_processes(api, owner, workspace):
    """A second process is a second connection to the same Redis: its requests count too."""
    from core import throttling

    client = api(owner)
    other_process = RedisCache(
        settings.CACHES["default"]["LOCATION"], {"KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"]}
    )
    assert other_process is not caches["default"]
    with rates(user="3/d"):
        assert client.get("/api/v1/workspaces/").status_code == 200
        original, throttling.cache = throttling.cache, other_process
        try:
            assert client.get("/api/v1/workspaces/").status_code == 200
            assert client.get("/api/v1/workspaces/").status_code == 200
        finally:
            throttling.cache = original
        assert_throttled(client.get("/api/v1/workspaces/"))


def test_guessing_api_tokens_is_throttled_per_ip_even_for_a_right_guess(owner, workspace):
    from accounts.models import ApiToken

    _, key = ApiToken.issue(user=owner, name="real")
    client = APIClient()
    with rates(token_failures="3/d"):
        for n in range(3):
            client.credentials(HTTP_AUTHORIZATION=f"Token gc_wrong{n}")
            assert client.get("/api/v1/workspaces/").status_code == 401
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert_throttled(client.get("/api/v1/workspaces/"))
        # another client IP with the right token is served
        other = APIClient(REMOTE_ADDR="192.0.2.8")
        other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert other.get("/api/v1/workspaces/").status_code == 200

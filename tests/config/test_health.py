"""/healthz, /readyz and /metrics (config/health.py): unauthenticated, cheap, and honest about
what does not answer."""

import socket
import time

import pytest
from django.test import Client, override_settings

from analytics.lake import connections as lake_connections

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _lake_closed(settings):
    # A process's first lake check opens the connection (extensions, the catalog's ATTACH): on a
    # busy test machine that may take longer than the 2 s default.
    settings.READY_TIMEOUT = 20
    yield
    lake_connections.close_all()  # the lake connection holds the test database open


def test_healthz_answers_ok_without_login():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert Client().post("/healthz").status_code == 405


def test_readyz_is_ready_when_database_redis_and_lake_answer():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "lake": "ok"}}


def test_readyz_names_redis_when_it_does_not_answer():
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["redis"]
    assert body["checks"]["redis"].startswith("failed: ConnectionError")
    assert body["checks"]["database"] == "ok" and body["checks"]["lake"] == "ok"


def test_readyz_skips_redis_on_the_in_memory_layer():
    with override_settings(REDIS_URL=""):
        response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"].startswith("skipped")


def test_readyz_names_the_lake_when_its_catalog_does_not_answer_and_never_shows_its_password(settings):
    port = closed_port()
    settings.ANALYTICS = {
        **settings.ANALYTICS,
        "CATALOG": f"postgres:dbname=nope host=127.0.0.1 port={port} user=x password=Sup3rS3cret",
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["lake"]
    reason = response.json()["checks"]["lake"]
    assert reason.startswith("failed: IOException") and "password=[redacted]" in reason
    assert b"Sup3rS3cret" not in response.content


def test_readyz_never_shows_a_redis_password(settings):
    settings.REDIS_URL = f"redis://:Sup3rS3cret@127.0.0.1:{closed_port()}/0"
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["redis"]
    assert b"Sup3rS3cret" not in response.content


def test_readyz_gives_up_on_a_check_after_the_timeout(settings):
    """A Redis that accepts the connection and never answers: 503 after READY_TIMEOUT, not a hang."""
    assert Client().get("/readyz").status_code == 200  # the lake's connection opened (slow the first time)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.READY_TIMEOUT = 1
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        response = Client().get("/readyz")
        took = time.monotonic() - started
    assert response.status_code == 503 and "redis" in response.json()["failed"]
    assert "Timeout" in response.json()["checks"]["redis"] or "no answer" in response.json()["checks"]["redis"]
    assert took < 5


def test_health_endpoints_are_not_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)

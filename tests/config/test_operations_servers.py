"""Operations as production runs them: two uvicorn processes sharing PROMETHEUS_MULTIPROC_DIR and
logging JSON lines (docs/operations.md)."""

import json
import urllib.error
import urllib.request

import pytest

from tests.config.test_metrics import sample
from tests.realtime.servers import running_servers

pytestmark = pytest.mark.django_db(transaction=True)


def get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_two_processes_one_scrape_json_logs_and_readiness(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    with running_servers(
        ["uvicorn", "uvicorn"],
        "redis://127.0.0.1:6379/9",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        GRIDCAST_LOG_FORMAT="json",
        GRIDCAST_READY_TIMEOUT=20,
    ) as (first, second):
        status, headers, _ = get(f"{first.http_url}/no/such/page", **{"X-Request-ID": "probe-42"})
        assert status == 404 and headers["X-Request-ID"] == "probe-42"
        labels = {"method": "GET", "route": "/healthz", "status": "200"}
        count = "gridcast_http_request_duration_seconds_count"
        before = sample(get(f"{second.http_url}/metrics")[2], count, **labels)  # the start-up probes
        for _ in range(3):
            assert get(f"{first.http_url}/healthz")[0] == 200
        assert get(f"{second.http_url}/healthz")[0] == 200
        status, _, body = get(f"{second.http_url}/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"] == {"database": "ok", "redis": "ok", "lake": "ok"}
        # One scrape of either process has both processes' requests.
        text = get(f"{second.http_url}/metrics")[2]
        assert sample(text, count, **labels) == before + 4
        lines = [json.loads(line) for line in first.log.read_text().splitlines() if line.startswith("{")]
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and not_found[0]["request_id"] == "probe-42" and "/no/such/page" in not_found[0]["message"]

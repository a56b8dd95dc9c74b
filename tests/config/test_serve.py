"""`make serve` (config/serve.py, deploy/Procfile): production settings, two uvicorn processes
behind HAProxy, the analytics worker and the jobs worker, under honcho. Started here as the Makefile starts it (on the
test database and a Redis database of its own, Superset left out), then: both web processes serve
through the load balancer, clients editing through it converge, and when one web process is
killed with SIGKILL its clients are back through the other and no acknowledged edit is lost."""

import asyncio
import json
import os
import re
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from accounts.models import ApiToken
from sheets.models import ImportJob, Row

from ..factories import make_sheet
from ..realtime.servers import SheetClient, sheet_state, wait_until
from ..realtime.servers import test_database_url as database_url
from . import failover
from .failover import alive

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="HAProxy is installed by `make serve`"),
]


class Served(failover.Served):
    """config.serve on the test database and a Redis database of its own, Superset left out."""

    def __init__(self, tmp_path):
        redis_db = int(settings.REDIS_URL.rsplit("/", 1)[-1] or 0) if settings.REDIS_URL else 0
        super().__init__(
            tmp_path,
            database_url(),
            f"redis://127.0.0.1:6379/{(redis_db + 1) % 16}",
            # The test database's lake catalog may exist already (made by earlier tests): it keeps
            # its data path, and a worker given another one could never attach it.
            data_path=settings.ANALYTICS["DATA_PATH"],
        )

    def metrics_of_every_process(self):
        """Any one scrape through HAProxy has the edits of both web processes and the worker's
        heartbeat (PROMETHEUS_MULTIPROC_DIR shared by the processes)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        edits = re.search(r"^gridcast_ws_edits_total (\S+)$", text, re.MULTILINE)
        beat = re.search(r"^gridcast_worker_heartbeat_timestamp_seconds (\S+)$", text, re.MULTILINE)
        return edits and float(edits.group(1)) >= 4 and beat and abs(float(beat.group(1)) - time.time()) < 30


@pytest.fixture
def served(tmp_path, transactional_db):
    stack = Served(tmp_path).wait_up(90)
    yield stack
    stack.stop()


@pytest.fixture
def room(workspace, owner, editor):
    sheet = make_sheet(workspace, owner, rows=3, columns=[{"name": "A"}, {"name": "B"}])
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet, rows, [ApiToken.issue(user=person, name="ws")[1] for person in (owner, editor)]


async def test_serve_balances_edits_over_two_web_processes_and_survives_one_killed(served, room):
    sheet, rows, keys = room
    ws = served.url.replace("http", "ws") + f"/ws/sheets/{sheet.pk}/?token="
    clients = [await SheetClient(ws + keys[i % 2], f"client{i}").start() for i in range(4)]
    try:
        for i, client in enumerate(clients):
            await client.result(await client.edit(rows[i % 3], "c1", f"before {i}"))
        await asyncio.to_thread(wait_until, served.metrics_of_every_process, 90, 0.25, "every process's metrics")

        web1 = served.pid("web.1", "uvicorn")
        os.kill(web1, signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: not alive(web1), 10, 0.05, "web.1 to die")
        started = time.monotonic()
        for i, client in enumerate(clients):  # written at once: those on web.1 resend after reconnecting
            await client.edit(rows[i % 3], "c2", f"after {i}")
        for client in clients:
            await client.wait(lambda c=client: not c.unacked, 30, "its writes to be answered")
        back = time.monotonic() - started

        version, state = await database_sync_to_async(sheet_state)(sheet.pk)
        for client in clients:
            await client.synced(version, 30)
            assert client.model() == state, client.status()
        assert {state[rows[i % 3]][1]["c2"] for i in range(4)} <= {f"after {i}" for i in range(4)}
        assert any(client.connects > 1 for client in clients), "no client was on the killed process"
        assert back < 20, f"clients took {back:.1f} s to be back"
        assert served.process.poll() is None, served.output()  # the rest kept running
        again = lambda: served.output().count("Server web/web1 is UP") >= 2  # noqa: E731
        await asyncio.to_thread(wait_until, again, 30, 0.25, "web.1 to be started again and back in HAProxy")
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def test_serve_runs_large_imports_in_its_jobs_process(served, workspace, editor):
    """A large upload through HAProxy is queued by a web process and imported by the `jobs` process
    (manage.py jobs_worker), never by the web process that took it."""
    _, key = ApiToken.issue(user=editor, name="import")
    note = "x" * 600
    csv = "name,amount,note\n" + "".join(f"n{j},{j},{note}\n" for j in range(2000))
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="large.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ).encode()

    def call(path, data=None, content_type="application/json"):
        request = urllib.request.Request(
            served.url + path,
            data=data,
            method="POST" if data else "GET",
            headers={"Authorization": f"Token {key}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())

    status, job = call(f"/api/v1/workspaces/{workspace.pk}/import/", body, f"multipart/form-data; boundary={boundary}")
    assert status == 202, job
    wait_until(lambda: call(f"/api/v1/imports/{job['id']}/")[1]["status"] in ("done", "failed"), 120, 0.25, "the job")
    _, job = call(f"/api/v1/imports/{job['id']}/")
    assert job["status"] == "done" and job["rows"] == 2000, job
    owner_pid = int(ImportJob.objects.get(pk=job["id"]).owner.split(":")[1])
    assert owner_pid in (served.pid("jobs.1", "python"), served.pid("jobs.2", "python")), served.output()[-3000:]

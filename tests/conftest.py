import asyncio
import sys
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import Role
from core.jobs import JobsWorker
from sheets.selectors import row_index

from .factories import make_sheet, member, user
from .frames import checked_on


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """item.gc_failed: whether the test itself failed (fixtures that keep screenshots or logs of
    failures read it at teardown)."""
    report = yield
    if report.when == "call":
        item.gc_failed = report.failed
    return report


@pytest.fixture(scope="session", autouse=True)
def _sync_thread_connections_closed(django_db_setup):
    """Consumers reach the database in asgiref's one sync thread, and WebsocketCommunicator turns
    Channels' connection clean-up off: that thread's connection, left open, would keep the test
    database from being dropped at the end of the session."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(scope="session", autouse=True)
def _flush_retried():
    """A transactional test ends with Django's flush: one TRUNCATE of every table. The browser
    tests' server is another process, still answering the last requests of a page just closed; when
    one of those locks tables in another order than the TRUNCATE, PostgreSQL ends the deadlock by
    failing one of the two. A failed flush left the next test the rows of this one (CI, stop 24),
    so a flush that fails on the database is retried, with the cause printed."""
    from django.core.management.base import CommandError
    from django.core.management.commands.flush import Command
    from django.db import DatabaseError

    handle = Command.handle

    def handle_retried(self, *args, **options):
        for attempt in range(1, 6):
            try:
                return handle(self, *args, **options)
            except CommandError as error:
                if attempt == 5 or not isinstance(error.__cause__, DatabaseError):
                    raise
                print(f"flush failed ({error.__cause__!r}), retried", file=sys.stderr)
                time.sleep(0.2 * attempt)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Command, "handle", handle_retried)
        yield


@pytest.fixture(autouse=True)
def _frames_checked(monkeypatch):
    """Every frame a test receives over a WebsocketCommunicator (receive_from and receive_json_from
    read through receive_output) is checked against its type's schema: an unknown type or a frame
    that does not match fails the test (tests/frames.py)."""
    receive_output = WebsocketCommunicator.receive_output

    async def receive_checked(self, timeout=1):
        message = await receive_output(self, timeout)
        if message.get("type") == "websocket.send" and isinstance(message.get("text"), str):
            checked_on(self.scope["path"], message["text"])
        return message

    monkeypatch.setattr(WebsocketCommunicator, "receive_output", receive_checked)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The cache is Redis, kept between runs: throttle and login-failure counts of one test (or an
    earlier run) must not throttle the next. Only this installation's keys are removed."""
    from django.core.cache import cache

    clear_cache(cache)
    yield


def clear_cache(cache):
    client = getattr(cache, "_cache", None)
    if client is None or not hasattr(client, "get_client"):
        cache.clear()
        return
    redis = client.get_client(write=True)
    keys = list(redis.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_row_index():
    row_index.clear()
    yield
    row_index.clear()


@pytest.fixture
def workspace(db):
    from .factories import WorkspaceFactory

    return WorkspaceFactory()


@pytest.fixture
def owner(workspace):
    return member(workspace, Role.OWNER)


@pytest.fixture
def editor(workspace):
    return member(workspace, Role.EDITOR)


@pytest.fixture
def viewer(workspace):
    return member(workspace, Role.VIEWER)


@pytest.fixture
def outsider(db):
    return user()


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner)


@pytest.fixture
def api():
    def client_for(as_user=None):
        client = APIClient()
        if as_user is not None:
            client.force_authenticate(as_user)
        return client

    return client_for


@pytest.fixture
def jobs_worker(transactional_db):
    """A jobs worker (core.jobs, as the embedded server runs it) in a thread of the test process, for
    the background jobs the test queues (imports, formula recomputes, Superset syncs); stopped
    after its current task."""
    stop = threading.Event()

    def run():
        try:
            JobsWorker(stop=stop).run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="test-jobs-worker", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(60)
    assert not thread.is_alive(), "the jobs worker did not stop"


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID Connect provider (tests/oidc_provider/), running on loopback for the session."""
    from .oidc_provider.process import OIDCProvider

    provider = OIDCProvider().start()
    yield provider
    provider.close()

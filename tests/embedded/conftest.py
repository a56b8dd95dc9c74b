"""The embedded default, started the way a newcomer starts it: `make run` in a process group of its
own, on a fresh GRIDCAST_VAR_DIR, with none of the suite's DATABASE_URL, REDIS_URL or
DJANGO_SETTINGS_MODULE (so it gets SQLite, the in-memory channel layer and the DuckLake catalog in
SQLite). The tests talk to it over HTTP and drive it with Debian's Chromium; they never touch the
pytest-django test database (the one fixture of tests/conftest.py that sets it up is overridden here).

One `make run` serves the whole package (fixtures of package scope), and it is stopped with SIGINT
(Ctrl-C) at the end; a server that does not stop within the grace period is killed and fails the
suite. Every test fails on a response >= 500, a console error or page error in the browser, and on
a Traceback (or "database is locked", or asyncio's "Task was destroyed but it is pending") that the
server printed while it ran. Screenshots and a copy of the server's output go to
test-artifacts/embedded/ (GC_ARTIFACTS to change the parent directory).

SUPERSET=0, and SUPERSET_URL points where nothing answers (see run_env): the suite's other tests
own Superset.
"""

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.chromium import launched

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GC_ARTIFACTS", REPO / "test-artifacts")) / "embedded"

START_TIMEOUT = 120  # first answer of /accounts/login/ (a front-end build and the seeding included)
STOP_GRACE = 20  # seconds between SIGINT and SIGKILL
DEMO_PASSWORD = "gridcast-demo"
OWNER, EDITOR, SUPERUSER = "owner@demo.gridcast", "editor@demo.gridcast", "superuser@demo.gridcast"
# What the server must never print while the suite runs: an exception, SQLite's lock timeout, and
# asyncio's word on a task left behind (a leak that Python reports without a traceback).
BAD_OUTPUT = re.compile(
    r"Traceback|database is locked|Task was destroyed but it is pending|exception was never retrieved"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A port nobody listens on (the discard service): where the embedded server looks for Superset.
NO_SUPERSET = "http://127.0.0.1:9"


def run_env(port, var_dir):
    """The environment of `make run`: the caller's, less what the suite's own settings put there
    (config.settings.test sets DATABASE_URL and REDIS_URL in this very process), less make's own
    variables (`make test PORT=...` would pass PORT on to a nested make through MAKEFLAGS).

    SUPERSET=0 starts no Superset, but the server still uses one that answers on SUPERSET_URL
    (default 127.0.0.1:8088): the suite's (`make test` exports its URL) or a developer's own, whose
    "Gridcast DuckLake (gridcast)" database it would point at this run's temporary lake. The suite's
    other tests own Superset, so this one points SUPERSET_URL where nothing answers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
        and not k.startswith(("PYTEST_", "DJANGO_", "SUPERSET_"))
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        GRIDCAST_VAR_DIR=str(var_dir),
        SUPERSET="0",
        SUPERSET_URL=NO_SUPERSET,
        PYTHONUNBUFFERED="1",
        # test_concurrency's stalled reader is closed after this many frames queued behind
        # its full buffers (5000 by default); readers never queue that many.
        GRIDCAST_WS_MAX_BACKLOG="50",
    )
    return env


class MakeRun:
    """`make run` as a subprocess in its own process group, its output in a file."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="gc-embedded-"))
        self.var_dir = self.dir / "var"  # fresh: `make run` creates it
        self.log_path = self.dir / "make-run.log"
        self.process = None
        self.port = None
        self.killed = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines=60):
        return "\n".join(self.output().splitlines()[-lines:])

    def _answers(self):
        try:
            with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=3) as response:
                return response.status == 200
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            return False

    def start(self):
        self.port = free_port()
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=REPO,
            env=run_env(self.port, self.var_dir),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.monotonic()
        deadline = self.started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`make run` exited with {self.process.returncode} before serving:\n{self.tail()}")
            if self._answers():
                self.ready_after = time.monotonic() - self.started
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"`make run` did not answer on {self.url}/accounts/login/ in {START_TIMEOUT} s:\n{self.tail()}"
        )

    def _group_alive(self):
        try:
            os.killpg(self.process.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def stop(self):
        """Ctrl-C to the whole group (make, the server and whatever they started), SIGKILL after
        STOP_GRACE seconds. Returns True when everything stopped on SIGINT."""
        if self.process is None:
            return True
        if self.process.poll() is None or self._group_alive():
            try:
                os.killpg(self.process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_GRACE
            while time.monotonic() < deadline:
                self.process.poll()  # reaps make, so that a dead group is an empty group
                if self.process.returncode is not None and not self._group_alive():
                    break
                time.sleep(0.1)
            else:
                self.killed = True
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        self.log.close()
        return not self.killed

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def bad_lines(text, context=25):
    """Excerpts of `text` around every line that matches BAD_OUTPUT."""
    lines = text.splitlines()
    excerpts, shown = [], -1
    for n, line in enumerate(lines):
        if BAD_OUTPUT.search(line) and n > shown:
            end = min(len(lines), n + context)
            excerpts.append("\n".join(lines[max(0, n - 3) : end]))
            shown = end
    return excerpts


@pytest.fixture(scope="session", autouse=True)
def _sync_thread_connections_closed():
    """Overrides the fixture of tests/conftest.py that sets up the test database: nothing here uses it."""
    yield


@pytest.fixture(scope="package")
def embedded():
    if shutil.which("make") is None:
        pytest.fail("make is missing")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no screenshot of an earlier run stays behind
    server = MakeRun()
    failure = None
    try:
        server.start()
    except RuntimeError as error:
        failure = str(error)
    if failure is not None:
        server.stop()
        server.close()
        pytest.fail(failure, pytrace=False)
    print(f"\n`make run` answered on {server.url} after {server.ready_after:.1f} s")
    yield server
    stopped = server.stop()
    output = server.output()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "make-run.log").write_text(output)
    server.close()
    assert stopped, f"`make run` did not stop within {STOP_GRACE} s of SIGINT and was killed:\n{output[-4000:]}"
    excerpts = bad_lines(output)
    assert not excerpts, "the server printed:\n" + "\n---\n".join(excerpts)


@pytest.fixture(autouse=True)
def _server_output_clean(embedded):
    """A test fails when the server printed a Traceback (or another BAD_OUTPUT line) while it ran."""
    start = len(embedded.output())
    yield
    time.sleep(0.2)  # let the last lines reach the file
    excerpts = bad_lines(embedded.output()[start:])
    if excerpts:
        pytest.fail("the server printed while this test ran:\n" + "\n---\n".join(excerpts), pytrace=False)


@pytest.fixture(scope="package")
def chromium():
    with launched() as browser:
        yield browser


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


class Watched:
    """Browser contexts whose pages report every response >= 500, console error and page error."""

    def __init__(self, chromium, base_url):
        self.chromium, self.base_url = chromium, base_url
        self.contexts = []
        self.problems = []

    def _watch(self, page, who):
        page.set_default_timeout(15_000)
        page.on(
            "response",
            lambda r: r.status >= 500 and self.problems.append(f"[{who}] HTTP {r.status} {r.request.method} {r.url}"),
        )
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and self.problems.append(
                    f"[{who}] console error on {page.url}: {m.text} "
                    f"({m.location.get('url')}:{m.location.get('lineNumber')})"
                )
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"[{who}] page error on {page.url}: {e}"))

    def new_page(self, who="anonymous", **options):
        context = self.chromium.new_context(base_url=self.base_url, accept_downloads=True, **options)
        self.contexts.append(context)
        context.on("page", lambda page: self._watch(page, who))
        return context.new_page()

    def login(self, email, password=DEMO_PASSWORD, **options):
        """A page logged in through the login form, as a person does it, on the workspace page."""
        page = self.new_page(email.split("@")[0], **options)
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign In", exact=True).click()
        page.wait_for_url(f"{self.base_url}/")
        return page


@pytest.fixture
def browse(request, chromium, embedded):
    watched = Watched(chromium, embedded.url)
    yield watched
    failed = getattr(request.node, "gc_failed", False)
    for n, context in enumerate(watched.contexts):
        for m, page in enumerate(context.pages):
            if failed:
                try:
                    screenshot(page, f"failed-{request.node.name}-{n}-{m}")
                except Exception as error:  # noqa: BLE001 - a screenshot is a bonus
                    print(f"no screenshot: {error}")
        context.close()
    if watched.problems:
        print("\n".join(watched.problems))
    assert not watched.problems, "the browser saw:\n" + "\n".join(watched.problems)


# --- plain HTTP --------------------------------------------------------------------------------


class Session:
    """urllib with a cookie jar: logs in through allauth's form like a browser without JavaScript."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, path, data=None, headers=None, method=None):
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers or {}, method=method)
        if body is not None and self._cookie("csrftoken"):
            request.add_header("X-CSRFToken", self._cookie("csrftoken"))
            request.add_header("Referer", self.base_url + "/")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get_json(self, path, **kwargs):
        status, body = self.request(path, **kwargs)
        assert status == 200, f"GET {path}: {status} {body[:500]!r}"
        return json.loads(body)

    def login(self, email, password=DEMO_PASSWORD):
        status, _ = self.request("/accounts/login/")
        assert status == 200
        status, body = self.request(
            "/accounts/login/", {"login": email, "password": password, "csrfmiddlewaretoken": self._cookie("csrftoken")}
        )
        assert status == 200 and self._cookie("sessionid"), f"login as {email}: {status} {body[:300]!r}"
        return self


@pytest.fixture(scope="package")
def demo(embedded):
    """Ids of the Demo workspace and its 'orders' sheet, asked of the API as the owner."""
    session = Session(embedded.url).login(OWNER)
    workspace = next(w for w in session.get_json("/api/v1/workspaces/") if w["name"] == "Demo")
    sheet = next(s for s in session.get_json(f"/api/v1/sheets/?workspace={workspace['id']}") if s["name"] == "orders")
    return {"workspace": workspace["id"], "sheet": sheet["id"]}

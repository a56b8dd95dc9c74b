"""Browser tests: a real uvicorn process on the test database and Redis, driven by Playwright
in Debian's Chromium (/usr/bin/chromium; never a downloaded browser).

Tests here need `@pytest.mark.django_db(transaction=True)`: the server is another process and
sees only committed data. Screenshots go to test-artifacts/ (GC_ARTIFACTS to change it).
"""

import os
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.chromium import launched
from tests.realtime.servers import REPO, ServerProcess, server_env

ARTIFACTS = Path(os.environ.get("GC_ARTIFACTS", REPO / "test-artifacts"))
# The browser tests' server writes its e-mails here (one file per message), for the tests to read.
MAILBOX = tempfile.mkdtemp(prefix="gc-mail-")


def sent_mail() -> list[str]:
    """Every e-mail the browser tests' server has sent, oldest first, as text."""
    return [path.read_text() for path in sorted(Path(MAILBOX).iterdir(), key=lambda p: p.stat().st_mtime)]


@pytest.fixture(scope="session")
def web_server(django_db_setup, django_db_blocker):
    """One server for the browser tests of the session."""
    if not (REPO / "static" / "dist" / "manifest.json").exists():
        pytest.fail("the front end is not built: run `make frontend` (make test does)")
    with django_db_blocker.unblock():
        env = server_env(
            settings.REDIS_URL,
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=MAILBOX,
        )
        server = ServerProcess("uvicorn", env, tempfile.mkdtemp(prefix="gc-web-"))
        server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    with launched() as browser:
        yield browser


@pytest.fixture
def open_as(request, chromium, web_server):
    """open_as(user, path, **context options) -> a Page logged in as `user` (a session made by
    Django's test client: logging in through the form has its own test)."""
    contexts = []

    def open_page(user, path="/", **options):
        context = chromium.new_context(base_url=web_server.http_url, **options)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                        "url": web_server.http_url,
                    }
                ]
            )
        page = context.new_page()
        page.on("console", lambda m: m.type in ("error", "warning") and print(f"[{user}] console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: print(f"[{user}] page error: {e}"))
        page.set_default_timeout(15_000)
        page.goto(path)
        return page

    yield open_page
    for n, context in enumerate(contexts):
        if getattr(request.node, "gc_failed", False):
            for page in context.pages:
                screenshot(page, f"failed-{request.node.name}-{n}")
        context.close()


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def team_and_sheet(workspace, rows=30, numbers=True):
    """An owner, an editor and a viewer of `workspace`, and a sheet of `rows` rows whose first
    column reads "item 1", "item 2"... and (with `numbers`) whose second reads "0", "10", "20"..."""
    from accounts.models import Role
    from sheets import services
    from sheets.models import Row
    from tests.factories import make_sheet, member

    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    viewer = member(workspace, Role.VIEWER, display_name="Vera Viewer")
    sheet = make_sheet(workspace, owner, rows=rows)
    made = list(Row.objects.filter(sheet=sheet).order_by("position"))
    cells = [{"row": row.pk, "col": "c1", "value": f"item {i + 1}"} for i, row in enumerate(made)]
    if numbers:
        cells += [{"row": row.pk, "col": "c2", "value": str(i * 10)} for i, row in enumerate(made)]
    services.cells_update(sheet=sheet, actor=owner, cells=cells)
    return {"sheet": sheet, "owner": owner, "editor": editor, "viewer": viewer, "rows": made}

"""Debian's Chromium (/usr/bin/chromium, never a downloaded browser) through Playwright, for the
browser tests and the embedded-default suite."""

import contextlib
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("GC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-extensions",
]


@contextlib.contextmanager
def launched():
    """A Chromium browser. Playwright's sync API keeps an event loop running in this thread, which
    Django takes for async code: the tests' ORM calls are allowed while it runs (they are ordinary
    synchronous calls)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

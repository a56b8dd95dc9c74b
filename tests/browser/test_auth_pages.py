"""Login and the account pages, styled like the rest, in a real browser."""

import pytest

from tests.factories import user

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_form_leads_to_the_workspaces(open_as):
    person = user(email="ada@example.com")
    person.set_password("correct horse battery")
    person.save()
    page = open_as(None, "/accounts/login/")
    page.fill("input[name=login]", "ada@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert "ada@example.com" in page.locator("header").inner_text()
    # The shared stylesheet is loaded from the Vite build, not a dev server.
    assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    screenshot(page, "home")

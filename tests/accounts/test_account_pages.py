"""The allauth pages and the token page render with the shared form markup."""

import re

import pytest
from django.urls import reverse

from ..factories import user

pytestmark = pytest.mark.django_db


def _html(response):
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_entrance_pages_have_labelled_fields_and_links_to_each_other(client, name):
    html = _html(client.get(reverse(name)))
    assert 'class="auth-form"' in html
    for field_id in re.findall(r'<input[^>]+type="(?:email|password|text)"[^>]*id="([^"]+)"', html):
        assert f'<label for="{field_id}">' in html
    links = {
        "account_login": reverse("account_login"),
        "account_signup": reverse("account_signup"),
        "account_reset_password": reverse("account_reset_password"),
    }
    nav = html[html.index('class="auth-links"') :]
    for other, url in links.items():
        # The page links to the two others, not to itself.
        assert (f'href="{url}"' in nav) == (other != name)


def test_a_failed_login_shows_the_error_above_the_form(client):
    user(email="someone@example.com")
    html = _html(client.post(reverse("account_login"), {"login": "someone@example.com", "password": "wrong"}))
    assert 'class="errorlist nonfield" role="alert"' in html
    assert "not correct" in html


def test_field_errors_sit_with_their_field(client):
    html = _html(client.post(reverse("account_signup"), {"email": "not-an-email", "password1": "x", "password2": "y"}))
    field = html[html.index('<label for="id_email">') :]
    field = field[: field.index("</div>")]
    assert 'class="errorlist"' in field


def test_account_pages_have_tabs(client):
    person = user()
    client.force_login(person)
    for name in ("account_email", "account_change_password", "tokens"):
        html = _html(client.get(reverse(name)))
        assert 'class="account-tabs' in html
        assert f'href="{reverse(name)}" aria-current="page"' in html

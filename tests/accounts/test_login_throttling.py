"""Threat: password guessing. Failed logins are limited per e-mail address and per client IP by
allauth's `login_failed` limit; the counts live in the shared cache (Redis), so every server
process sees them; the client IP comes from X-Forwarded-For only behind the configured number of
trusted proxies; and the admin login (/admin/login/) goes through the same limit (before, it
had none: any number of guesses)."""

import pytest
from allauth.core.internal import ratelimit
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.test import Client, override_settings

from tests.factories import user

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"
TOO_MANY = "Too many failed login attempts"


def allauth_login(client, email, password, **headers):
    return client.post("/accounts/login/", {"login": email, "password": password}, **headers)


def admin_login(client, email, password, **headers):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password}, **headers)


def throttled(response):
    return response.status_code == 429 or TOO_MANY in response.content.decode()


@pytest.mark.parametrize("login", [allauth_login, admin_login], ids=["allauth", "admin"])
def test_failed_logins_for_one_address_are_throttled_even_with_the_right_password(login):
    person = user(is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(5):
        assert not throttled(login(client, person.email, "wrong-guess"))
    answer = login(client, person.email, PASSWORD)
    assert throttled(answer)
    assert answer.status_code != 302


def test_the_admin_and_allauth_logins_share_the_count():
    person = user(is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(3):
        admin_login(client, person.email, "wrong-guess")
    for _ in range(2):
        allauth_login(client, person.email, "wrong-guess")
    assert throttled(admin_login(client, person.email, PASSWORD))
    assert throttled(allauth_login(client, person.email, PASSWORD))


def test_a_successful_admin_login_still_works():
    person = user(is_staff=True, is_superuser=True)
    assert admin_login(Client(), person.email, PASSWORD).status_code == 302


def test_the_count_is_shared_between_processes(monkeypatch):
    """Two server processes are two connections to the same Redis: failures counted by one hold
    back the other."""
    person = user()
    default = settings.CACHES["default"]
    other_process = RedisCache(default["LOCATION"], {"KEY_PREFIX": default["KEY_PREFIX"]})
    with monkeypatch.context() as patch:
        patch.setattr(ratelimit, "cache", other_process)
        for _ in range(5):
            allauth_login(Client(), person.email, "wrong-guess")
    assert throttled(allauth_login(Client(), person.email, PASSWORD))


def test_a_forged_forwarded_for_does_not_escape_the_per_ip_limit():
    """No trusted proxy: X-Forwarded-For is ignored, so one client changing it is one IP (10 failed
    logins a minute over any addresses)."""
    client = Client()
    for n in range(10):
        allauth_login(client, f"nobody{n}@example.com", "guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert throttled(allauth_login(client, "nobody-else@example.com", "guess", HTTP_X_FORWARDED_FOR="198.51.100.99"))


def test_behind_a_trusted_proxy_the_client_ip_comes_from_forwarded_for():
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == settings.REST_FRAMEWORK["NUM_PROXIES"]
    with override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1):
        client = Client()  # every request comes from the proxy's address
        for n in range(10):
            allauth_login(client, f"nobody{n}@example.com", "guess", HTTP_X_FORWARDED_FOR="198.51.100.1")
        assert throttled(allauth_login(client, "x@example.com", "guess", HTTP_X_FORWARDED_FOR="198.51.100.1"))
        # another client behind the same proxy is not held back
        assert not throttled(allauth_login(client, "y@example.com", "guess", HTTP_X_FORWARDED_FOR="198.51.100.2"))

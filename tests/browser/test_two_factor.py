"""Two-factor authentication in a real browser: a user turns on an authenticator app in the real
pages (reading the secret the page shows), logs out, logs in with the password and the app's
current code, and lands on the workspace page. And a passkey: registered with Chromium's virtual
authenticator, then used to log in without a password."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.test import Client

from accounts.models import Role, Workspace
from tests.factories import member

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pass-word-123"  # tests/factories.py


def totp_code(secret):
    """What an authenticator app shows now (allauth's own HOTP), never in a window's last seconds."""
    if time.time() % 30 > 26:
        time.sleep(30 - time.time() % 30 + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def give_password_again(page):
    """allauth asks for the password before a second factor is added."""
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")


def test_enable_totp_then_log_in_with_it(open_as, workspace):
    person = member(workspace, Role.EDITOR)
    page = open_as(person, "/accounts/2fa/")
    page.click("a[href='/accounts/2fa/totp/activate/']")
    give_password_again(page)
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    qr = page.locator("img.qr[src^='data:image/svg+xml;base64,']")
    assert qr.is_visible()
    # Readable on the dark theme too: dark modules on white.
    assert qr.evaluate("img => getComputedStyle(img).backgroundColor") == "rgb(255, 255, 255)"
    secret = page.input_value("#authenticator_secret")
    screenshot(page, "two-factor-activate")
    page.fill("input[name=code]", totp_code(secret))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    assert len(page.input_value("#recovery_codes").split()) == 10
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()

    page.click("header form button:has-text('Log out')")
    page.wait_for_url(lambda url: "/accounts/" in url or url.endswith("/"))
    page.goto("/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.fill("input[name=code]", "000000" if totp_code(secret) != "000000" else "111111")
    page.click("form.auth-form button[type=submit]")
    page.wait_for_selector("text=Incorrect code.")
    page.fill("input[name=code]", totp_code(secret))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/"))
    page.wait_for_selector(f"[data-workspace-id='{workspace.pk}']")
    screenshot(page, "two-factor-logged-in")


def test_a_passkey_from_a_virtual_authenticator_logs_in_without_a_password(chromium, web_server, workspace):
    """WebAuthn needs a secure origin: http://localhost (not 127.0.0.1) on the same server."""
    person = member(workspace, Role.EDITOR)
    origin = web_server.http_url.replace("127.0.0.1", "localhost")
    context = chromium.new_context(base_url=origin)
    try:
        client = Client()
        client.force_login(person)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": origin}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        page.goto("/accounts/2fa/webauthn/add/")
        give_password_again(page)
        page.wait_for_url("**/accounts/2fa/webauthn/add/")
        page.fill("input[name=name]", "Laptop")
        page.check("input[name=passwordless]")
        page.click("#mfa_webauthn_add")
        page.wait_for_url(lambda url: "/webauthn/add/" not in url)
        key = Authenticator.objects.get(user=person, type=Authenticator.Type.WEBAUTHN)
        assert key.wrap().is_passwordless
        screenshot(page, "two-factor-passkey-added")

        page.click("header form button:has-text('Log out')")
        page.wait_for_load_state()
        page.context.clear_cookies()
        page.goto("/accounts/login/")
        page.click("#passkey_login")
        page.wait_for_url(lambda url: url.endswith("/"))
        page.wait_for_selector(f"[data-workspace-id='{workspace.pk}']")
    finally:
        context.close()


def test_a_member_of_a_workspace_that_requires_it_is_sent_to_set_it_up_at_login(open_as, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(require_two_factor=True)
    person = member(workspace, Role.VIEWER)
    page = open_as(None, "/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_selector(f"text={workspace.name} requires two-factor authentication")
    give_password_again(page)
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    page.fill("input[name=code]", totp_code(page.input_value("#authenticator_secret")))
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    page.goto("/")
    page.wait_for_selector(f"[data-workspace-id='{workspace.pk}']")

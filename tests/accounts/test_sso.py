"""Single sign-on against a real OpenID Connect provider (tests/oidc_provider/, its own process):
a Gridcast server process configured by the environment, driven over HTTP like a browser. A new
person gets an account; a verified address logs into the account that has it; an unverified one
never does; pending invitations are claimed; errors from the provider, a forged state or a
cancelled login end on allauth's error pages, never a 500; SSO-only installations refuse
passwords and sign-up."""

import re
import subprocess
import sys
import tempfile

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accounts.invitations import invite_member
from accounts.models import Membership, Role, User
from accounts.permissions import Access
from config.settings.sso import sso_providers
from sheets.permissions import sheet_access
from sheets.sharing import share_sheet
from tests.oidc_provider.process import NAME, PROVIDER_ID, sso_login
from tests.realtime.servers import REPO, ServerProcess, free_port, server_env

from ..factories import WorkspaceFactory, make_sheet, member, user
from .test_production_settings import STRONG_KEY, check_deploy

pytestmark = pytest.mark.django_db(transaction=True)


def _server(oidc_provider, django_db_blocker, **extra):
    with django_db_blocker.unblock():
        env = server_env(settings.REDIS_URL, **oidc_provider.gridcast_env(**extra))
    return ServerProcess("uvicorn", env, tempfile.mkdtemp(prefix="gc-sso-")).start()


@pytest.fixture(scope="module")
def gridcast(oidc_provider, django_db_setup, django_db_blocker):
    server = _server(oidc_provider, django_db_blocker)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sso_only(oidc_provider, django_db_setup, django_db_blocker):
    server = _server(oidc_provider, django_db_blocker, GRIDCAST_SSO_ONLY="1")
    yield server
    server.stop()


def logged_in_as(session, server):
    """The e-mail address Gridcast's pages show for the session's user, or None."""
    page = session.get(f"{server.http_url}/")
    found = re.search(r'<span class="spacer muted hide-small">([^<]+)</span>', page.text)
    return found.group(1) if found else None


def test_a_new_person_signs_up_through_the_provider_without_a_form(gridcast):
    session, answer = sso_login(gridcast.http_url, "newcomer")
    assert answer.status_code == 200, gridcast.log_tail()
    assert answer.url == f"{gridcast.http_url}/"
    assert logged_in_as(session, gridcast) == "newcomer@example.com"
    person = User.objects.get(email="newcomer@example.com")
    assert SocialAccount.objects.get(user=person).provider == PROVIDER_ID
    assert EmailAddress.objects.get(user=person).verified
    assert not person.has_usable_password()


def test_a_verified_address_logs_into_the_account_that_has_it_and_connects_the_provider(gridcast):
    ada = user(email="ada@example.com")
    session, answer = sso_login(gridcast.http_url, "ada")
    assert answer.url == f"{gridcast.http_url}/", gridcast.log_tail()
    assert logged_in_as(session, gridcast) == "ada@example.com"
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    assert SocialAccount.objects.get(provider=PROVIDER_ID).user == ada
    # The address is verified now; its password, set while nobody had verified it (anyone may have
    # signed up with it), is wiped by allauth: from now on the provider logs in.
    assert EmailAddress.objects.get(user=ada, email="ada@example.com").verified
    ada.refresh_from_db()
    assert not ada.has_usable_password()
    # Next time the connected provider account is enough.
    again, _ = sso_login(gridcast.http_url, "ada")
    assert logged_in_as(again, gridcast) == "ada@example.com"


def test_the_login_goes_on_to_the_page_that_asked_for_it(gridcast):
    session, answer = sso_login(gridcast.http_url, "newcomer", login_page="/accounts/login/?next=/tokens/")
    assert answer.status_code == 200 and answer.url == f"{gridcast.http_url}/tokens/"


def test_an_account_whose_address_was_verified_keeps_its_password(gridcast):
    ada = user(email="ada@example.com")
    EmailAddress.objects.create(user=ada, email="ada@example.com", verified=True, primary=True)
    session, _ = sso_login(gridcast.http_url, "ada")
    assert logged_in_as(session, gridcast) == "ada@example.com"
    ada.refresh_from_db()
    assert ada.check_password("pass-word-123")


def test_an_unverified_address_never_logs_into_the_account_that_has_it(gridcast):
    victim = user(email="victim@example.com")
    session, answer = sso_login(gridcast.http_url, "mallory")
    assert answer.status_code == 200
    assert logged_in_as(session, gridcast) is None
    assert not SocialAccount.objects.exists()
    victim.refresh_from_db()
    assert victim.has_usable_password() and victim.check_password("pass-word-123")
    # allauth asks for another address (the provider's one is taken); giving the victim's again fails.
    assert answer.url == f"{gridcast.http_url}/accounts/3rdparty/signup/"
    refused = session.post(
        answer.url, data={"email": "victim@example.com", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    )
    assert refused.status_code == 200 and "already" in refused.text
    assert logged_in_as(session, gridcast) is None
    assert User.objects.filter(email__iexact="victim@example.com").count() == 1


def test_a_pending_invitation_and_a_shared_sheet_are_claimed_at_sign_up_through_the_provider(
    oidc_provider, django_db_blocker, workspace
):
    invite_member(workspace=workspace, email="grace@example.com", role="editor", by_role=Role.OWNER)
    elsewhere = WorkspaceFactory()
    shared = make_sheet(elsewhere, member(elsewhere, Role.OWNER), name="Shared")
    share_sheet(sheet=shared, email="grace@example.com", level="view")
    # A server of its own: sharing a sheet (django-guardian) looks its permission up by content type,
    # which a server kept across tests caches with the ids of a database the tests have since flushed.
    server = _server(oidc_provider, django_db_blocker)
    try:
        session, answer = sso_login(server.http_url, "grace")
        assert answer.url == f"{server.http_url}/", server.log_tail()
    finally:
        server.stop()
    grace = User.objects.get(email="grace@example.com")
    assert Membership.objects.get(workspace=workspace, user=grace).role == Role.EDITOR
    assert sheet_access(grace, shared) == Access.VIEW


def _started(server):
    """A login begun at Gridcast: (session, the state it sent to the provider)."""
    session = requests.Session()
    session.get(f"{server.http_url}/accounts/login/")
    begin = session.post(
        f"{server.http_url}/accounts/oidc/{PROVIDER_ID}/login/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
    )
    assert begin.status_code == 302, begin.text
    return session, re.search(r"[?&]state=([^&]+)", begin.headers["Location"]).group(1)


CALLBACK = f"/accounts/oidc/{PROVIDER_ID}/login/callback/"


def test_a_password_user_connects_the_provider_from_the_account_pages(gridcast):
    bob = user(email="bob@example.com")
    session = requests.Session()
    session.get(f"{gridcast.http_url}/accounts/login/")
    session.post(
        f"{gridcast.http_url}/accounts/login/",
        data={
            "login": "bob@example.com",
            "password": "pass-word-123",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
    )
    assert logged_in_as(session, gridcast) == "bob@example.com"
    account_page = session.get(f"{gridcast.http_url}/accounts/email/").text
    assert 'href="/accounts/3rdparty/"' in account_page  # the account pages' tab

    session, answer = sso_login(gridcast.http_url, "newcomer", session=session, login_page="/accounts/3rdparty/")
    assert answer.url == f"{gridcast.http_url}/accounts/3rdparty/", gridcast.log_tail()
    assert SocialAccount.objects.get(provider=PROVIDER_ID).user == bob
    bob.refresh_from_db()
    assert bob.check_password("pass-word-123")  # connecting changes nothing else
    assert not User.objects.filter(email="newcomer@example.com").exists()
    # The provider now logs into Bob's account.
    again, _ = sso_login(gridcast.http_url, "newcomer")
    assert logged_in_as(again, gridcast) == "bob@example.com"


def test_a_cancelled_login_ends_on_the_cancelled_page(gridcast):
    session, state = _started(gridcast)
    answer = session.get(f"{gridcast.http_url}{CALLBACK}", params={"error": "access_denied", "state": state})
    assert answer.status_code == 200
    assert answer.url.endswith("/accounts/3rdparty/login/cancelled/") or "cancel" in answer.text.lower()
    assert "Gridcast" in answer.text and logged_in_as(session, gridcast) is None


@pytest.mark.parametrize(
    "params",
    [
        {"error": "server_error"},  # the provider failed
        {"code": "made-up", "state": "forged-state"},  # a state this browser never started
        {"code": "made-up"},  # no state at all
        {},  # nothing
        {"code": "x" * 5000, "state": "\x00"},  # garbage
    ],
)
def test_provider_errors_and_forged_callbacks_end_on_the_error_page_not_a_500(gridcast, params):
    session, state = _started(gridcast)
    if params.get("error") == "server_error":
        params = {**params, "state": state}
    answer = session.get(f"{gridcast.http_url}{CALLBACK}", params=params)
    assert answer.status_code < 500, gridcast.log_tail()
    assert "Third-Party Login Failure" in answer.text or "cancel" in answer.text.lower()
    assert logged_in_as(session, gridcast) is None
    assert not SocialAccount.objects.exists()


def test_a_wrong_authorization_code_with_the_right_state_logs_nobody_in(gridcast):
    session, state = _started(gridcast)
    answer = session.get(f"{gridcast.http_url}{CALLBACK}", params={"code": "not-a-code", "state": state})
    assert answer.status_code < 500, gridcast.log_tail()
    assert "Third-Party Login Failure" in answer.text
    assert logged_in_as(session, gridcast) is None


@pytest.mark.parametrize(
    "path", ["/accounts/github/login/", "/accounts/google/login/", "/accounts/oidc/unknown/login/"]
)
def test_a_provider_that_is_not_configured_is_not_found(gridcast, path):
    session = requests.Session()
    session.get(f"{gridcast.http_url}/accounts/login/")
    for answer in (
        session.get(f"{gridcast.http_url}{path}"),
        session.post(f"{gridcast.http_url}{path}", data={"csrfmiddlewaretoken": session.cookies["csrftoken"]}),
        session.get(f"{gridcast.http_url}{path}callback/", params={"code": "x", "state": "y"}),
    ):
        assert answer.status_code == 404, (path, answer.status_code, gridcast.log_tail())


def test_a_provider_that_does_not_answer_gives_the_login_failure_page(oidc_provider, django_db_blocker):
    down = _server(oidc_provider, django_db_blocker, GRIDCAST_OIDC_SERVER_URL=f"http://127.0.0.1:{free_port()}/o")
    try:
        session = requests.Session()
        session.get(f"{down.http_url}/accounts/login/")
        answer = session.post(
            f"{down.http_url}/accounts/oidc/{PROVIDER_ID}/login/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        )
        assert answer.status_code == 502, down.log_tail()
        assert "Third-Party Login Failure" in answer.text and "Gridcast" in answer.text
        assert logged_in_as(session, down) is None
    finally:
        down.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/3rdparty/",
        "/accounts/3rdparty/signup/",
        "/accounts/3rdparty/login/cancelled/",
        "/accounts/3rdparty/login/error/",
        "/accounts/social/signup/",
        f"/accounts/oidc/{PROVIDER_ID}/login/callback/?state=%00&code=%ff",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_social_account_pages_never_answer_a_500_to_anyone(client, path, method):
    for who in (None, user()):
        if who is not None:
            client.force_login(who)
        answer = getattr(client, method)(path, {"account": "999", "email": "\x00"} if method == "post" else None)
        assert answer.status_code < 500, (path, method, who)


def test_the_login_page_shows_the_configured_provider_only_and_keeps_the_password_form(gridcast):
    page = requests.get(f"{gridcast.http_url}/accounts/login/").text
    assert f'action="/accounts/oidc/{PROVIDER_ID}/login/?process=login"' in page and NAME in page
    assert "github" not in page.lower() and "google" not in page.lower()
    assert 'name="password"' in page


# --- e-mail verification required (production's default) ---------------------------------------


@pytest.fixture(scope="module")
def verifying(oidc_provider, django_db_setup, django_db_blocker):
    server = _server(oidc_provider, django_db_blocker, ACCOUNT_EMAIL_VERIFICATION="mandatory")
    yield server
    server.stop()


def test_with_verification_required_the_provider_verifies_an_unconfirmed_address_and_its_invitations(
    verifying, workspace
):
    invite_member(workspace=workspace, email="ada@example.com", role="viewer", by_role=Role.OWNER)
    ada = user(email="ada@example.com")  # signed up, never confirmed the address
    EmailAddress.objects.create(user=ada, email="ada@example.com", verified=False, primary=True)
    session, answer = sso_login(verifying.http_url, "ada")
    assert answer.url == f"{verifying.http_url}/", verifying.log_tail()
    assert logged_in_as(session, verifying) == "ada@example.com"
    assert EmailAddress.objects.get(user=ada).verified
    assert Membership.objects.get(workspace=workspace, user=ada).role == Role.VIEWER
    ada.refresh_from_db()
    assert not ada.has_usable_password()  # set while nobody had verified the address


def test_with_verification_required_an_unverified_address_must_be_confirmed_by_e_mail_first(verifying, workspace):
    invite_member(workspace=workspace, email="victim@example.com", role="editor", by_role=Role.OWNER)
    session, answer = sso_login(verifying.http_url, "mallory")
    assert answer.url == f"{verifying.http_url}/accounts/confirm-email/"
    assert logged_in_as(session, verifying) is None
    assert not EmailAddress.objects.filter(email="victim@example.com", verified=True).exists()
    assert not Membership.objects.filter(workspace=workspace, user__email="victim@example.com").exists()


# --- single sign-on only -----------------------------------------------------------------------


def test_sso_only_shows_the_provider_and_no_password_form(sso_only):
    page = requests.get(f"{sso_only.http_url}/accounts/login/")
    assert page.status_code == 200
    assert f'action="/accounts/oidc/{PROVIDER_ID}/login/?process=login"' in page.text
    assert 'name="password"' not in page.text and "/accounts/signup/" not in page.text


def test_sso_only_refuses_a_password_login_sign_up_and_reset(sso_only):
    user(email="has.password@example.com")
    session = requests.Session()
    session.get(f"{sso_only.http_url}/accounts/login/")
    token = session.cookies["csrftoken"]
    refused = session.post(
        f"{sso_only.http_url}/accounts/login/",
        data={"login": "has.password@example.com", "password": "pass-word-123", "csrfmiddlewaretoken": token},
    )
    assert refused.status_code == 403
    assert logged_in_as(session, sso_only) is None
    for path in ("/accounts/signup/", "/accounts/password/reset/"):
        assert session.get(f"{sso_only.http_url}{path}").status_code == 404
        assert session.post(f"{sso_only.http_url}{path}", data={"csrfmiddlewaretoken": token}).status_code == 404
    assert User.objects.count() == 1


def test_sso_only_still_logs_in_through_the_provider_and_the_account_pages_work(sso_only):
    session, answer = sso_login(sso_only.http_url, "newcomer")
    assert answer.url == f"{sso_only.http_url}/", sso_only.log_tail()
    assert logged_in_as(session, sso_only) == "newcomer@example.com"
    connections = session.get(f"{sso_only.http_url}/accounts/3rdparty/")
    assert connections.status_code == 200 and NAME in connections.text
    assert session.get(f"{sso_only.http_url}/tokens/").status_code == 200


def test_sso_only_claims_invitations_only_for_addresses_the_provider_verified(sso_only, workspace):
    invite_member(workspace=workspace, email="victim@example.com", role="editor", by_role=Role.OWNER)
    invite_member(workspace=workspace, email="ada@example.com", role="viewer", by_role=Role.OWNER)
    ada = user(email="ada@example.com")  # an account from before single sign-on only

    mallory, answer = sso_login(sso_only.http_url, "mallory")  # says victim@example.com, unverified
    assert logged_in_as(mallory, sso_only) == "victim@example.com"
    assert not Membership.objects.filter(workspace=workspace, user__email="victim@example.com").exists()

    session, answer = sso_login(sso_only.http_url, "ada")
    assert logged_in_as(session, sso_only) == "ada@example.com"
    assert Membership.objects.get(workspace=workspace, user=ada).role == Role.VIEWER


# --- configuration -------------------------------------------------------------------------------


def test_providers_come_from_the_environment_and_only_configured_ones_exist():
    assert sso_providers({}) == {}
    providers = sso_providers(
        {
            "GRIDCAST_OIDC_SERVER_URL": "https://id.example.com/realms/main",
            "GRIDCAST_OIDC_CLIENT_ID": "gridcast",
            "GRIDCAST_OIDC_CLIENT_SECRET": "s3cret",
            "GRIDCAST_GITHUB_CLIENT_ID": "gh",
            "GRIDCAST_GITHUB_CLIENT_SECRET": "gh-secret",
        }
    )
    assert set(providers) == {"openid_connect", "github"}
    assert set(sso_providers({"GRIDCAST_GOOGLE_CLIENT_ID": "g", "GRIDCAST_GOOGLE_CLIENT_SECRET": "s"})) == {"google"}
    (app,) = providers["openid_connect"]["APPS"]
    assert app["provider_id"] == "oidc" and app["name"] == "Single sign-on"
    assert app["settings"]["server_url"] == "https://id.example.com/realms/main"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GRIDCAST_OIDC_SERVER_URL": "https://id.example.com"}, "set together"),
        ({"GRIDCAST_GITHUB_CLIENT_ID": "gh"}, "set together"),
        (
            {
                "GRIDCAST_OIDC_SERVER_URL": "id.example.com",
                "GRIDCAST_OIDC_CLIENT_ID": "a",
                "GRIDCAST_OIDC_CLIENT_SECRET": "b",
            },
            "not an http(s) URL",
        ),
        (
            {
                "GRIDCAST_OIDC_SERVER_URL": "https://id.example.com",
                "GRIDCAST_OIDC_CLIENT_ID": "a",
                "GRIDCAST_OIDC_CLIENT_SECRET": "b",
                "GRIDCAST_OIDC_ID": "../admin",
            },
            "GRIDCAST_OIDC_ID",
        ),
    ],
)
def test_half_a_provider_configuration_refuses_to_start(environ, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        sso_providers(environ)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GRIDCAST_SSO_ONLY": "1"}, "no single sign-on provider is configured"),
        (
            {
                "GRIDCAST_SSO_ONLY": "1",
                "ACCOUNT_EMAIL_VERIFICATION": "mandatory",
                "GRIDCAST_GITHUB_CLIENT_ID": "gh",
                "GRIDCAST_GITHUB_CLIENT_SECRET": "gh-secret",
            },
            "cannot be combined with ACCOUNT_EMAIL_VERIFICATION",
        ),
    ],
)
def test_sso_only_without_a_provider_refuses_to_start(environ, message):
    env = {k: v for k, v in server_env(settings.REDIS_URL).items() if not k.startswith("GRIDCAST_OIDC")}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and message in started.stderr


def test_a_production_server_with_sso_only_passes_the_deploy_check():
    # allauth refuses SOCIALACCOUNT_ONLY beside e-mail verification (production's default) or allauth.mfa.
    code, output = check_deploy(
        SECRET_KEY=STRONG_KEY,
        GRIDCAST_SSO_ONLY="1",
        GRIDCAST_GITHUB_CLIENT_ID="gh",
        GRIDCAST_GITHUB_CLIENT_SECRET="gh-secret",
    )
    assert code == 0, output
    code, output = check_deploy(SECRET_KEY=STRONG_KEY, GRIDCAST_SSO_ONLY="1")
    assert code != 0 and "no single sign-on provider is configured" in output

"""Two-factor authentication (allauth.mfa) through its real pages: an authenticator app (TOTP) turned
on with a code, asked for after the password, wrong codes refused; recovery codes that work once;
security keys' pages. And the workspace setting `require_two_factor`: who may set it, members
without a second factor sent to set one up at login, refused by the workspace over REST and pages,
and refused new API tokens until they have one."""

import html
import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client

from accounts.models import ApiToken, Membership, Role, Workspace
from accounts.two_factor import two_factor_missing
from sheets import services

from ..factories import make_sheet, member, user

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"  # tests/factories.py


def totp_code(secret):
    """The code an authenticator app shows now (allauth's own HOTP); waits out the last seconds of
    a 30-second window so that the code is still current when it arrives."""
    if time.time() % 30 > 27:
        time.sleep(30 - time.time() % 30 + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def log_in(client, person, password=PASSWORD):
    return client.post("/accounts/login/", {"login": person.email, "password": password})


def reauthenticated(client, path):
    """Open `path`, which allauth guards by asking for the password again (a session alone may not
    add or remove a second factor); give it."""
    asked = client.get(path)
    assert asked.status_code == 302 and asked["Location"].startswith("/accounts/reauthenticate/"), asked
    answer = client.post(asked["Location"], {"password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == path, answer
    return client.get(path)


def turn_on_totp(client, person):
    """Log in, open the activation page (password again), read the secret it shows, send the
    current code. Returns (secret, the recovery codes shown next)."""
    assert log_in(client, person).status_code == 302
    page = reauthenticated(client, "/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in text  # the QR code
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7=]+)"', text).group(1)
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/accounts/2fa/recovery-codes/", done.content[:800]
    codes_page = client.get(done["Location"]).content.decode()
    codes = re.search(r"<textarea[^>]*>(.*?)</textarea>", codes_page, re.S).group(1).split()
    return secret, codes


def logged_out(client):
    client.post("/accounts/logout/")
    return client


# --- the authenticator app ------------------------------------------------------------------------


def test_turning_on_totp_then_login_asks_for_the_code(client):
    person = user()
    secret, codes = turn_on_totp(client, person)
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()
    assert len(codes) == 10 and all(code.isdigit() for code in codes)

    client = logged_out(client)
    step = log_in(client, person)
    assert step.status_code == 302 and step["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/").status_code == 302  # not logged in before the code
    assert "_auth_user_id" not in client.session
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200
    assert int(client.session["_auth_user_id"]) == person.pk


@pytest.mark.parametrize("code", ["000000", "12345", "not a code", "", "9" * 500, "１２３４５６"])
def test_a_wrong_code_is_refused_with_a_clear_message(client, code):
    person = user()
    secret, _ = turn_on_totp(client, person)
    client = logged_out(client)
    log_in(client, person)
    if code == totp_code(secret):  # one in a million
        return
    answer = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "Incorrect code." in text or "This field is required." in text
    assert "_auth_user_id" not in client.session


def test_guessing_codes_is_cut_short(client):
    """allauth counts wrong codes with the failed-login limit (5 per 5 minutes per account): past
    it, even the right code is refused for a while."""
    person = user()
    secret, _ = turn_on_totp(client, person)
    client = logged_out(client)
    log_in(client, person)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    answers = [client.post("/accounts/2fa/authenticate/", {"code": wrong}).content.decode() for _ in range(6)]
    assert "Too many failed login attempts" in answers[-1]
    right = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert right.status_code == 200 and "Too many failed login attempts" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_activation_code_turns_nothing_on(client):
    person = user()
    log_in(client, person)
    reauthenticated(client, "/accounts/2fa/totp/activate/")
    answer = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert answer.status_code == 200 and "Incorrect code." in answer.content.decode()
    assert not Authenticator.objects.filter(user=person).exists()


def test_a_code_is_good_for_one_login_only(client):
    person = user()
    secret, _ = turn_on_totp(client, person)
    code = totp_code(secret)
    first = logged_out(client)
    log_in(first, person)
    assert first.post("/accounts/2fa/authenticate/", {"code": code})["Location"] == "/"
    second = Client()
    log_in(second, person)
    replay = second.post("/accounts/2fa/authenticate/", {"code": code})
    assert replay.status_code == 200 and "Incorrect code." in replay.content.decode()


def test_a_recovery_code_logs_in_once_and_not_twice(client):
    person = user()
    _, codes = turn_on_totp(client, person)
    client = logged_out(client)
    log_in(client, person)
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[0]})["Location"] == "/"
    client = logged_out(client)
    log_in(client, person)
    again = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert again.status_code == 200 and "Incorrect code." in again.content.decode()
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[1]})["Location"] == "/"


def test_an_unverified_address_must_be_verified_before_adding_a_second_factor(client):
    person = user()
    EmailAddress.objects.create(user=person, email=person.email, verified=False, primary=True)
    log_in(client, person)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    answer = client.get("/accounts/2fa/totp/activate/", follow=True)
    assert answer.redirect_chain[-1][0] == "/accounts/2fa/"
    assert "verified your email address" in html.unescape(answer.content.decode())


def test_the_admin_login_does_not_take_the_password_alone_of_an_account_with_two_factor(client):
    person = user(is_staff=True, is_superuser=True)
    turn_on_totp(client, person)
    answer = Client().post("/admin/login/?next=/admin/", {"username": person.email, "password": PASSWORD})
    assert answer.status_code == 200
    assert "uses two-factor authentication" in answer.content.decode()


# What no browser sends as a security key's answer (allauth let some of these through to fido2: 500).
FORGED = ["", "{", "null", "[]", "5", '{"id": "x"}', '{"response": 5}', '{"response": {"userHandle": "@@"}}']


# --- the pages ------------------------------------------------------------------------------------


def test_the_two_factor_pages_render_in_the_account_area(client):
    person = user()
    log_in(client, person)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    for path in ("/accounts/2fa/", "/accounts/2fa/totp/activate/", "/accounts/2fa/webauthn/add/"):
        page = client.get(path)
        assert page.status_code == 200, path
        text = page.content.decode()
        assert 'class="account-tabs' in text and 'href="/accounts/2fa/" aria-current="page"' in text, path
    index = client.get("/accounts/2fa/").content.decode()
    assert "Authenticator App" in index and "Security Keys" in index and "Recovery Codes" in index
    add = client.get("/accounts/2fa/webauthn/add/").content.decode()
    assert 'id="mfa_webauthn_add"' in add and "mfa/js/webauthn.js" in add
    assert 'href="/accounts/2fa/"' in client.get("/accounts/password/change/").content.decode()  # the tab


def test_the_pages_of_an_account_with_two_factor_render(client):
    person = user()
    turn_on_totp(client, person)
    index = client.get("/accounts/2fa/").content.decode()
    assert "Authentication using an authenticator app is active." in index
    assert "There are 10 out of 10 recovery codes available." in index
    for path in (
        "/accounts/2fa/totp/deactivate/",
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
    ):
        assert client.get(path).status_code == 200, path
    download = client.get("/accounts/2fa/recovery-codes/download/")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/plain")
    # Turning the app off (the password again, then confirm) leaves no second factor.
    client.post("/accounts/2fa/totp/deactivate/")
    assert not Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()


def test_security_keys_list_and_removal_pages(client):
    person = user()
    log_in(client, person)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    key = Authenticator.objects.create(
        user=person, type=Authenticator.Type.WEBAUTHN, data={"name": "Desk key", "credential": {}}
    )
    listing = client.get("/accounts/2fa/webauthn/")
    assert listing.status_code == 200 and "Desk key" in listing.content.decode()
    assert client.get(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/").status_code == 200
    assert client.get(f"/accounts/2fa/webauthn/keys/{key.pk}/edit/").status_code == 200
    assert client.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/").status_code == 302
    assert not Authenticator.objects.filter(pk=key.pk).exists()
    # Someone else's key, or none: not found.
    other = Authenticator.objects.create(user=user(), type=Authenticator.Type.WEBAUTHN, data={"name": "x"})
    assert client.post(f"/accounts/2fa/webauthn/keys/{other.pk}/remove/").status_code == 404
    assert Authenticator.objects.filter(pk=other.pk).exists()


def test_a_login_page_offers_passkeys(client):
    assert "passkey" in client.get("/accounts/login/").content.decode().lower()


def test_a_forged_security_key_answer_is_refused_without_an_error_page(client):
    person = user()
    log_in(client, person)
    reauthenticated(client, "/accounts/2fa/webauthn/add/")
    for credential in FORGED:
        answer = client.post("/accounts/2fa/webauthn/add/", {"name": "Mine", "credential": credential})
        assert answer.status_code == 200, credential
    assert not Authenticator.objects.filter(user=person).exists()


@pytest.mark.parametrize("credential", FORGED)
def test_a_forged_passkey_login_is_refused_without_an_error_page(client, credential):
    client.get("/accounts/login/")
    answer = client.post("/accounts/2fa/webauthn/login/", {"credential": credential})
    assert answer.status_code in (200, 302, 400), answer.status_code
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("credential", FORGED)
def test_a_forged_security_key_at_the_code_step_is_refused_without_an_error_page(client, credential):
    person = user()
    turn_on_totp(client, person)
    client = logged_out(client)
    log_in(client, person)
    answer = client.post("/accounts/2fa/authenticate/", {"credential": credential})
    assert answer.status_code == 200, answer.status_code
    assert "_auth_user_id" not in client.session


# --- the workspace setting ------------------------------------------------------------------------


def with_two_factor(person):
    Authenticator.objects.create(user=person, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    return person


URL = "/api/v1/workspaces/{}/"


def test_owners_and_admins_turn_the_requirement_on_and_off_over_rest(api, workspace):
    owner = with_two_factor(member(workspace, Role.OWNER))
    admin = with_two_factor(member(workspace, Role.ADMIN))
    answer = api(owner).patch(URL.format(workspace.pk), {"require_two_factor": True}, format="json")
    assert answer.status_code == 200 and answer.json()["require_two_factor"] is True
    assert api(admin).patch(URL.format(workspace.pk), {"require_two_factor": False}, format="json").status_code == 200
    workspace.refresh_from_db()
    assert workspace.require_two_factor is False
    assert api(owner).get(URL.format(workspace.pk)).json()["require_two_factor"] is False


def test_a_new_workspace_may_require_it_from_the_start_if_its_creator_has_it(api):
    creator = user()
    refused = api(creator).post("/api/v1/workspaces/", {"name": "Safe", "require_two_factor": True}, format="json")
    assert refused.status_code == 409 and not Workspace.objects.filter(name="Safe").exists()
    with_two_factor(creator)
    made = api(creator).post("/api/v1/workspaces/", {"name": "Safe", "require_two_factor": True}, format="json")
    assert made.status_code == 201 and made.json()["require_two_factor"] is True
    assert Workspace.objects.get(name="Safe").require_two_factor


def test_turning_it_on_without_two_factor_yourself_is_refused(api, workspace, owner):
    answer = api(owner).patch(URL.format(workspace.pk), {"require_two_factor": True}, format="json")
    assert answer.status_code == 409
    assert "two-factor authentication for your own account first" in answer.json()["error"]["message"]
    workspace.refresh_from_db()
    assert workspace.require_two_factor is False


@pytest.mark.parametrize("value", ["maybe", None, [], {"x": 1}, 2, "1" * 1000])
def test_a_bad_value_is_refused_and_changes_nothing(api, workspace, value):
    owner = with_two_factor(member(workspace, Role.OWNER))
    answer = api(owner).patch(URL.format(workspace.pk), {"require_two_factor": value}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]
    workspace.refresh_from_db()
    assert workspace.require_two_factor is False


def test_a_bad_value_with_a_new_name_renames_nothing(api, workspace):
    owner = with_two_factor(member(workspace, Role.OWNER))
    answer = api(owner).patch(URL.format(workspace.pk), {"name": "New", "require_two_factor": "x"}, format="json")
    assert answer.status_code == 400
    workspace.refresh_from_db()
    assert workspace.name != "New"


def test_the_owner_without_two_factor_renames_and_turns_it_on_in_one_request_atomically(api, workspace, owner):
    answer = api(owner).patch(URL.format(workspace.pk), {"name": "New", "require_two_factor": True}, format="json")
    assert answer.status_code == 409
    workspace.refresh_from_db()
    assert workspace.name != "New" and not workspace.require_two_factor


@pytest.fixture
def required(workspace):
    """The workspace requires two-factor; its owner has it, its editor does not."""
    owner = with_two_factor(member(workspace, Role.OWNER))
    editor = member(workspace, Role.EDITOR)
    sheet = make_sheet(workspace, owner)
    Workspace.objects.filter(pk=workspace.pk).update(require_two_factor=True)
    return owner, editor, sheet


def test_a_member_without_two_factor_is_refused_the_workspace_with_a_reason(api, workspace, required):
    owner, editor, sheet = required
    for path in (URL.format(workspace.pk), f"{URL.format(workspace.pk)}members/", f"/api/v1/sheets/{sheet.pk}/"):
        answer = api(editor).get(path)
        assert answer.status_code == 403, path
        assert "requires two-factor authentication" in answer.json()["error"]["message"]
        assert api(owner).get(path).status_code == 200
    # Lists leave the workspace out.
    assert api(editor).get("/api/v1/sheets/").json() == []
    assert api(editor).get("/api/v1/workspaces/").json() == []
    assert [w["id"] for w in api(owner).get("/api/v1/workspaces/").json()] == [workspace.pk]
    # A sheet shared with them individually is no way around it.
    services.sheet_share(sheet=sheet, user=editor, level="edit")
    assert api(editor).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 403
    # Other workspaces are not affected, and the outsider learns nothing.
    outsider = user()
    assert api(outsider).get(URL.format(workspace.pk)).status_code == 404


def test_with_two_factor_the_member_gets_in(api, workspace, required):
    _, editor, sheet = required
    with_two_factor(editor)
    assert api(editor).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200


def test_an_api_token_made_before_the_requirement_is_refused_too(workspace, required):
    _, editor, sheet = required
    Workspace.objects.filter(pk=workspace.pk).update(require_two_factor=False)
    _, key = ApiToken.issue(user=editor, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200
    Workspace.objects.filter(pk=workspace.pk).update(require_two_factor=True)
    assert client.get(f"/api/v1/sheets/{sheet.pk}/").status_code == 403


def test_token_creation_is_refused_until_two_factor_then_allowed(api, workspace, required):
    _, editor, _ = required
    answer = api(editor).post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert answer.status_code == 403
    assert "requires two-factor authentication" in answer.json()["error"]["message"]
    assert not ApiToken.objects.filter(user=editor).exists()
    with_two_factor(editor)
    assert api(editor).post("/api/v1/tokens/", {"name": "ci"}, format="json").status_code == 201


def test_the_tokens_page_refuses_too(client, workspace, required):
    _, editor, _ = required
    client.force_login(editor)
    assert client.get("/tokens/")["Location"] == "/accounts/2fa/totp/activate/"  # the page: set it up first
    answer = client.post("/tokens/", {"name": "ci"})  # its form, posted anyway
    assert answer.status_code == 200
    assert "requires two-factor authentication" in html.unescape(answer.content.decode())
    assert not ApiToken.objects.filter(user=editor).exists()


def test_event_streams_are_not_sent_to_the_two_factor_page(client, workspace, required):
    """The bell's stream (an EventSource on every page), sent there, would load the activation page
    and change the secret it shows; streams are refused by the access checks instead (the browser
    test goes through the real bell)."""
    _, editor, _ = required
    client.force_login(editor)
    assert client.get("/tokens/", headers={"Accept": "text/event-stream"}).status_code == 200
    assert client.get("/tokens/", headers={"Accept": "text/html"}).status_code == 302


def test_a_members_page_post_of_a_refused_workspace_is_refused(client, workspace, required):
    _, editor, _ = required
    Membership.objects.filter(user=editor).update(role=Role.ADMIN)
    client.force_login(editor)
    answer = client.post(f"/workspaces/{workspace.pk}/members/", {"action": "two_factor", "required": "0"})
    assert answer.status_code == 403
    workspace.refresh_from_db()
    assert workspace.require_two_factor


def test_login_sends_a_member_without_two_factor_to_set_it_up(client, workspace, required):
    _, editor, _ = required
    assert two_factor_missing(editor)
    assert log_in(client, editor)["Location"] == "/"
    home = client.get("/", follow=True)
    assert home.redirect_chain[0][0] == "/accounts/2fa/totp/activate/"
    assert home.redirect_chain[-1][0].startswith("/accounts/reauthenticate/")  # password again, then the page
    text = html.unescape(home.content.decode())
    assert f"{workspace.name} requires two-factor authentication" in text
    for path in (f"/workspaces/{workspace.pk}/members/", "/tokens/", "/admin/"):
        assert client.get(path)["Location"] == "/accounts/2fa/totp/activate/", path
    # The account pages still open (visiting the e-mail page would record the address, unverified,
    # which allauth then wants verified before a second factor is added).
    assert client.get("/accounts/password/change/").status_code == 200
    # Once set up, everything opens.
    client = logged_out(client)
    turn_on_totp(client, editor)
    assert not two_factor_missing(editor)
    assert client.get("/").status_code == 200


def test_login_asks_a_member_with_two_factor_for_the_code_as_usual(client, workspace, required):
    _, editor, _ = required
    secret, _ = turn_on_totp(client, editor)
    client = logged_out(client)
    assert log_in(client, editor)["Location"] == "/accounts/2fa/authenticate/"
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})["Location"] == "/"
    assert client.get("/").status_code == 200


# --- the members page -----------------------------------------------------------------------------


def test_the_members_page_toggles_the_requirement(client, workspace):
    owner = with_two_factor(member(workspace, Role.OWNER))
    client.force_login(owner)
    page = client.get(f"/workspaces/{workspace.pk}/members/").content.decode()
    assert "Require two-factor authentication" in page
    answer = client.post(f"/workspaces/{workspace.pk}/members/", {"action": "two_factor", "required": "1"}, follow=True)
    assert "Members now need two-factor authentication" in answer.content.decode()
    workspace.refresh_from_db()
    assert workspace.require_two_factor
    assert "Stop requiring two-factor authentication" in answer.content.decode()
    client.post(f"/workspaces/{workspace.pk}/members/", {"action": "two_factor", "required": "0"})
    workspace.refresh_from_db()
    assert not workspace.require_two_factor


@pytest.mark.parametrize("value", ["", "yes", "2", "x" * 300])
def test_the_members_page_refuses_a_bad_value(client, workspace, value):
    owner = with_two_factor(member(workspace, Role.OWNER))
    client.force_login(owner)
    form = {"action": "two_factor", "required": value}
    answer = client.post(f"/workspaces/{workspace.pk}/members/", form, follow=True)
    assert answer.status_code == 200 and "required must be 1 or 0" in answer.content.decode()
    workspace.refresh_from_db()
    assert not workspace.require_two_factor


def test_the_members_page_refuses_an_owner_without_two_factor(client, workspace, owner):
    client.force_login(owner)
    answer = client.post(f"/workspaces/{workspace.pk}/members/", {"action": "two_factor", "required": "1"}, follow=True)
    assert "for your own account first" in answer.content.decode()
    workspace.refresh_from_db()
    assert not workspace.require_two_factor


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_toggle_it_on_the_page(client, workspace, role):
    person = with_two_factor(member(workspace, role))
    client.force_login(person)
    answer = client.post(f"/workspaces/{workspace.pk}/members/", {"action": "two_factor", "required": "1"})
    assert answer.status_code == 403
    workspace.refresh_from_db()
    assert not workspace.require_two_factor

"""Invitations by e-mail (POST /api/v1/workspaces/<id>/invitations/): a pending invitation with a
link, the same answer whether or not an account has the address; accepted by the link or by
logging in with the address verified; revoked, resent, expired; refused input grants nothing."""

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from accounts.models import Invitation, Membership, Role

from ..factories import user

pytestmark = pytest.mark.django_db

URL = "/api/v1/workspaces/{}/invitations/"


def invite(api, owner, workspace, email, role="editor"):
    return api(owner).post(URL.format(workspace.pk), {"email": email, "role": role}, format="json")


def link_in(message):
    return re.search(r"http://testserver(/invitations/\S+/)", message.body).group(1)


def test_an_invitation_is_pending_and_e_mailed_and_the_answer_never_tells_who_has_an_account(
    api, owner, workspace, django_capture_on_commit_callbacks
):
    existing = user(email="has.account@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        with_account = invite(api, owner, workspace, "Has.Account@example.com")
        without = invite(api, owner, workspace, "nobody.yet@example.com")
    assert with_account.status_code == without.status_code == 201
    shape = {
        k: v for k, v in with_account.json().items() if k not in ("id", "email", "created_at", "sent_at", "expires_at")
    }
    assert shape == {
        k: v for k, v in without.json().items() if k not in ("id", "email", "created_at", "sent_at", "expires_at")
    }
    assert with_account.json()["email"] == "has.account@example.com" and with_account.json()["role"] == "editor"
    assert not Membership.objects.filter(user=existing, workspace=workspace).exists()  # pending, not granted
    assert [m.to for m in mail.outbox] == [["has.account@example.com"], ["nobody.yet@example.com"]]
    assert workspace.name in mail.outbox[0].subject and "/invitations/gci_" in mail.outbox[0].body
    listed = api(owner).get(URL.format(workspace.pk)).json()
    assert sorted(i["email"] for i in listed) == ["has.account@example.com", "nobody.yet@example.com"]
    assert all(i["expired"] is False for i in listed)


def test_the_link_makes_the_invited_address_a_member_once(
    api, client, owner, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, owner, workspace, "newcomer@example.com", role="viewer")
    link = link_in(mail.outbox[0])
    assert client.get(link)["Location"].startswith("/accounts/login/")  # log in or sign up first
    newcomer = user(email="newcomer@example.com")
    client.force_login(newcomer)
    response = client.get(link)
    assert response.status_code == 302 and response["Location"] == "/"
    assert Membership.objects.get(user=newcomer, workspace=workspace).role == Role.VIEWER
    assert client.get(link)["Location"] == "/"  # opened again by the member it made: fine
    client.force_login(user(email="someone.else@example.com"))
    again = client.get(link)
    assert again.status_code == 404 and "accepted already" in again.content.decode()
    assert Membership.objects.filter(workspace=workspace).count() == 2  # the owner and the newcomer


def test_a_link_for_another_address_an_expired_or_a_revoked_one_grants_nothing(
    api, client, owner, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = invite(api, owner, workspace, "invited@example.com").json()
    link = link_in(mail.outbox[0])
    stranger = user(email="stranger@example.com")
    client.force_login(stranger)
    response = client.get(link)
    assert response.status_code == 403 and "another e-mail address" in response.content.decode()
    Invitation.objects.filter(pk=sent["id"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    invited = user(email="invited@example.com")
    client.force_login(invited)  # an expired invitation is not accepted by a login either
    expired = client.get(link)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert api(owner).get(URL.format(workspace.pk)).json()[0]["expired"] is True
    assert api(owner).delete(URL.format(workspace.pk) + f"{sent['id']}/").status_code == 204
    assert client.get(link).status_code == 404
    assert not Membership.objects.filter(workspace=workspace, user__in=[stranger, invited]).exists()


def test_resending_renews_the_link_and_the_old_one_stops_working(
    api, client, owner, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = invite(api, owner, workspace, "late@example.com").json()
        Invitation.objects.filter(pk=sent["id"]).update(expires_at=timezone.now() - dt.timedelta(days=1))
        resent = api(owner).post(URL.format(workspace.pk) + f"{sent['id']}/resend/")
    assert resent.status_code == 200 and resent.json()["expired"] is False
    old, new = link_in(mail.outbox[0]), link_in(mail.outbox[1])
    client.force_login(user(email="late@example.com"))
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 302
    assert Membership.objects.filter(workspace=workspace, user__email="late@example.com").exists()


def test_logging_in_with_the_address_verified_accepts_and_an_expired_invitation_is_not(
    api, client, owner, workspace, settings
):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    invite(api, owner, workspace, "verified@example.com", role="editor")
    invite(api, owner, workspace, "too.late@example.com", role="editor")
    Invitation.objects.filter(email="too.late@example.com").update(expires_at=timezone.now() - dt.timedelta(days=1))
    for email in ("verified@example.com", "too.late@example.com"):
        person = user(email=email)
        EmailAddress.objects.create(user=person, email=email, verified=True, primary=True)
        client.force_login(person)
    assert Membership.objects.get(workspace=workspace, user__email="verified@example.com").role == Role.EDITOR
    assert not Membership.objects.filter(workspace=workspace, user__email="too.late@example.com").exists()


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"email": "not an address", "role": "editor"}, 400, "email"),
        ({"email": "a@example.com", "role": "emperor"}, 400, "role"),
        ({"email": "a@example.com" + "x" * 300, "role": "viewer"}, 400, "email"),
        ({"role": "viewer"}, 400, "email"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_creates_nothing(api, owner, workspace, body, status, words):
    response = api(owner).post(URL.format(workspace.pk), body, format="json")
    assert response.status_code == status and words in response.json()["error"]["message"]
    assert not Invitation.objects.exists() and not mail.outbox


def test_only_an_owner_invites_an_owner(api, workspace):
    from ..factories import member

    admin = member(workspace, Role.ADMIN)
    response = api(admin).post(URL.format(workspace.pk), {"email": "boss@example.com", "role": "owner"}, format="json")
    assert response.status_code == 403 and not Invitation.objects.exists()
    assert api(admin).delete(URL.format(workspace.pk) + "999999/").status_code == 404

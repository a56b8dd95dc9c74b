"""Threat: someone signs up with an e-mail address that is not theirs (a colleague's) and waits for
it to be invited or shared with. Access by e-mail reaches an account only once the account has
verified the address (ACCOUNT_EMAIL_VERIFICATION "mandatory", production's default); until then it
waits, and it reaches whoever verifies the address."""

import re

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.urls import reverse
from guardian.shortcuts import get_user_perms

from accounts.models import Invitation, Membership
from accounts.permissions import Access
from sheets.permissions import sheet_access

from ..factories import make_sheet, user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mandatory(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


def invite_and_share(api, workspace, owner, sheet, email):
    assert (
        api(owner)
        .post(f"/api/v1/workspaces/{workspace.pk}/members/", {"email": email, "role": "editor"}, format="json")
        .status_code
        == 202
    )
    assert (
        api(owner)
        .post(f"/api/v1/sheets/{sheet.pk}/share/", {"email": email, "level": "edit"}, format="json")
        .status_code
        == 202
    )


def access(person, workspace, sheet):
    """(their role in the workspace, what the sheet is shared with them for)."""
    role = Membership.objects.filter(workspace=workspace, user=person).values_list("role", flat=True).first()
    return role, set(get_user_perms(person, sheet))


SHARED_TO_EDIT = {"view_sheet", "change_sheet"}


def confirm(client, address):
    """Follow the confirmation link allauth mails (its key, posted as the page's form does)."""
    key = EmailConfirmationHMAC(address).key
    return client.post(reverse("account_confirm_email", args=[key]))


def test_an_unverified_account_gets_nothing_until_it_verifies(api, client, workspace, owner):
    squatter = user(email="colleague@example.com")
    address = EmailAddress.objects.create(user=squatter, email=squatter.email, verified=False, primary=True)
    other = make_sheet(workspace, owner, name="Another")
    sheet = make_sheet(workspace, owner, name="Plan")
    invite_and_share(api, workspace, owner, sheet, "Colleague@Example.com")
    assert access(squatter, workspace, sheet) == (None, set())
    assert api(squatter).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 404
    assert api(squatter).get(f"/api/v1/workspaces/{workspace.pk}/").status_code == 404
    assert Invitation.objects.filter(email="colleague@example.com").count() == 2

    # Whoever proves the address is theirs gets what was given to it.
    assert confirm(client, address).status_code == 302
    assert access(squatter, workspace, sheet) == ("editor", SHARED_TO_EDIT)
    assert sheet_access(squatter, other) == Access.EDIT  # an editor of the workspace
    assert not Invitation.objects.exists()


def test_an_invitation_waits_for_an_account_that_signs_up_and_verifies(api, client, workspace, owner):
    sheet = make_sheet(workspace, owner)
    invite_and_share(api, workspace, owner, sheet, "newcomer@example.com")
    response = client.post(
        reverse("account_signup"),
        {"email": "newcomer@example.com", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    newcomer = EmailAddress.objects.get(email="newcomer@example.com").user
    assert access(newcomer, workspace, sheet) == (None, set())  # signed up, not verified yet

    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[-1].body).group(1)
    assert client.post(link).status_code == 302
    assert access(newcomer, workspace, sheet) == ("editor", SHARED_TO_EDIT)


def test_a_verified_account_gets_access_at_once(api, workspace, owner):
    friend = user(email="friend@example.com")
    EmailAddress.objects.create(user=friend, email=friend.email, verified=True, primary=True)
    sheet = make_sheet(workspace, owner)
    invite_and_share(api, workspace, owner, sheet, friend.email)
    assert access(friend, workspace, sheet) == ("editor", SHARED_TO_EDIT)
    assert not Invitation.objects.exists()


def test_stopping_a_share_also_stops_what_waits(api, client, workspace, owner):
    sheet = make_sheet(workspace, owner)
    url = f"/api/v1/sheets/{sheet.pk}/share/"
    assert api(owner).post(url, {"email": "later@example.com", "level": "view"}, format="json").status_code == 202
    assert api(owner).post(url, {"email": "later@example.com", "level": None}, format="json").status_code == 202
    later = user(email="later@example.com")
    address = EmailAddress.objects.create(user=later, email=later.email, verified=False, primary=True)
    confirm(client, address)
    assert sheet_access(later, sheet) == Access.NONE and not get_user_perms(later, sheet)


def test_with_verification_off_the_account_address_counts(api, settings, workspace, owner):
    """Development (ACCOUNT_EMAIL_VERIFICATION "none": nobody can verify): as before."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    colleague = user(email="dev@example.com")
    sheet = make_sheet(workspace, owner)
    invite_and_share(api, workspace, owner, sheet, colleague.email)
    assert access(colleague, workspace, sheet) == ("editor", SHARED_TO_EDIT)

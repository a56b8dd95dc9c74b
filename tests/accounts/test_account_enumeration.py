"""Threat: someone allowed to invite probes which e-mail addresses have accounts. Adding a
member and sharing a sheet answer the same status and body whether the address has a verified
account, an unverified one, an inactive one, or none; their refusals depend on what is asked, never
on the address."""

import pytest
from allauth.account.models import EmailAddress

from accounts.invitations import ANSWER
from accounts.models import Role

from ..factories import make_sheet, member, user

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["none", "mandatory"])
def verification(request, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = request.param
    return request.param


def addresses():
    """One address of each kind."""
    verified = user(email="verified@example.com")
    EmailAddress.objects.create(user=verified, email=verified.email, verified=True, primary=True)
    unverified = user(email="unverified@example.com")
    EmailAddress.objects.create(user=unverified, email=unverified.email, verified=False, primary=True)
    user(email="inactive@example.com", is_active=False)
    return ["Verified@Example.com", "unverified@example.com", "inactive@example.com", "nobody@example.com"]


def test_adding_a_member_answers_the_same_for_every_address(api, workspace, owner, verification):
    emails = addresses()
    answers = [
        api(owner).post(
            f"/api/v1/workspaces/{workspace.pk}/members/", {"email": email, "role": "editor"}, format="json"
        )
        for email in emails
    ]
    assert [(a.status_code, a.json()) for a in answers] == [
        (202, {"email": email.lower(), "role": "editor", "detail": ANSWER}) for email in emails
    ]


def test_sharing_a_sheet_answers_the_same_for_every_address(api, workspace, owner, verification):
    sheet = make_sheet(workspace, owner)
    emails = addresses()
    for level in ("edit", None):  # sharing, then stopping
        answers = [
            api(owner).post(f"/api/v1/sheets/{sheet.pk}/share/", {"email": email, "level": level}, format="json")
            for email in emails
        ]
        assert [(a.status_code, a.json()) for a in answers] == [
            (202, {"email": email.lower(), "level": level, "detail": ANSWER}) for email in emails
        ]


def test_refusals_do_not_depend_on_the_address(api, workspace, owner, verification):
    admin = member(workspace, Role.ADMIN)
    sheet = make_sheet(workspace, owner)
    members = f"/api/v1/workspaces/{workspace.pk}/members/"
    for email in addresses():
        bad_role = api(owner).post(members, {"email": email, "role": "boss"}, format="json")
        owner_by_admin = api(admin).post(members, {"email": email, "role": "owner"}, format="json")
        bad_level = api(owner).post(
            f"/api/v1/sheets/{sheet.pk}/share/", {"email": email, "level": "own"}, format="json"
        )
        assert (bad_role.status_code, owner_by_admin.status_code, bad_level.status_code) == (400, 403, 400)
        assert "user" not in str(bad_role.json()) and "user" not in str(owner_by_admin.json())

"""The members page of a workspace (/workspaces/<id>/members/): for owners and admins only; change
a role, remove a member, invite by e-mail, resend and revoke invitations, with the REST API's rules."""

import pytest
from django.core import mail

from accounts.models import Invitation, Membership, Role

from ..factories import member

pytestmark = pytest.mark.django_db


def url(workspace):
    return f"/workspaces/{workspace.pk}/members/"


def post(client, workspace, **form):
    return client.post(url(workspace), form, follow=True)


def said(response):
    return [str(m) for m in response.context["messages"]]


def test_only_owners_and_admins_see_it(client, workspace, owner, editor, outsider):
    client.force_login(editor)
    assert client.get(url(workspace)).status_code == 403
    client.force_login(outsider)
    assert client.get(url(workspace)).status_code == 404
    client.force_login(owner)
    page = client.get(url(workspace))
    assert page.status_code == 200 and editor.email in page.content.decode()


def test_invite_resend_revoke_from_the_page(client, workspace, owner, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, workspace, action="invite", email="new.person@example.com", role="viewer")
    assert said(response) == ["Invitation sent to new.person@example.com."]
    invitation = Invitation.objects.get(workspace=workspace, email="new.person@example.com")
    assert invitation.role == Role.VIEWER and len(mail.outbox) == 1
    assert "new.person@example.com" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, workspace, action="resend", invitation=invitation.pk)
    assert len(mail.outbox) == 2
    assert said(post(client, workspace, action="revoke", invitation=invitation.pk)) == [
        "Invitation of new.person@example.com revoked."
    ]
    assert not Invitation.objects.filter(workspace=workspace).exists()


def test_change_a_role_and_remove_a_member_with_the_apis_rules(client, workspace, owner, editor):
    admin = member(workspace, Role.ADMIN)
    client.force_login(admin)
    post(client, workspace, action="role", user=editor.pk, role="viewer")
    assert Membership.objects.get(workspace=workspace, user=editor).role == Role.VIEWER
    refused = post(client, workspace, action="role", user=editor.pk, role="owner")
    assert said(refused) == ["only an owner can grant or take the owner role"]
    assert said(post(client, workspace, action="remove", user=owner.pk)) == ["only an owner can remove an owner"]
    post(client, workspace, action="remove", user=editor.pk)
    assert not Membership.objects.filter(workspace=workspace, user=editor).exists()


@pytest.mark.parametrize(
    "form, words",
    [
        ({"action": "invite", "email": "not an address", "role": "viewer"}, "is not an e-mail address"),
        ({"action": "invite", "email": "a@example.com", "role": "emperor"}, "role"),
        ({"action": "role", "user": "x", "role": "viewer"}, "user must be an id"),
        ({"action": "revoke", "invitation": "999999"}, "invitation not found"),
        ({"action": "explode"}, "unknown action"),
    ],
)
def test_bad_input_says_why_and_changes_nothing(client, workspace, owner, form, words):
    client.force_login(owner)
    before = sorted(Membership.objects.values_list("user_id", "role"))
    messages = said(post(client, workspace, **form))
    assert len(messages) == 1 and words in messages[0]
    assert sorted(Membership.objects.values_list("user_id", "role")) == before
    assert not Invitation.objects.exists()

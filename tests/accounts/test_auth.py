import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiToken, Role, User

from ..factories import make_sheet, member, user

pytestmark = pytest.mark.django_db


def test_sign_up_with_email_then_log_in_and_out(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "New.Person@Example.com",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )
    assert response.status_code == 302
    assert User.objects.filter(email="new.person@example.com").exists()
    client.post(reverse("account_logout"))
    assert client.get("/").status_code == 302
    response = client.post(
        reverse("account_login"), {"login": "new.person@example.com", "password": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_does_not_log_in(client):
    user(email="someone@example.com")
    response = client.post(reverse("account_login"), {"login": "someone@example.com", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_password_reset_sends_a_working_link(client):
    person = user(email="forgetful@example.com")
    client.post(reverse("account_reset_password"), {"email": "forgetful@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url if client.get(link).status_code == 302 else link
    response = client.post(form_url, {"password1": "brand-new-pass-9", "password2": "brand-new-pass-9"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("brand-new-pass-9")


def test_home_lists_only_my_workspaces_and_sheets(client, workspace, owner):
    make_sheet(workspace, owner, name="Visible sheet")
    other_workspace_owner = user()
    from accounts.services import workspace_create

    other = workspace_create(name="Secret workspace", owner=other_workspace_owner)
    make_sheet(other, other_workspace_owner, name="Secret sheet")
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert "Visible sheet" in page and workspace.name in page
    assert "Secret" not in page


def test_token_page_creates_shows_once_and_revokes(client, workspace):
    person = member(workspace, Role.EDITOR)
    client.force_login(person)
    page = client.post(reverse("tokens"), {"name": "script", "workspace": workspace.pk}).content.decode()
    key = re.search(r'data-testid="new-key">(gc_[^<]+)<', page).group(1)
    token = ApiToken.objects.get(user=person)
    assert token.workspace == workspace and token.key_hash != key and key not in token.key_hash
    assert key not in client.get(reverse("tokens")).content.decode()
    assert ApiToken.find(key) == token
    client.post(reverse("token-revoke", args=[token.pk]))
    assert ApiToken.find(key) is None


def test_token_page_cannot_revoke_someone_elses_token(client, workspace):
    mine, theirs = member(workspace), member(workspace)
    token, _ = ApiToken.issue(user=theirs, name="theirs")
    client.force_login(mine)
    client.post(reverse("token-revoke", args=[token.pk]))
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_admin_manages_users_workspaces_memberships_and_sheets(client, workspace, owner):
    make_sheet(workspace, owner, name="Admin sheet")
    admin = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(admin)
    for url, text in [
        ("/admin/accounts/user/?q=root", "root@example.com"),
        ("/admin/accounts/workspace/?q=" + workspace.name.split()[0], workspace.name),
        ("/admin/accounts/membership/?role__exact=owner", owner.email),
        (f"/admin/sheets/sheet/?workspace__id__exact={workspace.pk}", "Admin sheet"),
        ("/admin/sheets/operation/?kind=column.add", "column.add"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode(), url
    sheet_id = owner.workspaces.get().sheets.get().pk
    assert client.get(f"/admin/sheets/sheet/{sheet_id}/change/").status_code == 200
    assert client.get(f"/admin/sheets/sheet/{sheet_id}/permissions/").status_code == 200
    response = client.post(
        f"/admin/accounts/membership/{owner.memberships.get().pk}/change/",
        {
            "user": owner.pk,
            "workspace": workspace.pk,
            "role": "admin",
        },
    )
    assert response.status_code == 302
    assert owner.memberships.get().role == "admin"

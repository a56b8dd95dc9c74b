"""REST API of workspaces, members and API tokens, and token authentication."""

import hashlib

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Role, Workspace

from ..factories import WorkspaceFactory, make_sheet, member, user

pytestmark = pytest.mark.django_db


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def roles(workspace):
    return dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))


# --- workspaces --------------------------------------------------------------------------------


def test_creating_a_workspace_makes_the_caller_its_owner(api, outsider):
    response = api(outsider).post("/api/v1/workspaces/", {"name": "  Sales  "}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Sales" and response.json()["role"] == "owner"
    workspace = Workspace.objects.get(pk=response.json()["id"])
    assert roles(workspace) == {outsider.email: "owner"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_workspace_name_must_be_1_to_200_characters(api, owner, workspace, name):
    response = api(owner).patch(f"/api/v1/workspaces/{workspace.pk}/", {"name": name}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    workspace.refresh_from_db()
    assert workspace.name != name


def test_admin_renames_the_workspace_and_each_member_sees_their_role(api, workspace, owner, viewer):
    admin = member(workspace, Role.ADMIN)
    response = api(admin).patch(f"/api/v1/workspaces/{workspace.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    assert api(viewer).get(f"/api/v1/workspaces/{workspace.pk}/").json() == {
        **response.json(),
        "role": "viewer",
    }


def test_owner_deletes_the_workspace_with_its_sheets(api, workspace, owner, sheet):
    assert api(owner).delete(f"/api/v1/workspaces/{workspace.pk}/").status_code == 204
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 404


# --- members -----------------------------------------------------------------------------------


def test_members_list(api, workspace, owner, editor, viewer):
    members = api(viewer).get(f"/api/v1/workspaces/{workspace.pk}/members/").json()
    assert {(m["email"], m["role"], m["user_id"]) for m in members} == {
        (owner.email, "owner", owner.pk),
        (editor.email, "editor", editor.pk),
        (viewer.email, "viewer", viewer.pk),
    }


def test_add_member_by_email_case_insensitively(api, workspace, owner):
    newcomer = user(email="new.person@example.com")
    response = api(owner).post(
        f"/api/v1/workspaces/{workspace.pk}/members/",
        {"email": "New.Person@Example.com", "role": "editor"},
        format="json",
    )
    # 202 and the address, not the account: the same answer as for an address without one
    # (tests/accounts/test_account_enumeration.py).
    assert response.status_code == 202
    assert response.json()["email"] == "new.person@example.com" and response.json()["role"] == "editor"
    assert roles(workspace)[newcomer.email] == "editor"


def test_added_member_defaults_to_viewer(api, workspace, owner):
    newcomer = user()
    response = api(owner).post(f"/api/v1/workspaces/{workspace.pk}/members/", {"email": newcomer.email}, format="json")
    assert response.status_code == 202
    assert roles(workspace)[newcomer.email] == "viewer"


def test_adding_an_unknown_email_waits_for_its_account(api, workspace, owner):
    response = api(owner).post(
        f"/api/v1/workspaces/{workspace.pk}/members/", {"email": "nobody@example.com", "role": "viewer"}, format="json"
    )
    assert response.status_code == 202
    assert "nobody@example.com" not in roles(workspace)


@pytest.mark.parametrize("body", [{"role": "boss"}, {}, {"role": None}])
def test_changing_to_an_unknown_role_is_400(api, workspace, owner, viewer, body):
    response = api(owner).patch(f"/api/v1/workspaces/{workspace.pk}/members/{viewer.pk}/", body, format="json")
    assert response.status_code == 400
    assert roles(workspace)[viewer.email] == "viewer"


def test_admin_manages_members_but_not_owners(api, workspace, owner, editor, viewer):
    admin = member(workspace, Role.ADMIN)
    client = api(admin)
    base = f"/api/v1/workspaces/{workspace.pk}/members/"
    assert client.patch(f"{base}{viewer.pk}/", {"role": "admin"}, format="json").status_code == 200
    assert client.delete(f"{base}{editor.pk}/").status_code == 204
    # ... but an admin neither grants the owner role nor demotes or removes an owner.
    for response in (
        client.patch(f"{base}{viewer.pk}/", {"role": "owner"}, format="json"),
        client.patch(f"{base}{owner.pk}/", {"role": "viewer"}, format="json"),
        client.delete(f"{base}{owner.pk}/"),
        client.post(base, {"email": user().email, "role": "owner"}, format="json"),
        client.patch(f"{base}{admin.pk}/", {"role": "owner"}, format="json"),
    ):
        assert response.status_code == 403, response.json()
        assert response.json()["error"]["code"] == "forbidden"
    assert roles(workspace) == {owner.email: "owner", viewer.email: "admin", admin.email: "admin"}


def test_only_an_owner_grants_owner(api, workspace, owner, editor):
    response = api(owner).patch(
        f"/api/v1/workspaces/{workspace.pk}/members/{editor.pk}/", {"role": "owner"}, format="json"
    )
    assert response.status_code == 200 and response.json()["role"] == "owner"
    assert roles(workspace)[editor.email] == "owner"


def test_the_last_owner_cannot_leave_or_step_down(api, workspace, owner):
    base = f"/api/v1/workspaces/{workspace.pk}/members/{owner.pk}/"
    for response in (api(owner).delete(base), api(owner).patch(base, {"role": "admin"}, format="json")):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"
    assert roles(workspace)[owner.email] == "owner"


def test_with_a_second_owner_the_first_may_leave(api, workspace, owner):
    second = member(workspace, Role.OWNER)
    assert api(second).delete(f"/api/v1/workspaces/{workspace.pk}/members/{owner.pk}/").status_code == 204
    assert roles(workspace) == {second.email: "owner"}


def test_member_endpoints_do_not_reach_members_of_another_workspace(api, workspace, owner):
    stranger = member(WorkspaceFactory(), Role.EDITOR)
    base = f"/api/v1/workspaces/{workspace.pk}/members/{stranger.pk}/"
    assert api(owner).patch(base, {"role": "viewer"}, format="json").status_code == 404
    assert api(owner).delete(base).status_code == 404
    assert Membership.objects.get(user=stranger).role == "editor"


# --- tokens ------------------------------------------------------------------------------------


def test_token_key_is_returned_once_and_only_its_hash_is_stored(api, owner):
    response = api(owner).post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("gc_") and len(key) > 40
    token = ApiToken.objects.get(pk=response.json()["id"])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert response.json()["key_prefix"] == key[:10] == token.key_prefix
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        assert not any(key in str(value) for row in cursor.fetchall() for value in row)
    listed = api(owner).get("/api/v1/tokens/").json()
    assert [t["id"] for t in listed] == [token.pk]
    assert "key" not in listed[0] and key not in str(listed)


def test_token_authenticates_api_calls(api, owner, sheet):
    key = api(owner).post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["key"]
    response = token_client(key).get(f"/api/v1/sheets/{sheet.pk}/")
    assert response.status_code == 200 and response.json()["id"] == sheet.pk
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.get("/api/v1/sheets/").status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_a_revoked_token_gets_401(api, owner):
    created = api(owner).post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    client = token_client(created["key"])
    assert client.get("/api/v1/workspaces/").status_code == 200
    assert api(owner).delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    response = client.get("/api/v1/workspaces/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "authentication_failed"
    assert api(owner).get("/api/v1/tokens/").json() == []


@pytest.mark.parametrize("header", ["Token gc_not-a-real-key", "Token", "Token a b", "Bearer nonsense"])
def test_bad_credentials_get_401_with_a_challenge(header, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/sheets/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["message"]


def test_without_credentials_401(db):
    response = APIClient().get("/api/v1/workspaces/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_token_of_an_inactive_user_gets_401(owner):
    _, key = ApiToken.issue(user=owner, name="ci")
    owner.is_active = False
    owner.save()
    assert token_client(key).get("/api/v1/workspaces/").status_code == 401


def test_nobody_revokes_someone_elses_token(api, owner, editor):
    token, key = ApiToken.issue(user=owner, name="ci")
    assert api(editor).delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert token_client(key).get("/api/v1/workspaces/").status_code == 200


def test_token_for_a_workspace_of_which_one_is_no_member_is_404(api, outsider, workspace):
    response = api(outsider).post("/api/v1/tokens/", {"name": "x", "workspace": workspace.pk}, format="json")
    assert response.status_code == 404
    assert not ApiToken.objects.exists()


class TestScopedToken:
    @pytest.fixture
    def setup(self, workspace, owner, sheet):
        other = WorkspaceFactory(name="Other")
        Membership.objects.create(workspace=other, user=owner, role=Role.OWNER)
        other_sheet = make_sheet(other, owner, name="Elsewhere")
        _, key = ApiToken.issue(user=owner, name="A only", workspace=workspace)
        return token_client(key), other, other_sheet

    def test_reaches_its_workspace(self, setup, workspace, sheet):
        client, _, _ = setup
        assert client.get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200
        assert [w["id"] for w in client.get("/api/v1/workspaces/").json()] == [workspace.pk]
        assert [s["id"] for s in client.get("/api/v1/sheets/").json()] == [sheet.pk]

    def test_reaches_nothing_in_another_workspace(self, setup):
        client, other, other_sheet = setup
        assert client.get(f"/api/v1/workspaces/{other.pk}/").status_code == 404
        assert client.get(f"/api/v1/workspaces/{other.pk}/members/").status_code == 404
        assert client.get(f"/api/v1/sheets/{other_sheet.pk}/").status_code == 404
        assert client.post("/api/v1/sheets/", {"workspace": other.pk, "name": "x"}, format="json").status_code == 404
        assert client.patch(f"/api/v1/sheets/{other_sheet.pk}/", {"name": "x"}, format="json").status_code == 404

    def test_cannot_create_workspaces_or_unscoped_tokens(self, setup, owner):
        client, other, _ = setup
        count = Workspace.objects.count()
        response = client.post("/api/v1/workspaces/", {"name": "Escape"}, format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        assert Workspace.objects.count() == count
        response = client.post("/api/v1/tokens/", {"name": "wider"}, format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        response = client.post("/api/v1/tokens/", {"name": "wider", "workspace": other.pk}, format="json")
        assert response.status_code == 404
        assert ApiToken.objects.filter(user=owner).count() == 1

    def test_can_create_a_token_for_its_own_workspace(self, setup, workspace):
        client, _, _ = setup
        response = client.post("/api/v1/tokens/", {"name": "same", "workspace": workspace.pk}, format="json")
        assert response.status_code == 201
        assert ApiToken.objects.get(pk=response.json()["id"]).workspace_id == workspace.pk

    def test_sees_and_revokes_only_tokens_of_its_workspace(self, setup, owner, workspace):
        client, other, _ = setup
        unscoped, unscoped_key = ApiToken.issue(user=owner, name="everything")
        elsewhere, _ = ApiToken.issue(user=owner, name="other", workspace=other)
        assert {t["name"] for t in client.get("/api/v1/tokens/").json()} == {"A only"}
        assert client.delete(f"/api/v1/tokens/{unscoped.pk}/").status_code == 404
        assert client.delete(f"/api/v1/tokens/{elsewhere.pk}/").status_code == 404
        assert token_client(unscoped_key).get("/api/v1/tokens/").status_code == 200
        assert ApiToken.objects.filter(user=owner).count() == 3

"""Who may do what: every endpoint of the REST API against every kind of caller, and the
access levels of sheets.permissions underneath. A denied request must change nothing."""

import re

import pytest
from allauth.mfa.models import Authenticator
from guardian.models import UserObjectPermission
from rest_framework.test import APIClient

from accounts import permissions as workspace_permissions
from accounts.models import ApiToken, AuditEvent, Invitation, Membership, NotificationPreference, Role, Workspace
from accounts.permissions import Access
from sheets import permissions, public_links, services
from sheets.models import Column, Operation, PublicLink, Row, Sheet, SheetView

from ..factories import WorkspaceFactory, make_sheet, member, user

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "editor", "viewer", "shared_view", "shared_edit", "outsider", "anonymous", "foreign_token"]


class World:
    """Workspace A with one member of each role and a sheet S with three rows; workspace B
    with an outsider; users to whom S is shared individually; and a user who owns both A and
    B but calls with a token scoped to B."""

    def __init__(self):
        self.workspace = WorkspaceFactory(name="A")
        self.users = {
            "owner": member(self.workspace, Role.OWNER),
            "admin": member(self.workspace, Role.ADMIN),
            "editor": member(self.workspace, Role.EDITOR),
            "viewer": member(self.workspace, Role.VIEWER),
            "shared_view": user(),
            "shared_edit": user(),
        }
        for manager in ("owner", "admin"):  # may require two-factor only with it themselves
            Authenticator.objects.create(user=self.users[manager], type=Authenticator.Type.TOTP, data={"secret": "A"})
        self.target = member(self.workspace, Role.VIEWER)  # the member that member endpoints change
        self.other = WorkspaceFactory(name="B")
        self.users["outsider"] = member(self.other, Role.OWNER)
        make_sheet(self.other, self.users["outsider"], rows=1, name="B's sheet")
        self.sheet = make_sheet(self.workspace, self.users["owner"], rows=3)
        self.rows = list(Row.objects.filter(sheet=self.sheet).order_by("position").values_list("pk", flat=True))
        services.cells_update(  # something for find and replace to find
            sheet=self.sheet, actor=self.users["owner"], cells=[{"row": self.rows[1], "col": "c1", "value": "alpha"}]
        )
        self.sheet.refresh_from_db()
        services.sheet_share(sheet=self.sheet, user=self.users["shared_view"], level="view")
        services.sheet_share(sheet=self.sheet, user=self.users["shared_edit"], level="edit")
        self.users["foreign_token"] = member(self.other, Role.OWNER)
        Membership.objects.create(workspace=self.workspace, user=self.users["foreign_token"], role=Role.OWNER)
        _, self.foreign_key = ApiToken.issue(user=self.users["foreign_token"], name="B only", workspace=self.other)
        self.owner_token, _ = ApiToken.issue(user=self.users["owner"], name="owner's script")
        self.newcomer = user()
        self.invitation = Invitation.objects.create(
            workspace=self.workspace, email="invited@example.com", role=Role.EDITOR, key_hash="k" * 64
        )
        # A shared view of S (made by its owner) and the owner's personal view of S.
        self.shared_view = SheetView.objects.create(
            sheet=self.sheet, name="Team", shared=True, created_by=self.users["owner"], config={}
        )
        self.personal_view = SheetView.objects.create(
            sheet=self.sheet, name="Mine", shared=False, created_by=self.users["owner"], config={}
        )
        self.public_link = public_links.public_link_create(
            workspace=self.workspace, sheet=self.sheet, access="view", created_by=self.users["owner"]
        )

    def client(self, role):
        client = APIClient()
        if role == "foreign_token":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.foreign_key}")
        elif role != "anonymous":
            client.force_authenticate(self.users[role])
        return client


def state():
    """Everything a request could change, except bookkeeping such as last_used_at."""
    return {
        "workspaces": sorted(Workspace.objects.values_list("pk", "name", "require_two_factor")),
        "members": sorted(Membership.objects.values_list("workspace_id", "user_id", "role")),
        "tokens": sorted(ApiToken.objects.values_list("pk", "user_id", "workspace_id", "name")),
        "sheets": sorted(Sheet.objects.values_list("pk", "workspace_id", "name", "version", "layout_version")),
        "columns": sorted(Column.objects.values_list("sheet_id", "key", "name", "type", "position", "deleted")),
        "rows": sorted(
            (pk, position, repr(sorted(data.items())))
            for pk, position, data in Row.objects.values_list("pk", "position", "data")
        ),
        "operations": sorted(Operation.objects.values_list("sheet_id", "version")),
        "shares": sorted(UserObjectPermission.objects.values_list("user_id", "permission__codename", "object_pk")),
        "invitations": sorted(Invitation.objects.values_list("pk", "workspace_id", "email", "role", "key_hash")),
        # A denied request leaves no trace in the audit log either (exports are reads that it records).
        "audit": sorted(AuditEvent.objects.exclude(kind="export").values_list("pk", "kind")),
        "public_links": sorted(PublicLink.objects.values_list("pk", "sheet_id", "key", "revoked_at")),
        "notification_preferences": sorted(NotificationPreference.objects.values_list("user_id", "kind", "channel")),
        "views": sorted(
            (pk, name, shared, repr(config))
            for pk, name, shared, config in SheetView.objects.values_list("pk", "name", "shared", "config")
        ),
    }


#            owner admin editor viewer shared_view shared_edit outsider anonymous foreign_token
ALL_USERS = (200, 200, 200, 200, 200, 200, 200, 401, 200)
MEMBERS_READ = (200, 200, 200, 200, 404, 404, 404, 401, 404)
MEMBERS_MANAGE = (200, 200, 403, 403, 404, 404, 404, 401, 404)
SHEET_READ = (200, 200, 200, 200, 200, 200, 404, 401, 404)
SHEET_EDIT = (200, 200, 200, 403, 403, 200, 404, 401, 404)
SHEET_MANAGE = (200, 200, 403, 403, 403, 403, 404, 401, 404)
PUBLIC = (200,) * 9


def _with(row, ok):
    return tuple(ok if status == 200 else status for status in row)


ENDPOINTS = {
    "workspaces list": ("get", "/api/v1/workspaces/", None, ALL_USERS),
    "workspace create": (
        "post",
        "/api/v1/workspaces/",
        lambda w: {"name": "New"},
        (201, 201, 201, 201, 201, 201, 201, 401, 403),
    ),
    "workspace detail": ("get", "/api/v1/workspaces/{ws}/", None, MEMBERS_READ),
    "workspace rename": ("patch", "/api/v1/workspaces/{ws}/", lambda w: {"name": "Renamed"}, MEMBERS_MANAGE),
    "workspace require two-factor": (
        "patch",
        "/api/v1/workspaces/{ws}/",
        lambda w: {"require_two_factor": True},
        MEMBERS_MANAGE,
    ),
    "workspace delete": ("delete", "/api/v1/workspaces/{ws}/", None, (204, 403, 403, 403, 404, 404, 404, 401, 404)),
    "members list": ("get", "/api/v1/workspaces/{ws}/members/", None, MEMBERS_READ),
    "member add": (
        "post",
        "/api/v1/workspaces/{ws}/members/",
        lambda w: {"email": w.newcomer.email, "role": "editor"},
        _with(MEMBERS_MANAGE, 202),
    ),
    "member change role": (
        "patch",
        "/api/v1/workspaces/{ws}/members/{target}/",
        lambda w: {"role": "editor"},
        MEMBERS_MANAGE,
    ),
    "member remove": ("delete", "/api/v1/workspaces/{ws}/members/{target}/", None, _with(MEMBERS_MANAGE, 204)),
    "invitations list": ("get", "/api/v1/workspaces/{ws}/invitations/", None, MEMBERS_MANAGE),
    "invitation send": (
        "post",
        "/api/v1/workspaces/{ws}/invitations/",
        lambda w: {"email": "someone.new@example.com", "role": "editor"},
        _with(MEMBERS_MANAGE, 201),
    ),
    "invitation revoke": (
        "delete",
        "/api/v1/workspaces/{ws}/invitations/{invitation}/",
        None,
        _with(MEMBERS_MANAGE, 204),
    ),
    "invitation resend": (
        "post",
        "/api/v1/workspaces/{ws}/invitations/{invitation}/resend/",
        None,
        MEMBERS_MANAGE,
    ),
    # The audit log is for owners and admins, as JSON pages or as a CSV file.
    "audit log": ("get", "/api/v1/workspaces/{ws}/audit/", None, MEMBERS_MANAGE),
    "audit log csv": ("get", "/api/v1/workspaces/{ws}/audit/?format=csv", None, MEMBERS_MANAGE),
    "tokens list": ("get", "/api/v1/tokens/", None, ALL_USERS),
    # Each person's own notification preferences.
    "notification preferences": ("get", "/api/v1/me/notification-preferences/", None, ALL_USERS),
    "notification preferences set": (
        "put",
        "/api/v1/me/notification-preferences/",
        lambda w: {"mention": "email"},
        ALL_USERS,
    ),
    "token create for workspace": (
        "post",
        "/api/v1/tokens/",
        lambda w: {"name": "ci", "workspace": w.workspace.pk},
        _with(MEMBERS_READ, 201),
    ),
    # The owner's token: nobody else can see it to revoke it.
    "token revoke": ("delete", "/api/v1/tokens/{token}/", None, (204, 404, 404, 404, 404, 404, 404, 401, 404)),
    "sheets list": ("get", "/api/v1/sheets/", None, ALL_USERS),
    "sheet create": (
        "post",
        "/api/v1/sheets/",
        lambda w: {"workspace": w.workspace.pk, "name": "New"},
        (201, 201, 201, 403, 404, 404, 404, 401, 404),
    ),
    "sheet detail": ("get", "/api/v1/sheets/{sheet}/", None, SHEET_READ),
    "sheet rename": ("patch", "/api/v1/sheets/{sheet}/", lambda w: {"name": "Renamed"}, SHEET_EDIT),
    "sheet delete": ("delete", "/api/v1/sheets/{sheet}/", None, _with(SHEET_MANAGE, 204)),
    "sheet share": (
        "post",
        "/api/v1/sheets/{sheet}/share/",
        lambda w: {"email": w.newcomer.email, "level": "view"},
        _with(SHEET_MANAGE, 202),
    ),
    "public links list": ("get", "/api/v1/sheets/{sheet}/public-links/", None, SHEET_MANAGE),
    "public link create": (
        "post",
        "/api/v1/sheets/{sheet}/public-links/",
        lambda w: {"access": "view"},
        _with(SHEET_MANAGE, 201),
    ),
    "public link revoke": (
        "delete",
        "/api/v1/sheets/{sheet}/public-links/{public_link}/",
        None,
        _with(SHEET_MANAGE, 204),
    ),
    # A public link's reads: the key is the credential, whoever calls (no session or token is looked at).
    "public sheet": ("get", "/api/v1/public/{key}/", None, PUBLIC),
    "public rows": ("get", "/api/v1/public/{key}/rows/", None, PUBLIC),
    "columns list": ("get", "/api/v1/sheets/{sheet}/columns/", None, SHEET_READ),
    "column add": ("post", "/api/v1/sheets/{sheet}/columns/", lambda w: {"name": "Extra"}, _with(SHEET_EDIT, 201)),
    "column change": ("patch", "/api/v1/sheets/{sheet}/columns/c1/", lambda w: {"name": "Title"}, SHEET_EDIT),
    "column delete": ("delete", "/api/v1/sheets/{sheet}/columns/c1/", None, SHEET_EDIT),
    "rows get": ("get", "/api/v1/sheets/{sheet}/rows/", None, SHEET_READ),
    "rows insert": ("post", "/api/v1/sheets/{sheet}/rows/", lambda w: {"count": 2}, _with(SHEET_EDIT, 201)),
    "rows delete": ("post", "/api/v1/sheets/{sheet}/rows/delete/", lambda w: {"row_ids": [w.rows[0]]}, SHEET_EDIT),
    "rows move": (
        "post",
        "/api/v1/sheets/{sheet}/rows/move/",
        lambda w: {"row_ids": [w.rows[0]], "after": w.rows[2]},
        SHEET_EDIT,
    ),
    "cells": (
        "post",
        "/api/v1/sheets/{sheet}/cells/",
        lambda w: {"cells": [{"row": w.rows[0], "col": "c1", "value": "changed"}]},
        SHEET_EDIT,
    ),
    "cells paste": (
        "post",
        "/api/v1/sheets/{sheet}/cells/paste/",
        lambda w: {"cells": [{"row": w.rows[0], "col": "c1", "value": "pasted"}]},
        SHEET_EDIT,
    ),
    # Find is a read; replace-all writes (one cells.update operation).
    "find": ("get", "/api/v1/sheets/{sheet}/find/?q=a", None, SHEET_READ),
    "replace": (
        "post",
        "/api/v1/sheets/{sheet}/replace/",
        lambda w: {"q": "a", "replacement": "b"},
        SHEET_EDIT,
    ),
    # History is for editors (tests/sheets/test_history_access.py): viewers get 403.
    "operations": ("get", "/api/v1/sheets/{sheet}/operations/?since=0", None, SHEET_EDIT),
    "cell history": ("get", "/api/v1/sheets/{sheet}/history/?row={row}&col=c1", None, SHEET_EDIT),
    "row history": ("get", "/api/v1/sheets/{sheet}/history/?row={row}", None, SHEET_EDIT),
    # Time travel too (tests/sheets/test_as_of.py, test_diff.py, test_restore.py).
    "rows as of": ("get", "/api/v1/sheets/{sheet}/rows/?as_of=1", None, SHEET_EDIT),
    "diff": ("get", "/api/v1/sheets/{sheet}/diff/?from=1", None, SHEET_EDIT),
    "restore": ("post", "/api/v1/sheets/{sheet}/restore/", lambda w: {"version": 1, "scope": "sheet"}, SHEET_EDIT),
    # Saved views: a personal one needs read access, a shared one edit access; someone's personal
    # view is not found by anyone else (tests/sheets/test_views.py).
    "views list": ("get", "/api/v1/sheets/{sheet}/views/", None, SHEET_READ),
    "view create personal": (
        "post",
        "/api/v1/sheets/{sheet}/views/",
        lambda w: {"name": "Mine too", "config": {"sorts": [{"column": "c1", "direction": "desc"}]}},
        _with(SHEET_READ, 201),
    ),
    "view create shared": (
        "post",
        "/api/v1/sheets/{sheet}/views/",
        lambda w: {"name": "Team too", "shared": True, "config": {}},
        _with(SHEET_EDIT, 201),
    ),
    "view detail": ("get", "/api/v1/sheets/{sheet}/views/{shared_view}/", None, SHEET_READ),
    "view change": ("patch", "/api/v1/sheets/{sheet}/views/{shared_view}/", lambda w: {"name": "Team 2"}, SHEET_EDIT),
    "view delete": ("delete", "/api/v1/sheets/{sheet}/views/{shared_view}/", None, _with(SHEET_EDIT, 204)),
    "personal view of another": (
        "get",
        "/api/v1/sheets/{sheet}/views/{personal_view}/",
        None,
        (200, 404, 404, 404, 404, 404, 404, 401, 404),
    ),
    "rows by view": ("get", "/api/v1/sheets/{sheet}/rows/?view={shared_view}", None, SHEET_READ),
    "totals": ("get", "/api/v1/sheets/{sheet}/totals/?total=c1:count", None, SHEET_READ),
    "schema": ("get", "/api/v1/schema/", None, PUBLIC),
    "docs": ("get", "/api/v1/docs/", None, PUBLIC),
}


@pytest.fixture
def world(db):
    return World()


def _url(world, path):
    return path.format(
        ws=world.workspace.pk,
        sheet=world.sheet.pk,
        target=world.target.pk,
        token=world.owner_token.pk,
        invitation=world.invitation.pk,
        public_link=world.public_link.pk,
        key=world.public_link.key,
        shared_view=world.shared_view.pk,
        personal_view=world.personal_view.pk,
        row=world.rows[1],
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_permission_matrix(world, endpoint, role):
    method, path, body, expected = ENDPOINTS[endpoint]
    expected = dict(zip(ROLES, expected))[role]
    url = _url(world, path)
    before = state()

    response = getattr(world.client(role), method)(url, body(world) if body else None, format="json")

    assert response.status_code == expected, response.content[:500]
    after = state()
    if method == "get" or expected >= 400:
        assert after == before, "a read or a denied request changed something"
    else:
        assert after != before, "an accepted write changed nothing"
    if expected >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"


def _requiring_two_factor(endpoint, role, expected):
    """The matrix once workspace A requires two-factor authentication, which only its owner and
    admin have: its other members get 403 wherever they reached A, and no new API token; nobody
    else notices."""
    method, path, _, _ = ENDPOINTS[endpoint]
    in_a = "{ws}" in path or "{sheet}" in path or endpoint == "sheet create"
    if role in ("editor", "viewer") and (in_a or endpoint == "token create for workspace"):
        return 403
    return expected


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e not in ("schema", "docs")])
def test_permission_matrix_of_a_workspace_that_requires_two_factor(world, endpoint, role):
    Workspace.objects.filter(pk=world.workspace.pk).update(require_two_factor=True)
    method, path, body, expected = ENDPOINTS[endpoint]
    expected = _requiring_two_factor(endpoint, role, dict(zip(ROLES, expected))[role])
    url = _url(world, path)
    before = state()

    response = getattr(world.client(role), method)(url, body(world) if body else None, format="json")

    assert response.status_code == expected, response.content[:500]
    if method == "get" or expected >= 400:
        assert state() == before, "a read or a denied request changed something"
    if expected == 403 and role in ("editor", "viewer"):
        assert "two-factor" in response.json()["error"]["message"]


def test_every_api_url_is_in_the_matrix():
    """Each endpoint of the core API (accounts.api, sheets.api.views, public_links and find_views, schema,
    docs) is above.
    Import and export (sheets.api.io_views) are checked by their own tests."""
    from sheets.api.urls import urlpatterns

    core = (
        "accounts.api",
        "sheets.api.views",
        "sheets.api.public_links",
        "sheets.api.saved_views",
        "sheets.api.find_views",
        "sheets.api.time_travel_views",
        "drf_spectacular.views",
    )
    param = re.compile(r"\{[^}]+\}|<[^>]+>|(?<=columns/)c1")
    routes = {
        param.sub("{}", "/api/v1/" + str(p.pattern)) for p in urlpatterns if p.callback.view_class.__module__ in core
    }
    assert routes == {param.sub("{}", path.split("?")[0]) for _, path, _, _ in ENDPOINTS.values()}


@pytest.mark.parametrize(
    "role,sees_sheet",
    [
        ("owner", True),
        ("admin", True),
        ("editor", True),
        ("viewer", True),
        ("shared_view", True),
        ("shared_edit", True),
        ("outsider", False),
        ("foreign_token", False),
    ],
)
def test_sheet_list_shows_exactly_the_sheets_a_caller_may_read(world, role, sees_sheet):
    listed = {s["id"] for s in world.client(role).get("/api/v1/sheets/").json()}
    assert (world.sheet.pk in listed) is sees_sheet
    in_workspace = {s["id"] for s in world.client(role).get(f"/api/v1/sheets/?workspace={world.workspace.pk}").json()}
    assert (world.sheet.pk in in_workspace) is sees_sheet
    assert all(Sheet.objects.get(pk=pk).workspace_id == world.workspace.pk for pk in in_workspace)


@pytest.mark.parametrize(
    "role,workspaces",
    [
        ("owner", {"A"}),
        ("viewer", {"A"}),
        ("shared_view", set()),
        ("outsider", {"B"}),
        ("foreign_token", {"B"}),
    ],
)
def test_workspace_list_shows_memberships_within_the_token_scope(world, role, workspaces):
    assert {w["name"] for w in world.client(role).get("/api/v1/workspaces/").json()} == workspaces


def test_denied_and_missing_look_the_same(world):
    """An outsider cannot tell a sheet or workspace of someone else from one that does not exist."""
    client = world.client("outsider")
    missing = Sheet.objects.order_by("-pk").first().pk + 1000
    assert client.get(f"/api/v1/sheets/{world.sheet.pk}/").json() == client.get(f"/api/v1/sheets/{missing}/").json()
    assert (
        client.get(f"/api/v1/workspaces/{world.workspace.pk}/").json()
        == client.get(f"/api/v1/workspaces/{missing}/").json()
    )
    mine = {"name": "t", "workspace": world.workspace.pk}
    nowhere = {"name": "t", "workspace": missing}
    first, second = (
        client.post("/api/v1/tokens/", mine, format="json"),
        client.post("/api/v1/tokens/", nowhere, format="json"),
    )
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    assert first.status_code == 404


# --- access levels underneath ------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,level",
    [
        ("owner", Access.OWN),
        ("admin", Access.MANAGE),
        ("editor", Access.EDIT),
        ("viewer", Access.VIEW),
        ("shared_view", Access.VIEW),
        ("shared_edit", Access.EDIT),
        ("outsider", Access.NONE),
    ],
)
def test_sheet_access_by_role_and_share(world, role, level):
    assert permissions.sheet_access(world.users[role], world.sheet) == level


def test_viewer_with_an_edit_share_may_edit_that_sheet_only(world):
    viewer = world.users["viewer"]
    other_sheet = make_sheet(world.workspace, world.users["owner"], name="Other")
    services.sheet_share(sheet=world.sheet, user=viewer, level="edit")
    assert permissions.sheet_access(viewer, world.sheet) == Access.EDIT
    assert permissions.sheet_access(viewer, other_sheet) == Access.VIEW
    assert workspace_permissions.workspace_access(viewer, world.workspace.pk) == Access.VIEW


def test_unsharing_takes_access_away(world):
    services.sheet_share(sheet=world.sheet, user=world.users["shared_edit"], level=None)
    assert permissions.sheet_access(world.users["shared_edit"], world.sheet) == Access.NONE


def test_a_token_scope_hides_everything_outside_it(world):
    scoped = world.users["foreign_token"]
    assert permissions.sheet_access(scoped, world.sheet) == Access.OWN  # unscoped, the user owns A
    scoped.token_workspace_id = world.other.pk
    assert permissions.sheet_access(scoped, world.sheet) == Access.NONE
    assert workspace_permissions.workspace_access(scoped, world.workspace.pk) == Access.NONE
    assert workspace_permissions.workspace_access(scoped, world.other.pk) == Access.OWN


def test_a_token_scope_hides_individual_shares_outside_it(world):
    shared = world.users["shared_edit"]
    shared.token_workspace_id = world.other.pk
    assert permissions.sheet_access(shared, world.sheet) == Access.NONE


def test_an_inactive_user_has_no_access(world):
    for role in ("owner", "shared_edit"):
        person = world.users[role]
        person.is_active = False
        person.save()
        assert permissions.sheet_access(person, world.sheet) == Access.NONE


@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize("role", ROLES)
def test_import_into_a_sheet_is_for_its_editors(world, role, preview):
    """POST /sheets/<id>/import/ (multipart, so outside the JSON matrix): editors and above, as
    every sheet write; its preview too (it reads the sheet's rows)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    expected = dict(zip(ROLES, SHEET_EDIT))[role]
    before = state()
    response = world.client(role).post(
        f"/api/v1/sheets/{world.sheet.pk}/import/" + ("?preview=1" if preview else ""),
        {"file": SimpleUploadedFile("d.csv", b"Name,Amount\nnew,1.5\n"), "mode": "append"},
        format="multipart",
    )
    assert response.status_code == expected, response.content[:500]
    if expected >= 400 or preview:
        assert state() == before
        if expected >= 400:
            assert response.json()["error"]["message"]
    else:
        assert state() != before

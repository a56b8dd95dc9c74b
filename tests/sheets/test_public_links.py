"""Public read-only links (sheets.public_links): an owner or admin publishes a sheet; the url opens
it with no account, read-only; revoking it ends it (410); the key reaches nothing else of the
workspace. The live socket is tests/realtime/test_public_socket.py, the browser
tests/browser/test_public_links.py."""

import re

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from sheets.models import PublicLink, Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

VIEW = {"access": "view"}


def publish(api, who, sheet, body=VIEW):
    return api(who).post(f"/api/v1/sheets/{sheet.pk}/public-links/", body, format="json")


def key_of(url):
    return re.fullmatch(r"http://testserver/p/(gcp_[A-Za-z0-9_-]+)/", url).group(1)


@pytest.fixture
def link(api, owner, sheet):
    answer = publish(api, owner, sheet)
    assert answer.status_code == 201, answer.content
    return answer.json()


# --- the API ---------------------------------------------------------------------------------------


def test_an_owner_publishes_a_sheet_and_sees_the_link_again(api, owner, sheet, link):
    assert set(link) == {"id", "url", "access", "created_at", "created_by"}
    assert link["access"] == "view" and link["created_by"] == owner.label
    key = key_of(link["url"])
    assert len(key) >= 36 and PublicLink.objects.get(pk=link["id"]).key == key
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/public-links/").json() == [link]


def test_two_links_of_one_sheet_have_different_keys(api, owner, sheet, link):
    other = publish(api, owner, sheet).json()
    assert key_of(other["url"]) != key_of(link["url"])


def test_an_admin_may_publish_and_revoke(api, workspace, sheet):
    from accounts.models import Role

    from ..factories import member

    admin = member(workspace, Role.ADMIN)
    created = publish(api, admin, sheet)
    assert created.status_code == 201
    assert api(admin).delete(f"/api/v1/sheets/{sheet.pk}/public-links/{created.json()['id']}/").status_code == 204


@pytest.mark.parametrize(
    "body",
    [{"access": "edit"}, {"access": "VIEW"}, {"access": ""}, {"access": None}, {"access": ["view"]}, {}, {"access": 1}],
)
def test_any_access_but_view_is_refused_with_a_clear_message_and_creates_nothing(api, owner, sheet, body):
    answer = publish(api, owner, sheet, body)
    assert answer.status_code == 400, answer.content
    assert "access" in answer.json()["error"]["message"].lower() or answer.json()["error"].get("field") == "access"
    assert not PublicLink.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(api, owner, sheet):
    answer = api(owner).post(f"/api/v1/sheets/{sheet.pk}/public-links/", "[1]", content_type="application/json")
    assert answer.status_code == 400
    assert not PublicLink.objects.exists()


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_may_not_publish_list_or_revoke(api, request, sheet, link, role):
    who = request.getfixturevalue(role)
    assert publish(api, who, sheet).status_code == 403
    assert api(who).get(f"/api/v1/sheets/{sheet.pk}/public-links/").status_code == 403
    assert api(who).delete(f"/api/v1/sheets/{sheet.pk}/public-links/{link['id']}/").status_code == 403
    assert PublicLink.objects.filter(revoked_at__isnull=True).count() == 1


def test_outsiders_and_anonymous_callers_get_nothing(api, outsider, sheet, link):
    assert publish(api, outsider, sheet).status_code == 404
    assert api(outsider).get(f"/api/v1/sheets/{sheet.pk}/public-links/").status_code == 404
    assert api(outsider).delete(f"/api/v1/sheets/{sheet.pk}/public-links/{link['id']}/").status_code == 404
    assert publish(api, None, sheet).status_code in (401, 403)
    assert api(None).get(f"/api/v1/sheets/{sheet.pk}/public-links/").status_code in (401, 403)


def test_a_link_of_another_sheet_cannot_be_revoked_through_this_one(api, owner, workspace, sheet, link):
    other = make_sheet(workspace, owner, name="Other")
    assert api(owner).delete(f"/api/v1/sheets/{other.pk}/public-links/{link['id']}/").status_code == 404
    assert PublicLink.objects.get(pk=link["id"]).revoked_at is None


def test_revoking_hides_the_link_from_the_list_and_is_idempotent(api, owner, sheet, link):
    url = f"/api/v1/sheets/{sheet.pk}/public-links/{link['id']}/"
    assert api(owner).delete(url).status_code == 204
    assert api(owner).delete(url).status_code == 204
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/public-links/").json() == []


# --- the page and what it reads ----------------------------------------------------------------------


def test_the_page_opens_with_no_login_and_shows_the_sheet_read_only(client, link, sheet):
    page = client.get(f"/p/{key_of(link['url'])}/")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer" and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    config = page.context["config"]
    assert config["access"] == "view" and config["people"] == {} and config["sheet"]["workspace"] == ""
    assert config["public"]["socket"] == f"/ws/public/{key_of(link['url'])}/"
    assert sheet.name in html
    # Nothing of the workspace: no navigation, no account, no members, no API docs.
    for absent in ('href="/"', "/members/", "/api/v1/docs/", "Log out", "tokens", sheet.workspace.name):
        assert absent not in html, absent


def test_the_public_reads_answer_with_no_session_or_token(link, sheet):
    make_rows = Row.objects.filter(sheet=sheet).count()
    key = key_of(link["url"])
    anonymous = APIClient()
    snapshot = anonymous.get(f"/api/v1/public/{key}/").json()
    assert snapshot["id"] == sheet.pk and snapshot["access"] == "view" and "workspace" not in snapshot
    rows = anonymous.get(f"/api/v1/public/{key}/rows/?offset=0&limit=10").json()
    assert rows["total"] == make_rows and rows["version"] == sheet.version


def test_an_unknown_or_malformed_key_is_not_found(client):
    for key in ("gcp_" + "x" * 32, "nope", "gcp_%00", "' OR 1=1 --"):
        assert client.get(f"/p/{key}/").status_code == 404
        assert APIClient().get(f"/api/v1/public/{key}/").status_code == 404


def test_a_revoked_link_answers_410_with_a_clear_message_and_nothing_of_the_sheet(api, client, owner, sheet, link):
    key = key_of(link["url"])
    api(owner).delete(f"/api/v1/sheets/{sheet.pk}/public-links/{link['id']}/")
    page = client.get(f"/p/{key}/")
    assert page.status_code == 410
    assert "This link was revoked" in page.content.decode() and sheet.name not in page.content.decode()
    for path in (f"/api/v1/public/{key}/", f"/api/v1/public/{key}/rows/"):
        answer = APIClient().get(path)
        assert answer.status_code == 410
        assert answer.json()["error"] == {"code": "link_revoked", "message": "This link was revoked"}


def test_deleting_the_sheet_ends_its_links(api, client, owner, sheet, link):
    assert api(owner).delete(f"/api/v1/sheets/{sheet.pk}/").status_code == 204
    assert client.get(f"/p/{key_of(link['url'])}/").status_code == 404


def test_the_key_opens_no_member_endpoint_of_the_sheet_or_workspace(client, link, sheet, workspace):
    """Visiting the page leaves no session that the API or the member pages would accept."""
    assert client.get(f"/p/{key_of(link['url'])}/").status_code == 200
    for path in (
        f"/api/v1/sheets/{sheet.pk}/",
        f"/api/v1/sheets/{sheet.pk}/rows/",
        f"/api/v1/sheets/{sheet.pk}/operations/",
        f"/api/v1/sheets/{sheet.pk}/export/?format=csv",
        f"/api/v1/workspaces/{workspace.pk}/",
        f"/api/v1/workspaces/{workspace.pk}/members/",
    ):
        assert client.get(path).status_code in (401, 403), path
    assert client.get(f"/sheets/{sheet.pk}/").status_code == 302  # to the login page


def test_a_key_shows_only_its_own_sheet(api, owner, workspace, sheet, link):
    other = make_sheet(workspace, owner, name="Secret plans", rows=1)
    key = key_of(link["url"])
    snapshot = APIClient().get(f"/api/v1/public/{key}/").json()
    assert snapshot["id"] == sheet.pk and snapshot["name"] != other.name
    # The rows endpoint takes no sheet id: there is no way to point the key at another sheet.
    assert APIClient().get(f"/api/v1/public/{key}/rows/?sheet={other.pk}").json()["total"] == 0


def test_page_loads_and_reads_are_rate_limited_per_client_ip(client, link):
    key = key_of(link["url"])
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public": "3/m"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        assert [client.get(f"/p/{key}/").status_code for _ in range(3)] == [200, 200, 200]
        page = client.get(f"/p/{key}/")
        assert page.status_code == 429 and int(page["Retry-After"]) >= 1
        assert APIClient().get(f"/api/v1/public/{key}/").status_code == 429
        # Another client IP is not held back.
        assert client.get(f"/p/{key}/", REMOTE_ADDR="10.9.8.7").status_code == 200


def test_an_operator_revokes_a_link_in_the_admin_and_never_sees_its_key(admin_client, api, owner, sheet, link):
    changelist = "/admin/sheets/publiclink/"
    page = admin_client.get(f"{changelist}{link['id']}/change/")
    assert page.status_code == 200 and key_of(link["url"]) not in page.content.decode()
    admin_client.post(changelist, {"action": "revoke", "_selected_action": [link["id"]]})
    assert PublicLink.objects.get(pk=link["id"]).revoked_at is not None


# --- a publisher who no longer manages the workspace -----------------------------------------------------


@pytest.fixture
def admins_link(api, workspace, sheet):
    from accounts.models import Role

    from ..factories import member

    admin = member(workspace, Role.ADMIN)
    return admin, publish(api, admin, sheet).json()


def test_demoting_the_publisher_revokes_their_links(api, client, workspace, owner, sheet, admins_link):
    admin, link = admins_link
    kept = publish(api, owner, sheet).json()
    membership = f"/api/v1/workspaces/{workspace.pk}/members/{admin.pk}/"
    assert api(owner).patch(membership, {"role": "editor"}, format="json").status_code == 200
    assert PublicLink.objects.get(pk=link["id"]).revoked_at is not None
    assert client.get(f"/p/{key_of(link['url'])}/").status_code == 410
    listed = api(owner).get(f"/api/v1/sheets/{sheet.pk}/public-links/").json()
    assert [each["id"] for each in listed] == [kept["id"]]
    # Promoted again, the link stays revoked.
    api(owner).patch(membership, {"role": "admin"}, format="json")
    assert client.get(f"/p/{key_of(link['url'])}/").status_code == 410


def test_removing_or_deactivating_the_publisher_revokes_their_links(api, client, workspace, owner, sheet, admins_link):
    from accounts.models import Role

    from ..factories import member

    admin, link = admins_link
    assert api(owner).delete(f"/api/v1/workspaces/{workspace.pk}/members/{admin.pk}/").status_code == 204
    assert client.get(f"/p/{key_of(link['url'])}/").status_code == 410
    other = member(workspace, Role.ADMIN)
    second = publish(api, other, sheet).json()
    other.is_active = False
    other.save()
    assert client.get(f"/p/{key_of(second['url'])}/").status_code == 410


def test_a_publisher_demoted_without_signals_is_refused_all_the_same(client, workspace, sheet, admins_link):
    """A bulk update sends no signal: the link is refused when it is used."""
    from accounts.models import Membership, Role

    admin, link = admins_link
    Membership.objects.filter(workspace=workspace, user=admin).update(role=Role.VIEWER)
    page = client.get(f"/p/{key_of(link['url'])}/")
    assert page.status_code == 410 and "no longer manages the workspace" in page.content.decode()
    answer = APIClient().get(f"/api/v1/public/{key_of(link['url'])}/")
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "link_revoked"

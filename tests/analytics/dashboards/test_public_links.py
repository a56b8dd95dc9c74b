"""Public read-only links of a workspace's live dashboard (analytics.dashboards.public): owners and
admins publish, list and revoke them; the url opens the published widgets with no account, live
over ws/public/dashboards/<key>/, which computes only the published widgets (a client cannot ask
for any other query), hears no notification, and closes within a second when the link is revoked."""

import asyncio
import json
import re
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.models import Role
from analytics.alerts import notify as alert_notify
from analytics.dashboards import layouts, live
from config.asgi import application
from sheets import public_links
from sheets.models import PublicLink
from tests.factories import WorkspaceFactory, make_sheet, member, pushed_notification

from .test_dashboard import ORIGIN, WIDGETS, Socket, recording_aggregate  # noqa: F401  (a fixture)

VIEW = {"access": "view"}
LAYOUT = [{**widget, "type": kind} for widget, kind in zip(WIDGETS, ("line", "bar"), strict=True)]


def links_url(workspace):
    return f"/api/v1/workspaces/{workspace.pk}/dashboard/public-links/"


def key_of(url):
    return re.fullmatch(r"http://testserver/p/(gcp_[A-Za-z0-9_-]+)/", url).group(1)


# --- the API and the page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_owners_and_admins_publish_list_and_revoke_others_may_not(api, workspace, owner, editor, viewer, outsider):
    admin = member(workspace, Role.ADMIN)
    created = api(owner).post(links_url(workspace), VIEW, format="json")
    assert created.status_code == 201, created.content
    link = created.json()
    assert set(link) == {"id", "url", "access", "created_at", "created_by"} and key_of(link["url"])
    assert PublicLink.objects.get(pk=link["id"]).kind == PublicLink.Kind.DASHBOARD
    assert api(admin).get(links_url(workspace)).json() == [link]
    for who, code in ((editor, 403), (viewer, 403), (outsider, 404)):
        assert api(who).post(links_url(workspace), VIEW, format="json").status_code == code
        assert api(who).get(links_url(workspace)).status_code == code
        assert api(who).delete(f"{links_url(workspace)}{link['id']}/").status_code == code
    assert api(None).post(links_url(workspace), VIEW, format="json").status_code in (401, 403)
    assert api(admin).delete(f"{links_url(workspace)}{link['id']}/").status_code == 204
    assert api(owner).get(links_url(workspace)).json() == []


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"access": "edit"}, {}, {"access": None}])
def test_any_access_but_view_is_refused(api, workspace, owner, body):
    answer = api(owner).post(links_url(workspace), body, format="json")
    assert answer.status_code == 400 and "access" in answer.json()["error"]["message"]
    assert not PublicLink.objects.exists()


@pytest.mark.django_db
def test_a_sheet_link_is_not_revoked_through_the_dashboard_nor_another_workspaces_link(api, workspace, owner):
    sheet = make_sheet(workspace, owner)
    sheet_link = public_links.public_link_create(workspace=workspace, sheet=sheet, access="view", created_by=owner)
    other = WorkspaceFactory()
    other_owner = member(other, Role.OWNER)
    theirs = public_links.public_link_create(workspace=other, access="view", created_by=other_owner)
    for link in (sheet_link, theirs):
        assert api(owner).delete(f"{links_url(workspace)}{link.pk}/").status_code == 404
        link.refresh_from_db()
        assert link.revoked_at is None


@pytest.mark.django_db
def test_the_page_shows_the_creators_widgets_with_no_login_and_nothing_else(api, client, workspace, owner):
    layouts.dashboard_save(user=owner, workspace_id=workspace.pk, widgets=LAYOUT, filters={"range": 900})
    key = key_of(api(owner).post(links_url(workspace), VIEW, format="json").json()["url"])
    page = client.get(f"/p/{key}/")
    assert page.status_code == 200
    config = page.context["config"]
    assert config["public"] is True and config["access"] == "view"
    assert [w["id"] for w in config["dashboard"]["widgets"]] == ["w1", "w2"]
    assert config["urls"] == {"socket": f"/ws/public/dashboards/{key}/"} and config["superset"] is None
    html = page.content.decode()
    for absent in (workspace.name, 'href="/"', "/api/v1/docs/", "Log out"):
        assert absent not in html, absent
    # The dashboard's key is no sheet's key.
    assert APIClient().get(f"/api/v1/public/{key}/").status_code == 404


@pytest.mark.django_db
def test_a_revoked_dashboard_link_answers_410(api, client, workspace, owner):
    link = api(owner).post(links_url(workspace), VIEW, format="json").json()
    api(owner).delete(f"{links_url(workspace)}{link['id']}/")
    page = client.get(f"/p/{key_of(link['url'])}/")
    assert page.status_code == 410 and "This link was revoked" in page.content.decode()


# --- the socket ----------------------------------------------------------------------------------------


async def open_public(key):
    communicator = WebsocketCommunicator(application, f"/ws/public/dashboards/{key}/", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    return (Socket(communicator) if connected else None), code


async def closed(socket, within=1.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    frames = []
    while True:
        try:
            message = await socket.ws.receive_output(timeout=max(0.01, deadline - loop.time()))
        except TimeoutError:
            raise AssertionError(f"still open {within} s later; got {frames}") from None
        if message["type"] == "websocket.close":
            return message.get("code"), frames
        frames.append(json.loads(message["text"]))


@pytest.fixture
def published(workspace, owner):
    layouts.dashboard_save(user=owner, workspace_id=workspace.pk, widgets=LAYOUT, filters={"range": 900})
    return public_links.public_link_create(workspace=workspace, access="view", created_by=owner)


@pytest.mark.django_db(transaction=True)
async def test_only_the_published_widgets_are_computed_and_pushed_live(
    workspace,
    published,
    recording_aggregate,  # noqa: F811
):
    socket, _ = await open_public(published.key)
    assert await socket.recv_type("welcome") == {"type": "welcome", "workspace": workspace.pk, "access": "view"}
    # The client asks for a published id with a query of its own, and for a widget of its own making.
    asked = [
        {"id": "w1", "query": {"metric": "secret", "agg": "sum"}},
        {"id": "mine", "query": {"metric": "salaries", "agg": "sum"}},
    ]
    await socket.send({"type": "subscribe", "widgets": asked, "filters": {"range": 86400 * 30}})
    assert (await socket.recv_type("subscribed"))["widgets"] == ["w1"]
    first = await socket.data(1)
    assert first["w1"]["result"]["metric"] == "orders"
    assert {call["metric"] for call in recording_aggregate} == {"orders"}
    # Under the published filters (15 minutes), not the client's 30 days.
    call = recording_aggregate[-1]
    assert (datetime.fromisoformat(call["to"]) - datetime.fromisoformat(call["from"])).total_seconds() == 900
    await sync_to_async(live.data_arrived)(workspace.pk)
    again = await socket.data(1)
    assert again["w1"]["result"]["totals"][0]["value"] > first["w1"]["result"]["totals"][0]["value"]
    # No notification of the workspace reaches a public viewer.
    await sync_to_async(alert_notify.notification)(workspace.pk, pushed_notification(workspace.pk))
    assert await socket.ws.receive_nothing(timeout=0.4)
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_revoking_the_link_closes_its_dashboard_sockets_within_a_second(published, recording_aggregate):  # noqa: F811
    socket, _ = await open_public(published.key)
    await socket.recv_type("welcome")
    await database_sync_to_async(public_links.public_link_revoke)(link=published)
    code, frames = await closed(socket)
    assert code == 4403 and frames[-1] == {
        "type": "error",
        "code": "access_revoked",
        "message": "This link was revoked",
    }
    again, code = await open_public(published.key)
    assert again is not None  # accepted to be told, then closed
    code, frames = await closed(again)
    assert code == 4403 and frames[0]["message"] == "This link was revoked"


@pytest.mark.django_db(transaction=True)
async def test_unknown_keys_and_sheet_keys_are_refused_at_the_handshake(workspace, owner):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner)
    sheet_link = await database_sync_to_async(public_links.public_link_create)(
        workspace=workspace, sheet=sheet, access="view", created_by=owner
    )
    for key in ("gcp_" + "B" * 32, "nope", sheet_link.key):
        socket, code = await open_public(key)
        assert socket is None and code == 4403

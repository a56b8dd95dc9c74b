"""A workspace that requires two-factor authentication, over sockets: a member without it cannot
open a sheet or dashboard socket (4403, with a session or an API token), and turning the
requirement on, or removing one's last second factor, ends the open ones within a second.
Members with two-factor keep theirs."""

import pytest
from allauth.mfa.models import Authenticator
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import Role, Workspace
from config.asgi import application

from ..factories import member
from .test_revocation import ORIGIN, close_all, dashboard_socket, issue_token, logged_in, room, sheet_socket

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["room"]  # the fixture, shared


def with_two_factor(person):
    Authenticator.objects.create(user=person, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    return person


def require_over_rest(owner, workspace):
    client = Client()
    client.force_login(owner)
    answer = client.patch(
        f"/api/v1/workspaces/{workspace.pk}/", {"require_two_factor": True}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content


async def refused(path, headers):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return not connected and code == 4403


async def test_a_member_without_two_factor_cannot_open_a_socket(room, workspace, owner):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    _, key = await issue_token(editor)
    _, _, cookie = await logged_in(editor)
    await database_sync_to_async(Workspace.objects.filter(pk=workspace.pk).update)(require_two_factor=True)
    assert await refused(f"/ws/sheets/{sheet.pk}/", [ORIGIN, (b"cookie", cookie)])
    assert await refused(f"/ws/sheets/{sheet.pk}/?token={key}", [ORIGIN])
    assert await refused(f"/ws/dashboards/{workspace.pk}/", [ORIGIN, (b"cookie", cookie)])
    await database_sync_to_async(with_two_factor)(editor)
    socket = await sheet_socket(sheet, cookie=cookie)
    await socket.still_open()
    await socket.close()


async def test_requiring_two_factor_ends_the_sockets_of_members_without_it(room, workspace, owner):
    sheet, _ = room
    await database_sync_to_async(with_two_factor)(owner)
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    _, key = await issue_token(editor)
    _, _, cookie = await logged_in(editor)
    _, _, owner_cookie = await logged_in(owner)
    gone = [await sheet_socket(sheet, cookie=cookie), await dashboard_socket(workspace.pk, key=key)]
    kept = await sheet_socket(sheet, cookie=owner_cookie)
    try:
        await database_sync_to_async(require_over_rest)(owner, workspace)
        for socket in gone:
            assert (await socket.closed())[0] == 4403, socket.path
        await kept.still_open()
    finally:
        await close_all(*gone, kept)


async def test_removing_the_last_second_factor_ends_the_sockets(room, workspace, owner):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    await database_sync_to_async(with_two_factor)(editor)
    await database_sync_to_async(Workspace.objects.filter(pk=workspace.pk).update)(require_two_factor=True)
    _, _, cookie = await logged_in(editor)
    socket = await sheet_socket(sheet, cookie=cookie)
    try:
        await socket.still_open()
        authenticator = await database_sync_to_async(Authenticator.objects.get)(user=editor)
        await database_sync_to_async(authenticator.delete)()
        assert (await socket.closed())[0] == 4403
    finally:
        await socket.close()

"""A burst of joins to one sheet is checked in few database calls (realtime.admission), and what is
remembered of a check never lets in someone whose access was revoked meanwhile."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken, Membership, Role
from config.asgi import application
from realtime import admission
from realtime.revocation import Guard

from ..factories import make_sheet, member

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


@pytest.fixture(autouse=True)
def _forgotten():
    admission.forget_answers()
    yield
    admission.forget_answers()


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner, rows=2)


async def opened(sheet, key):
    communicator = WebsocketCommunicator(application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=10)
    if not connected:
        return communicator, code
    while True:
        frame = json.loads(await communicator.receive_from(timeout=10))
        if frame["type"] == "welcome":
            return communicator, frame
        if frame["type"] == "error":
            return communicator, frame


def counting(monkeypatch):
    """Counts the database calls of admission (their sizes) and the full checks of guards."""
    batches, checks = [], []
    run = admission._admit.run
    check = Guard.check

    def counted_run(key, items):
        batches.append(len(items))
        return run(key, items)

    def counted_check(self, *args, **kwargs):
        checks.append(self.user.pk)
        return check(self, *args, **kwargs)

    monkeypatch.setattr(admission._admit, "run", counted_run)
    monkeypatch.setattr(Guard, "check", counted_check)
    return batches, checks


async def test_a_burst_of_joins_is_checked_in_a_few_database_calls(sheet, workspace, monkeypatch):
    viewers = [await database_sync_to_async(member)(workspace, Role.VIEWER) for _ in range(3)]
    keys = [(await database_sync_to_async(ApiToken.issue)(user=v, name="ws"))[1] for v in viewers]
    batches, checks = counting(monkeypatch)
    joins = await asyncio.gather(*(opened(sheet, keys[i % 3]) for i in range(30)))
    try:
        assert all(welcome["type"] == "welcome" and welcome["access"] == "view" for _, welcome in joins)
        assert sum(batches) == 30
        assert len(batches) < 30  # joins that arrive while a check runs wait for the next, together
        assert sorted(set(checks)) == sorted(v.pk for v in viewers)
        assert len(checks) == 3  # one full check per credential; the others take its answer
    finally:
        for communicator, _ in joins:
            await communicator.disconnect()


async def test_a_revoked_member_is_refused_at_once_though_their_check_was_just_remembered(
    sheet, workspace, monkeypatch
):
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    _, key = await database_sync_to_async(ApiToken.issue)(user=viewer, name="ws")
    _, checks = counting(monkeypatch)
    first, welcome = await opened(sheet, key)
    assert welcome["type"] == "welcome"
    second, welcome = await opened(sheet, key)
    assert welcome["type"] == "welcome"
    assert checks == [viewer.pk]  # the second join took the first's answer
    await database_sync_to_async(Membership.objects.filter(workspace=workspace, user=viewer).delete)()
    third, refused = await opened(sheet, key)
    assert refused == 4403  # within the 2 s an answer is remembered: the stamp moved, so it looked again
    for communicator in (first, second):
        frame = json.loads(await communicator.receive_from(timeout=5))
        while frame["type"] == "presence":
            frame = json.loads(await communicator.receive_from(timeout=5))
        assert frame["type"] == "error" and frame["code"] == "access_revoked"
        assert (await communicator.receive_output(timeout=5))["code"] == 4403


async def test_an_answer_is_for_one_credential_and_one_sheet(sheet, workspace, owner, monkeypatch):
    """Another token of the same user, or the same token on another sheet, looks for itself."""
    other_sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=1)
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    _, key = await database_sync_to_async(ApiToken.issue)(user=viewer, name="ws")
    _, other_key = await database_sync_to_async(ApiToken.issue)(user=viewer, name="another")
    _, checks = counting(monkeypatch)
    joins = [await opened(sheet, key), await opened(sheet, other_key), await opened(other_sheet, key)]
    try:
        assert all(welcome["type"] == "welcome" for _, welcome in joins)
        assert len(checks) == 3
    finally:
        for communicator, _ in joins:
            await communicator.disconnect()


async def test_a_revoked_token_is_refused_at_once_though_its_key_was_just_looked_up(sheet, workspace):
    """realtime.auth remembers what a token key gave for 2 s; the token's revocation changes the
    user's stamp, so the connection looks again and finds the token gone."""
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    token, key = await database_sync_to_async(ApiToken.issue)(user=viewer, name="ws")
    first, welcome = await opened(sheet, key)
    assert welcome["type"] == "welcome"
    await database_sync_to_async(token.delete)()
    second, refused = await opened(sheet, key)
    assert refused == 4403
    frame = json.loads(await first.receive_from(timeout=5))
    while frame["type"] == "presence":
        frame = json.loads(await first.receive_from(timeout=5))
    assert frame["type"] == "error" and frame["code"] == "access_revoked"

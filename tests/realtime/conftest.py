import asyncio
import json

import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken
from config.asgi import application


class Client:
    """A WebSocket client of one sheet, as a test drives it."""

    def __init__(self, communicator):
        self.ws = communicator

    async def send(self, frame):
        await self.ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout=3):
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def recv_type(self, kind, timeout=3):
        """The next frame of this type, skipping others (presence and the like)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind:
                return frame

    async def no(self, kind, timeout=0.3):
        """True when no frame of this type arrives within the timeout. (A timed-out
        receive would cancel the application, so this polls with receive_nothing.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self.ws.receive_nothing(timeout=0.05):
                continue
            if (await self.recv())["type"] == kind:
                return False
        return True

    async def close(self):
        await self.ws.disconnect()


@pytest_asyncio.fixture
async def connect():
    opened = []

    async def open_(user, sheet, expect_welcome=True):
        token, key = await database_sync_to_async(ApiToken.issue)(user=user, name="ws")
        communicator = WebsocketCommunicator(
            application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=[(b"origin", b"http://127.0.0.1:8000")]
        )
        connected, code = await communicator.connect(timeout=5)
        if not connected:
            return None, code
        client = Client(communicator)
        opened.append(client)
        welcome = await client.recv_type("welcome") if expect_welcome else None
        return client, welcome

    yield open_
    for client in opened:
        try:
            await client.close()
        except BaseException:  # already closed by the test or by the server
            pass


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections(django_db_blocker):
    """Consumers query from asgiref's worker thread; close its connections so that the test
    database can be dropped at the end. (Unblocked: after a test without database access, the
    thread's connection left by an earlier test is closed too, and pytest-django refused that.)"""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        await database_sync_to_async(connections.close_all)()

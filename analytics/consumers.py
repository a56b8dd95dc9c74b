"""ws/dashboards/<workspace id>/: one open dashboard. Thin: it authenticates (session or token,
as every WebSocket), checks view access to the workspace, and pushes the watched widgets' data
(analytics.live) when metrics arrive, and the workspace's notifications when alerts fire.

Client → server: {"type": "subscribe", "widgets": [{"id", "query"}], "filters": {...}}, {"type": "ping"}
Server → client: {"type": "welcome", "workspace", "access"}, {"type": "subscribed", "widgets": [ids]},
{"type": "data", "widget", "at", "as_of_ms", "result" | "error"}, {"type": "notification", "notification"},
{"type": "pong"}, {"type": "error", "code", "message"}. `at` (ISO) is when the data was computed,
`as_of_ms` (epoch milliseconds) when its computation started: the page shows arrival - as_of_ms
as the data's age. docs/dashboards.md has the details.
"""
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from sheets.errors import GridcastError
from sheets.permissions import Access, workspace_access

from .live import LiveWidgets, personal_notification
from .notify import dashboard_group, workspace_group

CLOSE_NO_ACCESS = 4403


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.workspace_id = int(self.scope["url_route"]["kwargs"]["workspace_id"])
        self.user = self.scope.get("user")
        self.live = None
        self.groups_joined = []
        access = await database_sync_to_async(self._access)()
        if access < Access.VIEW:
            await self.close(code=CLOSE_NO_ACCESS)  # before accept: the handshake is refused
            return
        await self.accept()
        for group in (dashboard_group(self.workspace_id), workspace_group(self.workspace_id)):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        self.live = LiveWidgets(self.workspace_id, self.send_frame)
        await self.send_frame({"type": "welcome", "workspace": self.workspace_id, "access": access.name.lower()})

    def _access(self):
        if self.user is None or not self.user.is_authenticated:
            return Access.NONE
        return workspace_access(self.user, self.workspace_id)

    async def disconnect(self, code):
        if self.live is not None:
            self.live.close()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def send_frame(self, frame):
        await self.send(text_data=json.dumps(frame, default=str))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            return await self.send_frame({"type": "error", "code": "invalid", "message": "frames are JSON objects"})
        kind = frame.get("type")
        if kind == "ping":
            return await self.send_frame({"type": "pong", "t": frame.get("t")})
        if kind == "subscribe":
            try:
                ids = self.live.subscribe(frame.get("widgets"), frame.get("filters"))
            except GridcastError as error:
                return await self.send_frame({"type": "error", **error.as_dict()})
            return await self.send_frame({"type": "subscribed", "widgets": ids})
        await self.send_frame({"type": "error", "code": "invalid", "message": f"unknown frame type {kind!r}"})

    # channel-layer events (analytics.notify)
    async def data_arrived(self, event):
        self.live.arrived()

    async def notification_created(self, event):
        await self.send_frame({"type": "notification",
                              "notification": personal_notification(event.get("notification"), self.user.pk)})

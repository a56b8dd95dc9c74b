"""ws/dashboards/<workspace id>/: one open dashboard. Thin: it authenticates (session or token,
as every WebSocket), checks view access to the workspace, and pushes the watched widgets' data
(analytics.dashboards.live) when metrics arrive, and the workspace's notifications when alerts fire.

Client → server: {"type": "subscribe", "widgets": [{"id", "query"}], "filters": {...}}, {"type": "ping"}
Server → client: {"type": "welcome", "workspace", "access"}, {"type": "subscribed", "widgets": [ids]},
{"type": "data", "widget", "at", "as_of_ms", "result" | "error"}, {"type": "notification", "notification"},
{"type": "pong"}, {"type": "error", "code", "message"}. `at` (ISO) is when the data was computed,
`as_of_ms` (epoch milliseconds) when its computation started: the page shows arrival - as_of_ms
as the data's age. docs/dashboards.md has the details.

When the person's access to the workspace or the credential the socket was opened with is gone
(realtime.revocation), the socket gets {"type": "error", "code": "access_revoked"} and closes
with 4403.
"""

from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.permissions import Access, workspace_access
from analytics.alerts.notify import notification_frame, workspace_group
from core import frames, jsonio, metrics
from core.errors import GridcastError
from core.frames import error_frame
from core.requests import bind_scope
from realtime.limits import CLOSE_RATE_LIMITED, FrameLimits, claim_connection, too_many_connections_message
from realtime.revocation import Credential, Guard

from .live import LiveWidgets, dashboard_group

CLOSE_NO_ACCESS = 4403


class DashboardConsumer(AsyncWebsocketConsumer):
    # What the client is told when its access ends (analytics.dashboards.public says it of a link).
    revoked_message = "you no longer have access to this workspace"

    async def connect(self):
        self.request_id = bind_scope(self.scope)
        self.workspace_id = int(self.scope["url_route"]["kwargs"]["workspace_id"])
        self.user = self.scope.get("user")
        self.live = None
        self.slot = None
        self.flood_closed = False
        self.frame_limits = FrameLimits(("ping", "subscribe"))
        self.guard = Guard(
            self.user,
            Credential.of_scope(self.scope),
            lambda user: workspace_access(user, self.workspace_id),
            denied=Access.NONE,
        )
        access = await self.guard.acheck()
        if access < Access.VIEW:
            await self.close(code=CLOSE_NO_ACCESS)  # before accept: the handshake is refused
            return
        self.slot = await claim_connection(self.user)
        await self.accept()
        if self.slot is None:  # the user has too many sockets and streams open (realtime.limits)
            await self.send_frame(error_frame("too_many_connections", too_many_connections_message()))
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        self.slot.keep()
        # The workspace's pushes and the user's access changes, kept joined however long the socket lives.
        await self.guard.join(
            self.channel_layer,
            self.channel_name,
            dashboard_group(self.workspace_id),
            workspace_group(self.workspace_id),
        )
        self.live = LiveWidgets(self.workspace_id, self.send_frame)
        metrics.connections.inc()  # counted while it has its widgets: uncounted when they close
        await self.send_frame({"type": "welcome", "workspace": self.workspace_id, "access": access.name.lower()})

    async def disconnect(self, code):
        if self.slot is not None:
            await self.slot.release()
            self.slot = None
        if self.live is not None:
            self.live.close()
            self.live = None
            metrics.connections.dec()
        await self.guard.leave()

    async def send_frame(self, frame):
        await self.send(text_data=frames.encode(frame))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = jsonio.loads(text_data or "")
        except jsonio.JsonInvalid as error:
            return await self.send_frame(error_frame(error, code="invalid"))
        if not isinstance(frame, dict):
            return await self.send_frame(error_frame("invalid", "frames are JSON objects"))
        kind = frame.get("type")
        if self.flood_closed:
            return
        if not self.frame_limits.allow(kind):
            if self.frame_limits.flooding:  # kept on past the limit: closed (realtime.limits)
                self.flood_closed = True
                await self.send_frame(error_frame("rate_limited", "too many frames: closing", frame=kind))
                return await self.close(code=CLOSE_RATE_LIMITED)
            return await self.send_frame(self.frame_limits.refusal(kind))
        if kind == "ping":
            return await self.send_frame({"type": "pong", "t": frame.get("t")})
        if kind == "subscribe":
            if self.live is None:  # access revoked: the socket is closing
                return
            try:
                ids = self.live.subscribe(frame.get("widgets"), frame.get("filters"))
            except GridcastError as error:
                return await self.send_frame(error_frame(error))
            return await self.send_frame({"type": "subscribed", "widgets": ids})
        await self.send_frame(error_frame("invalid", f"unknown frame type {kind!r}"))

    # channel-layer events (dashboards.live, alerts.notify, realtime.revocation)
    async def access_changed(self, event):
        if self.guard.revoked:  # closed already
            return
        if await self.guard.acheck() < Access.VIEW:
            await self.disconnect(CLOSE_NO_ACCESS)  # nothing more is pushed
            await self.send_frame(error_frame("access_revoked", self.revoked_message))
            await self.close(code=CLOSE_NO_ACCESS)

    async def data_arrived(self, event):
        if self.live is not None:
            self.live.arrived()

    async def notification_created(self, event):
        if self.guard.revoked:  # queued before the socket left its groups
            return
        frame = notification_frame(event.get("notification"), self.user.pk)
        if frame is not None:
            await self.send_frame(frame)

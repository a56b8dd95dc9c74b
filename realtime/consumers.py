"""ws/sheets/<id>/: one connection of one person to one sheet. Thin: it parses frames, checks
access, calls the sheets services and replies; how frames reach the client is realtime.transport's,
presence realtime.presence's. docs/realtime.md is the protocol, realtime/frames.py its frames."""

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.permissions import Access
from core import metrics
from core.errors import GridcastError, PermissionDenied
from core.frames import SERVER_FAILED, error_frame
from core.requests import bind_scope
from sheets import services, undo
from sheets.models import Sheet
from sheets.permissions import sheet_access
from sheets.services import Edit

from . import protocol
from .admission import admit, current_version
from .bus import get_bus
from .edits import queue_for, write_refusal
from .limits import (
    CLOSE_RATE_LIMITED,
    FrameLimits,
    TokenBucket,
    claim_connection,
    too_many_connections_message,
)
from .presence import Presence, ProtocolUnsupported, protocol_of
from .replay import replay_frame
from .revocation import AccessRevoked, Credential, Guard, stale_guards_checked
from .transport import Outbox

log = logging.getLogger(__name__)

CLOSE_NO_ACCESS = 4403
CLOSE_PROTOCOL = 4400  # a protocol version this server does not speak (after `protocol_unsupported`)


def _service(name: str):
    return getattr(undo if name.startswith("operation_") else services, name)


class SheetConsumer(AsyncWebsocketConsumer):
    # What the client is told when its access ends (realtime.public says it of a link).
    revoked_message = "you no longer have access to this sheet"

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            if getattr(self, "joined", False):  # ended by an exception, without websocket.disconnect
                await self.disconnect(None)

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, without its close_old_connections before every message: that is a
        hop to the one database thread, where each client frame queued behind whatever was
        running there (a batch of edits), so under load frames reached the edit queue one
        thread hop at a time. Every database call here goes through database_sync_to_async,
        which closes old connections around itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # Channels assigns the channel layer's receive to this attribute and awaits it beside the
    # client's frames; an exception from it (Redis restarting) would end the connection.
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict]]:
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict]]) -> None:
        self._layer_receive = receive

    async def _receive_from_layer(self):
        """The next channel-layer message. While Redis is away the connection stays (the bus
        replays what it missed); once Redis is back the user group, which Redis lost, is joined
        again and access is looked at again, in case a change was missed meanwhile."""
        down = False
        while True:
            try:
                if down and getattr(self, "joined", False):
                    await self.guard.rejoin()
                    return {"type": "access.changed"}
                return await self._layer_receive()
            except Exception:
                if asyncio.current_task().cancelling():  # the layer turned our cancellation into an error
                    raise asyncio.CancelledError() from None
                if not down:
                    log.warning("channel layer unavailable for %s; retrying", getattr(self, "connection_id", "?"))
                down = True
                await asyncio.sleep(0.5)

    async def connect(self) -> None:
        self.request_id = bind_scope(self.scope)
        self.sheet_id = int(self.scope["url_route"]["kwargs"]["sheet_id"])
        self.user = self.scope.get("user")
        self.connection_id = uuid.uuid4().hex[:16]
        self.outbox = Outbox(self.base_send, self.close)
        # The bus writes each frame of the room straight to the outbox.
        self.push, self.push_many, self.send_frame = self.outbox.push, self.outbox.push_many, self.outbox.send_frame
        self.presence = None
        self.joined = False
        self.last_edit = None  # the future of this connection's last queued edit
        self.revoked = False
        # Access is checked at connect, when the user's access changes, and before writes (revocation).
        self.guard = Guard(self.user, Credential.of_scope(self.scope), self._sheet_access, denied=Access.NONE)
        limits = settings.GRIDCAST
        self.bucket = TokenBucket(limits["WS_EDITS_PER_SECOND"], limits["WS_EDIT_BURST"])
        self.frame_limits = FrameLimits(("hello", "ping", "presence"))
        self.slot = None
        found = await admit(self)  # with the other connections to the sheet arriving meanwhile
        if found is None:
            await self.close(code=CLOSE_NO_ACCESS)  # before accept: the handshake is refused
            return
        self.sheet, self.access = found
        try:
            self.presence_protocol = protocol_of(self.scope)
        except ProtocolUnsupported as error:
            await self.accept()
            await self.outbox.send_now(error_frame(error))
            await self.close(code=CLOSE_PROTOCOL)
            return
        self.presence = Presence(self.sheet_id, self.user, self.connection_id, self.presence_protocol)
        self.slot = await claim_connection(self.user)
        await self.accept()
        if self.slot is None:  # the user has too many sockets and streams open (realtime.limits)
            await self.outbox.send_now(error_frame("too_many_connections", too_many_connections_message()))
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        self.slot.keep()
        await self.guard.join(self.channel_layer, self.channel_name)
        await get_bus().join(self.sheet_id, self)
        self.joined = True
        metrics.connections.inc()
        version = await current_version(self.sheet_id)  # read after joining the room: nothing is missed
        await self.presence.joined()  # counted in the welcome; told to the others in the next batch
        await self.outbox.send_now(
            {
                "type": "welcome",
                "version": version,
                "access": self.access.name.lower(),
                "you": self.who(),
                **self.presence.welcome(),
            }
        )
        self.outbox.open(version)

    def _sheet_access(self, user):
        return sheet_access(user, self.sheet)

    def _current_version(self):
        return Sheet.objects.filter(pk=self.sheet_id).values_list("version", flat=True).first() or 0

    async def disconnect(self, code: int | None) -> None:
        if getattr(self, "slot", None) is not None:
            await self.slot.release()
        if getattr(self, "presence", None) is not None:
            self.presence.stop()
        if hasattr(self, "outbox"):
            self.outbox.end()
        if self.joined:
            self.joined = False
            metrics.connections.dec()
            await get_bus().leave(self.sheet_id, self)
            try:
                await self.guard.leave()
            except Exception:
                log.warning("could not announce the departure of %s", self.connection_id)

    # outgoing (realtime.transport: push, push_many and send_frame are the outbox's) -------------

    def resync(self) -> None:
        """The bus lost messages (Redis restarted): send what this client may have missed."""
        asyncio.ensure_future(self._replay(self.outbox.sent_version))

    # incoming --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        op_id = None
        try:
            kind, frame = protocol.parse(text_data)
            op_id = frame.get("op_id") if isinstance(frame.get("op_id"), str) else None
            if not self.frame_limits.allow(kind):
                return await self._rate_limited(kind)
            if kind == "edit":
                self._edit(frame)
            elif kind in protocol.WRITES:
                await self._edits_applied()
                await self._write(kind, frame)
            elif kind == "hello":
                await self._replay(protocol.since(frame))
            elif kind == "presence":
                self.presence.update(protocol.presence(frame))
            elif kind == "ping":
                version = await database_sync_to_async(self._current_version)()
                self.send_frame({"type": "pong", "t": frame.get("t"), "version": version})
        except AccessRevoked:
            await self._revoked(op_id)
        except GridcastError as error:
            self.send_frame(error_frame(error, op_id=op_id))
        except Exception:  # a fault of ours: the client hears of it and the connection stays
            log.exception("frame on sheet %s failed", self.sheet_id)
            self.send_frame(error_frame("server_error", SERVER_FAILED, op_id=op_id))

    async def _rate_limited(self, kind):
        """A `kind` frame over its limit (realtime.limits): refused with an error frame naming the
        type; a client that keeps on is closed with 4429."""
        if self.outbox.shut:  # closed already for flooding
            return
        if self.frame_limits.flooding:
            self.outbox.stop()  # nothing more is sent
            await self.outbox.send_now(error_frame("rate_limited", "too many frames: closing", frame=kind))
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        self.send_frame(self.frame_limits.refusal(kind))

    def _may_write(self):
        if self.access < Access.EDIT:
            raise PermissionDenied("you may view this sheet but not edit it")
        if not self.bucket.take():
            raise RateLimited("too many edits: slow down", retry_after=round(1 / self.bucket.rate, 3))

    def _edit(self, frame):
        """Queue a cell edit without waiting for it: the connection reads its next frame at once,
        so the edits a client sends in a row go into the same transaction (the sheet's edit queue
        applies them in order). The ack, or the error, is sent when its batch has committed."""
        self._may_write()
        _, kwargs = protocol.write_call("edit", frame)
        edit = Edit(self.user, kwargs.get("cells"), kwargs["op_id"], self.connection_id)
        future = queue_for(self.sheet).enqueue(edit, self.guard)
        future.add_done_callback(functools.partial(self._edit_done, kwargs["op_id"], time.perf_counter()))
        self.last_edit = future

    def _edit_done(self, op_id, started, future):
        if self.last_edit is future:
            self.last_edit = None
        result = future.exception() or future.result() if not future.cancelled() else None
        if isinstance(result, AccessRevoked):
            asyncio.ensure_future(self._revoked(op_id))
        elif isinstance(result, GridcastError):
            self.send_frame(error_frame(result, op_id=op_id))
        elif result is None or isinstance(result, BaseException):
            log.error(
                "edit on sheet %s failed", self.sheet_id, exc_info=result if isinstance(result, BaseException) else None
            )
            self.send_frame(error_frame("server_error", SERVER_FAILED, op_id=op_id))
        else:
            self._acknowledge(op_id, result, started)

    async def _edits_applied(self):
        """Other writes of this connection wait for its queued edits: a client's writes are
        applied in the order it sent them."""
        if self.last_edit is not None and not self.last_edit.done():
            await asyncio.wait([self.last_edit])

    async def _write(self, kind, frame):
        self._may_write()
        service, kwargs = protocol.write_call(kind, frame)
        started = time.perf_counter()
        result = await database_sync_to_async(self._call)(service, kwargs)
        if result is None:
            raise NothingToDo(f"nothing to {kind}", code=f"nothing_to_{kind}")
        if isinstance(result, services.Pasted):  # the cells that did not convert go with the ack
            self._acknowledge(kwargs["op_id"], result.operation, started, result.report())
        else:
            self._acknowledge(kwargs["op_id"], result, started)

    def _acknowledge(self, op_id, operation, started, extra=None):
        elapsed = time.perf_counter() - started
        metrics.edits.inc()
        metrics.edit_latency.observe(elapsed)
        log.debug(
            "sheet %s %s v%s op_id %s in %.1f ms",
            self.sheet_id,
            operation.kind,
            operation.version,
            op_id,
            elapsed * 1000,
        )
        self.send_frame(
            {
                "type": "ack",
                "op_id": op_id,
                "version": operation.version,
                "kind": operation.kind,
                "changes": operation.payload,
                **(extra or {}),
            }
        )

    def _call(self, service, kwargs):
        stale_guards_checked([self.guard])  # a revocation this connection has not heard of yet
        refusal = write_refusal(self.guard)
        if refusal is not None:
            raise refusal
        return _service(service)(sheet=self.sheet, actor=self.user, origin=self.connection_id, **kwargs)

    async def _replay(self, since):
        """Bring the client from `since` to now (realtime.replay: the log for editors, the current
        values only for viewers: history is for editors)."""
        self.send_frame(await database_sync_to_async(replay_frame)(self.sheet, since, self.access >= Access.EDIT))

    # presence (realtime.presence) --------------------------------------------------------------

    def who(self) -> dict:
        return self.presence.who

    @property
    def presence_state(self) -> dict:
        return self.presence.state

    # control messages through the channel layer ----------------------------------------------

    async def access_changed(self, message: dict) -> None:
        """The user's access changed (realtime.revocation): look again; close if this connection
        may no longer view the sheet or its credential is gone, else tell the new access."""
        access = await self.guard.acheck()
        if access < Access.VIEW:
            await self._revoked()
        elif access != self.access:
            self.access = access
            self.send_frame({"type": "access", "access": access.name.lower()})

    async def _revoked(self, op_id=None):
        """Access is gone: nothing more is sent (frames waiting are dropped), the client gets
        `access_revoked` (for the write that found out, if one did) and the connection closes
        with 4403 and leaves its room and groups at once."""
        if self.revoked or not self.joined:  # told already, or the client is gone
            return
        self.revoked = True
        self.outbox.stop()
        await self.outbox.send_now(error_frame("access_revoked", self.revoked_message, op_id=op_id))
        await self.close(code=CLOSE_NO_ACCESS)
        await self.disconnect(CLOSE_NO_ACCESS)


class RateLimited(GridcastError):
    code = "rate_limited"
    status = 429


class NothingToDo(GridcastError):
    """Undo or redo with an empty stack."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code

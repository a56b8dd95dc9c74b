"""ws/public/<key>/: a public read-only link's live view of its sheet (sheets.public_links). What a
viewer of the sheet gets, less everything personal: the snapshot and live edits (actors blanked),
catch-up without history, no presence either way (its viewers are listed to nobody and hear of no
one), and every write refused. No account: the link's key is the credential, and each client IP
is held to the "public" rate of connects (core.throttling).

Revocation is realtime.revocation's mechanism with the link in place of the user: the connection's
LinkGuard looks at the link (still there, not revoked, its publisher still managing the workspace),
and it sits in the link's group, which gets `access.changed` after a commit revokes or deletes the
link (deleting the sheet deletes its links; a publisher who stops managing the workspace has their
links revoked: sheets.public_links), so every open connection of the link closes at once (4403)."""

import re
import uuid

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.permissions import Access
from core import metrics
from core.errors import GridcastError, PermissionDenied
from core.frames import error_frame
from core.requests import bind_scope
from core.throttling import request_hit_wait
from sheets.models import PublicLink
from sheets.public_links import public_link_for_key, public_link_still_active

from .bus import get_bus
from .consumers import CLOSE_NO_ACCESS, SheetConsumer
from .layers import group_send
from .limits import CLOSE_RATE_LIMITED, FrameLimits
from .revocation import Credential, Groups, Guard
from .transport import Outbox

READ_ONLY = "this is a public read-only link: it cannot change the sheet"
# The actor of an `ops` frame is a member's id: a public viewer is not told who edited.
_ACTOR = re.compile(r'^(\{"type":"ops",.*?)"actor":\d+')
# Not for a public link: who is here, and the comments (personal words of members, and names).
_PERSONAL = ('{"type":"presence"', '{"type":"comment"')


def link_group(link_id: int) -> str:
    """The channel-layer group of every live connection opened with one public link."""
    return f"public.{link_id}"


def _announce(link_id: int) -> None:
    transaction.on_commit(lambda: group_send(link_group(link_id), {"type": "access.changed"}))


@receiver(post_save, sender=PublicLink)
def _link_saved(sender, instance, created, **kwargs):
    if not created and instance.revoked_at is not None:
        _announce(instance.pk)


@receiver(post_delete, sender=PublicLink)
def _link_deleted(sender, instance, **kwargs):
    _announce(instance.pk)


class LinkGuard(Guard):
    """A Guard held by a link, not a user: it may view while the link is active."""

    def __init__(self, link_id: int) -> None:
        super().__init__(None, Credential(), lambda _: None, denied=Access.NONE)
        self.link_id = link_id

    def check(self) -> Access:
        """(Database thread.) VIEW while the link exists unrevoked; once denied, always denied."""
        if not self.revoked and public_link_still_active(self.link_id):
            self.value = Access.VIEW
        else:
            self.revoked, self.value = True, Access.NONE
        return self.value

    async def join(self, layer, channel: str, *groups: str) -> None:
        self.groups = Groups(layer, channel)
        await self.groups.join(link_group(self.link_id), *groups)


def _as_request(scope: dict) -> HttpRequest:
    """The socket's handshake as a request, for the client IP as the page and REST throttles see it
    (X-Forwarded-For believed only behind TRUSTED_PROXY_COUNT proxies of ours)."""
    request = HttpRequest()
    client = scope.get("client") or ("",)
    request.META["REMOTE_ADDR"] = str(client[0] or "")
    for name, value in scope.get("headers", []):
        request.META["HTTP_" + name.decode("latin-1").upper().replace("-", "_")] = value.decode("latin-1")
    return request


async def over_public_rate(scope: dict) -> bool:
    """Count one connect of the socket's client IP against the "public" rate: True when over it."""
    return await sync_to_async(request_hit_wait, thread_sensitive=False)(_as_request(scope), "public") is not None


class PublicSheetConsumer(SheetConsumer):
    revoked_message = "This link was revoked"

    async def connect(self) -> None:
        self.request_id = bind_scope(self.scope)
        self.key = self.scope["url_route"]["kwargs"]["key"]
        self.user = None
        self.connection_id = uuid.uuid4().hex[:16]
        self.outbox = Outbox(self.base_send, self.close)
        self.send_frame = self.outbox.send_frame
        self.presence = _NoPresence()
        self.joined = False
        self.last_edit = None
        self.revoked = False
        self.slot = None
        self.frame_limits = FrameLimits(("hello", "ping", "presence"))
        if await over_public_rate(self.scope):
            await self.accept()
            await self.outbox.send_now(error_frame("rate_limited", "too many connections from here: try again later"))
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        try:
            link = await database_sync_to_async(public_link_for_key)(self.key)
        except GridcastError as error:  # unknown (handshake refused) or revoked (told, then closed)
            if error.status == 404:
                await self.close(code=CLOSE_NO_ACCESS)
                return
            await self.accept()
            await self.outbox.send_now(error_frame("access_revoked", error.message))
            await self.close(code=CLOSE_NO_ACCESS)
            return
        self.sheet, self.sheet_id, self.access = link.sheet, link.sheet_id, Access.VIEW
        self.guard = LinkGuard(link.pk)
        await self.accept()
        await self.guard.join(self.channel_layer, self.channel_name)
        if await self.guard.acheck() < Access.VIEW:  # revoked between the look and the join
            await self.guard.leave()
            await self.outbox.send_now(error_frame("access_revoked", self.revoked_message))
            await self.close(code=CLOSE_NO_ACCESS)
            return
        await get_bus().join(self.sheet_id, self)
        self.joined = True
        metrics.connections.inc()
        version = await database_sync_to_async(self._current_version)()
        await self.outbox.send_now(
            {"type": "welcome", "version": version, "access": "view", "you": self.who(), "presence": []}
        )
        self.outbox.open(version)

    # Frames of the room: presence and comments are dropped, actors blanked.

    def push(self, text: str, version: int = 0) -> None:
        if not text.startswith(_PERSONAL):
            self.outbox.push(_ACTOR.sub(r'\1"actor":null', text, count=1), version)

    def push_many(self, items: list[tuple[str, int]]) -> None:
        self.outbox.push_many(
            [(_ACTOR.sub(r'\1"actor":null', text, count=1), v) for text, v in items if not text.startswith(_PERSONAL)]
        )

    def who(self) -> dict | None:
        """Listed to nobody (realtime.bus.Rooms.presence skips it)."""
        return None

    async def disconnect(self, code: int | None) -> None:
        if hasattr(self, "outbox"):
            self.outbox.end()
        if self.joined:
            self.joined = False
            metrics.connections.dec()
            await get_bus().leave(self.sheet_id, self)
            await self.guard.leave()

    def _may_write(self) -> None:
        raise ReadOnly(READ_ONLY)


class ReadOnly(PermissionDenied):
    """A write frame on a public link's socket."""

    code = "read_only"


class _NoPresence:
    """A public viewer's presence: nothing is announced, its selection is kept to itself."""

    state = {"selection": None, "editing": False}

    def update(self, state: dict) -> None:
        pass

    def stop(self) -> None:
        pass

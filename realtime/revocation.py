"""Revocation reaches every open connection: sheet and dashboard sockets and Server-Sent Events
streams end within a second once their access or their credential is gone, however old they are.

One mechanism for every kind of connection:

- A connection holds a Guard: who it is for, the credential it was opened with (an API token, or
  a session) and a `look` that says what it may still see (its access to the sheet, to the
  workspace...). Guard.check() looks again, in a database thread: the user still exists and is
  active, the password is the one the connection was opened under, the token still exists (it is
  deleted when revoked), the session is still logged in with that password (logout deletes it) —
  then `look`.
- The guard keeps the connection in its user's group on the channel layer (user_group), with the
  connection's other groups, and joins them again every rejoin_interval(): channels-redis drops
  a channel from a group `group_expiry` after it joined (a day by default), so a connection that
  joined once would silently stop hearing anything after a day.
- Whatever changes a user's access announces it (the receivers below, whichever code path made
  the change: API, admin, shell, allauth): in the change's transaction the user's AccessStamp is
  changed, and after the commit {"type": "access.changed"} goes to the user's group. Every
  connection of the user checks again; those no longer allowed end (sockets close with 4403,
  streams end). A logout ends only the connections of that session, because only that session is
  gone; a password change or deactivation ends all of the user's connections.
- Writes do not depend on the announcement arriving first: before a batch of a connection's writes
  is applied, stale_guards_checked() reads the stamps of their users in one query and checks again
  only the guards whose stamp moved; a revoked connection's write is refused (AccessRevoked).
"""

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import (
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    user_logged_out,
)
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from guardian.models import UserObjectPermission

from accounts.models import ApiToken, Membership, User, Workspace
from core.errors import GridcastError

from .layers import group_send
from .models import AccessStamp

log = logging.getLogger(__name__)

# Groups are joined again every group_expiry / REJOIN_FRACTION seconds, at most every REJOIN_MAX.
REJOIN_FRACTION = 4
REJOIN_MAX = 3600.0


class AccessRevoked(GridcastError):
    """The connection's access or credential is gone: its write is refused and it closes (4403)."""

    code = "access_revoked"
    status = 403


def user_group(user_id: int) -> str:
    """The channel-layer group of every live connection of one user."""
    return f"user.{user_id}"


# --- telling connections -----------------------------------------------------------------------


def announce(user_id: int) -> None:
    """Something that decides the user's access changed. The stamp changes in the caller's
    transaction (a write checked after the commit sees it); the user's connections are told after
    the commit (they must not look before the change is visible)."""
    AccessStamp.objects.bulk_create(
        [AccessStamp(user_id=user_id, stamp=secrets.randbits(62))],
        update_conflicts=True,
        unique_fields=["user_id"],
        update_fields=["stamp"],
    )
    transaction.on_commit(lambda: group_send(user_group(user_id), {"type": "access.changed"}))


@receiver([post_save, post_delete], sender=Membership)
def _membership_changed(sender, instance, **kwargs):
    announce(instance.user_id)


@receiver([post_save, post_delete], sender=UserObjectPermission)
def _share_changed(sender, instance, **kwargs):
    announce(instance.user_id)


@receiver(post_delete, sender=ApiToken)
def _token_revoked(sender, instance, **kwargs):
    announce(instance.user_id)


@receiver(post_save, sender=Workspace)
def _two_factor_required(sender, instance, created, update_fields=None, **kwargs):
    """A workspace that requires two-factor authentication (now) ends the connections of its
    members who have none (accounts.permissions gives them nothing)."""
    if created or not instance.require_two_factor:
        return
    if update_fields is not None and "require_two_factor" not in update_fields:
        return
    for user_id in Membership.objects.filter(workspace=instance).values_list("user_id", flat=True):
        announce(user_id)


def _authenticator_removed(sender, instance, **kwargs):
    """The last second factor gone: workspaces that require one refuse the user's connections."""
    announce(instance.user_id)


def connect_mfa_signals() -> None:
    """allauth.mfa is not installed with GRIDCAST_SSO_ONLY (accounts.two_factor.mfa_installed)."""
    from accounts.two_factor import mfa_installed

    if mfa_installed():
        from allauth.mfa.models import Authenticator

        post_delete.connect(_authenticator_removed, sender=Authenticator, dispatch_uid="realtime.authenticator")


@receiver(pre_save, sender=User)
def _user_saving(sender, instance, update_fields=None, raw=False, **kwargs):
    """Remember the password and active flag before a save that may change them (any path: the
    password form, a reset, the admin, set_password in a shell)."""
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    instance._access_before = User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()


@receiver(post_save, sender=User)
def _user_saved(sender, instance, created, **kwargs):
    before = instance.__dict__.pop("_access_before", None)
    if not created and before is not None and before != (instance.password, instance.is_active):
        announce(instance.pk)


@receiver(post_delete, sender=User)
def _user_deleted(sender, instance, **kwargs):
    announce(instance.pk)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    """logout() sends this signal before it flushes the session: the session is deleted from the
    store here first, so that a connection of this session that checks at once finds it gone
    (logout's flush then has nothing left to delete). Other sessions of the user stay."""
    if user is None or getattr(user, "pk", None) is None:
        return
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        _session_store(key).delete()
    announce(user.pk)


# --- what a connection holds -------------------------------------------------------------------


def _session_store(key: str):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)


@dataclass
class Credential:
    """What a connection was opened with: an API token (its id) or a session (its key); and the
    password hash of the user when the connection first checked (a password change ends every
    connection opened before it, token ones too)."""

    token_id: int | None = None
    session_key: str | None = None
    password: str | None = None

    @classmethod
    def of_scope(cls, scope: dict) -> "Credential":
        """Of a WebSocket: realtime.auth puts the token's id in the scope; a session-authenticated
        connection has Channels' session."""
        if scope.get("token_id") is not None:
            return cls(token_id=scope["token_id"])
        session = scope.get("session")
        return cls(session_key=getattr(session, "session_key", None) if session is not None else None)

    @classmethod
    def of_request(cls, request: HttpRequest) -> "Credential":
        """Of a plain Django request (the Server-Sent Events views): the session."""
        session = getattr(request, "session", None)
        return cls(session_key=getattr(session, "session_key", None))

    def valid(self, user: Any) -> bool:
        """(Database thread.) Whether the connection may go on as `user`: updates user.is_active."""
        fresh = get_user_model().objects.filter(pk=user.pk).values_list("is_active", "password").first()
        if fresh is None:
            return False
        user.is_active, password = fresh
        if not user.is_active:
            return False
        if self.password is None:
            self.password = password
        elif not constant_time_compare(self.password, password):
            return False
        if self.token_id is not None:
            return ApiToken.objects.filter(pk=self.token_id, user_id=user.pk).exists()
        if self.session_key is not None:
            return _session_valid(self.session_key, user.pk, password)
        return True


def _session_valid(key: str, user_id: int, password: str) -> bool:
    """The session still exists, is logged in as this user, under this password (as Django's
    get_user() accepts it)."""
    data = _session_store(key).load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    session_hash = data.get(HASH_SESSION_KEY) or ""
    probe = get_user_model()(pk=user_id, password=password)
    return constant_time_compare(session_hash, probe.get_session_auth_hash()) or any(
        constant_time_compare(session_hash, fallback) for fallback in probe.get_session_auth_fallback_hash()
    )


def _stamp_of(user_id: int) -> int:
    return AccessStamp.objects.filter(user_id=user_id).values_list("stamp", flat=True).first() or 0


def stamps_of(user_ids: Iterable[int]) -> dict[int, int]:
    """(Database thread.) The access stamps of these users, in one query (0: never changed). Plain
    SQL: it runs before every batch of writes, and building the ORM's query cost more CPU than the
    database took to answer it (a lone edit's budget is 0.5 ms)."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return {}
    found = {}
    with connection.cursor() as cursor:
        for start in range(0, len(user_ids), 5000):  # within every database's limit of parameters
            chunk = user_ids[start : start + 5000]
            cursor.execute(_STAMPS_SQL % ", ".join(["%s"] * len(chunk)), chunk)
            found.update(cursor.fetchall())
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


_STAMPS_SQL = f"SELECT user_id, stamp FROM {AccessStamp._meta.db_table} WHERE user_id IN (%s)"


class Guard:
    """One live connection's hold on its access: checked when it opens, again whenever its user's
    access changes, and before its writes are applied.

    `look(user)` says what the connection may still see (any value; falsy: nothing, the connection
    ends); `denied` is what check() answers when the credential is gone (Access.NONE for sockets).
    Once denied, always denied: a connection is never revived."""

    def __init__(self, user, credential: Credential, look: Callable[[Any], Any], denied: Any = None):
        self.user = user
        self.credential = credential
        self.look = look
        self.denied = denied
        self.value: Any = denied
        self.stamp: int | None = None
        self.revoked = False
        self.groups: Groups | None = None

    def check(self, stamp: int | None = None) -> Any:
        """(Database thread.) Look again; the stamp is read first (or was, by the caller: `stamp`),
        so that a change made while this looks is seen at the next write."""
        if self.revoked:
            return self.denied
        if self.user is None or not getattr(self.user, "is_authenticated", False):
            self.revoked, self.value = True, self.denied
            return self.denied
        if stamp is None:
            stamp = _stamp_of(self.user.pk)
        value = self.look(self.user) if self.credential.valid(self.user) else self.denied
        self.stamp, self.value = stamp, value
        if not value:
            self.revoked, self.value = True, self.denied
        return self.value

    def adopt(self, stamp: int, password: str | None, value: Any) -> None:
        """Take the answer of a check of the same user, credential and look made under this same
        `stamp` (realtime.admission: a burst of joins), as if this guard had made it."""
        if self.credential.password is None:
            self.credential.password = password
        self.stamp, self.value = stamp, value

    async def acheck(self) -> Any:
        """check() from the event loop, in the database thread."""
        return await database_sync_to_async(self.check)()

    async def join(self, layer: Any, channel: str, *groups: str) -> None:
        """Put the connection's channel in its user's group and in `groups`, kept joined."""
        self.groups = Groups(layer, channel)
        await self.groups.join(user_group(self.user.pk), *groups)

    async def rejoin(self) -> None:
        """Join every group again now (the channel layer came back after losing them)."""
        if self.groups is not None:
            await self.groups.rejoin()

    async def leave(self) -> None:
        """Leave every group (idempotent): nothing more reaches the connection's channel."""
        if self.groups is not None:
            groups, self.groups = self.groups, None
            await groups.leave()


def stale_guards_checked(guards: Iterable[Guard]) -> None:
    """(Database thread.) Before writes are applied: one query for the stamps of the guards' users,
    and check() again for every guard whose user's stamp moved since it last looked."""
    guards = [guard for guard in set(guards) if not guard.revoked]
    if not guards:
        return
    stamps = stamps_of({g.user.pk for g in guards})
    for guard in guards:
        if stamps.get(guard.user.pk, 0) != guard.stamp:
            guard.check()


# --- staying in the groups ------------------------------------------------------------------------


def rejoin_interval(layer: Any) -> float:
    """Seconds between two joins of a connection's groups: well within the layer's group expiry."""
    expiry = float(getattr(layer, "group_expiry", 86400))
    return max(0.1, min(REJOIN_MAX, expiry / REJOIN_FRACTION))


class Groups:
    """The channel-layer groups of one connection, joined again every rejoin_interval() until
    leave(), by one task for every connection of the process (Rejoiner). (The first rejoin comes
    at a random point of the first interval, so connections opened together do not rejoin
    together.)"""

    def __init__(self, layer, channel: str):
        self.layer, self.channel = layer, channel
        self.names: list[str] = []
        self.interval = rejoin_interval(layer)

    async def join(self, *names: str) -> None:
        for name in names:
            await self.layer.group_add(name, self.channel)
            self.names.append(name)
        _rejoiner.add(self)

    async def rejoin(self) -> None:
        for name in list(self.names):
            await self.layer.group_add(name, self.channel)

    async def leave(self) -> None:
        _rejoiner.remove(self)
        names, self.names = self.names, []
        for name in names:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(name, self.channel)


class Rejoiner:
    """Joins the groups of every connection of the process again when they are due: one task (per
    event loop) instead of one sleeping task per connection."""

    def __init__(self):
        self.due: dict[Groups, float] = {}
        self.task: asyncio.Future | None = None

    def add(self, groups: Groups) -> None:
        loop = asyncio.get_running_loop()
        if groups not in self.due:
            self.due[groups] = loop.time() + groups.interval * random.uniform(0.5, 1.0)
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run())

    def remove(self, groups: Groups) -> None:
        self.due.pop(groups, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.due:
            tick = min(1.0, min(g.interval for g in self.due) / 4)
            await asyncio.sleep(tick)
            now = loop.time()
            for groups in [g for g, at in self.due.items() if at <= now]:
                if groups not in self.due:  # left meanwhile
                    continue
                self.due[groups] = now + groups.interval
                try:
                    await groups.rejoin()
                except Exception:  # the channel layer is away: the next round tries again
                    log.warning("could not join the groups of %s again", groups.channel)


_rejoiner = Rejoiner()

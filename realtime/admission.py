"""Who is let into a sheet's room, checked for a burst of joins at once (issue 18: 10,000 viewers
joining one sheet). Every connection that arrives while the previous check of its sheet runs waits
for the next one: one database call for them all instead of one each, reading the sheet and the
access stamps of their users once. And the welcome's version is read the same way.

A connection whose user, credential and access stamp match a check made in the last
ANSWER_SECONDS for the same sheet takes that check's answer. The stamp is always read fresh, after
the connection arrived, and every change of access changes it (realtime.revocation.announce), so a
revoked user is never let in from the cache; the short lifetime bounds what no stamp announces (a
session that expires by itself).
"""

import asyncio
import copy
import time
from collections.abc import Callable, Hashable
from typing import Any

from channels.db import database_sync_to_async

from accounts.permissions import Access
from sheets.models import Sheet

from .revocation import Guard, stamps_of

ANSWER_SECONDS = 2.0
MAX_ANSWERS = 50_000


class Coalesced:
    """`await call(key, item)`: run(key, items) in the database thread for every item of the same
    key that arrived while the previous run of that key was going on (or in the same turn of the
    event loop); run returns one result per item, or raises for them all. One task per running
    key, none per item."""

    def __init__(self, run: Callable[[Hashable, list], list]) -> None:
        self.run = run
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: dict[Hashable, list] = {}
        self.running: set[Hashable] = set()

    async def __call__(self, key: Hashable, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # a new event loop (tests): nothing of the old one carries over
            self.loop, self.waiting, self.running = loop, {}, set()
        future = loop.create_future()
        self.waiting.setdefault(key, []).append((item, future))
        if key not in self.running:
            self.running.add(key)
            loop.create_task(self._drain(key))
        return await future

    async def _drain(self, key: Hashable) -> None:
        try:
            await asyncio.sleep(0)  # those arriving in this turn of the loop come along
            while batch := self.waiting.pop(key, None):
                try:
                    results = await database_sync_to_async(self.run)(key, [item for item, _ in batch])
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.running.discard(key)


# --- access -------------------------------------------------------------------------------------

# (user id, token scope, token id, session key, sheet id) -> (until, stamp, password hash, access)
_answers: dict[tuple, tuple[float, int, str | None, Access]] = {}


def _answer_key(guard: Guard, sheet_id: int) -> tuple:
    credential = guard.credential
    user = guard.user
    return (user.pk, getattr(user, "token_workspace_id", None), credential.token_id, credential.session_key, sheet_id)


def forget_answers() -> None:
    """Drop every remembered check (tests; a process that wants to look afresh)."""
    _answers.clear()


def _admit_all(sheet_id: int, connections: list) -> list:
    """(Database thread.) For each connection (a SheetConsumer: user, guard, sheet_id), (sheet,
    access) when it may view the sheet, else None."""
    sheet = Sheet.objects.filter(pk=sheet_id).first()
    if sheet is None:
        return [None] * len(connections)
    known = {id(c): c for c in connections if c.user is not None and getattr(c.user, "is_authenticated", False)}
    stamps = stamps_of({c.user.pk for c in known.values()})
    now = time.monotonic()
    if len(_answers) > MAX_ANSWERS:
        for key in [k for k, answer in _answers.items() if answer[0] < now]:
            del _answers[key]
    results = []
    for connection in connections:
        if connection.user is None:
            results.append(None)
            continue
        connection.sheet = copy.copy(sheet)  # the guard's look reads it
        guard = connection.guard
        access = Access.NONE
        if id(connection) in known:
            key = _answer_key(guard, sheet_id)
            stamp = stamps.get(connection.user.pk, 0)
            answer = _answers.get(key)
            if answer is not None and answer[0] > now and answer[1] == stamp and not guard.revoked:
                guard.adopt(stamp, answer[2], answer[3])
                access = answer[3]
            else:
                access = guard.check(stamp=stamp)
                if access >= Access.VIEW:
                    _answers[key] = (now + ANSWER_SECONDS, stamp, guard.credential.password, access)
                else:
                    _answers.pop(key, None)
        else:
            access = guard.check()
        results.append((connection.sheet, access) if access >= Access.VIEW else None)
    return results


_admit = Coalesced(_admit_all)


async def admit(connection: Any) -> tuple[Sheet, Access] | None:
    """(sheet, access) when the connection may view its sheet (connection.sheet_id), else None;
    checked with the other connections to that sheet arriving meanwhile."""
    return await _admit(connection.sheet_id, connection)


# --- the welcome's version ----------------------------------------------------------------------


def _versions(sheet_id: int, items: list) -> list:
    version = Sheet.objects.filter(pk=sheet_id).values_list("version", flat=True).first() or 0
    return [version] * len(items)


_version = Coalesced(_versions)


async def current_version(sheet_id: int) -> int:
    """The sheet's version, read after this call was made (with the calls for the same sheet
    made meanwhile): a connection that joined the room before calling misses no operation."""
    return await _version(sheet_id, None)

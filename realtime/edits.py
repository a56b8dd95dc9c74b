"""Cell edits of one sheet, from every connection of this process, written in batches.

Database work runs in one thread per process (database_sync_to_async), so writing each edit
in its own transaction caps a sheet at a few hundred edits a second. Here the edits that
arrive while a batch is being written wait for the next one: a lone edit goes at once, and
under load each transaction carries many edits, each still its own operation and version.

An edit queued by a connection carries the connection's revocation Guard: before a batch is
applied, the guards whose user's access changed are checked again (one query for the batch), and
an edit whose connection may no longer write is refused instead of applied.
"""

import asyncio

from channels.db import database_sync_to_async

from accounts.permissions import Access
from core.errors import GridcastError, PermissionDenied
from sheets.models import Operation, Sheet
from sheets.services import Edit, cells_update_many

from .revocation import AccessRevoked, Guard, stale_guards_checked

MAX_BATCH = 500


class EditQueue:
    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.pending = []
        self.flushing = False

    async def submit(self, edit: Edit) -> Operation:
        """The edit's Operation, or the GridcastError that rejected it, raised."""
        result = await self.enqueue(edit)
        if isinstance(result, BaseException):
            raise result
        return result

    def enqueue(self, edit: Edit, guard: Guard | None = None) -> asyncio.Future:
        """A future of the edit's Operation or of the exception that rejected it (as its result,
        not raised). Edits are applied in the order they are enqueued. With the `guard` of the
        connection that sent it, the edit is applied only if that connection may still write."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((edit, future, guard))
        if not self.flushing:
            self.flushing = True
            asyncio.ensure_future(self._flush())
        return future

    async def _flush(self):
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    results = await database_sync_to_async(self._apply)(batch)
                except Exception as error:  # the database failed the whole batch: each edit hears it
                    results = [error] * len(batch)
                for (_, future, _), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.flushing = False
            if queues.get(self.sheet.pk) is self:
                del queues[self.sheet.pk]

    def _apply(self, batch):
        """(Database thread.) The batch's results, in order: edits of connections that may no
        longer write are refused, the others applied together."""
        stale_guards_checked(guard for _, _, guard in batch if guard is not None)
        results = [write_refusal(guard) if guard is not None else None for _, _, guard in batch]
        allowed = [index for index, refusal in enumerate(results) if refusal is None]
        if allowed:
            applied = cells_update_many(sheet=self.sheet, edits=[batch[index][0] for index in allowed])
            for index, result in zip(allowed, applied):
                results[index] = result
        return results


def write_refusal(guard: Guard) -> GridcastError | None:
    """Why the connection of `guard` may not write to its sheet now (as it last looked), or None."""
    if guard.revoked or guard.value < Access.VIEW:
        return AccessRevoked("you no longer have access to this sheet")
    if guard.value < Access.EDIT:
        return PermissionDenied("you may view this sheet but not edit it")
    return None


queues = {}


def queue_for(sheet: Sheet) -> EditQueue:
    queue = queues.get(sheet.pk)
    if queue is None:
        queue = queues[sheet.pk] = EditQueue(sheet)
    return queue

"""Cell edits of one sheet, from every connection of this process, written in batches.

Database work runs in one thread per process (database_sync_to_async), so writing each edit
in its own transaction caps a sheet at a few hundred edits a second. Here the edits that
arrive while a batch is being written wait for the next one: a lone edit goes at once, and
under load each transaction carries many edits, each still its own operation and version.
"""
import asyncio

from channels.db import database_sync_to_async

from sheets.services import Edit, cells_update_many

MAX_BATCH = 500


class EditQueue:
    def __init__(self, sheet):
        self.sheet = sheet
        self.pending = []
        self.flushing = False

    async def submit(self, edit):
        """The edit's Operation, or the GridcastError that rejected it, raised."""
        result = await self.enqueue(edit)
        if isinstance(result, BaseException):
            raise result
        return result

    def enqueue(self, edit):
        """A future of the edit's Operation or of the exception that rejected it (as its result,
        not raised). Edits are applied in the order they are enqueued."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((edit, future))
        if not self.flushing:
            self.flushing = True
            asyncio.ensure_future(self._flush())
        return future

    async def _flush(self):
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    results = await database_sync_to_async(cells_update_many)(
                        sheet=self.sheet, edits=[edit for edit, _ in batch]
                    )
                except Exception as error:  # the database failed the whole batch: each edit hears it
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.flushing = False
            if queues.get(self.sheet.pk) is self:
                del queues[self.sheet.pk]


queues = {}


def queue_for(sheet):
    queue = queues.get(sheet.pk)
    if queue is None:
        queue = queues[sheet.pk] = EditQueue(sheet)
    return queue


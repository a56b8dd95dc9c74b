import asyncio

import pytest
from channels.db import database_sync_to_async

from core.errors import CellValueInvalid
from realtime import edits
from sheets import services
from sheets.models import Operation, Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_edits_share_transactions_but_keep_their_own_versions(workspace, owner, editor, monkeypatch):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=50)
    rows = await database_sync_to_async(
        lambda: list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    )()
    batches = []
    real = services.cells_update_many

    def counted(**kwargs):
        batches.append(len(kwargs["edits"]))
        return real(**kwargs)

    monkeypatch.setattr(edits, "cells_update_many", counted)
    start = sheet.version
    queue = edits.queue_for(sheet)
    submitted = [
        services.Edit(owner if i % 2 else editor, [{"row": rows[i], "col": "c3", "value": i}]) for i in range(50)
    ]
    submitted[7] = services.Edit(owner, [{"row": rows[7], "col": "c3", "value": "seven"}])
    results = await asyncio.gather(*(queue.submit(e) for e in submitted), return_exceptions=True)
    assert isinstance(results[7], CellValueInvalid)
    versions = [r.version for i, r in enumerate(results) if i != 7]
    assert versions == list(range(start + 1, start + 50))
    assert sum(batches) == 50 and len(batches) < 50  # batched, not one transaction per edit
    data = await database_sync_to_async(lambda: {r.pk: r.data.get("c3") for r in Row.objects.filter(sheet=sheet)})()
    assert data == {rows[i]: (None if i == 7 else i) for i in range(50)}
    assert await database_sync_to_async(Operation.objects.filter(sheet=sheet, kind="cells.update").count)() == 49
    assert edits.queues == {}

"""A sheet's webhooks follow its rows: a real HTTP receiver on loopback gets signed JSON of the rows
inserted, updated (each cell before and after) and deleted by edits, pastes, imports, undo and redo,
filtered by event and column; a failing receiver is retried with backoff and logged; a receiver that
is down or slow never holds up nor fails an edit (deliveries are queued after the commit and sent by
the worker)."""

import hashlib
import hmac
import json
import threading
import time

import pytest

from analytics.deliveries import sender
from analytics.models import Delivery
from analytics.webhooks import events
from analytics.writethrough import worker as wt_worker
from sheets import services, undo
from sheets.models import Operation, Row

from .conftest import hooks_url

pytestmark = pytest.mark.django_db


def signed(request, secret):
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Gridcast-Signature"], expected)


def bodies(receiver):
    """The bodies received, in the order of the sheet's versions (the sender sends a few at once)."""
    return sorted((json.loads(r["body"]) for r in receiver.requests), key=lambda b: (b["version"], b["event"]))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service as a request does: its on-commit callbacks (the announcement) run."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def test_inserts_updates_and_deletes_reach_the_receiver_signed(owner, sheet, receiver, add_webhook, committed):
    hook = receiver()
    webhook = add_webhook(sheet, url=hook.url)
    inserted = committed(services.rows_insert, sheet=sheet, actor=owner, rows=[{"c1": "Ada", "c2": 3}, {"c1": "Bob"}])
    ada, bob = [r["id"] for r in inserted.payload["rows"]]
    committed(services.cells_update, sheet=sheet, actor=owner, cells=[{"row": ada, "col": "c2", "value": 5}])
    committed(services.rows_delete, sheet=sheet, actor=owner, row_ids=[bob])
    assert hook.requests == []  # queued, never sent inside the edit
    assert Delivery.objects.filter(webhook_id=webhook["id"], status="pending").count() == 3

    assert sender.send_due() == 3
    assert all(signed(r, webhook["secret"]) for r in hook.requests)
    assert sorted(r["headers"]["X-Gridcast-Event"] for r in hook.requests) == [
        "rows.deleted",
        "rows.inserted",
        "rows.updated",
    ]
    new, changed, gone = bodies(hook)
    assert new["event"] == "rows.inserted" and new["operation"] == "rows.insert"
    assert new["sheet"] == {"id": sheet.pk, "name": sheet.name} and new["workspace"] == {"id": sheet.workspace_id}
    assert new["version"] == inserted.version and new["at"].endswith("Z")
    assert new["actor"] == {"id": owner.pk, "name": owner.label, "email": owner.email}
    assert new["rows"][0]["id"] == ada and new["rows"][0]["values"]["c1"] == "Ada"
    assert new["rows"][0]["values"]["c2"] == 3
    assert new["columns"]["c1"] == "Name" and new["total"] == 2 and new["truncated"] is False
    assert changed["rows"] == [{"id": ada, "cells": {"c2": {"before": 3, "after": 5}}}]
    assert changed["columns"] == {"c2": "Amount"}
    assert gone["rows"] == [{"id": bob, "values": {"c1": "Bob"}}]
    log = Delivery.objects.filter(webhook_id=webhook["id"])
    assert {d.status for d in log} == {"delivered"} and {d.status_code for d in log} == {200}


def test_events_and_columns_filter_what_a_webhook_gets(owner, sheet, receiver, add_webhook, committed):
    updates_of_amount, deletes = receiver(), receiver()
    add_webhook(sheet, url=updates_of_amount.url, events=["rows.updated"], columns=["c2"])
    add_webhook(sheet, url=deletes.url, events=["rows.deleted"])
    row = committed(services.rows_insert, sheet=sheet, actor=owner, rows=[{"c1": "Ada"}]).payload["rows"][0]["id"]
    committed(services.cells_update, sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "Ann"}])
    both = [{"row": row, "col": "c1", "value": "Al"}, {"row": row, "col": "c2", "value": 7}]
    committed(services.cells_update, sheet=sheet, actor=owner, cells=both)
    committed(services.rows_delete, sheet=sheet, actor=owner, row_ids=[row])
    sender.send_due()
    amount = {"c2": {"before": None, "after": 7}}
    assert [b["rows"] for b in bodies(updates_of_amount)] == [[{"id": row, "cells": amount}]]
    assert [b["event"] for b in bodies(deletes)] == ["rows.deleted"]


def test_paste_import_undo_and_redo_are_delivered(owner, sheet, receiver, add_webhook, committed):
    hook = receiver()
    add_webhook(sheet, url=hook.url)
    row = committed(services.rows_insert, sheet=sheet, actor=owner, rows=[{"c1": "Ada"}]).payload["rows"][0]["id"]
    committed(services.cells_paste, sheet=sheet, actor=owner, cells=[{"row": row, "col": "c2", "value": "4.5"}])
    committed(undo.operation_undo, sheet=sheet, actor=owner)
    committed(undo.operation_redo, sheet=sheet, actor=owner)
    committed(services.rows_import, sheet=sheet, actor=owner, rows=[{"c1": "Cy", "c2": "2"}], mode="append")
    sender.send_due()
    got = bodies(hook)
    assert [(b["event"], b["operation"]) for b in got] == [
        ("rows.inserted", "rows.insert"),
        ("rows.updated", "cells.update"),  # the paste
        ("rows.updated", "cells.update"),  # its undo
        ("rows.updated", "cells.update"),  # the redo
        ("rows.inserted", "rows.import"),
    ]
    assert got[1]["rows"][0]["cells"]["c2"] == {"before": None, "after": 4.5}
    assert got[2]["rows"][0]["cells"]["c2"] == {"before": 4.5, "after": None} and "undo_of" in got[2]
    assert "redo_of" in got[3]
    assert got[4]["rows"][0]["values"]["c1"] == "Cy"


def test_a_paused_webhook_gets_nothing(api, owner, sheet, receiver, add_webhook, committed):
    hook = receiver()
    webhook = add_webhook(sheet, url=hook.url)
    committed(services.rows_insert, sheet=sheet, actor=owner, count=1)  # queued while active
    api(owner).patch(f"{hooks_url(sheet)}{webhook['id']}/", {"active": False}, format="json")
    committed(services.rows_insert, sheet=sheet, actor=owner, count=1)  # not queued
    assert sender.send_due() == 1
    assert hook.requests == []
    assert Delivery.objects.get().error == "the webhook is paused"


def test_many_rows_are_truncated_with_their_total(owner, sheet, receiver, add_webhook, committed, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "WEBHOOK_MAX_ROWS": 3}
    hook = receiver()
    add_webhook(sheet, url=hook.url)
    committed(services.rows_insert, sheet=sheet, actor=owner, count=5)
    sender.send_due()
    (body,) = bodies(hook)
    assert len(body["rows"]) == 3 and body["total"] == 5 and body["truncated"] is True


def test_a_failing_receiver_is_retried_with_backoff_and_the_log_shows_it(
    api, owner, sheet, receiver, add_webhook, committed
):
    import datetime as dt

    hook = receiver(500, 200)
    webhook = add_webhook(sheet, url=hook.url)
    committed(services.rows_insert, sheet=sheet, actor=owner, count=1)
    start = dt.datetime.now(dt.UTC)
    assert sender.send_due(now=start) == 1
    log = api(owner).get(f"{hooks_url(sheet)}{webhook['id']}/deliveries/").json()["results"]
    assert [(d["status"], d["attempts"], d["status_code"], d["error"]) for d in log] == [
        ("pending", 1, 500, "answered 500")
    ]
    assert log[0]["target"] == hook.url and log[0]["event"] == "rows.inserted"
    assert sender.send_due(now=start + dt.timedelta(seconds=9)) == 0
    assert sender.send_due(now=start + dt.timedelta(seconds=10)) == 1
    log = api(owner).get(f"{hooks_url(sheet)}{webhook['id']}/deliveries/").json()["results"]
    assert (log[0]["status"], log[0]["attempts"], log[0]["status_code"]) == ("delivered", 2, 200)
    first, second = hook.requests
    assert first["headers"]["X-Gridcast-Delivery"] == second["headers"]["X-Gridcast-Delivery"]
    assert first["body"] == second["body"] and signed(second, webhook["secret"])


def test_a_receiver_that_is_down_or_slow_never_holds_up_an_edit(
    api, owner, sheet, receiver, add_webhook, allow_loopback, transactional_db
):
    """Through the REST API as people edit, with the worker's sender running: while it is stuck on
    a receiver that does not answer, and another is down, edits answer at once and are committed;
    their deliveries wait for the worker."""
    slow = receiver()
    gate = threading.Event()
    original = slow.server.RequestHandlerClass.do_POST

    def hang(handler):
        gate.wait(10)
        original(handler)

    slow.server.RequestHandlerClass.do_POST = hang
    add_webhook(sheet, url=slow.url)
    add_webhook(sheet, url="http://127.0.0.1:9/down")  # the discard port: nobody listens
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        timings = []
        for name in ("Ada", "Bob", "Cy"):
            started = time.monotonic()
            answer = api(owner).post(f"/api/v1/sheets/{sheet.pk}/rows/", {"rows": [{"c1": name}]}, format="json")
            timings.append(time.monotonic() - started)
            assert answer.status_code == 201
            time.sleep(0.3)  # the sender takes the first ones and hangs on the slow receiver
        assert max(timings) < 1.0, timings
        assert Row.objects.filter(sheet=sheet).count() == 3
        assert Delivery.objects.count() == 6
        assert not slow.requests  # still waiting on it
    finally:
        gate.set()
        stop.set()
        thread.join(30)
    down = Delivery.objects.filter(target__endswith="/down")
    assert {d.status for d in down} == {"pending"} and any("Connection" in d.error for d in down)


def test_the_worker_sends_sheet_deliveries(owner, sheet, receiver, add_webhook, committed, transactional_db):
    """The worker's sender thread (the one alerts use) delivers them without being asked."""
    hook = receiver()
    add_webhook(sheet, url=hook.url)
    committed(services.rows_insert, sheet=sheet, actor=owner, count=1)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert len(hook.requests) == 1 and bodies(hook)[0]["event"] == "rows.inserted"
    assert wt_worker  # the worker runs this same sender.run beside the writer


def test_column_changes_and_background_recomputes_are_not_delivered(owner, sheet, receiver, add_webhook, committed):
    """A webhook follows people's changes to rows: a column added or renamed, and a formula
    column's background recompute (no one's edit), send nothing."""
    add_webhook(sheet, url=receiver().url)
    committed(services.column_add, sheet=sheet, actor=owner, name="Notes", type="text")
    committed(services.column_rename, sheet=sheet, actor=owner, key="c1", name="Customer")
    computed = {"computed": {"c8": {"1": 2}}}
    recompute = Operation(sheet_id=sheet.pk, version=99, kind="formulas.compute", payload=computed)
    assert events.deliveries_queue(operations=[recompute]) == []
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_edits_over_the_sheet_socket_are_delivered_too(owner, sheet, receiver, add_webhook):
    """The socket's edit path (batched, acked) announces its operations like the REST one."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from accounts.models import ApiToken
    from config.asgi import application

    hook = receiver()
    await database_sync_to_async(add_webhook)(sheet, url=hook.url, events=["rows.updated"])
    inserted = await database_sync_to_async(services.rows_insert)(sheet=sheet, actor=owner, count=1)
    row = inserted.payload["rows"][0]["id"]
    _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="ws")
    ws = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=[(b"origin", b"http://127.0.0.1:8000")]
    )
    connected, _ = await ws.connect(timeout=5)
    assert connected
    try:
        edit = {
            "type": "edit",
            "op_id": "6f1c1f0e-5b2a-4c1e-9a53-0c4d1f3e2a10",
            "cells": [{"row": row, "col": "c2", "value": 8}],
        }
        await ws.send_to(text_data=json.dumps(edit))
        while True:
            reply = json.loads(await ws.receive_from(timeout=5))
            if reply["type"] in ("ack", "error"):
                assert reply["type"] == "ack", reply
                break
    finally:
        await ws.disconnect()
    assert await database_sync_to_async(sender.send_due)() == 1
    (body,) = bodies(hook)
    assert body["event"] == "rows.updated" and body["rows"] == [
        {"id": row, "cells": {"c2": {"before": None, "after": 8}}}
    ]
    assert body["actor"]["id"] == owner.pk

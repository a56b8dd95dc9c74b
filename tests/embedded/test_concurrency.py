"""The embedded default under concurrent use: one process on SQLite serving several editors over
WebSocket and REST, a CSV import, metric ingestion, readers and its own analytics writer at once;
and a client that stops reading, which the embedded server (uvicorn) must close with 4008 rather
than buffer for without limit (daphne did).

The package's autouse fixture fails a test whose run made the server print "database is locked"
or a Traceback."""

import asyncio
import json
import threading
import time
import uuid

from bench.fanout import open_connection
from tests.realtime.servers import SheetClient

from .conftest import OWNER, Session

ROWS = 40
SECONDS = 8


def _token(session, workspace):
    status, body = session.request(
        "/api/v1/tokens/",
        json.dumps({"name": "embedded test", "workspace": workspace}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, body
    return json.loads(body)["key"]


def _api(base, key):
    """request(method, path, body) -> (status, parsed body) with the token."""
    import urllib.error
    import urllib.request

    def request(method, path, body=None, content_type="application/json", raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(
            base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Token {key}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, error.read()[:500]

    return request


def _room(api, workspace, name):
    status, sheet = api(
        "POST",
        "/api/v1/sheets/",
        {
            "workspace": workspace,
            "name": name,
            "columns": [{"name": "Note", "type": "text"}, {"name": "Other", "type": "text"}],
        },
    )
    assert status == 201, sheet
    status, inserted = api("POST", f"/api/v1/sheets/{sheet['id']}/rows/", {"count": ROWS})
    assert status == 201, inserted
    status, window = api("GET", f"/api/v1/sheets/{sheet['id']}/rows/?limit={ROWS}")
    assert status == 200
    return sheet, [row["id"] for row in window["rows"]]


def test_editors_an_import_ingestion_and_the_writer_at_once_lock_nothing_and_lose_nothing(embedded, demo):
    session = Session(embedded.url).login(OWNER)
    key = _token(session, demo["workspace"])
    api = _api(embedded.url, key)
    sheet, rows = _room(api, demo["workspace"], "concurrency")
    failures, acked_rest = [], []
    stop_at = time.monotonic() + SECONDS

    def rest_editor(n):
        i = 0
        while time.monotonic() < stop_at:
            row, value = rows[(n * 7 + i) % ROWS], f"rest {n}.{i}"
            status, body = api(
                "POST",
                f"/api/v1/sheets/{sheet['id']}/cells/",
                {"op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": "c1", "value": value}]},
            )
            (acked_rest.append(body["version"]) if status == 200 else failures.append(("edit", status, body)))
            i += 1

    def ingester():
        while time.monotonic() < stop_at:
            events = [
                {"source": "test", "metric": "concurrency", "value": i, "tags": {"region": "eu"}} for i in range(50)
            ]
            status, body = api("POST", "/api/v1/metrics/", {"events": events})
            if status >= 300:
                failures.append(("ingest", status, body))

    def importer():
        k = 0
        while time.monotonic() < stop_at:
            csv = "name,amount\n" + "".join(f"n{j},{j}\n" for j in range(3000))
            boundary = uuid.uuid4().hex
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c{k}.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
            ).encode()
            status, answer = api(
                "POST",
                f"/api/v1/workspaces/{demo['workspace']}/import/",
                content_type=f"multipart/form-data; boundary={boundary}",
                raw=body,
            )
            if status >= 300:
                failures.append(("import", status, answer))
            k += 1

    def reader():
        while time.monotonic() < stop_at:
            for path in (
                f"/api/v1/workspaces/{demo['workspace']}/metrics/",
                f"/api/v1/sheets/{demo['sheet']}/rows/?offset=30000&limit=200",
            ):
                status, body = api("GET", path)
                if status >= 300:
                    failures.append(("read", path, status, body))

    async def socket_editors():
        url = embedded.url.replace("http", "ws") + f"/ws/sheets/{sheet['id']}/?token={key}"
        clients = [await SheetClient(url, f"browser {n}").start() for n in range(3)]
        try:
            i = 0
            while time.monotonic() < stop_at:
                for n, client in enumerate(clients):
                    await client.write(
                        {
                            "type": "edit",
                            "cells": [{"row": rows[(n * 11 + i) % ROWS], "col": "c2", "value": f"ws {n}.{i}"}],
                        }
                    )
                i += 1
                await asyncio.sleep(0.02)
            for client in clients:
                await client.wait(lambda c=client: not c.unacked, 60, "its edits to be answered")
            return clients
        finally:
            await asyncio.gather(*(client.close() for client in clients))

    threads = [threading.Thread(target=rest_editor, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=target) for target in (ingester, importer, reader)]
    for thread in threads:
        thread.start()
    clients = asyncio.run(socket_editors())
    for thread in threads:
        thread.join()

    assert not failures, failures[:5]
    assert not any(client.rejected or client.errors for client in clients), [c.rejected for c in clients]
    socket_versions = [ack["version"] for client in clients for ack in client.acks.values()]
    assert len(socket_versions) > 30 and len(acked_rest) > 10
    # Every acknowledged edit is in the log once, and the sheet holds the last write of each cell.
    operations, since = [], 0
    while True:
        status, page = api("GET", f"/api/v1/sheets/{sheet['id']}/operations/?since={since}")
        assert status == 200, page
        operations += page["operations"]
        if not page["operations"]:
            break
        since = page["operations"][-1]["version"]
    versions = [op["version"] for op in operations]
    assert set(socket_versions + acked_rest) <= set(versions) and len(versions) == len(set(versions))
    last = {}
    for op in operations:
        for cell in (op["changes"] or {}).get("cells", []) if op["kind"] == "cells.update" else []:
            last[(cell["row"], cell["col"])] = cell["value"]
    status, window = api("GET", f"/api/v1/sheets/{sheet['id']}/rows/?limit={ROWS}")
    stored = {
        (row["id"], col): value for row in window["rows"] for col, value in row["values"].items() if value is not None
    }
    assert stored == last


def test_a_client_that_stops_reading_is_closed_with_4008(embedded, demo):
    """run_env sets GRIDCAST_WS_MAX_BACKLOG low: once the server's writes to the stalled client are
    held back (its buffers full), more than that many frames queued close it with 4008, while a
    reading client gets everything."""
    session = Session(embedded.url).login(OWNER)
    key = _token(session, demo["workspace"])
    sheet, rows = _room(_api(embedded.url, key), demo["workspace"], "stalled reader")
    url = embedded.url.replace("http", "ws") + f"/ws/sheets/{sheet['id']}/?token={key}"

    async def scenario():
        frames = []
        stalled = await open_connection(
            embedded.port, f"/ws/sheets/{sheet['id']}/?token={key}", lambda payload, now: frames.append(payload)
        )
        stalled.transport.pause_reading()
        writer = await SheetClient(url, "writer").start()
        try:
            filler = "x" * 9_990  # frames of ~100 kB: the socket buffers (up to 4 MB) fill after a few dozen
            for i in range(150):
                cells = [{"row": row, "col": col, "value": f"{i} {filler}"} for row in rows[:5] for col in ("c1", "c2")]
                answer = await writer.result(await writer.write({"type": "edit", "cells": cells}), timeout=60)
                assert answer["type"] == "ack", answer
            stalled.transport.resume_reading()
            deadline = time.monotonic() + 60
            while stalled.close_code is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return stalled.close_code, len(frames), list(writer.close_codes)
        finally:
            stalled.close()
            await writer.close()

    close_code, received, writer_closes = asyncio.run(scenario())
    assert close_code == 4008, (close_code, received)
    assert writer_closes == []

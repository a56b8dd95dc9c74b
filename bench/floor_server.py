"""The floors for bench/fanout.py: the least a Python server can do to fan a frame out. A bare
`websockets` server on uvloop; a frame from a writer (path /pub) is written as it is to every
subscriber (path /sub) with websockets' broadcast(), which writes straight to each transport.

    .venv/bin/python bench/floor_server.py PORT [--durable]

With --durable, the floor of a durable edit: each frame from a writer is first written to
PostgreSQL (DATABASE_URL) from the event loop in one statement that takes the next version and logs
the edit, committed on its own, then acknowledged to its writer and relayed to every subscriber. It
is the least any server does that writes an edit before acknowledging it: no framework, no thread,
no validation, no Redis.
"""

import asyncio
import json
import os
import sys

import psycopg
import uvloop
from websockets.asyncio.server import broadcast, serve

WELCOME = '{"type":"welcome"}'

TABLES = """
CREATE TABLE IF NOT EXISTS floor_sheet (id int PRIMARY KEY, version bigint NOT NULL);
INSERT INTO floor_sheet VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS floor_operation (version bigint PRIMARY KEY, op_id uuid NOT NULL, cells jsonb NOT NULL);
"""

WRITE = """
WITH sheet AS (UPDATE floor_sheet SET version = version + 1 WHERE id = 1 RETURNING version)
INSERT INTO floor_operation SELECT version, %s, %s FROM sheet RETURNING version
"""


async def main(port, durable):
    subscribers = set()
    database = None
    if durable:
        database = await psycopg.AsyncConnection.connect(os.environ["DATABASE_URL"], autocommit=True)
        await database.execute(TABLES)

    async def written(ws, text):
        edit = json.loads(text)
        cursor = await database.execute(WRITE, [edit["op_id"], json.dumps(edit["cells"])])
        (version,) = await cursor.fetchone()
        await ws.send(json.dumps({"type": "ack", "op_id": edit["op_id"], "version": version}, separators=(",", ":")))

    async def handler(ws):
        await ws.send(WELCOME)
        if ws.request.path.startswith("/sub"):
            subscribers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                subscribers.discard(ws)
        else:
            async for text in ws:
                if database is not None:
                    await written(ws, text)
                broadcast(subscribers, text)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None, backlog=1024):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), "--durable" in sys.argv[2:]))

"""The floor for bench/fanout.py: the least a Python server can do to fan a frame out. A bare
`websockets` server on uvloop; a frame from a writer (path /pub) is written as it is to every
subscriber (path /sub) with websockets' broadcast(), which writes straight to each transport.

    .venv/bin/python bench/floor_server.py PORT
"""

import asyncio
import sys

import uvloop
from websockets.asyncio.server import broadcast, serve

WELCOME = '{"type":"welcome"}'


async def main(port):
    subscribers = set()

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
                broadcast(subscribers, text)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None, backlog=1024):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))

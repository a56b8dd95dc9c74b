"""Fan-out of sheet edits over WebSocket, against the real server and against the floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_fanout REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/fanout.py [--server uvicorn,daphne] [--n 10,100,1000] [--rate 100,100,10]

For each server and each N: one Gridcast server process (uvicorn on uvloop + httptools, or
daphne) with REDIS_URL set; N subscriber connections (`?token=`, viewers) spread over client
processes; writer connections in another process (one per 10 edits/s, as people type) send
timestamped edits in turn at a fixed rate, each persisted through the real path (consumer,
sheets service, PostgreSQL, Redis pub/sub). A second window publishes the same kind of frames
straight to Redis, as a service does after commit: the delivery path alone.
Subscribers take receive time minus the timestamp in the `ops` frame as the delivery latency.
Printed: p50/p99/max latency, frames expected and received, the server process's CPU per
delivered frame (from /proc, since the 2 cores are shared with the clients, PostgreSQL and
Redis), and the busiest client process's CPU (to show the load is not client-bound). The same
cases run against bench/floor_server.py, a bare `websockets` broadcast server, and the lone edits
also against its durable mode (each edit written to PostgreSQL in one statement before it is
acknowledged and relayed).

For each N the join is a storm (every subscriber connecting at once, 20 handshakes at a time per
client process): printed are the time until all were welcomed, the `presence` frames each viewer
got while the room filled (max and mean; subscribers speak presence protocol 2, `--presence 1` the
old per-event one), the server's CPU for the joins and its RSS per connection. The join storm of
issue 18 is `--n 1000,2000,10000 --rate 1 --sources edits`: then 1 edit/s reaches every viewer.

Then 20 writer connections send edits to one sheet as fast as acks allow (5 in flight each):
persisted edits/s and ack latency.

It works in its own database, <name in DATABASE_URL>_fanout, which it drops and creates, and on
loopback ports only; every step has a deadline, and every process it starts is stopped.
The exit status is 1 when a target is missed.
"""

import argparse
import array
import asyncio
import base64
import math
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")

ROWS = 200
TARGET_P99_MS = {100: 10, 1000: 50}
TARGET_US_PER_FRAME = 20
TARGET_EDITS_PER_S = 2000
PER_CLIENT_PROCESS = 250
MAX_CLIENT_PROCESSES = 8  # beyond, more connections per process: the 2 cores are shared
PRESENCE_PROTOCOL = 2  # --presence
TARGET_JOIN_S = {2000: 10, 10000: 30}
TARGET_PRESENCE_FRAMES = {2000: 10}
TARGET_RSS_KB_PER_CONNECTION = 50
TARGET_STORM_P99_MS = 250
OFFER_DEFLATE = False  # --deflate: clients offer permessage-deflate, as browsers do
RECONNECT = 3  # the window in which subscribers reconnect, all at once, to the restarted server
TARGET_LONE_EDIT_MS = 0.5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server", default="uvicorn,daphne", help="Gridcast servers to measure: uvicorn, daphne or both"
    )
    parser.add_argument("--n", default="10,100,1000", help="subscriber counts")
    parser.add_argument("--rate", default=None, help="edits/s for each N (default 100 up to 100 subscribers, then 10)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each fan-out case")
    parser.add_argument(
        "--writer-connections",
        type=int,
        default=0,
        help="connections the edits of a fan-out case come from, in turn (default: one per "
        "10 edits/s, as people type; one connection's edits are applied one at a time)",
    )
    parser.add_argument("--writers", type=int, default=20, help="writer connections in the write test")
    parser.add_argument("--in-flight", type=int, default=5, help="unacknowledged edits per writer")
    parser.add_argument("--write-seconds", type=float, default=10, help="length of the write test (0 skips it)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor server")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="clients offer permessage-deflate, as browsers do (uvicorn accepts it by default)",
    )
    parser.add_argument("--no-slow", action="store_true", help="skip the stalled-client check")
    parser.add_argument(
        "--no-reconnect", action="store_true", help="skip the reconnect storm (server restarted) after each case"
    )
    parser.add_argument("--no-lone", action="store_true", help="skip the lone-edit CPU measure")
    parser.add_argument(
        "--presence", type=int, default=2, choices=(1, 2), help="the presence protocol subscribers speak"
    )
    parser.add_argument(
        "--sources",
        default="edits,published",
        help="edits (through the real write path), published (frames published to Redis "
        "directly: the delivery path alone), or both",
    )
    args = parser.parse_args()
    args.reconnect = not args.no_reconnect
    args.servers = [s for s in args.server.split(",") if s]
    if set(args.servers) - {"uvicorn", "daphne"}:
        parser.error("--server takes uvicorn, daphne or both")
    args.ns = [int(n) for n in args.n.split(",") if n]  # none: the lone edits and the write test alone
    if args.rate is None:
        args.rates = [100 if n <= 100 else 10 for n in args.ns]
    else:
        rates = [float(r) for r in args.rate.split(",")]
        args.rates = rates * len(args.ns) if len(rates) == 1 else rates
        if len(args.rates) != len(args.ns):
            parser.error("--rate needs one value, or one per --n")
    return args


# --- the database ------------------------------------------------------------------------------


def prepare_database(max_n):
    """Its own database: a sheet of ROWS rows and one text column (c1), an editor per writer and
    viewers for the subscribers, each with an API token."""
    url = urlsplit(os.environ["DATABASE_URL"])
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit("bench/fanout.py needs PostgreSQL in DATABASE_URL")
    name = (url.path.lstrip("/") or "gridcast") + "_fanout"
    import psycopg

    with psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path="/" + name))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from accounts.models import ApiToken, Membership, Role, User, Workspace
    from sheets import services
    from sheets.models import Row

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user(email="owner@fanout.bench", password="pass-word-123")
    workspace = Workspace.objects.create(name="Fan-out")
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    sheet = services.sheet_create(
        workspace=workspace, name="Fan-out", actor=owner, columns=[{"name": "Sent", "type": "text"}]
    )
    services.rows_insert(sheet=sheet, actor=owner, count=ROWS)

    def people(role, count):
        keys = []
        for i in range(count):
            person = User.objects.create_user(email=f"{role}{i}@fanout.bench", password="pass-word-123")
            Membership.objects.create(workspace=workspace, user=person, role=role)
            keys.append(ApiToken.issue(user=person, name="bench")[1])
        return keys

    setup = {
        "database": name,
        "sheet": sheet.pk,
        "column": sheet.columns.get().key,
        "rows": list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True)),
        # at most 100 sockets per user (GRIDCAST_MAX_CONNECTIONS_PER_USER): 90 subscribers each at most
        "viewers": people(Role.VIEWER, max(20, math.ceil(max_n / 90))),
        "editors": people(Role.EDITOR, 40),
    }
    connections.close_all()  # the client processes are forked from this one
    return setup


# --- servers -----------------------------------------------------------------------------------


def cpu_seconds(pid):
    """CPU time (user + system, all threads) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process on a free loopback port: Gridcast under uvicorn or daphne, or the floor."""

    def __init__(self, kind):
        self.kind, self.port = kind, free_port()
        bin_dir = Path(sys.executable).parent
        command = {
            "uvicorn": [
                str(bin_dir / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
                "--backlog",
                "2048",
            ],
            "daphne": [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            "floor": [sys.executable, str(ROOT / "bench" / "floor_server.py"), str(self.port)],
            "floor-durable": [sys.executable, str(ROOT / "bench" / "floor_server.py"), str(self.port), "--durable"],
        }[kind]
        self.command = command
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"gridcast-fanout-{kind}-", suffix=".log", delete=False)
        self.start()

    def start(self):
        env = {**os.environ, "GRIDCAST_WS_EDITS_PER_SECOND": "1000000", "GRIDCAST_WS_EDIT_BURST": "1000000"}
        kind = self.kind
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        print(f"    {kind} server: pid {self.process.pid}, port {self.port}", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        output = self.output()
        self.stop()
        raise RuntimeError(f"{kind} did not come up:\n{output}")

    def restart(self):
        """Killed (every connection drops at once, as when a server process dies or is redeployed)
        and started again on the same port."""
        self.process.kill()
        self.process.wait()
        self.start()

    @property
    def pid(self):
        return self.process.pid

    def url(self, role, key=None, sheet=None):
        if self.kind.startswith("floor"):
            return f"/{role}"
        return f"/ws/sheets/{sheet}/?token={key}" + ("&protocol=2" if PRESENCE_PROTOCOL == 2 else "")

    def output(self):
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self):
        self.log.seek(0)
        noteworthy = [
            line
            for line in self.log.read().splitlines()
            if line.strip()
            and "WSCONNECT" not in line
            and "WSDISCONNECT" not in line
            and "HTTP/1.1" not in line
            and " INFO " not in line
        ]
        if noteworthy:
            print(
                f"    {self.kind} server log, last lines of {len(noteworthy)}:\n"
                + "\n".join("      " + line[:200] for line in noteworthy[-8:])
            )
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


# --- a lean WebSocket client -------------------------------------------------------------------
# The load must cost the clients far less than the server, so clients speak the protocol by hand
# on uvloop: a handshake, unmasked frames in, masked frames out, no extensions.


class Connection(asyncio.Protocol):
    def __init__(self, path, on_text):
        self.path, self.on_text = path, on_text
        self.transport = None
        self.buffer = bytearray()
        self.upgraded = False
        self.welcome = asyncio.get_running_loop().create_future()
        self.close_code = None
        self.inflate = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                + ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if OFFER_DEFLATE else "")
                + "\r\n"
            ).encode()
        )

    def connection_lost(self, exc):
        if not self.welcome.done():
            self.welcome.set_exception(ConnectionError("closed before the welcome"))
        if self.close_code is None:
            self.close_code = 1006

    def data_received(self, data):
        now = time.time_ns()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buffer[:end]:
                self.transport.close()
                if not self.welcome.done():
                    self.welcome.set_exception(ConnectionError(bytes(buffer[:end]).split(b"\r\n")[0].decode()))
                return
            self.upgraded = True
            if b"permessage-deflate" in bytes(buffer[:end]).lower():
                self.inflate = zlib.decompressobj(-15)
            del buffer[: end + 4]
        position, size = 0, len(buffer)
        while size - position >= 2:
            opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - start < 2:
                    break
                length, start = int.from_bytes(buffer[start : start + 2], "big"), start + 2
            elif length == 127:
                if size - start < 8:
                    break
                length, start = int.from_bytes(buffer[start : start + 8], "big"), start + 8
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            if buffer[position] & 0x40 and self.inflate is not None:  # RSV1: a compressed message
                payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
            position = start + length
            if opcode == 1:
                if not self.welcome.done():
                    if payload.startswith(b'{"type":"welcome"'):
                        self.welcome.set_result(payload)
                    else:  # refused (too many connections of this user...): not welcomed
                        self.welcome.set_exception(ConnectionError(payload[:200].decode(errors="replace")))
                else:
                    self.on_text(payload, now)
            elif opcode == 9:
                self.send(payload, 0xA)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.transport.close()
        del buffer[:position]

    def send(self, data, opcode=0x1):
        if isinstance(data, str):
            data = data.encode()
        length = len(data)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        mask = os.urandom(4)
        self.transport.write(header + mask + apply_mask(data, mask))

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.send(b"\x03\xe8", 0x8)
            self.transport.close()


def apply_mask(data, mask):
    from websockets.speedups import apply_mask as fast

    return fast(data, mask)


async def open_connection(port, path, on_text, timeout=60):
    loop = asyncio.get_running_loop()
    _, connection = await asyncio.wait_for(
        loop.create_connection(lambda: Connection(path, on_text), "127.0.0.1", port), timeout
    )
    await asyncio.wait_for(connection.welcome, timeout)
    return connection


# --- measurement windows ----------------------------------------------------------------------
# Client processes stay connected across the windows of a case. The main process opens window k
# by setting `window` to k and closes it by setting it to -k; each client process reports
# ("done", k, ...) for the frames it received inside the window.


async def window_opens(control, k, timeout=600):
    deadline = time.monotonic() + timeout
    while control["window"].value != k:
        if control["stop"].is_set() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def next_window(control, after, timeout=600):
    deadline = time.monotonic() + timeout
    while not control["window"].value > after:
        if control["stop"].is_set() or time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.01)
    return control["window"].value


def cpu_now():
    times = os.times()
    return times.user + times.system


# --- subscribers -------------------------------------------------------------------------------

VALUE = b'"value":"'
PRESENCE = b'{"type":"presence"'


def subscriber_process(port, paths, received, slot, control, results, stall=False):
    """Connect every path, report, then for each window count the `ops` frames and their latency.
    With `stall`, the connections stop reading while a window is open (a stalled client), then
    read again and wait for the server's close."""
    import uvloop

    latencies = array.array("q")
    counts = {"ops": 0, "other": 0}
    presence = array.array("q", [0] * len(paths))  # presence frames per connection, since it connected

    def on_text(payload, now, index=None):
        at = payload.find(VALUE)
        if at < 0:
            counts["other"] += 1
            if index is not None and payload.startswith(PRESENCE):
                presence[index] += 1
            return
        start = at + len(VALUE)
        latencies.append(now - int(payload[start : payload.index(b'"', start)]))
        counts["ops"] += 1
        received[slot] += 1

    async def main():
        semaphore = asyncio.Semaphore(20)
        retries = []

        async def one(index, path):
            def on_text_of(payload, now):
                on_text(payload, now, index)

            for attempt in range(6):  # as a browser would: a refused handshake is tried again
                async with semaphore:
                    try:
                        return await open_connection(port, path, on_text_of)
                    except (TimeoutError, OSError, ConnectionError) as error:
                        failure = error
                retries.append(repr(failure))
                await asyncio.sleep(0.5 * 2**attempt)
            return failure

        async def connect_all():
            retries.clear()
            opened = await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
            connections = [c for c in opened if isinstance(c, Connection)]
            failures = [repr(c) for c in opened if not isinstance(c, Connection)]
            results.put(("ready", len(connections), failures[:3], len(retries), sorted(set(retries))[:3], cpu_now()))
            return connections

        connections = await connect_all()
        k = 0
        while (k := await next_window(control, k)) is not None:
            if k == RECONNECT:  # the server was restarted: every connection again, at once
                for c in connections:
                    c.close()
                connections = await connect_all()
                continue
            del latencies[:]
            counts.update(ops=0, other=0)
            closed_before = sum(1 for c in connections if c.close_code is not None)
            cpu, wall = cpu_now(), time.monotonic()
            if stall:
                for c in connections:
                    c.transport.pause_reading()
            await window_opens(control, -k)
            cpu, wall = cpu_now() - cpu, time.monotonic() - wall
            if stall:
                for c in connections:
                    c.transport.resume_reading()
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and any(c.close_code is None for c in connections):
                    await asyncio.sleep(0.05)
            closed = [c.close_code for c in connections if c.close_code is not None]
            results.put(
                (
                    "done",
                    k,
                    latencies.tobytes(),
                    counts["ops"],
                    counts["other"],
                    len(closed) - closed_before,
                    sorted(set(closed)),
                    cpu / wall * 100,
                    stall,
                    max(presence, default=0),
                    sum(presence),
                )
            )
        for c in connections:
            c.close()
        await asyncio.sleep(0.2)

    uvloop.run(main())


def stalled_subscriber_process(port, paths, received, slot, control, results):
    subscriber_process(port, paths, received, slot, control, results, stall=True)


# --- writers -----------------------------------------------------------------------------------


def edit_frame(op_id, row, column):
    return f'{{"type":"edit","op_id":"{op_id}","cells":[{{"row":{row},"col":"{column}","value":"{time.time_ns()}"}}]}}'


class Writer:
    """One writer connection: sends edits and matches acks (and errors) to them by op_id."""

    def __init__(self, rows, column, on_done=None):
        self.rows, self.column, self.on_done = rows, column, on_done
        self.sent_at = {}
        self.acked = 0
        self.errors = {}
        self.ack_ns = array.array("q")
        self.connection = None
        self.count = 0

    def on_text(self, payload, now):
        if payload.startswith(b'{"type":"ack"'):
            ok = True
        elif payload.startswith(b'{"type":"error"'):
            ok = False
        else:
            return
        at = payload.find(b'"op_id":"')
        op_id = payload[at + 9 : at + 45].decode() if at >= 0 else None
        sent = self.sent_at.pop(op_id, None)
        if sent is None:
            return
        if ok:
            self.acked += 1
            self.ack_ns.append(now - sent)
        else:
            code_at = payload.find(b'"code":"')
            code = payload[code_at + 8 : payload.index(b'"', code_at + 8)].decode() if code_at >= 0 else "?"
            self.errors[code] = self.errors.get(code, 0) + 1
        if self.on_done:
            self.on_done(self)

    def send(self):
        op_id = str(uuid.uuid4())
        frame = edit_frame(op_id, self.rows[self.count % len(self.rows)], self.column)
        self.count += 1
        self.sent_at[op_id] = time.time_ns()
        self.connection.send(frame)


async def paced(rate, seconds, send):
    await asyncio.sleep(0.1)  # every subscriber process has seen the window open (they look every 10 ms)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    total = int(rate * seconds)
    for i in range(total):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        send()
    return total


def paced_writer_process(port, paths, rows, column, rate, seconds, acks, k, control, results):
    """Writer connections sending edits at a fixed rate in window k, in turn (the floor sends no acks)."""
    import uvloop

    async def main():
        writers = []
        for i, path in enumerate(paths):
            writer = Writer(rows[i :: len(paths)] or rows, column)
            writer.connection = await open_connection(port, path, writer.on_text)
            writers.append(writer)
        results.put(("ready", 1, []))
        if not await window_opens(control, k):
            return
        cpu, t0 = cpu_now(), time.monotonic()
        turn = iter(range(1 << 62))
        total = await paced(rate, seconds, lambda: writers[next(turn) % len(writers)].send())
        deadline = time.monotonic() + 10
        while acks and any(w.sent_at for w in writers) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        cpu, wall = cpu_now() - cpu, time.monotonic() - t0
        ack_ns, errors = array.array("q"), {}
        for w in writers:
            ack_ns.extend(w.ack_ns)
            for code, count in w.errors.items():
                errors[code] = errors.get(code, 0) + count
        acked = sum(w.acked for w in writers) if acks else total
        results.put(("sent", ack_ns.tobytes(), total, acked, errors, cpu / wall * 100))
        while not control["stop"].is_set():  # stay in the room until the case ends (leaving is a presence frame)
            await asyncio.sleep(0.05)
        for w in writers:
            w.connection.close()
        await asyncio.sleep(0.1)

    uvloop.run(main())


def publisher_process(database, sheet, column, rows, rate, seconds, k, pad, control, results):
    """Frames as a service publishes them after commit, straight into Redis at a fixed rate in
    window k: the delivery path alone, without the write path."""
    import redis
    import uvloop

    from core.frames import encode
    from realtime.bus import RedisBus, _encode

    url = os.environ["REDIS_URL"]
    channel = RedisBus(url, database)._channel(sheet)
    client = redis.Redis.from_url(url)
    client.ping()
    results.put(("ready", 1, []))

    def send():
        send.version += 1
        text = encode(
            {
                "type": "ops",
                "version": send.version,
                "kind": "cells.update",
                "actor": 0,
                "op_id": str(uuid.uuid4()),
                "changes": {
                    "cells": [{"row": rows[send.version % len(rows)], "col": column, "value": str(time.time_ns())}]
                },
                **({"pad": "x" * pad} if pad else {}),
            }
        )
        client.publish(channel, _encode(None, send.version, text))

    send.version = 10**9

    async def main():
        if not await window_opens(control, k):
            return
        cpu, t0 = cpu_now(), time.monotonic()
        total = await paced(rate, seconds, send)
        cpu, wall = cpu_now() - cpu, time.monotonic() - t0
        results.put(("sent", b"", total, total, {}, cpu / wall * 100))

    uvloop.run(main())


def pipelined_writer_process(port, paths, rows, column, in_flight, seconds, k, control, results):
    """Writers that keep `in_flight` edits unacknowledged each, for `seconds` (the write test)."""
    import uvloop

    async def main():
        loop = asyncio.get_running_loop()
        deadline = [math.inf]

        def next_edit(writer):
            if loop.time() < deadline[0]:
                writer.send()

        writers = []
        for i, path in enumerate(paths):
            writer = Writer(rows[i :: len(paths)] or rows, column, on_done=next_edit)
            writer.connection = await open_connection(port, path, writer.on_text)
            writers.append(writer)
        results.put(("ready", len(writers), []))
        if not await window_opens(control, k):
            return
        cpu, t0 = cpu_now(), loop.time()
        deadline[0] = t0 + seconds
        for writer in writers:
            for _ in range(in_flight):
                writer.send()
        while loop.time() < deadline[0] + 10 and (loop.time() < deadline[0] or any(w.sent_at for w in writers)):
            await asyncio.sleep(0.01)
        cpu, wall = cpu_now() - cpu, loop.time() - t0
        ack_ns = array.array("q")
        errors = {}
        for w in writers:
            ack_ns.extend(w.ack_ns)
            for code, count in w.errors.items():
                errors[code] = errors.get(code, 0) + count
        results.put(
            (
                "sent",
                ack_ns.tobytes(),
                sum(w.count for w in writers),
                sum(w.acked for w in writers),
                errors,
                cpu / wall * 100,
                min(wall, seconds),
            )
        )
        for w in writers:
            w.connection.close()
        await asyncio.sleep(0.1)

    uvloop.run(main())


# --- one case ----------------------------------------------------------------------------------


class Processes:
    """Client processes, their controls and their result queue; all stopped at the end."""

    def __init__(self):
        self.ctx = mp.get_context("fork")
        self.control = {"window": self.ctx.RawValue("i", 0), "stop": self.ctx.Event()}
        self.results = self.ctx.Queue()
        self.procs = []

    def start(self, target, *args):
        proc = self.ctx.Process(target=target, args=(*args, self.control, self.results), daemon=True)
        proc.start()
        self.procs.append(proc)

    def collect(self, kind, count, timeout):
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not any(p.is_alive() for p in self.procs) and self.results.empty():
                raise RuntimeError(f"{len(got)} of {count} client processes reported {kind!r}")
            try:
                item = self.results.get(timeout=min(remaining, 1))
            except Exception:
                continue
            if item[0] == kind:
                got.append(item[1:])
        return got

    def stop(self):
        self.control["stop"].set()
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)


def settle(pid, quiet=0.03, timeout=60):
    """Wait until the server is idle (the presence frames of the joins are delivered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before <= quiet * 0.5:
            return


def percentile(sorted_values, p):
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))]


def measure_window(processes, server, k, groups, received, n, seconds, extra=0):
    """Open window k (its source is already connected), wait for the source and the stragglers."""
    settle(server.pid)
    base = sum(received)
    cpu, wall = cpu_seconds(server.pid), time.monotonic()
    processes.control["window"].value = k
    ((_, sent, acked, errors, source_cpu, *_),) = processes.collect("sent", 1, seconds + 60)
    expected = acked * n
    # The stragglers: until everything arrived, or nothing more for 2 s.
    last, last_change, deadline = -1, time.monotonic(), time.monotonic() + 30
    while sum(received) - base < expected and time.monotonic() < deadline and time.monotonic() - last_change < 2:
        if sum(received) != last:
            last, last_change = sum(received), time.monotonic()
        time.sleep(0.05)
    server_cpu, wall = cpu_seconds(server.pid) - cpu, time.monotonic() - wall
    processes.control["window"].value = -k
    done = processes.collect("done", len(groups) + extra, 60)
    stalled = [d for d in done if d[7]]
    done = [d for d in done if not d[7]]
    latencies = array.array("q")
    for _, raw, *_ in done:
        latencies.frombytes(raw)
    latencies = sorted(latencies)
    got = sum(d[2] for d in done)
    p99 = percentile(latencies, 99) / 1e6
    print(
        f"    {'edits' if k == 1 else 'published'}: p99 {p99:.2f} ms, {got:,} of {expected:,} frames, "
        f"{server_cpu / got * 1e6 if got else math.nan:.1f} µs CPU per frame",
        flush=True,
    )
    return {
        "sent": sent,
        "acked": acked,
        "errors": errors,
        "expected": expected,
        "received": got,
        "other": sum(d[3] for d in done),
        "closed": sum(d[4] for d in done),
        "codes": sorted({c for d in done for c in d[5]}),
        "p50": percentile(latencies, 50) / 1e6,
        "p99": percentile(latencies, 99) / 1e6,
        "max": (latencies[-1] / 1e6) if latencies else math.nan,
        "server_cpu": server_cpu,
        "wall": wall,
        "us_per_frame": server_cpu / got * 1e6 if got else math.nan,
        "client_cpu": max([d[6] for d in done] + [source_cpu]),
        "stalled_codes": sorted({c for d in stalled for c in d[5]}),
        "stalled_frames": sum(d[2] for d in stalled),
        # presence frames each subscriber got since it connected (the join storm, and the writers' joins)
        "presence_max": max((d[8] for d in done), default=0),
        "presence_mean": sum(d[9] for d in done) / n if n else 0,
    }


def fanout_case(kind, n, rate, args, setup):
    """One server and n subscribers. Window 1: one writer sends edits at `rate` through the real
    path. Window 2 (Gridcast only): frames published to Redis as the services do after commit."""
    server = Server(kind)
    processes = Processes()
    rows = []
    try:
        sheet = setup["sheet"]
        paths = [server.url("sub", setup["viewers"][i % len(setup["viewers"])], sheet) for i in range(n)]
        procs = min(MAX_CLIENT_PROCESSES, max(1, math.ceil(n / PER_CLIENT_PROCESS)))
        groups = [g for g in (paths[i::procs] for i in range(procs)) if g]
        received = processes.ctx.RawArray("q", len(groups))
        settle(server.pid)
        rss_idle = rss_mb(server.pid)
        joins_cpu, joins_wall = cpu_seconds(server.pid), time.monotonic()
        for slot, group in enumerate(groups):
            processes.start(subscriber_process, server.port, group, received, slot)
        clients = {p.pid: 0.0 for p in processes.procs}  # forked now: no CPU of their own yet
        connected = processes.collect("ready", len(groups), 300)
        connect_wall = time.monotonic() - joins_wall
        joins_client_pct = busiest_client_pct(clients, processes, connect_wall)
        settle(server.pid)
        join = {
            "welcomed_s": connect_wall,
            "quiet_s": time.monotonic() - joins_wall,
            "joins_cpu": cpu_seconds(server.pid) - joins_cpu,
            "rss_kb_per_connection": (rss_mb(server.pid) - rss_idle) * 1024 / n,
            "rss_mb": rss_mb(server.pid),
            "joins_client_cpu": joins_client_pct,
        }
        print(
            f"    {n} subscribers welcomed in {connect_wall:.1f} s, quiet after {join['quiet_s']:.1f} s; "
            f"server CPU for the joins {join['joins_cpu']:.1f} s; server RSS {join['rss_mb']:.0f} MB, "
            f"{join['rss_kb_per_connection']:.1f} KB per connection; busiest client process "
            f"{joins_client_pct:.0f}% CPU",
            flush=True,
        )
        retried = sum(c[2] for c in connected)
        if retried:
            print(
                f"    {retried} subscriber handshakes failed and were retried: {sorted({r for c in connected for r in c[3]})}"
            )
        if sum(c[0] for c in connected) < n:
            failures = [f for c in connected for f in c[1]]
            raise RuntimeError(f"only {sum(c[0] for c in connected)} of {n} subscribers connected: {failures}")
        name = "floor" if kind == "floor" else f"gridcast {kind}"
        if kind == "floor" or "edits" in args.sources:
            writers = args.writer_connections or max(1, math.ceil(rate / 10))
            processes.start(
                paced_writer_process,
                server.port,
                [server.url("pub", setup["editors"][i % len(setup["editors"])], sheet) for i in range(writers)],
                setup["rows"],
                setup["column"],
                rate,
                args.seconds,
                kind != "floor",
                1,
            )
            processes.collect("ready", 1, 60)
            rows.append(
                {
                    "server": name,
                    "source": "frames" if kind == "floor" else "edits",
                    "n": n,
                    "rate": rate,
                    **measure_window(processes, server, 1, groups, received, n, args.seconds),
                }
            )
        if kind != "floor" and "published" in args.sources:
            processes.start(
                publisher_process, setup["database"], sheet, setup["column"], setup["rows"], rate, args.seconds, 2, 0
            )
            processes.collect("ready", 1, 60)
            rows.append(
                {
                    "server": name,
                    "source": "published",
                    "n": n,
                    "rate": rate,
                    **measure_window(processes, server, 2, groups, received, n, args.seconds),
                }
            )
        if args.reconnect:
            join.update(reconnect_storm(server, processes, groups, n))
    finally:
        processes.stop()
        server.stop()
    for row in rows:
        row.update(join)
    return rows


def clients_cpu(processes):
    return {p.pid: cpu_seconds(p.pid) for p in processes.procs if p.is_alive()}


def busiest_client_pct(before, processes, wall):
    after = clients_cpu(processes)
    return max((after[pid] - cpu for pid, cpu in before.items() if pid in after), default=0) / wall * 100


def forget_slots():
    """Drop the connection slots (realtime.limits) the killed server held: they would lapse only
    after CONNECTION_SLOT_SECONDS, and with ~90 sockets per viewer account here the reconnecting
    subscribers (and the next case's) would be refused over the per-user cap meanwhile. People
    with a few tabs each are not near the cap."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter(match="*:connections:*", count=1000))
    if keys:
        client.delete(*keys)


def reconnect_storm(server, processes, groups, n):
    """The server is killed and started again; once it listens, every subscriber reconnects at
    once (as browsers do when their socket drops): the time until all are welcomed again."""
    server.restart()
    forget_slots()
    settle(server.pid)
    rss_idle, cpu, clients = rss_mb(server.pid), cpu_seconds(server.pid), clients_cpu(processes)
    started = time.monotonic()
    processes.control["window"].value = RECONNECT
    again = processes.collect("ready", len(groups), 300)
    wall = time.monotonic() - started
    client_pct = busiest_client_pct(clients, processes, wall)
    settle(server.pid)
    row = {
        "reconnect_s": wall,
        "reconnected": sum(c[0] for c in again),
        "reconnect_cpu": cpu_seconds(server.pid) - cpu,
        "reconnect_kb_per_connection": (rss_mb(server.pid) - rss_idle) * 1024 / n,
        "reconnect_client_cpu": client_pct,
    }
    print(
        f"    reconnect storm: {row['reconnected']:,} of {n:,} welcomed again in {wall:.1f} s after the restart; "
        f"server CPU {row['reconnect_cpu']:.1f} s; {row['reconnect_kb_per_connection']:.1f} KB per connection; "
        f"busiest client process {client_pct:.0f}% CPU",
        flush=True,
    )
    return row


def lone_edit_case(kind, args, setup, rate=10):
    """Edits arriving alone (10 a second, each acknowledged long before the next), one viewer:
    the server's CPU per edit, its idle CPU over as long subtracted."""
    server = Server(kind)
    processes = Processes()
    try:
        sheet = setup["sheet"]
        received = processes.ctx.RawArray("q", 1)
        processes.start(subscriber_process, server.port, [server.url("sub", setup["viewers"][0], sheet)], received, 0)
        processes.collect("ready", 1, 60)
        seconds = max(args.seconds, 20)
        processes.start(
            paced_writer_process,
            server.port,
            [server.url("pub", setup["editors"][0], sheet)],
            setup["rows"],
            setup["column"],
            rate,
            seconds,
            kind != "floor",
            1,
        )
        processes.collect("ready", 1, 60)
        settle(server.pid)
        idle, started = cpu_seconds(server.pid), time.monotonic()
        time.sleep(seconds / 2)
        idle_per_s = (cpu_seconds(server.pid) - idle) / (time.monotonic() - started)
        row = measure_window(processes, server, 1, [[0]], received, 1, seconds)
    finally:
        processes.stop()
        server.stop()
    edits = row["acked"] or 1
    row.update(
        server=kind if kind.startswith("floor") else f"gridcast {kind}",
        idle_cpu_per_s=idle_per_s,
        ms_per_edit=(row["server_cpu"] - idle_per_s * row["wall"]) / edits * 1000,
    )
    print(
        f"    lone edits: {row['ms_per_edit']:.2f} ms of server CPU each ({edits} edits, idle "
        f"{idle_per_s * 1000:.1f} ms/s subtracted), ack p50 in the window {fmt(row['p50'], 1)} ms",
        flush=True,
    )
    return row


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def slow_client_case(kind, args, setup, n=10, rate=1500, pad=2000):
    """A stalled client among n healthy ones: 2 kB frames at `rate`/s published for
    args.seconds while it reads nothing. The others must not notice; the stalled one must be
    closed with 4008 once its backlog passes the limit (it sees the close when it reads again)."""
    server = Server(kind)
    processes = Processes()
    try:
        sheet = setup["sheet"]
        paths = [server.url("sub", setup["viewers"][i % len(setup["viewers"])], sheet) for i in range(n + 1)]
        received = processes.ctx.RawArray("q", 2)
        processes.start(subscriber_process, server.port, paths[:n], received, 0)
        processes.start(stalled_subscriber_process, server.port, paths[n:], processes.ctx.RawArray("q", 1), 0)
        processes.collect("ready", 2, 120)
        processes.start(
            publisher_process, setup["database"], sheet, setup["column"], setup["rows"], rate, args.seconds, 1, pad
        )
        processes.collect("ready", 1, 60)
        rss = rss_mb(server.pid)
        row = measure_window(processes, server, 1, [paths[:n]], received, n, args.seconds, extra=1)
        row.update(server=f"gridcast {kind}", n=n, rate=rate, rss_growth=rss_mb(server.pid) - rss)
    finally:
        processes.stop()
        server.stop()
    return row


def write_case(kind, args, setup):
    """20 writers, 5 edits in flight each, one sheet: persisted edits/s and ack latency."""
    server = Server(kind)
    processes = Processes()
    try:
        sheet = setup["sheet"]
        paths = [server.url("pub", setup["editors"][i % len(setup["editors"])], sheet) for i in range(args.writers)]
        groups = [paths[0::2], paths[1::2]] if len(paths) > 1 else [paths]
        for group in groups:
            processes.start(
                pipelined_writer_process,
                server.port,
                group,
                setup["rows"],
                setup["column"],
                args.in_flight,
                args.write_seconds,
                1,
            )
        processes.collect("ready", len(groups), 120)
        settle(server.pid)
        cpu = cpu_seconds(server.pid)
        processes.control["window"].value = 1
        done = processes.collect("sent", len(groups), args.write_seconds + 60)
        server_cpu = cpu_seconds(server.pid) - cpu
    finally:
        processes.stop()
        server.stop()
    ack_ns = array.array("q")
    errors = {}
    for raw, _, _, errs, _, _ in done:
        ack_ns.frombytes(raw)
        for code, count in errs.items():
            errors[code] = errors.get(code, 0) + count
    ack_ns = sorted(ack_ns)
    acked = sum(d[2] for d in done)
    seconds = max(d[5] for d in done)
    return {
        "server": f"gridcast {kind}",
        "sent": sum(d[1] for d in done),
        "acked": acked,
        "errors": errors,
        "edits_per_s": acked / seconds,
        "p50": percentile(ack_ns, 50) / 1e6,
        "p99": percentile(ack_ns, 99) / 1e6,
        "server_cpu_pct": server_cpu / seconds * 100,
        "client_cpu": max(d[4] for d in done),
    }


# --- report ------------------------------------------------------------------------------------


def fmt(value, digits=1):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def print_fanout(rows):
    print()
    print("Fan-out: N subscribers of one sheet; latency = receive time - send time written in the frame")
    print(
        "  edits: writer connections (one per 10 edits/s) in turn, each edit persisted through the real path (consumer, service,"
    )
    print("         PostgreSQL, on-commit publish to Redis); the server's CPU includes the write path")
    print("  published: frames published to Redis as a service does after commit: the delivery path alone")
    print("  frames: the floor, a bare websockets server relaying the writer's frame to every subscriber")
    header = (
        f"{'server':<17} {'source':<9} {'N':>5} {'rate/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'expected':>9} {'received':>9} {'lost':>6} {'srv CPU s':>9} {'µs/frame':>8} {'client CPU%':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        lost = r["expected"] - r["received"]
        print(
            f"{r['server']:<17} {r['source']:<9} {r['n']:>5} {r['rate']:>6g} {fmt(r['p50'], 2):>7} {fmt(r['p99'], 2):>7} "
            f"{fmt(r['max'], 1):>7} {r['expected']:>9,} {r['received']:>9,} {lost:>6,} {r['server_cpu']:>9.2f} "
            f"{fmt(r['us_per_frame']):>8} {r['client_cpu']:>10.0f}%"
        )
        notes = []
        if r["errors"]:
            notes.append(f"writer errors {r['errors']}")
        if r["closed"]:
            notes.append(f"{r['closed']} subscribers closed by the server, codes {r['codes']}")
        if r["other"]:
            notes.append(f"{r['other']} other frames in the window")
        if notes:
            print(f"{'':<27}({'; '.join(notes)})")


def print_joins(rows):
    print()
    print(
        f"Join storms: N subscribers connecting at once (presence protocol {PRESENCE_PROTOCOL}); presence frames per "
        "viewer from its connect to the end of the edits window (the writers' joins included)"
    )
    header = (
        f"{'server':<17} {'N':>6} {'welcomed s':>10} {'quiet s':>8} {'joins CPU s':>11} {'presence max':>12} "
        f"{'mean':>6} {'RSS MB':>7} {'KB/conn':>8} {'client CPU%':>11} {'reconnect s':>11} {'its CPU s':>9}"
    )
    print(header)
    print("-" * len(header))
    seen = set()
    for r in rows:
        if (r["server"], r["n"]) in seen or "welcomed_s" not in r:
            continue
        seen.add((r["server"], r["n"]))
        presence = "-" if r["server"] == "floor" else f"{r['presence_max']:>12,}"
        mean = "-" if r["server"] == "floor" else f"{r['presence_mean']:.1f}"
        print(
            f"{r['server']:<17} {r['n']:>6,} {r['welcomed_s']:>10.1f} {r['quiet_s']:>8.1f} {r['joins_cpu']:>11.1f} "
            f"{presence:>12} {mean:>6} {r['rss_mb']:>7.0f} {r['rss_kb_per_connection']:>8.1f} "
            f"{r['joins_client_cpu']:>10.0f}% {fmt(r.get('reconnect_s')):>11} {fmt(r.get('reconnect_cpu')):>9}"
        )


def print_ratios(rows):
    floors = {r["n"]: r for r in rows if r["server"] == "floor"}
    if not floors:
        return
    print()
    print("Gridcast / floor (same N and rate)")
    print(f"{'server':<17} {'source':<9} {'N':>5} {'p50':>7} {'p99':>7} {'µs/frame':>8}")
    for r in rows:
        f = floors.get(r["n"])
        if r["server"] == "floor" or f is None:
            continue
        print(
            f"{r['server']:<17} {r['source']:<9} {r['n']:>5} {r['p50'] / f['p50']:>6.1f}× {r['p99'] / f['p99']:>6.1f}× "
            f"{r['us_per_frame'] / f['us_per_frame']:>7.1f}×"
        )


def print_slow(rows):
    print()
    print("A stalled client (reads nothing) among 10 healthy subscribers, 2 kB frames published at 1,500/s")
    header = (
        f"{'server':<17} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost':>6} {'stalled one closed with':>24} "
        f"{'server RSS growth':>17}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        codes = ",".join(map(str, r["stalled_codes"])) or "not closed"
        print(
            f"{r['server']:<17} {fmt(r['p50'], 2):>7} {fmt(r['p99'], 2):>7} {fmt(r['max'], 1):>7} "
            f"{r['expected'] - r['received']:>6,} {codes:>24} {r['rss_growth']:>14.0f} MB"
        )


def print_writes(rows):
    print()
    print("Writes: 20 writer connections, 5 edits in flight each, one sheet")
    header = f"{'server':<17} {'edits/s':>8} {'ack p50 ms':>10} {'ack p99 ms':>10} {'srv CPU%':>8} {'client CPU%':>11}  errors"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['server']:<17} {r['edits_per_s']:>8,.0f} {fmt(r['p50'], 1):>10} {fmt(r['p99'], 1):>10} "
            f"{r['server_cpu_pct']:>7.0f}% {r['client_cpu']:>10.0f}%  {r['errors'] or '-'}"
        )


def print_lone(rows):
    print()
    print("Lone edits: 10 edits/s, each acknowledged before the next arrives, one viewer; server CPU per edit")
    print("(from /proc over the window, the server's idle CPU over as long subtracted; the floor relays the frame,")
    print(" floor-durable first writes it to PostgreSQL in one statement from the event loop and acknowledges it)")
    header = f"{'server':<17} {'edits':>6} {'CPU ms/edit':>11} {'idle ms/s':>9} {'ack/delivery p50 ms':>19}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['server']:<17} {r['acked']:>6} {r['ms_per_edit']:>11.3f} {r['idle_cpu_per_s'] * 1000:>9.2f} "
            f"{fmt(r['p50'], 2):>19}"
        )


def print_targets(fanout, slow, writes, lone=()):
    print()
    print("Targets")
    missed = False

    def line(what, value, ok):
        nonlocal missed
        missed |= not ok
        print(f"  {what:<66} {value:<22} {'PASS' if ok else 'MISS'}")

    for r in fanout:
        if r["server"] == "floor" or r["source"] != "edits":
            continue
        lost = r["expected"] - r["received"]
        if r["n"] == 100 and r["rate"] == 100:
            line(f"{r['server']}: 100 subs @100 edits/s, p99 < 10 ms", f"{fmt(r['p99'], 2)} ms", r["p99"] < 10)
        if r["n"] == 1000 and r["rate"] == 10:
            line(
                f"{r['server']}: 1000 subs @10 edits/s, p99 < 50 ms, nothing lost",
                f"{fmt(r['p99'], 2)} ms, {lost:,} lost",
                r["p99"] < 50 and lost == 0,
            )
    for r in fanout:
        if r["server"] == "floor" or r["source"] != "edits":
            continue
        if r["n"] in TARGET_JOIN_S:
            line(
                f"{r['server']}: {r['n']:,} viewers all welcomed within {TARGET_JOIN_S[r['n']]} s",
                f"{r['welcomed_s']:.1f} s",
                r["welcomed_s"] < TARGET_JOIN_S[r["n"]],
            )
        if r["n"] in TARGET_PRESENCE_FRAMES:
            line(
                f"{r['server']}: a join of {r['n']:,} brings each at most {TARGET_PRESENCE_FRAMES[r['n']]} presence frames",
                f"max {r['presence_max']}",
                r["presence_max"] <= TARGET_PRESENCE_FRAMES[r["n"]],
            )
        if r["n"] >= 1000:
            line(
                f"{r['server']}: {r['n']:,} viewers, RSS per connection < {TARGET_RSS_KB_PER_CONNECTION} KB",
                f"{r['rss_kb_per_connection']:.1f} KB",
                r["rss_kb_per_connection"] < TARGET_RSS_KB_PER_CONNECTION,
            )
        if r["n"] in TARGET_JOIN_S and "reconnect_s" in r:
            line(
                f"{r['server']}: {r['n']:,} viewers reconnect after a restart within {TARGET_JOIN_S[r['n']]} s",
                f"{r['reconnect_s']:.1f} s, {r['reconnected']:,} back",
                r["reconnect_s"] < TARGET_JOIN_S[r["n"]] and r["reconnected"] == r["n"],
            )
        if r["n"] >= 1000 and r["rate"] <= 1:
            lost = r["expected"] - r["received"]
            line(
                f"{r['server']}: {r['n']:,} viewers @{r['rate']:g} edit/s, p99 < {TARGET_STORM_P99_MS} ms, nothing lost",
                f"{fmt(r['p99'], 1)} ms, {lost:,} lost",
                r["p99"] < TARGET_STORM_P99_MS and lost == 0,
            )
    for r in fanout:
        if r["server"] != "floor" and r["source"] == "published" and r["n"] >= 100:
            line(
                f"{r['server']}: CPU per delivered frame < {TARGET_US_PER_FRAME} µs, N={r['n']} (delivery)",
                f"{fmt(r['us_per_frame'])} µs",
                r["us_per_frame"] < TARGET_US_PER_FRAME,
            )
    for r in slow:
        line(
            f"{r['server']}: a stalled client is closed with 4008; the others lose nothing",
            f"{','.join(map(str, r['stalled_codes'])) or 'not closed'}, {r['expected'] - r['received']:,} lost",
            r["stalled_codes"] == [4008] and r["expected"] == r["received"],
        )
    for r in lone:
        if not r["server"].startswith("floor"):
            line(
                f"{r['server']}: a lone edit costs < {TARGET_LONE_EDIT_MS} ms of server CPU",
                f"{r['ms_per_edit']:.3f} ms",
                r["ms_per_edit"] < TARGET_LONE_EDIT_MS,
            )
    for r in writes:
        line(
            f"{r['server']}: ≥ {TARGET_EDITS_PER_S:,} persisted edits/s from 20 writers",
            f"{r['edits_per_s']:,.0f} edits/s",
            r["edits_per_s"] >= TARGET_EDITS_PER_S,
        )
    return missed


def main():
    global OFFER_DEFLATE, PRESENCE_PROTOCOL
    args = parse_args()
    OFFER_DEFLATE = args.deflate
    PRESENCE_PROTOCOL = args.presence
    setup = prepare_database(max(args.ns, default=10))
    print(
        f"database {setup['database']}, sheet {setup['sheet']}, {ROWS} rows; REDIS_URL={os.environ.get('REDIS_URL', '')!r}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if not os.environ.get("REDIS_URL"):
        print("warning: REDIS_URL is not set, so the server fans out in-process (LocalBus)")
    fanout, writes = [], []
    kinds = [*args.servers, *([] if args.no_floor else ["floor"])]
    for kind in kinds:
        for n, rate in zip(args.ns, args.rates):
            print(f"  {kind}: {n} subscribers, {rate:g} edits/s for {args.seconds:g} s …", flush=True)
            fanout.extend(fanout_case(kind, n, rate, args, setup))
    lone = []
    if not args.no_lone:
        for kind in [*kinds, *([] if args.no_floor else ["floor-durable"])]:
            print(f"  {kind}: lone edits …", flush=True)
            lone.append(lone_edit_case(kind, args, setup))
    slow = []
    if not args.no_slow:
        for kind in args.servers:
            print(f"  {kind}: a stalled client among 10 for {args.seconds:g} s …", flush=True)
            slow.append(slow_client_case(kind, args, setup))
    if args.write_seconds > 0:
        for kind in args.servers:
            print(
                f"  {kind}: {args.writers} writers × {args.in_flight} in flight for {args.write_seconds:g} s …",
                flush=True,
            )
            writes.append(write_case(kind, args, setup))
    print_fanout(fanout)
    print_joins(fanout)
    print_ratios(fanout)
    if writes:
        print_writes(writes)
    if slow:
        print_slow(slow)
    if lone:
        print_lone(lone)
    missed = print_targets(fanout, slow, writes, lone)
    print(
        f"\nload average after the run: {os.getloadavg()[0]:.2f} (2 cores shared by servers, clients, PostgreSQL, Redis)"
    )
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()

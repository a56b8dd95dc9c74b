"""Real processes for tests across processes: ASGI servers (uvicorn, daphne) on loopback ports,
a private Redis, and SheetClient, a WebSocket client that keeps a model of a sheet the way
docs/realtime.md asks a client to (version order, gap detection, hello, resend by op_id).

Tests that start servers need `@pytest.mark.django_db(transaction=True)`: the servers are other
processes and see only committed data.
"""

import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import websockets
from websockets.asyncio.client import connect as ws_connect

from core.frames import FrameInvalid

from ..frames import checked

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def test_database_url():
    """The database pytest-django created, for the servers to share with the test."""
    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "postgres", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class RedisProcess:
    """A Redis of the test's own, on a free port, without persistence: it can be stopped and
    started again (on the same port) without touching the machine's shared Redis."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gc-redis-")
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self):
        self.log = Path(self.dir) / "redis.log"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._ping() or self.process.poll() is not None, 20, message="redis-server")
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} did not start:\n{_tail(self.log)}")
        return self

    def stop(self, kill=False):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_cluster_port(taken):
    """A free port whose cluster bus port (10000 higher) is free too; Redis wants it below 55536."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        if port in taken:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisClusterProcesses:
    """A Redis Cluster of the test's own: `masters` masters with one replica each, redis-server
    processes in cluster mode on free ports, without persistence. cluster-node-timeout is
    `node_timeout_ms`, so a replica takes a killed master's place within a few seconds; slots of a
    failed master do not stop the others (cluster-require-full-coverage no)."""

    def __init__(self, masters=3, node_timeout_ms=1000):
        self.count = masters * 2
        self.node_timeout_ms = node_timeout_ms
        self.dir = tempfile.mkdtemp(prefix="gc-redis-cluster-")
        self.processes = {}  # port -> Popen
        self.paused = set()  # ports of nodes stopped with SIGSTOP

    @property
    def url(self):
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.processes) + "/"

    def _cli(self, port, *args, timeout=10):
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.close()  # nothing left running when the cluster could not be made
            raise

    def _start(self):
        for _ in range(self.count):
            port = _free_cluster_port(taken=self.processes)
            node_dir = Path(self.dir) / str(port)
            node_dir.mkdir()
            self.processes[port] = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(node_dir),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    "--cluster-require-full-coverage",
                    "no",
                    "--cluster-replica-validity-factor",
                    "0",
                ],
                stdout=open(node_dir / "redis.log", "ab"),
                stderr=subprocess.STDOUT,
            )
        for port, process in self.processes.items():
            wait_until(
                lambda port=port, process=process: (
                    self._cli(port, "ping").strip() == "PONG" or process.poll() is not None
                ),
                20,
                message=f"redis-server :{port}",
            )
            if process.poll() is not None:
                raise RuntimeError(
                    f"redis-server :{port} did not start:\n{_tail(Path(self.dir) / str(port) / 'redis.log')}"
                )
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{port}" for port in self.processes]]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        self.wait_healthy(30)
        return self

    def nodes(self, port=None):
        """CLUSTER NODES as seen by `port` (any live node): [{port, role, master_of, slots, failed}]."""
        port = port or self._live()[0]
        found = []
        for line in self._cli(port, "cluster", "nodes").splitlines():
            fields = line.split()
            if len(fields) < 8:
                continue
            flags = fields[2].split(",")
            found.append(
                {
                    "id": fields[0],
                    "port": int(fields[1].split("@")[0].rsplit(":", 1)[1]),
                    "role": "master" if "master" in flags else "replica",
                    "replica_of": fields[3] if fields[3] != "-" else None,
                    "failed": "fail" in flags or "fail?" in flags,
                    "slots": fields[8:],
                }
            )
        return found

    def _live(self):
        return [port for port, process in self.processes.items() if process.poll() is None and port not in self.paused]

    def _healthy(self):
        live = self._live()
        for port in live:
            if "cluster_state:ok" not in self._cli(port, "cluster", "info"):
                return False
            masters = [n for n in self.nodes(port) if n["role"] == "master" and n["slots"] and not n["failed"]]
            if len(masters) != self.count // 2 or any(n["port"] not in live for n in masters):
                return False
        return True

    def wait_healthy(self, timeout):
        """Until every live node sees the cluster ok, with a live master serving each slot range."""
        wait_until(self._healthy, timeout, interval=0.2, message="the Redis Cluster to be ok")

    def master_of(self, key):
        """The port of the master that owns `key`'s slot."""
        from redis.cluster import key_slot

        slot = key_slot(key.encode())
        for node in self.nodes():
            if node["role"] != "master" or node["failed"]:
                continue
            for span in node["slots"]:
                if span.startswith("["):  # a slot being migrated
                    continue
                first, _, last = span.partition("-")
                if int(first) <= slot <= int(last or first):
                    return node["port"]
        raise LookupError(f"no master serves slot {slot}")

    def kill(self, port):
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def pause(self, port):
        """Stop the node without closing its connections (SIGSTOP): a host gone, a partition."""
        self.paused.add(port)
        self.processes[port].send_signal(signal.SIGSTOP)

    def close(self):
        for port in self.paused:
            self.processes[port].send_signal(signal.SIGCONT)
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerProcess:
    """One ASGI server process running tests.asgi:application (config.asgi's) with the test settings."""

    KINDS = ("uvicorn", "daphne")

    def __init__(self, kind, env, log_dir):
        if kind not in self.KINDS:
            raise ValueError(f"kind is one of {self.KINDS}")
        self.kind, self.env, self.log_dir = kind, env, Path(log_dir)
        self.process = None
        self.port = None
        self.killed = False  # it did not stop on SIGTERM within the grace period

    def command(self):
        if self.kind == "uvicorn":
            return [
                str(BIN / "uvicorn"),
                "tests.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                os.environ.get("GC_TEST_SERVER_LOG", "warning"),
            ]
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "-v", "1", "tests.asgi:application"]

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self, attempts=3):
        for _ in range(attempts):  # a free port may be taken by someone else before we bind it
            self.port = free_port()
            self.log = self.log_dir / f"{self.kind}-{self.port}.log"
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=self.env,
                stdout=open(self.log, "ab"),
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return self
        raise RuntimeError(f"{self.kind} did not start:\n{self.log_tail()}")

    def _answers(self):
        try:
            urllib.request.urlopen(f"{self.http_url}/healthz", timeout=2)
            return True
        except urllib.error.HTTPError:  # Django answered
            return True
        except OSError:
            return False

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} on port {self.port} did not answer in {START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.killed = True
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines=80):
        return f"--- {self.kind} :{self.port} ---\n{_tail(self.log, lines)}"

    def log_tracebacks(self, limit=5):
        """The last `limit` tracebacks the server logged, each with the line that announced it."""
        try:
            lines = Path(self.log).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        blocks, current = [], None
        for previous, line in zip([""] + lines, lines):
            if line.startswith("Traceback"):
                current = [previous, line]
                blocks.append(current)
            elif current is not None:
                current.append(line)
                if not line.startswith((" ", "\t")):  # the exception's own line ends the block
                    current = None
        return f"--- tracebacks of {self.kind} :{self.port} ---\n" + "\n\n".join("\n".join(b) for b in blocks[-limit:])


def server_env(redis_url, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=test_database_url(),
        REDIS_URL=redis_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def running_servers(kinds, redis_url, **extra_env):
    """Start one server per kind ("uvicorn" or "daphne"), all sharing the test database and
    `redis_url`; yield them once they answer HTTP; stop them at the end. A server that does not
    stop on SIGTERM fails the test."""
    log_dir = tempfile.mkdtemp(prefix="gc-servers-")
    env = server_env(redis_url, **extra_env)
    servers = [ServerProcess(kind, env, log_dir) for kind in kinds]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()
        stuck = [server.log_tail() for server in servers if server.killed]
        shutil.rmtree(log_dir, ignore_errors=True)
    assert not stuck, "servers had to be killed:\n" + "\n".join(stuck)


def logs(servers):
    return "\n".join(server.log_tail() for server in servers)


# --- the client ------------------------------------------------------------------------------


def clean(values):
    """Cell values as a user sees them: a cell set to null and a cell never set are both empty."""
    return {k: v for k, v in values.items() if v is not None}


def sheet_state(sheet_id):
    """(version, {row id: (position, values)}) of a sheet in the database, read in one snapshot."""
    from django.db import connection, transaction

    from sheets.models import Row, Sheet

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        version = Sheet.objects.filter(pk=sheet_id).values_list("version", flat=True).get()
        rows = Row.objects.filter(sheet_id=sheet_id).values_list("pk", "position", "data")
        return version, {pk: (position, clean(data)) for pk, position, data in rows}


class SheetClient:
    """A client of ws/sheets/<id>/ with a local model of the sheet (row id -> position, values).

    It applies what the server sends (ack, ops, replay) strictly in version order, buffering
    anything that arrives early; when a gap lasts `gap_timeout` seconds it sends
    hello{since} (never with gap_timeout None, for tests of what the server does by itself). It
    reconnects when the connection drops, sends hello{since} and resends the
    writes not yet acknowledged with their original op_id. Starting with no state, it learns
    the whole sheet from a replay of the log (since 0), or from `load_snapshot` on reload.
    """

    def __init__(self, url, name="client", gap_timeout=1.0, load_snapshot=None, origin=None):
        self.url, self.name, self.gap_timeout = url, name, gap_timeout
        self.load_snapshot, self.origin = load_snapshot, origin
        self.version = 0
        self.rows = {}
        self.pending = {}  # version -> operation that arrived before the ones preceding it
        self.known = 0  # the highest version the server told us exists
        self.unacked = collections.OrderedDict()  # op_id -> frame, resent after a reconnect
        self.acks = {}  # op_id -> ack frame
        self.rejected = {}  # op_id -> error frame
        self.errors = []
        self.received = collections.Counter()
        self.anomalies = []
        self.invalid_frames = []  # frames that match no schema (core.frames)
        self.connects = 0
        self.close_codes = []
        self.hellos = 0
        self.ws = None
        self.welcome = None
        self._welcomed = asyncio.Event()
        self._changed = asyncio.Event()
        self._stopping = False
        self._online = asyncio.Event()
        self._online.set()
        self._behind_since = None
        self.ops_versions = []  # versions that arrived as `ops` frames (the fan-out)
        self._tasks = []

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self, timeout=15):
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._watch_gaps())]
        await self.wait(lambda: self.welcome is not None, timeout, "the welcome")
        return self

    async def close(self):
        self._stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drop(self):
        """Lose the connection abruptly, as a network failure would (no closing handshake); the
        client reconnects at once unless it is offline."""
        if self.ws is not None:
            self.ws.transport.abort()

    async def go_offline(self):
        """Drop the connection and stay away until go_online(); writes meanwhile are queued."""
        self._online.clear()
        await self.drop()
        await self.wait(lambda: self.ws is None, 10, "the connection to close")

    def go_online(self):
        self._online.set()

    @property
    def connected(self):
        return self._welcomed.is_set()

    async def _run(self):
        delay = 0.05
        while not self._stopping:
            await self._online.wait()
            try:
                async with ws_connect(
                    self.url, origin=self.origin, open_timeout=10, close_timeout=2, max_size=4 * 1024 * 1024
                ) as ws:
                    self.ws = ws
                    delay = 0.05
                    try:
                        async for text in ws:
                            frame = json.loads(text)
                            try:
                                checked("sheet", frame)
                            except FrameInvalid as error:  # failed in wait(): this task must go on
                                self.invalid_frames.append(str(error))
                            await self._handle(frame)
                    finally:
                        self.close_codes.append(ws.close_code)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, websockets.ConnectionClosed, OSError, websockets.InvalidHandshake) as error:
                if not isinstance(error, websockets.ConnectionClosed):
                    self.close_codes.append(type(error).__name__)
            finally:
                self.ws = None
                self._welcomed.clear()
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _send(self, frame):
        ws = self.ws
        if ws is None or not self._welcomed.is_set():
            return False
        try:
            await ws.send(json.dumps(frame))
            return True
        except websockets.ConnectionClosed:
            return False

    # writes ------------------------------------------------------------------------------------

    async def write(self, frame):
        """Send a write frame (edit, insert_rows, ...) with an op_id; it is kept until acknowledged
        or rejected, and resent with the same op_id after a reconnect. Returns the op_id."""
        frame = {**frame, "op_id": frame.get("op_id") or str(uuid.uuid4())}
        self.unacked[frame["op_id"]] = frame
        await self._send(frame)
        return frame["op_id"]

    async def edit(self, row, col, value):
        return await self.write({"type": "edit", "cells": [{"row": row, "col": col, "value": value}]})

    async def result(self, op_id, timeout=15):
        """The ack or the error that answered a write."""
        await self.wait(lambda: op_id in self.acks or op_id in self.rejected, timeout, f"the answer to {op_id}")
        return self.acks.get(op_id) or self.rejected[op_id]

    # incoming ----------------------------------------------------------------------------------

    async def _handle(self, frame):
        kind = frame.get("type")
        self.received[kind] += 1
        if kind == "welcome":
            self.welcome = frame
            self.connects += 1
            self._welcomed.set()
            self._saw(frame["version"])
            if frame["version"] > self.version:
                await self.hello()
            for queued in list(self.unacked.values()):
                await self._send(queued)
        elif kind == "ack":
            self.unacked.pop(frame["op_id"], None)
            self.acks[frame["op_id"]] = frame
            self._saw(frame["version"])
            self._buffer({"version": frame["version"], "kind": frame["kind"], "changes": frame["changes"]})
        elif kind == "ops":
            self.ops_versions.append(frame["version"])
            self._saw(frame["version"])
            self._buffer(frame)
        elif kind == "replay":
            self._saw(frame["version"])
            reaches_us = bool(frame["ops"]) and frame["ops"][0]["version"] <= self.version + 1
            for operation in frame["ops"]:
                self._buffer(operation)
            self._drain()
            # A replay that starts at or below our version brings us to the version it names. (One
            # the server starts after Redis comes back begins after the last version it sent us,
            # which may be above ours: then the gap stays, and we ask for it.)
            if reaches_us and self.version < frame["version"]:
                self.anomalies.append(f"replay to v{frame['version']} left the client at v{self.version}")
        elif kind == "reload":
            self._saw(frame["version"])
            await self._reload()
        elif kind == "pong":
            self._saw(frame["version"])
        elif kind == "error":
            self.errors.append(frame)
            op_id = frame.get("op_id")
            if frame.get("code") == "rate_limited" and op_id in self.unacked:
                asyncio.get_running_loop().call_later(
                    frame.get("retry_after") or 0.1,
                    lambda: asyncio.ensure_future(self._send(self.unacked[op_id])) if op_id in self.unacked else None,
                )
            elif op_id in self.unacked:
                self.rejected[op_id] = frame
                self.unacked.pop(op_id)
        self._drain()
        self._changed.set()

    def _saw(self, version):
        self.known = max(self.known, version)

    def _buffer(self, operation):
        if operation["version"] > self.version:
            self.pending[operation["version"]] = operation

    def _drain(self):
        while self.version + 1 in self.pending:
            operation = self.pending.pop(self.version + 1)
            self._apply(operation)
            self.version = operation["version"]
        for stale in [v for v in self.pending if v <= self.version]:
            del self.pending[stale]

    async def _reload(self):
        if self.load_snapshot is None:
            self.anomalies.append("reload asked but no snapshot loader")
            return
        version, rows = await self.load_snapshot()
        if version >= self.version:
            self.version = version
            self.rows = {pk: {"position": position, "values": dict(values)} for pk, (position, values) in rows.items()}

    def _apply(self, operation):
        kind, changes = operation["kind"], operation["changes"]
        if kind == "cells.update":
            for cell in changes["cells"]:
                row = self.rows.get(cell["row"])
                if row is None:
                    self.anomalies.append(f"v{operation['version']}: cell of unknown row {cell['row']}")
                else:
                    row["values"][cell["col"]] = cell["value"]
        elif kind == "rows.insert":
            for row in changes["rows"]:
                self.rows[row["id"]] = {"position": row["position"], "values": dict(row["values"])}
            self._reposition(changes.get("repositioned", {}))
        elif kind == "rows.delete":
            for row_id in changes["ids"]:
                if self.rows.pop(row_id, None) is None:
                    self.anomalies.append(f"v{operation['version']}: delete of unknown row {row_id}")
        elif kind == "rows.move":
            self._reposition(dict(zip(changes["ids"], changes["positions"])))
            self._reposition(changes.get("repositioned", {}))
        elif kind == "column.retype":
            if changes.get("reload"):  # too many values to send: a client loads the sheet again
                self.anomalies.append(f"v{operation['version']}: retype needs a reload")
                return
            for row_id, value in changes["values"].items():
                self.rows[int(row_id)]["values"][changes["key"]] = value
        # sheet.create, sheet.rename and the other column operations leave the cells as they are

    def _reposition(self, positions):
        for row_id, position in positions.items():
            row = self.rows.get(int(row_id))
            if row is not None:
                row["position"] = position

    async def hello(self):
        self.hellos += 1
        self._behind_since = None
        await self._send({"type": "hello", "since": self.version})

    async def _watch_gaps(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.05)
            if self.gap_timeout is None:  # a client that never asks: it relies on the server
                continue
            if self.pending or self.known > self.version:
                if self._behind_since is None:
                    self._behind_since = loop.time()
                elif loop.time() - self._behind_since >= self.gap_timeout and self.connected:
                    await self.hello()
            else:
                self._behind_since = None

    # what tests look at ------------------------------------------------------------------------

    async def wait(self, condition, timeout, what="condition"):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert not self.invalid_frames, f"{self.name}: frames that match no schema: {self.invalid_frames[:3]}"
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: timed out after {timeout} s waiting for {what} ({self.status()})")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    async def synced(self, version, timeout=30):
        """Wait until every write of this client is answered and it has applied up to `version`."""
        await self.wait(lambda: not self.unacked and self.version >= version, timeout, f"version {version}")

    def model(self):
        return {pk: (row["position"], clean(row["values"])) for pk, row in self.rows.items()}

    def status(self):
        return (
            f"version {self.version}, known {self.known}, pending {sorted(self.pending)[:5]}, "
            f"unacked {len(self.unacked)}, connects {self.connects}, closes {self.close_codes[-5:]}, "
            f"hellos {self.hellos}"
        )

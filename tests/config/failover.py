"""Failover under load (issue 19), shared by tests/config/test_failover.py and bench/failover.py:
`make serve`'s stack (config.serve: two uvicorn processes behind HAProxy, the analytics worker,
under honcho) on a PostgreSQL cluster and a Redis of its own, which can be restarted without
touching the machine's shared ones; clients editing through HAProxy while one part fails; and the
checks that follow (no acknowledged edit lost, every client equal to the database, the lake equal
to the database, how long each client took to be back).

Nothing here needs pytest: the bench runs it as a plain script.
"""

import asyncio
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

from ..realtime.servers import REPO, RedisProcess, SheetClient, clean, free_port, wait_until

FAULTS = ("web", "worker", "redis", "postgres")  # and "none": the baseline, nothing fails


def free_pair():
    """A port whose next one is free too (web.1 and web.2 of honcho)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two free ports in a row")


def alive(pid):
    """Whether `pid` runs (a zombie does not). It may be reaped between any two looks."""
    try:
        os.kill(pid, 0)
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except (ProcessLookupError, FileNotFoundError):
        return False


# --- a PostgreSQL of its own -------------------------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb in a temporary directory) on a free port, run as the
    `postgres` user (PostgreSQL refuses root): restarted under load, removed at the end."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gc-postgres-"))
        self.data, self.log = self.dir / "data", self.dir / "postgres.log"
        shutil.chown(self.dir, "postgres", "postgres")

    def url(self, name):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, program, *args, check=True):
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*as_postgres, str(self.bin / program), *args], capture_output=True, text=True, check=check, timeout=120
        )

    def _ctl(self, *args, check=True):
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args, check=check)

    def start(self):
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c fsync=off -c full_page_writes=off -c shared_buffers=64MB"
        )
        done = self._ctl("-o", options, "start", check=False)
        if done.returncode:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{self.log.read_text(errors='replace')}")
        return self

    def restart(self, mode="fast"):
        """Stop (fast: connections are ended, the rest is kept; immediate: as a crash) and start again."""
        self._ctl("-m", mode, "stop")
        self.start()

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop", check=False)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the stack -----------------------------------------------------------------------------------


class Served:
    """config.serve (honcho running deploy/Procfile) in its own process group; its output in a file."""

    def __init__(self, var, database_url, redis_url, data_path=None, web_processes=2):
        self.port, self.base = free_port(), free_pair()
        self.var = Path(var)
        self.var.mkdir(parents=True, exist_ok=True)
        self.log = self.var / "serve.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "GRIDCAST_VAR_DIR": str(self.var / "var"),
            "ANALYTICS_DATA_PATH": data_path or str(self.var / "var" / "lake"),
            "PORT": str(self.port),
            "WEB_BASE_PORT": str(self.base),
            "WEB_PROCESSES": str(web_processes),
            "SUPERSET": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.servers = {f"web{i + 1}" for i in range(web_processes)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.serve"],
            cwd=REPO,
            env=self.env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, sheet_id, key):
        return self.url.replace("http", "ws") + f"/ws/sheets/{sheet_id}/?token={key}"

    def output(self):
        return self.log.read_text(errors="replace")

    def served_by(self):
        with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
            return response.headers["X-Gridcast-Server"]

    def all_up(self):
        try:
            return {self.served_by() for _ in range(3 * len(self.servers))} == self.servers
        except OSError:
            return False

    def wait_up(self, timeout=120):
        try:
            wait_until(self.all_up, timeout, 0.25, "every web process to answer through HAProxy")
        except BaseException:
            self.stop()
            print(self.output())
            raise
        return self

    def pid(self, process, program):
        """The pid of `program` that honcho's `process` (web.1, ...) runs (under deploy/restarting)."""
        found = re.search(rf"{re.escape(process)} started \(pid=(\d+)\)", self.output())
        pending = [int(found.group(1))]
        while pending:
            pid = pending.pop()
            try:
                args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):  # gone between two looks
                continue
            if any(arg.endswith(program) for arg in args[:2]) and "deploy/restarting" not in args:
                return pid
            pending += [int(child) for child in children]
        raise AssertionError(f"no {program} under {process}")

    def manage(self, *args, timeout=120):
        """A manage.py command in the stack's environment (config.serve's `manage`); its output."""
        done = subprocess.run(
            [sys.executable, "-m", "config.serve", "manage", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


_ROOM = """
import json
from accounts.models import ApiToken, Role
from sheets.models import Row
from tests.factories import WorkspaceFactory, make_sheet, member
workspace = WorkspaceFactory(name="Failover")
people = [member(workspace, Role.OWNER if i == 0 else Role.EDITOR) for i in range(%(people)d)]
sheet = make_sheet(workspace, people[0], rows=%(rows)d, name="Failover",
                   columns=[{"name": "A"}, {"name": "B"}, {"name": "N", "type": "integer"}])
rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
print(json.dumps({"sheet": sheet.pk, "rows": rows,
                  "keys": [ApiToken.issue(user=person, name="failover")[1] for person in people]}))
"""

_LAKE = """
import time
from tests.analytics.sheet_lake import assert_lake_matches
deadline, error = time.monotonic() + %(timeout)s, None
while time.monotonic() < deadline:
    try:
        assert_lake_matches(%(sheet)d)
        print("lake matches")
        break
    except Exception as failed:
        error = failed
        time.sleep(0.5)
else:
    print("lake differs:", repr(error)[:2000])
"""


class Stack:
    """A private PostgreSQL cluster and Redis, and config.serve on them; a sheet to edit."""

    def __init__(self, var, web_processes=2):
        self.var = Path(var)
        self.postgres = self.redis = self.served = None
        self.postgres_restarts = 0
        try:
            self.postgres = PostgresCluster().start()
            self.redis = RedisProcess().start()
            self.served = Served(
                self.var, self.postgres.url("gridcast_failover"), self.redis.url, web_processes=web_processes
            ).wait_up()
        except BaseException:
            self.close()
            raise
        self.database = self.postgres.url("gridcast_failover")

    def room(self, people=4, rows=20):
        """(sheet id, row ids, API keys of `people` editors) of a new sheet."""
        made = json.loads(self.served.manage("shell", "-c", _ROOM % {"people": people, "rows": rows}).splitlines()[-1])
        return made["sheet"], made["rows"], made["keys"]

    def lake_matches(self, sheet_id, timeout=60):
        """Whether the sheet's lake view equals PostgreSQL within `timeout` s (the worker catching up)."""
        out = self.served.manage("shell", "-c", _LAKE % {"sheet": sheet_id, "timeout": timeout}, timeout=timeout + 60)
        return out.strip().splitlines()[-1]

    # the faults ---------------------------------------------------------------------------------

    def fault(self, kind):
        """Make `kind` fail; return once it is started again (by deploy/restarting for a process)."""
        if kind in ("web", "worker"):
            process, program = ("web.1", "uvicorn") if kind == "web" else ("worker.1", "python")
            pid = self.served.pid(process, program)
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not alive(pid), 10, 0.05, f"{process} to die")
        elif kind == "redis":
            self.redis.stop(kill=True)
            time.sleep(1.0)  # down for a while, clients editing
            self.redis.start()
        elif kind == "postgres":
            # Fast (connections ended, a checkpoint), then immediate (as a crash: recovery from
            # the WAL), in turns.
            self.postgres_restarts += 1
            self.postgres.restart("fast" if self.postgres_restarts % 2 else "immediate")
        elif kind != "none":
            raise ValueError(f"a fault is one of {FAULTS}")

    # the database as it is -----------------------------------------------------------------------

    def sheet_state(self, sheet_id):
        """(version, {row id: (position, values)}) in one snapshot of the database."""
        with psycopg.connect(self.database) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            version = conn.execute("SELECT version FROM sheets_sheet WHERE id = %s", [sheet_id]).fetchone()[0]
            rows = conn.execute("SELECT id, position, data FROM sheets_row WHERE sheet_id = %s", [sheet_id]).fetchall()
        return version, {pk: (position, clean(data)) for pk, position, data in rows}

    def logged(self, sheet_id):
        """{op_id: version} of the sheet's operation log."""
        with psycopg.connect(self.database) as conn:
            found = conn.execute(
                "SELECT op_id, version FROM sheets_operation WHERE sheet_id = %s AND op_id IS NOT NULL", [sheet_id]
            ).fetchall()
        return {str(op_id): version for op_id, version in found}

    def close(self):
        for part in (self.served, self.redis, self.postgres):
            if part is not None:
                try:
                    (part.stop if part is self.served else part.close)()
                except Exception as error:  # the others are stopped all the same
                    print(f"could not stop {type(part).__name__}: {error}", file=sys.stderr)


# --- the clients ---------------------------------------------------------------------------------


class Editor(SheetClient):
    """A SheetClient that does what the front end does with `server_error` (frontend/src/sheet/
    socket.js): send the write again a second later, rather than give it up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.server_errors = 0
        self.welcomed_at = []  # time.monotonic() of each welcome

    async def _handle(self, frame):
        op_id = frame.get("op_id")
        if frame.get("type") == "welcome":
            self.welcomed_at.append(time.monotonic())
        if frame.get("type") == "error" and frame.get("code") == "server_error" and op_id in self.unacked:
            self.received["error"] += 1
            self.server_errors += 1

            def again():
                if op_id in self.unacked:
                    asyncio.ensure_future(self._send(self.unacked[op_id]))

            asyncio.get_running_loop().call_later(1.0, again)
            return
        await super()._handle(frame)


async def keep_editing(client, rows, stop, tag, pause):
    """Edit random cells (values unique to this client), now and then add a row, until `stop`."""
    rng = random.Random(tag)
    number, due = 0, time.monotonic()
    while not stop.is_set():
        number += 1
        if number % 25 == 0:
            await client.write({"type": "insert_rows", "rows": [{"c1": f"{tag} row {number}"}]})
        else:
            await client.edit(rng.choice(rows), rng.choice(["c1", "c2"]), f"{tag} {number}")
        # On a schedule (the time a write takes is not added to the pause), that never catches up
        # more than one write after the loop was held up (a fault made in it, say).
        due = max(due, time.monotonic() - pause) + pause * (0.5 + rng.random())
        await asyncio.sleep(max(0.0, due - time.monotonic()))


class Load:
    """`count` Editors through HAProxy, each editing every `pause` s (on average) until stopped."""

    def __init__(self, stack, sheet_id, rows, keys, count=20, pause=0.5):
        self.stack, self.sheet_id, self.rows, self.keys = stack, sheet_id, rows, keys
        self.count, self.pause = count, pause
        self.clients, self.tasks, self.stopping = [], [], asyncio.Event()

    async def _snapshot(self):
        return await asyncio.to_thread(self.stack.sheet_state, self.sheet_id)

    async def start(self):
        for n in range(self.count):
            url = self.stack.served.ws_url(self.sheet_id, self.keys[n % len(self.keys)])
            self.clients.append(await Editor(url, f"editor{n}", load_snapshot=self._snapshot).start(30))
        for n, client in enumerate(self.clients):
            tag = f"e{n}.{time.monotonic():.3f}"
            self.tasks.append(asyncio.create_task(keep_editing(client, self.rows, self.stopping, tag, self.pause)))
        return self

    async def acks_grow(self, by=3, timeout=60):
        """Until every client has `by` more acknowledged writes."""
        before = [len(c.acks) for c in self.clients]
        for client, count in zip(self.clients, before):
            await client.wait(lambda c=client, n=count: len(c.acks) >= n + by, timeout, f"{by} more acks")

    async def back(self, restored, timeout=60):
        """Seconds from `restored` until each client is back: connected, every write it had sent
        answered, and caught up with the version the database had at `restored`."""
        version, _ = await asyncio.to_thread(self.stack.sheet_state, self.sheet_id)

        async def one(client):
            waiting = set(client.unacked)
            await client.wait(
                lambda: client.connected and not (waiting & set(client.unacked)) and client.version >= version,
                timeout,
                "to be back",
            )
            return time.monotonic() - restored

        return list(await asyncio.gather(*(one(client) for client in self.clients)))

    async def stop(self):
        self.stopping.set()
        await asyncio.gather(*self.tasks)

    async def converged(self, timeout=60):
        """Every write answered and every client equal to the database; returns the database's state."""
        for client in self.clients:
            await client.wait(lambda c=client: not c.unacked, timeout, "its writes to be answered")
        version, state = await asyncio.to_thread(self.stack.sheet_state, self.sheet_id)
        for client in self.clients:
            await client.synced(version, timeout)
        differing = [c.name for c in self.clients if c.version != version or c.model() != state]
        return version, state, differing

    def lost(self):
        """Acknowledged writes that are not in the log with the version of their ack."""
        logged = self.stack.logged(self.sheet_id)
        acked = {op_id: ack["version"] for c in self.clients for op_id, ack in c.acks.items()}
        return {op_id: version for op_id, version in acked.items() if logged.get(op_id) != version}

    def status(self):
        return "\n".join(f"{c.name}: {c.status()} {dict(c.received)}" for c in self.clients)

    async def close(self):
        self.stopping.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(client.close() for client in self.clients))


async def failover(stack, sheet_id, rows, keys, kind, clients=20, pause=0.5, settle=2.0):
    """One fault of `kind` while `clients` clients edit: a dict of what came of it (seconds each
    client took to be back, acknowledged writes lost, clients differing from the database, rejected
    writes, the lake's verdict)."""
    load = await Load(stack, sheet_id, rows, keys, clients, pause).start()
    try:
        await load.acks_grow(3)
        started = time.monotonic()
        await asyncio.to_thread(stack.fault, kind)
        restored = time.monotonic()
        back = await load.back(restored)
        await asyncio.sleep(settle)  # editing goes on after the fault
        await load.acks_grow(3)
        await load.stop()
        version, _, differing = await load.converged()
        return {
            "kind": kind,
            "down": restored - started,
            "back": back,
            # seconds from the fault until the welcome of each client that had to reconnect
            "reconnected": [
                next(t for t in c.welcomed_at if t > started) - started
                for c in load.clients
                if any(t > started for t in c.welcomed_at)
            ],
            "acked": sum(len(c.acks) for c in load.clients),
            "lost": load.lost(),
            "differing": differing,
            "rejected": sum(len(c.rejected) for c in load.clients),
            "retried": sum(c.server_errors for c in load.clients),
            "reconnects": sum(c.connects - 1 for c in load.clients),
            "anomalies": [a for c in load.clients for a in c.anomalies],
            "version": version,
            "lake": await asyncio.to_thread(stack.lake_matches, sheet_id),
        }
    except BaseException:
        print(load.status())
        raise
    finally:
        await load.close()

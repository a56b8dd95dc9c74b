"""What the benchmarks share: their own PostgreSQL database, a server subprocess on a free
loopback port, CPU time from /proc, percentiles, and cell values of the right type.

Import it after putting the repository on sys.path (the scripts do, like this:
`sys.path.insert(0, str(ROOT))` then `from bench import common`).
"""

import datetime as dt
import http.client
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


# --- the database ------------------------------------------------------------------------------


def bench_database_url(suffix, script):
    """(url, name) of the benchmark's own database: <name in DATABASE_URL>_<suffix>."""
    url = urlsplit(os.environ["DATABASE_URL"])
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit(f"{script} needs PostgreSQL in DATABASE_URL")
    name = (url.path.lstrip("/") or "gridcast") + "_" + suffix
    return urlunsplit(url._replace(path="/" + name)), name


def own_database(suffix, script):
    """Recreate the benchmark's own database (bench_database_url), make it the one Django uses and
    set Django up; (url, name) for drop_database at the end."""
    url, name = bench_database_url(suffix, script)
    recreate_database(url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    return url, name


def _server_url(url):
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def recreate_database(url, name):
    import psycopg

    with psycopg.connect(_server_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url, name):
    import psycopg

    with psycopg.connect(_server_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(url, name):
    import psycopg

    with psycopg.connect(_server_url(url), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


# --- processes ---------------------------------------------------------------------------------


def cpu_seconds(pid):
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_answers(port, path="/"):
    """Whether anything answers HTTP on the port (any status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    finally:
        conn.close()


class Server:
    """config.asgi served by daphne or uvicorn on a free loopback port, as a subprocess.

    uvicorn runs as the browser tests and bench/fanout.py run it: no lifespan, no access log,
    log level warning (the WebSocket token is in the query string), no permessage-deflate.
    """

    KINDS = ("daphne", "uvicorn")

    def __init__(self, env, kind="daphne"):
        if kind not in self.KINDS:
            raise ValueError(f"kind is one of {self.KINDS}")
        self.kind = kind
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"gridcast-bench-{kind}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def command(self):
        binary = str(Path(sys.executable).with_name(self.kind))
        if self.kind == "daphne":
            return [binary, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"]
        return [
            binary,
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--ws-per-message-deflate",
            "false",
        ]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait(self, ready=None, timeout=60):
        """Wait until ready() is true (an OSError counts as not yet); by default, until the
        server answers HTTP at all. Exits with the end of the server's log if it does not."""
        ready = ready or (lambda: http_answers(self.port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        output = self.output()
        self.stop()
        sys.exit(f"{self.kind} did not come up:\n{output}")

    def output(self, chars=3000):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-chars:]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()
            os.unlink(self.log.name)


# --- figures -----------------------------------------------------------------------------------


def percentile(samples, p):
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class CellValues:
    """Random values of the right type for each column (column dicts as Column.as_dict gives)."""

    def __init__(self, columns, rng):
        self.columns = columns
        self.rng = rng

    def value(self, column):
        rng = self.rng
        kind = column["type"]
        if kind == "number":
            return round(rng.uniform(0, 5000), 2)
        if kind == "integer":
            return rng.randint(1, 50)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "date":
            return (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(731))).isoformat()
        if kind == "datetime":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:30:00Z"
        if kind == "choice":
            return rng.choice(column["options"]["choices"])
        return f"edited {rng.randrange(10**6)}"

    def batch(self, row_ids, size):
        cells = []
        for _ in range(size):
            column = self.rng.choice(self.columns)
            cells.append({"row": self.rng.choice(row_ids), "col": column["key"], "value": self.value(column)})
        return cells

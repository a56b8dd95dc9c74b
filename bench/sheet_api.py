"""The sheet API on a million-row sheet: how long seeding takes, and the latency of row windows and
cell batches over HTTP against the real server (daphne), with the targets they must meet.

    DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench \\
        .venv/bin/python bench/sheet_api.py [--rows 1000000 --cols 20 --samples 300]

It works in its own database, <name in DATABASE_URL>_sheet_api, which it drops and creates.
"""

import argparse
import http.client
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")

from bench.common import (  # noqa: E402
    CellValues,
    Server,
    bench_database_url,
    cpu_seconds,
    drop_database,
    percentile,
    recreate_database,
)

TARGET_MS = {"window": 50, "update": 50}
TARGET_SEED_S = 60


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--samples", type=int, default=300, help="timed requests per measurement")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests before each measurement")
    parser.add_argument("--cold", type=int, default=5, help="cold windows, each after a layout change")
    parser.add_argument("--window", type=int, default=200, help="rows per window")
    parser.add_argument("--cells", type=int, default=100, help="cells per update batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the API on the database an earlier --keep left")
    return parser.parse_args()


# --- the server --------------------------------------------------------------------------------


class ServerCpu:
    """CPU that daphne spends per request (PostgreSQL's share is not counted: under ASGI each
    request opens its own connection, so its backends come and go)."""

    def __init__(self, server):
        self.pid = server.process.pid

    def snapshot(self):
        return cpu_seconds(self.pid)

    def per_request_ms(self, before, requests):
        return (self.snapshot() - before) * 1000 / requests


class Client:
    """One keep-alive HTTP connection with an API token, like a browser tab's."""

    def __init__(self, port, token):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn = None

    def reset(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def timed(self, method, path, body=None):
        """(milliseconds, status, body) of one request, measured from sending to the last byte read."""
        payload = None if body is None else json.dumps(body)
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        started = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return (time.perf_counter() - started) * 1000, response.status, data


def expect(status, data, wanted=200):
    if status != wanted:
        sys.exit(f"unexpected HTTP {status}: {data[:500]!r}")


# --- measurements ------------------------------------------------------------------------------


def window_path(sheet_id, offset, limit):
    return f"/api/v1/sheets/{sheet_id}/rows/?offset={offset}&limit={limit}"


def measure_windows(client, sheet_id, total, args, rng):
    times = []
    for i in range(args.warmup + args.samples):
        offset = rng.randrange(max(1, total - args.window))
        ms, status, data = client.timed("GET", window_path(sheet_id, offset, args.window))
        expect(status, data)
        if i < 5 or i % 50 == 0:  # the answer is the right window, not only fast
            window = json.loads(data)
            assert len(window["rows"]) == args.window and window["rows"][0]["index"] == offset, window.keys()
        if i >= args.warmup:
            times.append(ms)
    return times


def measure_cold_windows(client, sheet_id, rows, args, rng):
    """The first window after each layout change (here: one row added) rebuilds the process's
    checkpoint cache."""
    times = []
    for _ in range(args.cold):
        status, data = client.request("POST", f"/api/v1/sheets/{sheet_id}/rows/", {"count": 1})
        expect(status, data, 201)
        rows += 1
        offset = rng.randrange(max(1, rows - args.window))
        ms, status, data = client.timed("GET", window_path(sheet_id, offset, args.window))
        expect(status, data)
        times.append(ms)
    return times


def measure_updates(client, sheet_id, row_ids, columns, args, rng):
    values = CellValues(columns, rng)
    times = []
    for i in range(args.warmup + args.samples):
        body = {"op_id": str(uuid.uuid4()), "cells": values.batch(row_ids, args.cells)}
        ms, status, data = client.timed("POST", f"/api/v1/sheets/{sheet_id}/cells/", body)
        expect(status, data)
        if i < 5:
            assert len(json.loads(data)["changes"]["cells"]) == args.cells
        if i >= args.warmup:
            times.append(ms)
    return times


# --- the report --------------------------------------------------------------------------------


def report(args, seed_seconds, first, cold, warm, updates, loads):
    """warm and updates are (latencies in ms, daphne's CPU ms per request)."""
    from rich.console import Console
    from rich.table import Table

    def verdict(value, target):
        return "[green]PASS[/]" if value < target else "[red]MISS[/]"

    def cpu(spent):
        return f"{spent:.1f} ms"

    (warm, warm_cpu), (updates, update_cpu) = warm, updates
    title = f"Sheet API, {args.rows:,} rows × {args.cols} columns"
    if seed_seconds is None:
        title += " (database reused, not seeded)"
    table = Table(title=title, title_justify="left")
    for name in ["measure", "p50", "p99", "daphne CPU\n/request", "target", ""]:
        table.add_column(name, justify="left" if name in ("measure", "") else "right")
    if seed_seconds is not None:
        table.add_row(
            f"seed {args.rows:,} × {args.cols}",
            f"{seed_seconds:.1f} s",
            "",
            "",
            f"< {TARGET_SEED_S} s",
            verdict(seed_seconds, TARGET_SEED_S),
        )
    table.add_row(
        f"{args.window}-row window, warm (n={len(warm)})",
        f"{statistics.median(warm):.1f} ms",
        f"{percentile(warm, 99):.1f} ms",
        cpu(warm_cpu),
        f"p99 < {TARGET_MS['window']} ms",
        verdict(percentile(warm, 99), TARGET_MS["window"]),
    )
    table.add_row(f"{args.window}-row window, cold: first after server start", f"{first:.1f} ms", "", "", "", "")
    table.add_row(
        f"{args.window}-row window, cold: first after a layout change (n={len(cold)}, p99 = max)",
        f"{statistics.median(cold):.1f} ms",
        f"{max(cold):.1f} ms",
        "",
        "",
        "",
    )
    table.add_row(
        f"{args.cells}-cell update (n={len(updates)})",
        f"{statistics.median(updates):.1f} ms",
        f"{percentile(updates, 99):.1f} ms",
        cpu(update_cpu),
        f"p99 < {TARGET_MS['update']} ms",
        verdict(percentile(updates, 99), TARGET_MS["update"]),
    )
    console = Console(width=120)
    console.print(table)
    console.print(
        f"{os.cpu_count()} CPUs; 1-minute load average {loads[0]:.2f} before the requests, {loads[1]:.2f} after."
    )
    return (
        (seed_seconds is None or seed_seconds < TARGET_SEED_S)
        and percentile(warm, 99) < TARGET_MS["window"]
        and percentile(updates, 99) < TARGET_MS["update"]
    )


def main():
    args = parse_args()
    url, name = bench_database_url("sheet_api", "bench/sheet_api.py")
    if not args.reuse:
        recreate_database(url, name)
    os.environ["DATABASE_URL"] = url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import ApiToken, User
    from sheets.models import Row, Sheet

    seed_seconds = None
    if not args.reuse:
        call_command("migrate", verbosity=0)
        print(f"Seeding {args.rows:,} rows × {args.cols} columns into {name} …", flush=True)
        started = time.perf_counter()
        call_command("seed_demo", rows=args.rows, cols=args.cols, seed=args.seed, verbosity=0, stdout=io.StringIO())
        seed_seconds = time.perf_counter() - started
        print(f"seed: {seed_seconds:.1f} s", flush=True)

    sheet = Sheet.objects.get(workspace__name="Demo", name="orders")
    editor = User.objects.get(email="editor@demo.gridcast")
    _, key = ApiToken.issue(user=editor, name="bench")
    row_ids = list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True))
    args.rows = len(row_ids)
    columns = [c.as_dict() for c in sheet.columns.filter(deleted=False).order_by("position")]
    args.cols = len(columns)
    connection.close()

    server = Server({**os.environ, "DATABASE_URL": url})
    rng = random.Random(args.seed)
    try:
        client = Client(server.port, key)

        def ready():
            try:
                return client.request("GET", "/api/v1/sheets/")[0] == 200
            except OSError:
                client.reset()
                raise

        server.wait(ready)
        for _ in range(5):  # the process, its imports and its database connection, but not the row cache
            expect(*client.request("GET", f"/api/v1/sheets/{sheet.pk}/columns/"))
        first, status, data = client.timed("GET", window_path(sheet.pk, rng.randrange(len(row_ids)), args.window))
        expect(status, data)
        print(f"first window after start: {first:.1f} ms", flush=True)
        cpu = ServerCpu(server)
        load_before = os.getloadavg()[0]
        cold = measure_cold_windows(client, sheet.pk, len(row_ids), args, rng)
        before = cpu.snapshot()
        warm = measure_windows(client, sheet.pk, len(row_ids) + args.cold, args, rng)
        warm_cpu = cpu.per_request_ms(before, args.warmup + args.samples)
        before = cpu.snapshot()
        updates = measure_updates(client, sheet.pk, row_ids, columns, args, rng)
        update_cpu = cpu.per_request_ms(before, args.warmup + args.samples)
        loads = (load_before, os.getloadavg()[0])
        client.reset()
    finally:
        server.stop()
        if not args.keep:
            drop_database(url, name)
    passed = report(args, seed_seconds, first, cold, (warm, warm_cpu), (updates, update_cpu), loads)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()

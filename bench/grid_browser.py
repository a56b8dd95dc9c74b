"""The sheet page in headless Chromium on a million-row sheet: time to the first rendered rows,
scroll frame times while jumping to random rows, and the main thread's busy share while 500
remote edits a second land on the visible cells.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/grid_browser.py [--rows 1000000 --cols 20] [--keep | --reuse]

It works in its own database, <name in DATABASE_URL>_grid_browser, which it drops, creates and
seeds (`seed_demo`), unless --reuse names one an earlier --keep left. The page is served by
uvicorn and opened in Debian's Chromium (/usr/bin/chromium, GC_CHROMIUM to change it) through
Playwright, logged in as the demo editor with a session cookie. The front end must be built
(`make frontend`). It prints its figures next to the targets and exits 0 either way: it is run
by hand, on a machine others share.
"""

import argparse
import asyncio
import io
import json
import multiprocessing as mp
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
    database_exists,
    drop_database,
    percentile,
    recreate_database,
)

CHROMIUM = os.environ.get("GC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-extensions",
]
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"
RATE_LIMIT = 100  # the server's default edits/s per connection (GRIDCAST_WS_EDITS_PER_SECOND)

TARGET_FIRST_ROWS_MS = 400  # issue 18
TARGET_FRAME_P95_MS = 17  # issue 18: a frame at 60 Hz
TARGET_BUSY_SHARE = 0.30


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loads", type=int, default=10, help="timed page loads, each in a fresh browser context")
    parser.add_argument("--scroll-seconds", type=float, default=5, help="length of the random-jump scroll")
    parser.add_argument("--jump-frames", type=int, default=2, help="jump to a random row every this many frames")
    parser.add_argument(
        "--jumps", type=int, default=30, help="jumps timed until their rows are loaded and drawn (one at a time)"
    )
    parser.add_argument("--rate", type=int, default=500, help="remote edits per second in total")
    parser.add_argument("--writers", type=int, default=5, help="writer connections the edits are spread over")
    parser.add_argument("--writer-processes", type=int, default=1, help="processes the writer connections run in")
    parser.add_argument("--edit-seconds", type=float, default=10, help="length of the busy-share measurement")
    parser.add_argument("--viewport", default="1280x800", help="browser window size, WIDTHxHEIGHT")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also take a JavaScript CPU profile of the scroll and the edits and print the top functions",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also record a Chrome trace of the scroll and the edits and print where the page's main "
        "thread spent its time (the figures are then inflated by the tracing)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the database an earlier --keep left (no seeding)")
    args = parser.parse_args()
    width, height = args.viewport.lower().split("x")
    args.viewport = {"width": int(width), "height": int(height)}
    return args


# --- the database and the server ---------------------------------------------------------------


def prepare(args, url, name):
    """Seed (or reuse) the database; return (sheet id, rows, columns, editor, API token, seconds)."""
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
    try:
        sheet = Sheet.objects.get(workspace__name="Demo", name="orders")
    except Sheet.DoesNotExist:
        sys.exit(f"{name} has no Demo/orders sheet: run once without --reuse (and with --keep)")
    editor = User.objects.get(email="editor@demo.gridcast")
    _, key = ApiToken.issue(user=editor, name="bench grid_browser")
    rows = Row.objects.filter(sheet=sheet).count()
    columns = sheet.columns.filter(deleted=False).count()
    connection.close()
    return sheet.pk, rows, columns, editor, key, seed_seconds


def session_cookie(user, url):
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    connection.close()
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": url,
    }


# --- in the page -------------------------------------------------------------------------------

# Before any of the page's scripts: note when cells with text, not loading, first are in the DOM,
# and the start of the frame after that (by then they were painted).
FIRST_ROWS_SCRIPT = """
(() => {
  const mark = { dom: null, painted: null };
  window.__gcFirst = mark;
  const drawn = () => {
    for (const cell of document.querySelectorAll('.gc-cell:not(.loading):not([hidden])')) if (cell.textContent) return true;
    return false;
  };
  const observer = new MutationObserver(() => {
    if (mark.dom !== null || !drawn()) return;
    mark.dom = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => { mark.painted = performance.now(); });
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['class'] });
})();
"""

FIRST_ROWS_FIGURES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const rows = performance.getEntriesByType('resource').filter((e) => e.name.includes('/rows/'));
  const scripts = performance.getEntriesByType('resource').filter((e) => e.initiatorType === 'script' || e.name.endsWith('.js'));
  return {
    dom: window.__gcFirst.dom, painted: window.__gcFirst.painted,
    html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
    scripts: scripts.length ? Math.max(...scripts.map((e) => e.responseEnd)) : null,
    rowsStart: rows.length ? rows[0].startTime : null, rowsEnd: rows.length ? rows[0].responseEnd : null,
  };
}"""

# Time every grid.render() (the page's one draw per frame) and tell a hook when one is done.
INSTRUMENT = """() => {
  const grid = window.gridcast.grid;
  const render = grid.render;
  window.__gcRenders = [];
  window.__gcAfterRender = null;
  grid.render = function () {
    const t0 = performance.now();
    render.call(this);
    const t1 = performance.now();
    window.__gcRenders.push(t1 - t0);
    if (window.__gcAfterRender) window.__gcAfterRender(t1);
  };
}"""

# rAF intervals while jumping the scroller to a random position every `every` frames.
SCROLL_JUMPS = """async ([seconds, every]) => {
  const scroller = document.querySelector('.gc-scroller');
  window.__gcRenders = [];
  const intervals = [];
  let last = null, frame = 0, jumps = 0;
  const end = performance.now() + seconds * 1000;
  await new Promise((resolve) => {
    const tick = (t) => {
      if (last !== null) intervals.push(t - last);
      last = t;
      if (performance.now() >= end) return resolve();
      if (frame++ % every === 0) {
        scroller.scrollTop = Math.random() * (scroller.scrollHeight - scroller.clientHeight);
        jumps++;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  return { intervals, jumps, renders: window.__gcRenders };
}"""

# One jump at a time: from setting scrollTop to the end of the render that shows the rows of the
# new position loaded (no loading cells left); then two quiet frames and the next jump.
JUMP_LOADS = """async (count) => {
  const { grid } = window.gridcast;
  const scroller = document.querySelector('.gc-scroller');
  const frames = (n) => new Promise((resolve) => {
    const step = () => (n-- <= 0 ? resolve() : requestAnimationFrame(step));
    requestAnimationFrame(step);
  });
  const times = [];
  let timeouts = 0;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    scroller.scrollTop = Math.random() * (scroller.scrollHeight - scroller.clientHeight);
    const loaded = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 10000);
      window.__gcAfterRender = (t) => {
        const done = grid.layout && Math.abs(grid.layout.first - Math.floor(grid.virtualTop() / 28)) <= 1 &&
          !document.querySelector('.gc-body .gc-cell.loading:not([hidden])');
        if (done) { clearTimeout(timer); resolve(t); }
      };
    });
    window.__gcAfterRender = null;
    if (loaded === null) timeouts++;
    else times.push(loaded - started);
    await frames(2);
  }
  return { times, timeouts };
}"""

TO_TOP = """async () => {
  const scroller = document.querySelector('.gc-scroller');
  scroller.scrollTop = 0;
  scroller.scrollLeft = 0;
  const start = performance.now();
  while (performance.now() - start < 10000) {
    await new Promise((r) => requestAnimationFrame(r));
    const { grid } = window.gridcast;
    if (grid.layout && grid.layout.first === 0 && !document.querySelector('.gc-body .gc-cell.loading:not([hidden])')) break;
  }
  const { grid, model } = window.gridcast;
  return {
    rows: grid.visibleRows.filter(Boolean).map((r) => r.id),
    columns: model.columns.slice(grid.layout.c0, grid.layout.c1).map((c) => ({ key: c.key, type: c.type, options: c.options })),
  };
}"""

# Count the operations of others the page applies, and rAF intervals while `recording`.
WATCH_EDITS = """() => {
  const watch = { ops: 0, cells: 0, recording: false, intervals: [] };
  window.__gcWatch = watch;
  window.gridcast.model.on('op', (op, mine) => {
    if (mine) return;
    watch.ops++;
    watch.cells += op.changes?.cells?.length ?? 0;
  });
  let last = null;
  const tick = (t) => {
    if (watch.recording && last !== null) watch.intervals.push(t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def wait_for_page(page):
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function(
        "window.gridcast && document.querySelectorAll('.gc-cell:not(.loading):not([hidden])').length > 0"
    )


def first_rows(browser, base_url, cookie, path, args):
    """Fresh browser contexts (no cache, no open connection) loading the page one after the
    other; the first, right after the server started, is reported on its own."""
    samples = []
    for _ in range(args.loads + 1):
        context = browser.new_context(base_url=base_url, viewport=args.viewport)
        context.add_cookies([cookie])
        context.add_init_script(FIRST_ROWS_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(path)
        page.wait_for_function("window.__gcFirst && window.__gcFirst.painted !== null")
        samples.append(page.evaluate(FIRST_ROWS_FIGURES))
        context.close()
    return samples[0], samples[1:]


def traced_load(browser, base_url, cookie, path, args):
    """One more page load, in a fresh context, under a Chrome trace: where the main thread's time
    went from navigation to the first rows painted."""
    context = browser.new_context(base_url=base_url, viewport=args.viewport)
    context.add_cookies([cookie])
    context.add_init_script(FIRST_ROWS_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    page.goto(path)
    page.wait_for_function("window.__gcFirst && window.__gcFirst.painted !== null")
    summary = trace_summary(browser.stop_tracing())
    context.close()
    return summary


# --- the writers -------------------------------------------------------------------------------


def writer_process(ws_url, rows, columns, connections, rate, seconds, seed, ready, start, results):
    """`connections` WebSocket connections with an API token sending single-cell edits to the
    given rows and columns, `rate` a second in total, evenly spaced, in turn, for `seconds`.
    They also receive every operation of the sheet, as any connection does; those are not parsed."""
    from websockets.asyncio.client import connect

    async def main():
        rng = random.Random(seed)
        values = CellValues(columns, rng)
        counts = {"sent": 0, "acked": 0, "errors": {}}
        sent_at = {}
        ack_ms = []
        welcomed = []

        async def reader(ws):
            async for text in ws:
                if text.startswith('{"type": "ops"') or text.startswith('{"type":"ops"'):
                    continue
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "welcome":
                    welcomed.append(1)
                elif kind == "ack":
                    counts["acked"] += 1
                    started = sent_at.pop(frame.get("op_id"), None)
                    if started is not None:
                        ack_ms.append((time.monotonic() - started) * 1000)
                elif kind == "error":
                    code = frame.get("code", "?")
                    counts["errors"][code] = counts["errors"].get(code, 0) + 1

        sockets = [
            await connect(ws_url, compression=None, open_timeout=30, max_size=2**24, max_queue=None)
            for _ in range(connections)
        ]
        readers = [asyncio.create_task(reader(ws)) for ws in sockets]
        while len(welcomed) < connections:
            await asyncio.sleep(0.01)
        ready.put(os.getpid())
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        cpu0 = time.process_time()
        t0 = time.monotonic()
        i = 0
        while True:
            due = t0 + i / rate
            if due - t0 >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            column = rng.choice(columns)
            op_id = str(uuid.uuid4())
            frame = {
                "type": "edit",
                "op_id": op_id,
                "cells": [{"row": rng.choice(rows), "col": column["key"], "value": values.value(column)}],
            }
            sent_at[op_id] = time.monotonic()
            await sockets[i % connections].send(json.dumps(frame))
            counts["sent"] += 1
            i += 1
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        deadline = time.monotonic() + 10
        while sent_at and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        results.put(
            {
                "pid": os.getpid(),
                "sent": counts["sent"],
                "acked": counts["acked"],
                "errors": counts["errors"],
                "seconds": elapsed,
                "cpu": cpu,
                "ack_ms": ack_ms,
                "unanswered": len(sent_at),
            }
        )

    asyncio.run(main())


class Writers:
    def __init__(self, port, key, sheet_id, rows, columns, args):
        ctx = mp.get_context("spawn")
        self.ready, self.results = ctx.Queue(), ctx.Queue()
        self.start_event = ctx.Event()
        self.seconds = args.edit_seconds + 3  # one second to settle before measuring, some after
        url = f"ws://127.0.0.1:{port}/ws/sheets/{sheet_id}/?token={key}"
        per_connection = args.rate / args.writers
        self.processes = []
        for n in range(args.writer_processes):
            connections = len(range(n, args.writers, args.writer_processes))
            if connections:
                self.processes.append(
                    ctx.Process(
                        target=writer_process,
                        daemon=True,
                        args=(
                            url,
                            rows,
                            columns,
                            connections,
                            per_connection * connections,
                            self.seconds,
                            args.seed + n,
                            self.ready,
                            self.start_event,
                            self.results,
                        ),
                    )
                )
        for process in self.processes:
            process.start()

    def wait_ready(self, timeout=60):
        for _ in self.processes:
            self.ready.get(timeout=timeout)

    def go(self):
        self.start_event.set()

    def collect(self):
        reports = [self.results.get(timeout=self.seconds + 60) for _ in self.processes]
        for process in self.processes:
            process.join(10)
        return reports

    def stop(self):
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)


def metrics(cdp):
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def busy_share(page, cdp, server, key, sheet_id, args):
    visible = page.evaluate(TO_TOP)
    page.evaluate(WATCH_EDITS)
    writers = Writers(server.port, key, sheet_id, visible["rows"], visible["columns"], args)
    try:
        writers.wait_ready()
        writers.go()
        time.sleep(1)  # the first frames in flight, the page catching up
        page.evaluate("window.__gcRenders = []; window.__gcWatch.recording = true")
        before, ops_before = metrics(cdp), page.evaluate("[__gcWatch.ops, __gcWatch.cells]")
        server_cpu, writer_cpu = cpu_seconds(server.process.pid), [cpu_seconds(p.pid) for p in writers.processes]
        load = os.getloadavg()[0]
        time.sleep(args.edit_seconds)
        after, ops_after = metrics(cdp), page.evaluate("[__gcWatch.ops, __gcWatch.cells]")
        server_cpu = cpu_seconds(server.process.pid) - server_cpu
        writer_cpu = max(cpu_seconds(p.pid) - c for p, c in zip(writers.processes, writer_cpu))
        watch = page.evaluate("({intervals: __gcWatch.intervals, renders: __gcRenders})")
        page.evaluate("window.__gcWatch.recording = false")
        reports = writers.collect()
    finally:
        writers.stop()
    wall = after["Timestamp"] - before["Timestamp"]
    share = {
        name: (after[name] - before[name]) / wall
        for name in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    }
    return {
        "wall": wall,
        "share": share,
        "ops": (ops_after[0] - ops_before[0]) / wall,
        "cells": (ops_after[1] - ops_before[1]) / wall,
        "server_cpu": server_cpu / wall,
        "writer_cpu": writer_cpu / wall,
        "writers": reports,
        "frames": watch["intervals"],
        "renders": watch["renders"],
        "visible": visible,
        "load": load,
    }


# --- profiles ----------------------------------------------------------------------------------


class Profile:
    """A V8 CPU profile through the DevTools protocol, summed by function (self time)."""

    def __init__(self, cdp):
        self.cdp = cdp
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})

    def start(self):
        self.cdp.send("Profiler.start")

    def stop(self):
        profile = self.cdp.send("Profiler.stop")["profile"]
        nodes = {node["id"]: node for node in profile["nodes"]}
        counts = {}
        for sample in profile.get("samples", []):
            counts[sample] = counts.get(sample, 0) + 1
        deltas = profile.get("timeDeltas", [])
        total_us = sum(deltas) or 1
        per_sample = total_us / max(1, len(profile.get("samples", [])))
        selfs = {}
        for node_id, count in counts.items():
            frame = nodes[node_id]["callFrame"]
            url = frame["url"].rsplit("/", 1)[-1]
            name = (
                f"{frame['functionName'] or '(anonymous)'} {url}:{frame['lineNumber'] + 1}"
                if url
                else (frame["functionName"] or "(anonymous)")
            )
            selfs[name] = selfs.get(name, 0) + count * per_sample
        return total_us, sorted(selfs.items(), key=lambda kv: -kv[1])


def print_profile(title, result, top=15):
    total_us, selfs = result
    print(f"\n{title}: JavaScript self time by function ({total_us / 1e6:.1f} s profiled)")
    for name, us in selfs[:top]:
        print(f"  {us / 1000:8.1f} ms  {us / total_us:6.1%}  {name}")


TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8.execute",
    "blink",
    "cc",
    "toplevel",
    "disabled-by-default-devtools.timeline.frame",
]


def trace_summary(data):
    """Self time of the trace events on the renderer main thread(s), by event name, and the wall time."""
    events = json.loads(data)
    events = events["traceEvents"] if isinstance(events, dict) else events
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    spans = sorted(
        (
            (e["ts"], e["ts"] + e.get("dur", 0), e["name"], (e["pid"], e["tid"]))
            for e in events
            if e.get("ph") == "X" and (e["pid"], e["tid"]) in mains and e.get("dur")
        ),
        key=lambda s: (s[3], s[0], -s[1]),
    )
    selfs, stack, thread = {}, [], None
    for start, end, name, where in spans:
        if where != thread:
            stack, thread = [], where
        while stack and stack[-1][0] <= start:
            stack.pop()
        if stack:
            parent = stack[-1][1]
            selfs[parent] = selfs.get(parent, 0) - (min(end, stack[-1][0]) - start)
        selfs[name] = selfs.get(name, 0) + (end - start)
        stack.append((end, name))
    ts = [e["ts"] for e in events if e.get("ph") == "X" and (e["pid"], e["tid"]) in mains]
    wall = (max(ts) - min(ts)) if ts else 1
    return wall, sorted(selfs.items(), key=lambda kv: -kv[1])


def print_trace(title, summary, top=15):
    wall, selfs = summary
    print(f"\n{title}: the page's main thread by trace event, self time ({wall / 1e6:.1f} s traced)")
    for name, us in selfs[:top]:
        print(f"  {us / 1000:8.1f} ms  {us / wall:6.1%} of the wall time  {name}")


# --- the report --------------------------------------------------------------------------------


def report(args, seed_seconds, total_rows, cols, first, loads, scroll, jumps, busy, errors):
    from rich.console import Console
    from rich.table import Table

    def verdict(ok):
        return "[green]PASS[/]" if ok else "[red]MISS[/]"

    def ms(v):
        return f"{v:.1f} ms"

    painted = [s["painted"] for s in loads]
    dom = [s["dom"] for s in loads]
    frames = scroll["intervals"]
    busy_share_ = busy["share"]["TaskDuration"]
    title = (
        f"Sheet page in headless Chromium, {total_rows:,} rows × {cols} columns, "
        f"{args.viewport['width']}×{args.viewport['height']}"
    )
    if seed_seconds is None:
        title += " (database reused, not seeded)"
    table = Table(title=title, title_justify="left")
    for name in ["measure", "p50", "p95", "max", "target", ""]:
        table.add_column(name, justify="left" if name in ("measure", "") else "right")
    if seed_seconds is not None:
        table.add_row(f"seed {args.rows:,} × {args.cols}", f"{seed_seconds:.1f} s", "", "", "", "")
    table.add_row(
        f"first rows painted, from navigation (n={len(painted)})",
        ms(statistics.median(painted)),
        ms(percentile(painted, 95)),
        ms(max(painted)),
        f"p95 < {TARGET_FIRST_ROWS_MS} ms",
        verdict(percentile(painted, 95) < TARGET_FIRST_ROWS_MS),
    )
    table.add_row(
        "  … in the DOM (the render of that frame)",
        ms(statistics.median(dom)),
        ms(percentile(dom, 95)),
        ms(max(dom)),
        "",
        "",
    )
    table.add_row("  first load after the server started", ms(first["painted"]), "", "", "", "")
    table.add_row(
        f"scroll frame interval, a jump every {args.jump_frames} frame(s) (n={len(frames)})",
        ms(statistics.median(frames)),
        ms(percentile(frames, 95)),
        ms(max(frames)),
        f"p95 < {TARGET_FRAME_P95_MS} ms",
        verdict(percentile(frames, 95) < TARGET_FRAME_P95_MS),
    )
    if scroll["renders"]:
        r = scroll["renders"]
        table.add_row(
            "  grid.render() while jumping", ms(statistics.median(r)), ms(percentile(r, 95)), ms(max(r)), "", ""
        )
    if jumps["times"]:
        t = jumps["times"]
        table.add_row(
            f"jump → its rows loaded and drawn (n={len(t)}, {jumps['timeouts']} timed out)",
            ms(statistics.median(t)),
            ms(percentile(t, 95)),
            ms(max(t)),
            "",
            "",
        )
    table.add_row(
        f"main-thread busy share, {args.rate} edits/s on the visible cells ({busy['wall']:.1f} s)",
        f"{busy_share_:.1%}",
        "",
        "",
        f"< {TARGET_BUSY_SHARE:.0%}",
        verdict(busy_share_ < TARGET_BUSY_SHARE),
    )
    s = busy["share"]
    table.add_row(
        "  of which script / layout / style",
        f"{s['ScriptDuration']:.1%}",
        f"{s['LayoutDuration']:.1%}",
        f"{s['RecalcStyleDuration']:.1%}",
        "",
        "",
    )
    if busy["frames"]:
        f = busy["frames"]
        table.add_row(
            "  frame interval during the edits", ms(statistics.median(f)), ms(percentile(f, 95)), ms(max(f)), "", ""
        )
    if busy["renders"]:
        r = busy["renders"]
        table.add_row(
            f"  grid.render() during the edits ({len(r) / busy['wall']:.0f}/s)",
            ms(statistics.median(r)),
            ms(percentile(r, 95)),
            ms(max(r)),
            "",
            "",
        )
    console = Console(width=130)
    console.print(table)

    w = busy["writers"]
    sent = sum(r["sent"] for r in w)
    acked = sum(r["acked"] for r in w)
    seconds = max(r["seconds"] for r in w)
    codes = {}
    for r in w:
        for code, n in r["errors"].items():
            codes[code] = codes.get(code, 0) + n
    ack_ms = [v for r in w for v in r["ack_ms"]]
    ack = f"ack p50 {statistics.median(ack_ms):.0f} ms, p95 {percentile(ack_ms, 95):.0f} ms" if ack_ms else "no acks"
    console.print(
        f"Edits: the page applied {busy['ops']:.0f} operations/s of others ({busy['cells']:.0f} cells/s) on "
        f"{len(busy['visible']['rows'])} rows × {len(busy['visible']['columns'])} columns; the writers sent "
        f"{sent / seconds:.0f}/s over {args.writers} connections in {len(w)} process(es) ({acked:,} of {sent:,} acked, "
        f"{ack}{', errors ' + str(codes) if codes else ''}).\n"
        f"CPU: busiest writer process {busy['writer_cpu']:.0%} of a core, uvicorn {busy['server_cpu']:.0%}; "
        f"{os.cpu_count()} CPUs, 1-minute load average {busy['load']:.2f} when the edits began."
    )
    first_parts = breakdown(loads)
    console.print(f"First rows, p50 of each step from navigation: {first_parts}.")
    if errors:
        console.print(f"Page errors ({len(errors)}): " + "; ".join(errors[:5]))


def breakdown(loads):
    def p50(key):
        values = [s[key] for s in loads if s[key] is not None]
        return f"{statistics.median(values):.0f} ms" if values else "?"

    request = (
        f"first rows request sent {p50('rowsStart')} and answered {p50('rowsEnd')}"
        if any(s["rowsStart"] is not None for s in loads)
        else "first rows embedded in the page (no request)"
    )
    return (
        f"HTML received {p50('html')}, scripts received {p50('scripts')}, DOMContentLoaded {p50('dcl')}, "
        f"{request}, cells in the DOM {p50('dom')}, painted by {p50('painted')}"
    )


def main():
    args = parse_args()
    if not (ROOT / "static" / "dist" / "manifest.json").exists():
        sys.exit("The front end is not built (static/dist/manifest.json is missing): run `make frontend` first.")
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    url, name = bench_database_url("grid_browser", "bench/grid_browser.py")
    if args.reuse:
        if not database_exists(url, name):
            sys.exit(f"There is no {name} to reuse: run once with --keep first.")
    else:
        recreate_database(url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS)

    from playwright.sync_api import sync_playwright

    server = None
    errors = []
    try:
        sheet_id, total_rows, cols, editor, key, seed_seconds = prepare(args, url, name)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
        per_connection = args.rate / args.writers
        if per_connection > 0.8 * RATE_LIMIT:
            env["GRIDCAST_WS_EDITS_PER_SECOND"] = str(int(per_connection * 2))
            env["GRIDCAST_WS_EDIT_BURST"] = str(int(per_connection * 4))
        server = Server(env, kind="uvicorn")
        server.wait()
        cookie = session_cookie(editor, server.url)
        path = f"/sheets/{sheet_id}/"
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM is done with; Playwright keeps a loop running
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"Opening {path} ({total_rows:,} rows) {args.loads + 1} times …", flush=True)
            first, loads = first_rows(browser, server.url, cookie, path, args)
            load_trace = traced_load(browser, server.url, cookie, path, args) if args.trace else None

            context = browser.new_context(base_url=server.url, viewport=args.viewport)
            context.add_cookies([cookie])
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.goto(path)
            wait_for_page(page)
            page.evaluate(INSTRUMENT)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
            profile = Profile(cdp) if args.profile else None

            print(f"Jumping to random rows for {args.scroll_seconds:g} s …", flush=True)
            if profile:
                profile.start()
            if args.trace:
                browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
            scroll = page.evaluate(SCROLL_JUMPS, [args.scroll_seconds, args.jump_frames])
            scroll_trace = trace_summary(browser.stop_tracing()) if args.trace else None
            scroll_profile = profile.stop() if profile else None
            jumps = page.evaluate(JUMP_LOADS, args.jumps)

            print(f"{args.rate} edits/s on the visible cells for {args.edit_seconds:g} s …", flush=True)
            if profile:
                profile.start()
            if args.trace:
                browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
            busy = busy_share(page, cdp, server, key, sheet_id, args)
            edits_trace = trace_summary(browser.stop_tracing()) if args.trace else None
            edits_profile = profile.stop() if profile else None
            context.close()
            browser.close()
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            drop_database(url, name)
    report(args, seed_seconds, total_rows, cols, first, loads, scroll, jumps, busy, errors)
    if scroll_profile:
        print_profile("While jumping", scroll_profile)
    if edits_profile:
        print_profile("During the edits", edits_profile)
    if load_trace:
        print_trace("A page load, to the first rows painted", load_trace)
    if scroll_trace:
        print_trace("While jumping", scroll_trace)
    if edits_trace:
        print_trace("During the edits", edits_trace)
    sys.exit(0)


if __name__ == "__main__":
    main()

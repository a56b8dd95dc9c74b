"""Memory under steady load (issue 19): `make serve`'s stack for an hour, the RSS of every process
printed each minute.

    .venv/bin/python bench/soak.py [--minutes 60] [--clients 24] [--rate 40] [--warmup 5] [--no-orders]

Starts the stack of bench/failover.py (config.serve: two uvicorn processes behind HAProxy, the
analytics worker and the jobs worker, under honcho) on a PostgreSQL cluster and a Redis of its own,
on free loopback ports. `--clients` clients edit one sheet through HAProxy at `--rate` writes a
second in all, asked (single-cell edits, a row insert now and then; the rate acknowledged is
printed), and `simulate_orders` streams demo
orders into the metrics through the REST API (ingestion, rollups and the lake's upkeep at work),
unless `--no-orders`.

Each minute: the RSS of web.1, web.2, worker.1, jobs.1, jobs.2 and lb.1 in MB, the writes acknowledged
that minute and the load average. At the end, per process: RSS at the end of the warm-up
(`--warmup` minutes) and at the end, and the growth per hour after warm-up from a least-squares
line through the minutes after it; a process is FLAT when that slope is under `--flat` MB an
hour (20). Then every client must still equal the database and no acknowledged write may be lost.
The exit status is 1 when a process is not flat or a write was lost.
"""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # the clients check frames against their schemas

import django  # noqa: E402

django.setup()

from tests.config.failover import Load, Stack  # noqa: E402

PROCESSES = {
    **{name: "uvicorn" for name in ("web.1", "web.2")},
    "worker.1": "python",
    **{name: "python" for name in ("jobs.1", "jobs.2")},
    "lb.1": "haproxy",
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of (minute, MB) in MB an hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return 60 * sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def orders(stack: Stack) -> subprocess.Popen:
    """simulate_orders against the stack's HAProxy, in the stack's environment."""
    workspace = stack.served.manage("shell", "-c", _WORKSPACE).strip().splitlines()[-1]
    return subprocess.Popen(
        [sys.executable, "-m", "config.serve", "manage", "simulate_orders", "--workspace", workspace]
        + ["--url", stack.served.url, "--seed", "19"],
        cwd=ROOT,
        env=stack.served.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


_WORKSPACE = "from sheets.models import Sheet; print(Sheet.objects.latest('pk').workspace_id)"


async def soak(stack: Stack, args) -> int:
    sheet, rows, keys = stack.room(people=4, rows=50)
    feeder = orders(stack) if args.orders else None
    load = await Load(stack, sheet, rows, keys, count=args.clients, pause=args.clients / args.rate).start()
    pids = {name: stack.served.pid(name, program) for name, program in PROCESSES.items()}
    series: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
    print("minute " + " ".join(f"{name:>9}" for name in pids) + "   acks/s  load", flush=True)
    started, acked = time.monotonic(), 0
    try:
        for minute in range(1, args.minutes + 1):
            await asyncio.sleep(max(0.0, started + 60 * minute - time.monotonic()))
            now_acked = sum(len(c.acks) for c in load.clients)
            for name, pid in pids.items():
                series[name].append((minute, rss_mb(pid)))
            cells = " ".join(f"{series[name][-1][1]:7.1f}MB" for name in pids)
            print(f"{minute:6d} {cells}   {(now_acked - acked) / 60:6.1f}  {os.getloadavg()[0]:.1f}", flush=True)
            acked = now_acked
    finally:
        if feeder:
            os.killpg(feeder.pid, signal.SIGTERM)
        await load.stop()
    _, _, differing = await load.converged()
    lost = load.lost()
    rejected = sum(len(c.rejected) for c in load.clients)
    await load.close()

    print(f"\nafter a {args.warmup}-minute warm-up (FLAT: under {args.flat:.0f} MB an hour)")
    flat = True
    for name, points in series.items():
        after = [p for p in points if p[0] >= args.warmup] or points
        growth = slope_per_hour(after)
        verdict = "FLAT" if growth < args.flat else "GROWS"
        flat &= growth < args.flat
        print(f"  {name:9} {after[0][1]:7.1f} MB -> {points[-1][1]:7.1f} MB, {growth:+7.1f} MB/hour  {verdict}")
    print(
        f"writes acknowledged {acked:,} ({acked / (60 * args.minutes):.1f}/s), refused {rejected}, lost {len(lost)}, clients differing from the database {len(differing)}"
    )
    return 0 if flat and not lost and not differing else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--rate", type=float, default=40.0, help="writes a second, all clients together")
    parser.add_argument("--warmup", type=int, default=5, help="minutes before the memory should be flat")
    parser.add_argument("--flat", type=float, default=20.0, help="MB an hour of growth still called flat")
    parser.add_argument("--no-orders", dest="orders", action="store_false", help="no metric stream")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the stack below is stopped all the same
    stack = Stack(tempfile.mkdtemp(prefix="gc-bench-soak-"))
    try:
        status = asyncio.run(soak(stack, args))
    finally:
        stack.close()
    sys.exit(status)


if __name__ == "__main__":
    main()

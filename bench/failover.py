"""Failover under load through the load balancer (issue 19), the long version of
tests/config/test_failover.py.

    .venv/bin/python bench/failover.py [--clients 20] [--rounds 3] [--kinds web,worker,redis,postgres]

Starts `make serve`'s stack (config.serve: two uvicorn processes behind HAProxy, the analytics
worker, under honcho) on a PostgreSQL cluster (initdb in a temporary directory, run as the
`postgres` user) and a Redis of its own, on free loopback ports: the machine's shared PostgreSQL and
Redis are never touched. Then, `--rounds` times for each kind, `--clients` clients edit one sheet
through HAProxy (one edit or row insert every `--pause` s each, on average) while:

    web       web.1's uvicorn is killed with SIGKILL (deploy/restarting starts it again)
    worker    the analytics worker is killed with SIGKILL (started again the same way)
    redis     Redis is killed and started again a second later (no persistence: it comes back empty)
    postgres  PostgreSQL restarts: `pg_ctl stop -m fast` and start, then `-m immediate` (a crash), in turns

A round with no fault (`none`) first gives the baseline of the same measure. Printed per round and
per kind: the seconds each client took to be back (connected, every write it had sent answered, and
caught up with the database's version at the moment the part was back), p50 and max; how many
clients had to reconnect and the seconds from the fault to their welcome (p50, max);
writes the server answered with `server_error` and that the client sent again; acknowledged writes
lost (not in the operation log with the version of their ack); clients that differ from the
database; and whether the lake (the sheet's view) equals PostgreSQL once the worker caught up.
The exit status is 1 when an acknowledged write is lost, a client or the lake differs, or a client
took longer than --bound seconds (20) to be back.
"""

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # the clients check frames against their schemas

import django  # noqa: E402

django.setup()

from tests.config.failover import FAULTS, Stack, failover  # noqa: E402


def _p50(values):
    return f"{statistics.median(values):5.2f} s" if values else "    - "


def _max(values):
    return f"{max(values):5.2f} s" if values else "    - "


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="faults of each kind")
    parser.add_argument("--kinds", default=",".join(FAULTS))
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between a client's writes")
    parser.add_argument("--bound", type=float, default=20.0, help="seconds a client may take to be back")
    args = parser.parse_args()
    kinds = [kind for kind in args.kinds.split(",") if kind]
    if unknown := set(kinds) - set(FAULTS):
        parser.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(FAULTS)}")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the stack below is stopped all the same
    started = time.monotonic()
    var = tempfile.mkdtemp(prefix="gc-bench-failover-")
    stack = Stack(var)
    print(f"stack up in {time.monotonic() - started:.0f} s: {args.clients} clients, pause {args.pause} s", flush=True)
    results = {}
    try:
        room = stack.room(people=4, rows=20)
        for kind in ["none"] + [k for _ in range(args.rounds) for k in kinds]:
            outcome = asyncio.run(failover(stack, *room, kind, clients=args.clients, pause=args.pause))
            results.setdefault(kind, []).append(outcome)
            back, again = outcome["back"], outcome["reconnected"]
            print(
                f"{kind:9} down {outcome['down']:5.1f} s  back p50 {statistics.median(back):5.2f} s max {max(back):5.2f} s"
                f"  reconnected {len(again):2} p50 {_p50(again)} max {_max(again)}"
                f"  retried {outcome['retried']:3}  acked {outcome['acked']:4}"
                f"  lost {len(outcome['lost'])}  differing {len(outcome['differing'])}  {outcome['lake']}",
                flush=True,
            )
    finally:
        stack.close()
        shutil.rmtree(var, ignore_errors=True)

    print(
        f"\n{'kind':9} {'rounds':>6} {'back p50':>9} {'back max':>9} {'reconnected':>11} {'p50':>7} {'max':>7}"
        f" {'acked':>6} {'lost':>5}"
    )
    failed = False
    for kind, outcomes in results.items():
        back = [b for o in outcomes for b in o["back"]]
        lost = sum(len(o["lost"]) for o in outcomes)
        bad = lost or any(o["differing"] or o["lake"] != "lake matches" for o in outcomes) or max(back) >= args.bound
        failed = failed or bad
        again = [r for o in outcomes for r in o["reconnected"]]
        print(
            f"{kind:9} {len(outcomes):6} {statistics.median(back):8.2f}s {max(back):8.2f}s"
            f" {len(again):11} {_p50(again)} {_max(again)} {sum(o['acked'] for o in outcomes):6} {lost:5}"
            f"  {'MISS' if bad else 'PASS'}"
        )
    print(f"target: no acknowledged write lost, clients and lake equal to the database, back within {args.bound:g} s")
    print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} cores".format(*os.getloadavg(), os.cpu_count()))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

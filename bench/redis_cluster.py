"""The sheet bus on one Redis and on a Redis Cluster, and a master failover under publishing.

    .venv/bin/python bench/redis_cluster.py [--sheets 30] [--rate 500] [--seconds 5]

Starts a private Redis and a private cluster (three masters, three replicas, cluster-node-timeout
1000 ms) on free ports; never touches the machine's Redis. For each: two RedisBus instances (a
publishing process's and a listening one's, in one process here), `--sheets` rooms of one probe
connection each, frames published in turn over the sheets at `--rate` per second from a thread
(as services do after commit). Printed: delivery latency p50/p99 (publish call to the probe),
the publish call's own time p50/p99, frames lost.

Then the failover: publishing goes on at the same rate while the master of the first sheet's
channel is killed (SIGKILL). Printed: when the listener noticed, when its subscriptions were back
(every connection told to replay), when the replica answered for the slot, the longest publish
call meanwhile, publishes that failed (committed edits whose broadcast is repaired by replay),
and frames lost on the sheets of the other masters (target: none: their subscriptions stay).
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from realtime.bus import RedisBus  # noqa: E402
from tests.realtime.servers import RedisClusterProcesses, RedisProcess  # noqa: E402


class Probe:
    """A connection of a room that notes when each frame arrived."""

    def __init__(self, sheet_id):
        self.connection_id = f"probe{sheet_id}"
        self.arrived = {}  # frame number -> monotonic time
        self.resyncs = []

    def who(self):
        return None

    presence_state = {}

    def push(self, text, version=0):
        self.arrived[int(text)] = time.monotonic()

    def push_many(self, items):
        for text, version in items:
            self.push(text, version)

    def resync(self):
        self.resyncs.append(time.monotonic())


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


async def publish_for(publisher, sheets, rate, seconds, sent, calls, failed, kill_at=None, kill=None):
    """Publish frames numbered from len(sent) in turn over `sheets` at `rate`/s for `seconds`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    number = len(sent)
    killed = None
    while loop.time() - start < seconds:
        if kill_at is not None and killed is None and loop.time() - start >= kill_at:
            killed = time.monotonic()
            await asyncio.to_thread(kill)
        sheet = sheets[number % len(sheets)]
        began = time.monotonic()
        try:
            await asyncio.to_thread(publisher.publish, sheet, str(number), None, 1)
            sent[number] = (sheet, began)
        except Exception:
            failed.append((number, sheet, began))
        calls.append(time.monotonic() - began)
        number += 1
        await asyncio.sleep(max(0.0, start + number / rate - loop.time()))
    return killed


async def measure(name, url, args, cluster=None):
    publisher, listener = RedisBus(url, "bench"), RedisBus(url, "bench")
    sheets = list(range(1, args.sheets + 1))
    probes = {sheet: Probe(sheet) for sheet in sheets}
    for sheet, probe in probes.items():
        await listener.join(sheet, probe)
    await asyncio.to_thread(publisher.publish, sheets[0], "-1", None, 1)  # warm the publisher's connections
    await asyncio.sleep(0.5)

    sent, calls, failed = {}, [], []
    await publish_for(publisher, sheets, args.rate, args.seconds, sent, calls, failed)
    await asyncio.sleep(1)
    latencies = [probes[s].arrived[n] - t for n, (s, t) in sent.items() if n in probes[s].arrived]
    lost = len(sent) - len(latencies)
    print(
        f"{name:>14}: {len(sent)} frames over {len(sheets)} sheets at {args.rate}/s: delivery p50 "
        f"{pct(latencies, 50) * 1000:.2f} / p99 {pct(latencies, 99) * 1000:.2f} ms, publish call p50 "
        f"{pct(calls, 50) * 1000:.2f} / p99 {pct(calls, 99) * 1000:.2f} ms, lost {lost}, failed {len(failed)}"
    )
    if cluster is None:
        return
    masters = {sheet: cluster.master_of(listener._channel(sheet)) for sheet in sheets}
    victim = masters[sheets[0]]
    print(f"{'':>14}  sheets per master: {sorted(list(masters.values()).count(m) for m in set(masters.values()))}")

    sent, calls, failed = {}, [], []
    for probe in probes.values():
        probe.arrived.clear()
    failures_before = listener._shards.failures
    seconds = args.seconds + 6
    killed = await publish_for(
        publisher,
        sheets,
        args.rate,
        seconds,
        sent,
        calls,
        failed,
        kill_at=args.seconds / 2,
        kill=lambda: cluster.kill(victim),
    )
    await asyncio.sleep(1)
    recovered = min((t for p in probes.values() for t in p.resyncs), default=None)
    on_victim = [s for s in sheets if masters[s] == victim]
    after_kill = [
        probes[s].arrived[n] for n, (s, t) in sent.items() if s in on_victim and t > killed and n in probes[s].arrived
    ]
    lost_elsewhere = [n for n, (s, t) in sent.items() if s not in on_victim and n not in probes[s].arrived]
    lost_victim = [n for n, (s, t) in sent.items() if s in on_victim and n not in probes[s].arrived]
    cluster.wait_healthy(30)
    # When the replica answered: the first publish to the victim's sheets that succeeded after the kill.
    ok_after = sorted(t for n, (s, t) in sent.items() if s in on_victim and t > killed)
    promoted = ok_after[0] - killed if ok_after else float("nan")
    print(
        f"{'failover':>14}: master :{victim} killed; listener noticed: "
        f"{listener._shards.failures > failures_before}; subscriptions back and replay asked "
        f"{(recovered - killed) if recovered else float('nan'):.2f} s after the kill; first publish the replica "
        f"took {promoted:.2f} s after; first frame delivered on its sheets "
        f"{(min(after_kill) - killed) if after_kill else float('nan'):.2f} s after"
    )
    print(
        f"{'':>14}  publish calls: {len(calls)}, longest {max(calls) * 1000:.0f} ms, p99 {pct(calls, 99) * 1000:.1f} ms; "
        f"failed {len(failed)} (all on the killed master's sheets: {all(s in on_victim for _, s, _ in failed)}); "
        f"published but not delivered: {len(lost_victim)} on its sheets (repaired by replay), "
        f"{len(lost_elsewhere)} on the other masters' sheets (target 0)"
    )
    await listener._shards.close()
    return not lost_elsewhere


async def main(args):
    single = RedisProcess().start()
    cluster = RedisClusterProcesses(masters=3, node_timeout_ms=1000).start()
    try:
        print(f"load average {os.getloadavg()[0]:.1f}; redis-server {single.url}, cluster {cluster.url}")
        await measure("one Redis", single.url, args)
        ok = await measure("cluster 3+3", cluster.url, args, cluster=cluster)
    finally:
        single.close()
        cluster.close()
    print("PASS" if ok else "MISS: frames lost on the sheets of masters that did not fail")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheets", type=int, default=30)
    parser.add_argument("--rate", type=int, default=500, help="frames per second, over all sheets")
    parser.add_argument("--seconds", type=float, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))

"""Metrics benchmark: ingestion throughput over HTTP (events/s acknowledged, i.e. committed to
DuckLake, from concurrent senders to uvicorn) and aggregate latency over 10,000,000 events in
DuckDB against the same events and queries in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gridcast .venv/bin/python bench/analytics_metrics.py
        [--events 10000000] [--senders 8] [--batch 1000] [--seconds 10] [--workers 2] [--runs 30]

Aggregates read the worker's rollup (analytics/metrics/rollup.py), refreshed once after the seed as the
worker would; the last columns give the same queries over the events alone, for comparison.
Uses its own database (<DATABASE_URL's name>_bench_metrics), recreated on each run and dropped at the end.
Targets: ingestion >= 20,000 events/s; every aggregate p99 < 150 ms and >= 10x faster than PostgreSQL.
"""

import argparse
import http.client
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_database():
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast"))
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit("needs PostgreSQL in DATABASE_URL")
    name = (url.path.lstrip("/") or "gridcast") + "_bench_metrics"
    return urlunsplit(url._replace(path="/" + name)), name, urlunsplit(url._replace(path="/postgres"))


def recreate(server_url, name, drop_only=False):
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port, workers, env):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/schema/")
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    sys.exit("the server did not start")


def ingestion(port, key, senders, batch, seconds):
    rng = random.Random(1)
    bodies = []
    for _ in range(4):
        now = time.time()
        events = [
            {
                "source": "bench",
                "metric": rng.choice(["orders", "revenue", "cpu"]),
                "value": rng.random() * 100,
                "timestamp": now - rng.random() * 60,
                "tags": {
                    "region": rng.choice(["eu", "us", "asia"]),
                    "product": f"p{rng.randint(1, 50)}",
                    "status": rng.choice(["paid", "paid", "failed"]),
                },
            }
            for _ in range(batch)
        ]
        bodies.append(json.dumps({"events": events}).encode())
    headers = {"Content-Type": "application/json", "Authorization": f"Token {key}"}
    acked, latencies, errors = [0], [], []
    lock = threading.Lock()
    start_line = threading.Barrier(senders + 1)
    stop = [0.0]

    def sender(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start_line.wait()
        n = i
        while time.perf_counter() < stop[0]:
            began = time.perf_counter()
            conn.request("POST", "/api/v1/metrics/", body=bodies[n % len(bodies)], headers=headers)
            response = conn.getresponse()
            response.read()
            took = time.perf_counter() - began
            n += 1
            with lock:
                if response.status == 201:
                    acked[0] += batch
                    latencies.append(took * 1000)
                else:
                    errors.append(response.status)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop[0] = began + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return acked[0] / elapsed, latencies, errors, elapsed


DAY = "2026-01-15"
SEED_SQL = """
INSERT INTO lake.metric_events
SELECT ?, 'bench', metric, value, ts, map_from_entries([('region', region), ('product', product), ('status', status)]),
       region, product, status, NULL, NULL
FROM (
  SELECT CASE WHEN i % 5 < 3 THEN 'revenue' ELSE 'orders' END AS metric,
         CASE WHEN i % 5 < 3 THEN round(5 + (hash(i) % 50000) / 100.0, 2) ELSE 1 END AS value,
         TIMESTAMPTZ '2026-01-15 00:00:00+00' + to_microseconds((i * 86400000000 // ?)::BIGINT) AS ts,
         ['eu', 'us', 'asia', 'latam'][(hash(i * 3) % 4)::BIGINT + 1] AS region,
         'p' || (hash(i * 7) % 200)::VARCHAR AS product,
         CASE WHEN hash(i * 11) % 20 = 0 THEN 'failed' ELSE 'paid' END AS status
  FROM range(?) r(i)
) ORDER BY metric, ts
"""

QUERIES = {
    "1-minute buckets of a day": (
        {"metric": "revenue", "agg": "sum", "bucket": "minute", "from": DAY, "to": DAY},
        "SELECT date_bin('1 minute', ts, '2000-01-01'), sum(value) FROM bench_metric_events WHERE workspace_id = %s "
        "AND metric = 'revenue' AND ts >= '2026-01-15' AND ts < '2026-01-16' GROUP BY 1 ORDER BY 1",
    ),
    "group by tag (region)": (
        {"metric": "revenue", "agg": "sum", "group_by": "region", "from": DAY, "to": DAY},
        "SELECT tag_region, sum(value) AS v FROM bench_metric_events WHERE workspace_id = %s AND metric = 'revenue' "
        "AND ts >= '2026-01-15' AND ts < '2026-01-16' GROUP BY 1 ORDER BY v DESC",
    ),
    "filtered top-5 (status:failed by product)": (
        {
            "metric": "revenue",
            "agg": "sum",
            "group_by": "product",
            "tag": ["status:failed"],
            "top": "5",
            "from": DAY,
            "to": DAY,
        },
        "SELECT tag_product, sum(value) AS v FROM bench_metric_events WHERE workspace_id = %s AND metric = 'revenue' "
        "AND ts >= '2026-01-15' AND ts < '2026-01-16' AND tag_status = 'failed' GROUP BY 1 ORDER BY v DESC LIMIT 5",
    ),
}


def timed(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pg-runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    url, name, server_url = bench_database()
    recreate(server_url, name)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import ApiToken, Membership, Role, User, Workspace
    from analytics.lake import connections as lake_connections
    from analytics.lake import maintenance
    from analytics.metrics import rollup
    from analytics.metrics import schema as metric_schema
    from analytics.queries import metric_aggregates

    person = User.objects.create_user("bench@example.com", "pass-word-123")
    shop = Workspace.objects.create(name="Bench ingestion")
    big = Workspace.objects.create(name="Bench 10M")
    for ws in (shop, big):
        Membership.objects.create(workspace=ws, user=person, role=Role.OWNER)
    _, key = ApiToken.issue(user=person, name="bench", workspace=shop)
    metric_schema.ensure_table()

    print(
        f"== ingestion: {args.senders} senders, batches of {args.batch}, {args.seconds:g} s, "
        f"uvicorn --workers {args.workers} (2 cores shared with the senders)"
    )
    port = free_port()
    server = start_server(port, args.workers, env)
    try:
        ingestion(port, key, 2, args.batch, 2)  # warm up: connections, table, JIT-free caches
        rate, latencies, errors, elapsed = ingestion(port, key, args.senders, args.batch, args.seconds)
    finally:
        server.terminate()
        server.wait(30)
    stored = (
        metric_schema.connection()
        .execute("SELECT count(*) FROM lake.metric_events WHERE workspace_id = ?", [shop.pk])
        .fetchone()[0]
    )
    print(
        f"acknowledged {rate:,.0f} events/s over {elapsed:.1f} s ({len(latencies)} batches, {len(errors)} refused); "
        f"batch latency p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 99):.0f} ms; "
        f"{stored:,} events stored in all (warm-up included)  [target >= 20,000/s: "
        f"{'met' if rate >= 20_000 else 'NOT met'}]"
    )

    print(f"== aggregates over {args.events:,} events (one workspace, one day; revenue 60 %, orders 40 %)")
    began = time.perf_counter()
    con = metric_schema.connection()
    con.execute(SEED_SQL, [big.pk, args.events, args.events])
    print(f"seeded in DuckLake in {time.perf_counter() - began:.1f} s (range(), one commit)")

    import psycopg

    began = time.perf_counter()
    con.execute(f"ATTACH '{url.replace('postgres://', 'postgresql://')}' AS pg (TYPE postgres)")
    con.execute(
        "CREATE TABLE pg.public.bench_metric_events (workspace_id BIGINT, source VARCHAR, metric VARCHAR, "
        "value DOUBLE, ts TIMESTAMPTZ, tag_region VARCHAR, tag_product VARCHAR, tag_status VARCHAR)"
    )
    con.execute(
        "INSERT INTO pg.public.bench_metric_events SELECT workspace_id, source, metric, value, ts, tag_region, "
        "tag_product, tag_status FROM lake.metric_events WHERE workspace_id = ?",
        [big.pk],
    )
    con.execute("DETACH pg")
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as pg:
        pg.execute("CREATE INDEX ON bench_metric_events (workspace_id, metric, ts)")
        pg.execute("VACUUM ANALYZE bench_metric_events")
        print(
            f"loaded into PostgreSQL (same rows, promoted tag columns, index on workspace_id, metric, ts) "
            f"in {time.perf_counter() - began:.1f} s"
        )
        # What the analytics worker does every few seconds (analytics/lake/maintenance.py): merge the
        # small files of ingestion's group commits. The bench runs no worker, so it does it here.

        began = time.perf_counter()
        merged = maintenance.maintain(con)
        print(
            f"lake maintenance (the worker's periodic step): merged {merged or 'nothing'} "
            f"in {time.perf_counter() - began:.1f} s"
        )
        # The worker's other periodic step (analytics/metrics/rollup.py): fold new events into the rollup.
        began = time.perf_counter()
        folded = rollup.refresh(con)
        print(
            f"rollup refresh (the worker's step every second): {folded:,} events folded in "
            f"{time.perf_counter() - began:.1f} s"
        )
        print(
            f"{'query':45s} {'DuckDB p50':>10s} {'p99':>8s} {'PostgreSQL p50':>15s} {'p99':>8s} {'ratio':>7s}"
            f"   {'events alone p50':>16s} {'p99':>8s}"
        )
        for label, (params, pg_sql) in QUERIES.items():
            query = metric_aggregates.parse_aggregate_params(params)
            result = metric_aggregates.metric_aggregate(workspace_id=big.pk, query=query)
            duck = timed(lambda: metric_aggregates.metric_aggregate(workspace_id=big.pk, query=query), args.runs)
            # The same query reading the events alone (no rollup): what a scan of the day costs.
            grain_for, rollup.grain_for = rollup.grain_for, lambda **kwargs: None
            try:
                alone = metric_aggregates.metric_aggregate(workspace_id=big.pk, query=query)
                assert [t["group"] for t in alone["totals"]] == [t["group"] for t in result["totals"]]
                assert all(
                    math.isclose(a["value"], b["value"], rel_tol=1e-9)
                    for a, b in zip(alone["totals"], result["totals"])
                )
                scan = timed(
                    lambda: metric_aggregates.metric_aggregate(workspace_id=big.pk, query=query), args.pg_runs * 2
                )
            finally:
                rollup.grain_for = grain_for
            pg_rows = pg.execute(pg_sql, [big.pk]).fetchall()
            assert len(pg_rows) == (
                len(result["series"][0]["points"]) if params.get("bucket") else len(result["totals"])
            )
            postgres = timed(lambda: pg.execute(pg_sql, [big.pk]).fetchall(), args.pg_runs, warmup=1)
            ratio = statistics.median(postgres) / statistics.median(duck)
            verdict = "met" if percentile(duck, 99) < 150 and ratio >= 10 else "NOT met"
            print(
                f"{label:45s} {statistics.median(duck):8.1f}ms {percentile(duck, 99):6.1f}ms "
                f"{statistics.median(postgres):13.1f}ms {percentile(postgres, 99):6.0f}ms {ratio:6.1f}x  [{verdict}]"
                f"   {statistics.median(scan):14.1f}ms {percentile(scan, 99):6.1f}ms"
            )
    metric_schema.reset_connection()
    if not args.keep:
        import shutil

        shutil.rmtree(lake_connections.data_path(), ignore_errors=True)
        recreate(server_url, name, drop_only=True)


if __name__ == "__main__":
    main()

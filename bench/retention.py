"""Metric retention benchmark: one retention pass (analytics/metrics/retention.py) over a workspace
whose events span 14 days with a 7-day retention, beside a workspace without one; the pass's time,
the lake's bytes before and after the reclaim, and aggregate latency over the old range from the
events (before the pass) and from the rollups alone (after it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gridcast .venv/bin/python bench/retention.py \\
        [--events 1000000] [--runs 10]

Uses its own database (<DATABASE_URL's name>_bench_retention), recreated on each run and dropped at the end.
"""

import argparse
import datetime as dt
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the workspace with a retention")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    url, name = common.own_database("bench_retention", "bench/retention.py")
    from django.core.management import call_command

    from analytics.lake import connections as lake
    from analytics.lake import maintenance
    from analytics.metrics import ingest, retention, rollup
    from analytics.metrics import schema as metric_schema
    from analytics.queries import metric_aggregates
    from tests.factories import WorkspaceFactory

    try:
        call_command("migrate", verbosity=0)
        shutil.rmtree(lake.data_path(), ignore_errors=True)
        kept_7_days, forever = WorkspaceFactory(metric_retention_days=7), WorkspaceFactory()
        now = dt.datetime.now(dt.UTC)
        start = now - dt.timedelta(days=14)
        rng = random.Random(7)
        span_us = int((now - start).total_seconds() * 1_000_000)
        started = time.perf_counter()
        for workspace, count in ((kept_7_days, args.events), (forever, args.events // 2)):
            for offset in range(0, count, 100_000):
                rows = [
                    (
                        "bench",
                        rng.choice(("revenue", "orders", "latency")),
                        round(rng.random() * 100, 2),
                        int(start.timestamp() * 1_000_000) + rng.randrange(span_us),
                        {"region": rng.choice(("eu", "us", "apac")), "customer": f"c{rng.randrange(500)}"},
                    )
                    for _ in range(min(100_000, count - offset))
                ]
                ingest.writer.write(workspace.pk, rows, timeout=600)
        con = metric_schema.connection()
        rollup.refresh(con)
        maintenance.maintain(con, retention=0)
        print(
            f"seeded {args.events:,} + {args.events // 2:,} events over 14 days in {time.perf_counter() - started:.1f} s"
        )

        old_day = (now - dt.timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
        queries = {
            "old day, hourly sums": {"bucket": "hour"},
            "old day, per-minute counts": {"bucket": "minute", "agg": "count"},
            "old day, by region (hourly)": {"group_by": "region", "bucket": "hour"},
            # A ragged range: the events before the pass, the rollups' whole minutes after it.
            "old 6h ragged, minutes": {"bucket": "minute", "ragged": True},
        }

        def latency(params):
            params = dict(params)
            ragged = params.pop("ragged", False)
            begin = old_day + (dt.timedelta(seconds=17) if ragged else dt.timedelta())
            end = begin + (dt.timedelta(hours=6) if ragged else dt.timedelta(days=1))
            query = metric_aggregates.parse_aggregate_params(
                {"metric": "revenue", "from": begin.isoformat(), "to": end.isoformat(), **params}
            )
            samples, answer = [], None
            for _ in range(args.runs):
                t = time.perf_counter()
                answer = metric_aggregates.metric_aggregate(workspace_id=kept_7_days.pk, query=query)
                samples.append((time.perf_counter() - t) * 1000)
            return statistics.median(samples), answer["totals"]

        def disk():
            files = list((lake.data_path() / "main" / "metric_events").rglob("*.parquet"))
            return len(files), sum(p.stat().st_size for p in files)

        before = {label: latency(params) for label, params in queries.items()}
        files_before, bytes_before = disk()
        t = time.perf_counter()
        outcomes, reclaimed = retention.apply(con)
        pass_seconds = time.perf_counter() - t
        t = time.perf_counter()
        maintenance.maintain(con, retention=0)
        cleanup_seconds = time.perf_counter() - t
        files_after, bytes_after = disk()
        after = {label: latency(params) for label, params in queries.items()}

        deleted = sum(o.deleted for o in outcomes)
        print(
            f"retention pass: {deleted:,} events deleted in {pass_seconds:.2f} s "
            f"({reclaimed.files_rewritten} file(s) rewritten as {reclaimed.files_created}); "
            f"expiry + cleanup {cleanup_seconds:.2f} s"
        )
        print(
            f"metric_events on disk: {files_before} files, {bytes_before / 1e6:.1f} MB before; "
            f"{files_after} files, {bytes_after / 1e6:.1f} MB after"
        )
        print(f"{'aggregate (median of ' + str(args.runs) + ')':<34} {'before ms':>10} {'after ms':>10}  same totals")
        for label in queries:
            (ms_before, totals_before), (ms_after, totals_after) = before[label], after[label]
            same = totals_before == totals_after
            note = "" if same or "ragged" not in label else " (expected: whole minutes before the horizon)"
            print(f"{label:<34} {ms_before:>10.1f} {ms_after:>10.1f}  {same}{note}")
    finally:
        metric_schema.reset_connection()
        lake.close_all()
        from django.db import connections

        connections.close_all()
        shutil.rmtree(lake.data_path(), ignore_errors=True)
        common.drop_database(url, name)


if __name__ == "__main__":
    main()

"""Analytics benchmark: the whole of issue 5's figures in one run.

    DJANGO_SETTINGS_MODULE=config.settings.test \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/analytics.py [--quick]

Runs, one after the other and each in its own database (so neither disturbs the other's figures):
1. bench/analytics_writethrough.py: write-through throughput (edits/s applied to DuckLake) and
   freshness (commit -> visible from another DuckDB connection, p50/p99);
2. bench/analytics_metrics.py: ingestion throughput over HTTP (events/s acknowledged), then
   aggregate latency over 10,000,000 events (a day in 1-minute buckets, a group by tag, a
   filtered top-N) in DuckDB and the same queries in PostgreSQL, as a ratio.
Their output is passed through; the lines with targets are repeated at the end.
`--quick` runs smaller sizes (1,000,000 events, fewer samples) to check the scripts, not for figures.
Exit status 1 when a target is missed.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ("PASS", "MISS", "[met]", "[NOT met]", "target")


def run(script, args):
    """Run one bench script, echoing its output; (exit status, the lines that carry a verdict)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ,
    )
    verdicts = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if any(word in line for word in VERDICTS):
            verdicts.append(line.rstrip())
    return process.wait(), verdicts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the scripts, figures mean little")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gc_bench")
    quick_wt = ["--edits", "5000", "--samples", "50"] if args.quick else []
    quick_metrics = ["--events", "1000000", "--seconds", "3", "--runs", "10", "--pg-runs", "2"] if args.quick else []

    print(f"== write-through (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)", flush=True)
    status_wt, verdicts_wt = run("analytics_writethrough.py", quick_wt)
    print(f"\n== metrics: ingestion and aggregates (load average {os.getloadavg()[0]:.2f})", flush=True)
    status_metrics, verdicts_metrics = run("analytics_metrics.py", quick_metrics)

    print("\n== summary")
    for line in verdicts_wt + verdicts_metrics:
        print(line)
    missed = status_wt != 0 or any("NOT met" in line for line in verdicts_metrics) or status_metrics != 0
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()

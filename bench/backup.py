"""Backup and restore of an installation with a sizeable lake (issue 19): `manage.py backup` and
`manage.py restore` timed, beside what an operator would otherwise run by hand, in the same run:
`pg_dump -Fc` of the database plus `tar` of the lake's directory (which is not one consistent
snapshot: the lake's files can change between the two) and its restore (`pg_restore`, `tar x`).

    DJANGO_SETTINGS_MODULE=config.settings.test \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/backup.py [--events 2000000 --rows 20000]

Uses its own databases, <database of DATABASE_URL>_backup_src and _backup_dst (dropped at the end),
and a temporary lake directory. Prints the figures; no target (the issue sets none).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402


def timed(args, env):
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def size(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def count_events(env):
    check = (
        "from analytics.lake import connections as lake; "
        "print(lake.query('SELECT count(*) FROM lake.metric_events')[1][0][0])"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", check],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="metric events in the lake")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the demo sheet")
    args = parser.parse_args()
    src_url, src = common.bench_database_url("backup_src", "bench/backup.py")
    dst_url, dst = common.bench_database_url("backup_dst", "bench/backup.py")
    work = Path(tempfile.mkdtemp(prefix="gc-bench-backup-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    base.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    src_env = {**base, "DATABASE_URL": src_url, "GRIDCAST_INSTALLATION": src, "ANALYTICS_DATA_PATH": str(work / "src")}
    dst_env = {**base, "DATABASE_URL": dst_url, "GRIDCAST_INSTALLATION": dst, "ANALYTICS_DATA_PATH": str(work / "dst")}
    manage = [sys.executable, "manage.py"]
    try:
        common.recreate_database(src_url, src)
        print(f"Filling {src}: migrate, a {args.rows:,}-row sheet written through, {args.events:,} metric events ...")
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=src_env, check=True)
        subprocess.run(
            [*manage, "seed_demo", "--rows", str(args.rows), "--seed", "1"],
            cwd=ROOT,
            env=src_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run([*manage, "rebuild_analytics", "-v0"], cwd=ROOT, env=src_env, check=True)
        fill = (
            "from analytics.metrics import schema as s; from analytics.lake import connections as lake; "
            "con = s.connection(); s.ensure_table(con); "
            f"con.execute(\"INSERT INTO lake.metric_events SELECT 1, 'bench', 'm' || (i % 20), i * 0.5, "
            f"TIMESTAMPTZ '2026-01-01' + to_seconds(i), MAP {{'region': 'r' || (i % 7)}}, 'r' || (i % 7), NULL, NULL, "
            f'NULL, NULL FROM range({args.events}) t(i)")'
        )
        subprocess.run([*manage, "shell", "--no-imports", "-c", fill], cwd=ROOT, env=src_env, check=True)
        source_events = count_events(src_env)
        lake_dir = work / "src" / src
        print(
            f"database {src}, lake {size(lake_dir) / 1e6:,.1f} MB in {sum(1 for _ in lake_dir.rglob('*.parquet'))} files"
        )

        archive = work / "backup.tar.gz"
        t_backup = timed([*manage, "backup", str(archive), "-v0"], src_env)
        plain = work / "backup.tar"
        t_backup_plain = timed([*manage, "backup", str(plain), "-v0"], src_env)
        pg_dump = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
        t_dump = timed(
            [pg_dump, "-Fc", f"--file={work / 'base.dump'}", f"--dbname={src}", "-h", "127.0.0.1", "-U", "postgres"],
            src_env,
        )
        t_tar = timed(["tar", "czf", str(work / "base-lake.tar.gz"), "-C", str(work / "src"), src], src_env)

        common.recreate_database(dst_url, dst)
        t_restore = timed([*manage, "restore", str(archive), "-v0"], dst_env)
        common.recreate_database(dst_url, dst)
        shutil.rmtree(work / "dst", ignore_errors=True)
        t_restore_plain = timed([*manage, "restore", str(plain), "-v0"], dst_env)
        restored = count_events(dst_env)
        assert restored == source_events, (restored, source_events)
        common.recreate_database(dst_url, dst)
        pg_restore = shutil.which("pg_restore") or "/usr/lib/postgresql/15/bin/pg_restore"
        (work / "base-dst").mkdir()
        t_base_restore = timed(
            [pg_restore, "--no-owner", f"--dbname={dst}", "-h", "127.0.0.1", "-U", "postgres", str(work / "base.dump")],
            dst_env,
        )
        t_base_restore += timed(["tar", "xzf", str(work / "base-lake.tar.gz"), "-C", str(work / "base-dst")], dst_env)

        mb = lambda p: size(p) / 1e6  # noqa: E731
        print(f"\nmetric events restored and counted: {restored:,} (as in the source)")
        print(f"{'':38}{'seconds':>9}{'MB':>10}")
        print(f"{'manage.py backup (.tar.gz)':38}{t_backup:>9.1f}{mb(archive):>10.1f}")
        print(f"{'manage.py backup (.tar)':38}{t_backup_plain:>9.1f}{mb(plain):>10.1f}")
        print(
            f"{'baseline: pg_dump -Fc + tar czf lake':38}{t_dump + t_tar:>9.1f}"
            f"{mb(work / 'base.dump') + mb(work / 'base-lake.tar.gz'):>10.1f}"
        )
        print(f"{'manage.py restore (.tar.gz)':38}{t_restore:>9.1f}")
        print(f"{'manage.py restore (.tar)':38}{t_restore_plain:>9.1f}")
        print(f"{'baseline: pg_restore + tar xzf lake':38}{t_base_restore:>9.1f}")
    finally:
        common.drop_database(src_url, src)
        common.drop_database(dst_url, dst)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

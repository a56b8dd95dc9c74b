"""Whether an installation's lake and database are one consistent state, as a restored backup of a
running installation must be. Run as a script (`python -m tests.analytics.backup.consistency`) for
the installation its environment names, it prints JSON:

- "ahead": sheets whose version in the lake is past the database's (the lake must never be ahead);
- "rollup": the metric rollup's minute rows count exactly the events of the snapshots it folded
  (a catalog whose Parquet files were not those of its snapshot would not);
- "mismatched": sheets whose lake view differs from the database once the writer caught up.
"""

import json
import os

import django


def check() -> dict:
    from analytics.lake import connections as lake_connections
    from analytics.metrics.rollup import MINUTE
    from analytics.metrics.schema import ROLLUP, STATE, TABLE
    from analytics.queries.selectors import sheet_rows
    from analytics.writethrough.state import load_states
    from analytics.writethrough.writer import Writer
    from sheets.models import Sheet
    from tests.analytics.sheet_lake import expected_rows

    con = lake_connections.connect(read_only=True)
    try:
        _, states = load_states(con)
        versions = dict(Sheet.objects.values_list("id", "version"))
        ahead = sorted(sid for sid, state in states.items() if state.version > versions.get(sid, 0))
        upto = con.execute(f"SELECT max(upto) FROM {STATE}").fetchone()[0] or 0
        folded = con.execute(f"SELECT coalesce(sum(n), 0) FROM {ROLLUP} WHERE grain = {MINUTE.seconds}").fetchone()[0]
        events = con.execute(f"SELECT count(*) FROM {TABLE} WHERE snapshot_id <= {int(upto)}").fetchone()[0]
    finally:
        con.close()
    writer = Writer()
    try:
        writer.catch_up()
    finally:
        writer.close()
    mismatched = sorted(sid for sid in versions if sheet_rows(sid) != expected_rows(sid))
    return {
        "ahead": ahead,
        "rollup": {"folded": int(folded), "events": int(events)},
        "mismatched": mismatched,
        "sheets": len(versions),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    django.setup()
    print(json.dumps(check()))

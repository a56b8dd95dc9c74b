"""The lake's connections, names and write lock (analytics/lake/connections.py, schema.py)."""

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from analytics.lake import connections as lake_connections
from analytics.lake.connections import catalog, connect, postgres_conninfo, query, sqlite_catalog_path, write_lock
from analytics.lake.schema import base_name, column_names, quote_name, sheet_view_name, view_name


def test_names_of_a_sheets_tables():
    assert view_name(42) == "sheet_42" and view_name("7") == "sheet_7"
    assert sheet_view_name(42) == "lake.sheet_42"
    assert base_name(42) == "sheet_42_base"
    assert quote_name('a "b"') == '"a ""b"""'
    with pytest.raises(ValueError):
        view_name("42; DROP TABLE cell_events")


def test_column_names_are_sanitised_unique_and_never_reserved():
    columns = {
        "c1": {"name": "Order Total (€)", "type": "number", "position": 2},
        "c2": {"name": "order total", "type": "number", "position": 1},
        "c3": {"name": "2024", "type": "integer", "position": 3},
        "c4": {"name": "Workspace ID", "type": "text", "position": 4},
        "c5": {"name": "!!!", "type": "text", "position": 5},
        "c6": {"name": "Gone", "type": "text", "position": 0, "deleted": True},
        "c10": {"name": "Order Total", "type": "text", "position": 2},
    }
    names = column_names(columns)
    assert "c6" not in names  # a deleted column has no name in the view
    # By position, then key number: c2 takes the plain name first.
    assert names["c2"] == "order_total" and names["c1"] == "order_total_2" and names["c10"] == "order_total_3"
    assert names["c3"] == "_2024"
    assert names["c4"] == "workspace_id_2"  # never one of _row, _position, workspace_id
    assert names["c5"] == "c5"  # nothing left of the name: its key
    assert len(set(names.values())) == len(names)


def test_the_catalog_follows_the_settings(settings, tmp_path):
    assert catalog().startswith("postgres:") and f"dbname={settings.DATABASES['default']['NAME']}" in catalog()
    assert postgres_conninfo() == catalog().split(":", 1)[1] and sqlite_catalog_path() is None
    settings.ANALYTICS = {**settings.ANALYTICS, "CATALOG": f"sqlite:{tmp_path}/lake.sqlite"}
    assert sqlite_catalog_path() == f"{tmp_path}/lake.sqlite" and postgres_conninfo() is None


def test_write_lock_is_nothing_with_a_postgresql_catalog(tmp_path):
    with write_lock(), write_lock():
        pass
    assert not list(tmp_path.iterdir())


def test_write_lock_makes_writers_of_a_sqlite_catalog_take_turns(settings, tmp_path):
    settings.ANALYTICS = {**settings.ANALYTICS, "CATALOG": f"sqlite:{tmp_path}/lake.sqlite"}
    events, holding = [], threading.Event()

    def first():
        with write_lock():
            with write_lock():  # reentrant within a thread
                events.append("first in")
                holding.set()
                time.sleep(0.3)
                events.append("first out")

    def second():
        holding.wait(5)
        with write_lock():
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert events == ["first in", "first out", "second in"]
    assert (tmp_path / "lake.sqlite.lock").exists()


@pytest.mark.django_db(transaction=True)
def test_connect_attaches_the_lake(lake_files):
    con = connect()
    try:
        assert con.execute("SELECT current_database()").fetchone()[0] == "lake"
        con.execute("CREATE TABLE IF NOT EXISTS lake_connection_probe (n INTEGER)")
        assert "lake_connection_probe" in {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        con.execute("DROP TABLE lake_connection_probe")
    finally:
        con.close()


@pytest.mark.django_db(transaction=True)
def test_reads_keep_one_connection_per_thread_until_closed(lake_files):
    try:
        assert query("SELECT 42 AS answer") == (["answer"], [(42,)])
        mine = lake_connections._local.con
        query("SELECT 1")
        assert lake_connections._local.con is mine  # reused
        with pytest.raises(duckdb.CatalogException):
            query("SELECT * FROM no_such_table")
        assert lake_connections._local.con is None  # a broken connection is not reused
        assert query("SELECT 2")[1] == [(2,)]

        theirs = []
        thread = threading.Thread(target=lambda: theirs.append((query("SELECT 3"), lake_connections._local.con)))
        thread.start()
        thread.join(60)
        assert theirs[0][0][1] == [(3,)] and theirs[0][1] is not lake_connections._local.con
        assert theirs[0][1] in lake_connections._opened
        lake_connections.close_all()  # every thread's, e.g. at the end of tests
        assert not lake_connections._opened
        assert query("SELECT 4")[1] == [(4,)]  # a new one at the next query
    finally:
        lake_connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_every_connection_has_the_configured_memory_limit_and_threads(lake_files, settings):
    """DuckDB's own default is 80% of the machine's memory per connection (memory grew under load)."""
    con = connect()
    try:
        assert con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone() == (
            "488.2 MiB",  # the default 512MB (decimal) as DuckDB shows it
            2,
        )
    finally:
        con.close()
    settings.ANALYTICS = {**settings.ANALYTICS, "DUCKDB_MEMORY_LIMIT": "1GiB", "DUCKDB_THREADS": 1}
    lake_connections.close()
    try:
        assert query("SELECT current_setting('memory_limit'), current_setting('threads')")[1] == [("1.0 GiB", 1)]
    finally:
        lake_connections.close()


@pytest.mark.parametrize(
    ("variable", "value"), [("GRIDCAST_DUCKDB_MEMORY_LIMIT", "lots"), ("GRIDCAST_DUCKDB_THREADS", "0")]
)
def test_bad_duckdb_settings_are_refused_at_start(variable, value):
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.test"],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and variable in result.stderr

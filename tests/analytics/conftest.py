"""Fixtures of the analytics tests on the sheet write-through's lake: the test database's
`ducklake` schema is the catalog (fresh each session); its Parquet files go under
var/lake/<test database>/."""

import shutil

import pytest
from channels.db import DatabaseSyncToAsync
from django.db import close_old_connections

from analytics.dashboards import live
from analytics.lake import connections as lake_connections
from analytics.lake.connections import data_path
from analytics.metrics import schema as metric_schema
from analytics.writethrough.writer import Writer


@pytest.fixture(scope="session")
def lake_files(django_db_setup, django_db_blocker):
    """The lake's Parquet files, removed at the end of the session (only then: every test module
    of the session writes to the same lake)."""
    yield
    lake_connections.close_all()
    with django_db_blocker.unblock():
        shutil.rmtree(data_path(), ignore_errors=True)


@pytest.fixture
def writer(lake_files, transactional_db):
    w = Writer()
    yield w
    w.close()
    # Lake connections (this thread's, and those of threads that computed widgets) hold a
    # connection to the catalog, which would keep the test database from being dropped.
    lake_connections.close_all()


@pytest.fixture
def lake_writer(transactional_db):
    """A writer on the lake without the session's lake_files; at its end, this thread's lake
    connection and the shared metrics connection are closed (each holds a connection to the
    catalog, which would keep the test database from being dropped)."""
    writer = Writer()
    yield writer
    writer.close()
    lake_connections.close()
    metric_schema.reset_connection()


@pytest.fixture
def widget_threads_return_connections(monkeypatch):
    """WebsocketCommunicator makes channels' close_old_connections a no-op, so the database
    connection a widget's computation takes in its worker thread (a sheet widget looks its sheet
    up) would never go back to the pool, and would keep the test database from being dropped.
    Return it as a served connection does."""

    def compute(*args):
        try:
            return live.compute(*args)
        finally:
            close_old_connections()

    monkeypatch.setattr(live, "_compute", DatabaseSyncToAsync(compute, thread_sensitive=False))


@pytest.fixture
def allow_loopback(settings):
    """Outbound calls may reach loopback, as an operator allows an internal address."""
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": ["127.0.0.1/32"]}


@pytest.fixture
def receiver(allow_loopback):
    """receiver(*statuses, **options): a real HTTP receiver on loopback (alerts/webhook_receiver.py)
    answering these statuses in turn; closed after the test."""
    from .alerts.webhook_receiver import Receiver

    made = []

    def make(*statuses, **kwargs):
        made.append(Receiver(statuses or (200,), **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()

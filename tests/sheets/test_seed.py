import io
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import Membership, Role, User, Workspace
from sheets import column_types, selectors, services
from sheets.demo import DEMO_BOT, DEMO_BOT_NAME
from sheets.management.commands.seed_demo import DEMO_MEMBERS, DEMO_PASSWORD, DEMO_SUPERUSER
from sheets.models import Column, Operation, Row, Sheet

ROOT = Path(__file__).resolve().parents[2]


def seed(**options):
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def demo_sheet():
    return Sheet.objects.get(workspace__name="Demo", name="orders")


def sheet_rows(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("data", flat=True))


def logins_in(output):
    return all(email in output for email, _ in DEMO_MEMBERS) and DEMO_SUPERUSER in output and DEMO_PASSWORD in output


@pytest.mark.django_db(transaction=True)
def test_seed_makes_logins_with_their_roles_and_one_bulk_operation():
    output = seed(rows=500, cols=12, seed=7)

    assert logins_in(output)
    workspace = Workspace.objects.get(name="Demo")
    roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))
    assert roles == {**{email: role.value for email, role in DEMO_MEMBERS}, DEMO_BOT: Role.EDITOR.value}
    for email, _ in [*DEMO_MEMBERS, (DEMO_SUPERUSER, None)]:
        assert Client().login(email=email, password=DEMO_PASSWORD), email
    # The demo collaborator edits from inside the server (analytics.demo); nobody logs in as it.
    bot = User.objects.get(email=DEMO_BOT)
    assert bot.label == DEMO_BOT_NAME and not bot.has_usable_password()
    assert not Client().login(email=DEMO_BOT, password=DEMO_PASSWORD) and DEMO_BOT not in output
    admin = Client()
    admin.login(email=DEMO_SUPERUSER, password=DEMO_PASSWORD)
    assert admin.get("/admin/accounts/user/").status_code == 200

    sheet = demo_sheet()
    assert Row.objects.filter(sheet=sheet).count() == 500
    assert [c.key for c in selectors.sheet_columns(sheet)] == [f"c{i}" for i in range(1, 13)]
    log = list(Operation.objects.filter(sheet=sheet).order_by("version").values_list("version", "kind", "payload"))
    assert [(version, kind) for version, kind, _ in log] == [(1, "sheet.create"), (2, "rows.insert")]
    assert [c["key"] for c in log[0][2]["columns"]] == [f"c{i}" for i in range(1, 13)]
    assert log[1][2] == {"bulk": True, "count": 500}
    assert (sheet.version, sheet.layout_version) == (2, 2)

    # The roles reach the rows: a viewer reads, an editor writes.
    row_id = Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True).first()
    cells = {"cells": [{"row": row_id, "col": "c5", "value": 3}]}
    viewer, editor = Client(), Client()
    viewer.login(email="viewer@demo.gridcast", password=DEMO_PASSWORD)
    editor.login(email="editor@demo.gridcast", password=DEMO_PASSWORD)
    assert viewer.get(f"/api/v1/sheets/{sheet.pk}/rows/?limit=5").json()["total"] == 500
    assert viewer.post(f"/api/v1/sheets/{sheet.pk}/cells/", cells, content_type="application/json").status_code == 403
    assert editor.post(f"/api/v1/sheets/{sheet.pk}/cells/", cells, content_type="application/json").status_code == 200

    # VACUUM ANALYZE ran after the load: statistics counted the rows and every page is all-visible.
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples, relpages, relallvisible FROM pg_class WHERE relname = 'sheets_row'")
        reltuples, relpages, relallvisible = cursor.fetchone()
    assert reltuples == 500 and relpages > 0 and relallvisible == relpages


@pytest.mark.django_db
def test_every_value_is_the_stored_form_of_its_column_type():
    seed(rows=500, cols=12, seed=3)
    sheet = demo_sheet()
    columns = selectors.sheet_columns(sheet)
    assert [(c.name, c.type) for c in columns] == [
        ("Order", "text"),
        ("Customer", "text"),
        ("Region", "choice"),
        ("Product", "text"),
        ("Quantity", "integer"),
        ("Unit price", "number"),
        ("Amount", "number"),
        ("Status", "choice"),
        ("Ordered", "date"),
        ("Paid", "boolean"),
        ("Metric 11", "number"),
        ("Note 12", "text"),
    ]
    rows = sheet_rows(sheet)
    for data in rows:
        assert set(data) == {c.key for c in columns}
        for column in columns:
            value = data[column.key]
            stored = column_types.coerce(column.type, value, column.options)
            assert stored == value and type(stored) is type(value), (column.name, value)
    assert [data["c1"] for data in rows[:3]] == ["ORD-0000001", "ORD-0000002", "ORD-0000003"]
    assert all(data["c7"] == round(data["c5"] * data["c6"], 2) for data in rows)
    assert len({data["c2"] for data in rows}) > 100  # customers vary
    assert {data["c8"] for data in rows} >= {"new", "shipped", "delivered"}


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_rows_and_seeding_again_replaces_the_demo():
    seed(rows=300, cols=14, seed=11, verbosity=0)
    first = sheet_rows(demo_sheet())
    seed(rows=300, cols=14, seed=11, verbosity=0)
    again = sheet_rows(demo_sheet())
    seed(rows=300, cols=14, seed=12, verbosity=0)
    other = sheet_rows(demo_sheet())

    assert again == first
    assert other != first
    assert Workspace.objects.filter(name="Demo").count() == 1
    assert Sheet.objects.count() == 1 and Row.objects.count() == 300
    assert (
        User.objects.filter(email__endswith="@demo.gridcast").count() == 6
    )  # 4 members, the superuser, the collaborator


@pytest.mark.django_db
def test_if_empty_seeds_once_and_then_only_prints_the_logins():
    seed(rows=50, cols=5, seed=1, if_empty=True)
    sheet = demo_sheet()
    editor = User.objects.get(email="editor@demo.gridcast")
    row_id = Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True).first()
    edit = services.cells_update(sheet=sheet, actor=editor, cells=[{"row": row_id, "col": "c2", "value": "Changed"}])

    output = seed(rows=80, cols=7, seed=2, if_empty=True)

    assert logins_in(output) and "nothing seeded" in output
    assert demo_sheet().pk == sheet.pk and Sheet.objects.get(pk=sheet.pk).version == edit.version == 3
    assert Row.objects.filter(sheet=sheet).count() == 50
    assert Column.objects.filter(sheet=sheet).count() == 5
    assert Row.objects.get(pk=row_id).data["c2"] == "Changed"


@pytest.mark.django_db
def test_row_windows_after_a_bulk_load_match_the_sheet_order():
    seed(rows=2500, cols=10, seed=5, verbosity=0)
    sheet = demo_sheet()
    ordered = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", "data__c1"))

    for offset, limit in [(0, 200), (990, 20), (1000, 5), (1999, 2), (2400, 200)]:
        window = selectors.rows_window(sheet, offset=offset, limit=limit)
        assert window["total"] == 2500
        expected = ordered[offset : offset + limit]
        assert [(r["id"], r["values"]["c1"]) for r in window["rows"]] == expected
        assert [r["index"] for r in window["rows"]] == list(range(offset, offset + len(expected)))
    assert expected[-1][1] == "ORD-0002500"

    # The cached checkpoints follow the next layout change.
    owner = User.objects.get(email="owner@demo.gridcast")
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "ORD-9999999"}], after=ordered[1000][0])
    window = selectors.rows_window(sheet, offset=1000, limit=3)
    assert [r["values"]["c1"] for r in window["rows"]] == ["ORD-0001001", "ORD-9999999", "ORD-0001002"]
    assert window["total"] == 2501


def test_make_run_seeds_sqlite_with_bulk_create(tmp_path):
    """The embedded `make run` path: migrate and seed a fresh SQLite database in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.embedded", GRIDCAST_VAR_DIR=str(tmp_path))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    first = subprocess.run(
        [*manage, "seed_demo", "--if-empty", "--rows", "1200", "--seed", "4"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    second = subprocess.run(
        [*manage, "seed_demo", "--if-empty"], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout

    assert "1,200 rows × 10 columns" in first and logins_in(first)
    assert "nothing seeded" in second and logins_in(second)
    with sqlite3.connect(tmp_path / "gridcast.sqlite3") as db:
        assert db.execute("SELECT count(*), min(position), max(position) FROM sheets_row").fetchone() == (1200, 1, 1200)
        assert db.execute("SELECT payload FROM sheets_operation WHERE kind = 'rows.insert'").fetchall() == [
            ('{"bulk": true, "count": 1200}',)
        ]
        # What analytics adds, once: a dashboard per person and the alert rule.
        assert db.execute("SELECT count(*) FROM analytics_dashboardlayout").fetchone() == (4,)
        assert db.execute("SELECT name, state FROM analytics_alertrule").fetchall() == [("Error rate above 5 %", "ok")]
    # A day of metrics went into the lake (SQLite catalog under var/, no server running), once.
    written = int(re.search(r"Seeded ([\d,]+) metric events", first).group(1).replace(",", ""))
    assert written > 50_000
    with sqlite3.connect(tmp_path / "ducklake.sqlite") as catalog:
        assert catalog.execute(
            "SELECT s.record_count FROM ducklake_table_stats s JOIN ducklake_table t USING (table_id) "
            "WHERE t.table_name = 'metric_events' AND t.end_snapshot IS NULL"
        ).fetchone() == (written,)

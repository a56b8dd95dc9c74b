"""Superset provisioning and guest tokens against the real Superset on loopback (`make superset`):
idempotent sync, datasets that follow the sheets, and guest tokens that show a workspace its own
rows only, through Superset's chart data API."""

import json
import time

import jwt
import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client as DjangoClient

from accounts.models import Role
from analytics.models_superset import SupersetObject
from analytics.superset import client as superset_client
from analytics.superset import guest_tokens, provisioning
from analytics.superset import sync as superset_sync
from sheets import services
from tests.analytics.superset_helpers import chart_data, shop, stored, superset_running  # noqa: F401
from tests.factories import member, user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("superset_running")]


def orders_total(body):
    return sum(row["orders"] for row in body["result"][0]["data"])


def test_provisioning_is_idempotent(lake_writer):
    workspace, owner, sheet = shop("Idem", orders=3, regions=["eu"], rows=[("Ada", 5)])
    lake_writer.catch_up()
    call_command("superset_sync", workspace=[workspace.pk])
    first = {(o.kind, o.key): (o.superset_id, o.uuid) for o in SupersetObject.objects.all()}
    assert ("dataset", f"sheet:{sheet.pk}") in first and ("dataset", "metrics") in first
    assert ("dataset", "history") in first
    assert {k for k in first if k[0] == "chart"} == {
        ("chart", f"ws:{workspace.pk}:orders"),
        ("chart", f"ws:{workspace.pk}:revenue"),
        ("chart", f"ws:{workspace.pk}:history"),
        ("chart", f"ws:{workspace.pk}:sheet:{sheet.pk}"),
    }

    provisioning.sync_workspace(workspace.pk)
    assert {(o.kind, o.key): (o.superset_id, o.uuid) for o in SupersetObject.objects.all()} == first

    # Records lost (a restored Gridcast database): found again by name, nothing duplicated.
    SupersetObject.objects.exclude(kind="chart").delete()
    provisioning.sync_workspace(workspace.pk)
    again = {(o.kind, o.key): o.superset_id for o in SupersetObject.objects.exclude(kind="chart")}
    assert again == {k: v[0] for k, v in first.items() if k[0] != "chart"}
    client = superset_client.Client()
    charts = client.get(f"/api/v1/dashboard/{again[('dashboard', f'ws:{workspace.pk}')]}/charts")["result"]
    assert len(charts) == 4
    assert (
        client.find("dataset", "table_name", f"{provisioning.prefix()}_sheet_{sheet.pk}")["id"]
        == first[("dataset", f"sheet:{sheet.pk}")][0]
    )


def test_datasets_follow_the_sheets(lake_writer):
    workspace, owner, sheet = shop("Schema", orders=1, regions=["eu"], rows=[("Ada", 5)])
    lake_writer.catch_up()
    provisioning.sync_workspace(workspace.pk)
    client = superset_client.Client()
    dataset_id = stored("dataset", f"sheet:{sheet.pk}").superset_id

    def columns():
        return {c["column_name"] for c in client.get(f"/api/v1/dataset/{dataset_id}")["result"]["columns"]}

    assert {"customer", "amount", "workspace_id"} <= columns()
    services.column_add(sheet=sheet, actor=owner, name="Shipped on", type="date")
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Buyer")
    lake_writer.catch_up()
    provisioning.sync_workspace(workspace.pk)
    assert {"buyer", "amount", "shipped_on"} <= columns() and "customer" not in columns()
    assert stored("dataset", f"sheet:{sheet.pk}").superset_id == dataset_id
    chart = json.loads(
        client.get(f"/api/v1/chart/{stored('chart', f'ws:{workspace.pk}:sheet:{sheet.pk}').superset_id}")["result"][
            "params"
        ]
    )
    assert chart["all_columns"] == ["buyer", "amount", "shipped_on"]

    services.sheet_delete(sheet=sheet, actor=owner)
    lake_writer.catch_up()
    provisioning.sync_workspace(workspace.pk)
    assert not client.exists("dataset", dataset_id)
    assert not SupersetObject.objects.filter(key__contains=f"sheet:{sheet.pk}").exists()


@pytest.fixture
def background_sync(jobs_worker):
    """A jobs worker runs the syncs the test queues; none left queued or running after it."""
    yield
    superset_sync.wait_for_sync()  # nothing of this test may still run when its database is flushed


def test_sheet_changes_sync_in_the_background(lake_writer, background_sync, settings):
    workspace, owner, _ = shop("Auto", orders=1, regions=["eu"], rows=[("Ada", 5)])
    lake_writer.catch_up()
    provisioning.sync_workspace(workspace.pk)
    settings.SUPERSET = {**settings.SUPERSET, "AUTO_SYNC": True}
    with transaction.atomic():
        sheet = services.sheet_create(
            workspace=workspace, name="Returns", actor=owner, columns=[{"name": "Reason", "type": "text"}]
        )
    deadline = time.monotonic() + 60
    while not SupersetObject.objects.filter(kind="dataset", key=f"sheet:{sheet.pk}").exists():
        assert time.monotonic() < deadline, "the new sheet's dataset was not made in the background"
        lake_writer.catch_up()
        time.sleep(0.5)
    assert superset_client.Client().exists("dataset", stored("dataset", f"sheet:{sheet.pk}").superset_id)


def test_guest_token_shows_only_its_workspace(lake_writer):
    a, owner_a, sheet_a = shop("Shop A", orders=3, regions=["eu"], rows=[("Ada", 5), ("Bob", 7)])
    b, owner_b, sheet_b = shop("Shop B", orders=5, regions=["us", "asia"], rows=[("Zed", 1)])
    lake_writer.catch_up()
    provisioning.sync_workspace(a.pk)
    provisioning.sync_workspace(b.pk)

    viewer = member(a, Role.VIEWER)
    web = DjangoClient()
    web.force_login(viewer)
    answer = web.post(f"/api/v1/workspaces/{a.pk}/superset/guest-token/")
    assert answer.status_code == 200, answer.content
    token = answer.json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["resources"] == [{"type": "dashboard", "id": stored("dashboard", f"ws:{a.pk}").uuid}]
    # One rule for every dataset the guest reads (none named): a dataset without the column fails.
    # And a viewer sees no history (its values are for editors).
    assert claims["rls_rules"] == [
        {"clause": f"workspace_id = {a.pk}"},
        {"dataset": stored("dataset", "history").superset_id, "clause": "1 = 0"},
    ]
    assert claims["exp"] - claims["iat"] == 300

    status, body = chart_data(token, f"ws:{a.pk}:orders")
    assert status == 200, body
    assert orders_total(body) == 3  # B's 5 orders are in the same table, not in A's answer
    status, body = chart_data(token, f"ws:{a.pk}:revenue")
    assert status == 200 and [row["tag_region"] for row in body["result"][0]["data"]] == ["eu"]
    status, body = chart_data(token, f"ws:{a.pk}:sheet:{sheet_a.pk}")
    assert status == 200 and [row["customer"] for row in body["result"][0]["data"]] == ["Ada", "Bob"]
    status, body = chart_data(token, f"ws:{a.pk}:history")
    assert status == 200 and body["result"][0]["data"] == []  # a viewer's token: no history

    # Edited requests: B's chart or dashboard with A's token, or A's chart asking for B's rows.
    status, _ = chart_data(token, f"ws:{b.pk}:orders")
    assert status in (401, 403)
    status, _ = chart_data(token, f"ws:{b.pk}:sheet:{sheet_b.pk}", dashboard_key=f"ws:{a.pk}")
    assert status in (401, 403)

    def ask_for_b(query):
        for q in query["queries"]:
            q["filters"] = [f for f in q["filters"] if f["col"] != "workspace_id"] + [
                {"col": "workspace_id", "op": "==", "val": b.pk}
            ]

    status, body = chart_data(token, f"ws:{a.pk}:orders", change=ask_for_b)
    assert status in (401, 403) or orders_total(body) == 0

    # A token for B's dashboard is only given to B's people.
    assert web.post(f"/api/v1/workspaces/{b.pk}/superset/guest-token/").status_code == 404
    stranger = DjangoClient()
    stranger.force_login(user())
    assert stranger.post(f"/api/v1/workspaces/{a.pk}/superset/guest-token/").status_code == 404
    assert DjangoClient().post(f"/api/v1/workspaces/{a.pk}/superset/guest-token/").status_code in (401, 403)


def test_expired_and_forged_tokens_are_refused(lake_writer):
    a, owner, _ = shop("Expiring", orders=2, regions=["eu"], rows=[("Ada", 5)])
    lake_writer.catch_up()
    provisioning.sync_workspace(a.pk)
    expired = guest_tokens.guest_token(user=owner, workspace_id=a.pk, seconds=60, now=time.time() - 120)["token"]
    status, _ = chart_data(expired, f"ws:{a.pk}:orders")
    assert status in (401, 403)
    claims = jwt.decode(
        guest_tokens.guest_token(user=owner, workspace_id=a.pk)["token"], options={"verify_signature": False}
    )
    claims["rls_rules"] = []  # without the workspace's rules, signed with another secret
    forged = jwt.encode(claims, "not-the-secret-of-this-superset-at-all", algorithm="HS256")
    status, _ = chart_data(forged, f"ws:{a.pk}:orders")
    assert status in (401, 403)
    fresh = guest_tokens.guest_token(user=owner, workspace_id=a.pk)["token"]
    status, body = chart_data(fresh, f"ws:{a.pk}:orders")
    assert status == 200 and orders_total(body) == 2


def test_dashboard_page_says_when_superset_is_off(lake_writer, settings):
    a, owner, _ = shop("Off", orders=1, regions=["eu"], rows=[("Ada", 5)])
    settings.SUPERSET = {**settings.SUPERSET, "URL": "http://127.0.0.1:9"}  # nothing listens there
    web = DjangoClient()
    web.force_login(owner)
    page = web.get(f"/workspaces/{a.pk}/dashboard/")
    assert page.status_code == 200
    assert page.context["config"]["superset"]["available"] is False
    answer = web.post(f"/api/v1/workspaces/{a.pk}/superset/guest-token/")
    assert answer.status_code == 503 and "not running" in answer.json()["error"]["message"]


def test_the_history_dataset_shows_editors_their_workspace_changes_only(lake_writer):
    """cell_history through Superset: an editor's guest token reads its workspace's changes (the
    dashboard's per-person chart, and the values when a request asks for them), never another's."""
    a, owner_a, sheet_a = shop("Hist A", orders=1, regions=["eu"], rows=[("Ada", 5), ("Bob", 7)])
    b, owner_b, sheet_b = shop("Hist B", orders=1, regions=["us"], rows=[("Zed", 1)])
    row = sheet_a.rows.order_by("id").first().pk
    services.cells_update(sheet=sheet_a, actor=owner_a, cells=[{"row": row, "col": "c2", "value": 6}])
    services.cells_update(
        sheet=sheet_b, actor=owner_b, cells=[{"row": sheet_b.rows.get().pk, "col": "c2", "value": 99}]
    )
    lake_writer.catch_up()
    provisioning.sync_workspace(a.pk)
    provisioning.sync_workspace(b.pk)
    editor = member(a, Role.EDITOR)
    web = DjangoClient()
    web.force_login(editor)
    token = web.post(f"/api/v1/workspaces/{a.pk}/superset/guest-token/").json()["token"]
    assert jwt.decode(token, options={"verify_signature": False})["rls_rules"] == [{"clause": f"workspace_id = {a.pk}"}]

    status, body = chart_data(token, f"ws:{a.pk}:history")
    assert status == 200, body
    assert sum(r["changes"] for r in body["result"][0]["data"]) == 3  # 2 rows created, 1 cell changed

    def raw_values(query):
        for q in query["queries"]:
            q.update(columns=["workspace_id", "sheet_id", "col_name", "old_value", "new_value"], metrics=[])
            q["filters"] = [f for f in q["filters"] if f["col"] != "workspace_id"]
            q.pop("orderby", None)
        query["form_data"]["viz_type"] = "table"

    status, body = chart_data(token, f"ws:{a.pk}:history", change=raw_values)
    assert status == 200, body
    rows = body["result"][0]["data"]
    assert {r["workspace_id"] for r in rows} == {a.pk} and {r["sheet_id"] for r in rows} == {sheet_a.pk}
    assert {"col_name": "Amount", "old_value": "5", "new_value": "6"} in [
        {k: r[k] for k in ("col_name", "old_value", "new_value")} for r in rows
    ]
    assert "99" not in json.dumps(rows)

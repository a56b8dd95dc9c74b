"""Threats through Superset, against the real one (`make superset`): its admin (or anyone with SQL
Lab on the lake) learning or using Gridcast's PostgreSQL credentials, reading files or attaching
other databases from SQL Lab; a guest reading a dataset that has no workspace rule; a guest using
more of Superset than an embedded dashboard needs."""

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
import uuid

import pytest
from django.conf import settings

from analytics.lake import connections as lake_connections
from analytics.models_superset import SupersetObject
from analytics.superset import client as superset_client
from analytics.superset import guest_tokens, provisioning
from tests.analytics.superset_helpers import chart_data, shop, stored, superset_running  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("superset_running")]


def secrets_of_the_catalog():
    """Text that must never leave Gridcast: the catalog's connection string and its parts."""
    db = settings.DATABASES["default"]
    found = [
        lake_connections.catalog(),
        lake_connections.catalog().split(":", 1)[1],
        "dbname=",
        "password=",
        f"user={db.get('USER') or 'postgres'}",
    ]
    if db.get("PASSWORD"):
        found.append(db["PASSWORD"])
    return found


def assert_no_catalog_secret(text):
    for secret in secrets_of_the_catalog():
        assert secret not in text, f"{secret!r} leaked: {text[:2000]}"


def as_admin(client, method, path, payload=None):
    """(status, text) of an admin request, whatever its status."""
    try:
        return 200, json.dumps(client.request(method, path, payload, ok=(200, 201)))
    except superset_client.SupersetError as error:
        return error.status, error.body


def sql_lab(client, database_id, sql):
    """Run `sql` in SQL Lab (POST /api/v1/sqllab/execute/) as the admin: (ran, text of the answer)."""
    status, text = as_admin(
        client,
        "POST",
        "/api/v1/sqllab/execute/",
        {
            "database_id": database_id,
            "sql": sql,
            "runAsync": False,
            "client_id": uuid.uuid4().hex[:10],
            "queryLimit": 100,
            "tab": "hardening",
            "schema": None,
            "select_as_cta": False,
            "expand_data": True,
        },
    )
    ran = status == 200 and json.loads(text).get("status") == "success"
    return ran, text


def as_guest(token, method, path, payload=None, opener=None, csrf=None):
    """(status, text) of a request with the guest token; with the `csrf` token of a page's session
    (and the `opener` holding that session), as the page sends it."""
    url = superset_client.conf("URL")
    headers = {"Content-Type": "application/json", "X-GuestToken": token}
    if csrf is not None:
        headers |= {"X-CSRFToken": csrf, "Referer": url}
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@pytest.fixture
def provisioned(lake_writer):
    workspace, owner, sheet = shop("Hardened", orders=3, regions=["eu"], rows=[("Ada", 5)])
    other, _, _ = shop("Neighbour", orders=7, regions=["us"], rows=[("Zed", 1)])
    lake_writer.catch_up()
    provisioning.sync_workspace(workspace.pk)
    return workspace, owner, sheet, other


def test_the_lake_database_in_superset_carries_no_credentials(provisioned):
    client = superset_client.Client()
    database_id = stored("database", "lake").superset_id
    seen = []
    for path in (
        f"/api/v1/database/{database_id}",
        f"/api/v1/database/{database_id}/connection",
        "/api/v1/database/?q=(page_size:100)",
    ):
        status, text = as_admin(client, "GET", path)
        assert status == 200, text
        assert_no_catalog_secret(text)
        seen.append(text)
    extra = json.loads(json.loads(seen[1])["result"]["extra"])
    assert extra["engine_params"]["connect_args"] == {"gridcast_lake": provisioning.prefix()}
    # The details are in a file only Superset's process reads.
    path = provisioning.lake_file()
    assert path.stat().st_mode & 0o077 == 0
    assert json.loads(path.read_text())["data_path"] == f"{lake_connections.data_path().resolve()}/"


def test_a_lost_lake_file_is_written_again_before_a_guest_reads(provisioned):
    """A Superset database made by an older Gridcast (its extra held the catalog) or a var/ that was
    cleaned: the next guest token syncs first."""
    workspace, owner, *_ = provisioned
    provisioning.lake_file().unlink()
    token = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)["token"]
    assert provisioning.lake_file().exists()
    status, body = chart_data(token, f"ws:{workspace.pk}:orders")
    assert status == 200, body
    assert sum(row["orders"] for row in body["result"][0]["data"]) == 3


def test_sql_lab_reads_the_lake_and_nothing_around_it(provisioned):
    workspace, *_ = provisioned
    client = superset_client.Client()
    database_id = stored("database", "lake").superset_id
    ran, text = sql_lab(
        client, database_id, f"SELECT count(*) AS n FROM lake.metric_events WHERE workspace_id = {workspace.pk}"
    )
    assert ran, text
    assert json.loads(text)["data"] == [{"n": 4}]

    # What DuckDB tells about its databases and secrets names no credential.
    for sql in ("SELECT database_name, path, options FROM duckdb_databases()", "SELECT * FROM duckdb_settings()"):
        ran, text = sql_lab(client, database_id, sql)
        assert_no_catalog_secret(text)

    conninfo = lake_connections.catalog().split(":", 1)[1]
    planted = lake_connections.data_path() / "planted.parquet"
    planted.unlink(missing_ok=True)
    lake_file = provisioning.lake_file()
    refused = [
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM read_text('/etc/passwd')",
        f"SELECT * FROM read_text('{lake_file}')",
        f"SELECT * FROM postgres_scan('{conninfo}', 'public', 'accounts_user')",
        "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT password FROM public.accounts_user')",
        "SELECT * FROM __ducklake_metadata_lake.public.accounts_user",
        f"FROM query('SELECT * FROM postgres_scan(''{conninfo}'', ''public'', ''accounts_user'')')",
        f"ATTACH '{conninfo}' AS gridcast (TYPE postgres, READ_ONLY)",
        f"SELECT 1; ATTACH '{conninfo}' AS gridcast (TYPE postgres, READ_ONLY)",
        f"COPY (SELECT 1 AS x) TO '{lake_connections.data_path().resolve()}/planted.parquet'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ]
    for sql in refused:
        ran, text = sql_lab(client, database_id, sql)
        assert not ran, f"SQL Lab ran {sql!r}: {text[:500]}"
        assert_no_catalog_secret(text)
        assert "pbkdf2" not in text and "md5$" not in text  # no password hash of Gridcast's users
    assert not planted.exists()


@pytest.fixture
def unruled_chart(provisioned):
    """A chart on the workspace's dashboard over a dataset without the workspace_id column (what an
    analyst could add in Superset by hand): every workspace's metric values."""
    workspace, *_ = provisioned
    client = superset_client.Client()
    database_id = stored("database", "lake").superset_id
    dataset_id = client.request(
        "POST",
        "/api/v1/dataset/",
        {
            "database": database_id,
            "table_name": f"{provisioning.prefix()}_unruled_{uuid.uuid4().hex[:8]}",
            "sql": "SELECT metric, value FROM lake.metric_events",
            "schema": None,
        },
    )["id"]
    params = {
        "viz_type": "table",
        "query_mode": "raw",
        "all_columns": ["metric", "value"],
        "adhoc_filters": [],
        "row_limit": 100,
        "time_range": "No filter",
    }
    query = {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": True,
        "queries": [
            {"columns": ["metric", "value"], "row_limit": 100, "filters": [], "orderby": [], "time_range": "No filter"}
        ],
        "form_data": {**params, "datasource": f"{dataset_id}__table"},
        "result_format": "json",
        "result_type": "full",
    }
    chart_id = client.request(
        "POST",
        "/api/v1/chart/",
        {
            "slice_name": "Unruled",
            "viz_type": "table",
            "datasource_id": dataset_id,
            "datasource_type": "table",
            "params": json.dumps({**params, "datasource": f"{dataset_id}__table"}),
            "query_context": json.dumps(query),
            "dashboards": [stored("dashboard", f"ws:{workspace.pk}").superset_id],
        },
    )["id"]
    SupersetObject.objects.create(
        kind="chart", key=f"ws:{workspace.pk}:unruled", superset_id=chart_id, workspace_id=workspace.pk
    )
    yield f"ws:{workspace.pk}:unruled"
    client.request("DELETE", f"/api/v1/chart/{chart_id}", ok=(200, 404))
    client.request("DELETE", f"/api/v1/dataset/{dataset_id}", ok=(200, 404))


def test_a_dataset_without_the_workspace_rule_shows_a_guest_nothing(provisioned, unruled_chart):
    workspace, owner, *_ = provisioned
    token = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)["token"]
    # The workspace's own charts still draw its rows, and only its rows...
    status, body = chart_data(token, f"ws:{workspace.pk}:orders")
    assert status == 200, body
    assert sum(row["orders"] for row in body["result"][0]["data"]) == 3
    # ... but a dataset that has no workspace_id column fails closed: an error, or no row.
    status, body = chart_data(token, unruled_chart)
    rows = body["result"][0]["data"] if status == 200 else []
    assert rows == [], f"a guest of workspace {workspace.pk} read {rows[:5]}"
    # The admin (no guest rule) sees what the chart is about: the fixture is not merely broken.
    client = superset_client.Client()
    chart = stored("chart", unruled_chart)
    query = json.loads(client.get(f"/api/v1/chart/{chart.superset_id}")["result"]["query_context"])
    answer = client.request("POST", "/api/v1/chart/data", query)
    # (The lake holds the metrics of every test that ran before: any 100 rows, not these.)
    assert answer["result"][0]["data"], "the unruled dataset reads nothing even for the admin"


def test_the_guest_role_has_only_what_embedded_charts_need(provisioned):
    workspace, owner, *_ = provisioned
    token = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)["token"]
    dashboard = stored("dashboard", f"ws:{workspace.pk}")
    database_id = stored("database", "lake").superset_id
    chart_id = stored("chart", f"ws:{workspace.pk}:orders").superset_id

    # What the embedded dashboard reads.
    for path in (
        f"/api/v1/dashboard/{dashboard.superset_id}",
        f"/api/v1/dashboard/{dashboard.superset_id}/charts",
        f"/api/v1/dashboard/{dashboard.superset_id}/datasets",
    ):
        status, text = as_guest(token, "GET", path)
        assert status == 200, (path, text[:300])

    # Databases, datasets, SQL Lab, tags, themes, writes: refused.
    for method, path, payload in (
        ("GET", "/api/v1/database/", None),
        ("GET", f"/api/v1/database/{database_id}", None),
        ("GET", f"/api/v1/database/{database_id}/connection", None),
        ("GET", "/api/v1/dataset/", None),
        ("GET", "/api/v1/tag/", None),
        ("GET", "/api/v1/theme/", None),
        ("GET", f"/api/v1/explore/?slice_id={chart_id}", None),
        ("POST", "/api/v1/sqllab/execute/", {"database_id": database_id, "sql": "SELECT 1", "runAsync": False}),
        ("PUT", f"/api/v1/chart/{chart_id}", {"slice_name": "Renamed by a guest"}),
        (
            "POST",
            "/api/v1/chart/",
            {"slice_name": "A guest's chart", "viz_type": "table", "datasource_id": 1, "datasource_type": "table"},
        ),
        ("PUT", f"/api/v1/dashboard/{dashboard.superset_id}", {"dashboard_title": "Renamed by a guest"}),
    ):
        status, text = as_guest(token, method, path, payload)
        assert status in (400, 401, 403, 404), (method, path, status, text[:300])
    client = superset_client.Client()
    assert client.get(f"/api/v1/chart/{chart_id}")["result"]["slice_name"] == "Orders over time"


def as_embedded_page(token, dashboard_uuid, method, path, payload):
    """(status, text) of a write sent as the embedded dashboard's page sends it: with the guest token
    and the CSRF token of the page Superset served (GET /embedded/<uuid>), in that page's session."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    url = superset_client.conf("URL")
    origin = (superset_client.conf("EMBED_ORIGINS") or [url])[0]
    with opener.open(urllib.request.Request(f"{url}/embedded/{dashboard_uuid}", headers={"Referer": origin})) as page:
        csrf = re.search(r'id="csrf_token"\s+value="([^"]+)"', page.read().decode()).group(1)
    return as_guest(token, method, path, payload, opener=opener, csrf=csrf)


def test_a_guests_colour_sync_is_answered_and_not_stored(provisioned):
    """Superset's dashboard page stores the label colours it worked out as it unloads (PUT .../colors),
    a guest's too: answered as done, nothing stored. Anyone else still meets Superset's own checks."""
    workspace, owner, *_ = provisioned
    guest = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)
    token = guest["token"]
    dashboard = stored("dashboard", f"ws:{workspace.pk}").superset_id
    client = superset_client.Client()
    before = client.get(f"/api/v1/dashboard/{dashboard}")["result"]["json_metadata"]
    colours = {"color_scheme": "bnbColors", "map_label_colors": {"eu": "#000000"}, "shared_label_colors": ["eu"]}
    path = f"/api/v1/dashboard/{dashboard}/colors?mark_updated=false"

    status, text = as_embedded_page(token, guest["dashboard"], "PUT", path, colours)
    assert status == 200, text[:300]
    assert client.get(f"/api/v1/dashboard/{dashboard}")["result"]["json_metadata"] == before

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, _ = as_embedded_page(forged, guest["dashboard"], "PUT", path, colours)
    assert status in (401, 403)
    assert client.get(f"/api/v1/dashboard/{dashboard}")["result"]["json_metadata"] == before

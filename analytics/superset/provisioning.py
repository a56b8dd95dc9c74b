"""Provisioning Superset through its REST API: the DuckLake database, a dataset per sheet view, one
for metric events, two of them rolled up (per minute, per hour) and one for the sheets' history
(cell_history), a default dashboard per workspace (embedded), and what Gridcast remembers of them.

Superset reads DuckLake only (never Gridcast's PostgreSQL tables): its DuckDB connections attach
the lake read-only, through the hook the generated superset_config.py installs (superset/config.py).
"""

import hashlib
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from accounts.models import Workspace
from analytics.lake import connections as lake
from analytics.lake.connections import query
from analytics.lake.schema import HISTORY_TABLE, sheet_view_name
from analytics.metrics import rollup
from analytics.metrics import schema as metric_schema
from analytics.models_superset import SupersetObject
from sheets.models import Sheet

from .client import Client, SupersetError, conf, rison

log = logging.getLogger(__name__)

MAX_SHEET_CHARTS = 6

# A lake view's columns: (name, DuckDB type).
Columns = list[tuple[str, str]]
# A sheet's dataset for the default dashboard: (sheet id, sheet name, dataset id, its columns).
SheetDataset = tuple[int, str, int, Columns]
# A chart of the default dashboard: (key, name, dataset id, viz params).
ChartSpec = tuple[str, str, int, dict[str, Any]]


def prefix() -> str:
    """Names in Superset carry the Django database's name: one Superset may serve several
    Gridcast databases (dev and tests), and with a SQLite metadata database a dataset's name must
    be unique across Superset's databases."""
    db = settings.DATABASES["default"]
    name = Path(str(db["NAME"])).stem if db["ENGINE"].endswith("sqlite3") else str(db["NAME"])
    return f"gc_{name}"


def lakes_dir() -> Path:
    """Where Gridcast tells Superset how to reach its lakes (SUPERSET["LAKES_DIR"]): readable by
    Superset's process, never by its users."""
    return Path(conf("LAKES_DIR"))


# What a DuckDB postgres secret holds (the rest of the conninfo stays in the ATTACH path).
_SECRET_FIELDS = {"host": "host", "port": "port", "dbname": "database", "user": "user", "password": "password"}


def lake_spec() -> dict:
    """How Superset's DuckDB attaches this database's lake: extension directory, data path and
    catalog, the catalog's credentials apart."""
    kind, _, rest = lake.catalog().partition(":")
    spec = {
        "kind": kind,
        "data_path": f"{lake.data_path().resolve()}/",
        "extension_directory": str(lake.extension_directory().resolve()),
    }
    if kind == "postgres":
        params = {key: str(value) for key, value in conninfo_to_dict(rest).items()}
        spec["postgres"] = {_SECRET_FIELDS[key]: params.pop(key) for key in list(params) if key in _SECRET_FIELDS}
        spec["options"] = make_conninfo(**params) if params else ""
    else:
        spec["sqlite"] = str(Path(rest).resolve())
    return spec


def lake_file() -> Path:
    return lakes_dir() / f"{prefix()}.json"


def write_lake_file() -> str:
    """<lakes_dir>/<name>.json for Superset (owner-only; rewritten when it changed): the name is
    all a Superset database's extra carries."""
    path = lake_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(lake_spec(), indent=1, sort_keys=True)
    try:
        if path.read_text() == text:
            return prefix()
    except OSError:
        pass
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    tmp.replace(path)
    return prefix()


def lake_params() -> dict[str, str]:
    """connect_args of Superset's DuckDB connection: the name of Gridcast's lake, nothing else."""
    return {"gridcast_lake": write_lake_file()}


def stored_object(kind: str, key: str) -> SupersetObject | None:
    return SupersetObject.objects.filter(kind=kind, key=key).first()


def _remember(kind, key, superset_id, uuid="", workspace_id=None, signature=""):
    obj, _ = SupersetObject.objects.update_or_create(
        kind=kind,
        key=key,
        defaults={"superset_id": superset_id, "uuid": uuid or "", "workspace_id": workspace_id, "signature": signature},
    )
    return obj


def _live_id(client, kind, key, resource, name_column, name):
    """The Superset id of this object: the stored one while it still exists, else one found by
    name (a sync that died before remembering it), else None."""
    stored = stored_object(kind, key)
    if stored and client.exists(resource, stored.superset_id):
        return stored.superset_id
    found = client.find(resource, name_column, name)
    return found["id"] if found else None


def ensure_database(client: Client) -> int:
    name = f"Gridcast DuckLake ({prefix()[3:]})"
    payload = {
        "database_name": name,
        "sqlalchemy_uri": "duckdb:///:memory:",
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_dml": False,
        "extra": json.dumps({"engine_params": {"connect_args": lake_params()}, "allows_virtual_table_explore": True}),
    }
    database_id = _live_id(client, "database", "lake", "database", "database_name", name)
    if database_id is None:
        database_id = client.request("POST", "/api/v1/database/", payload)["id"]
    else:
        client.request("PUT", f"/api/v1/database/{database_id}", payload)
    _remember("database", "lake", database_id)
    return database_id


def _view_columns(view):
    return [(name, kind) for name, kind, *_ in query(f"DESCRIBE {view}")[1]]


def ensure_dataset(
    client: Client,
    database_id: int,
    key: str,
    name: str,
    sql: str,
    columns: Columns,
    workspace_id: int | None = None,
) -> int:
    """A virtual dataset (Superset's `table_name` is our unique name, its SQL reads the lake);
    its columns are refreshed when the view's columns changed."""
    signature = json.dumps([sql, columns])
    stored = stored_object("dataset", key)
    dataset_id = _live_id(client, "dataset", key, "dataset", "table_name", name)
    if dataset_id is None:
        try:
            dataset_id = client.request(
                "POST", "/api/v1/dataset/", {"database": database_id, "table_name": name, "sql": sql, "schema": None}
            )["id"]
        except SupersetError as error:  # another process created it a moment ago
            found = client.find("dataset", "table_name", name) if error.status == 422 else None
            if found is None:
                raise
            dataset_id = found["id"]
        changed = True
    else:
        changed = stored is None or stored.signature != signature or stored.superset_id != dataset_id
        if changed:
            client.request("PUT", f"/api/v1/dataset/{dataset_id}?override_columns=true", {"sql": sql})
    if changed:
        client.request("PUT", f"/api/v1/dataset/{dataset_id}/refresh")
        time_columns = [c for c, kind in columns if kind.startswith(("TIMESTAMP", "DATE"))]
        if time_columns:
            dataset = client.get(f"/api/v1/dataset/{dataset_id}")["result"]
            cols = [
                {"id": c["id"], "column_name": c["column_name"], "is_dttm": c["column_name"] in time_columns}
                for c in dataset["columns"]
            ]
            client.request("PUT", f"/api/v1/dataset/{dataset_id}", {"columns": cols, "main_dttm_col": time_columns[0]})
    _remember("dataset", key, dataset_id, workspace_id=workspace_id, signature=signature)
    return dataset_id


def ensure_metrics_dataset(client: Client, database_id: int) -> int:
    metric_schema.ensure_table()
    sql = "SELECT * EXCLUDE (tags) FROM lake.metric_events"
    return ensure_dataset(
        client, database_id, "metrics", f"{prefix()}_metric_events", sql, _view_columns("lake.metric_events")
    )


# The metric datasets the default dashboard's charts read: the events rolled up per minute (no tags)
# and per hour (source and the promoted tags), the newest events folded in as the query runs
# (rollup.rolled_up_sql). Each has the raw dataset's columns that its grain keeps, plus `events`.
ROLLED_UP = {"minute": rollup.MINUTE, "hour": rollup.HOUR}


def ensure_rolled_up_dataset(client: Client, database_id: int, grain: str) -> int:
    metric_schema.ensure_table()
    sql = rollup.rolled_up_sql(ROLLED_UP[grain])
    return ensure_dataset(
        client, database_id, f"metrics:{grain}", f"{prefix()}_metric_{grain}s", sql, _query_columns(sql)
    )


def _query_columns(sql):
    return [(name, kind) for name, kind, *_ in query(f"DESCRIBE {sql}")[1]]


def ensure_history_dataset(client: Client, database_id: int) -> int:
    """Every cell change of every sheet (lake.cell_history), one dataset for all workspaces like the
    metrics: the guest token's rule keeps each to its own rows, and a viewer's token shows none
    (guest_tokens.py: history is for editors)."""
    return ensure_dataset(
        client,
        database_id,
        "history",
        f"{prefix()}_cell_history",
        f"SELECT * FROM {HISTORY_TABLE}",
        _view_columns(HISTORY_TABLE),
    )


def ensure_sheet_dataset(client: Client, database_id: int, sheet_id: int, workspace_id: int) -> int | None:
    view = sheet_view_name(sheet_id)
    try:
        columns = _view_columns(view)
    except Exception as error:  # the writer has not made the view yet: next sync
        log.info("superset: %s is not in the lake yet (%s)", view, error)
        return None
    return ensure_dataset(
        client,
        database_id,
        f"sheet:{sheet_id}",
        f"{prefix()}_sheet_{int(sheet_id)}",
        f"SELECT * FROM {view}",
        columns,
        workspace_id=workspace_id,
    )


def drop_sheet_dataset(client: Client, sheet_id: int) -> None:
    stored = stored_object("dataset", f"sheet:{sheet_id}")
    dataset_id = stored.superset_id if stored else None
    if dataset_id is None:
        found = client.find("dataset", "table_name", f"{prefix()}_sheet_{int(sheet_id)}")
        dataset_id = found["id"] if found else None
    if dataset_id is not None:
        # Its charts first: Superset refuses to delete a dataset that charts use.
        charts = client.get(
            "/api/v1/chart/?q="
            + urllib.parse.quote(
                rison({"filters": [{"col": "datasource_id", "opr": "eq", "value": dataset_id}], "page_size": 100})
            )
        )["result"]
        for chart in charts:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
        client.request("DELETE", f"/api/v1/dataset/{dataset_id}", ok=(200, 404))
    SupersetObject.objects.filter(kind="dataset", key=f"sheet:{sheet_id}").delete()
    SupersetObject.objects.filter(kind="chart", key__endswith=f":sheet:{sheet_id}").delete()


def _metric(label, sql):
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label, "optionName": f"metric_{label}"}


def _filter(column, operator, value):
    return {
        "expressionType": "SIMPLE",
        "subject": column,
        "operator": operator,
        "comparator": value,
        "clause": "WHERE",
        "isExtra": False,
        "filterOptionName": f"filter_{column}",
    }


def chart_specs(
    workspace_id: int,
    metrics_dataset: int,
    sheets: Sequence[SheetDataset],
    history_dataset: int | None = None,
    rolled_up: dict[str, int] | None = None,
) -> list[ChartSpec]:
    """[(key, name, dataset id, viz params)] of a workspace's default dashboard: orders over time,
    revenue by region, cell changes per person per day, and a summary table per sheet (its first
    columns). The metric charts read the rolled-up datasets (`rolled_up`: grain -> dataset id) when
    given: orders per minute from the minute rollup, revenue by region from the hourly one."""
    wid = int(workspace_id)
    rolled_up = rolled_up or {}
    mine = _filter("workspace_id", "==", wid)
    specs = [
        (
            f"ws:{wid}:orders",
            "Orders over time",
            rolled_up.get("minute", metrics_dataset),
            {
                "viz_type": "echarts_timeseries_line",
                "x_axis": "ts",
                "time_grain_sqla": "PT1M",
                "metrics": [_metric("orders", "SUM(value)")],
                "groupby": [],
                "adhoc_filters": [mine, _filter("metric", "==", "orders")],
                "time_range": "No filter",
                "row_limit": 10000,
                "show_legend": False,
                "markerEnabled": False,  # a point a minute over days: markers hid the line
                "rich_tooltip": True,
            },
        ),
        (
            f"ws:{wid}:revenue",
            "Revenue by region",
            rolled_up.get("hour", metrics_dataset),
            {
                "viz_type": "pie",
                "groupby": ["tag_region"],
                "metric": _metric("revenue", "SUM(value)"),
                "adhoc_filters": [mine, _filter("metric", "==", "revenue")],
                "time_range": "No filter",
                "row_limit": 100,
                "show_labels": True,
                "show_legend": True,
                "label_type": "key_value",
            },
        ),
    ]
    if history_dataset is not None:
        specs.append(
            (
                f"ws:{wid}:history",
                "Cell changes per person per day",
                history_dataset,
                {
                    "viz_type": "echarts_timeseries_bar",
                    "x_axis": "changed_at",
                    "time_grain_sqla": "P1D",
                    "metrics": [_metric("changes", "COUNT(*)")],
                    "groupby": ["actor"],
                    "adhoc_filters": [mine, _filter("actor", "IS NOT NULL", None)],
                    "time_range": "No filter",
                    "row_limit": 10000,
                    "show_legend": True,
                    "stack": True,
                    "rich_tooltip": True,
                },
            )
        )
    for sheet_id, sheet_name, dataset_id, columns in sheets[:MAX_SHEET_CHARTS]:
        shown = [name for name, _ in columns if name not in ("_row", "_position", "workspace_id")][:12]
        specs.append(
            (
                f"ws:{wid}:sheet:{sheet_id}",
                f"{sheet_name} (sheet summary)",
                dataset_id,
                {
                    "viz_type": "table",
                    "query_mode": "raw",
                    "all_columns": shown,
                    "order_by_cols": [json.dumps(["_position", True])],
                    "adhoc_filters": [],
                    "time_range": "No filter",
                    "row_limit": 1000,
                    "server_pagination": False,
                    "include_search": True,
                },
            )
        )
    return specs


def query_context(
    dataset_id: int, params: dict[str, Any], slice_id: int | None = None, dashboard_id: int | None = None
) -> dict[str, Any]:
    """A chart data request for these viz params (what the chart data API takes)."""
    form_data = {**params, "datasource": f"{dataset_id}__table"}
    if slice_id:
        form_data["slice_id"] = slice_id
    if dashboard_id:
        form_data["dashboardId"] = dashboard_id
    filters = [
        {"col": f["subject"], "op": f["operator"], "val": f["comparator"]} for f in params.get("adhoc_filters", [])
    ]
    if params["viz_type"] == "table":
        query = {
            "columns": params["all_columns"],
            "orderby": [["_position", True]],
            "row_limit": params["row_limit"],
            "filters": filters,
        }
    elif params["viz_type"] == "pie":
        query = {
            "columns": params["groupby"],
            "metrics": [params["metric"]],
            "orderby": [[params["metric"], False]],
            "row_limit": params["row_limit"],
            "filters": filters,
        }
    else:
        query = {
            "columns": [
                {
                    "columnType": "BASE_AXIS",
                    "sqlExpression": params["x_axis"],
                    "label": params["x_axis"],
                    "expressionType": "SQL",
                    "timeGrain": params["time_grain_sqla"],
                },
                *params.get("groupby", []),
            ],
            "metrics": params["metrics"],
            "orderby": [[params["metrics"][0], False]],
            "row_limit": params["row_limit"],
            "filters": filters,
        }
    query["time_range"] = "No filter"
    return {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": True,
        "queries": [query],
        "form_data": form_data,
        "result_format": "json",
        "result_type": "full",
    }


def ensure_chart(
    client: Client, key: str, name: str, dataset_id: int, params: dict[str, Any], workspace_id: int
) -> int:
    payload = {
        "slice_name": name,
        "viz_type": params["viz_type"],
        "datasource_id": dataset_id,
        "datasource_type": "table",
        "params": json.dumps({**params, "datasource": f"{dataset_id}__table"}),
        "query_context": json.dumps(query_context(dataset_id, params)),
    }
    signature = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    stored = stored_object("chart", key)
    if stored and client.exists("chart", stored.superset_id):
        if stored.signature != signature:
            client.request("PUT", f"/api/v1/chart/{stored.superset_id}", payload)
        chart_id = stored.superset_id
    else:
        chart_id = client.request("POST", "/api/v1/chart/", payload)["id"]
    _remember("chart", key, chart_id, workspace_id=workspace_id, signature=signature)
    return chart_id


def _position(chart_ids):
    """Superset's dashboard layout: ROOT -> GRID -> rows of two charts."""
    position = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    for start in range(0, len(chart_ids), 2):
        row = f"ROW-{start // 2}"
        position["GRID_ID"]["children"].append(row)
        position[row] = {
            "type": "ROW",
            "id": row,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart_id in chart_ids[start : start + 2]:
            item = f"CHART-{chart_id}"
            position[row]["children"].append(item)
            position[item] = {
                "type": "CHART",
                "id": item,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row],
                "meta": {"chartId": chart_id, "width": 6, "height": 50},
            }
    return position


def ensure_dashboard(client: Client, workspace: Workspace, chart_ids: list[int]) -> int:
    key = f"ws:{workspace.pk}"
    slug = f"{prefix()}-ws-{workspace.pk}".replace("_", "-")
    title = f"{workspace.name} · Gridcast"
    dashboard_id = _live_id(client, "dashboard", key, "dashboard", "slug", slug)
    if dashboard_id is None:
        dashboard_id = client.request(
            "POST", "/api/v1/dashboard/", {"dashboard_title": title, "slug": slug, "published": True}
        )["id"]
    for chart_id in chart_ids:
        client.request("PUT", f"/api/v1/chart/{chart_id}", {"dashboards": [dashboard_id]})
    # Charts left on it by an earlier sync that lost its records: a guest may read every chart of
    # the dashboard, so only this workspace's current charts stay.
    for chart in client.get(f"/api/v1/dashboard/{dashboard_id}/charts")["result"]:
        if chart["id"] not in chart_ids:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
    client.request(
        "PUT",
        f"/api/v1/dashboard/{dashboard_id}",
        {
            "dashboard_title": title,
            "published": True,
            "position_json": json.dumps(_position(chart_ids)),
            "json_metadata": json.dumps(
                {"refresh_frequency": 0, "color_scheme": "supersetColors", "positions": _position(chart_ids)}
            ),
        },
    )
    origins = list(dict.fromkeys(conf("EMBED_ORIGINS")))
    embedded = client.request("POST", f"/api/v1/dashboard/{dashboard_id}/embedded", {"allowed_domains": origins})
    _remember("dashboard", key, dashboard_id, uuid=embedded["result"]["uuid"], workspace_id=workspace.pk)
    return dashboard_id


_sync_lock = threading.RLock()


def sync_workspace(workspace_id: int, client: Client | None = None) -> SupersetObject | None:
    """Create or update everything a workspace's Superset dashboard needs; returns its stored
    SupersetObject (kind dashboard: id and embed uuid). One sync at a time in this process (the
    background one and a command or a first guest token would otherwise create things twice)."""
    with _sync_lock:
        return _sync_workspace(workspace_id, client)


def _sync_workspace(workspace_id, client=None):
    client = client or Client()
    workspace = Workspace.objects.get(pk=workspace_id)
    database_id = ensure_database(client)
    metrics_dataset = ensure_metrics_dataset(client, database_id)
    rolled_up = {grain: ensure_rolled_up_dataset(client, database_id, grain) for grain in ROLLED_UP}
    history_dataset = ensure_history_dataset(client, database_id)
    sheets = []
    live_sheets = list(Sheet.objects.filter(workspace_id=workspace.pk).order_by("id").values_list("id", "name"))
    for sheet_id, name in live_sheets:
        dataset_id = ensure_sheet_dataset(client, database_id, sheet_id, workspace.pk)
        if dataset_id is not None:
            sheets.append((sheet_id, name, dataset_id, _view_columns(f"lake.sheet_{sheet_id}")))
    # Sheets deleted since the last sync lose their datasets (and charts).
    live_ids = {sid for sid, _ in live_sheets}
    for stored in SupersetObject.objects.filter(kind="dataset", key__startswith="sheet:", workspace_id=workspace.pk):
        if int(stored.key.split(":")[1]) not in live_ids:
            drop_sheet_dataset(client, int(stored.key.split(":")[1]))
    specs = chart_specs(workspace.pk, metrics_dataset, sheets, history_dataset, rolled_up)
    chart_ids = [
        ensure_chart(client, key, name, dataset_id, params, workspace.pk) for key, name, dataset_id, params in specs
    ]
    keep = {key for key, *_ in specs}
    for stale in SupersetObject.objects.filter(kind="chart", workspace_id=workspace.pk).exclude(key__in=keep):
        client.request("DELETE", f"/api/v1/chart/{stale.superset_id}", ok=(200, 404))
        stale.delete()
    ensure_dashboard(client, workspace, chart_ids)
    return stored_object("dashboard", f"ws:{workspace.pk}")


def sync_all(client: Client | None = None) -> list:
    client = client or Client()
    return [sync_workspace(wid, client) for wid in Workspace.objects.order_by("id").values_list("id", flat=True)]


def remove_all(client: Client | None = None) -> None:
    """Delete from Superset everything provisioned for this Django database (the tests' teardown)."""
    client = client or Client()
    q = {"filters": [{"col": "slug", "opr": "ct", "value": f"{prefix()}-ws-".replace("_", "-")}], "page_size": 100}
    for dashboard in client.get("/api/v1/dashboard/?q=" + urllib.parse.quote(rison(q)))["result"]:
        for chart in client.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
        client.request("DELETE", f"/api/v1/dashboard/{dashboard['id']}", ok=(200, 404))
    q = {"filters": [{"col": "table_name", "opr": "ct", "value": f"{prefix()}_"}], "page_size": 100}
    for dataset in client.get("/api/v1/dataset/?q=" + urllib.parse.quote(rison(q)))["result"]:
        client.request("DELETE", f"/api/v1/dataset/{dataset['id']}", ok=(200, 404, 422))
    SupersetObject.objects.all().delete()


def is_provisioned(workspace_id: int) -> bool:
    return SupersetObject.objects.filter(kind="dashboard", key=f"ws:{int(workspace_id)}").exists()

"""Gridcast's side of Apache Superset: its generated config, provisioning through Superset's REST
API (the DuckLake database, a dataset per sheet view and for metric events, a default dashboard
per workspace, embedded), the guest tokens Django mints for those dashboards, and the sync that
follows sheet changes in the background.

Superset reads DuckLake only (never Gridcast's PostgreSQL tables): its DuckDB connections attach
the lake read-only, through the hook the generated superset_config.py installs.
"""
import datetime as dt
import hashlib
import http.cookiejar
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
from django.conf import settings
from django.db import close_old_connections, transaction

from core.errors import GridcastError

from . import lake
from .models_superset import SupersetObject

log = logging.getLogger(__name__)

GUEST_TOKEN_ALGO = "HS256"
MAX_SHEET_CHARTS = 6


class SupersetUnavailable(GridcastError):
    code = "superset_unavailable"
    status = 503


class SupersetFailed(GridcastError):
    code = "superset_failed"
    status = 502


class SupersetError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"Superset {method} {path}: {status} {body[:500]}")
        self.status = status
        self.body = body


def conf(name):
    return settings.SUPERSET[name]


# --- Superset's config ---------------------------------------------------------------------------

CONFIG_TEMPLATE = '''"""Superset config written by `manage.py superset_config` from Gridcast's settings. Do not edit:
run `make superset` again."""
import duckdb
import duckdb_engine
from sqlalchemy import event

SECRET_KEY = {secret_key!r}
SQLALCHEMY_DATABASE_URI = {metadata_uri!r}
# Every chart of an embedded dashboard is drawn, not only those inside the host page's viewport.
FEATURE_FLAGS = {{"EMBEDDED_SUPERSET": True, "DASHBOARD_RBAC": False, "DASHBOARD_VIRTUALIZATION": False}}
GUEST_ROLE_NAME = {guest_role!r}
# Read by Gridcast's superset/initialise.py (make superset): the admin that provisions.
GRIDCAST_ADMIN_USER = {admin_user!r}
GRIDCAST_ADMIN_PASSWORD = {admin_password!r}
GUEST_TOKEN_JWT_SECRET = {guest_secret!r}
GUEST_TOKEN_JWT_ALGO = {guest_algo!r}
GUEST_TOKEN_JWT_AUDIENCE = {guest_audience!r}
GUEST_TOKEN_JWT_EXP_SECONDS = {guest_seconds!r}
# Gridcast frames the dashboards: CSP frame-ancestors names its origins, no X-Frame-Options.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {{
    "content_security_policy": {{
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "script-src": ["'self'", "'strict-dynamic'"],
        "frame-ancestors": {frame_ancestors!r},
    }},
    "content_security_policy_nonce_in": ["script-src"],
    # TLS ends at the proxy in front (as for Gridcast); behind HTTPS its cookies are sent over HTTPS only.
    "force_https": False,
    "session_cookie_secure": {secure_cookies!r},
    "frame_options": None,
}}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG
SESSION_COOKIE_SECURE = {secure_cookies!r}
# Reads are always fresh: Gridcast's writer commits to the lake continuously.
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
FILTER_STATE_CACHE_CONFIG = {{"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}}
EXPLORE_FORM_DATA_CACHE_CONFIG = {{"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}}
WTF_CSRF_ENABLED = True
SQLLAB_CTAS_NO_LIMIT = True
RATELIMIT_ENABLED = False
PREVENT_UNSAFE_DB_CONNECTIONS = True
ENABLE_PROXY_FIX = False
SUPERSET_WEBSERVER_TIMEOUT = 120
LOG_LEVEL = "WARNING"

# Gridcast's lakes, by name: <GRIDCAST_LAKES_DIR>/<name>.json, written by Gridcast (mode 0600). The
# catalog's connection details are never part of Superset's metadata (nor visible to its API or UI):
# a database's extra names its lake only.
GRIDCAST_LAKES_DIR = {lakes_dir!r}
'''

# The code half of superset_config.py (plain text, not a format string).
CONFIG_CODE = r'''
import json
import os
import re


_preparer_init = duckdb_engine.DuckDBIdentifierPreparer.__init__
# Read once, on a connection of our own (the default one is not safe across request threads).
_KEYWORDS = frozenset(word for (word,) in duckdb.connect(":memory:").execute(
    "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'").fetchall())


def _quote_every_keyword(self, dialect, **kwargs):
    """duckdb-engine quotes DuckDB's reserved words only; a sheet column named `at` (a type or
    function keyword) broke the generated SQL."""
    _preparer_init(self, dialect, **kwargs)
    self.reserved_words.update(_KEYWORDS)


duckdb_engine.DuckDBIdentifierPreparer.__init__ = _quote_every_keyword


# --- what SQL reaches DuckDB ---------------------------------------------------------------------
# Every statement Superset sends a DuckDB connection (SQL Lab, charts, datasets, introspection) is
# parsed by DuckDB first: only queries and transaction control pass (no ATTACH, COPY, SET, LOAD,
# INSTALL, CREATE SECRET, PRAGMA ...), and no query may call what reaches a database or a file
# around the lake (postgres_*, sqlite_*, query() of a text) or name the lake's catalog database.
_ALLOWED_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.TRANSACTION})
_FORBIDDEN = re.compile(
    r"__ducklake_metadata|\b(postgres_\w+|sqlite_\w+|mysql_\w+|query|query_table|duckdb_secrets|which_secret)\"?\s*\(",
    re.IGNORECASE)


class RefusedStatement(duckdb.PermissionException):
    pass


def _check(raw, statement):
    if statement.strip().lower() == "commit":
        return
    found = _FORBIDDEN.search(statement)
    if found:
        called = found.group(0).rstrip("( \t\r\n").strip('"')
        raise RefusedStatement(f"Gridcast's lake refuses {called!r}: it reaches outside the lake")
    for parsed in raw.extract_statements(statement):
        if parsed.type not in _ALLOWED_STATEMENTS:
            raise RefusedStatement(f"Gridcast's lake is read-only: {parsed.type.name} statements are refused")


class _GuardedCursor(duckdb_engine.CursorWrapper):
    def __init__(self, raw, connection_wrapper):
        super().__init__(raw, connection_wrapper)
        self._raw = raw

    def execute(self, statement, parameters=None, context=None):
        _check(self._raw, statement)
        return super().execute(statement, parameters, context)

    def executemany(self, statement, parameters=None, context=None):
        _check(self._raw, statement)
        return super().executemany(statement, parameters, context)


class _GuardedConnection(duckdb_engine.ConnectionWrapper):
    def __init__(self, raw):
        super().__init__(raw)
        self._raw = raw

    def cursor(self):
        return _GuardedCursor(self._raw, self)

    def execute(self, statement, parameters=None):
        _check(self._raw, statement)
        return self._raw.execute(statement, parameters)

    def sql(self, statement, *args, **kwargs):
        _check(self._raw, statement)
        return self._raw.sql(statement, *args, **kwargs)

    query = sql


_LAKE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_SECRET_FIELDS = ("host", "port", "database", "user", "password")


def _lake(name):
    if not isinstance(name, str) or not _LAKE_NAME.fullmatch(name) or name.startswith("."):
        raise ValueError(f"not a Gridcast lake name: {name!r}")
    with open(os.path.join(GRIDCAST_LAKES_DIR, name + ".json"), encoding="utf-8") as file:
        return json.load(file)


# On duckdb-engine's dialect itself: it turns SQLAlchemy's dialect events off for its class.
@event.listens_for(duckdb_engine.Dialect, "do_connect")
def _connect_duckdb(dialect, conn_rec, cargs, cparams):
    """Every DuckDB connection Superset opens is locked down: no file outside the lake, no
    extension loaded, no database attached, its configuration locked, and the statements above
    only. One whose connect_args name a Gridcast lake ("gridcast_lake": <name>) first attaches that
    DuckLake read-only as `lake` (extensions from Gridcast's directory, never downloaded); the
    catalog's credentials go through a temporary DuckDB secret, dropped once attached, so neither
    duckdb_databases() nor duckdb_secrets() shows them."""
    params = {key: value for key, value in cparams.items() if key in ("database", "read_only")}
    name = cparams.get("gridcast_lake")
    if name is None:
        params["config"] = {"enable_external_access": False, "autoinstall_known_extensions": False,
                            "autoload_known_extensions": False, "lock_configuration": True}
        return _GuardedConnection(dialect.connect(*cargs, **params)._ConnectionWrapper__c)
    lake = _lake(name)
    params["config"] = {"extension_directory": lake["extension_directory"], "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False}
    raw = dialect.connect(*cargs, **params)._ConnectionWrapper__c
    raw.execute("SET TimeZone = 'UTC'")
    raw.execute("LOAD ducklake")
    options = ["READ_ONLY", "DATA_PATH " + _literal(lake["data_path"])]
    if lake["kind"] == "postgres":
        raw.execute("LOAD postgres_scanner")
        fields = ", ".join(f"{field.upper()} {_literal(lake['postgres'][field])}"
                           for field in _SECRET_FIELDS if lake["postgres"].get(field))
        raw.execute(f"CREATE TEMPORARY SECRET gridcast_lake_catalog (TYPE postgres, {fields})")
        try:
            options += ["METADATA_SCHEMA 'ducklake'",
                        "METADATA_PARAMETERS MAP {'SECRET': 'gridcast_lake_catalog', 'SCHEMA': 'ducklake'}"]
            raw.execute("ATTACH " + _literal("ducklake:postgres:" + lake.get("options", "")) + " AS lake ("
                        + ", ".join(options) + ")")
        finally:
            raw.execute("DROP SECRET gridcast_lake_catalog")
    else:
        raw.execute("LOAD sqlite_scanner")
        raw.execute("ATTACH " + _literal("ducklake:sqlite:" + lake["sqlite"]) + " AS lake (" + ", ".join(options) + ")")
    raw.execute("USE lake")
    raw.execute("SET allowed_directories = [" + _literal(lake["data_path"]) + "]")
    raw.execute("SET enable_external_access = false")
    raw.execute("SET lock_configuration = true")
    return _GuardedConnection(raw)


def _literal(text):
    return "'" + str(text).replace("'", "''") + "'"
'''


def frame_ancestors():
    # Loopback on any port too: the dev server and the test servers pick their own ports.
    origins = ["'self'", *conf("EMBED_ORIGINS"), "http://127.0.0.1:*", "http://localhost:*"]
    return list(dict.fromkeys(origins))


def config_text(directory=None):
    """Superset's config; its metadata database lives in `directory` (the config's own folder)."""
    directory = Path(directory or Path(settings.VAR_DIR) / "superset").resolve()
    return CONFIG_TEMPLATE.format(
        secret_key=conf("SECRET_KEY"),
        metadata_uri=f"sqlite:///{directory / 'superset.db'}",
        guest_role=conf("GUEST_ROLE"),
        admin_user=conf("ADMIN_USER"),
        admin_password=conf("ADMIN_PASSWORD"),
        guest_secret=conf("GUEST_TOKEN_SECRET"),
        guest_algo=GUEST_TOKEN_ALGO,
        guest_audience=conf("GUEST_TOKEN_AUDIENCE"),
        guest_seconds=conf("GUEST_TOKEN_SECONDS"),
        frame_ancestors=frame_ancestors(),
        lakes_dir=str(lakes_dir().resolve()),
        secure_cookies=bool(settings.SESSION_COOKIE_SECURE),
    ) + CONFIG_CODE


# --- the REST client -------------------------------------------------------------------------------


def available(timeout=1.0):
    """True when Superset is on and answers its health check."""
    if not settings.SUPERSET.get("ENABLED", True):
        return False
    try:
        with urllib.request.urlopen(conf("URL") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


MAX_FAILURE_CHARS = 2000
OFF_NOTE = "Superset is off in this run (SUPERSET=0). Start `make run` without SUPERSET=0 to have it here."


def failure_path(name="failed"):
    """Where `make run` (or `make superset`) writes why Superset could not be installed or started
    ("failed"), or that it is being installed and started ("starting"); each file is removed once
    that is over."""
    return Path(settings.VAR_DIR) / "superset" / name


def failure_reason():
    """Why Superset does not answer, as `make run` wrote it (plain text, stripped): it is still
    starting, or it failed and how to retry. None when neither was written: Superset was then left
    off on purpose (SUPERSET=0) or simply not started. A longer text than MAX_FAILURE_CHARS keeps
    its start (what failed) and its end (how to retry), a "…" line between."""
    if not settings.SUPERSET.get("ENABLED", True):
        return OFF_NOTE
    for name in ("starting", "failed"):
        try:
            text = failure_path(name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if len(text) > MAX_FAILURE_CHARS:
            half = (MAX_FAILURE_CHARS - 3) // 2
            text = f"{text[:half]}\n…\n{text[-half:]}"
        if text:
            return text
    return None


class Client:
    """Superset's REST API as its admin: a bearer token, and the CSRF token of the same cookie
    session sent back on every write."""

    def __init__(self, url=None, username=None, password=None, timeout=None):
        self.url = (url or conf("URL")).rstrip("/")
        self.timeout = timeout or conf("TIMEOUT")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.bearer = None
        self.csrf = None
        self._login(username or conf("ADMIN_USER"), password or conf("ADMIN_PASSWORD"))

    def _login(self, username, password):
        body = self.request("POST", "/api/v1/security/login",
                            {"username": username, "password": password, "provider": "db", "refresh": False})
        self.bearer = body["access_token"]
        self.csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]

    def request(self, method, path, payload=None, headers=None, ok=(200, 201)):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.bearer:
            request.add_header("Authorization", f"Bearer {self.bearer}")
        if self.csrf and method != "GET":
            request.add_header("X-CSRFToken", self.csrf)
            request.add_header("Referer", self.url)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except OSError as error:
            raise SupersetUnavailable(f"Superset at {self.url} does not answer: {error}") from None
        if status not in ok:
            raise SupersetError(method, path, status, text)
        return json.loads(text) if text else {}

    def get(self, path):
        return self.request("GET", path)

    def find(self, resource, column, value):
        """The first object of /api/v1/<resource>/ whose `column` equals `value`, or None."""
        q = {"filters": [{"col": column, "opr": "eq", "value": value}], "page_size": 5}
        result = self.get(f"/api/v1/{resource}/?q={urllib.parse.quote(_rison(q))}")["result"]
        return result[0] if result else None

    def exists(self, resource, object_id):
        try:
            self.get(f"/api/v1/{resource}/{object_id}")
            return True
        except SupersetError as error:
            if error.status == 404:
                return False
            raise


def _rison(value):
    """Rison, the URL encoding of Superset's `q` parameter, for the plain values we send."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{_rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text and all(c.isalnum() or c in "-_./~" for c in text) and not text[0].isdigit() and text[0] != "-":
        return text
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


# --- provisioning -----------------------------------------------------------------------------------


def prefix():
    """Names in Superset carry the Django database's name: one Superset may serve several
    Gridcast databases (dev and tests), and with a SQLite metadata database a dataset's name must
    be unique across Superset's databases."""
    db = settings.DATABASES["default"]
    name = Path(str(db["NAME"])).stem if db["ENGINE"].endswith("sqlite3") else str(db["NAME"])
    return f"gc_{name}"


def lakes_dir():
    """Where Gridcast tells Superset how to reach its lakes (SUPERSET["LAKES_DIR"]): readable by
    Superset's process, never by its users."""
    return Path(conf("LAKES_DIR"))


# What a DuckDB postgres secret holds (the rest of the conninfo stays in the ATTACH path).
_SECRET_FIELDS = {"host": "host", "port": "port", "dbname": "database", "user": "user", "password": "password"}


def lake_spec():
    """How Superset's DuckDB attaches this database's lake: extension directory, data path and
    catalog, the catalog's credentials apart."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    kind, _, rest = lake.catalog().partition(":")
    spec = {"kind": kind, "data_path": f"{lake.data_path().resolve()}/",
            "extension_directory": str(lake.extension_directory().resolve())}
    if kind == "postgres":
        params = {key: str(value) for key, value in conninfo_to_dict(rest).items()}
        spec["postgres"] = {_SECRET_FIELDS[key]: params.pop(key) for key in list(params) if key in _SECRET_FIELDS}
        spec["options"] = make_conninfo(**params) if params else ""
    else:
        spec["sqlite"] = str(Path(rest).resolve())
    return spec


def lake_file():
    return lakes_dir() / f"{prefix()}.json"


def write_lake_file():
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


def lake_params():
    """connect_args of Superset's DuckDB connection: the name of Gridcast's lake, nothing else."""
    return {"gridcast_lake": write_lake_file()}


def _stored(kind, key):
    return SupersetObject.objects.filter(kind=kind, key=key).first()


def _remember(kind, key, superset_id, uuid="", workspace_id=None, signature=""):
    obj, _ = SupersetObject.objects.update_or_create(
        kind=kind, key=key,
        defaults={"superset_id": superset_id, "uuid": uuid or "", "workspace_id": workspace_id, "signature": signature})
    return obj


def _live_id(client, kind, key, resource, name_column, name):
    """The Superset id of this object: the stored one while it still exists, else one found by
    name (a sync that died before remembering it), else None."""
    stored = _stored(kind, key)
    if stored and client.exists(resource, stored.superset_id):
        return stored.superset_id
    found = client.find(resource, name_column, name)
    return found["id"] if found else None


def ensure_database(client):
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
    from .selectors import query

    return [(name, kind) for name, kind, *_ in query(f"DESCRIBE {view}")[1]]


def ensure_dataset(client, database_id, key, name, sql, columns, workspace_id=None):
    """A virtual dataset (Superset's `table_name` is our unique name, its SQL reads the lake);
    its columns are refreshed when the view's columns changed."""
    signature = json.dumps([sql, columns])
    stored = _stored("dataset", key)
    dataset_id = _live_id(client, "dataset", key, "dataset", "table_name", name)
    if dataset_id is None:
        try:
            dataset_id = client.request("POST", "/api/v1/dataset/",
                                        {"database": database_id, "table_name": name, "sql": sql, "schema": None})["id"]
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
            cols = [{"id": c["id"], "column_name": c["column_name"], "is_dttm": c["column_name"] in time_columns}
                    for c in dataset["columns"]]
            client.request("PUT", f"/api/v1/dataset/{dataset_id}",
                           {"columns": cols, "main_dttm_col": time_columns[0]})
    _remember("dataset", key, dataset_id, workspace_id=workspace_id, signature=signature)
    return dataset_id


def ensure_metrics_dataset(client, database_id):
    from . import metrics

    metrics.ensure_table()
    sql = "SELECT * EXCLUDE (tags) FROM lake.metric_events"
    return ensure_dataset(client, database_id, "metrics", f"{prefix()}_metric_events", sql,
                          _view_columns("lake.metric_events"))


def ensure_sheet_dataset(client, database_id, sheet_id, workspace_id):
    from .selectors import sheet_view_name

    view = sheet_view_name(sheet_id)
    try:
        columns = _view_columns(view)
    except Exception as error:  # the writer has not made the view yet: next sync
        log.info("superset: %s is not in the lake yet (%s)", view, error)
        return None
    return ensure_dataset(client, database_id, f"sheet:{sheet_id}", f"{prefix()}_sheet_{int(sheet_id)}",
                          f"SELECT * FROM {view}", columns, workspace_id=workspace_id)


def drop_sheet_dataset(client, sheet_id):
    stored = _stored("dataset", f"sheet:{sheet_id}")
    dataset_id = stored.superset_id if stored else None
    if dataset_id is None:
        found = client.find("dataset", "table_name", f"{prefix()}_sheet_{int(sheet_id)}")
        dataset_id = found["id"] if found else None
    if dataset_id is not None:
        # Its charts first: Superset refuses to delete a dataset that charts use.
        charts = client.get("/api/v1/chart/?q=" + urllib.parse.quote(_rison(
            {"filters": [{"col": "datasource_id", "opr": "eq", "value": dataset_id}], "page_size": 100})))["result"]
        for chart in charts:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
        client.request("DELETE", f"/api/v1/dataset/{dataset_id}", ok=(200, 404))
    SupersetObject.objects.filter(kind="dataset", key=f"sheet:{sheet_id}").delete()
    SupersetObject.objects.filter(kind="chart", key__endswith=f":sheet:{sheet_id}").delete()


def _metric(label, sql):
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label, "optionName": f"metric_{label}"}


def _filter(column, operator, value):
    return {"expressionType": "SIMPLE", "subject": column, "operator": operator, "comparator": value,
            "clause": "WHERE", "isExtra": False, "filterOptionName": f"filter_{column}"}


def chart_specs(workspace_id, metrics_dataset, sheets):
    """[(key, name, dataset id, viz params)] of a workspace's default dashboard: orders over time,
    revenue by region, and a summary table per sheet (its first columns)."""
    wid = int(workspace_id)
    mine = _filter("workspace_id", "==", wid)
    specs = [
        (f"ws:{wid}:orders", "Orders over time", metrics_dataset, {
            "viz_type": "echarts_timeseries_line", "x_axis": "ts", "time_grain_sqla": "PT1M",
            "metrics": [_metric("orders", "SUM(value)")], "groupby": [],
            "adhoc_filters": [mine, _filter("metric", "==", "orders")], "time_range": "No filter",
            "row_limit": 10000, "show_legend": False, "markerEnabled": True, "rich_tooltip": True,
        }),
        (f"ws:{wid}:revenue", "Revenue by region", metrics_dataset, {
            "viz_type": "pie", "groupby": ["tag_region"], "metric": _metric("revenue", "SUM(value)"),
            "adhoc_filters": [mine, _filter("metric", "==", "revenue")], "time_range": "No filter",
            "row_limit": 100, "show_labels": True, "show_legend": True, "label_type": "key_value",
        }),
    ]
    for sheet_id, sheet_name, dataset_id, columns in sheets[:MAX_SHEET_CHARTS]:
        shown = [name for name, _ in columns if name not in ("_row", "_position", "workspace_id")][:12]
        specs.append((f"ws:{wid}:sheet:{sheet_id}", f"{sheet_name} (sheet summary)", dataset_id, {
            "viz_type": "table", "query_mode": "raw", "all_columns": shown,
            "order_by_cols": [json.dumps(["_position", True])], "adhoc_filters": [], "time_range": "No filter",
            "row_limit": 1000, "server_pagination": False, "include_search": True,
        }))
    return specs


def query_context(dataset_id, params, slice_id=None, dashboard_id=None):
    """A chart data request for these viz params (what the chart data API takes)."""
    form_data = {**params, "datasource": f"{dataset_id}__table"}
    if slice_id:
        form_data["slice_id"] = slice_id
    if dashboard_id:
        form_data["dashboardId"] = dashboard_id
    filters = [{"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
               for f in params.get("adhoc_filters", [])]
    if params["viz_type"] == "table":
        query = {"columns": params["all_columns"], "orderby": [["_position", True]],
                 "row_limit": params["row_limit"], "filters": filters}
    elif params["viz_type"] == "pie":
        query = {"columns": params["groupby"], "metrics": [params["metric"]], "orderby": [[params["metric"], False]],
                 "row_limit": params["row_limit"], "filters": filters}
    else:
        query = {"columns": [{"columnType": "BASE_AXIS", "sqlExpression": params["x_axis"], "label": params["x_axis"],
                              "expressionType": "SQL", "timeGrain": params["time_grain_sqla"]}],
                 "metrics": params["metrics"], "orderby": [[params["metrics"][0], False]],
                 "row_limit": params["row_limit"], "filters": filters}
    query["time_range"] = "No filter"
    return {"datasource": {"id": dataset_id, "type": "table"}, "force": True, "queries": [query],
            "form_data": form_data, "result_format": "json", "result_type": "full"}


def ensure_chart(client, key, name, dataset_id, params, workspace_id):
    payload = {"slice_name": name, "viz_type": params["viz_type"], "datasource_id": dataset_id,
               "datasource_type": "table", "params": json.dumps({**params, "datasource": f"{dataset_id}__table"}),
               "query_context": json.dumps(query_context(dataset_id, params))}
    signature = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    stored = _stored("chart", key)
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
    position = {"DASHBOARD_VERSION_KEY": "v2", "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]}}
    for start in range(0, len(chart_ids), 2):
        row = f"ROW-{start // 2}"
        position["GRID_ID"]["children"].append(row)
        position[row] = {"type": "ROW", "id": row, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                         "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for chart_id in chart_ids[start:start + 2]:
            item = f"CHART-{chart_id}"
            position[row]["children"].append(item)
            position[item] = {"type": "CHART", "id": item, "children": [], "parents": ["ROOT_ID", "GRID_ID", row],
                              "meta": {"chartId": chart_id, "width": 6, "height": 50}}
    return position


def ensure_dashboard(client, workspace, chart_ids):
    key = f"ws:{workspace.pk}"
    slug = f"{prefix()}-ws-{workspace.pk}".replace("_", "-")
    title = f"{workspace.name} · Gridcast"
    dashboard_id = _live_id(client, "dashboard", key, "dashboard", "slug", slug)
    if dashboard_id is None:
        dashboard_id = client.request("POST", "/api/v1/dashboard/",
                                      {"dashboard_title": title, "slug": slug, "published": True})["id"]
    for chart_id in chart_ids:
        client.request("PUT", f"/api/v1/chart/{chart_id}", {"dashboards": [dashboard_id]})
    # Charts left on it by an earlier sync that lost its records: a guest may read every chart of
    # the dashboard, so only this workspace's current charts stay.
    for chart in client.get(f"/api/v1/dashboard/{dashboard_id}/charts")["result"]:
        if chart["id"] not in chart_ids:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
    client.request("PUT", f"/api/v1/dashboard/{dashboard_id}", {
        "dashboard_title": title, "published": True, "position_json": json.dumps(_position(chart_ids)),
        "json_metadata": json.dumps({"refresh_frequency": 0, "color_scheme": "supersetColors",
                                     "positions": _position(chart_ids)}),
    })
    origins = list(dict.fromkeys(conf("EMBED_ORIGINS")))
    embedded = client.request("POST", f"/api/v1/dashboard/{dashboard_id}/embedded", {"allowed_domains": origins})
    _remember("dashboard", key, dashboard_id, uuid=embedded["result"]["uuid"], workspace_id=workspace.pk)
    return dashboard_id


_sync_lock = threading.RLock()


def sync_workspace(workspace_id, client=None):
    """Create or update everything a workspace's Superset dashboard needs; returns its stored
    SupersetObject (kind dashboard: id and embed uuid). One sync at a time in this process (the
    background one and a command or a first guest token would otherwise create things twice)."""
    with _sync_lock:
        return _sync_workspace(workspace_id, client)


def _sync_workspace(workspace_id, client=None):
    from accounts.models import Workspace
    from sheets.models import Sheet

    client = client or Client()
    workspace = Workspace.objects.get(pk=workspace_id)
    database_id = ensure_database(client)
    metrics_dataset = ensure_metrics_dataset(client, database_id)
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
    chart_ids = [ensure_chart(client, key, name, dataset_id, params, workspace.pk)
                 for key, name, dataset_id, params in chart_specs(workspace.pk, metrics_dataset, sheets)]
    keep = {key for key, *_ in chart_specs(workspace.pk, metrics_dataset, sheets)}
    for stale in SupersetObject.objects.filter(kind="chart", workspace_id=workspace.pk).exclude(key__in=keep):
        client.request("DELETE", f"/api/v1/chart/{stale.superset_id}", ok=(200, 404))
        stale.delete()
    ensure_dashboard(client, workspace, chart_ids)
    return _stored("dashboard", f"ws:{workspace.pk}")


def sync_all(client=None):
    from accounts.models import Workspace

    client = client or Client()
    return [sync_workspace(wid, client) for wid in Workspace.objects.order_by("id").values_list("id", flat=True)]


def remove_all(client=None):
    """Delete from Superset everything provisioned for this Django database (the tests' teardown)."""
    client = client or Client()
    q = {"filters": [{"col": "slug", "opr": "ct", "value": f"{prefix()}-ws-".replace("_", "-")}], "page_size": 100}
    for dashboard in client.get("/api/v1/dashboard/?q=" + urllib.parse.quote(_rison(q)))["result"]:
        for chart in client.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}", ok=(200, 404))
        client.request("DELETE", f"/api/v1/dashboard/{dashboard['id']}", ok=(200, 404))
    q = {"filters": [{"col": "table_name", "opr": "ct", "value": f"{prefix()}_"}], "page_size": 100}
    for dataset in client.get("/api/v1/dataset/?q=" + urllib.parse.quote(_rison(q)))["result"]:
        client.request("DELETE", f"/api/v1/dataset/{dataset['id']}", ok=(200, 404, 422))
    SupersetObject.objects.all().delete()


def is_provisioned(workspace_id):
    return SupersetObject.objects.filter(kind="dashboard", key=f"ws:{int(workspace_id)}").exists()


# --- guest tokens -------------------------------------------------------------------------------------


def guest_token(*, user, workspace_id, seconds=None, now=None):
    """A guest token for the workspace's dashboard only. Its one row-level security rule names no
    dataset, so Superset applies it to every dataset the guest reads: a dataset with the
    workspace_id column shows the workspace's rows, and any other (one added to the dashboard in
    Superset by hand, say) fails: guests fail closed."""
    dashboard = _stored("dashboard", f"ws:{int(workspace_id)}")
    # No lake file: Superset could not read the lake (a Superset database made by an older
    # Gridcast, a var/ cleaned): the sync writes it and points the database at it.
    if dashboard is None or not lake_file().exists():
        if not available():
            raise SupersetUnavailable("Superset is not running (start it with `make superset`)")
        try:
            dashboard = sync_workspace(workspace_id)
        except SupersetError as error:
            log.warning("superset: provisioning workspace %s failed: %s", workspace_id, error)
            raise SupersetFailed("Superset could not set up this workspace's dashboard; try again") from None
    now = int(now if now is not None else time.time())
    expires = now + int(seconds or conf("GUEST_TOKEN_SECONDS"))
    claims = {
        "user": {"username": f"gridcast-{user.pk}", "first_name": str(getattr(user, "label", "") or "Gridcast")[:60],
                 "last_name": ""},
        "resources": [{"type": "dashboard", "id": dashboard.uuid}],
        "rls_rules": [{"clause": f"workspace_id = {int(workspace_id)}"}],
        "iat": now, "exp": expires, "aud": conf("GUEST_TOKEN_AUDIENCE"), "type": "guest",
    }
    token = jwt.encode(claims, conf("GUEST_TOKEN_SECRET"), algorithm=GUEST_TOKEN_ALGO)
    return {"token": token, "dashboard": dashboard.uuid, "url": conf("PUBLIC_URL"),
            "expires_at": dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat()}


# --- sync in the background ---------------------------------------------------------------------------

_queue = queue.Queue()
_thread = None
_thread_lock = threading.Lock()
RETRY_SECONDS = (1, 2, 4, 8, 15)


def schedule_sync(workspace_id):
    """After the current transaction commits, sync the workspace in a background thread (never
    blocking nor failing the edit); nothing happens when Superset is off."""
    if not conf("AUTO_SYNC") or not settings.SUPERSET.get("ENABLED", True):
        return
    transaction.on_commit(lambda: _enqueue(int(workspace_id)))


def _enqueue(workspace_id):
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="superset-sync", daemon=True)
            _thread.start()
    _queue.put(workspace_id)


def _run():
    from django.db import connection

    from . import selectors

    while True:
        pending = [_queue.get()]
        time.sleep(0.5)  # gather the burst of changes of one edit (a sheet and its columns)
        while not _queue.empty():
            pending.append(_queue.get_nowait())
        try:
            if available():
                for workspace_id in sorted(set(pending)):
                    _sync_with_retries(workspace_id)
        finally:
            # Nothing held between rounds: the lake connection and the database connection of
            # this thread would keep their database busy (and a test database from being dropped).
            selectors.close()
            connection.close()
            for _ in pending:
                _queue.task_done()


def wait_for_sync():
    """Block until the background sync has done everything scheduled so far (tests, scripts)."""
    _queue.join()


def expected_columns(sheet_id):
    """The column names the sheet's view has once the writer caught up with its columns."""
    from sheets.models import Column

    from .writethrough import column_names

    columns = {c["key"]: {"name": c["name"], "position": c["position"], "deleted": c["deleted"]}
               for c in Column.objects.filter(sheet_id=sheet_id).values("key", "name", "position", "deleted")}
    return ["_row", "_position", "workspace_id", *column_names(columns).values()]


def _dataset_current(sheet_id):
    stored = _stored("dataset", f"sheet:{sheet_id}")
    if stored is None:
        return False
    _, columns = json.loads(stored.signature)
    return [name for name, _ in columns] == expected_columns(sheet_id)


def _sync_with_retries(workspace_id):
    from accounts.models import Workspace
    from sheets.models import Sheet

    for delay in (0, *RETRY_SECONDS):
        time.sleep(delay)
        try:
            close_old_connections()
            if not Workspace.objects.filter(pk=workspace_id).exists():
                return
            sync_workspace(workspace_id)
            # A sheet's view follows its columns once the writer has caught up: look again until
            # every dataset was built from the sheet's current columns.
            if all(_dataset_current(sid) for sid in Sheet.objects.filter(workspace_id=workspace_id)
                   .values_list("id", flat=True)):
                return
        except Exception:
            log.warning("superset sync of workspace %s failed", workspace_id, exc_info=True)


def _sheet_saved(sender, instance, created, update_fields=None, **kwargs):
    schedule_sync(instance.workspace_id)


def _sheet_deleted(sender, instance, **kwargs):
    schedule_sync(instance.workspace_id)


def _column_changed(sender, instance, **kwargs):
    from sheets.models import Sheet

    workspace_id = Sheet.objects.filter(pk=instance.sheet_id).values_list("workspace_id", flat=True).first()
    if workspace_id is not None:
        schedule_sync(workspace_id)


def connect_signals():
    """Sheets' services know nothing of Superset: follow their saves and deletes instead (the sync
    itself runs after commit, in the background)."""
    from django.db.models.signals import post_delete, post_save

    from sheets.models import Column, Sheet

    post_save.connect(_sheet_saved, sender=Sheet, dispatch_uid="superset-sheet-saved")
    post_delete.connect(_sheet_deleted, sender=Sheet, dispatch_uid="superset-sheet-deleted")
    post_save.connect(_column_changed, sender=Column, dispatch_uid="superset-column-saved")
    post_delete.connect(_column_changed, sender=Column, dispatch_uid="superset-column-deleted")

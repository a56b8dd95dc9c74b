"""Superset's generated config (`manage.py superset_config`): Gridcast's settings, and the code that
makes Superset's DuckDB connections attach the lake read-only and run SELECTs only."""

from pathlib import Path

from django.conf import settings

from .client import GUEST_TOKEN_ALGO, conf
from .provisioning import lakes_dir

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


def frame_ancestors() -> list[str]:
    # Loopback on any port too: the dev server and the test servers pick their own ports.
    origins = ["'self'", *conf("EMBED_ORIGINS"), "http://127.0.0.1:*", "http://localhost:*"]
    return list(dict.fromkeys(origins))


def config_text(directory: str | Path | None = None) -> str:
    """Superset's config; its metadata database lives in `directory` (the config's own folder)."""
    directory = Path(directory or Path(settings.VAR_DIR) / "superset").resolve()
    return (
        CONFIG_TEMPLATE.format(
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
        )
        + CONFIG_CODE
    )

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
import threading
import time


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


# A DuckDB instance that failed like this is dropped from the warm ones below, and the statement
# run once more on a new one: its catalog connection or its files are gone (a catalog made anew
# under it, say), not the statement wrong. DuckDB invalidates an instance after such an error.
_BROKEN = (duckdb.FatalException, duckdb.InternalException, duckdb.ConnectionException, duckdb.IOException)


class _Session:
    """The DuckDB connection a guarded connection and its cursors run on; for a warm lake, a cursor
    of the warm instance, replaced by one of a new instance once if the instance broke."""

    def __init__(self, raw, renew=None):
        self.raw = raw
        self.renew = renew  # () -> a new raw connection, for a warm lake's; None: no second try

    def run(self, statement, call):
        try:
            _check(self.raw, statement)  # parsed by the connection: a closed one fails here
            return call(self.raw)
        except _BROKEN:
            if self.renew is None:
                raise
            renew, self.renew = self.renew, None
            self.raw = renew()
            self.raw.begin()  # SQLAlchemy had begun a transaction on the broken one
            _check(self.raw, statement)
            return call(self.raw)


class _GuardedCursor(duckdb_engine.CursorWrapper):
    def __init__(self, session, connection_wrapper):
        super().__init__(session.raw, connection_wrapper)
        self._session = session

    def execute(self, statement, parameters=None, context=None):
        run = super().execute
        return self._session.run(statement, lambda raw: self._on(raw, run)(statement, parameters, context))

    def executemany(self, statement, parameters=None, context=None):
        run = super().executemany
        return self._session.run(statement, lambda raw: self._on(raw, run)(statement, parameters, context))

    def _on(self, raw, run):
        self._CursorWrapper__c = raw  # duckdb-engine's wrapper reads (fetch*, description) from it
        return run

    def __getattr__(self, name):
        if name == "_session":  # not set yet
            raise AttributeError(name)
        return getattr(self._session.raw, name)


class _GuardedConnection(duckdb_engine.ConnectionWrapper):
    def __init__(self, raw, renew=None, on_close=None):
        super().__init__(raw)
        self._session = _Session(raw, renew)
        self._on_close = on_close

    def cursor(self):
        return _GuardedCursor(self._session, self)

    def execute(self, statement, parameters=None):
        return self._session.run(statement, lambda raw: raw.execute(statement, parameters))

    def sql(self, statement, *args, **kwargs):
        return self._session.run(statement, lambda raw: raw.sql(statement, *args, **kwargs))

    query = sql

    def __getattr__(self, name):
        if name == "_session":  # not set yet
            raise AttributeError(name)
        return getattr(self._session.raw, name)

    def close(self):
        try:
            self._session.raw.close()
        finally:
            self.closed = True
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


_LAKE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_SECRET_FIELDS = ("host", "port", "database", "user", "password")


def _lake_text(name):
    if not isinstance(name, str) or not _LAKE_NAME.fullmatch(name) or name.startswith("."):
        raise ValueError(f"not a Gridcast lake name: {name!r}")
    with open(os.path.join(GRIDCAST_LAKES_DIR, name + ".json"), encoding="utf-8") as file:
        return file.read()


# --- warm lake connections -----------------------------------------------------------------------
# Superset makes a new engine with a NullPool for every query, and attaching a lake (a DuckDB
# instance, the ducklake and postgres extensions, the catalog) costs about a second. So each Superset
# process keeps one locked-down DuckDB instance per lake, attached once, and every connection
# Superset opens is a new cursor on it: its own transaction (it reads the lake's latest snapshot),
# its own temporary catalog and session (nothing one guest did reaches the next), the guard in front.
# The instance is made again when the lake's file changes (new details), after a fork, or after it
# failed (_BROKEN).
_warm = {}  # lake name -> (the lake file's text, the attached DuckDB connection)
_warm_lock = threading.Lock()
_warm_pid = None
# An instance nobody has used for this long is closed (its catalog sessions with it: a database
# can then be dropped, the test suite's say); the next query attaches again.
IDLE_SECONDS = 30
_users = {}  # lake name -> connections open on its instance
_used = {}  # lake name -> when its last connection closed (time.monotonic())


def _reap():
    while True:
        time.sleep(5)
        now = time.monotonic()
        with _warm_lock:
            idle = [name for name in _warm if not _users.get(name) and now - _used.get(name, now) > IDLE_SECONDS]
            closing = [_warm.pop(name)[1] for name in idle]
        for instance in closing:
            try:
                instance.close()
            except duckdb.Error:
                pass


def _closed(name):
    with _warm_lock:
        _users[name] = max(0, _users.get(name, 0) - 1)
        _used[name] = time.monotonic()


def _warm_lake(dialect, cargs, cparams, name):
    global _warm_pid
    text = _lake_text(name)
    with _warm_lock:
        if _warm_pid != os.getpid():  # a forked worker never shares its parent's DuckDB instance
            _warm.clear()
            _users.clear()
            _warm_pid = os.getpid()
            threading.Thread(target=_reap, name="gridcast-lake-reaper", daemon=True).start()
        held = _warm.get(name)
        if held is None or held[0] != text:
            # The one it replaces is not closed: requests may still read through its cursors.
            held = (text, _attach(dialect, cargs, cparams, json.loads(text)))
            _warm[name] = held
        _used[name] = time.monotonic()  # handed out: not idle, before its connection is counted
        return held[1]


def _forget(name, instance):
    with _warm_lock:
        if name in _warm and _warm[name][1] is instance:
            del _warm[name]


@event.listens_for(duckdb_engine.Dialect, "do_connect")
def _connect_duckdb(dialect, conn_rec, cargs, cparams):
    """Every DuckDB connection Superset opens is locked down: no file outside the lake, no
    extension loaded, no database attached, its configuration locked, and the statements above
    only. One whose connect_args name a Gridcast lake ("gridcast_lake": <name>) is a cursor on this
    process's warm instance of that lake (_warm_lake), in the lake (USE lake)."""
    name = cparams.get("gridcast_lake")
    if name is None:
        params = {key: value for key, value in cparams.items() if key in ("database", "read_only")}
        params["config"] = {"enable_external_access": False, "autoinstall_known_extensions": False,
                            "autoload_known_extensions": False, "lock_configuration": True}
        return _GuardedConnection(dialect.connect(*cargs, **params)._ConnectionWrapper__c)
    def lake_cursor():
        for attempt in (1, 2):  # a warm instance that broke since its last query is attached again, once
            instance = _warm_lake(dialect, cargs, cparams, name)
            try:
                with _warm_lock:  # the instance's list of cursors is not ours to race on
                    cursor = instance.cursor()
                cursor.execute("USE lake")  # the only statement run unguarded on a cursor (USE is per session)
                return instance, cursor
            except duckdb.Error:
                _forget(name, instance)
                if attempt == 2:
                    raise

    instance, cursor = lake_cursor()

    def renew():
        _forget(name, instance)
        return lake_cursor()[1]

    with _warm_lock:
        _users[name] = _users.get(name, 0) + 1
    return _GuardedConnection(cursor, renew=renew, on_close=lambda: _closed(name))


def _attach(dialect, cargs, cparams, lake):
    """A DuckDB instance with the lake attached read-only as `lake` (extensions from Gridcast's
    directory, never downloaded), then locked: the catalog's credentials go through a temporary
    DuckDB secret, dropped once attached, so neither duckdb_databases() nor duckdb_secrets() shows
    them; settings are GLOBAL, so that every cursor has them, and locked."""
    params = {key: value for key, value in cparams.items() if key in ("database", "read_only")}
    params["config"] = {"extension_directory": lake["extension_directory"], "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False}
    raw = dialect.connect(*cargs, **params)._ConnectionWrapper__c
    raw.execute("SET GLOBAL TimeZone = 'UTC'")
    raw.execute("LOAD ducklake")
    options = ["READ_ONLY", "DATA_PATH " + _literal(lake["data_path"])]
    if lake["kind"] == "postgres":
        raw.execute("LOAD postgres_scanner")
        # Pooled catalog connections (checked with SELECT 1 when taken) idle for 10 s are closed; the
        # one DuckLake keeps for its catalog was seen to stay open: IDLE_SECONDS below closes it.
        raw.execute("SET GLOBAL pg_pool_idle_timeout_millis = 10000")
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
    # A warm instance keeps what it cached (Parquet blocks and metadata) between queries: bounded.
    raw.execute("SET GLOBAL memory_limit = '2GB'")
    raw.execute("SET GLOBAL allowed_directories = [" + _literal(lake["data_path"]) + "]")
    raw.execute("SET GLOBAL enable_external_access = false")
    raw.execute("SET GLOBAL lock_configuration = true")
    return raw


def _literal(text):
    return "'" + str(text).replace("'", "''") + "'"


# --- guests ---------------------------------------------------------------------------------------
_COLORS = re.compile(r"/api/v1/dashboard/\d+/colors")


def FLASK_APP_MUTATOR(app):
    from flask import jsonify, request

    @app.before_request
    def _guest_colours_not_stored():
        """Superset's dashboard page, as it unloads, stores the label colours it worked out (PUT
        /api/v1/dashboard/<id>/colors) whenever they differ from the stored ones, a guest's too: a
        guest may not change a dashboard, so every page that embedded one logged a 403 and an
        uncaught error as it was left. A guest's request (a valid guest token) is answered as done
        and nothing is stored; the dashboard's colours stay its owner's."""
        if request.method != "PUT" or not _COLORS.fullmatch(request.path):
            return None
        from superset import security_manager

        if security_manager.get_guest_user_from_request(request) is None:
            return None  # not a guest: Superset's own checks
        return jsonify({})
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

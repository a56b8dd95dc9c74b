"""`make serve`: a production-like deployment on this machine, from the repository.

The production settings (config.settings.production) on the local PostgreSQL and Redis, and under
one process manager (honcho, running deploy/Procfile): WEB_PROCESSES uvicorn web processes
(2) behind HAProxy on HOST:PORT (127.0.0.1:8000), the analytics worker, JOBS_PROCESSES jobs
workers (2: imports, formula recomputes, Superset syncs), and Superset (SUPERSET=0 leaves it
out). Before that it creates the database if it is missing, migrates it and collects the static
files; secrets are made once and kept in $GRIDCAST_VAR_DIR/secrets.env (mode 600).

It serves plain HTTP on loopback, so it turns off what production settings keep for HTTPS (the
redirect, secure cookies, HSTS): behind TLS, terminate it in HAProxy (`bind :443 ssl crt ...`)
and leave those variables unset. Every variable of the README's "Production server" applies;
these have defaults here:

    DATABASE_URL      postgres://postgres@127.0.0.1:5432/gridcast (created when missing)
    REDIS_URL         redis://127.0.0.1:6379/0
    GRIDCAST_VAR_DIR  var/serve (lake files, Superset's metadata, haproxy.cfg, secrets)
    HOST, PORT        127.0.0.1, 8000: where HAProxy listens
    WEB_PROCESSES     2;  WEB_BASE_PORT 8100: web.1 listens there, web.2 on the next port, ...
    JOBS_PROCESSES    2: jobs workers, each running one job at a time (a long recompute holds one)
    SUPERSET          1;  SUPERSET_PORT 8089
    SEED_DEMO         0;  1 seeds the demo workspace and its logins on an empty database
    PROMETHEUS_MULTIPROC_DIR  $GRIDCAST_VAR_DIR/prometheus (emptied before the processes start): /metrics of any web
                      process has every process's metrics, the worker's too

Ctrl-C (or SIGTERM) stops every process. `python -m config.serve --check` prepares everything
(database, static files, haproxy.cfg) and exits without serving; `python -m config.serve manage
<command>` runs a manage.py command in the deployment's environment (createsuperuser, say).
"""

import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _say(text: str) -> None:
    print(f"[gridcast serve] {text}", flush=True)


def _secrets(var: Path) -> dict[str, str]:
    """The installation's secrets: made at the first start, then read back (so sessions, guest
    tokens and Superset's encrypted metadata survive a restart)."""
    path = var / "secrets.env"
    if not path.exists():
        made = {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "SUPERSET_SECRET_KEY": secrets.token_urlsafe(48),
            "SUPERSET_GUEST_TOKEN_SECRET": secrets.token_urlsafe(48),
            "SUPERSET_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        }
        path.touch(mode=0o600)
        path.write_text("".join(f"{name}={value}\n" for name, value in made.items()))
    lines = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, _, value in lines}


def environment(environ: dict[str, str] = os.environ) -> dict[str, str]:
    """The processes' environment: the caller's, over these defaults (see the module)."""
    var = Path(environ.get("GRIDCAST_VAR_DIR", REPO / "var" / "serve")).resolve()
    var.mkdir(parents=True, exist_ok=True)
    host, port = environ.get("HOST", "127.0.0.1"), environ.get("PORT", "8000")
    origin = f"http://{host}:{port}"
    superset_port = environ.get("SUPERSET_PORT", "8089")
    defaults = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/gridcast",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "GRIDCAST_VAR_DIR": str(var),
        "ALLOWED_HOSTS": f"{host},localhost,127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": origin,
        "GRIDCAST_PUBLIC_URL": origin,
        "TRUSTED_PROXY_COUNT": "1",  # HAProxy adds the client's address to X-Forwarded-For
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "SUPERSET_PORT": superset_port,
        "SUPERSET_URL": f"http://127.0.0.1:{superset_port}",
        "SUPERSET_EMBED_ORIGINS": origin,
        # Every process writes its metrics here; any web process's /metrics (through HAProxy too)
        # serves the sum of them all, the worker's included (docs/operations.md). Emptied at start.
        "PROMETHEUS_MULTIPROC_DIR": str(var / "prometheus"),
        **_secrets(var),
    }
    return {**defaults, **environ, "GRIDCAST_VAR_DIR": str(var)}


def _servers(env: dict[str, str]) -> list[tuple[str, int]]:
    base = int(env.get("WEB_BASE_PORT", "8100"))
    return [(f"web{i + 1}", base + i) for i in range(int(env.get("WEB_PROCESSES", "2")))]


def haproxy_config(env: dict[str, str]) -> Path:
    """$GRIDCAST_VAR_DIR/haproxy.cfg from deploy/haproxy.cfg.template, naming each web process."""
    template = Template((REPO / "deploy" / "haproxy.cfg.template").read_text())
    servers = "\n".join(f"    server {name} 127.0.0.1:{port}" for name, port in _servers(env))
    path = Path(env["GRIDCAST_VAR_DIR"]) / "haproxy.cfg"
    path.write_text(
        template.substitute(BIND=f"{env.get('HOST', '127.0.0.1')}:{env.get('PORT', '8000')}", SERVERS=servers)
    )
    return path


def _create_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist yet."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    import psycopg

    maintenance = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            _say(f"creating the database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def metrics_directory(env: dict[str, str]) -> Path:
    """PROMETHEUS_MULTIPROC_DIR, emptied: values of an earlier run's processes would be summed in."""
    path = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def prepare(env: dict[str, str]) -> None:
    if shutil.which("haproxy") is None:
        raise SystemExit("haproxy is not installed: `make serve` installs it (apt-get install haproxy)")
    if env["DATABASE_URL"].startswith("postgres"):
        _create_database(env["DATABASE_URL"])
    manage = [sys.executable, str(REPO / "manage.py")]
    _say("migrating the database")
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    _say("collecting the static files")
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    if env.get("SEED_DEMO", "0") == "1":
        subprocess.run([*manage, "seed_demo", "--if-empty"], cwd=REPO, env=env, check=True)
    haproxy_config(env)
    metrics_directory(env)


def command(env: dict[str, str]) -> list[str]:
    """honcho running deploy/Procfile: the web processes from WEB_BASE_PORT, Superset unless SUPERSET=0."""
    jobs, superset = int(env.get("JOBS_PROCESSES", "2")), 0 if env.get("SUPERSET") == "0" else 1
    concurrency = f"web={len(_servers(env))},worker=1,jobs={jobs},lb=1,superset={superset}"
    return [str(BIN / "honcho"), "start", "-f", str(REPO / "deploy" / "Procfile"), "-d", str(REPO),
            "-p", env.get("WEB_BASE_PORT", "8100"), "-c", concurrency]  # fmt: skip


def main(argv: list[str]) -> None:
    env = environment()
    if argv[:1] == ["manage"]:
        raise SystemExit(
            subprocess.run([sys.executable, str(REPO / "manage.py"), *argv[1:]], cwd=REPO, env=env).returncode
        )
    prepare(env)
    if "--check" in argv:
        return
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
    _say(f"serving on http://{host}:{port} ({len(_servers(env))} web processes behind HAProxy); Ctrl-C stops it")
    _say("a first account: .venv/bin/python -m config.serve manage createsuperuser")
    honcho = command(env)
    os.execve(honcho[0], honcho, env)


if __name__ == "__main__":
    main(sys.argv[1:])

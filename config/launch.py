"""`make run`: the whole product on the embedded default, from one command, stopped by one Ctrl-C.

1. Migrates the SQLite database and seeds the demo once (`seed_demo --if-empty`).
2. Starts Apache Superset beside it unless SUPERSET=0 (superset/service.py), in the background:
   Gridcast serves while Superset's first install runs, and the dashboard says so, or says why it
   failed and how to retry.
3. Serves Gridcast with uvicorn in one process: the in-memory channel layer, the analytics writer,
   the background jobs worker (imports, formula recomputes, Superset syncs) and the demo stream run inside it. uvicorn
   closes a client that stops reading (4008), where daphne buffered for it without limit.
4. Prints the demo logins and what to open first.
5. On Ctrl-C (or SIGTERM, `make stop`) stops the server and the Superset it started, then exits.

Environment: HOST, PORT (127.0.0.1:8000), GRIDCAST_VAR_DIR (var/), SUPERSET=0, SUPERSET_PORT (8088),
GRIDCAST_DEMO=0 (no demo stream or collaborator).
"""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _superset_service() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gridcast_superset_service", REPO / "superset" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _say(text: str) -> None:
    print(f"[gridcast] {text}", flush=True)


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(REPO / "manage.py"), *args], cwd=REPO, check=True)


def _wait_until_served(url: str, process: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url + "/accounts/login/", timeout=2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Superset:
    """This checkout's Superset, started in a thread; stopped when the launcher stops."""

    def __init__(self, var: Path, port: str, gridcast_url: str) -> None:
        self.service = _superset_service()
        self.paths = self.service.Paths(var / "superset")
        self.port, self.gridcast_url = port, gridcast_url
        self.thread = threading.Thread(target=self._start, name="superset", daemon=True)

    def _start(self) -> None:
        self.paths.var.mkdir(parents=True, exist_ok=True)
        self.paths.failed.unlink(missing_ok=True)
        starting = self.paths.var / "starting"
        first = not (self.service.VENV / ".installed").exists()
        starting.write_text(
            "Superset is being installed and started beside Gridcast (its first install takes a few minutes; "
            f"progress in the terminal and in {self.paths.install_log}). Reload this page once it is ready.\n"
            if first
            else "Superset is starting beside Gridcast (a few seconds). Reload this page once it is ready.\n"
        )
        try:
            url = self.service.start(self.paths, self.port)
        except self.service.Cancelled:
            return
        except (self.service.Failed, OSError) as error:
            _say(self.service.record_failure(self.paths, error))
            _say("Gridcast runs on without it; the dashboard says the same.")
            return
        finally:
            starting.unlink(missing_ok=True)
        # Each workspace's datasets and dashboard, made now rather than on the first visit.
        subprocess.run([sys.executable, str(REPO / "manage.py"), "superset_sync"], cwd=REPO, capture_output=True)
        _say(
            f"Superset is ready: its dashboards show under the live widgets of {self.gridcast_url}/ "
            f"(Superset itself: {url})"
        )

    def stop(self) -> None:
        self.service.CANCEL.set()  # an install or start under way ends, and starts nothing
        self.thread.join(timeout=30)
        self.service.stop(self.paths)


def stop_leftovers() -> int:
    """`make stop`: stop what a `make run` left (its launcher, stopping everything it started; or,
    when the launcher was killed, its server) and this checkout's Superset."""
    var = Path(os.environ.get("GRIDCAST_VAR_DIR", REPO / "var")).resolve()
    try:
        pids = [int(p) for p in (var / "run.pid").read_text().split()]
    except (OSError, ValueError):
        pids = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            _say(f"sent SIGTERM to {pid}")
        except ProcessLookupError:
            pass
    for _ in range(120):
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            break
        time.sleep(0.25)
    (var / "run.pid").unlink(missing_ok=True)
    service = _superset_service()
    if not service.stop(service.Paths(var / "superset")):
        _say("Superset is not running")
    return 0


def main() -> int:
    if sys.argv[1:] == ["stop"]:
        return stop_leftovers()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    var = Path(os.environ.get("GRIDCAST_VAR_DIR", REPO / "var")).resolve()
    url = f"http://{host}:{port}"
    started = time.monotonic()
    with_superset = os.environ.get("SUPERSET", "1") != "0"
    superset_port = os.environ.get("SUPERSET_PORT", "8088")
    if with_superset:
        os.environ.setdefault("SUPERSET_URL", f"http://127.0.0.1:{superset_port}")
        # Superset lets its dashboards be framed by these origins only: this run's, on any port.
        os.environ.setdefault(
            "SUPERSET_EMBED_ORIGINS",
            ",".join(dict.fromkeys([url, f"http://127.0.0.1:{port}", f"http://localhost:{port}"])),
        )
    else:
        os.environ["SUPERSET_ENABLED"] = "0"
    superset = Superset(var, superset_port, url) if with_superset else None

    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = None
    try:
        if superset:
            superset.thread.start()
        _manage("migrate", "--noinput", "-v", "0")
        _manage("seed_demo", "--if-empty")
        if stopping.is_set():
            return 0
        server = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                host,
                "--port",
                port,
                "--no-access-log",
                "--lifespan",
                "off",
            ],
            cwd=REPO,
        )
        (var / "run.pid").write_text(f"{os.getpid()} {server.pid}\n")
        if _wait_until_served(url, server):
            _say(
                f"Gridcast is ready in {time.monotonic() - started:.0f} s: "
                f"open {url}/ and log in with a demo login above"
            )
            _say("the demo sheet is 'orders' in the Demo workspace; its live dashboard is linked beside it")
            if not superset:
                _say("Superset is off (SUPERSET=0); `make superset` starts it")
            elif superset.thread.is_alive():
                _say(
                    "Superset is still starting (its first install takes a few minutes); "
                    "the dashboard shows it once ready"
                )
            _say("Ctrl-C stops everything")
        while not stopping.is_set() and server.poll() is None:
            stopping.wait(0.5)
        return server.poll() or 0
    except subprocess.CalledProcessError as error:
        _say(f"{error}")
        return 1
    finally:
        _say("stopping")
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reached it already; a TERM did not
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        if superset:
            superset.stop()
        (var / "run.pid").unlink(missing_ok=True)
        _say("stopped")


if __name__ == "__main__":
    sys.exit(main())

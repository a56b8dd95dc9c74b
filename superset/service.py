"""Apache Superset beside Gridcast: install it (its own virtualenv), configure, start and stop it.

    python superset/service.py start [--var DIR] [--port N|auto] [--optional]
    python superset/service.py stop [--var DIR]
    python superset/service.py status [--var DIR]
    python superset/service.py run [--var DIR] [--port N|auto]

`run` is `start` in the foreground, for a process manager (`make serve`'s honcho): it returns when
Superset exits, and stops it on SIGTERM or SIGINT.

`make run` (through config/launch.py), `make superset`, `make stop` and `make test` all come here, so
there is one idea of "this checkout's Superset": the gunicorn whose pid is in DIR/superset.pid and
whose working directory is DIR. A Superset that answers on the port but is not that process (one
left by an earlier clone, say) is never used nor stopped: `start` says the port is taken.

The first install shows its progress and how long it took (about two minutes here); later starts
reuse the virtualenv and the metadata and take seconds. When Superset cannot be installed or started,
`start` writes why, and how to retry, to DIR/failed (the dashboard shows it) and removes it once
Superset runs. Standard library only: it runs before anything else is installed.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("SUPERSET_VENV", REPO / ".superset-venv"))
REQUIREMENTS = REPO / "superset" / "requirements.txt"
INITIALISE = REPO / "superset" / "initialise.py"
GRIDCAST_PYTHON = Path(sys.executable)
BASE_PYTHON = os.environ.get("PYTHON", "python3.11")
RETRY = "retry with `make superset` (or start without it: `SUPERSET=0 make run`)"


class Failed(Exception):
    """Superset could not be installed or started; the message says why and how to retry."""


class Paths:
    def __init__(self, var):
        self.var = Path(var).resolve()
        self.config = self.var / "superset_config.py"
        self.pid = self.var / "superset.pid"
        self.log = self.var / "superset.log"
        self.install_log = self.var / "install.log"
        self.init_log = self.var / "init.log"
        self.initialised = self.var / ".initialised"
        self.failed = self.var / "failed"
        self.url = self.var / "url"

    def env(self):
        return {
            **os.environ,
            "SUPERSET_CONFIG_PATH": str(self.config),
            "SUPERSET_HOME": str(self.var),
            "FLASK_APP": "superset",
        }


def say(text):
    print(f"[superset] {text}", flush=True)


# --- install -----------------------------------------------------------------------------------


def _stale(stamp, *sources):
    return not stamp.exists() or any(source.stat().st_mtime > stamp.stat().st_mtime for source in sources)


class Cancelled(Failed):
    """The caller is stopping (Ctrl-C during the first install)."""


CANCEL = threading.Event()  # set by a launcher that stops while Superset is still being made


def _run_with_progress(command, log, label, env=None):
    """Run `command` with its output in `log`, printing what it is at and the time it has taken:
    on one line that updates every second in a terminal, a line every 15 s otherwise."""
    if CANCEL.is_set():
        raise Cancelled(f"{label}: cancelled")
    started = time.monotonic()
    tty = sys.stdout.isatty()
    seen = {"steps": 0, "line": ""}

    def read(stream, out):
        for line in stream:
            out.write(line)
            if line.startswith(("Collecting", "Processing", "Downloading", "Installing", "Building", "INFO")):
                seen["steps"] += 1
            seen["line"] = line.strip()[:60]

    with open(log, "a") as out:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        reader = threading.Thread(target=read, args=(process.stdout, out), daemon=True)
        reader.start()
        last_print = time.monotonic()
        while process.poll() is None:
            time.sleep(0.25)
            if CANCEL.is_set():
                process.terminate()
            now = time.monotonic()
            if now - last_print >= (1 if tty else 15):
                status = f"{label}: {int(now - started)} s, {seen['steps']} steps ({seen['line']})"
                print(
                    f"\r\033[K[superset] {status}" if tty else f"[superset] {status}",
                    end="" if tty else "\n",
                    flush=True,
                )
                last_print = now
        reader.join(timeout=5)
    if tty:
        print("\r\033[K", end="", flush=True)
    if CANCEL.is_set():
        raise Cancelled(f"{label}: cancelled")
    if process.returncode:
        tail = "".join(Path(log).read_text(errors="replace").splitlines(True)[-15:])
        raise Failed(f"{label} failed (exit {process.returncode}); see {log}:\n{tail}")
    return time.monotonic() - started


def install(paths):
    """The virtualenv from superset/requirements.txt, once (again when the requirements change)."""
    stamp = VENV / ".installed"
    if not _stale(stamp, REQUIREMENTS):
        return
    say(f"installing Apache Superset into {VENV.name}/ (first run only: about 2 minutes; log in {paths.install_log})")
    paths.install_log.write_text("")
    started = time.monotonic()
    if not (VENV / "bin" / "python").exists():
        _run_with_progress([BASE_PYTHON, "-m", "venv", str(VENV)], paths.install_log, "creating the virtualenv")
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check"]
    _run_with_progress([*pip, "--upgrade", "pip"], paths.install_log, "upgrading pip")
    _run_with_progress([*pip, "-r", str(REQUIREMENTS)], paths.install_log, "installing packages")
    stamp.touch()
    say(f"installed in {time.monotonic() - started:.0f} s")


def configure(paths):
    """superset_config.py from Gridcast's settings (secrets, guest tokens, embedding)."""
    result = subprocess.run(
        [str(GRIDCAST_PYTHON), str(REPO / "manage.py"), "superset_config", "--output", str(paths.config)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise Failed(f"writing its config failed: {result.stderr.strip()[-800:]}")


def initialise(paths):
    """Metadata database, roles, Gridcast's admin and guest role: once, and again when the config
    or superset/initialise.py changed."""
    if not _stale(paths.initialised, paths.config, INITIALISE, VENV / ".installed"):
        return
    say("initialising its metadata (first run only: about a minute)")
    started = time.monotonic()
    paths.init_log.write_text("")
    superset = str(VENV / "bin" / "superset")
    _run_with_progress([superset, "db", "upgrade"], paths.init_log, "migrating the metadata", env=paths.env())
    _run_with_progress([superset, "init"], paths.init_log, "creating roles and permissions", env=paths.env())
    _run_with_progress(
        [str(VENV / "bin" / "python"), str(INITIALISE)],
        paths.init_log,
        "adding Gridcast's admin and guest role",
        env=paths.env(),
    )
    paths.initialised.touch()
    say(f"initialised in {time.monotonic() - started:.0f} s")


# --- the process -------------------------------------------------------------------------------


def _read_int(path):
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def own_pid(paths):
    """The pid of this checkout's Superset when it runs: the pid file's process, alive, and working
    in this var directory (a pid reused by another program is not ours)."""
    pid = _read_int(paths.pid)
    if pid is None:
        return None
    try:
        if Path(f"/proc/{pid}/cwd").resolve() == paths.var:
            return pid
    except OSError:
        pass
    return None


def _answers(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _port_taken(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _check_free(port):
    if _port_taken(port):
        raise Failed(
            f"port {port} is taken by another program (not this checkout's Superset; an earlier clone's "
            f"may still run there): stop it, or choose another port with SUPERSET_PORT=<port>"
        )


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def url_of(paths):
    try:
        return paths.url.read_text().strip() or None
    except OSError:
        return None


def start(paths, port):
    """Install, configure and start this checkout's Superset (or keep the one running); its URL."""
    paths.var.mkdir(parents=True, exist_ok=True)
    pid, url = own_pid(paths), url_of(paths)
    ours = bool(pid and url and (port == "auto" or url.endswith(f":{port}")))
    if not ours and port != "auto":
        _check_free(int(port))  # before minutes of installing
    install(paths)
    configure(paths)
    initialise(paths)
    changed = ours and paths.config.stat().st_mtime > paths.pid.stat().st_mtime
    if ours and not changed and _answers(url):
        say(f"running on {url}")
        return url
    if pid:  # ours, but its config changed, it does not answer, or it serves another port
        say("restarting it")
        stop(paths)
    port = _free_port() if port == "auto" else int(port)
    _check_free(port)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    if CANCEL.is_set():
        raise Cancelled("cancelled before it started")
    say(f"starting on {url}")
    with open(paths.log, "ab") as log:
        process = subprocess.Popen(
            [
                str(VENV / "bin" / "gunicorn"),
                "-w",
                "2",
                "--threads",
                "4",
                "-k",
                "gthread",
                "-b",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--chdir",
                str(paths.var),
                "--pid",
                str(paths.pid),
                "--capture-output",
                "superset.app:create_app()",
            ],
            env=paths.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches the launcher, which stops it in order
        )
    paths.url.write_text(url)
    for _ in range(480):
        if process.poll() is not None:
            tail = "".join(paths.log.read_text(errors="replace").splitlines(True)[-15:])
            raise Failed(f"it exited at start (code {process.returncode}); see {paths.log}:\n{tail}")
        if _answers(url, timeout=1):
            say(f"running on {url} (started in {time.monotonic() - started:.0f} s)")
            return url
        time.sleep(0.25)
    stop(paths)
    raise Failed(f"it did not answer on {url} within 2 minutes; see {paths.log}")


def stop(paths):
    """Stop this checkout's Superset (SIGTERM, then SIGKILL after 20 s). Never another's."""
    pid = own_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(80):
        if own_pid(paths) is None or not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.25)
    else:
        os.killpg(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)
    say("stopped")
    return True


def run(paths, port):
    """start(), then wait for Superset's exit; SIGTERM or SIGINT stops it first."""
    start(paths, port)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        if own_pid(paths) is None:
            raise Failed(f"it exited; see {paths.log}")
    stop(paths)


def record_failure(paths, error):
    """Write why Superset could not be started, and how to retry, where the dashboard reads it."""
    reason = f"Superset could not be started: {error}\n{RETRY}."
    paths.var.mkdir(parents=True, exist_ok=True)
    paths.failed.write_text(reason + "\n")
    return reason


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "run"])
    parser.add_argument("--var", default=os.path.join(os.environ.get("GRIDCAST_VAR_DIR", REPO / "var"), "superset"))
    parser.add_argument("--port", default=os.environ.get("SUPERSET_PORT", "8088"), help="a port number, or auto")
    parser.add_argument("--optional", action="store_true", help="a failure is reported, but exits 0")
    args = parser.parse_args(argv)
    paths = Paths(args.var)
    if args.command == "stop":
        if not stop(paths):
            say("not running")
        return 0
    if args.command == "status":
        pid, url = own_pid(paths), url_of(paths)
        say(f"running on {url} (pid {pid})" if pid and url and _answers(url) else "not running")
        return 0 if pid else 1
    try:
        (run if args.command == "run" else start)(paths, args.port)
    except (Failed, OSError) as error:
        say(record_failure(paths, error))
        return 0 if args.optional else 1
    paths.failed.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

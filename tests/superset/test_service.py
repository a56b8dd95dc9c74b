"""superset/service.py: only this checkout's Superset is ever reused or stopped, and a failure to
start is written down for the dashboard. (The real install and start are exercised by `make test`
itself, which starts the suite's Superset through this module, and by bench/first_run.py.)"""

import http.server
import importlib.util
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service():
    spec = importlib.util.spec_from_file_location("superset_service_under_test", REPO / "superset" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def foreign_superset():
    """Something that answers /health like Superset, but is not this checkout's (an earlier clone's)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def stranger(tmp_path):
    """A process that is not Superset, working in another folder."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    yield process
    process.kill()
    process.wait()


def test_a_superset_of_another_checkout_on_the_port_is_not_used(service, tmp_path, foreign_superset, monkeypatch):
    paths = service.Paths(tmp_path / "superset")
    for step in ("install", "configure", "initialise"):  # the port check is what is tested here
        monkeypatch.setattr(service, step, lambda paths: None)
    with pytest.raises(service.Failed, match=f"port {foreign_superset} is taken by another program"):
        service.start(paths, str(foreign_superset))


def test_the_failure_is_written_for_the_dashboard_and_says_how_to_retry(
    service, tmp_path, foreign_superset, monkeypatch
):
    for step in ("install", "configure", "initialise"):
        monkeypatch.setattr(service, step, lambda paths: None)
    var = tmp_path / "superset"
    assert service.main(["start", "--var", str(var), "--port", str(foreign_superset), "--optional"]) == 0
    text = (var / "failed").read_text()
    assert f"port {foreign_superset} is taken" in text and "make superset" in text
    assert service.main(["start", "--var", str(var), "--port", str(foreign_superset)]) == 1


def test_stop_never_kills_a_process_that_is_not_this_checkouts_superset(service, tmp_path, stranger):
    paths = service.Paths(tmp_path / "superset")
    paths.var.mkdir()
    paths.pid.write_text(str(stranger.pid))  # a stale pid file whose pid now belongs to someone else
    assert service.own_pid(paths) is None
    assert service.stop(paths) is False
    time.sleep(0.2)
    assert stranger.poll() is None, "a stranger was killed"
    assert not paths.pid.exists()


def test_own_pid_is_the_process_working_in_this_var_folder(service, tmp_path):
    paths = service.Paths(tmp_path / "superset")
    paths.var.mkdir()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=paths.var)
    try:
        paths.pid.write_text(str(process.pid))
        assert service.own_pid(paths) == process.pid
    finally:
        process.kill()
        process.wait()
    assert service.own_pid(paths) is None

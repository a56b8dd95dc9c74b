"""`manage.py jobs_worker` as a real process on the test database, for the tests that kill one."""

import os
import signal
import subprocess
import sys
import tempfile

from tests.realtime.servers import REPO, server_env


class WorkerProcess:
    """`manage.py jobs_worker` on the test database, in its own process (its sweep every second)."""

    def __init__(self, **env):
        self.env = server_env(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), JOBS_SWEEP_SECONDS=1, **env)
        self.log = tempfile.NamedTemporaryFile(prefix="gc-jobs-worker-", suffix=".log", delete=False).name

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "jobs_worker", "-v", "1"],
            cwd=REPO,
            env=self.env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def output(self):
        with open(self.log, errors="replace") as log:
            return log.read()[-4000:]

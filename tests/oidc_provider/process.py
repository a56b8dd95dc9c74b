"""OIDCProvider: the test OpenID Connect provider as a process on a free loopback port, and the
environment a Gridcast server needs to use it (gridcast_env)."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.realtime.servers import REPO, free_port

CLIENT_ID = "gridcast-test-client"
CLIENT_SECRET = "gridcast-test-client-secret"
PROVIDER_ID = "oidc"
NAME = "Test IdP"
PASSWORD = "provider pass phrase"
# The provider's users: (username, e-mail address, whether the provider says it is verified).
USERS = [
    ("newcomer", "newcomer@example.com", True),
    ("ada", "ada@example.com", True),
    ("mallory", "victim@example.com", False),
    ("grace", "grace@example.com", True),
    ("browser", "browser@example.com", True),
]


class OIDCProvider:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gc-oidc-")
        self.port = None
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self):
        return f"{self.url}/o"

    def gridcast_env(self, **extra):
        """What a Gridcast server needs to offer this provider (extra: more variables)."""
        return {
            "GRIDCAST_OIDC_SERVER_URL": self.issuer,
            "GRIDCAST_OIDC_CLIENT_ID": CLIENT_ID,
            "GRIDCAST_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "GRIDCAST_OIDC_ID": PROVIDER_ID,
            "GRIDCAST_OIDC_NAME": NAME,
            **extra,
        }

    def _discovery_answers(self):
        try:
            with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=2) as answer:
                return answer.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def start(self, timeout=60):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "GRIDCAST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
            PYTHONPATH=str(REPO),
            OIDC_TEST_DIR=self.dir,
            OIDC_TEST_CLIENT=json.dumps(
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [f"http://127.0.0.1/accounts/oidc/{PROVIDER_ID}/login/callback/"],
                }
            ),
            OIDC_TEST_USERS=json.dumps(
                [
                    {"username": u, "email": e, "password": PASSWORD, "email_verified": verified}
                    for u, e, verified in USERS
                ]
            ),
        )
        self.log = Path(self.dir) / "provider.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not self._discovery_answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test OpenID Connect provider did not start:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def log_tail(self, lines=60):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def sso_login(gridcast_url, username, password=PASSWORD, session=None, login_page="/accounts/login/"):
    """Log in to Gridcast through the provider as a browser would: press the provider's button on
    `login_page` and log in at the provider, following every redirect, with `session` (a
    requests.Session, new by default); returns (session, the last answer)."""
    import requests

    session = session or requests.Session()
    page = session.get(f"{gridcast_url}{login_page}")
    page.raise_for_status()
    action = re.search(rf'<form method="post" action="(/accounts/oidc/{PROVIDER_ID}/login/[^"]*)"', page.text)
    assert action, "no button of the provider on the login page"
    at_provider = session.post(
        f"{gridcast_url}{html.unescape(action.group(1))}",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )
    assert "Test identity provider: log in" in at_provider.text, (at_provider.status_code, at_provider.url)
    answer = session.post(
        at_provider.url,
        data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["idp_csrftoken"]},
    )
    return session, answer

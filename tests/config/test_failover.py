"""Failover under load through the load balancer (issue 19): `make serve`'s stack on a PostgreSQL
cluster and a Redis of the test's own (tests/config/failover.py), 20 clients editing through
HAProxy while the analytics worker is SIGKILLed, Redis restarts, or PostgreSQL restarts. Every
acknowledged edit survives, every client converges to the database, the lake converges, and each
client is back within seconds. bench/failover.py runs the long version."""

import glob
import shutil
from pathlib import Path

import pytest

from .failover import Stack, failover

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/haproxy").exists()
    or not shutil.which("redis-server")
    or not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
    reason="HAProxy is installed by `make test`; redis-server and PostgreSQL's binaries are the machine's",
)

BACK_WITHIN = 20  # seconds: generous, on a machine shared with the rest of the suite


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("failover"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def room(stack):
    return stack.room(people=4, rows=20)


# (a), a web process killed, is tests/config/test_serve.py's; bench/failover.py runs all four.
@pytest.mark.parametrize("kind", ["worker", "redis", "postgres"])
async def test_twenty_clients_editing_through_haproxy_survive(stack, room, kind):
    try:
        outcome = await failover(stack, *room, kind, clients=20)
    except BaseException:
        print(stack.served.output()[-20000:])
        raise
    summary = {k: v for k, v in outcome.items() if k not in ("back", "lost")}
    assert not outcome["lost"], f"acknowledged writes lost: {outcome['lost']}"
    assert not outcome["differing"], f"clients differ from the database: {summary}"
    assert not outcome["anomalies"], summary
    assert not outcome["rejected"], summary
    assert outcome["lake"] == "lake matches", outcome["lake"]
    assert max(outcome["back"]) < BACK_WITHIN, f"clients took {sorted(outcome['back'])[-3:]} s to be back"
    assert stack.served.process.poll() is None, stack.served.output()[-5000:]

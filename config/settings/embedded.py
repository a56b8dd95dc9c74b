"""`make run`: one process on SQLite and the in-memory channel layer, everything under var/."""

import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: E402,F403
from .base import VAR_DIR  # noqa: E402

VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)

# The analytics writer runs as a thread of the server process (not of migrate, shell or tests).
ANALYTICS = {**ANALYTICS, "EMBEDDED_WORKER": True}  # noqa: F405
# So does the background jobs worker (imports, formula recomputes, Superset syncs).
JOBS_EMBEDDED_WORKER = env_bool("JOBS_EMBEDDED_WORKER", True)  # noqa: F405
# A live demo on the first run: simulated orders and a collaborator in the Demo workspace.
GRIDCAST_DEMO = env_bool("GRIDCAST_DEMO", True)  # noqa: F405

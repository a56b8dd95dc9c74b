"""Live pushes of dashboards, and the widgets one live connection watches (a dashboard WebSocket or
its Server-Sent Events fallback), recomputed when new data arrives: at most every MIN_INTERVAL,
arrivals during a computation folded into the next one, so a burst of ingestion costs one
recomputation.

data_arrived(workspace_id): new metric events, or sheet data in the lake, for a workspace were
committed; dashboard connections of that workspace (group "dashboard.<id>") recompute their widgets.
Call it after the commit: a push must never announce data that a rollback removed."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from channels.db import DatabaseSyncToAsync
from django.utils import timezone

from analytics.queries.widget_query import clean_query
from core.errors import GridcastError, InvalidInput
from realtime.layers import group_send

from . import layouts

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5  # seconds between two recomputations of one connection (≤ 2 a second)
MAX_LIVE_WIDGETS = layouts.MAX_WIDGETS


def dashboard_group(workspace_id: int) -> str:
    return f"dashboard.{workspace_id}"


def data_arrived(workspace_id: int) -> None:
    group_send(dashboard_group(workspace_id), {"type": "data.arrived", "workspace": workspace_id})


def parse_subscription(widgets: object, filters: object) -> tuple[list[tuple[str, dict]], dict]:
    """[(id, query)], filters: what a client asks to watch; InvalidInput when malformed."""
    if not isinstance(widgets, list) or len(widgets) > MAX_LIVE_WIDGETS:
        raise InvalidInput(f"widgets is a list of at most {MAX_LIVE_WIDGETS} {{id, query}}")
    watched = []
    for n, widget in enumerate(widgets, 1):
        if not isinstance(widget, dict) or not isinstance(widget.get("id"), (str, int)):
            raise InvalidInput(f"widget {n} needs an id and a query")
        watched.append((str(widget["id"])[:64], clean_query(widget.get("query"), f"widget {n}")))
    return watched, layouts.clean_filters(filters)


def compute(workspace_id: int, watched: list[tuple[str, dict]], filters: dict) -> dict:
    """{widget id: ("result", data) or ("error", message)} for one moment (one `now` for all)."""
    now = timezone.now()
    results = {}
    for wid, query in watched:
        try:
            results[wid] = (
                "result",
                layouts.widget_data(workspace_id=workspace_id, query=query, filters=filters, now=now),
            )
        except GridcastError as error:
            results[wid] = ("error", error.message)
        except Exception:
            log.exception("widget %s of workspace %s failed", wid, workspace_id)
            results[wid] = ("error", "this widget could not be computed")
    return results


# DuckDB work runs off the connection's event loop and off the one thread that Channels keeps
# for the ORM, so a slow aggregate never holds up sheet edits of the same process.
_compute = DatabaseSyncToAsync(compute, thread_sensitive=False)


class LiveWidgets:
    def __init__(self, workspace_id: int, push: Callable[[dict], Awaitable[object]]) -> None:
        self.workspace_id = workspace_id
        self.push = push  # async push(frame)
        self.watched, self.filters = [], layouts.default_filters()
        self.pending = False
        self.last = 0.0
        self.task = None
        self.computations = 0

    def subscribe(self, widgets: object, filters: object) -> list[str]:
        self.watched, self.filters = parse_subscription(widgets, filters)
        self.last = 0.0  # a new subscription is answered at once
        self.arrived()
        return [wid for wid, _ in self.watched]

    def arrived(self) -> None:
        """New data for the workspace: recompute soon (now, or MIN_INTERVAL after the last time)."""
        self.pending = True
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        while self.pending:
            wait = self.last + MIN_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.pending = False
            self.last = time.monotonic()
            watched, filters = self.watched, self.filters
            if not watched:
                continue
            # When the data is read (epoch ms): the browser shows its arrival minus this as the
            # age of what it displays (the computation and the way to the browser).
            as_of_ms = int(time.time() * 1000)
            results = await _compute(self.workspace_id, watched, filters)
            self.computations += 1
            at = timezone.now().isoformat()
            for wid, (kind, value) in results.items():
                frame = {"type": "data", "widget": wid, "at": at, "as_of_ms": as_of_ms}
                frame[kind] = value
                await self.push(frame)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

"""The demo that makes the first `make run` alive without a second terminal.

- Seeding (a receiver of sheets.demo.demo_seeded, after seed_demo made the Demo workspace): a day
  of the simulated shop's metrics through the ingestion service, a dashboard for each member and
  an alert rule that the live stream's incidents trip.
- The stream (settings.GRIDCAST_DEMO; a daemon thread of the server process, started like the
  embedded writer): every second the shop's events go through the ingestion service, so the
  dashboard moves and alert rules are evaluated as in production; and a demo collaborator now and
  then edits the orders sheet through the sheets services (the WebSocket's own path: an operation,
  broadcast after commit), with its presence shown like a person's.
"""

import atexit
import logging
import math
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

from django.apps import apps
from django.db import close_old_connections, connection

from accounts.models import Membership, Role, User, Workspace
from analytics.alerts import services as alerts
from analytics.dashboards import layouts as dashboards
from analytics.metrics import ingest as metrics
from analytics.metrics import schema as metric_schema
from realtime.broadcast import participant, publish_presence
from sheets import services
from sheets.demo import DEMO_BOT, SHEET_NAME, demo_workspace
from sheets.models import Column, Row, Sheet

from .simulation import Simulation

if TYPE_CHECKING:  # names for the hints only
    from rich.progress import Progress

log = logging.getLogger(__name__)

RATE = 3.0  # orders per second, on average over a day: enough to move every chart, cheap on SQLite
HISTORY_MINUTES = 24 * 60
# Incidents trip the alert rule. The first one is planned a minute or two after the stream starts,
# so whoever just ran `make run` sees a toast come by itself, not at once; later ones come by
# chance, about one every 10 minutes (simulate_orders' default is one every ~2 minutes).
INCIDENT_CHANCE = 1 / 600
FIRST_INCIDENT_AFTER = (60, 150)
INCIDENT_SECONDS = (30, 45)
# avg(error_rate) is ~0.011 outside incidents and 0.12 inside, so a 60 s window crosses 0.05 some
# 20 s into an incident, and never by noise. The dashboard's "Error rate" tile shows the same metric.
ALERT_RULE = {
    "name": "Error rate above 5 %",
    "metric": "error_rate",
    "agg": "avg",
    "window_seconds": 60,
    "comparison": ">",
    "threshold": 0.05,
}
EDIT_EVERY = (5, 15)  # seconds between two edits of the collaborator
TOP_ROWS = 12  # it edits rows near the top, where a person who opens the sheet looks
NEXT_STATUS = {"new": "processing", "processing": "shipped", "shipped": "delivered"}
LOOKUP_SECONDS = 30  # the Demo workspace is looked up again this often (it may be seeded again)
MAX_PAUSE = 30  # seconds between retries while the stream keeps failing
MAX_LAG = 5  # seconds the stream catches up after a pause; older ones are skipped


# --- seeding ----------------------------------------------------------------------------------


def seeded(
    sender: object,
    *,
    workspace: Workspace,
    sheet: Sheet,
    seed: int | None = None,
    progress: "Progress | None" = None,
    **kwargs: object,
) -> str:
    """seed_demo made the Demo workspace: add its day of metrics, dashboards and alert rule."""
    started = time.perf_counter()
    end = math.floor(time.time() / 60) * 60  # the last minute written ends at least 60 s ago: no alert window sees it
    try:
        written = history_write(
            workspace_id=workspace.pk, simulation=Simulation(RATE, seed, INCIDENT_CHANCE), end=end, progress=progress
        )
    finally:
        # seed_demo is a command: its lake connection, and the catalog's PostgreSQL session in it,
        # end with the seeding, also when it runs inside another process (tests, benchmarks).
        metric_schema.reset_connection()
    people = list(User.objects.filter(memberships__workspace=workspace).exclude(email=DEMO_BOT))
    widgets = demo_widgets(sheet)
    for person in people:
        dashboards.dashboard_save(user=person, workspace_id=workspace.pk, widgets=widgets)
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER).user
    rule = alerts.rule_create(workspace_id=workspace.pk, actor=owner, **ALERT_RULE)
    return (
        f"Seeded {written:,} metric events (the last {HISTORY_MINUTES // 60} hours of a shop) in "
        f"{time.perf_counter() - started:.1f} s, a dashboard for each of {len(people)} members and the "
        f"alert rule “{rule.name}”."
    )


def history_write(
    *,
    workspace_id: int,
    simulation: Simulation,
    end: int,
    minutes: int = HISTORY_MINUTES,
    progress: "Progress | None" = None,
) -> int:
    """The `minutes` before `end` (a whole minute) through the ingestion service, in batches of at
    most metrics.MAX_BATCH events; returns how many events. Batches are ingested in two threads
    while the next ones are made, so the lake's commits overlap the making (a day, 75k events, on
    SQLite: 2.3 s one after the other, 1.2 s so)."""
    task = progress.add_task("Seeding metrics", total=minutes, unit="minutes") if progress is not None else None

    def ingest(batch, span):
        try:
            stored = metrics.events_ingest(workspace_id=workspace_id, payload=batch)[0]
        finally:
            connection.close()  # this pool thread's database connection (alert rules were looked up)
        if task is not None:
            progress.advance(task, span)
        return stored

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-history") as pool:
        sent, batch, span = [], [], 0
        for start in range(end - minutes * 60, end, 60):
            events, _ = simulation.minute(start)
            if len(batch) + len(events) > metrics.MAX_BATCH:
                sent.append(pool.submit(ingest, batch, span))
                batch, span = [], 0
            batch += events
            span += 1
        if batch:
            sent.append(pool.submit(ingest, batch, span))
        return sum(future.result() for future in sent)


def demo_widgets(sheet: Sheet) -> list[dict]:
    """The default widgets (orders per minute, revenue by region, tiles, top products) and one over
    the orders sheet: its amount by region, or its rows counted when it has no such columns."""
    keys = dict(sheet.columns.filter(deleted=False).values_list("name", "key"))
    query, kind, title = {"source": "sheet", "sheet": sheet.pk, "agg": "count"}, "tile", f"Rows of {sheet.name}"
    if "Amount" in keys and "Region" in keys:
        query.update(agg="sum", column=keys["Amount"], group_by=keys["Region"], top=10)
        kind, title = "bar", f"Amount by region (sheet {sheet.name})"
    return [*dashboards.default_widgets(), {"id": "orders-sheet", "type": kind, "title": title, "query": query}]


# --- the stream -------------------------------------------------------------------------------


class Demo(NamedTuple):
    workspace_id: int
    sheet: Sheet | None
    bot: User | None


def find_demo() -> Demo | None:
    """The Demo workspace as seed_demo made it, its orders sheet and its collaborator."""
    workspace = demo_workspace()
    if workspace is None:
        return None
    sheet = Sheet.objects.filter(workspace=workspace, name=SHEET_NAME).order_by("pk").first()
    bot = User.objects.filter(email=DEMO_BOT, memberships__workspace=workspace).first()
    return Demo(workspace.pk, sheet, bot)


class Collaborator:
    """The demo's other person: every EDIT_EVERY seconds it joins the orders sheet, selects a cell,
    edits it and leaves, a second or two apart, so that people on the sheet see it as they see
    each other (presence frames through the bus, the edit as an operation of its own)."""

    STEPS = ((0, "joined"), (1, "editing"), (2, "edit"), (4, "left"))

    def __init__(self, rng: random.Random, start: float):
        self.rng = rng
        self.connection_id = f"demo-{uuid.uuid4().hex[:12]}"
        self.next_at = start + rng.uniform(*EDIT_EVERY)
        self.plan = []  # [(moment, step, (row, col, value))]

    def step(self, now: float, sheet: Sheet, bot: User) -> None:
        """Whatever is due at `now`: plan the next edit, and the steps of the planned one."""
        if not self.plan and now >= self.next_at:
            self.next_at = now + self.rng.uniform(*EDIT_EVERY)
            cell = self.choose(sheet)
            if cell is not None:
                self.plan = [(now + delay, step, cell) for delay, step in self.STEPS]
        who = participant(bot, self.connection_id)
        while self.plan and self.plan[0][0] <= now:
            _, step, (row, col, value) = self.plan.pop(0)
            selection = {"row": row, "col": col}
            if step == "edit":
                services.cells_update(
                    sheet=sheet, actor=bot, cells=[{"row": row, "col": col, "value": value}], op_id=uuid.uuid4()
                )
                publish_presence(sheet.pk, "update", who, {"selection": selection, "editing": False})
            elif step == "left":
                publish_presence(sheet.pk, "left", who, {"selection": None, "editing": False})
            else:
                publish_presence(
                    sheet.pk,
                    "joined" if step == "joined" else "update",
                    who,
                    {"selection": selection, "editing": step == "editing"},
                )

    def choose(self, sheet: Sheet) -> tuple[int, str, str] | None:
        """(row id, column key, value): an order near the top moves on (new, processing, shipped,
        delivered), or one that is done comes back as new. None without a Status column."""
        status = Column.objects.filter(sheet=sheet, name="Status", deleted=False).values_list("key", flat=True).first()
        rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", "data")[:TOP_ROWS])
        if status is None or not rows:
            return None
        moving = [(pk, data[status]) for pk, data in rows if data.get(status) in NEXT_STATUS]
        if moving:
            row, current = self.rng.choice(moving)
            return row, status, NEXT_STATUS[current]
        return self.rng.choice(rows)[0], status, "new"


class Stream:
    """One second of the demo at a time: the shop's events for the Demo workspace through the
    ingestion service (which evaluates alert rules and pushes to dashboards), then whatever the
    collaborator has due. `run` ticks it every second; tests tick it with moments they choose."""

    def __init__(self, *, start: float, rate: float = RATE, seed: int | None = None):
        self.rng = random.Random(seed)
        self.simulation = Simulation(rate, seed, INCIDENT_CHANCE)
        self.simulation.plan_incident(
            start + self.rng.uniform(*FIRST_INCIDENT_AFTER), self.rng.uniform(*INCIDENT_SECONDS)
        )
        self.collaborator = Collaborator(self.rng, start)
        self.demo, self.found_at = None, -math.inf

    def tick(self, now: float) -> bool:
        """False while there is no Demo workspace (nothing was sent)."""
        if self.demo is None or now - self.found_at >= LOOKUP_SECONDS:
            self.demo, self.found_at = find_demo(), now
        if self.demo is None:
            return False
        try:
            events, _ = self.simulation.second(now)
            metrics.events_ingest(workspace_id=self.demo.workspace_id, payload=events)
            if self.demo.sheet is not None and self.demo.bot is not None:
                self.collaborator.step(now, self.demo.sheet, self.demo.bot)
        except Exception:
            self.demo = None  # look again: the workspace may have been seeded again meanwhile
            raise
        return True


def run(stop: threading.Event, stream: Stream | None = None) -> None:
    """Tick the stream once a second until `stop` is set. An error is logged and the stream goes on
    after a pause that grows while errors repeat: the demo never takes the server down with it."""
    while not apps.ready:  # started from AppConfig.ready(): no query before every app is ready
        if stop.wait(0.05):
            return
    tick = math.floor(time.time())
    stream = stream or Stream(start=tick)
    failures, waiting = 0, False
    try:
        while not stop.is_set():
            try:
                close_old_connections()  # as around a request: a connection past its age or broken is replaced
                sent = stream.tick(tick)
                if not sent and not waiting:
                    log.info("no Demo workspace yet (manage.py seed_demo makes it); the demo stream waits for it")
                waiting, failures = not sent, 0
            except Exception:
                failures += 1
                if failures == 1:
                    log.exception("the demo stream failed; retrying")
                else:
                    log.warning("the demo stream failed again (%d in a row); retrying", failures, exc_info=True)
                stop.wait(min(MAX_PAUSE, 2**failures))
            tick = max(tick + 1, math.floor(time.time()) - MAX_LAG)
            stop.wait(max(0.0, tick - time.time()))
    finally:
        connection.close()


_started = None


def start_stream() -> tuple[threading.Thread, threading.Event]:
    """The demo stream as a daemon thread of this process, started once; it stops with the process."""
    global _started
    if _started is None:
        stop = threading.Event()
        thread = threading.Thread(target=run, args=(stop,), name="demo-stream", daemon=True)
        thread.start()
        atexit.register(_stop, thread, stop)
        _started = (thread, stop)
        log.info("demo stream started: %g orders a second into the Demo workspace (GRIDCAST_DEMO=0 turns it off)", RATE)
    return _started


def _stop(thread, stop):
    """At exit: the second under way finishes (an ingestion is not cut in half)."""
    stop.set()
    thread.join(5)

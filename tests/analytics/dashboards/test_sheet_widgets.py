"""Dashboard widgets over a sheet: the query's shape, results equal to a brute-force computation
over the sheet's rows in PostgreSQL (totals, group by with top-N, time buckets over a datetime
and a date column), workspaces kept apart, deleted sheets and columns, the polling endpoint,
and the live push after an edit through the services reaches a subscribed WebSocket. On real
PostgreSQL and DuckLake (the `writer` fixture: tests/analytics/conftest.py)."""

import asyncio
import datetime as dt
import json
import math
import random
import time
import uuid

import pytest
from channels.db import database_sync_to_async

from accounts.models import Role
from analytics.dashboards import layouts
from analytics.queries import widget_query
from analytics.queries.aggregation import BUCKETS, iso
from analytics.writethrough import announcer
from core.errors import InvalidInput, NotFound
from sheets import services
from sheets.models import Row
from tests.analytics.sheet_lake import typed
from tests.factories import WorkspaceFactory, make_sheet, member

from .test_dashboard import open_socket

UTC = dt.UTC
START = dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY_US = 86_400_000_000
REGIONS = ["eu", "us", "asia", "latam", "africa"]
COLUMNS = [
    {"name": "Region", "type": "choice", "options": {"choices": REGIONS}},  # c1
    {"name": "Amount", "type": "number"},  # c2
    {"name": "Qty", "type": "integer"},  # c3
    {"name": "Day", "type": "date"},  # c4
    {"name": "At", "type": "datetime"},  # c5
    {"name": "Note", "type": "text"},  # c6
]
TYPES = {f"c{n}": c["type"] for n, c in enumerate(COLUMNS, 1)}
# The dashboard's window in these tests: 3 hours of the 6 the rows' times span.
FILTERS = {"from": (START + dt.timedelta(hours=1)).isoformat(), "to": (START + dt.timedelta(hours=4)).isoformat()}


@pytest.fixture
def rng():
    seed = random.randrange(10**6)
    print(f"random seed {seed}")
    return random.Random(seed)


def maybe(rng, value):
    return None if rng.random() < 0.1 else value


def random_row(rng):
    zone = dt.timezone(dt.timedelta(hours=rng.randint(-5, 5)))
    moment = START + dt.timedelta(seconds=rng.uniform(0, 6 * 3600))
    return {
        "c1": maybe(rng, rng.choice(REGIONS)),
        "c2": maybe(rng, round(rng.uniform(-50, 500), 2)),
        "c3": maybe(rng, rng.randint(0, 20)),
        "c4": maybe(rng, (START.date() + dt.timedelta(days=rng.randint(-3, 6))).isoformat()),
        "c5": maybe(rng, moment.astimezone(zone).isoformat()),
        "c6": maybe(rng, rng.choice(["a", "b"])),
    }


def orders_sheet(workspace, actor, rng, rows=300):
    """A sheet of random orders, edited a little after the insert (a cell batch, five deleted rows)."""
    sheet = make_sheet(workspace, actor, columns=COLUMNS, name="Orders")
    services.rows_insert(sheet=sheet, actor=actor, rows=[random_row(rng) for _ in range(rows)])
    ids = list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True))
    services.cells_update(
        sheet=sheet,
        actor=actor,
        op_id=uuid.uuid4(),
        cells=[{"row": rng.choice(ids), "col": "c2", "value": rng.uniform(0, 100)} for _ in range(10)],
    )
    services.rows_delete(sheet=sheet, actor=actor, row_ids=rng.sample(ids, 5))
    sheet.refresh_from_db()
    return sheet


# --- brute force over PostgreSQL ---------------------------------------------------------------


def epoch_us(value, kind):
    if kind == "date":
        value = dt.datetime.combine(value, dt.time(), UTC)
    return round(value.timestamp() * 1_000_000)


def brute_force(sheet, query, filters=None):
    """The widget's answer computed in Python from the rows PostgreSQL has: {"totals": [(group,
    value)] in the answer's order, "series": {group: {bucket time: value}}}."""
    start, end = layouts.window(layouts.clean_filters(filters or FILTERS))
    rows = [
        {key: typed(TYPES[key], data.get(key)) for key in TYPES}
        for data in Row.objects.filter(sheet=sheet).values_list("data", flat=True)
    ]
    time_key = query.get("time_column")
    if time_key:
        kind = TYPES[time_key]
        low, high = epoch_us(start, "datetime"), epoch_us(end, "datetime")

        def within(moment):  # a date: its day overlaps the window
            return (moment + DAY_US > low if kind == "date" else moment >= low) and moment < high

        rows = [r for r in rows if r[time_key] is not None and within(epoch_us(r[time_key], kind))]

    def compute(chosen):
        agg, key = query["agg"], query.get("column")
        if agg == "count":
            return len(chosen) if key is None else sum(1 for r in chosen if r[key] is not None)
        values = [r[key] for r in chosen if r[key] is not None]
        if agg == "sum":
            return sum(values) if values else None
        if agg == "avg":
            return sum(values) / len(values) if values else None
        if not values:
            return None
        found = (min if agg == "min" else max)(values)
        if TYPES[key] == "date":
            return found.isoformat()
        if TYPES[key] == "datetime":
            return iso(epoch_us(found, "datetime"))
        return found

    def group_of(row):
        key = query.get("group_by")
        return None if key is None or row[key] is None else str(row[key])

    groups = {}
    for row in rows:
        groups.setdefault(group_of(row), []).append(row)
    totals = [(g, compute(chosen)) for g, chosen in groups.items()]
    if query.get("group_by") is None and not totals:
        totals = [(None, 0 if query["agg"] in ("sum", "count") else None)]
    if query.get("group_by"):  # largest first, ties by group name (as the SQL orders them)
        totals.sort(key=lambda t: (t[1] is None, -(t[1] or 0), t[0] is None, t[0] or ""))
    if query.get("top"):
        totals = totals[: query["top"]]
    series = {}
    if query.get("bucket"):
        size = BUCKETS[query["bucket"]] * 1_000_000
        for g, _ in totals:
            by_bucket = {}
            for row in groups.get(g, []):
                moment = epoch_us(row[time_key], TYPES[time_key])
                by_bucket.setdefault(iso(moment // size * size), []).append(row)
            series[g] = {b: compute(chosen) for b, chosen in by_bucket.items()}
    return {"totals": totals, "series": series}


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def same(a, b):
    """a == b, with floats compared by close(): two computations of one sum may add in another order."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return close(a, b)


def assert_matches(answer, expected, query):
    got = [(t["group"], t["value"]) for t in answer["totals"]]
    want = expected["totals"]
    if query.get("top") or query.get("group_by") is None:
        assert [g for g, _ in got] == [g for g, _ in want], (got, want)
    else:
        assert sorted(g or "" for g, _ in got) == sorted(g or "" for g, _ in want)
    wanted = dict(want)
    for group, value in got:
        assert close(value, wanted[group]), (query, group, value, wanted[group])
    if query.get("bucket"):
        assert len(answer["series"]) == len(got)
        for series in answer["series"]:
            points = {t: v for t, v in series["points"]}
            want_points = expected["series"][series["group"]]
            assert set(points) == set(want_points), (query, series["group"])
            for moment, value in points.items():
                assert close(value, want_points[moment]), (query, series["group"], moment, value)
    else:
        assert answer["series"] == []


# --- the query's shape -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, message",
    [
        ({"source": "sheet"}, "names its sheet id"),
        ({"source": "sheet", "sheet": "seven", "agg": "count"}, "names its sheet id"),
        ({"source": "sheet", "sheet": True, "agg": "count"}, "names its sheet id"),
        ({"source": "sheet", "sheet": 0, "agg": "count"}, "names its sheet id"),
        ({"source": "sheet", "sheet": 3, "agg": "median", "column": "c2"}, "agg is one of"),
        ({"source": "sheet", "sheet": 3, "agg": "sum"}, "choose the column to sum"),
        ({"source": "sheet", "sheet": 3, "agg": "avg", "column": "Amount"}, "column is a column given by its key"),
        (
            {"source": "sheet", "sheet": 3, "agg": "count", "group_by": "c1; DROP TABLE x"},
            "group_by is a column given by its key",
        ),
        ({"source": "sheet", "sheet": 3, "agg": "count", "group_by": 3}, "group_by is a column given by its key"),
        ({"source": "sheet", "sheet": 3, "agg": "count", "top": 0}, "top is between 1 and 100"),
        ({"source": "sheet", "sheet": 3, "agg": "count", "top": 101}, "top is between 1 and 100"),
        ({"source": "sheet", "sheet": 3, "agg": "count", "top": "many"}, "top is a whole number"),
        ({"source": "sheet", "sheet": 3, "agg": "count", "bucket": "hour"}, "a time bucket needs a time column"),
        ({"source": "sheet", "sheet": 3, "agg": "count", "time_column": "c5", "bucket": "week"}, "bucket is one of"),
        (
            {"source": "sheet", "sheet": 3, "agg": "count", "time_column": "x'"},
            "time_column is a date or date-and-time",
        ),
    ],
)
def test_sheet_queries_are_checked_with_a_reason(query, message):
    with pytest.raises(InvalidInput, match=message):
        widget_query.clean_query(query, "widget 1")


def test_a_sheet_query_has_one_stored_shape():
    cleaned = widget_query.clean_query(
        {
            "source": "sheet",
            "sheet": "12",
            "agg": "count",
            "group_by": "c1",
            "top": "5",
            "time_column": "c5",
            "bucket": "hour",
            "metric": "ignored",
            "tags": ["a:b"],
        }
    )
    assert cleaned == {
        "source": "sheet",
        "sheet": 12,
        "agg": "count",
        "column": None,
        "group_by": "c1",
        "top": 5,
        "time_column": "c5",
        "bucket": "hour",
    }
    assert widget_query.clean_query({"source": "sheet", "sheet": 3, "column": "c2"}) == {
        "source": "sheet",
        "sheet": 3,
        "agg": "sum",
        "column": "c2",
        "group_by": None,
        "top": None,
        "time_column": None,
        "bucket": None,
    }


# --- results against a brute force ---------------------------------------------------------------

QUERIES = [
    {"agg": "count"},
    {"agg": "count", "column": "c2"},
    {"agg": "sum", "column": "c2"},
    {"agg": "avg", "column": "c3"},
    {"agg": "min", "column": "c2"},
    {"agg": "max", "column": "c3"},
    {"agg": "min", "column": "c4"},  # dates and datetimes: ISO text
    {"agg": "max", "column": "c5"},
    {"agg": "sum", "column": "c2", "group_by": "c1"},
    {"agg": "sum", "column": "c2", "group_by": "c1", "top": 3},
    {"agg": "count", "group_by": "c3", "top": 5},
    {"agg": "avg", "column": "c2", "group_by": "c6"},
    {"agg": "sum", "column": "c2", "time_column": "c5"},  # a tile over the dashboard's window
    {"agg": "count", "time_column": "c5", "bucket": "hour"},
    {"agg": "sum", "column": "c2", "time_column": "c5", "bucket": "minute", "group_by": "c1"},
    {"agg": "sum", "column": "c3", "time_column": "c5", "bucket": "hour", "group_by": "c1", "top": 2},
    {"agg": "count", "time_column": "c4", "bucket": "day", "group_by": "c6"},  # dates overlapping the window
    {"agg": "max", "column": "c2", "time_column": "c4"},
]
# Days of dates: the window starts and ends mid-day, so both ends' days overlap it.
DAYS = {"from": "2026-02-27T12:00:00+00:00", "to": "2026-03-04T06:00:00+00:00"}


def test_sheet_widgets_equal_a_brute_force_computation(workspace, owner, writer, rng):
    sheet = orders_sheet(workspace, owner, rng)
    writer.catch_up()
    for query in QUERIES:
        query = {"source": "sheet", "sheet": sheet.pk, **query}
        filters = DAYS if query.get("time_column") == "c4" else FILTERS
        answer = layouts.widget_data(workspace_id=workspace.pk, query=query, filters=filters)
        assert_matches(answer, brute_force(sheet, query, filters), query)
        assert answer["labels"]["sheet"] == "Orders"
        if query.get("time_column") == "c5":  # a chart over the window spans it
            assert (answer["from"], answer["to"]) == ("2026-03-01T11:00:00Z", "2026-03-01T14:00:00Z")
        elif query.get("time_column") is None:
            assert answer["from"] is None and answer["to"] is None
    grouped = layouts.widget_data(
        workspace_id=workspace.pk,
        filters=FILTERS,
        query={"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2", "group_by": "c1"},
    )
    assert grouped["labels"] == {"sheet": "Orders", "column": "Amount", "group_by": "Region", "time_column": None}


def test_a_sheet_widget_names_its_columns_by_key_through_renames_and_moves(workspace, owner, writer, rng):
    sheet = orders_sheet(workspace, owner, rng, rows=40)
    # Two names the view sanitises alike: it calls them total and total_2, in column order.
    services.column_rename(sheet=sheet, actor=owner, key="c2", name="Total (€)")
    services.column_rename(sheet=sheet, actor=owner, key="c3", name="Total!")
    writer.catch_up()

    def check():
        for query in ({"agg": "sum", "column": "c2", "group_by": "c1"}, {"agg": "max", "column": "c3"}):
            query = {"source": "sheet", "sheet": sheet.pk, **query}
            answer = layouts.widget_data(workspace_id=workspace.pk, query=query, filters=FILTERS)
            assert_matches(answer, brute_force(sheet, query), query)

    check()
    # The move swaps the two names in the view once the writer applies it; until then the view
    # keeps the old ones, and the widget still reads the right column either way.
    services.column_move(sheet=sheet, actor=owner, key="c3", before="c2")
    check()
    writer.catch_up()
    check()


def test_an_empty_sheet_counts_zero_and_has_no_average(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Empty")
    writer.catch_up()
    for agg, column, value in (("count", None, 0), ("sum", "c2", 0), ("avg", "c2", None), ("max", "c5", None)):
        answer = layouts.widget_data(
            workspace_id=workspace.pk,
            filters=FILTERS,
            query={"source": "sheet", "sheet": sheet.pk, "agg": agg, "column": column},
        )
        assert answer["totals"] == [{"group": None, "value": value}]
    answer = layouts.widget_data(
        workspace_id=workspace.pk,
        filters=FILTERS,
        query={"source": "sheet", "sheet": sheet.pk, "agg": "count", "group_by": "c1"},
    )
    assert answer["totals"] == []


# --- isolation, deleted sheets and columns, unfit columns ------------------------------------------


def test_sheets_of_other_workspaces_deleted_sheets_and_bad_columns_are_refused(workspace, owner, writer, rng):
    sheet = orders_sheet(workspace, owner, rng, rows=20)
    other = WorkspaceFactory()
    theirs = orders_sheet(other, member(other, Role.OWNER), rng, rows=20)
    gone = orders_sheet(workspace, owner, rng, rows=5)
    services.column_delete(sheet=sheet, actor=owner, key="c6")
    writer.catch_up()
    gone_id = gone.pk
    services.sheet_delete(sheet=gone, actor=owner)  # the lake still has it until the writer's next round

    def answer(**query):
        return layouts.widget_data(
            workspace_id=workspace.pk, filters=FILTERS, query={"source": "sheet", "sheet": sheet.pk, **query}
        )

    for sheet_id in (theirs.pk, gone_id, 10**9):
        with pytest.raises(NotFound, match="no such sheet in this workspace"):
            answer(sheet=sheet_id, agg="count")
    # Its own workspace does see the other sheet (the check is the workspace's, not a blanket refusal).
    assert (
        layouts.widget_data(
            workspace_id=other.pk, filters=FILTERS, query={"source": "sheet", "sheet": theirs.pk, "agg": "count"}
        )["totals"][0]["value"]
        == 15
    )  # 5 were deleted
    cases = [
        ({"agg": "count", "group_by": "c6"}, "group_by: the column 'Note' was deleted from the sheet 'Orders'"),
        ({"agg": "sum", "column": "c99"}, "column: the sheet 'Orders' has no column c99"),
        ({"agg": "sum", "column": "c1"}, "sum needs a number column, and 'Region' is a single choice column"),
        ({"agg": "avg", "column": "c4"}, "avg needs a number column, and 'Day' is a date column"),
        ({"agg": "max", "column": "c1"}, "max needs a number, date or date-and-time column"),
        ({"agg": "count", "time_column": "c2"}, "the time column is a date or date-and-time column, and 'Amount'"),
        ({"agg": "count", "time_column": "c4", "bucket": "hour"}, "'Day' holds dates, so its bucket is a day"),
    ]
    for query, message in cases:
        with pytest.raises(InvalidInput, match=message):
            answer(**query)
    with pytest.raises(InvalidInput, match="too many second buckets"):
        layouts.widget_data(
            workspace_id=workspace.pk,
            filters={"range": 366 * 86400},
            query={"source": "sheet", "sheet": sheet.pk, "agg": "count", "time_column": "c5", "bucket": "second"},
        )


def test_a_sheet_or_column_not_yet_in_the_lake_says_so(workspace, owner, writer, rng):
    sheet = orders_sheet(workspace, owner, rng, rows=5)
    query = {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2"}
    with pytest.raises(InvalidInput, match="has not reached analytics yet"):
        layouts.widget_data(workspace_id=workspace.pk, query=query, filters=FILTERS)
    writer.catch_up()
    services.column_add(sheet=sheet, actor=owner, name="Tax", type="number")
    with pytest.raises(InvalidInput, match="'Tax' is on its way to analytics"):
        layouts.widget_data(workspace_id=workspace.pk, query={**query, "column": "c7"}, filters=FILTERS)
    writer.catch_up()
    assert layouts.widget_data(workspace_id=workspace.pk, query={**query, "column": "c7"}, filters=FILTERS)[
        "totals"
    ] == [{"group": None, "value": 0}]


# --- the page, the polling endpoint and the live push ---------------------------------------------


def test_page_lists_the_workspaces_sheets_and_their_columns(client, workspace, owner, viewer):
    sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Orders")
    services.column_delete(sheet=sheet, actor=owner, key="c6")
    other = WorkspaceFactory()
    make_sheet(other, member(other, Role.OWNER), name="Not yours")
    client.force_login(viewer)
    config = client.get(f"/workspaces/{workspace.pk}/dashboard/").context["config"]
    assert config["sheets"] == [
        {
            "id": sheet.pk,
            "name": "Orders",
            "columns": [{"key": f"c{n}", "name": c["name"], "type": c["type"]} for n, c in enumerate(COLUMNS[:5], 1)],
        }
    ]
    assert config["urls"]["widget"] == f"/workspaces/{workspace.pk}/dashboard/widget/"


def test_polling_endpoint_answers_one_widget_as_the_push_does(client, workspace, owner, viewer, outsider, writer, rng):
    sheet = orders_sheet(workspace, owner, rng, rows=30)
    writer.catch_up()
    url = f"/workspaces/{workspace.pk}/dashboard/widget/"
    query = {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2", "group_by": "c1", "top": 3}
    params = {"query": json.dumps(query), "filters": json.dumps(FILTERS)}
    assert client.get(url, params).status_code == 401
    client.force_login(outsider)
    assert client.get(url, params).status_code == 404
    client.force_login(viewer)
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    pushed = layouts.widget_data(workspace_id=workspace.pk, query=query, filters=FILTERS)
    assert same(response.json(), pushed), (response.json(), pushed)
    assert_matches(response.json(), brute_force(sheet, query), query)
    bad = client.get(url, {"query": json.dumps({**query, "agg": "median"})})
    assert bad.status_code == 400 and "agg is one of" in bad.json()["error"]["message"]
    assert client.get(url, {"query": "{"}).status_code == 400
    other = WorkspaceFactory()
    theirs = make_sheet(other, member(other, Role.OWNER))
    refused = client.get(url, {"query": json.dumps({**query, "sheet": theirs.pk})})
    assert refused.status_code == 404 and refused.json()["error"]["message"] == "no such sheet in this workspace"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("widget_threads_return_connections")
async def test_an_edit_reaches_a_subscribed_sheet_widget_once_the_writer_applies_it(workspace, owner, viewer, writer):
    def prepare():
        sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Orders")
        services.rows_insert(
            sheet=sheet, actor=owner, rows=[{"c1": "eu", "c2": 10}, {"c1": "us", "c2": 5}, {"c1": "eu", "c2": 2.5}]
        )
        writer.catch_up()
        writer.take_applied()
        return sheet, list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))

    sheet, rows = await database_sync_to_async(prepare)()
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send(
        {
            "type": "subscribe",
            "filters": {"range": 3600},
            "widgets": [
                {"id": "total", "query": {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2"}},
                {
                    "id": "regions",
                    "query": {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2", "group_by": "c1"},
                },
            ],
        }
    )
    first = await socket.data(2, timeout=30)
    assert first["total"]["result"]["totals"] == [{"group": None, "value": 17.5}]
    assert first["regions"]["result"]["totals"] == [{"group": "eu", "value": 12.5}, {"group": "us", "value": 5.0}]

    await database_sync_to_async(services.cells_update)(
        sheet=sheet,
        actor=owner,
        op_id=uuid.uuid4(),
        cells=[{"row": rows[1], "col": "c2", "value": 40}, {"row": rows[2], "col": "c1", "value": "asia"}],
    )
    await asyncio.sleep(0.6)  # past the connection's minimum interval: a push now is for this edit
    assert await socket.ws.receive_nothing(timeout=0.1), "nothing is pushed before the lake has the edit"

    def apply():
        writer.catch_up()
        applied = writer.take_applied()
        announcer.announce(applied)  # what the worker loop (writethrough.worker.run) does after a batch
        return applied

    applied = await database_sync_to_async(apply)()
    announced = time.monotonic()
    assert applied == {sheet.pk: workspace.pk}
    pushed = await socket.data(2, timeout=5)
    assert time.monotonic() - announced < 1.0, "pushed within a second of the lake commit"
    assert pushed["total"]["result"]["totals"] == [{"group": None, "value": 52.5}]
    assert pushed["regions"]["result"]["totals"] == [
        {"group": "us", "value": 40.0},
        {"group": "eu", "value": 10.0},
        {"group": "asia", "value": 2.5},
    ]
    await socket.ws.disconnect()

"""The JSON of a person's saved dashboard layout, one widget's data (for polling), and the
Server-Sent Events fallbacks (the page itself is analytics/pages.py):
a dashboard's widget data, and the notifications of all the person's workspaces for the bell in
the top bar of every page.

The streams end within a second when the person's access, or the session they were opened with,
is gone (realtime.revocation): the dashboard's after an `event: revoked`; the bell's when the set
of the person's workspaces changed (the browser reconnects and gets the new set)."""

import asyncio

from asgiref.sync import sync_to_async
from channels.db import DatabaseSyncToAsync
from channels.layers import get_channel_layer
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from accounts.models import User, Workspace
from accounts.permissions import Access, workspace_access
from accounts.selectors import workspaces_for_user
from analytics.alerts.notify import notification_frame, person_group, workspace_group
from core import frames, jsonio
from core.api_errors import json_error
from core.errors import GridcastError, InvalidInput, NotAuthenticated, NotFound
from realtime.limits import claim_connection, too_many_connections_message
from realtime.revocation import Credential, Guard

from . import layouts
from .live import LiveWidgets, dashboard_group, parse_subscription

HEARTBEAT_SECONDS = 15


def _json(data, status=200):
    """A JSON answer (core.jsonio: never NaN or Infinity)."""
    return HttpResponse(jsonio.dumps(data), status=status, content_type="application/json")


def viewable_workspace(user: User, workspace_id: int) -> tuple[Workspace, Access]:
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    access = workspace_access(user, workspace.pk)
    if access < Access.VIEW:
        raise Http404("Workspace not found")  # no existence leak
    return workspace, access


def dashboard_layout(request: HttpRequest, workspace_id: int) -> HttpResponse:
    """GET the person's widgets and filters (or the defaults), PUT to save them, DELETE to go
    back to the defaults."""
    if not request.user.is_authenticated:
        return json_error(NotAuthenticated())
    try:
        viewable_workspace(request.user, workspace_id)
    except Http404:
        return json_error(NotFound("Workspace not found"))
    try:
        if request.method == "GET":
            return _json(layouts.dashboard_for_user(user=request.user, workspace_id=workspace_id))
        if request.method == "PUT":
            body = jsonio.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise InvalidInput('send {"widgets": [...], "filters": {...}}')
            return _json(
                layouts.dashboard_save(
                    user=request.user,
                    workspace_id=workspace_id,
                    widgets=body.get("widgets"),
                    filters=body.get("filters"),
                )
            )
        if request.method == "DELETE":
            return _json(layouts.dashboard_reset(user=request.user, workspace_id=workspace_id))
    except GridcastError as error:
        return json_error(error)
    return json_error("method_not_allowed", "GET, PUT or DELETE", 405)


# As for pushes (analytics.dashboards.live): DuckDB work off the thread that serves the ORM to sync code.
_widget_data = DatabaseSyncToAsync(layouts.widget_data, thread_sensitive=False)


@require_GET
async def dashboard_widget(request: HttpRequest, workspace_id: int) -> HttpResponse:
    """GET ?query={...}&filters={...}: one widget's data now, as the live connection pushes it
    (the page's polling mode asks here for sheet widgets)."""
    user = await request.auser()
    if not user.is_authenticated:
        return json_error(NotAuthenticated())
    if await sync_to_async(workspace_access)(user, workspace_id) < Access.VIEW:
        return json_error(NotFound("Workspace not found"))
    try:
        query = jsonio.loads(request.GET.get("query") or "null")
        filters = jsonio.loads(request.GET.get("filters") or "{}")
        return _json(await _widget_data(workspace_id=workspace_id, query=query, filters=layouts.clean_filters(filters)))
    except GridcastError as error:
        return json_error(error)


def _sse(event, data):
    return f"event: {event}\ndata: {frames.encode(data)}\n\n"


_REVOKED = object()  # put in a stream's queue when its access is gone: the stream ends


async def _stream(groups, on_event, queue, guard, first=(), last=None, slot=None):
    """SSE text: `first` events, then whatever `on_event` puts in `queue` for the channel-layer
    messages of `groups`, with a comment line every HEARTBEAT_SECONDS (keeps proxies and the
    browser from timing the stream out, and finds closed connections).

    `guard` (realtime.revocation) keeps the stream's channel in the user's group beside `groups`
    (all joined again well within the layer's group expiry); when the user's access changes and
    the guard's check fails, the stream sends `last` (an (event, data), or nothing when None) and
    ends, out of every group. `slot` (realtime.limits): the user's connection slot the stream holds
    while it lasts."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    reader = getter = None
    try:
        if slot is not None:
            slot.keep()
        await guard.join(layer, channel, *groups)
        yield "retry: 2000\n\n"
        for event, data in first:
            yield _sse(event, data)

        async def read():
            while True:
                message = await layer.receive(channel)
                if message.get("type") != "access.changed":
                    await on_event(message)
                elif not await guard.acheck():
                    await guard.leave()  # nothing more arrives
                    await queue.put(_REVOKED)
                    return

        reader = asyncio.ensure_future(read())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, reader}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                if reader not in done:
                    yield ": heartbeat\n\n"
                elif queue.empty():  # the channel layer failed: end the stream, the browser reconnects
                    reader.result()
                    return
                continue
            frame = getter.result()
            if frame is _REVOKED:
                if last is not None:
                    yield _sse(*last)
                return
            yield _sse(frame["type"], frame)
    finally:
        # Both tasks, or a getter left waiting when the browser went away is destroyed pending
        # ("Task was destroyed but it is pending!", then "cannot reuse already awaited coroutine").
        for task in (reader, getter):
            if task is not None:
                task.cancel()
        if slot is not None:
            await slot.release()
        await guard.leave()


async def _connection_slot(user):
    """A connection slot for one more stream of `user`, or the 429 answer when the user has too
    many sockets and streams open (realtime.limits)."""
    slot = await claim_connection(user)
    if slot is None:
        response = json_error("too_many_connections", too_many_connections_message(), 429)
        response["Retry-After"] = "5"
        return None, response
    return slot, None


def _event_stream(body):
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends must not hold the events back
    return response


@require_GET
async def dashboard_events(request: HttpRequest, workspace_id: int) -> HttpResponse:
    """GET ?widgets=[{"id", "query"}]&filters={...}: the dashboard's pushes as Server-Sent Events
    (event: welcome, data, notification), for browsers whose WebSocket does not get through."""
    user = await request.auser()
    if not user.is_authenticated:
        return json_error(NotAuthenticated())
    guard = Guard(
        user, Credential.of_request(request), lambda person: workspace_access(person, workspace_id), denied=Access.NONE
    )
    access = await guard.acheck()
    if access < Access.VIEW:
        return json_error(NotFound("Workspace not found"))
    queue = asyncio.Queue()
    live = LiveWidgets(workspace_id, queue.put)
    try:
        widgets = jsonio.loads(request.GET.get("widgets") or "[]")
        filters = jsonio.loads(request.GET.get("filters") or "{}")
        live.watched, live.filters = parse_subscription(widgets, filters)
    except GridcastError as error:
        return json_error(error)
    slot, refused = await _connection_slot(user)
    if refused is not None:
        return refused

    async def on_event(message):
        if message.get("type") == "data.arrived":
            live.arrived()
        elif message.get("type") == "notification.created":
            frame = notification_frame(message.get("notification"), user.pk)
            if frame is not None:
                await queue.put(frame)

    async def body():
        live.arrived()  # the first data at once
        try:
            async for chunk in _stream(
                [dashboard_group(workspace_id), workspace_group(workspace_id)],
                on_event,
                queue,
                guard,
                first=[("welcome", {"type": "welcome", "workspace": workspace_id, "access": access.name.lower()})],
                last=(
                    "revoked",
                    {
                        "type": "revoked",
                        "code": "access_revoked",
                        "message": "you no longer have access to this workspace",
                    },
                ),
                slot=slot,
            ):
                yield chunk
        finally:
            live.close()

    return _event_stream(body())


@require_GET
async def notification_events(request: HttpRequest) -> HttpResponse:
    """The bell's live feed: notifications of every workspace of the person, as Server-Sent Events."""
    user = await request.auser()
    if not user.is_authenticated:
        return json_error(NotAuthenticated())

    def workspace_ids(person):
        return sorted(workspaces_for_user(person).values_list("pk", flat=True))

    # The stream is for the workspaces it opened with: it ends when that set changes.
    ids = await sync_to_async(workspace_ids)(user)
    guard = Guard(user, Credential.of_request(request), lambda person: workspace_ids(person) == ids)
    if not await guard.acheck():
        return json_error(NotAuthenticated())
    slot, refused = await _connection_slot(user)
    if refused is not None:
        return refused
    queue = asyncio.Queue()

    async def on_event(message):
        if message.get("type") == "notification.created":
            frame = notification_frame(message.get("notification"), user.pk)
            if frame is not None:
                await queue.put(frame)

    return _event_stream(
        _stream(
            [*(workspace_group(i) for i in ids), person_group(user.pk)],
            on_event,
            queue,
            guard,
            first=[("welcome", {"type": "welcome", "workspaces": ids})],
            slot=slot,
        )
    )

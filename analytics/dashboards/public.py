"""Public read-only links of a workspace's live dashboard (sheets.public_links has the links): REST
to publish, list and revoke them (owners and admins), the page /p/<key>/ of a dashboard link, and
ws/public/dashboards/<key>/, which pushes the published widgets live and nothing else: no
notifications, no query but the published ones, no account needed. The published dashboard is the
link's creator's arrangement (the defaults when they have none). Revoking the link closes its
sockets at once (realtime.public's LinkGuard and link group)."""

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from accounts.permissions import Access, require_workspace
from core import metrics
from core.errors import GridcastError, InvalidInput
from core.frames import error_frame
from core.requests import bind_scope
from realtime.limits import CLOSE_RATE_LIMITED, FrameLimits
from realtime.public import LinkGuard, over_public_rate
from sheets import public_links
from sheets.api.public_links import PublicLinkCreateSerializer, PublicLinkSerializer
from sheets.models import PublicLink

from . import layouts
from .consumers import CLOSE_NO_ACCESS, DashboardConsumer
from .live import MAX_LIVE_WIDGETS, LiveWidgets, dashboard_group

# --- REST: /api/v1/workspaces/<id>/dashboard/public-links/ ----------------------------------------


def _managed(request, pk: int) -> Workspace:
    require_workspace(request.user, pk, Access.MANAGE)
    return Workspace.objects.get(pk=pk)


class DashboardPublicLinks(APIView):
    @extend_schema(responses=PublicLinkSerializer(many=True), description="The dashboard's active public links.")
    def get(self, request, pk):
        links = public_links.public_links_active(workspace=_managed(request, pk))
        return Response(PublicLinkSerializer(links, many=True, context={"request": request}).data)

    @extend_schema(
        request=PublicLinkCreateSerializer,
        responses={201: PublicLinkSerializer},
        description="Publish the workspace's live dashboard read-only (as you have it arranged): anyone "
        "with the url sees its widgets live, without an account.",
    )
    def post(self, request, pk):
        workspace = _managed(request, pk)
        serializer = PublicLinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link = public_links.public_link_create(
            workspace=workspace, access=serializer.validated_data["access"], created_by=request.user
        )
        return Response(PublicLinkSerializer(link, context={"request": request}).data, status=status.HTTP_201_CREATED)


class DashboardPublicLinkDetail(APIView):
    @extend_schema(responses={204: None}, description="Revoke the link: its url answers 410, open viewers are closed.")
    def delete(self, request, pk, link_id):
        link = public_links.public_link_of(workspace=_managed(request, pk), link_id=link_id)
        public_links.public_link_revoke(link=link)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- what is published ------------------------------------------------------------------------------


def published(link: PublicLink) -> dict:
    """(Database thread.) {"widgets", "filters"} the link shows: its creator's arrangement."""
    layout = layouts.dashboard_for_user(user=link.created_by, workspace_id=link.workspace_id)
    return {"widgets": layout["widgets"], "filters": layout["filters"]}


def public_dashboard_page(request: HttpRequest, link: PublicLink) -> HttpResponse:
    """/p/<key>/ of a dashboard link (registered with sheets.public_links): the widgets, live and
    read-only; no editing, no alerts, no Superset, nothing else of the workspace."""
    config = {
        "workspace": {"id": None, "name": ""},
        "access": "view",
        "public": True,
        "dashboard": {**published(link), "saved": True},
        "options": {},
        "sheets": [],
        "urls": {"socket": f"/ws/public/dashboards/{link.key}/"},
        "superset": None,
    }
    return render(request, "dashboard.html", {"config": config, "frame": "public.html"})


class PublishedWidgets(LiveWidgets):
    """LiveWidgets that compute only the published widgets under the published filters: a client's
    subscribe picks among them by id; any query or filter it sends is ignored."""

    def __init__(self, workspace_id: int, push, dashboard: dict) -> None:
        super().__init__(workspace_id, push)
        self.published = [{"id": w["id"], "query": w["query"]} for w in dashboard["widgets"]]
        self.published_filters = dashboard["filters"]

    def subscribe(self, widgets: object, filters: object) -> list[str]:
        if not isinstance(widgets, list) or len(widgets) > MAX_LIVE_WIDGETS:
            raise InvalidInput(f"widgets is a list of at most {MAX_LIVE_WIDGETS} {{id}}")
        wanted = {str(w.get("id")) for w in widgets if isinstance(w, dict)}
        return super().subscribe([w for w in self.published if str(w["id"]) in wanted], self.published_filters)


class PublicDashboardConsumer(DashboardConsumer):
    revoked_message = "This link was revoked"

    async def connect(self):
        self.request_id = bind_scope(self.scope)
        self.user = None
        self.live = None
        self.slot = None
        self.guard = None
        self.flood_closed = False
        self.frame_limits = FrameLimits(("ping", "subscribe"))
        if await over_public_rate(self.scope):
            await self.accept()
            await self.send_frame(error_frame("rate_limited", "too many connections from here: try again later"))
            return await self.close(code=CLOSE_RATE_LIMITED)
        key = self.scope["url_route"]["kwargs"]["key"]
        try:
            link = await database_sync_to_async(public_links.public_link_for_key)(key, PublicLink.Kind.DASHBOARD)
            dashboard = await database_sync_to_async(published)(link)
        except GridcastError as error:  # unknown (handshake refused) or revoked (told, then closed)
            if error.status == 404:
                return await self.close(code=CLOSE_NO_ACCESS)
            await self.accept()
            await self.send_frame(error_frame("access_revoked", error.message))
            return await self.close(code=CLOSE_NO_ACCESS)
        self.workspace_id = link.workspace_id
        self.guard = LinkGuard(link.pk)
        await self.accept()
        # The workspace's data pushes and the link's revocation; not the workspace's notifications.
        await self.guard.join(self.channel_layer, self.channel_name, dashboard_group(self.workspace_id))
        if await self.guard.acheck() < Access.VIEW:  # revoked between the look and the join
            await self.guard.leave()
            await self.send_frame(error_frame("access_revoked", self.revoked_message))
            return await self.close(code=CLOSE_NO_ACCESS)
        self.live = PublishedWidgets(self.workspace_id, self.send_frame, dashboard)
        metrics.connections.inc()  # counted while it has its widgets: uncounted when they close
        await self.send_frame({"type": "welcome", "workspace": self.workspace_id, "access": "view"})

    async def disconnect(self, code):
        if self.live is not None:
            self.live.close()
            self.live = None
            metrics.connections.dec()
        if self.guard is not None:
            await self.guard.leave()

    async def notification_created(self, event):
        """Never joined to the workspace's notifications: nothing to tell."""

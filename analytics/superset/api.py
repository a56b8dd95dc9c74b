"""REST API of embedded Superset dashboards: a short-lived guest token for one workspace's
dashboard, for people who may view the workspace."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from accounts.permissions import Access

from .guest_tokens import guest_token


class SupersetGuestToken(APIView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description="A guest token (5 minutes) for the workspace's Superset dashboard: "
        "{token, dashboard (embed uuid), url, expires_at}. Every dataset the dashboard reads "
        "is limited to the workspace's rows. 503 when Superset is not running.",
    )
    def post(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        return Response(guest_token(user=request.user, workspace_id=pk))

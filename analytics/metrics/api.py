"""REST API of metric ingestion: POST /api/v1/metrics/ (a token scoped to a workspace, edit access).
Parse, check permission, call the service."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from accounts.models import ApiToken
from accounts.permissions import Access
from core.errors import PermissionDenied

from . import ingest


class TokenScopeRequired(PermissionDenied):
    code = "workspace_token_required"


class MetricEventSerializer(serializers.Serializer):  # for the schema only: validation is ingest.validate_events
    source = serializers.CharField(required=False, max_length=ingest.MAX_NAME)
    metric = serializers.CharField(max_length=ingest.MAX_NAME)
    value = serializers.FloatField()
    timestamp = serializers.CharField(required=False, help_text="ISO-8601 with a timezone, or epoch seconds")
    tags = serializers.DictField(child=serializers.CharField(max_length=ingest.MAX_TAG_VALUE), required=False)


class MetricBatchSerializer(serializers.Serializer):
    events = MetricEventSerializer(many=True)


class MetricIngest(APIView):
    @extend_schema(
        request=MetricBatchSerializer,
        responses={201: OpenApiTypes.OBJECT},
        description="Append up to 10,000 events, all or none. Needs an API token scoped to a workspace "
        "(the events' workspace) with edit access. 201 means committed (durable).",
    )
    def post(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None or token.workspace_id is None:
            raise TokenScopeRequired(
                "metric events are sent with an API token scoped to a workspace "
                "(Authorization: Token gc_...); create one on the API tokens page with a workspace"
            )
        permissions.require_workspace(request.user, token.workspace_id, Access.EDIT)
        count, names = ingest.events_ingest(workspace_id=token.workspace_id, payload=request.data)
        return Response({"accepted": count, "workspace": token.workspace_id, "metrics": names}, status=201)

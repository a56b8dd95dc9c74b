"""REST API of metrics and alerts: ingestion, aggregates, the metric list and export, alert rules
and the user's notifications. Parse, check permission, call one service or selector."""
from django.db.models import BooleanField, ExpressionWrapper, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from sheets import permissions
from core import exports
from core.errors import InvalidInput, NotFound, PermissionDenied
from sheets.models import Sheet
from sheets.permissions import Access

from . import aggregates, alerts, metrics
from .models import AlertRule, Notification


class TokenScopeRequired(PermissionDenied):
    code = "workspace_token_required"


# --- ingestion -------------------------------------------------------------------------------------


class MetricEventSerializer(serializers.Serializer):  # for the schema only: validation is metrics.validate_events
    source = serializers.CharField(required=False, max_length=metrics.MAX_NAME)
    metric = serializers.CharField(max_length=metrics.MAX_NAME)
    value = serializers.FloatField()
    timestamp = serializers.CharField(required=False, help_text="ISO-8601 with a timezone, or epoch seconds")
    tags = serializers.DictField(child=serializers.CharField(max_length=metrics.MAX_TAG_VALUE), required=False)


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
        count, names = metrics.events_ingest(workspace_id=token.workspace_id, payload=request.data)
        return Response({"accepted": count, "workspace": token.workspace_id, "metrics": names}, status=201)


# --- reads -----------------------------------------------------------------------------------------

AGGREGATE_PARAMETERS = [
    OpenApiParameter("metric", str, required=True, description="a metric name, or several separated by commas"),
    OpenApiParameter("agg", str, enum=list(aggregates.AGGREGATES), description="default sum"),
    OpenApiParameter("bucket", str, enum=list(aggregates.BUCKETS), description="without it: totals only"),
    OpenApiParameter("group_by", str, description="a tag key (or metric, source)"),
    OpenApiParameter("tag", str, many=True, description="key:value, repeatable; all must match"),
    OpenApiParameter("from", str, description="ISO date or datetime (UTC unless given); default an hour before to"),
    OpenApiParameter("to", str, description="ISO date (end of that day) or datetime; default now"),
    OpenApiParameter("top", int, description="only the N groups with the largest aggregate"),
]


class MetricAggregate(APIView):
    @extend_schema(parameters=AGGREGATE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        query = aggregates.parse_aggregate_params(request.query_params)
        return Response(aggregates.metric_aggregate(workspace_id=pk, query=query))


class MetricList(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        return Response(aggregates.metric_catalog(workspace_id=pk))


class MetricExport(APIView):
    content_negotiation_class = exports.FormatIsNotARenderer

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, description="a metric, several separated by commas, or all when absent"),
            OpenApiParameter("from", str), OpenApiParameter("to", str),
            OpenApiParameter("format", str, enum=list(exports.EXPORT_TYPES), description="csv (default) or xlsx"),
        ],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, exports.EXPORT_TYPES["xlsx"]): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        names, start, end, kind = aggregates.parse_export_params(request.query_params)
        selection = {"workspace_id": pk, "metric_names": names, "start": start, "end": end}
        filename = aggregates.export_filename(kind, names)
        if kind == "csv":
            return exports.download(request, kind=kind, filename=filename, chunks=aggregates.export_csv_chunks(**selection))
        return exports.download(request, kind=kind, filename=filename, file=aggregates.export_xlsx_file(**selection))


# --- alert rules -----------------------------------------------------------------------------------


class AlertRuleSerializer(serializers.ModelSerializer):
    """The shape of a rule. Which fields a source needs, the sheet's workspace and the column's
    type are the model's rules (AlertRule.clean, through alerts.rule_create / rule_update)."""

    source = serializers.ChoiceField(choices=AlertRule.Source.choices, default=AlertRule.Source.METRIC,
                                     help_text="metric: a metric over a time window; sheet: a column of a sheet")
    sheet = serializers.PrimaryKeyRelatedField(
        queryset=Sheet.objects.none(), required=False, allow_null=True,
        help_text="sheet rules: the id of a sheet of this workspace",
        # A sheet of another workspace gets the same answer as one that does not exist.
        error_messages={"does_not_exist": "no sheet {pk_value} in this workspace",
                        "incorrect_type": "the sheet's id, a number"},
    )
    sheet_name = serializers.CharField(source="sheet.name", default=None, read_only=True)
    column_name = serializers.CharField(read_only=True, allow_null=True)
    condition = serializers.CharField(read_only=True)

    class Meta:
        model = AlertRule
        fields = ["id", "workspace", "name", "source", "metric", "sheet", "sheet_name", "column", "column_name", "agg",
                  "window_seconds", "comparison", "threshold", "tag_filter", "condition", "enabled", "state",
                  "last_value", "last_evaluated_at", "last_fired_at", "created_by", "created_at", "updated_at"]
        read_only_fields = ["workspace", "state", "last_value", "last_evaluated_at", "last_fired_at", "created_by",
                            "created_at", "updated_at"]
        extra_kwargs = {
            "window_seconds": {"min_value": 1, "max_value": 31 * 86400,
                               "help_text": "metric rules: the window in seconds (default 300); sheet rules have "
                                            "none (their aggregate is over every row), a value sent is ignored"},
            "metric": {"help_text": "metric rules: the metric's name"},
            "column": {"help_text": "sheet rules: the column's key (e.g. c3); sum, avg, min and max need a number "
                                    "column, count counts the filled cells of any column"},
            "tag_filter": {"help_text": "metric rules: tag key -> value, every one must match"},
        }

    def __init__(self, *args, workspace_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sheet"].queryset = Sheet.objects.filter(workspace_id=workspace_id)

    def validate_metric(self, value):
        if value and not metrics.METRIC_RE.match(value):
            raise serializers.ValidationError("letters, digits and _ . : / - only")
        return value

    def validate_threshold(self, value):
        if value != value or value in (float("inf"), float("-inf")):
            raise serializers.ValidationError("must be a finite number")
        return value

    def validate_tag_filter(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict) or len(value) > aggregates.MAX_TAG_FILTERS:
            raise serializers.ValidationError(f"an object of at most {aggregates.MAX_TAG_FILTERS} tag: value pairs")
        for key, tag_value in value.items():
            if not metrics.TAG_KEY_RE.match(key) or len(key) > metrics.MAX_TAG_KEY:
                raise serializers.ValidationError(f"{key[:64]!r} is not a valid tag key")
            if not isinstance(tag_value, str) or len(tag_value) > metrics.MAX_TAG_VALUE:
                raise serializers.ValidationError(f"tag {key!r} must be a string")
        return value


def _rule(request, pk, rule_id, needed):
    permissions.require_workspace(request.user, pk, needed)
    rule = AlertRule.objects.filter(pk=rule_id, workspace_id=pk).first()
    if rule is None:
        raise NotFound("Alert rule not found")
    return rule


class AlertRuleList(APIView):
    @extend_schema(responses=AlertRuleSerializer(many=True))
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        rules = AlertRule.objects.filter(workspace_id=pk).select_related("sheet").prefetch_related("sheet__columns")
        return Response(AlertRuleSerializer(rules, many=True).data)

    @extend_schema(request=AlertRuleSerializer, responses={201: AlertRuleSerializer})
    def post(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.EDIT)
        serializer = AlertRuleSerializer(data=request.data, workspace_id=pk)
        serializer.is_valid(raise_exception=True)
        rule = alerts.rule_create(workspace_id=pk, actor=request.user, **serializer.validated_data)
        return Response(AlertRuleSerializer(rule).data, status=201)


class AlertRuleDetail(APIView):
    @extend_schema(responses=AlertRuleSerializer)
    def get(self, request, pk, rule_id):
        return Response(AlertRuleSerializer(_rule(request, pk, rule_id, Access.VIEW)).data)

    @extend_schema(request=AlertRuleSerializer, responses=AlertRuleSerializer)
    def patch(self, request, pk, rule_id):
        rule = _rule(request, pk, rule_id, Access.EDIT)
        serializer = AlertRuleSerializer(rule, data=request.data, partial=True, workspace_id=pk)
        serializer.is_valid(raise_exception=True)
        return Response(AlertRuleSerializer(alerts.rule_update(rule=rule, **serializer.validated_data)).data)

    put = patch

    @extend_schema(responses={204: None})
    def delete(self, request, pk, rule_id):
        alerts.rule_delete(rule=_rule(request, pk, rule_id, Access.EDIT))
        return Response(status=204)


# --- notifications ---------------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", default=None, read_only=True)
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "workspace", "rule", "rule_name", "message", "value", "created_at", "read_at", "is_read"]


def _inbox(request):
    """The user's notifications, in workspaces they still belong to (and only the token's one)."""
    found = Notification.objects.filter(user=request.user, workspace__memberships__user=request.user)
    scope = getattr(request.user, "token_workspace_id", None)
    if scope is not None:
        found = found.filter(workspace_id=scope)
    return found


class NotificationList(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("unread", str, description="1: only unread ones"),
                    OpenApiParameter("limit", int, description="default 50, at most 500")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        found = _inbox(request).select_related("rule")
        unread_count = found.filter(read_at__isnull=True).count()
        if request.query_params.get("unread") in ("1", "true", "yes"):
            found = found.filter(read_at__isnull=True)
        try:
            limit = int(request.query_params.get("limit", 50))
        except ValueError:
            raise InvalidInput("limit must be a whole number") from None
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500")
        # Unread first, newest first within each.
        found = found.annotate(unread_first=ExpressionWrapper(Q(read_at__isnull=True), output_field=BooleanField()))
        found = found.order_by("-unread_first", "-created_at", "-id")[:limit]
        return Response({"unread": unread_count, "results": NotificationSerializer(found, many=True).data})


class NotificationRead(APIView):
    @extend_schema(request=None, responses=NotificationSerializer)
    def post(self, request, pk):
        notification = _inbox(request).filter(pk=pk).first()
        if notification is None:
            raise NotFound("Notification not found")
        alerts.notifications_mark_read(user=request.user, ids=[pk])
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)


class NotificationReadAll(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        changed = alerts.notifications_mark_read(
            user=request.user, scope_workspace_id=getattr(request.user, "token_workspace_id", None)
        )
        return Response({"marked_read": changed})

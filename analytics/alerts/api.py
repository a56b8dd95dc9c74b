"""REST API of alert rules and the user's notifications. Parse, check permission, call one service."""

from django.db.models import BooleanField, ExpressionWrapper, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from accounts.models import Membership
from accounts.permissions import Access
from analytics.metrics import ingest
from analytics.models import AlertRule, AlertStateChange, Notification
from analytics.queries.metric_aggregates import MAX_TAG_FILTERS
from core.errors import NotFound
from core.params import int_param
from sheets.models import Sheet
from sheets.selectors import sheets_for_user

from . import contacts, services
from .contacts_api import DeliverySerializer, WebhooksField


class AlertRuleSerializer(serializers.ModelSerializer):
    """The shape of a rule. Which fields a source needs, the sheet's workspace and the column's
    type are the model's rules (AlertRule.clean, through services.rule_create / rule_update)."""

    source = serializers.ChoiceField(
        choices=AlertRule.Source.choices,
        default=AlertRule.Source.METRIC,
        help_text="metric: a metric over a time window; sheet: a column of a sheet",
    )
    sheet = serializers.PrimaryKeyRelatedField(
        queryset=Sheet.objects.none(),
        required=False,
        allow_null=True,
        help_text="sheet rules: the id of a sheet of this workspace",
        # A sheet of another workspace gets the same answer as one that does not exist.
        error_messages={
            "does_not_exist": "no sheet {pk_value} in this workspace",
            "incorrect_type": "the sheet's id, a number",
        },
    )
    sheet_name = serializers.CharField(source="sheet.name", default=None, read_only=True)
    column_name = serializers.CharField(read_only=True, allow_null=True)
    condition = serializers.CharField(read_only=True)
    webhooks = WebhooksField(
        required=False,
        help_text="the rule's webhooks, the whole list: {url, format} adds one, {id, ...} keeps one, one left "
        "out is removed. Answers list {id, url, format, created_at, secret}; the secret is null except in the "
        "answer that created or renewed it",
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "workspace",
            "name",
            "source",
            "metric",
            "sheet",
            "sheet_name",
            "column",
            "column_name",
            "agg",
            "window_seconds",
            "comparison",
            "threshold",
            "tag_filter",
            "condition",
            "enabled",
            "email_members",
            "webhooks",
            "state",
            "last_value",
            "last_evaluated_at",
            "last_fired_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "workspace",
            "state",
            "last_value",
            "last_evaluated_at",
            "last_fired_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "window_seconds": {
                "min_value": 1,
                "max_value": 31 * 86400,
                "help_text": "metric rules: the window in seconds (default 300); sheet rules have "
                "none (their aggregate is over every row), a value sent is ignored",
            },
            "metric": {"help_text": "metric rules: the metric's name"},
            "column": {
                "help_text": "sheet rules: the column's key (e.g. c3); sum, avg, min and max need a number "
                "column, count counts the filled cells of any column"
            },
            "tag_filter": {"help_text": "metric rules: tag key -> value, every one must match"},
        }

    def __init__(self, *args, workspace_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sheet"].queryset = Sheet.objects.filter(workspace_id=workspace_id)
        self.fields["webhooks"].max_length = contacts.max_webhooks()

    def validate_metric(self, value):
        if value and not ingest.METRIC_RE.match(value):
            raise serializers.ValidationError("letters, digits and _ . : / - only")
        return value

    def validate_threshold(self, value):
        if value != value or value in (float("inf"), float("-inf")):
            raise serializers.ValidationError("must be a finite number")
        return value

    def validate_tag_filter(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict) or len(value) > MAX_TAG_FILTERS:
            raise serializers.ValidationError(f"an object of at most {MAX_TAG_FILTERS} tag: value pairs")
        for key, tag_value in value.items():
            if not ingest.TAG_KEY_RE.match(key) or len(key) > ingest.MAX_TAG_KEY:
                raise serializers.ValidationError(f"{key[:64]!r} is not a valid tag key")
            if not isinstance(tag_value, str) or len(tag_value) > ingest.MAX_TAG_VALUE:
                raise serializers.ValidationError(f"tag {key!r} must be a string")
        return value


def _rule(request, pk, rule_id, needed):
    return _rule_and_access(request, pk, rule_id, needed)[0]


def _rule_and_access(request, pk, rule_id, needed):
    access = permissions.require_workspace(request.user, pk, needed)
    rule = AlertRule.objects.filter(pk=rule_id, workspace_id=pk).first()
    if rule is None:
        raise NotFound("Alert rule not found")
    return rule, access


def _shown(access):
    """The serializer's context for this access: editors see webhooks' URLs in full."""
    return {"full": access >= Access.EDIT}


class AlertRuleList(APIView):
    @extend_schema(responses=AlertRuleSerializer(many=True))
    def get(self, request, pk):
        access = permissions.require_workspace(request.user, pk, Access.VIEW)
        rules = (
            AlertRule.objects.filter(workspace_id=pk)
            .select_related("sheet")
            .prefetch_related("sheet__columns", "webhooks")
        )
        return Response(AlertRuleSerializer(rules, many=True, context=_shown(access)).data)

    @extend_schema(request=AlertRuleSerializer, responses={201: AlertRuleSerializer})
    def post(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.EDIT)
        serializer = AlertRuleSerializer(data=request.data, workspace_id=pk)
        serializer.is_valid(raise_exception=True)
        rule = services.rule_create(workspace_id=pk, actor=request.user, **serializer.validated_data)
        return Response(AlertRuleSerializer(rule, context=_shown(Access.EDIT)).data, status=201)


class AlertRuleDetail(APIView):
    @extend_schema(responses=AlertRuleSerializer)
    def get(self, request, pk, rule_id):
        rule, access = _rule_and_access(request, pk, rule_id, Access.VIEW)
        return Response(AlertRuleSerializer(rule, context=_shown(access)).data)

    @extend_schema(request=AlertRuleSerializer, responses=AlertRuleSerializer)
    def patch(self, request, pk, rule_id):
        rule = _rule(request, pk, rule_id, Access.EDIT)
        serializer = AlertRuleSerializer(rule, data=request.data, partial=True, workspace_id=pk)
        serializer.is_valid(raise_exception=True)
        rule = services.rule_update(rule=rule, **serializer.validated_data)
        return Response(AlertRuleSerializer(rule, context=_shown(Access.EDIT)).data)

    put = patch

    @extend_schema(responses={204: None})
    def delete(self, request, pk, rule_id):
        services.rule_delete(rule=_rule(request, pk, rule_id, Access.EDIT))
        return Response(status=204)


class AlertStateChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertStateChange
        fields = ["id", "event", "state", "value", "condition", "at"]


HISTORY_PAGE = 200


class AlertRuleHistory(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="the `next` of the previous page"),
            OpenApiParameter("limit", int, description=f"changes per page, default 50, at most {HISTORY_PAGE}"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="The rule's state changes, newest first: {results: [{id, event (fired, recovered, reset), "
        "state, value, condition, at}], next}; `next` (or null) is the `before` of the next page.",
    )
    def get(self, request, pk, rule_id):
        rule = _rule(request, pk, rule_id, Access.VIEW)
        page, after = _page(request, rule.state_changes.order_by("-id"), HISTORY_PAGE)
        return Response({"results": AlertStateChangeSerializer(page, many=True).data, "next": after})


DELIVERIES_PAGE = 200


class AlertRuleDeliveries(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="the `next` of the previous page"),
            OpenApiParameter("limit", int, description=f"deliveries per page, default 50, at most {DELIVERIES_PAGE}"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="The rule's deliveries to its contact points, newest first: {results: [{id, channel (webhook, "
        "email), target, event, status (pending, delivered, failed), attempts, next_attempt_at, status_code, "
        "response, error, delivered_at, ...}], next}; `next` (or null) is the `before` of the next page. Viewers "
        "see a webhook's host, not its URL.",
    )
    def get(self, request, pk, rule_id):
        rule, access = _rule_and_access(request, pk, rule_id, Access.VIEW)
        page, after = _page(request, rule.deliveries.order_by("-id"), DELIVERIES_PAGE)
        return Response({"results": DeliverySerializer(page, many=True, context=_shown(access)).data, "next": after})


def _page(request, found, most):
    """A page of `found` (newest first by id) after `before`: (items, the next page's `before` or None)."""
    before = int_param(request.query_params, "before", None, low=1)
    limit = int_param(request.query_params, "limit", 50, low=1, high=most)
    if before is not None:
        found = found.filter(id__lt=before)
    page = list(found[: limit + 1])
    return page[:limit], (page[limit - 1].pk if len(page) > limit else None)


# --- notifications ---------------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", default=None, read_only=True)
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "workspace",
            "kind",
            "rule",
            "rule_name",
            "message",
            "value",
            "link",
            "created_at",
            "read_at",
            "is_read",
        ]


def _inbox(request):
    """The user's notifications, in workspaces they still belong to or of sheets still shared with
    them (and only the token's workspace)."""
    mine = Membership.objects.filter(user=request.user).values("workspace_id")
    shared = sheets_for_user(request.user).order_by().values("pk")
    found = Notification.objects.filter(user=request.user).filter(Q(workspace__in=mine) | Q(sheet__in=shared))
    scope = getattr(request.user, "token_workspace_id", None)
    if scope is not None:
        found = found.filter(workspace_id=scope)
    return found


class NotificationList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("unread", str, description="1: only unread ones"),
            OpenApiParameter("limit", int, description="default 50, at most 500"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        found = _inbox(request).select_related("rule")
        unread_count = found.filter(read_at__isnull=True).count()
        if request.query_params.get("unread") in ("1", "true", "yes"):
            found = found.filter(read_at__isnull=True)
        limit = int_param(request.query_params, "limit", 50, low=1, high=500)
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
        services.notifications_mark_read(user=request.user, ids=[pk])
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)


class NotificationReadAll(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        changed = services.notifications_mark_read(
            user=request.user, scope_workspace_id=getattr(request.user, "token_workspace_id", None)
        )
        return Response({"marked_read": changed})

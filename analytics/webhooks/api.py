"""REST API of a sheet's webhooks (/api/v1/sheets/<id>/webhooks/...) and their delivery logs.

Owners and admins of the sheet's workspace manage them (Access.MANAGE, as public links): a webhook
sends the sheet's data out of Gridcast, which is the workspace's decision, not an editor's. Editors
and viewers get 403, anyone else (another workspace) 404. The secret is shown only in the answer
that created or renewed it."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from analytics.deliveries.serializers import DeliverySerializer, newest_first_page
from analytics.models import Webhook
from core import outbound
from core.errors import NotFound
from sheets.api.views import load_sheet

from . import services

MAX_COLUMNS = 500
DELIVERIES_PAGE = 200


class SheetWebhookSerializer(serializers.ModelSerializer):
    url = serializers.CharField(
        max_length=outbound.MAX_URL_LENGTH,
        trim_whitespace=True,
        help_text="http(s) URL on a public address, called with a POST (signed JSON) on each event",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Webhook.Event.choices),
        allow_empty=False,
        max_length=len(Webhook.Event.choices),
        required=False,
        help_text="which changes are sent: rows.inserted, rows.updated, rows.deleted (default: all three)",
    )
    columns = serializers.ListField(
        child=serializers.CharField(max_length=16),
        max_length=MAX_COLUMNS,
        required=False,
        help_text="column keys (e.g. c2): only updates of these columns are sent, and only their values of "
        "inserted and deleted rows; empty: every column",
    )
    rotate_secret = serializers.BooleanField(
        required=False, default=False, write_only=True, help_text="give the webhook a new secret"
    )
    secret = serializers.SerializerMethodField(
        help_text="the key of X-Gridcast-Signature (HMAC-SHA256 of the body), only in the answer that created or "
        "renewed it; null otherwise"
    )
    created_by = serializers.CharField(source="created_by.label", read_only=True, default=None)

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "columns", "active", "rotate_secret", "secret", "created_by", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value):
        try:
            return outbound.check_url(value)
        except outbound.OutboundRefused as error:
            raise serializers.ValidationError(error.message) from None

    def get_secret(self, webhook) -> str | None:
        return webhook.secret if self.context.get("reveal") else None


def _webhook(request, pk, webhook_id):
    sheet, _ = load_sheet(request, pk, Access.MANAGE)
    webhook = Webhook.objects.select_related("sheet", "created_by").filter(pk=webhook_id, sheet_id=sheet.pk).first()
    if webhook is None:
        raise NotFound("Webhook not found")
    return webhook


class SheetWebhookList(APIView):
    @extend_schema(responses=SheetWebhookSerializer(many=True), description="The sheet's webhooks (owners, admins).")
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        hooks = Webhook.objects.filter(sheet_id=sheet.pk).select_related("created_by")
        return Response(SheetWebhookSerializer(hooks, many=True).data)

    @extend_schema(
        request=SheetWebhookSerializer,
        responses={201: SheetWebhookSerializer},
        description="Add a webhook: each committed change of the sheet's rows (of the events and columns named) "
        "is POSTed to its URL as JSON signed with its secret (X-Gridcast-Signature: sha256=<HMAC of the body>), "
        "retried with backoff and logged. The secret is in this answer only.",
    )
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        serializer = SheetWebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "rotate_secret"}
        webhook = services.webhook_create(sheet=sheet, actor=request.user, **fields)
        return Response(SheetWebhookSerializer(webhook, context={"reveal": True}).data, status=201)


class SheetWebhookDetail(APIView):
    @extend_schema(responses=SheetWebhookSerializer)
    def get(self, request, pk, webhook_id):
        return Response(SheetWebhookSerializer(_webhook(request, pk, webhook_id)).data)

    @extend_schema(
        request=SheetWebhookSerializer,
        responses=SheetWebhookSerializer,
        description="Change its url, events, columns or active (false pauses it); rotate_secret gives it a new "
        "secret, shown in this answer only.",
    )
    def patch(self, request, pk, webhook_id):
        webhook = _webhook(request, pk, webhook_id)
        serializer = SheetWebhookSerializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=webhook, **serializer.validated_data)
        reveal = serializer.validated_data.get("rotate_secret", False)
        return Response(SheetWebhookSerializer(webhook, context={"reveal": reveal}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, webhook_id):
        services.webhook_delete(webhook=_webhook(request, pk, webhook_id))
        return Response(status=204)


class SheetWebhookDeliveries(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="the `next` of the previous page"),
            OpenApiParameter("limit", int, description=f"deliveries per page, default 50, at most {DELIVERIES_PAGE}"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="The webhook's deliveries, newest first: {results: [{id, event, payload, status (pending, "
        "delivered, failed), attempts, next_attempt_at, status_code, response, error, delivered_at, ...}], next}; "
        "`next` (or null) is the `before` of the next page.",
    )
    def get(self, request, pk, webhook_id):
        webhook = _webhook(request, pk, webhook_id)
        page, after = newest_first_page(request, webhook.deliveries.order_by("-id"), DELIVERIES_PAGE)
        return Response({"results": DeliverySerializer(page, many=True, context={"full": True}).data, "next": after})

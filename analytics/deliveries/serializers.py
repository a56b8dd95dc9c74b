"""The REST shape of a delivery log entry, shared by the owners of contact points (an alert rule's
log, a sheet webhook's log). Only editors see a webhook's URL in full (context "full"); others see
its host (a Slack URL is itself a credential)."""

from urllib.parse import urlsplit

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from analytics.models import Delivery
from core.params import int_param


def masked_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "target",
            "format",
            "event",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "status_code",
            "response",
            "error",
            "delivered_at",
            "created_at",
            "webhook",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.channel == Delivery.Channel.WEBHOOK and not self.context.get("full"):
            data["target"] = masked_url(instance.target)
        return data


def newest_first_page(request: Request, found: QuerySet, most: int) -> tuple[list, int | None]:
    """A page of `found` (newest first by id) after `before`: (items, the next page's `before` or None)."""
    before = int_param(request.query_params, "before", None, low=1)
    limit = int_param(request.query_params, "limit", 50, low=1, high=most)
    if before is not None:
        found = found.filter(id__lt=before)
    page = list(found[: limit + 1])
    return page[:limit], (page[limit - 1].pk if len(page) > limit else None)

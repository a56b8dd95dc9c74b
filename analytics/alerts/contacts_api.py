"""REST shapes of an alert rule's contact points (its webhooks, in the rule's representation) and its
delivery log (GET /api/v1/workspaces/<id>/alerts/<rule id>/deliveries/, in api.py). A webhook's secret is shown
only in the answer that created or renewed it; a viewer sees a webhook's host, not its URL (a Slack
URL is itself a credential)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.deliveries.serializers import masked_url
from analytics.models import Webhook
from core import outbound


class WebhookSerializer(serializers.Serializer):
    """One item of a rule's `webhooks`: {url, format} adds one (its secret is in the answer, once);
    {id} keeps one, with a new url or format if given and a new secret with rotate_secret; a webhook
    left out of the list is removed."""

    id = serializers.IntegerField(required=False, min_value=1, help_text="an existing webhook of the rule")
    url = serializers.CharField(
        required=False,
        max_length=outbound.MAX_URL_LENGTH,
        trim_whitespace=True,
        help_text="http(s) URL on a public address, called with a POST on each firing and recovery",
    )
    format = serializers.ChoiceField(
        choices=Webhook.Format.choices,
        required=False,
        help_text="json: Gridcast's JSON, signed (X-Gridcast-Signature: sha256=<HMAC of the body>); "
        "slack: an incoming-webhook message {text}",
    )
    rotate_secret = serializers.BooleanField(
        required=False, default=False, write_only=True, help_text="an existing webhook: give it a new secret"
    )
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="the key of the signature (HMAC-SHA256 of the body), only in the answer that created or renewed "
        "it; null otherwise",
    )
    created_at = serializers.DateTimeField(read_only=True)

    def validate_url(self, value):
        try:
            return outbound.check_url(value)
        except outbound.OutboundRefused as error:
            raise serializers.ValidationError(error.message) from None

    def validate(self, attrs):
        if attrs.get("id") is None:
            if not attrs.get("url"):
                raise serializers.ValidationError({"url": "a new webhook needs a url"})
            attrs.setdefault("format", Webhook.Format.JSON)
            if attrs.get("rotate_secret"):
                raise serializers.ValidationError({"rotate_secret": "a new webhook gets its secret anyway"})
        return attrs


def webhook_view(webhook: Webhook, *, full: bool, revealed: dict[int, str] | None = None) -> dict:
    """A webhook as the API shows it: the URL to editors (its host to viewers), the secret only
    when it was just created or renewed."""
    shown = {
        "id": webhook.pk,
        "url": webhook.url if full else masked_url(webhook.url),
        "format": webhook.format,
        "created_at": webhook.created_at,
    }
    shown["secret"] = (revealed or {}).get(webhook.pk)
    return shown


@extend_schema_field(WebhookSerializer(many=True))
class WebhooksField(serializers.Field):
    """A rule's `webhooks`: in, the whole list (WebhookSerializer items, at most `max_length`); out,
    webhook_view() of each (context "full": the URLs in full; the rule's `revealed_secrets`)."""

    def __init__(self, **kwargs):
        self.max_length = kwargs.pop("max_length", None)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return instance

    def to_internal_value(self, data):
        items = WebhookSerializer(data=data, many=True, max_length=self.max_length)
        items.is_valid(raise_exception=True)
        return items.validated_data

    def to_representation(self, rule):
        revealed = getattr(rule, "revealed_secrets", None)
        full = self.context.get("full", False)
        return [webhook_view(w, full=full, revealed=revealed) for w in rule.webhooks.all()]

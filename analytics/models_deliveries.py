"""Where Gridcast sends word of what happened (an alert rule's webhooks; its e-mails to members) and
the log of each delivery: queued in the database, sent and retried by the worker
(analytics/deliveries/)."""

import secrets

from django.db import models


def new_secret() -> str:
    return secrets.token_hex(32)


class Webhook(models.Model):
    """A URL called with a POST on each event of its owner (an alert rule), in a format: Gridcast's
    JSON signed with `secret` (X-Gridcast-Signature: sha256=<HMAC of the body>), or Slack's
    incoming-webhook {"text": ...}."""

    class Format(models.TextChoices):
        JSON = "json", "JSON (signed)"
        SLACK = "slack", "Slack incoming webhook"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="webhooks")
    rule = models.ForeignKey("analytics.AlertRule", on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2000)
    format = models.CharField(max_length=5, choices=Format.choices, default=Format.JSON)
    secret = models.CharField(max_length=64, default=new_secret)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "analytics"
        ordering = ["id"]

    def __str__(self):
        return self.url


class Delivery(models.Model):
    """One message to one contact point (a webhook's URL or a member's e-mail address) and what
    came of it: the attempts made, the next one due, the last answer (status code, the start of
    its body) or error."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email", "e-mail"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "failed (no more attempts)"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(
        "analytics.AlertRule", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel = models.CharField(max_length=7, choices=Channel.choices)
    target = models.CharField(max_length=2000, help_text="the URL or e-mail address")
    format = models.CharField(max_length=5, blank=True, help_text="webhooks: json or slack")
    event = models.CharField(max_length=40, help_text="e.g. fired, recovered")
    payload = models.JSONField(help_text="webhooks: the body sent; e-mails: {subject, body}")
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="the start of the last answer's body")
    error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "analytics"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=models.Q(status="pending")),
            models.Index(fields=["rule", "-id"], name="delivery_log"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.channel} {self.event} to {self.target[:60]}: {self.status}"


class QueuedEmail(models.Model):
    """A notification due to a person by e-mail, waiting for their next digest: the worker sends one
    e-mail per person gathering all of theirs once the oldest has waited a minute (NOTIFICATION_EMAIL_
    BATCH_SECONDS), so a busy minute is one e-mail (analytics/deliveries/digest.py)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="queued_emails")
    kind = models.CharField(max_length=10)
    text = models.CharField(max_length=1000)
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="a worker is sending it (a lease)")

    class Meta:
        app_label = "analytics"
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "created_at"], name="queued_email_user")]

    def __str__(self):
        return f"{self.user_id} {self.kind}: {self.text[:40]}"

"""Alert rules on metrics and the notifications their firings leave for each workspace member.
(Metric events themselves live in DuckLake, not in these tables: see analytics.metrics.)"""
from django.conf import settings
from django.db import models


class AlertRule(models.Model):
    class Agg(models.TextChoices):
        SUM = "sum"
        COUNT = "count"
        AVG = "avg"
        MIN = "min"
        MAX = "max"

    class Comparison(models.TextChoices):
        LT = "<"
        LTE = "<="
        GT = ">"
        GTE = ">="

    class State(models.TextChoices):
        OK = "ok"
        FIRING = "firing"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=100)
    agg = models.CharField(max_length=5, choices=Agg.choices, default=Agg.AVG)
    window_seconds = models.PositiveIntegerField(default=300)
    comparison = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField()
    tag_filter = models.JSONField(default=dict, blank=True, help_text="tag key → value; every one must match")
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=6, choices=State.choices, default=State.OK)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="alert_rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "analytics"
        ordering = ["workspace", "name", "id"]
        indexes = [models.Index(fields=["workspace", "metric", "enabled"], name="alert_rule_lookup")]

    def __str__(self):
        return self.name

    @property
    def condition(self):
        return f"{self.agg}({self.metric}) over {self.window_seconds}s {self.comparison} {self.threshold:g}"

    def holds(self, value):
        if value is None:  # no data is not a breach
            return False
        return {"<": value < self.threshold, "<=": value <= self.threshold, ">": value > self.threshold,
                ">=": value >= self.threshold}[self.comparison]


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="notifications")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    message = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "analytics"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self):
        return self.message

    @property
    def is_read(self):
        return self.read_at is not None

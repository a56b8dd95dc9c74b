"""What Gridcast provisioned in Superset: its id and uuid there, per kind and Gridcast key, so a
sync updates the same objects instead of creating new ones."""

from django.db import models

__all__ = ["SupersetObject"]


class SupersetObject(models.Model):
    class Kind(models.TextChoices):
        DATABASE = "database"
        DATASET = "dataset"
        CHART = "chart"
        DASHBOARD = "dashboard"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # "lake" (the database), "sheet:<id>", "metrics" and "history" (datasets), "ws:<id>" (a workspace's
    # dashboard), "ws:<id>:<chart name>" (its charts).
    key = models.CharField(max_length=100)
    superset_id = models.BigIntegerField()
    uuid = models.CharField(max_length=64, blank=True)  # dashboards: the embed uuid the SDK loads
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="superset_objects"
    )
    # What the object was last built from (a dataset: its view's columns; a chart: its params).
    signature = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "analytics"
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="one_superset_object_per_kind_and_key")]

    def __str__(self):
        return f"superset {self.kind} {self.key} #{self.superset_id}"

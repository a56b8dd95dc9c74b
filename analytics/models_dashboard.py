"""A person's live dashboard of a workspace: the widgets they placed, in order."""

from django.conf import settings
from django.db import models


class DashboardLayout(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboard_layouts")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="dashboard_layouts")
    # [{"id", "type", "title", "query": {"source": "metrics", "metric", "agg", ...}}, ...] in display order;
    # analytics.dashboards validates the shape before it is stored.
    widgets = models.JSONField(default=list)
    # The whole-dashboard filters last used (range, tags), so a reload shows the same view.
    filters = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "analytics"
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_dashboard_per_user_and_workspace")
        ]

    def __str__(self):
        return f"dashboard of {self.user} in {self.workspace}"

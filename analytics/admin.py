from django.contrib import admin

from .models import AlertRule, Notification


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "metric", "agg", "comparison", "threshold", "window_seconds", "enabled",
                    "state", "last_value", "last_evaluated_at"]
    list_filter = ["state", "enabled", "agg", "workspace"]
    search_fields = ["name", "metric", "workspace__name"]
    readonly_fields = ["state", "last_value", "last_evaluated_at", "last_fired_at", "created_at", "updated_at"]
    raw_id_fields = ["created_by"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["message", "user", "workspace", "rule", "value", "created_at", "read_at"]
    list_filter = [("read_at", admin.EmptyFieldListFilter), "workspace", "created_at"]
    search_fields = ["message", "user__email", "workspace__name"]
    raw_id_fields = ["user", "rule"]
    date_hierarchy = "created_at"

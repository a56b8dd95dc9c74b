from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from .models import AlertRule, Delivery, Notification


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "source", "condition", "enabled", "state", "last_value", "last_evaluated_at"]
    list_filter = ["source", "state", "enabled", "agg", "workspace", ("sheet", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "metric", "sheet__name", "workspace__name"]
    list_select_related = ["workspace", "sheet"]
    state_fields = ["state", "last_value", "last_evaluated_at", "last_fired_at", "created_at", "updated_at"]
    readonly_fields = [*state_fields, "recent_changes"]
    raw_id_fields = ["created_by", "sheet"]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "enabled", "email_members", "created_by"]}),
        (
            "Metric or sheet column",
            {
                "fields": ["source", "metric", "window_seconds", "tag_filter", "sheet", "column"],
                "description": "A metric rule uses the metric, window and tags; a sheet rule the sheet (of the same "
                "workspace) and a column key such as c3, over every row (no window).",
            },
        ),
        ("Condition", {"fields": ["agg", "comparison", "threshold"]}),
        ("State", {"fields": state_fields}),
        ("History", {"fields": ["recent_changes"]}),
    ]

    @admin.display(description="Last 20 state changes (newest first)")
    def recent_changes(self, rule: AlertRule) -> str:
        changes = rule.state_changes.order_by("-id")[:20] if rule.pk else []
        return (
            format_html_join(
                mark_safe("<br>"),
                "{} · {} · value {} · {}",
                ((f"{c.at:%Y-%m-%d %H:%M:%S}", c.get_event_display(), c.value, c.condition) for c in changes),
            )
            or "none yet"
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sheet__columns")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["message", "user", "workspace", "rule", "value", "created_at", "read_at"]
    list_filter = [("read_at", admin.EmptyFieldListFilter), "workspace", "created_at"]
    search_fields = ["message", "user__email", "workspace__name"]
    raw_id_fields = ["user", "rule"]
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The log of deliveries to contact points; read-only (the worker writes it)."""

    list_display = ["id", "channel", "event", "target", "status", "attempts", "status_code", "created_at"]
    list_filter = ["status", "channel", "event", "workspace"]
    search_fields = ["target", "rule__name", "error"]
    list_select_related = ["rule"]
    raw_id_fields = ["workspace", "rule", "webhook"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

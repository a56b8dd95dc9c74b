from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .models import ApiToken, AuditEvent, Invitation, Membership, User, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__role"]
    search_fields = ["email", "display_name", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "first_name", "last_name", "theme"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [MembershipInline]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "require_two_factor", "metric_retention_days", "created_at"]
    list_filter = ["require_two_factor"]
    search_fields = ["name", "memberships__user__email"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, workspace):
        return workspace.memberships.count()

    def save_model(self, request, obj, form, change):
        # A retention changed here goes through the service, so that the audit log records it.
        if change and "metric_retention_days" in form.changed_data:
            days, obj.metric_retention_days = obj.metric_retention_days, form.initial.get("metric_retention_days")
            services.workspace_metric_retention_set(workspace=obj, days=days)
        super().save_model(request, obj, form, change)

    # Deleting here goes through the service, so that the audit log records it.
    def delete_model(self, request, obj):
        services.workspace_delete(workspace=obj)

    def delete_queryset(self, request, queryset):
        for workspace in queryset:
            services.workspace_delete(workspace=workspace)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    list_editable = ["role"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "workspace", "key_prefix", "created_at", "last_used_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "user__email", "key_prefix"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    autocomplete_fields = ["user", "workspace"]

    def has_add_permission(self, request):
        return False  # keys are shown once to their owner, so tokens are made through the API or token page


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Access waiting for an account to verify its address (accounts/invitations.py)."""

    list_display = ["email", "workspace", "role", "sheet", "level", "invited_by", "created_at"]
    search_fields = ["email", "workspace__name", "sheet__name"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["workspace", "sheet", "invited_by"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log of every workspace (accounts.audit), read-only: events are append-only."""

    list_display = ["created_at", "kind", "actor_email", "ip", "workspace_ref", "target"]
    list_filter = ["kind", "workspace", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_email", "target", "=workspace_ref"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

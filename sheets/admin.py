from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from .models import Column, Comment, Operation, PublicLink, Sheet
from .public_links import public_link_revoke


class ColumnInline(admin.TabularInline):
    model = Column
    extra = 0
    fields = ["key", "name", "type", "options", "position", "deleted"]
    readonly_fields = ["key", "position"]
    ordering = ["position"]

    def has_add_permission(self, request, obj=None):
        return False  # columns are added through the services, which version them


@admin.register(Sheet)
class SheetAdmin(GuardedModelAdmin):
    """Sheets with their columns; "Object permissions" shares a sheet with single users."""

    list_display = ["name", "workspace", "version", "row_count", "created_by", "updated_at"]
    list_filter = ["workspace", "created_at"]
    search_fields = ["name", "workspace__name", "created_by__email"]
    readonly_fields = ["version", "layout_version", "next_column", "created_by", "created_at", "updated_at"]
    autocomplete_fields = ["workspace"]
    inlines = [ColumnInline]

    @admin.display(description="rows")
    def row_count(self, sheet):
        return sheet.rows.count()


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["sheet", "version", "kind", "actor", "created_at"]
    list_filter = ["kind", "sheet__workspace"]
    search_fields = ["sheet__name", "actor__email", "op_id"]
    list_select_related = ["sheet", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the log is append-only


@admin.register(PublicLink)
class PublicLinkAdmin(admin.ModelAdmin):
    """Public read-only links; "Revoke" ends them (and their open pages) as the API does."""

    list_display = ["id", "kind", "workspace", "sheet", "created_by", "created_at", "revoked_at"]
    list_filter = ["kind", "workspace"]
    search_fields = ["sheet__name", "workspace__name", "created_by__email"]
    list_select_related = ["workspace", "sheet", "created_by"]
    fields = ["kind", "workspace", "sheet", "access", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields  # never the key: it is the link's whole credential
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # published from the sheet or the dashboard, which check who may

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        for link in queryset:
            public_link_revoke(link=link)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Comments, read-only here: they are written through the services, which notify and announce."""

    list_display = ["id", "sheet", "row_id", "col", "thread", "author", "created_at", "resolved_at"]
    list_filter = ["created_at"]
    search_fields = ["body", "author__email", "sheet__name"]
    list_select_related = ["sheet", "author"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

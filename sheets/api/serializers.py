"""Shapes of API requests and responses. Business rules live in the services."""

from rest_framework import serializers

from sheets import column_types
from sheets.models import Column, Operation, Sheet

from ..selectors import sheet_columns


class ColumnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Column
        fields = ["key", "name", "type", "options", "position", "width"]
        read_only_fields = ["key", "position"]


class ColumnCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=column_types.choices(), default=column_types.TEXT)
    options = serializers.JSONField(required=False)
    after = serializers.CharField(required=False, allow_null=True)
    before = serializers.CharField(required=False, allow_null=True)
    width = serializers.IntegerField(required=False, min_value=30, max_value=2000)
    op_id = serializers.UUIDField(required=False, allow_null=True)


class ColumnUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    type = serializers.ChoiceField(choices=column_types.choices(), required=False)
    options = serializers.JSONField(required=False)
    after = serializers.CharField(required=False, allow_null=True)
    before = serializers.CharField(required=False, allow_null=True)


class SheetSerializer(serializers.ModelSerializer):
    columns = serializers.SerializerMethodField()
    access = serializers.SerializerMethodField()

    class Meta:
        model = Sheet
        fields = ["id", "workspace", "name", "version", "columns", "access", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def get_columns(self, sheet) -> list[dict]:
        return ColumnSerializer(sheet_columns(sheet), many=True).data

    def get_access(self, sheet) -> str:
        return self.context.get("access", "view")


class SheetCreateSerializer(serializers.Serializer):
    workspace = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    columns = ColumnCreateSerializer(many=True, required=False)


class SheetRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    op_id = serializers.UUIDField(required=False, allow_null=True)


class SheetListSerializer(serializers.ModelSerializer):
    workspace_name = serializers.CharField(source="workspace.name", read_only=True)

    class Meta:
        model = Sheet
        fields = ["id", "workspace", "workspace_name", "name", "version", "updated_at"]


class CellsUpdateSerializer(serializers.Serializer):
    op_id = serializers.UUIDField(required=False, allow_null=True)
    cells = serializers.ListField(child=serializers.DictField(), allow_empty=False)


class RowsInsertSerializer(serializers.Serializer):
    op_id = serializers.UUIDField(required=False, allow_null=True)
    count = serializers.IntegerField(required=False, min_value=1)
    rows = serializers.ListField(child=serializers.DictField(), required=False, allow_empty=False)
    after = serializers.IntegerField(required=False, allow_null=True)
    before = serializers.IntegerField(required=False, allow_null=True)

    def validate(self, data):
        if ("count" in data) == ("rows" in data):
            raise serializers.ValidationError("give either count or rows")
        return data


class RowsDeleteSerializer(serializers.Serializer):
    op_id = serializers.UUIDField(required=False, allow_null=True)
    row_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)


class RowsMoveSerializer(RowsDeleteSerializer):
    after = serializers.IntegerField(required=False, allow_null=True)
    before = serializers.IntegerField(required=False, allow_null=True)


class OperationSerializer(serializers.ModelSerializer):
    changes = serializers.JSONField(source="payload")
    op_id = serializers.UUIDField()

    class Meta:
        model = Operation
        fields = ["version", "kind", "actor", "op_id", "changes", "created_at"]


class ShareSerializer(serializers.Serializer):
    email = serializers.EmailField()
    level = serializers.ChoiceField(choices=["view", "edit"], allow_null=True)


class ShareAnswerSerializer(ShareSerializer):
    detail = serializers.CharField(help_text="The same for every address: whether it has an account is not told.")


class HistoryEntrySerializer(serializers.Serializer):
    """One change of a row or a cell (sheets.history.Entry)."""

    version = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.JSONField(help_text="{id, name}, or null when the person was deleted")
    kind = serializers.CharField(help_text="the operation's kind: cells.update, rows.insert, rows.import, ...")
    event = serializers.ChoiceField(choices=["created", "deleted", "changed"])
    col = serializers.JSONField(help_text="{key, name (current)}; null for a whole row created or deleted")
    before = serializers.JSONField(help_text="the value before (a row's values for a whole row); null when empty")
    after = serializers.JSONField(help_text="the value after (a row's values for a whole row); null when empty")
    undo_of = serializers.IntegerField(allow_null=True, help_text="the version this change undid, if an undo")
    redo_of = serializers.IntegerField(allow_null=True, help_text="the version of the undo this change redid")


class HistoryPageSerializer(serializers.Serializer):
    results = HistoryEntrySerializer(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="the `before` of the next page; null at the end")

"""REST API of time travel (issue 17): the rows as of a version or a time, restore, diff. History
is for editors: every past value is in these answers, so viewers get 403 as on the history."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.jsonio import INT64
from core.params import int_param
from sheets import permissions, services, time_travel
from sheets.models import Sheet

from . import serializers as s

AS_OF_PARAMETERS = [
    OpenApiParameter(
        "as_of",
        int,
        description="editors: the rows, columns and values as they were at this version (from the sheet's "
        "creation to its current version); filter, sort and view do not apply to the past",
    ),
    OpenApiParameter(
        "as_of_time",
        OpenApiTypes.DATETIME,
        description="editors: as at the last version committed at or before this ISO 8601 time",
    ),
]
_NOT_WITH_AS_OF = ("filter", "sort", "view")


def load_for_past(request: Request, pk: int, needed: Access = Access.EDIT) -> Sheet:
    sheet = Sheet.objects.filter(pk=pk).first()
    if sheet is None:
        raise NotFound("Sheet not found")
    # Any access first (another workspace's sheet is 404, as everywhere), then edit for the past.
    access = permissions.require_sheet(request.user, sheet, Access.VIEW)
    if access < needed:
        raise PermissionDenied(
            f"the sheet's past (every former value) is for editors; with view access, "
            f"read the current rows: GET /api/v1/sheets/{pk}/rows/"
        )
    return sheet


def wants_past(request: Request) -> bool:
    return "as_of" in request.query_params or "as_of_time" in request.query_params


def rows_as_of(request: Request, pk: int) -> dict:
    """GET .../rows/?as_of=<version> (or as_of_time=<time>): the answer of the rows as they were."""
    sheet = load_for_past(request, pk)
    params = request.query_params
    if "as_of" in params and "as_of_time" in params:
        raise InvalidInput("give either as_of or as_of_time, not both")
    used = [name for name in _NOT_WITH_AS_OF if name in params]
    if used:
        raise InvalidInput(f"{used[0]} does not apply to the past: read as_of without filter, sort or view")
    if "as_of" in params:
        version = time_travel.check_version(sheet, params["as_of"])
    else:
        version = time_travel.version_at(sheet, params["as_of_time"])
    window = time_travel.rows_window_at(
        sheet,
        version,
        offset=int_param(params, "offset", 0),
        limit=int_param(params, "limit", 200, low=1),
    )
    return {"version": sheet.version, "as_of": version, **window}


class RestoreSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=-INT64, max_value=INT64 - 1, help_text="the version to restore: from the sheet's creation to now"
    )
    scope = serializers.ChoiceField(choices=services.restore.SCOPES)
    row = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=INT64 - 1,
        help_text="the row's id (cell and row scopes)",
    )
    col = serializers.CharField(
        required=False, allow_null=True, max_length=16, help_text="the column's key (cell and column scopes)"
    )
    op_id = serializers.UUIDField(required=False, allow_null=True)


class Restore(APIView):
    @extend_schema(
        request=RestoreSerializer,
        responses=s.OperationSerializer,
        description="Set a cell (row and col), a row, a column (col) or the whole sheet back to how it was at "
        "`version`, as ONE operation (kind sheet.restore): broadcast to open grids, undone by undo, listed in "
        "history. Rows deleted since come back at their place; restoring the sheet also deletes the rows "
        "inserted since, moves rows back and brings the columns back (names, types, deleted and added ones). "
        "Values are set back as stored, without the columns' rules. A column deleted since is restored "
        "with the sheet, not alone. For editors.",
    )
    def post(self, request, pk):
        sheet = load_for_past(request, pk)
        serializer = RestoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operation = services.sheet_restore(sheet=sheet, actor=request.user, **serializer.validated_data)
        return Response(s.OperationSerializer(operation).data)


class Diff(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True, description="the earlier version"),
            OpenApiParameter("to", int, description="the later version (default: the current one)"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="What changed from one version to another: {from, to, columns: {added, removed, renamed, "
        "retyped}, rows: {added, removed} (with their values), cells: [{row, col, before, after}], truncated}. "
        f"At most {time_travel.MAX_DIFF_CELLS} changed cells are read; `truncated` says there were more. "
        "For editors.",
    )
    def get(self, request, pk):
        sheet = load_for_past(request, pk)
        params = request.query_params
        if "from" not in params:
            raise InvalidInput("from is required: the earlier version of the diff")
        start = time_travel.check_version(sheet, params["from"], "from")
        end = time_travel.check_version(sheet, params["to"], "to") if "to" in params else sheet.version
        return Response(time_travel.diff(sheet, start, end))

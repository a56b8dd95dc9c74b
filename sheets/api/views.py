"""REST API for sheets, columns, rows, cells and the operation log: parse, check, call one service."""

from dataclasses import asdict

from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from accounts.permissions import Access, require_workspace
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.params import int_param
from sheets import history, permissions, saved_views, selectors, services, sharing
from sheets.models import Sheet

from . import serializers as s
from . import time_travel_views


def load_sheet(request: Request, pk: int, needed: Access = Access.VIEW) -> tuple[Sheet, Access]:
    sheet = Sheet.objects.filter(pk=pk).first()
    if sheet is None:
        raise NotFound("Sheet not found")
    access = permissions.require_sheet(request.user, sheet, needed)
    return sheet, access


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _applied(operation, status_code=200):
    """What every write answers: the version it got and what changed."""
    return Response(s.OperationSerializer(operation).data, status=status_code)


def _int_param(request, name, default, low=0):
    return int_param(request.query_params, name, default, low)


class SheetList(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("workspace", int, description="only this workspace's sheets")],
        responses=s.SheetListSerializer(many=True),
    )
    def get(self, request):
        workspace = request.query_params.get("workspace")
        workspace_id = _int_param(request, "workspace", None) if workspace is not None else None
        return Response(s.SheetListSerializer(selectors.sheets_for_user(request.user, workspace_id), many=True).data)

    @extend_schema(request=s.SheetCreateSerializer, responses={201: s.SheetSerializer})
    def post(self, request):
        data = _valid(s.SheetCreateSerializer, request)
        access = require_workspace(request.user, data["workspace"], Access.EDIT)
        columns = data.get("columns")
        if columns is not None:
            columns = [{k: v for k, v in c.items() if k != "op_id"} for c in columns]
        sheet = services.sheet_create(
            workspace=Workspace.objects.get(pk=data["workspace"]),
            name=data["name"],
            actor=request.user,
            columns=columns,
        )
        return Response(s.SheetSerializer(sheet, context={"access": access.name.lower()}).data, status=201)


class SheetDetail(APIView):
    @extend_schema(responses=s.SheetSerializer)
    def get(self, request, pk):
        sheet, access = load_sheet(request, pk)
        data = s.SheetSerializer(sheet, context={"access": access.name.lower()}).data
        data["row_count"] = selectors.row_count(sheet)
        # Formula columns being recomputed in the background ({"columns", "done", "total"}, or
        # null): meanwhile the rows read return what is stored, the former values of rows not reached.
        data["recompute"] = selectors.recompute_progress(sheet)
        return Response(data)

    @extend_schema(request=s.SheetRenameSerializer, responses=s.OperationSerializer)
    def patch(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        data = _valid(s.SheetRenameSerializer, request)
        return _applied(services.sheet_rename(sheet=sheet, actor=request.user, **data))

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        services.sheet_delete(sheet=sheet, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SheetShare(APIView):
    @extend_schema(
        request=s.ShareSerializer,
        responses={202: s.ShareAnswerSerializer},
        description="Share the sheet with an e-mail address (level null: stop sharing). The account that has "
        "verified the address gets access now; without one, access waits until an account verifies "
        "it. The answer is the same 202 either way: it never tells whether the address has an account.",
    )
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        data = _valid(s.ShareSerializer, request)
        answer = sharing.share_sheet(
            sheet=sheet,
            email=data["email"],
            level=data["level"],
            invited_by=request.user,
            sheet_url=request.build_absolute_uri(reverse("sheet", args=[sheet.pk])),
        )
        return Response(answer, status=status.HTTP_202_ACCEPTED)


class ColumnList(APIView):
    @extend_schema(responses=s.ColumnSerializer(many=True))
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        return Response(s.ColumnSerializer(selectors.sheet_columns(sheet), many=True).data)

    @extend_schema(request=s.ColumnCreateSerializer, responses={201: s.OperationSerializer})
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        data = _valid(s.ColumnCreateSerializer, request)
        return _applied(services.column_add(sheet=sheet, actor=request.user, **data), 201)


class ColumnDetail(APIView):
    @extend_schema(request=s.ColumnUpdateSerializer, responses=s.OperationSerializer(many=True))
    def patch(self, request, pk, key):
        """Rename, retype and/or move a column; each change is its own operation."""
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        data = _valid(s.ColumnUpdateSerializer, request)
        with transaction.atomic():  # all of the changes or none; broadcasts wait for the commit
            applied = self._apply(request, sheet, key, data)
        return Response(s.OperationSerializer(applied, many=True).data)

    @staticmethod
    def _apply(request, sheet, key, data):
        applied = []
        if "name" in data:
            applied.append(services.column_rename(sheet=sheet, actor=request.user, key=key, name=data["name"]))
        if "type" in data or "options" in data:
            column = next((c for c in selectors.sheet_columns(sheet) if c.key == key), None)
            if column is None:
                raise NotFound(f"column {key!r} not found", col=key)
            applied.append(
                services.column_retype(
                    sheet=sheet,
                    actor=request.user,
                    key=key,
                    type=data.get("type", column.type),
                    options=data.get("options", column.options),
                )
            )
        if "after" in data or "before" in data:
            applied.append(
                services.column_move(
                    sheet=sheet, actor=request.user, key=key, after=data.get("after"), before=data.get("before")
                )
            )
        if not applied:
            raise InvalidInput("nothing to change: give name, type, options, after or before")
        return applied

    @extend_schema(responses=s.OperationSerializer)
    def delete(self, request, pk, key):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        return _applied(services.column_delete(sheet=sheet, actor=request.user, key=key))


class RowList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int),
            OpenApiParameter("limit", int),
            OpenApiParameter(
                "filter",
                str,
                many=True,
                description="column:op:value; op is one of " + ", ".join(sorted(selectors.FILTER_OPS)),
            ),
            OpenApiParameter("sort", str, description="column key, '-' in front for descending"),
            OpenApiParameter("view", int, description="a saved view whose filters and sorts apply"),
            *time_travel_views.AS_OF_PARAMETERS,
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, pk):
        if time_travel_views.wants_past(request):
            return Response(time_travel_views.rows_as_of(request, pk))
        sheet, _ = load_sheet(request, pk)
        return Response(rows_answer(request, sheet))

    @extend_schema(request=s.RowsInsertSerializer, responses={201: s.OperationSerializer})
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        return _applied(
            services.rows_insert(sheet=sheet, actor=request.user, **_valid(s.RowsInsertSerializer, request)), 201
        )


def view_and_filters(request: Request, sheet: Sheet) -> tuple[dict | None, list[tuple[str, str, str]], list[dict]]:
    """The saved view the query names (`view=<id>`, applied to the live columns), the ad hoc
    filters (`filter=column:op:value`) and the view's problems (columns deleted since it was saved)."""
    return saved_views.view_and_filters(
        sheet, request.user, request.query_params.get("view"), request.query_params.getlist("filter")
    )


def rows_answer(request: Request, sheet: Sheet) -> dict:
    """A window of the sheet's rows as the query asks (offset, limit, filter, sort, view): the
    answer of GET .../rows/, for members and public links alike (the past is for editors: a
    public link asking for it is refused, not answered with the present)."""
    if time_travel_views.wants_past(request):
        raise PermissionDenied("the sheet's past (as_of) is for editors; a public link reads the current rows")
    return saved_views.rows_answer(
        sheet,
        request.user,
        offset=_int_param(request, "offset", 0),
        limit=_int_param(request, "limit", 200, low=1),
        view_id=request.query_params.get("view"),
        raw_filters=request.query_params.getlist("filter"),
        sort=request.query_params.get("sort"),
    )


class RowsDelete(APIView):
    @extend_schema(request=s.RowsDeleteSerializer, responses=s.OperationSerializer)
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        return _applied(
            services.rows_delete(sheet=sheet, actor=request.user, **_valid(s.RowsDeleteSerializer, request))
        )


class RowsMove(APIView):
    @extend_schema(request=s.RowsMoveSerializer, responses=s.OperationSerializer)
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        return _applied(services.rows_move(sheet=sheet, actor=request.user, **_valid(s.RowsMoveSerializer, request)))


class Cells(APIView):
    @extend_schema(request=s.CellsUpdateSerializer, responses=s.OperationSerializer)
    def post(self, request, pk):
        """Set a batch of cells: all or nothing. A resent op_id returns the original result."""
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        return _applied(
            services.cells_update(sheet=sheet, actor=request.user, **_valid(s.CellsUpdateSerializer, request))
        )


class CellsPaste(APIView):
    @extend_schema(
        request=s.CellsUpdateSerializer,
        responses=OpenApiTypes.OBJECT,
        description="Paste a block: each value converted by its column's type and checked by its rules, as "
        "typing it would be. The cells that convert are set as ONE operation (undone at once); the others "
        "stay as they were and are listed: {operation, skipped: [{row, col, value, message}], skipped_count}. "
        "When none converts: 400, with the same list.",
    )
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        pasted = services.cells_paste(sheet=sheet, actor=request.user, **_valid(s.CellsUpdateSerializer, request))
        operation = s.OperationSerializer(pasted.operation).data
        return Response({"operation": operation, "skipped": [], "skipped_count": 0, **pasted.report()})


def _load_for_history(request: Request, pk: int, what: str) -> Sheet:
    # History is for editors: an operation carries the values it wrote, so the log holds every
    # value a cell ever had, including ones overwritten or deleted before the sheet was shared.
    sheet, access = load_sheet(request, pk)
    if access < Access.EDIT:
        raise PermissionDenied(
            f"{what} (every past value) is for editors; with view access, "
            f"read the current rows: GET /api/v1/sheets/{pk}/rows/"
        )
    return sheet


class Operations(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("since", int, required=True), OpenApiParameter("limit", int)],
        responses=s.OperationSerializer(many=True),
        description="The operation log after `since`, for editors (edit access or more); "
        "viewers get 403 and read the current rows instead.",
    )
    def get(self, request, pk):
        sheet = _load_for_history(request, pk, "the operation log")
        since = _int_param(request, "since", 0)
        limit = min(_int_param(request, "limit", 1000, low=1), 1000)
        operations = selectors.operations_since(sheet, since, limit)
        return Response({"version": sheet.version, "operations": s.OperationSerializer(operations, many=True).data})


class History(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("row", int, required=True, description="the row's id (a deleted row's too)"),
            OpenApiParameter("col", str, description="a column key: that cell's history; absent: the whole row's"),
            OpenApiParameter("before", int, description="the `next` of the previous page"),
            OpenApiParameter(
                "limit", int, description=f"changes per page, default {history.PAGE}, at most {history.MAX_PAGE}"
            ),
        ],
        responses=s.HistoryPageSerializer,
        description="The changes of one row or one cell, newest first, with who made them and the value "
        "before and after; a row's creation (before null) and deletion (after null) included. For editors "
        "(edit access or more); viewers get 403 and read the current rows instead.",
    )
    def get(self, request, pk):
        sheet = _load_for_history(request, pk, "the history of a cell or a row")
        params = request.query_params
        row = int_param(params, "row", None, low=1)
        if row is None:
            raise InvalidInput("row is required: the id of the row whose history to list")
        before = int_param(params, "before", None, low=1)
        limit = int_param(params, "limit", history.PAGE, low=1, high=history.MAX_PAGE)
        col = params.get("col")
        entries, following = history.row_history(sheet, row, col, before=before, limit=limit)
        return Response({"results": [asdict(e) for e in entries], "next": following})

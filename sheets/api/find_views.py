"""REST API of find and replace over a whole sheet: readers find, editors replace."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from core.errors import InvalidInput
from sheets import find
from sheets.models import Sheet
from sheets.services.replace import replace_all

from . import serializers as s
from .views import _int_param, load_sheet, view_and_filters

MAX_PAGE = 500
SCOPE_PARAMETERS = [
    OpenApiParameter("view", int, description="a saved view: only the rows it shows, in its order"),
    OpenApiParameter("filter", str, many=True, description="column:op:value, as GET .../rows/ takes it"),
]


def scope_of(request: Request, sheet: Sheet) -> find.Scope:
    """The rows the query's view, filters and sort show (as GET .../rows/ reads them)."""
    view, filters, _ = view_and_filters(request, sheet)
    return find.Scope(view=view, filters=tuple(filters), sort=request.query_params.get("sort") or None)


class SheetFind(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="literal text to find (no pattern characters)"),
            OpenApiParameter("match_case", bool),
            OpenApiParameter("whole_cell", bool),
            OpenApiParameter("columns", str, description="comma-separated column keys (default: every column)"),
            OpenApiParameter("cursor", str, description="the `next` of the previous page"),
            OpenApiParameter("limit", int, description=f"matches per page, at most {MAX_PAGE}"),
            *SCOPE_PARAMETERS,
            OpenApiParameter("sort", str, description="column key, '-' in front for descending"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="Matches over the whole sheet in sheet order, or over the rows a view shows in its order "
        "(view, filter, sort as GET .../rows/ takes them): {total, matches: [{row, col, index}], next}; "
        "`index` is the row's place in the sheet (or the view).",
    )
    def get(self, request: Request, pk: int) -> Response:
        sheet, _ = load_sheet(request, pk)
        params = request.query_params
        query = find.parse_query(
            params.get("q"),
            match_case=params.get("match_case"),
            whole_cell=params.get("whole_cell"),
            columns=params.get("columns"),
        )
        limit = min(_int_param(request, "limit", 100, low=1), MAX_PAGE)
        answer = find.find(
            sheet, query, cursor=params.get("cursor") or None, limit=limit, scope=scope_of(request, sheet)
        )
        return Response({"version": sheet.version, **answer})


class SheetReplace(APIView):
    @extend_schema(
        parameters=SCOPE_PARAMETERS,
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        description="Replace every match in the sheet's text columns (with ?view= and filter=, in the rows "
        "that view shows only) as ONE operation (undoable): "
        "{q, replacement, match_case, whole_cell, columns?, op_id?} -> {replaced, skipped, operation}. "
        "A replacement its column refuses is skipped and listed in `skipped`.",
    )
    def post(self, request: Request, pk: int) -> Response:
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        data = request.data
        if not isinstance(data, dict) or set(data) - {
            "q",
            "replacement",
            "match_case",
            "whole_cell",
            "columns",
            "op_id",
        }:
            raise InvalidInput("give an object {q, replacement, match_case, whole_cell, columns, op_id}")
        query = find.parse_query(
            data.get("q"),
            match_case=data.get("match_case", False),
            whole_cell=data.get("whole_cell", False),
            columns=data.get("columns"),
        )
        outcome = replace_all(
            sheet=sheet,
            actor=request.user,
            query=query,
            replacement=data.get("replacement", ""),
            op_id=data.get("op_id"),
            scope=scope_of(request, sheet),
        )
        operation = s.OperationSerializer(outcome.operation).data if outcome.operation else None
        return Response(
            {
                "version": sheet.version,
                "replaced": outcome.replaced,
                "skipped": outcome.skipped[:1000],
                "skipped_count": len(outcome.skipped),
                "operation": operation,
            }
        )

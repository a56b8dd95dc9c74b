"""REST API of metric reads: aggregates, the workspace's metric list and exports of the history.
Parse, check permission, call one selector."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, permissions
from accounts.permissions import Access
from core import exports

from . import aggregation, metric_aggregates
from . import exports as metric_exports

AGGREGATE_PARAMETERS = [
    OpenApiParameter("metric", str, required=True, description="a metric name, or several separated by commas"),
    OpenApiParameter("agg", str, enum=list(aggregation.AGGREGATES), description="default sum"),
    OpenApiParameter("bucket", str, enum=list(aggregation.BUCKETS), description="without it: totals only"),
    OpenApiParameter("group_by", str, description="a tag key (or metric, source)"),
    OpenApiParameter("tag", str, many=True, description="key:value, repeatable; all must match"),
    OpenApiParameter("from", str, description="ISO date or datetime (UTC unless given); default an hour before to"),
    OpenApiParameter("to", str, description="ISO date (end of that day) or datetime; default now"),
    OpenApiParameter("top", int, description="only the N groups with the largest aggregate"),
]


class MetricAggregate(APIView):
    @extend_schema(parameters=AGGREGATE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        query = metric_aggregates.parse_aggregate_params(request.query_params)
        return Response(metric_aggregates.metric_aggregate(workspace_id=pk, query=query))


class MetricList(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        return Response(metric_aggregates.metric_catalog(workspace_id=pk))


class MetricExport(APIView):
    content_negotiation_class = exports.FormatIsNotARenderer

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, description="a metric, several separated by commas, or all when absent"),
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
            OpenApiParameter("format", str, enum=list(exports.EXPORT_TYPES), description="csv (default) or xlsx"),
        ],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, exports.EXPORT_TYPES["xlsx"]): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        permissions.require_workspace(request.user, pk, Access.VIEW)
        names, start, end, kind = metric_exports.parse_export_params(request.query_params)
        selection = {"workspace_id": pk, "metric_names": names, "start": start, "end": end}
        filename = metric_exports.export_filename(kind, names)
        audit.record("export", workspace=pk, target="metrics", format=kind, metrics=names or "all")
        if kind == "csv":
            return exports.download(
                request, kind=kind, filename=filename, chunks=metric_exports.export_csv_chunks(**selection)
            )
        return exports.download(
            request, kind=kind, filename=filename, file=metric_exports.export_xlsx_file(**selection)
        )

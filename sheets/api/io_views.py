"""REST API for CSV import (inline, or as a polled job) and CSV / XLSX export of a sheet."""
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from sheets import io, permissions, selectors
from core.errors import InvalidInput
from sheets.models import ImportJob
from sheets.permissions import Access

from .serializers import SheetSerializer
from .views import load_sheet


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = ["id", "status", "progress", "rows", "error", "sheet", "name", "file_name", "created_at", "updated_at"]


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    name = serializers.CharField(max_length=200, required=False)


class WorkspaceImport(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        # The size limit holds while the upload streams: a handler ahead of Django's stops it at
        # the limit (413) rather than storing all of it first.
        request.upload_handlers.insert(0, io.LimitedUpload(request))
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={201: SheetSerializer, 202: ImportJobSerializer},
    )
    def post(self, request, pk):
        """Import a CSV file as a new sheet. Small files answer 201 with the sheet; larger ones
        202 with an import job to poll at /imports/<id>/."""
        permissions.require_workspace(request.user, pk, Access.EDIT)
        io.imports_reap_once()
        result = io.upload_import(
            upload=request.FILES.get("file"), workspace=io.workspace_for_import(pk), actor=request.user,
            name=request.data.get("name"),
        )
        if isinstance(result, ImportJob):
            return Response(ImportJobSerializer(result).data, status=202)
        access = permissions.sheet_access(request.user, result).name.lower()
        data = SheetSerializer(result, context={"access": access}).data
        data["row_count"] = selectors.row_count(result)
        return Response(data, status=201)


class ImportJobDetail(APIView):
    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, pk):
        return Response(ImportJobSerializer(io.import_job_for(request.user, pk)).data)


class _FormatIsNotARenderer(DefaultContentNegotiation):
    """?format= names the export's file type here; errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _streamed(request, chunks):
    """Under ASGI Django would read a synchronous iterator to the end before sending anything;
    hand it an asynchronous one that pulls each chunk (and its queries) in the sync thread."""
    if not isinstance(getattr(request, "_request", request), ASGIRequest):
        return chunks
    done = object()
    pull = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    close = sync_to_async(chunks.close, thread_sensitive=True)

    async def stream():
        try:
            while (chunk := await pull()) is not done:
                yield chunk
        finally:
            await close()

    return stream()


def _file_chunks(file, size=256 * 1024):
    with file:
        while chunk := file.read(size):
            yield chunk


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class SheetExport(APIView):
    content_negotiation_class = _FormatIsNotARenderer

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(EXPORT_TYPES), description="csv (default) or xlsx")],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, EXPORT_TYPES["xlsx"]): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        kind = request.query_params.get("format", "csv")
        if kind not in EXPORT_TYPES:
            raise InvalidInput("format must be csv or xlsx")
        if kind == "csv":
            chunks, size = io.csv_chunks(sheet), None
        else:
            workbook = io.xlsx_file(sheet)
            size = workbook.seek(0, 2)
            workbook.seek(0)
            chunks = _file_chunks(workbook)
        response = StreamingHttpResponse(_streamed(request, chunks), content_type=EXPORT_TYPES[kind])
        if size is not None:
            response["Content-Length"] = str(size)
        response["Content-Disposition"] = content_disposition_header(True, io.export_filename(sheet, kind))
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

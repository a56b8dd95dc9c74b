"""REST API for CSV import (inline, or as a polled job) and CSV / XLSX export of a sheet."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit
from accounts.permissions import Access, require_workspace
from core import exports
from core.errors import InvalidInput
from sheets import io, permissions, selectors
from sheets.models import ImportJob

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
        require_workspace(request.user, pk, Access.EDIT)
        io.imports_reap_once()
        result = io.upload_import(
            upload=request.FILES.get("file"),
            workspace=io.workspace_for_import(pk),
            actor=request.user,
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


class SheetExport(APIView):
    content_negotiation_class = exports.FormatIsNotARenderer

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(exports.EXPORT_TYPES), description="csv (default) or xlsx")
        ],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, exports.EXPORT_TYPES["xlsx"]): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        kind = request.query_params.get("format", "csv")
        if kind not in exports.EXPORT_TYPES:
            raise InvalidInput("format must be csv or xlsx")
        filename = io.export_filename(sheet, kind)
        audit.record("export", workspace=sheet.workspace_id, target=sheet, format=kind)
        if kind == "csv":
            return exports.download(request, kind=kind, filename=filename, chunks=io.csv_chunks(sheet))
        return exports.download(request, kind=kind, filename=filename, file=io.xlsx_file(sheet))

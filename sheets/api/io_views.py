"""REST API for CSV and workbook import (inline, or as a polled job; a preview first) and CSV /
XLSX export of a sheet."""

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
        fields = [
            "id",
            "status",
            "progress",
            "rows",
            "error",
            "sheet",
            "sheets",
            "notes",
            "name",
            "file_name",
            "created_at",
            "updated_at",
        ]

    notes = serializers.SerializerMethodField()

    def get_notes(self, job) -> list[str]:
        return list(job.options.get("notes", []))


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    name = serializers.CharField(max_length=200, required=False)
    sheets = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="A workbook's worksheets to import (repeatable field); all non-empty ones by default.",
    )
    date_order = serializers.ChoiceField(
        choices=["dmy", "mdy"],
        required=False,
        help_text="How to read CSV dates like 01/02/2024 in a column where every one reads both ways.",
    )


def _worksheets(request) -> list[str] | None:
    names = request.data.getlist("sheets") if hasattr(request.data, "getlist") else request.data.get("sheets")
    if not names:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) and n and len(n) <= 200 for n in names):
        raise InvalidInput("sheets must be worksheet names (non-empty text of at most 200 characters)")
    return names


def _sheet_data(request, sheet):
    access = permissions.sheet_access(request.user, sheet).name.lower()
    data = SheetSerializer(sheet, context={"access": access}).data
    data["row_count"] = selectors.row_count(sheet)
    return data


class WorkspaceImport(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        # The size limit holds while the upload streams: a handler ahead of Django's stops it at
        # the limit (413) rather than storing all of it first.
        request.upload_handlers.insert(0, io.LimitedUpload(request))
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        parameters=[OpenApiParameter("preview", bool, description="1: answer what would be imported, import nothing")],
        responses={200: OpenApiTypes.OBJECT, 201: SheetSerializer, 202: ImportJobSerializer},
    )
    def post(self, request, pk):
        """Import a CSV file or a workbook (.xlsx, .xlsm, .xlsb, .xls, .ods) as new sheets: a
        workbook's worksheets named in `sheets` (repeatable; default all non-empty ones), each as
        "<name> – <worksheet>". Small files answer 201 with the (first) sheet, `sheets` listing
        all of them and `notes` (CSV date columns kept as text because they read both day-first
        and month-first: send `date_order` dmy or mdy); larger ones 202 with an import job to poll at
        /imports/<id>/. With ?preview=1, 200 with the format and, per worksheet, its name, data
        rows, columns (name, inferred type) and first rows; nothing is imported."""
        require_workspace(request.user, pk, Access.EDIT)
        if request.query_params.get("preview") in ("1", "true"):
            return Response(
                io.upload_preview(upload=request.FILES.get("file"), date_order=request.data.get("date_order"))
            )
        io.imports_reap_once()
        result = io.upload_import(
            upload=request.FILES.get("file"),
            workspace=io.workspace_for_import(pk),
            actor=request.user,
            name=request.data.get("name"),
            worksheets=_worksheets(request),
            date_order=request.data.get("date_order"),
        )
        if isinstance(result, ImportJob):
            return Response(ImportJobSerializer(result).data, status=202)
        data = _sheet_data(request, result.sheets[0])
        data["sheets"] = [_sheet_data(request, sheet) for sheet in result.sheets]
        data["notes"] = result.notes
        return Response(data, status=201)


class SheetImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    mode = serializers.ChoiceField(choices=["append", "upsert"])
    key = serializers.CharField(required=False, help_text="upsert: the sheet column (key) rows are matched on")
    mapping = serializers.CharField(
        required=False,
        help_text="JSON object {file column name: sheet column key or null}; default: columns of the same name",
    )
    sheet = serializers.CharField(required=False, help_text="a workbook's worksheet (default: the first non-empty)")
    date_order = serializers.ChoiceField(choices=["dmy", "mdy"], required=False)


class SheetImport(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        request.upload_handlers.insert(0, io.LimitedUpload(request))
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": SheetImportSerializer},
        parameters=[OpenApiParameter("preview", bool, description="1: answer what would happen, change nothing")],
        responses={200: OpenApiTypes.OBJECT, 202: ImportJobSerializer},
    )
    def post(self, request, pk):
        """Import a CSV file or a workbook's worksheet into this sheet: `mode` append (every row
        added) or upsert (rows whose `key` column matches updated, the others added), file columns
        mapped by `mapping` or by name. One operation, undoable, broadcast live. Any bad row: 400
        listing the rows and reasons (`rows`), nothing applied. With ?preview=1: the counts of new,
        updated and unchanged rows, the bad rows and the first rows, nothing changed. Both answer
        the file's `columns`, a workbook's `worksheets` (names) and the `sheet` read; so does a
        400 for a mapping or key that does not fit the file. A large file (IMPORT_INLINE_BYTES)
        answers 202 with an import job to poll at /imports/<id>/, which applies it (or fails, the
        bad rows in its error, nothing applied)."""
        sheet, _ = load_sheet(request, pk, Access.EDIT)
        preview = request.query_params.get("preview") in ("1", "true")
        io.imports_reap_once()
        answer = io.sheet_upload_import(
            sheet=sheet,
            actor=request.user,
            upload=request.FILES.get("file"),
            mode=request.data.get("mode"),
            key=request.data.get("key"),
            mapping=request.data.get("mapping"),
            worksheet=request.data.get("sheet"),
            date_order=request.data.get("date_order"),
            preview=preview,
        )
        if isinstance(answer, ImportJob):
            return Response(ImportJobSerializer(answer).data, status=202)
        return Response(answer)


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

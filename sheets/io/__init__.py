"""Sheets in and out as files: CSV import (csv_import), workbook import (workbook_import: XLSX, XLS,
ODS), uploads and import jobs (jobs), CSV and
XLSX export (export). Callers use this facade; text a spreadsheet would run as a formula is
neutralized on the way out and restored on the way in (core.exports)."""

from .csv_import import analyze_csv, csv_import, csv_preview, sheet_name_for, sniff_csv
from .export import csv_chunks, export_filename, xlsx_file
from .into_sheet import import_into_sheet
from .job_reaping import import_job_for, import_reap, imports_reap, imports_reap_once, imports_swept
from .jobs import (
    INTERRUPTED,
    PROCESS,
    Imported,
    LimitedUpload,
    import_run,
    run_import_job,
    sheet_upload_import,
    upload_import,
    upload_preview,
    workspace_for_import,
)
from .workbook_import import analyze_workbook, is_workbook, workbook_import, workbook_preview

__all__ = [
    "analyze_csv",
    "csv_import",
    "csv_preview",
    "import_into_sheet",
    "analyze_workbook",
    "is_workbook",
    "workbook_import",
    "workbook_preview",
    "upload_preview",
    "sheet_name_for",
    "sniff_csv",
    "csv_chunks",
    "export_filename",
    "xlsx_file",
    "INTERRUPTED",
    "Imported",
    "PROCESS",
    "LimitedUpload",
    "import_job_for",
    "import_reap",
    "imports_reap",
    "imports_reap_once",
    "import_run",
    "imports_swept",
    "run_import_job",
    "sheet_upload_import",
    "upload_import",
    "workspace_for_import",
]

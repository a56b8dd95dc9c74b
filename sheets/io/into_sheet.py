"""Import a CSV or workbook into an existing sheet: the file's columns mapped onto the sheet's (by
name unless a mapping is given), then appended or upserted on a key column as one operation
(sheets.services.rows_import), or previewed without writing."""

import json
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from accounts.models import User
from core.errors import InvalidInput, TooLarge

from .. import services
from ..models import Operation, Sheet
from ..services.columns import active_columns
from ..services.imports import APPEND, UPSERT
from .csv_import import _binary, _data_rows, analyze_csv
from .workbook_import import analyze_workbook, is_workbook, worksheet_names

SAMPLE_ROWS = 5


def _table(upload, worksheet, date_order):
    """The file's column names and rows ({column name: text}, empty cells left out); notes; the
    workbook's worksheet names and the one read (none for a CSV file)."""
    if is_workbook(upload, upload.name):
        plan = analyze_workbook(upload, [worksheet] if worksheet else None)[0]
        names = [c["name"] for c in plan.columns]
        rows = [{n: t for n, t in zip(names, texts) if t.strip() != ""} for texts in plan.rows]
        return names, rows, [], {"worksheets": worksheet_names(upload), "sheet": plan.worksheet}
    if worksheet:
        raise InvalidInput("sheet (a worksheet's name) can only be given for a workbook")
    file = _binary(upload)
    plan = analyze_csv(file, date_order=date_order)
    if plan.rows > settings.GRIDCAST["MAX_INSERT_ROWS"]:
        raise TooLarge(f"at most {settings.GRIDCAST['MAX_INSERT_ROWS']} rows can be imported into a sheet at once")
    names = [c["name"] for c in plan.columns]
    keys = {f"c{i}": name for i, name in enumerate(names, start=1)}
    rows = [{keys[k]: v for k, v in row.items()} for row in _data_rows(file, plan)]
    return names, rows, plan.notes, {"worksheets": [], "sheet": None}


def _mapping(raw: Any, names: list[str], sheet: Sheet) -> dict[str, str]:
    """{file column name: sheet column key}: the one given (JSON object; null leaves a column out),
    else the file's columns whose name is a sheet column's (ignoring case)."""
    columns = active_columns(sheet)
    if raw in (None, ""):
        by_name = {c.name.strip().lower(): key for key, c in columns.items()}
        mapping = {n: by_name[n.strip().lower()] for n in names if n.strip().lower() in by_name}
    else:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise InvalidInput("mapping must be a JSON object of file column name to sheet column key") from None
        if not isinstance(raw, dict):
            raise InvalidInput("mapping must be an object of file column name to sheet column key")
        mapping = {}
        for name, key in raw.items():
            if name not in names:
                raise InvalidInput(f"mapping: the file has no column {str(name)[:100]!r}")
            if key is None:
                continue
            if not isinstance(key, str) or key not in columns:
                raise InvalidInput(f"mapping: the sheet has no column {str(key)[:100]!r}")
            mapping[name] = key
    targets = list(mapping.values())
    if len(set(targets)) != len(targets):
        raise InvalidInput("mapping: two file columns go to the same sheet column")
    if not mapping:
        raise InvalidInput("no column of the file matches a column of the sheet by name: give a mapping")
    return mapping


def import_into_sheet(
    *,
    sheet: Sheet,
    actor: User,
    upload: UploadedFile | None,
    mode: str,
    key: str | None = None,
    mapping: Any = None,
    worksheet: str | None = None,
    date_order: str | None = None,
    preview: bool = False,
) -> dict[str, Any]:
    """Import the upload into the sheet (one rows.import operation) or, with `preview`, say what
    it would do. Answers the file's columns (and a workbook's worksheet names, and the one read),
    the mapping used, counts of new, updated and unchanged rows, the bad rows with reasons, and
    (applied) the operation's version. Any bad row: InvalidInput listing them, nothing applied.
    A mapping or key that does not fit: InvalidInput carrying the file's columns and worksheets,
    so that a client can offer the mapping to fix it."""
    if upload is None:
        raise InvalidInput("file is required (a CSV file or a workbook in the multipart field 'file')")
    if upload.size > settings.GRIDCAST["MAX_IMPORT_BYTES"]:
        raise TooLarge(f"the file is larger than {settings.GRIDCAST['MAX_IMPORT_BYTES']} bytes")
    if mode not in (APPEND, UPSERT):
        raise InvalidInput("mode must be append or upsert")
    if mode == UPSERT and not key:
        raise InvalidInput("key is required for upsert: the key of the sheet column rows are matched on")
    names, table, notes, source = _table(upload, worksheet, date_order)
    described = {"columns": names, **source}
    try:
        used = _mapping(mapping, names, sheet)
        if mode == UPSERT and key not in used.values():
            raise InvalidInput("key must be the key of a sheet column that a file column is mapped to")
    except InvalidInput as error:
        raise InvalidInput(error.message, **error.detail, **described) from None
    rows = [{used[n]: v for n, v in row.items() if n in used} for row in table]
    answer = {**described, "mapping": used, "rows": len(rows), "notes": notes}
    if preview:
        plan = services.import_plan(sheet=sheet, rows=rows, mode=mode, key=key)
        sample = [[row.get(n, "") for n in names] for row in table[:SAMPLE_ROWS]]
        return {**answer, **plan.summary(), "sample": sample}
    op: Operation = services.rows_import(sheet=sheet, actor=actor, rows=rows, mode=mode, key=key)
    updated = len({c["row"] for c in op.payload["cells"]})
    return {**answer, "new": len(op.payload["rows"]), "updated": updated, "version": op.version}

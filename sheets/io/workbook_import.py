"""Workbook import (XLSX, XLSM, XLSB, XLS, ODS, read by python-calamine): each chosen worksheet
becomes a new sheet. Cells come typed (numbers, booleans, dates, moments; a formula's cached
value); each is turned into the text the CSV import would have read and typed through the same
registry inference (sheets.column_types), except that a cell the workbook holds as text stays
text. The first non-empty row is the header; a header cell merged across columns names each of
them, blank and repeated names are made unique as for CSV."""

import datetime as dt
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import python_calamine
from django.conf import settings

from accounts.models import User, Workspace
from core.errors import CellValueInvalid, InvalidInput, TooLarge

from .. import column_types, services
from ..models import Sheet
from ..values import format_number
from .csv_import import ANALYZE_SHARE, CHUNK_ROWS, BinaryFile, Progress, _binary, _column_names, _insert, discard

WORKBOOK_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old Excel (.xls), and encrypted XLSX
SAMPLE_ROWS = 5


def is_workbook(file: BinaryFile, file_name: str | None) -> bool:
    """Whether the upload is a workbook, by its first bytes (a ZIP with a workbook's parts, or an
    OLE compound file) or a ZIP with a workbook's extension."""
    file = _binary(file)
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    if head.startswith(_OLE):
        return True
    if not head.startswith(_ZIP):
        return False
    if os.path.splitext(file_name or "")[1].lower() in WORKBOOK_EXTENSIONS:
        return True
    try:
        names = set(zipfile.ZipFile(file).namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        file.seek(0)
    return "xl/workbook.xml" in names or "xl/workbook.bin" in names or "content.xml" in names


_PROTECTED = "the workbook is protected by a password: remove the password and upload it again"
# A password-protected XLSX, XLSM or XLSB is an OLE compound file holding these streams (named in
# UTF-16 in its directory); calamine cannot tell it from a damaged file ("Cannot detect file format").
_ENCRYPTED_STREAMS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))


def _open(file):
    file = _binary(file)
    file.seek(0)
    content = file.read()
    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except python_calamine.PasswordError:
        raise InvalidInput(_PROTECTED) from None
    except Exception as error:  # calamine's errors (zip, XML, format) and panics alike
        encrypted = content.startswith(_OLE) and all(name in content for name in _ENCRYPTED_STREAMS)
        if encrypted or "password" in str(error).lower() or "encrypt" in str(error).lower():
            raise InvalidInput(_PROTECTED) from None
        raise InvalidInput(f"the workbook cannot be read (damaged, or not a workbook): {str(error)[:200]}") from None


def _cell_text(value: Any) -> str:
    """A workbook's cell as the text an import reads: ISO dates and moments, plain numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dt.time, dt.timedelta)):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, int):
        return str(value)
    return str(value)


@dataclass
class WorksheetPlan:
    """One worksheet, read: its columns ({name, type}) and data rows (texts, one per column)."""

    worksheet: str
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    header: list = field(default_factory=list)


def _grid(sheet):
    """The worksheet's cells from its first non-empty row, merged header cells spread out."""
    try:
        rows = [list(r) for r in sheet.to_python(skip_empty_area=True)]
        merged = sheet.merged_cell_ranges or []
    except Exception as error:
        raise InvalidInput(f"worksheet {sheet.name!r} cannot be read: {str(error)[:200]}") from None
    start_row, start_col = sheet.start or (0, 0)
    while rows and all(v in ("", None) for v in rows[0]):
        rows.pop(0)
        start_row += 1
    while rows and all(v in ("", None) for v in rows[-1]):
        rows.pop()
    if not rows:
        return rows
    header = rows[0]
    for (r0, c0), (r1, c1) in merged:
        # A range merged across columns in the header: its text names every column it covers.
        left = c0 - start_col
        if r0 <= start_row <= r1 and c1 > c0 and 0 <= left < len(header):
            for col in range(left + 1, min(c1 - start_col + 1, len(header))):
                if header[col] in ("", None):
                    header[col] = header[left]
    return rows


def _plan(sheet) -> WorksheetPlan:
    rows = _grid(sheet)
    plan = WorksheetPlan(worksheet=sheet.name)
    if not rows:
        return plan
    max_columns = settings.GRIDCAST["MAX_COLUMNS"]
    max_chars = settings.GRIDCAST["MAX_CELL_CHARS"]
    width = max(len(r) for r in rows)
    while width and all(len(r) < width or r[width - 1] in ("", None) for r in rows):
        width -= 1
    if width > max_columns:
        raise TooLarge(f"worksheet {sheet.name!r} has {width} columns; a sheet has at most {max_columns}")
    header = [_cell_text(v).strip() for v in rows[0][:width]]
    plan.header = header
    guesses = [column_types.TypeGuess() for _ in range(width)]
    for number, row in enumerate(rows[1:], start=1):
        texts = [_cell_text(v) for v in row[:width]] + [""] * max(0, width - len(row))
        if not any(t.strip() for t in texts):
            continue
        for index, (value, text) in enumerate(zip(row[:width], texts)):
            if len(text) > max_chars:
                raise CellValueInvalid(
                    f"worksheet {sheet.name!r}, row {number + 1}, column {index + 1}: value is longer than "
                    f"{max_chars} characters",
                    row=number,
                    col=index + 1,
                )
            guesses[index].add(text, as_text=isinstance(value, str))  # what the workbook holds as text stays text
        plan.rows.append(texts)
    names = _column_names(header, width)
    plan.columns = [{"name": n, "type": g.type} for n, g in zip(names, guesses)]
    return plan


def _chosen(book, wanted):
    names = list(book.sheet_names)
    if wanted:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise InvalidInput(f"the workbook has no worksheet named {missing[0]!r} (it has: {', '.join(names)})")
        return list(dict.fromkeys(wanted))
    return names


def analyze_workbook(file: BinaryFile, worksheets: list[str] | None = None) -> list[WorksheetPlan]:
    """The chosen worksheets (all non-empty ones by default) read and typed; InvalidInput when the
    workbook is broken, protected, or has nothing to import."""
    book = _open(file)
    try:
        plans = [_plan(book.get_sheet_by_name(name)) for name in _chosen(book, worksheets)]
    finally:
        book.close()
    if worksheets:
        empty = [p.worksheet for p in plans if not p.columns]
        if empty:
            raise InvalidInput(f"worksheet {empty[0]!r} is empty")
    plans = [p for p in plans if p.columns]
    if not plans:
        raise InvalidInput("the workbook is empty: no worksheet holds any cells")
    return plans


def worksheet_names(file: BinaryFile) -> list[str]:
    """The workbook's worksheet names, in its order."""
    book = _open(file)
    try:
        return list(book.sheet_names)
    finally:
        book.close()


def workbook_preview(file: BinaryFile) -> list[dict]:
    """Every worksheet: its name, data rows, columns (name and inferred type) and first rows."""
    book = _open(file)
    try:
        result = []
        for name in book.sheet_names:
            plan = _plan(book.get_sheet_by_name(name))
            result.append(
                {
                    "name": name,
                    "rows": len(plan.rows),
                    "columns": plan.columns,
                    "sample": plan.rows[:SAMPLE_ROWS],
                }
            )
        return result
    finally:
        book.close()


def sheet_name_for_worksheet(base: str, worksheet: str, *, only: bool, named: bool) -> str:
    """ "<file> – <worksheet>", or the name given when one worksheet is imported."""
    if only and named:
        return base
    return f"{base} – {worksheet}"[:200].strip()


def workbook_import(
    *,
    file: BinaryFile,
    workspace: Workspace,
    actor: User | None,
    base_name: str,
    named: bool = False,
    worksheets: list[str] | None = None,
    progress: Progress | None = None,
    created: Callable[[Sheet], None] | None = None,
) -> list[Sheet]:
    """New sheets in `workspace`, one per chosen worksheet, rows inserted in chunks (one operation
    each). All or nothing: when one fails, the sheets made so far are deleted and the error raised."""
    plans = analyze_workbook(file, worksheets)
    total = sum(len(p.rows) for p in plans) or 1
    if progress is not None:
        progress(ANALYZE_SHARE, 0)
    sheets: list[Sheet] = []
    inserted = 0
    chunk_size = min(CHUNK_ROWS, settings.GRIDCAST["MAX_INSERT_ROWS"])
    try:
        for plan in plans:
            name = sheet_name_for_worksheet(base_name, plan.worksheet, only=len(plans) == 1, named=named)
            sheet = services.sheet_create(workspace=workspace, name=name, actor=actor, columns=plan.columns)
            sheets.append(sheet)
            if created is not None:
                created(sheet)
            keys = [f"c{i}" for i in range(1, len(plan.columns) + 1)]
            typed = [c["type"] != column_types.TEXT for c in plan.columns]
            done = 0
            for start in range(0, len(plan.rows), chunk_size):
                chunk = [
                    {k: v for k, v, t in zip(keys, texts, typed) if v != "" and not (t and v.isspace())}
                    for texts in plan.rows[start : start + chunk_size]
                ]
                done += _insert(sheet, actor, chunk, done)
                inserted += len(chunk)
                if progress is not None:
                    progress(ANALYZE_SHARE + (1 - ANALYZE_SHARE) * inserted / total, inserted)
    except BaseException:
        for sheet in sheets:
            discard(sheet, actor)
        raise
    if progress is not None:
        progress(1.0, inserted)
    return sheets

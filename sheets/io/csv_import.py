"""CSV import into a new sheet, streamed in two passes: infer column types (sheets.column_types),
then insert rows in chunks of operations."""

import codecs
import csv
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import charset_normalizer
from django.conf import settings
from django.core.files import File

from accounts.models import User, Workspace
from core.errors import CellValueInvalid, InvalidInput, TooLarge
from core.exports import NEUTRALIZED, unneutralize

from .. import column_types, services
from ..models import Sheet
from ..values import check_text
from .dates import DATE_ORDERS, DateGuess, convert

log = logging.getLogger(__name__)

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t"
# Share of the progress bar for the first pass (reading and inferring types); inserting is slower.
ANALYZE_SHARE = 0.1
CHUNK_ROWS = 2000

# A binary file: an open one, or Django's (an upload).
BinaryFile = IO[bytes] | File
# progress(fraction done, rows inserted so far)
Progress = Callable[[float, int], None]


# --- reading CSV -------------------------------------------------------------------------------

# Files that are certainly not CSV, by their first bytes.
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (and not a workbook)",
    b"\xd0\xcf\x11\xe0": "an Office document (and not a workbook)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

# Text that does not decode as UTF-8 is detected (charset-normalizer) among the Windows code pages
# people's spreadsheets save in: Cyrillic (Windows-1251) and Greek (Windows-1253) as detected; any
# Latin one is read as Windows-1252 (a superset of Latin-1 in what people type: € “ ” …; short
# Western samples are easily mistaken for Central European ones), with the few bytes it leaves
# undefined taken as Latin-1.
codecs.register_error("gridcast.latin1", lambda e: (e.object[e.start : e.end].decode("latin-1"), e.end))
_FALLBACK = ("cp1252", "gridcast.latin1")
_CANDIDATES = ["cp1252", "cp1250", "cp1251", "cp1253"]
_NOT_LATIN = {"cp1251", "cp1253"}


def _detect_legacy(head):
    """The encoding of text that is not UTF-8, from its first bytes."""
    best = charset_normalizer.from_bytes(head, cp_isolation=_CANDIDATES).best()
    if best is not None and best.encoding in _NOT_LATIN:
        return best.encoding, "strict"
    return _FALLBACK


@dataclass
class CsvLayout:
    """How a CSV file is read: encoding (with its error handler) and delimiter."""

    encoding: str
    errors: str
    delimiter: str

    @property
    def dialect(self) -> dict[str, Any]:
        return {"delimiter": self.delimiter, "quotechar": '"', "doublequote": True, "strict": False}


@dataclass
class CsvPlan:
    """What the first pass learned: the columns to create and how many rows follow the header."""

    layout: CsvLayout
    columns: list = field(default_factory=list)
    rows: int = 0
    # Columns of dates as people write them (sheets.io.dates): index -> (day/month order, has times).
    dates: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # what the user should know (ambiguous dates kept as text)


def _binary(file):
    """The io object under Django's File wrappers (TextIOWrapper needs a real one)."""
    while not isinstance(file, io.IOBase) and hasattr(file, "file"):
        file = file.file
    return file


def _size(file):
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


def _text(file, encoding, errors):
    file.seek(0)
    return io.TextIOWrapper(file, encoding=encoding, errors=errors, newline="")


def _release(text):
    """Let go of a TextIOWrapper without closing the file under it."""
    try:
        text.detach()
    except ValueError:
        pass


def _sniff_encoding(head):
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "strict"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "strict"
    try:
        # The sample may end inside a character: decode it as the start of a stream.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig", "strict"
    except UnicodeDecodeError:
        return _detect_legacy(head)


def _sniff_delimiter(sample):
    lines = sample.splitlines()[:50]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
        if delimiter in DELIMITERS:
            return delimiter
    except csv.Error:
        pass
    # The delimiter that splits the most lines into the same number (more than one) of fields.
    best, best_lines = ",", 0
    for delimiter in DELIMITERS:
        try:
            widths = [len(r) for r in csv.reader(lines, delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for w in widths if w == widths[0])
        if consistent > best_lines:
            best, best_lines = delimiter, consistent
    return best


def sniff_csv(file: BinaryFile) -> CsvLayout:
    """Check the start of a binary file is a CSV with a header, and guess how to read it.
    Raises InvalidInput with what is wrong."""
    file = _binary(file)
    file.seek(0)
    head = file.read(SAMPLE_BYTES)
    file.seek(0)
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise InvalidInput(f"this is not a CSV file: it looks like {what}")
    encoding, errors = _sniff_encoding(head)
    if b"\x00" in head and encoding != "utf-16":
        raise InvalidInput("this is not a CSV file: it contains binary data")
    sample = codecs.getincrementaldecoder(encoding)(errors=errors).decode(head, final=len(head) < SAMPLE_BYTES)
    if not sample.strip():
        raise InvalidInput("the file is empty")
    if len(_CONTROL.findall(sample)) > len(sample) / 100:
        raise InvalidInput("this is not a CSV file: it contains binary data")
    if len(head) == SAMPLE_BYTES and ("\n" in sample or "\r" in sample):
        sample = sample[: max(sample.rfind("\n"), sample.rfind("\r"))]  # whole lines only
    layout = CsvLayout(encoding, errors, _sniff_delimiter(sample))
    header = next(csv.reader(io.StringIO(sample, newline=""), **layout.dialect), [])
    _check_header(header)
    return layout


def _check_header(header):
    cells = [c.strip() for c in header]
    if not any(cells):
        raise InvalidInput("the file has no header: its first row must hold the column names")
    if all(c and _is_number(c) for c in cells):
        raise InvalidInput(
            "the file has no header: its first row holds numbers, not column names; add a row of names first"
        )


def _is_number(text):
    try:
        column_types.coerce(column_types.NUMBER, text)
        return True
    except ValueError:
        return False


def _column_names(header, width):
    """Names for `width` columns: the header's, stripped; blank ones and extra columns get
    "Column N"; repeats (in any case) get " (2)", " (3)"..."""
    names, taken = [], set()
    for index in range(width):
        raw = unneutralize(header[index].strip()) if index < len(header) else ""
        base = " ".join(raw.split())[:190] or f"Column {index + 1}"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base} ({n})"
        taken.add(name.lower())
        names.append(name)
    return names


def _records(text, layout):
    """(line number, fields) of every record, blank lines skipped."""
    reader = csv.reader(text, **layout.dialect)
    try:
        for record in reader:
            if not record:
                continue
            for value in record:
                if "\x00" in value:
                    raise InvalidInput(f"line {reader.line_num}: this is not a CSV file: it contains binary data")
            yield reader.line_num, record
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: the file is not valid CSV ({error})") from None


def _date_columns(names, guesses, date_guesses, date_order):
    """The text columns that hold dates as people write them, and notes on the ambiguous ones."""
    found, notes = {}, []
    for index, (name, guess, dates) in enumerate(zip(names, guesses, date_guesses)):
        if guess.type != column_types.TEXT or not dates.is_dates:
            continue
        order = dates.order(date_order)
        if order is None:
            notes.append(
                f"column {name!r}: its dates (like 01/02/2024) read both day-first and month-first; "
                "kept as text (import again with date_order dmy or mdy to read them as dates)"
            )
            continue
        found[index] = (order, dates.time)
    return found, notes


def _analyze(file, layout, progress, date_order=None):
    """The first pass: the column names and types and the number of rows."""
    size = _size(file) or 1
    text = _text(file, layout.encoding, layout.errors)
    max_chars = settings.GRIDCAST["MAX_CELL_CHARS"]
    max_columns = settings.GRIDCAST["MAX_COLUMNS"]
    try:
        records = _records(text, layout)
        _, header = next(records, (0, []))
        _check_header(header)
        guesses = [column_types.TypeGuess() for _ in header]
        date_guesses = [DateGuess() for _ in header]
        rows = 0
        for line, record in records:
            rows += 1
            if len(record) > len(guesses):
                if len(record) > max_columns:
                    raise TooLarge(f"line {line} has {len(record)} fields; a sheet has at most {max_columns} columns")
                date_guesses.extend(DateGuess() for _ in range(len(record) - len(guesses)))
                guesses.extend(column_types.TypeGuess() for _ in range(len(record) - len(guesses)))
            for index, value in enumerate(record):
                if len(value) > max_chars:
                    raise CellValueInvalid(
                        f"line {line}, column {index + 1}: value is longer than {max_chars} characters",
                        row=rows,
                        col=index + 1,
                    )
                guesses[index].add(value, as_text=bool(NEUTRALIZED.match(value)))  # '-1 stays text
                date_guesses[index].add(value)
            if progress is not None and rows % 5000 == 0:
                progress(ANALYZE_SHARE * min(file.tell() / size, 1.0), 0)
    finally:
        _release(text)
    if len(guesses) > max_columns:
        raise TooLarge(f"the file has {len(guesses)} columns; a sheet has at most {max_columns}")
    names = _column_names(header, len(guesses))
    columns = [{"name": n, "type": g.type} for n, g in zip(names, guesses)]
    dates, notes = _date_columns(names, guesses, date_guesses, date_order)
    for index, (_, with_time) in dates.items():
        columns[index]["type"] = column_types.DATETIME if with_time else column_types.DATE
    return CsvPlan(layout=layout, columns=columns, rows=rows, dates=dates, notes=notes)


def analyze_csv(file: BinaryFile, progress: Progress | None = None, date_order: str | None = None) -> CsvPlan:
    """Sniff, then read the whole file once: a CsvPlan, or InvalidInput saying what is wrong.
    A file that starts as valid UTF-8 but is not is read again in the fallback encoding.
    `date_order` ("dmy" or "mdy") reads columns of dates like 01/02/2024 that read both ways."""
    file = _binary(file)
    if date_order not in (None, "", *DATE_ORDERS):
        raise InvalidInput("date_order must be dmy (day first) or mdy (month first)")
    layout = sniff_csv(file)
    try:
        return _analyze(file, layout, progress, date_order)
    except UnicodeDecodeError:
        if layout.encoding == "utf-16":
            raise InvalidInput("the file starts as UTF-16 but is not valid UTF-16") from None
        layout = CsvLayout(*_FALLBACK, layout.delimiter)
        return _analyze(file, layout, progress, date_order)


def _data_rows(file, plan):
    """The second pass: each row as {column key: text}, empty cells left out."""
    keys = [f"c{i}" for i in range(1, len(plan.columns) + 1)]
    # Blank cells of typed columns are empty, as inference took them; text keeps its spaces.
    typed = [c["type"] != column_types.TEXT for c in plan.columns]
    text = _text(file, plan.layout.encoding, plan.layout.errors)
    try:
        records = _records(text, plan.layout)
        next(records, None)  # the header
        for _, record in records:
            row = {
                key: unneutralize(value)
                for key, value, is_typed in zip(keys, record, typed)
                if value != "" and not (is_typed and value.isspace())
            }
            for index, (order, with_time) in plan.dates.items():
                if keys[index] in row:
                    row[keys[index]] = convert(row[keys[index]], order, with_time)
            yield row
    finally:
        _release(text)


def csv_preview(file: BinaryFile, name: str, sample_rows: int = 5, date_order: str | None = None) -> dict:
    """What importing the CSV would make: its data rows, columns (name and type), first rows and
    notes (ambiguous date columns)."""
    file = _binary(file)
    plan = analyze_csv(file, date_order=date_order)
    sample, rows = [], _data_rows(file, plan)
    try:
        for row in rows:
            if len(sample) == sample_rows:
                break
            sample.append([row.get(f"c{i}", "") for i in range(1, len(plan.columns) + 1)])
    finally:
        rows.close()
    return {"name": name, "rows": plan.rows, "columns": plan.columns, "sample": sample, "notes": plan.notes}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name must be a non-empty string")
    if len(name.strip()) > 200:
        raise InvalidInput("name is longer than 200 characters")
    try:
        return check_text(name.strip(), "name")
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def sheet_name_for(name: str | None, file_name: str | None) -> str:
    """The new sheet's name: the one given, or the file's name without its extension."""
    if name is not None and name != "":
        return _check_name(name)
    stem = os.path.splitext(os.path.basename(file_name or ""))[0]
    stem = re.sub("[\x00\ud800-\udfff]", "", stem).strip()
    return stem[:200] or "Imported sheet"


def csv_import(
    *,
    file: BinaryFile,
    workspace: Workspace,
    actor: User | None,
    name: str,
    plan: CsvPlan | None = None,
    progress: Progress | None = None,
    created: Callable[[Sheet], None] | None = None,
    date_order: str | None = None,
) -> Sheet:
    """A new sheet in `workspace` holding the CSV in the binary `file`: columns from the header,
    typed by inference, rows inserted in chunks (one operation each). `progress(fraction, rows)`
    is told how far it got. If anything fails after the sheet was created, the sheet is deleted
    again and the error raised."""
    file = _binary(file)
    name = _check_name(name)
    if plan is None:
        plan = analyze_csv(file, progress, date_order)
    if progress is not None:
        progress(ANALYZE_SHARE, 0)
    sheet = services.sheet_create(workspace=workspace, name=name, actor=actor, columns=plan.columns)
    try:
        if created is not None:
            created(sheet)
        chunk_size = min(CHUNK_ROWS, settings.GRIDCAST["MAX_INSERT_ROWS"])
        inserted, chunk = 0, []
        for row in _data_rows(file, plan):
            chunk.append(row)
            if len(chunk) == chunk_size:
                inserted += _insert(sheet, actor, chunk, inserted)
                chunk = []
                if progress is not None:
                    progress(ANALYZE_SHARE + (1 - ANALYZE_SHARE) * inserted / max(plan.rows, 1), inserted)
        if chunk:
            inserted += _insert(sheet, actor, chunk, inserted)
    except BaseException:
        discard(sheet, actor)
        raise
    if progress is not None:
        progress(1.0, inserted)
    return sheet


def _insert(sheet, actor, rows, before):
    try:
        services.rows_insert(sheet=sheet, actor=actor, rows=rows)
    except CellValueInvalid as error:
        # The service counts rows within the chunk; tell the user the line in their file.
        row = error.detail.get("row")
        if isinstance(row, int):
            raise CellValueInvalid(
                f"data row {before + row + 1}: {error.message}", row=before + row + 1, col=error.detail.get("col")
            ) from None
        raise
    return len(rows)


def discard(sheet: Sheet, actor: User | None) -> None:
    try:
        services.sheet_delete(sheet=sheet, actor=actor)
    except Exception:  # the original error matters more; the sheet is left for someone to delete
        log.exception("could not delete sheet %s after a failed import", sheet.pk)

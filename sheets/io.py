"""CSV import into a new sheet (streamed in two passes: infer column types, then insert rows in
chunks of operations) and CSV / XLSX export, with text a spreadsheet would run as a formula
neutralized on the way out.
"""
import codecs
import csv
import datetime as dt
import io
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from accounts.models import Workspace

from . import permissions, selectors, services
from . import column_types
from .values import check_text
from core.errors import CellValueInvalid, GridcastError, InvalidInput, NotFound, TooLarge, check_quota
from .models import ImportJob, Sheet
from .permissions import Access

log = logging.getLogger(__name__)

INLINE_IMPORT_BYTES = 1024 * 1024
SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t"
# Share of the progress bar for the first pass (reading and inferring types); inserting is slower.
ANALYZE_SHARE = 0.1
CHUNK_ROWS = 2000
# Imports running at once in this process; the others wait as "queued".
RUNNING_IMPORTS = threading.BoundedSemaphore(2)
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384


def _setting(name, default):
    return settings.GRIDCAST.get(name, default)


# --- formula injection -------------------------------------------------------------------------
#
# A spreadsheet runs text starting with = + - @ (and tab or CR, which some strip first) as a
# formula. Such text gets a leading apostrophe, which spreadsheets read as "this is text".
# Apostrophes already in front are counted, so that import can undo exactly one: a value that
# went out as '=1+1 comes back as =1+1, one that went out as ''=1+1 comes back as '=1+1.

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NEUTRALIZED = re.compile(r"'+[=+\-@\t\r]")


def neutralize(text):
    return "'" + text if text.lstrip("'").startswith(FORMULA_TRIGGERS) else text


def export_text(value):
    """A stored value as CSV text: empty, TRUE or FALSE, a number as it is (a number column's -5
    stays -5), text neutralized (a text cell "-5" or "=1+1" gets its apostrophe)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return neutralize(str(value))


def xlsx_text_cell(ws, text, font=None):
    """A write-only XLSX cell holding `text` neutralized as in CSV, and stored as text (data
    type "s"), so that nothing in it is ever read as a formula."""
    return _xlsx_text(ws, neutralize(text), font)


def _xlsx_text(ws, text, font=None):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Set the text first, then the type: openpyxl would otherwise store "=..." as a formula.
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", text))
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def unneutralize(text):
    return text[1:] if _NEUTRALIZED.match(text) else text


# --- reading CSV -------------------------------------------------------------------------------

# Files that are certainly not CSV, by their first bytes.
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook (.xlsx); save it as CSV first",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls); save it as CSV first",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

# Text that does not decode as UTF-8 is read as Windows-1252 (a superset of Latin-1 in what
# people type: € “ ” …), with the few bytes it leaves undefined taken as Latin-1.
codecs.register_error("gridcast.latin1", lambda e: (e.object[e.start:e.end].decode("latin-1"), e.end))
_FALLBACK = ("cp1252", "gridcast.latin1")


@dataclass
class CsvLayout:
    """How a CSV file is read: encoding (with its error handler) and delimiter."""

    encoding: str
    errors: str
    delimiter: str

    @property
    def dialect(self):
        return {"delimiter": self.delimiter, "quotechar": '"', "doublequote": True, "strict": False}


@dataclass
class CsvPlan:
    """What the first pass learned: the columns to create and how many rows follow the header."""

    layout: CsvLayout
    columns: list = field(default_factory=list)
    rows: int = 0


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
        return _FALLBACK


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


def sniff_csv(file):
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


def _analyze(file, layout, progress):
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
        rows = 0
        for line, record in records:
            rows += 1
            if len(record) > len(guesses):
                if len(record) > max_columns:
                    raise TooLarge(f"line {line} has {len(record)} fields; a sheet has at most {max_columns} columns")
                guesses.extend(column_types.TypeGuess() for _ in range(len(record) - len(guesses)))
            for index, value in enumerate(record):
                if len(value) > max_chars:
                    raise CellValueInvalid(
                        f"line {line}, column {index + 1}: value is longer than {max_chars} characters",
                        row=rows, col=index + 1,
                    )
                guesses[index].add(value, as_text=bool(_NEUTRALIZED.match(value)))  # '-1 stays text
            if progress is not None and rows % 5000 == 0:
                progress(ANALYZE_SHARE * min(file.tell() / size, 1.0), 0)
    finally:
        _release(text)
    if len(guesses) > max_columns:
        raise TooLarge(f"the file has {len(guesses)} columns; a sheet has at most {max_columns}")
    names = _column_names(header, len(guesses))
    columns = [{"name": n, "type": g.type} for n, g in zip(names, guesses)]
    return CsvPlan(layout=layout, columns=columns, rows=rows)


def analyze_csv(file, progress=None):
    """Sniff, then read the whole file once: a CsvPlan, or InvalidInput saying what is wrong.
    A file that starts as valid UTF-8 but is not is read again in the fallback encoding."""
    file = _binary(file)
    layout = sniff_csv(file)
    try:
        return _analyze(file, layout, progress)
    except UnicodeDecodeError:
        if layout.encoding == "utf-16":
            raise InvalidInput("the file starts as UTF-16 but is not valid UTF-16") from None
        layout = CsvLayout(*_FALLBACK, layout.delimiter)
        return _analyze(file, layout, progress)


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
            yield {
                key: unneutralize(value)
                for key, value, is_typed in zip(keys, record, typed)
                if value != "" and not (is_typed and value.isspace())
            }
    finally:
        _release(text)


def _check_name(name):
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name must be a non-empty string")
    if len(name.strip()) > 200:
        raise InvalidInput("name is longer than 200 characters")
    try:
        return check_text(name.strip(), "name")
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def sheet_name_for(name, file_name):
    """The new sheet's name: the one given, or the file's name without its extension."""
    if name is not None and name != "":
        return _check_name(name)
    stem = os.path.splitext(os.path.basename(file_name or ""))[0]
    stem = re.sub("[\x00\ud800-\udfff]", "", stem).strip()
    return stem[:200] or "Imported sheet"


def csv_import(*, file, workspace, actor, name, plan=None, progress=None, created=None):
    """A new sheet in `workspace` holding the CSV in the binary `file`: columns from the header,
    typed by inference, rows inserted in chunks (one operation each). `progress(fraction, rows)`
    is told how far it got. If anything fails after the sheet was created, the sheet is deleted
    again and the error raised."""
    file = _binary(file)
    name = _check_name(name)
    if plan is None:
        plan = analyze_csv(file, progress)
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
        _discard(sheet, actor)
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
            raise CellValueInvalid(f"data row {before + row + 1}: {error.message}", row=before + row + 1,
                                   col=error.detail.get("col")) from None
        raise
    return len(rows)


def _discard(sheet, actor):
    try:
        services.sheet_delete(sheet=sheet, actor=actor)
    except Exception:  # the original error matters more; the sheet is left for someone to delete
        log.exception("could not delete sheet %s after a failed import", sheet.pk)


# --- imports from an upload, inline or as a job -------------------------------------------------


def upload_import(*, upload, workspace, actor, name=None):
    """Import an uploaded CSV: small files at once (returns the Sheet), larger ones in a
    background job (returns the ImportJob, already started)."""
    if upload is None:
        raise InvalidInput("file is required (a CSV file in the multipart field 'file')")
    limit = settings.GRIDCAST["MAX_IMPORT_BYTES"]
    if upload.size > limit:
        raise TooLarge(f"the file is larger than {limit} bytes")
    name = sheet_name_for(name, upload.name)
    if upload.size < _setting("IMPORT_INLINE_BYTES", INLINE_IMPORT_BYTES):
        return csv_import(file=upload, workspace=workspace, actor=actor, name=name)
    # Obvious mistakes (empty, binary, no header) and a full workspace (the sheet quota) are
    # answered now; the rest by the job (whose sheet_create checks the quota again).
    sniff_csv(upload)
    check_quota("MAX_SHEETS_PER_WORKSPACE", Sheet.objects.filter(workspace=workspace).count(), "sheets per workspace")
    imports_reap_once()
    path = _keep_upload(upload)
    try:
        job = ImportJob.objects.create(
            workspace=workspace, created_by=actor, name=name, file_name=(upload.name or "")[:255], size=upload.size,
            owner=PROCESS, heartbeat_at=timezone.now(), path=path,
        )
    except BaseException:
        os.unlink(path)
        raise
    transaction.on_commit(lambda: _start(job.pk, path))
    return job


class LimitedUpload(FileUploadHandler):
    """An upload handler that stops a multipart upload as soon as it is larger than `limit` bytes
    (first handler of the request, so the next ones never store more than that): a body
    announced larger is refused before anything is read, a streamed one at the chunk that
    crosses the limit. The files begun are closed (and their temporary files removed) and the
    request fails with a 413 (TooLarge)."""

    SLACK = 64 * 1024  # room for the multipart headers and the other fields

    def __init__(self, request=None, limit=None):
        super().__init__(request)
        self.limit = settings.GRIDCAST["MAX_IMPORT_BYTES"] if limit is None else limit
        self.received = 0
        self.crossed = False

    def _message(self):
        return f"the file is larger than {self.limit} bytes"

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + self.SLACK:
            raise TooLarge(self._message())

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.crossed = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None

    def upload_complete(self):
        if self.crossed:
            raise TooLarge(self._message())


def workspace_for_import(workspace_id):
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def _keep_upload(upload):
    """Copy the upload to a file of our own: the request's temporary file goes with the request."""
    with tempfile.NamedTemporaryFile(prefix="gridcast-import-", suffix=".csv", delete=False) as kept:
        for chunk in upload.chunks():
            kept.write(chunk)
    return kept.name


def _start(job_id, path):
    threading.Thread(target=run_import_job, args=(job_id, path), name=f"gridcast-import-{job_id}", daemon=True).start()


# This process, as an import job's owner: host, pid and a token of this start (a restarted
# server may get the pid of the one that died, as the first process of a container does).
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
INTERRUPTED = "the import was interrupted (the server stopped while it ran); please upload the file again"


def _stale_seconds():
    return float(_setting("IMPORT_STALE_SECONDS", 60))


class JobGone(Exception):
    """The job is no longer this process's to run (it was failed as interrupted meanwhile)."""


def _beat(job_id, **fields):
    """Write the job's progress with a sign of life; JobGone when it is no longer running here."""
    alive = ImportJob.objects.filter(pk=job_id, owner=PROCESS, status__in=ACTIVE).update(
        heartbeat_at=timezone.now(), **fields)
    if not alive:
        raise JobGone(job_id)


class _JobProgress:
    """Writes a job's progress, at most a few times a second and never backwards."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.best = 0.0
        self.written = 0.0

    def __call__(self, fraction, rows):
        self.best = max(self.best, fraction)
        now = time.monotonic()
        if now - self.written >= 0.2:
            self.written = now
            _beat(self.job_id, progress=self.best, rows=rows)


def _wait_for_a_slot(job_id):
    """Take one of RUNNING_IMPORTS, beating while the job waits its turn as queued."""
    while not RUNNING_IMPORTS.acquire(timeout=max(_stale_seconds() / 4, 0.05)):
        _beat(job_id)


def _may_still_import(job):
    """The job's creator may still create sheets in its workspace (rights are checked again when
    the job runs: they may have been lost since the upload)."""
    user = job.created_by
    return user.is_active and permissions.workspace_access(user, job.workspace_id) >= Access.EDIT


def run_import_job(job_id, path):
    """Run one import job to the end (in its own thread): done with its sheet, or failed with why."""
    slot = False
    try:
        close_old_connections()
        _wait_for_a_slot(job_id)
        slot = True
        job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
        if not _may_still_import(job):
            _finish(job_id, status=ImportJob.Status.FAILED, rows=0,
                    error="you can no longer create sheets in this workspace: nothing was imported")
            return
        _beat(job_id, status=ImportJob.Status.RUNNING)
        progress = _JobProgress(job_id)

        def created(sheet):  # the half-made sheet, for whoever finds the job interrupted
            ImportJob.objects.filter(pk=job_id).update(sheet=sheet)

        try:
            with open(path, "rb") as file:
                sheet = csv_import(file=file, workspace=job.workspace, actor=job.created_by, name=job.name,
                                   progress=progress, created=created)
        except JobGone:
            return
        except GridcastError as error:
            _finish(job_id, status=ImportJob.Status.FAILED, error=error.message, rows=0, sheet=None)
            return
        except Exception:
            log.exception("import job %s failed", job_id)
            _finish(job_id, status=ImportJob.Status.FAILED, error="the import failed unexpectedly", rows=0,
                    sheet=None)
            return
        rows = selectors.row_count(sheet)
        if not _finish(job_id, status=ImportJob.Status.DONE, progress=1.0, rows=rows, sheet=sheet, error=""):
            _discard(sheet, job.created_by)  # failed as interrupted meanwhile: its sheet goes too
    except JobGone:
        pass
    except Exception:
        log.exception("import job %s could not run", job_id)
    finally:
        if slot:
            RUNNING_IMPORTS.release()
        _remove(path)
        connections.close_all()


def _remove(path):
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _finish(job_id, **fields):
    """End the job if it is still this process's to end; whether it was."""
    return ImportJob.objects.filter(pk=job_id, owner=PROCESS, status__in=ACTIVE).update(
        heartbeat_at=timezone.now(), path="", **fields)


ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _owner_dead(owner):
    """Whether the process named by `owner` is known to be gone: on this host, a pid that no longer
    exists, or this pid with another start token (a previous start of this server)."""
    host, _, rest = (owner or "").partition(":")
    pid, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner != PROCESS
    return not _pid_alive(int(pid))


def _is_stale(job, now):
    if job.status not in ACTIVE:
        return False
    if job.owner == PROCESS and job.heartbeat_at and now - job.heartbeat_at < dt.timedelta(seconds=_stale_seconds()):
        return False
    if job.heartbeat_at is None or now - job.heartbeat_at >= dt.timedelta(seconds=_stale_seconds()):
        return True
    return _owner_dead(job.owner)


def import_reap(job_id, now=None):
    """Fail the job if its process died (no sign of life for IMPORT_STALE_SECONDS, or its owner
    gone), removing its half-made sheet and temporary file; whether it did."""
    now = now or timezone.now()
    with transaction.atomic():
        job = (ImportJob.objects.select_for_update(skip_locked=True, of=("self",)).select_related("created_by")
               .filter(pk=job_id, status__in=ACTIVE).first())
        if job is None or not _is_stale(job, now):
            return False
        sheet, path = job.sheet, job.path
        job.status, job.error, job.rows, job.sheet, job.path = ImportJob.Status.FAILED, INTERRUPTED, 0, None, ""
        job.save(update_fields=["status", "error", "rows", "sheet", "path", "updated_at"])
    log.warning("import job %s was interrupted (owner %s): failed, its sheet and file removed", job_id, job.owner)
    if sheet is not None:
        _discard(sheet, job.created_by)
    _remove(path)
    return True


def imports_reap(now=None):
    """Fail every import job whose process died (see import_reap); how many."""
    ids = ImportJob.objects.filter(status__in=ACTIVE).values_list("pk", flat=True)
    return sum(import_reap(job_id, now) for job_id in list(ids))


_reaped = threading.Event()


def imports_reap_once():
    """imports_reap at the first use of the import API in this process (the server's start)."""
    if _reaped.is_set():
        return
    _reaped.set()
    try:
        imports_reap()
    except Exception:
        log.exception("could not check for interrupted import jobs")


def import_job_for(user, job_id):
    """An import job, for the user who started it only (failed first if its process died)."""
    job = ImportJob.objects.filter(pk=job_id, created_by_id=user.pk).first()
    if job is None:
        raise NotFound("Import not found")
    if job.status in ACTIVE and import_reap(job.pk):
        job.refresh_from_db()
    return job


# --- export ------------------------------------------------------------------------------------


def export_filename(sheet, extension):
    """A file name from the sheet name with nothing a file system or a header could trip on."""
    stem = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", sheet.name)
    stem = re.sub(r"\s+", " ", stem).strip(" ._") or "sheet"
    return f"{stem[:100]}.{extension}"


class _Buffer:
    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def take(self):
        text, self.parts = "".join(self.parts), []
        return text.encode("utf-8")


def csv_chunks(sheet, rows_per_chunk=500):
    """The sheet as UTF-8 CSV, header first, in chunks of bytes, read from the database as it goes."""
    columns = selectors.sheet_columns(sheet)
    buffer = _Buffer()
    writer = csv.writer(buffer)
    writer.writerow([neutralize(c.name) for c in columns])
    yield buffer.take()
    keys = [c.key for c in columns]
    pending = 0
    for _, data in selectors.rows_in_order(sheet):
        writer.writerow([export_text(data.get(key)) for key in keys])
        pending += 1
        if pending == rows_per_chunk:
            yield buffer.take()
            pending = 0
    if pending:
        yield buffer.take()


def _xlsx_title(name):
    title = re.sub(r"[\[\]:*?/\\]", " ", name).strip("' ")[:31].strip()
    return title or "Sheet"


def xlsx_file(sheet):
    """The sheet as an XLSX workbook in a temporary file (positioned at its start): typed cells,
    text always stored as text. Raises TooLarge past what Excel can open."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    columns = selectors.sheet_columns(sheet)
    if len(columns) > XLSX_MAX_COLUMNS or selectors.row_count(sheet) >= XLSX_MAX_ROWS:
        raise TooLarge("the sheet is too large for an XLSX workbook; export it as CSV")
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(_xlsx_title(sheet.name))
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = max(column.width / 7, 8)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    ws.append([xlsx_text_cell(ws, c.name, bold) for c in columns])
    for _, data in selectors.rows_in_order(sheet):
        cells = []
        for column in columns:
            value, number_format = column_types.get(column.type).xlsx(data.get(column.key))
            if isinstance(value, str):
                cells.append(xlsx_text_cell(ws, value) if value else None)
            else:
                cell = WriteOnlyCell(ws, value=value)
                if number_format:
                    cell.number_format = number_format
                cells.append(cell)
        ws.append(cells)
    output = tempfile.TemporaryFile()
    try:
        workbook.save(output)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output

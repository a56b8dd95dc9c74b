"""Files people download: text a spreadsheet would run as a formula neutralized (CSV and XLSX), and
the streamed response that carries an export, the same for every export of every app."""

import re
from collections.abc import Iterator
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from rest_framework.negotiation import DefaultContentNegotiation

# --- formula injection -------------------------------------------------------------------------
#
# A spreadsheet runs text starting with = + - @ (and tab or CR, which some strip first) as a
# formula. Such text gets a leading apostrophe, which spreadsheets read as "this is text".
# Apostrophes already in front are counted, so that import can undo exactly one: a value that
# went out as '=1+1 comes back as =1+1, one that went out as ''=1+1 comes back as '=1+1.

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALIZED = re.compile(r"'+[=+\-@\t\r]")


def neutralize(text: str) -> str:
    return "'" + text if text.lstrip("'").startswith(FORMULA_TRIGGERS) else text


def export_text(value: object) -> str:
    """A stored value as CSV text: empty, TRUE or FALSE, a number as it is (a number column's -5
    stays -5), text neutralized (a text cell "-5" or "=1+1" gets its apostrophe)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return neutralize(str(value))


def xlsx_text_cell(ws: Any, text: str, font: Any = None) -> Any:
    """A write-only XLSX cell holding `text` neutralized as in CSV, and stored as text (data
    type "s"), so that nothing in it is ever read as a formula."""
    return _xlsx_text(ws, neutralize(text), font)


def _xlsx_text(ws: Any, text: str, font: Any = None) -> Any:
    # Set the text first, then the type: openpyxl would otherwise store "=..." as a formula.
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", text))
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def unneutralize(text: str) -> str:
    return text[1:] if NEUTRALIZED.match(text) else text


# --- streamed downloads --------------------------------------------------------------------------

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class FormatIsNotARenderer(DefaultContentNegotiation):
    """?format= names the export's file type; errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TextChunks:
    """What csv.writer writes into, taken out as UTF-8 bytes a chunk at a time."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        text, self.parts = "".join(self.parts), []
        return text.encode("utf-8")


def file_chunks(file: IO[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    with file:
        while chunk := file.read(size):
            yield chunk


def _streamed(request: HttpRequest, chunks: Iterator[bytes]) -> Any:
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


def download(
    request: HttpRequest,
    *,
    kind: str,
    filename: str,
    chunks: Iterator[bytes] | None = None,
    file: IO[bytes] | None = None,
) -> StreamingHttpResponse:
    """The streamed answer of an export: CSV `chunks` as they are made, or a finished `file`
    (XLSX) with its length; never cached, never sniffed."""
    size = None
    if file is not None:
        size = file.seek(0, 2)
        file.seek(0)
        chunks = file_chunks(file)
    response = StreamingHttpResponse(_streamed(request, chunks), content_type=EXPORT_TYPES[kind])
    if size is not None:
        response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response

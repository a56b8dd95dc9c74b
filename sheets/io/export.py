"""A sheet as a file: CSV streamed from the database as it is read, or an XLSX workbook with typed
cells (each column type's XLSX form) and text always stored as text."""

import csv
import logging
import re
import tempfile
from collections.abc import Iterator
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from core.errors import TooLarge
from core.exports import TextChunks, export_text, neutralize, xlsx_text_cell

from .. import column_types, selectors
from ..models import Sheet

log = logging.getLogger(__name__)

XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384


def export_filename(sheet: Sheet, extension: str) -> str:
    """A file name from the sheet name with nothing a file system or a header could trip on."""
    stem = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", sheet.name)
    stem = re.sub(r"\s+", " ", stem).strip(" ._") or "sheet"
    return f"{stem[:100]}.{extension}"


def csv_chunks(sheet: Sheet, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The sheet as UTF-8 CSV, header first, in chunks of bytes, read from the database as it goes."""
    columns = selectors.sheet_columns(sheet)
    buffer = TextChunks()
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


def _xlsx_title(name: str) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", name).strip("' ")[:31].strip()
    return title or "Sheet"


def xlsx_file(sheet: Sheet) -> IO[bytes]:
    """The sheet as an XLSX workbook in a temporary file (positioned at its start): typed cells,
    text always stored as text. Raises TooLarge past what Excel can open."""
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

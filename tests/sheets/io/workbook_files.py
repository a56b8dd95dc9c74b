"""Real workbooks for the import tests: XLSX written by openpyxl (a formula's cached value put in
the XML afterwards, as Excel would have saved it) and a minimal ODS written by hand."""

import datetime as dt
import io
import re
import zipfile

import openpyxl


def xlsx(
    sheets: dict[str, list[list]], merged: dict[str, list[str]] | None = None, cached: dict | None = None
) -> bytes:
    """A workbook with one worksheet per entry (rows of values); `merged` ranges per worksheet;
    `cached` {(worksheet index, "B2"): value} gives formula cells their saved value."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for cells in (merged or {}).get(name, []):
            sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    return _cache(data, cached) if cached else data


def _cache(data, cached):
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            for (index, ref), value in cached.items():
                if item.filename == f"xl/worksheets/sheet{index + 1}.xml":
                    text = content.decode()
                    text = re.sub(
                        rf'(<c r="{ref}"[^>]*>)(<f>[^<]*</f>)(<v\s*/>|<v></v>)?',
                        lambda m, v=value: f"{m.group(1)}{m.group(2)}<v>{v}</v>",
                        text,
                    )
                    content = text.encode()
            target.writestr(item, content)
    return out.getvalue()


def ods(rows: list[list]) -> bytes:
    """An OpenDocument spreadsheet with one worksheet "Data" holding the rows (str, float, date)."""

    def cell(value):
        if isinstance(value, dt.date):
            return (
                f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
                f"<text:p>{value.isoformat()}</text:p></table:table-cell>"
            )
        if isinstance(value, (int, float)):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Data">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        target.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        target.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def encrypted(workbook: bytes, password: str = "secret") -> bytes:
    """The workbook protected by a password as Excel saves it (ECMA-376 agile encryption: an OLE
    compound file with EncryptionInfo and EncryptedPackage), written by msoffcrypto-tool."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(workbook)).encrypt(password, out)
    return out.getvalue()


def xls(sheets: dict[str, list[list]]) -> bytes:
    """An Excel 97-2003 workbook (BIFF8 in an OLE file) written by xlwt; dates as Excel dates."""
    import xlwt

    book = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write(r, c, value, date_style)
                elif value is not None:
                    sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

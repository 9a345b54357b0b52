"""Files for people: CSV (and other) exports that a spreadsheet opens safely.

Every exported cell that a spreadsheet would run as a formula (it starts with ``= + - @``, tab,
carriage return, line feed or NUL) is prefixed with a single quote (OWASP "CSV Injection",
ASVS 1.2.10). CSV is written UTF-8 with a BOM and CRLF line ends, as Excel reads it. XLSX cells
are neutralised the same way and written as text, never as formulas. JSON Lines and Parquet
files are for programs and keep the values as they are. PDF lists are for people who print or
file them (CRM users expect one next to the CSV): an escaped HTML table printed by headless
Chromium (:mod:`segwork.pdf`), at most :data:`PDF_MAX_ROWS` rows, whose first line gives the
full count and names the CSV that holds every row.

Action lists and member lists (notebook 05) are written here, atomically (a temporary file in
the same folder, then ``os.replace``) and deterministically (the same lists give the same
bytes): :class:`ActionFiles` and :class:`MemberFiles` are the run's ``actions`` and
``segment_members`` datasets (objects with ``write(folder)``, see :mod:`segwork.catalog`).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segwork import progress
from segwork.actions.checks import ActionError, _is_missing, _suggest
from segwork.actions.pseudonymize import DIRECT_IDENTIFIERS, pseudonymize_members
from segwork.files import atomic_write_bytes
from segwork.pdf import write_pdf

if TYPE_CHECKING:
    from segwork.actions import ActionLists

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV Injection:
#: = + - @ tab carriage-return line-feed; ASVS 1.2.10 adds NUL).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
#: Formats of the files for people and programs: csv (people; fast), xlsx (people; slower),
#: pdf (people; a capped list, printed by Chromium), parquet and jsonl (programs).
FORMATS = ("csv", "xlsx", "parquet", "jsonl", "pdf")
#: Rows a PDF list shows at most. A4 landscape holds about 40 rows a page, so 2,000 rows are
#: some 50 pages (about 15 s to print on a busy machine): more is not read on paper, and a list
#: of 100,000 would take many minutes. The PDF's first line gives the full count and names the
#: CSV with every row.
PDF_MAX_ROWS = 2_000
#: The columns of a member list's PDF, those present in this order: who the customer is and how
#: to reach them. A member list carries every customer-360 column (~70), which no page holds;
#: the PDF's first line says that all of them are in the CSV. (``columns=`` overrides this.)
PDF_MEMBER_COLUMNS = (
    "customer_id",
    "name",
    "customer_type",
    "email",
    "phone",
    "city",
    "region",
    "owner",
    "rfm_segment",
    "persona",
    "last_order_date",
    "revenue_365d",
)
#: Columns of an action list left out of its PDF: the same on every row (said in the title).
_PDF_ACTION_OMIT = ("run_id",)
_XLSX_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")  # not allowed in XML 1.0 text
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ExportError(ActionError):
    """An export that cannot be written as asked: what, and the fix (an :class:`ActionError`)."""


def neutralise_cell(value: Any) -> Any:
    """Prefix a string that a spreadsheet would run as a formula with a single quote.

    Only strings change: numbers, dates and missing values are returned as they are (a negative
    number is a number, not a formula).
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with :func:`neutralise_cell` applied to every string cell and header."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if (
            pd.api.types.is_numeric_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype)
            or pd.api.types.is_datetime64_any_dtype(s.dtype)
        ):
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            hit = s.str.startswith(FORMULA_TRIGGERS).fillna(False).to_numpy(dtype=bool)
            if hit.any():
                out[col] = s.mask(hit, "'" + s)
            else:
                out[col] = s
            continue
        values = s.to_numpy(dtype=object)
        hit = np.fromiter(
            (isinstance(v, str) and v.startswith(FORMULA_TRIGGERS) for v in values),
            dtype=bool,
            count=len(values),
        )
        if hit.any():
            values = values.copy()
            values[hit] = ["'" + v for v in values[hit]]
        out[col] = pd.Series(values, index=s.index, dtype=object)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    safe = neutralise_frame(df)
    # Arrow-backed text columns are converted value by value inside to_csv; as Python objects
    # the same text is written ~15 % faster (the bytes are identical)
    text_columns = {
        c: safe[c].astype(object)
        for c in safe.columns
        if pd.api.types.is_string_dtype(safe[c].dtype)
        and not pd.api.types.is_object_dtype(safe[c].dtype)
    }
    if text_columns and safe.columns.is_unique:
        safe = safe.assign(**text_columns)
    text = safe.to_csv(index=False, lineterminator="\r\n", date_format=None)
    return text.encode("utf-8-sig")  # the BOM lets Excel read UTF-8 (Czech names) correctly


# ------------------------------------------------------------------------------------ writing


_XLSX_FILES = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        "</Relationships>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _xml_text(s: str) -> str:
    s = _XLSX_ILLEGAL.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _column_letter(k: int) -> str:
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(65 + r) + out
    return out


def _xlsx_cells(s: pd.Series, ref: str) -> list[str]:
    """The XML of one column's cells (rows 2..n+1); text is inline text, never a formula."""
    if pd.api.types.is_bool_dtype(s.dtype):
        values = s.to_numpy(dtype=object, na_value=None)
        return [
            "" if v is None else f'<c r="{ref}{i}" t="b"><v>{int(bool(v))}</v></c>'
            for i, v in enumerate(values, start=2)
        ]
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        values = s.to_numpy(dtype=float, na_value=np.nan).tolist()
        whole = pd.api.types.is_integer_dtype(s.dtype)
        return [
            ""
            if v != v or v in (float("inf"), float("-inf"))
            else f'<c r="{ref}{i}"><v>{int(v) if whole else repr(v)}</v></c>'
            for i, v in enumerate(values, start=2)
        ]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        ts = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
        serial = ((ts - _EXCEL_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
        day = (ts == ts.dt.normalize()).to_numpy(dtype=bool, na_value=False)
        return [
            "" if v != v else f'<c r="{ref}{i}" s="{1 if d else 2}"><v>{v!r}</v></c>'
            for i, (v, d) in enumerate(zip(serial.tolist(), day.tolist(), strict=True), start=2)
        ]
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        text = s.str.replace(_XLSX_ILLEGAL, "", regex=True)
        for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
            text = text.str.replace(a, b, regex=False)
        return [
            ""
            if v is None
            else f'<c r="{ref}{i}" t="inlineStr"><is><t xml:space="preserve">{v}</t></is></c>'
            for i, v in enumerate(text.to_numpy(dtype=object, na_value=None), start=2)
        ]
    out = []
    for i, v in enumerate(s.to_numpy(dtype=object, na_value=None), start=2):
        if v is None or _is_missing(v):
            out.append("")
        elif isinstance(v, bool | np.bool_):
            out.append(f'<c r="{ref}{i}" t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, int | float | np.integer | np.floating):
            out.append(f'<c r="{ref}{i}"><v>{v!r}</v></c>' if np.isfinite(v) else "")
        else:
            text = _xml_text(v.isoformat() if isinstance(v, dt.date) else str(v))
            out.append(
                f'<c r="{ref}{i}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
            )
    return out


def _xlsx_bytes(df: pd.DataFrame, sheet: str, stamp: dt.datetime) -> bytes:
    """An XLSX workbook of ``df`` (strings neutralised, written as inline text, never as
    formulas; dates as dates) whose bytes depend only on the data and ``stamp``.

    Written directly as SpreadsheetML (one sheet, inline strings, two date formats): about ten
    times faster than openpyxl's write-only mode for the action lists of a large run.
    """
    safe = neutralise_frame(df)
    refs = [_column_letter(k) for k in range(safe.shape[1])]
    header = "".join(
        f'<c r="{ref}1" t="inlineStr"><is><t xml:space="preserve">{_xml_text(str(c))}</t></is></c>'
        for ref, c in zip(refs, safe.columns, strict=True)
    )
    columns = [_xlsx_cells(safe.iloc[:, k], ref) for k, ref in enumerate(refs)]
    rows = [f'<row r="1">{header}</row>']
    rows += [
        f'<row r="{i}">{"".join(cells)}</row>'
        for i, cells in enumerate(zip(*columns, strict=True), start=2)
    ]
    sheet_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )
    name = _xml_text(sheet[:31] or "Sheet1").replace('"', "&quot;")
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>segwork</dc:creator>'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    files = {
        **_XLSX_FILES,
        "docProps/core.xml": core,
        "xl/workbook.xml": workbook,
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for filename, body in files.items():
            info = zipfile.ZipInfo(filename, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            dst.writestr(info, body.encode("utf-8"))
    return out.getvalue()


def _json_value(v: Any) -> Any:
    if _is_missing(v):
        return None
    if isinstance(v, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _json_column(s: pd.Series) -> list[Any]:
    """:func:`_json_value` of every value of a column (vectorised for the common dtypes)."""
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return s.to_numpy(dtype=object, na_value=None).tolist()
    kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else ""  # numpy dtypes only
    if kind in ("b", "i", "u"):  # numpy bool and integers: never missing
        return s.tolist()
    if kind == "f":
        return [None if x != x else x for x in s.tolist()]
    if kind == "M":  # naive datetimes: a day at midnight, else the full time
        day = (s == s.dt.normalize()).to_numpy(dtype=bool)
        text = s.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value=None)
        return [
            None if v is None else v if d else _json_value(ts)
            for v, d, ts in zip(text, day, s, strict=True)
        ]
    return [_json_value(v) for v in s.to_numpy(dtype=object)]


def _jsonl_bytes(df: pd.DataFrame) -> bytes:
    cols = [str(c) for c in df.columns]
    values = [_json_column(df.iloc[:, k]) for k in range(df.shape[1])]
    lines = [
        json.dumps(
            dict(zip(cols, row, strict=True)), ensure_ascii=False, allow_nan=False, default=str
        )
        for row in zip(*values, strict=True)
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


# --------------------------------------------------------------------------------------- PDF

_PDF_STYLE = """
@page { size: A4 landscape; margin: 10mm 10mm 12mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 8pt;
       color: #1f2328; margin: 0; }
p.note { font-size: 10pt; font-weight: 600; margin: 0 0 4px; }
h1 { font-size: 13pt; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; max-width: 100%; table-layout: auto; }
th, td { text-align: left; vertical-align: top; padding: 2px 4px; border-bottom: 1px solid #d0d7de;
         white-space: normal; overflow-wrap: anywhere; }
th { background: #f6f8fa; font-weight: 600; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
"""


def _pdf_text(v: Any) -> str:
    """One cell as text for the PDF (escaped by the caller): '' for a missing value."""
    v = _json_value(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() else f"{v:.2f}"
    return str(v)


def pdf_note(n_rows: int, shown: int, what: str, full_list: str | None, hidden: int = 0) -> str:
    """The first line of a PDF list: the full count, how many rows (and columns) the PDF shows,
    and where the full list is."""
    text = f"{n_rows:,} {what}"
    text += f"; this PDF lists the first {shown:,}." if shown < n_rows else "."
    whole = "every row and all columns" if hidden else "every row"
    if full_list:
        text += f" The full list ({whole}) is in {full_list}."
    else:
        text += (
            f" The full list ({whole}) is in the CSV export: add csv to the formats to write it."
        )
    return text


def pdf_list_html(
    df: pd.DataFrame,
    *,
    title: str,
    what: str = "rows",
    full_list: str | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
) -> str:
    """A customer list as one HTML page to print: the note (:func:`pdf_note`) on the first line,
    the title, then at most ``max_rows`` (default :data:`PDF_MAX_ROWS`) rows of ``columns``
    (those present; default all), every header and cell HTML-escaped."""
    max_rows = PDF_MAX_ROWS if max_rows is None else max_rows
    keep = [c for c in columns if c in df.columns] if columns is not None else list(df.columns)
    hidden = df.shape[1] - len(keep)
    shown = df.iloc[:max_rows][keep]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in keep)
    cells = [
        [html.escape(_pdf_text(v)) for v in _json_column(shown.iloc[:, k])]
        for k in range(len(keep))
    ]
    rows = "".join(
        "<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in zip(*cells, strict=True)
    )
    note = pdf_note(len(df), len(shown), what, full_list, hidden)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_PDF_STYLE}</style></head><body>"
        f'<p class="note">{html.escape(note)}</p><h1>{html.escape(title)}</h1>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>"
    )


def pdf_list_bytes(df: pd.DataFrame, **kwargs: Any) -> bytes:
    """The PDF of :func:`pdf_list_html` (same arguments), printed by headless Chromium
    (:func:`segwork.pdf.write_pdf`; a :class:`segwork.pdf.PdfError` names the fix when Chromium
    is missing)."""
    with tempfile.TemporaryDirectory(prefix="segwork-list-") as scratch:
        page = Path(scratch) / "list.html"
        page.write_text(pdf_list_html(df, **kwargs), encoding="utf-8")
        write_pdf(page, Path(scratch) / "list.pdf")
        return (Path(scratch) / "list.pdf").read_bytes()


def export_members(
    members: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    pseudonymize: bool = False,
    salt: str | bytes | None = None,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    full_list: str | None = None,
) -> Path:
    """Write a segment's member list to ``path`` (.csv, .xlsx, .parquet or .pdf, by suffix).

    ``columns`` picks the columns (customer_id is always kept). CSV/XLSX cells are neutralised
    against formula injection; ``pseudonymize=True`` applies :func:`pseudonymize_members`. A PDF
    shows :data:`PDF_MEMBER_COLUMNS` (or ``columns``) of the first :data:`PDF_MAX_ROWS` members
    under ``title`` (default: the file's stem), its first line naming ``full_list`` (the CSV
    written next to it) as the place of the full list.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".parquet", ".pdf"):
        raise ExportError(
            f"export: {path.name} must end in .csv, .xlsx or .parquet, or .pdf for a printed list"
        )
    table = members.reset_index() if members.index.name == "customer_id" else members.copy()
    if "customer_id" not in table.columns:
        raise ExportError("export: the member table has no customer_id column or index")
    if columns is not None:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ExportError(
                f"export: columns {missing} are not in the member table"
                f"{_suggest(str(missing[0]), map(str, table.columns))}"
            )
        if pseudonymize:
            direct = [c for c in columns if c in DIRECT_IDENTIFIERS and c != "customer_id"]
            if direct:
                raise ExportError(
                    f"export: columns {direct} identify people directly and cannot "
                    "be exported with pseudonymize=True; leave them out"
                )
        table = table[["customer_id", *[c for c in columns if c != "customer_id"]]]
    if pseudonymize:
        table = pseudonymize_members(table, salt=salt)
    if suffix == ".csv":
        data = csv_bytes(table)
    elif suffix == ".xlsx":
        data = _xlsx_bytes(table, "members", dt.datetime(2000, 1, 1))
    elif suffix == ".pdf":
        data = pdf_list_bytes(
            table,
            title=title or path.stem,
            what="customers",
            full_list=full_list,
            columns=PDF_MEMBER_COLUMNS if columns is None else None,
        )
    else:
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        data = buf.getvalue()
    return atomic_write_bytes(path, data)


def export_segment_members(
    memberships: pd.DataFrame,
    customers: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("csv", "parquet"),
    pseudonymize: bool = False,
    columns: Sequence[str] | None = None,
) -> list[Path]:
    """Write each segment's members (with their customer columns) as one file per format.

    File names are the segment name made safe for a file system; each file is written by
    :func:`export_members` (formula cells neutralised, optional pseudonymization).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for seg in progress.items(list(memberships.columns), "exporting segment members"):
        ids = memberships.index[memberships[seg].fillna(False).astype(bool)]
        table = customers.loc[ids].reset_index()
        stem = re.sub(r"[^A-Za-z0-9]+", "_", seg).strip("_").lower() or "segment"
        full_list = f"{stem}.csv" if "csv" in formats else None
        for fmt in formats:
            written.append(
                export_members(
                    table,
                    folder / f"{stem}.{fmt}",
                    pseudonymize=pseudonymize,
                    columns=columns,
                    title=seg,
                    full_list=full_list,
                )
            )
    return written


def table_bytes(
    df: pd.DataFrame, fmt: str, *, sheet: str = "Sheet1", stamp: dt.datetime | None = None
) -> bytes:
    """``df`` as the bytes of one file in ``fmt`` (csv, xlsx, parquet, jsonl or pdf; a PDF is
    titled ``sheet``, see :func:`pdf_list_html`)."""
    if fmt == "csv":
        return csv_bytes(df)
    if fmt == "pdf":
        return pdf_list_bytes(df, title=sheet)
    if fmt == "xlsx":
        return _xlsx_bytes(df, sheet, stamp or dt.datetime(2000, 1, 1))
    if fmt == "jsonl":
        return _jsonl_bytes(df)
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    raise ExportError(_bad_format(fmt))


def _bad_format(fmt: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(fmt), FORMATS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"export format {fmt!r} is not one of {', '.join(FORMATS)}{hint}"


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The formats, checked and de-duplicated (an :class:`ExportError` names a wrong one)."""
    if isinstance(formats, str):
        formats = [formats]
    for fmt in formats:
        if fmt not in FORMATS:
            raise ExportError(_bad_format(fmt))
    return tuple(dict.fromkeys(formats))


def write_actions(
    lists: ActionLists, folder: str | os.PathLike[str], formats: Sequence[str] = ("csv",)
) -> dict[str, Path]:
    """Write tasks, emails and calls in each of ``formats`` (csv and xlsx for people, cells
    neutralised; pdf for people, at most :data:`PDF_MAX_ROWS` rows; jsonl and parquet for
    integrations), plus ``excluded.csv``. Atomic and deterministic: writing the same lists twice
    gives byte-identical files. Returns {file name: path}."""
    folder = Path(folder)
    stamp = lists.today.to_pydatetime()
    formats = check_formats(formats)
    out: dict[str, Path] = {}
    for name, df in lists.lists().items():
        for fmt in formats:
            if fmt == "pdf":
                full_list = f"{name}.csv" if "csv" in formats else None
                data = pdf_list_bytes(df, **_action_pdf_args(df, name, full_list=full_list))
            else:
                data = table_bytes(df, fmt, sheet=name, stamp=stamp)
            out[f"{name}.{fmt}"] = atomic_write_bytes(folder / f"{name}.{fmt}", data)
    out["excluded.csv"] = atomic_write_bytes(folder / "excluded.csv", csv_bytes(lists.excluded))
    return out


def _action_pdf_args(df: pd.DataFrame, name: str, *, full_list: str | None) -> dict[str, Any]:
    """How an action list is printed (:func:`pdf_list_html` arguments): the run id, the same on
    every row, is said in the title instead of a column."""
    omit = [c for c in _PDF_ACTION_OMIT if c in df.columns and df[c].nunique() <= 1]
    run = f", run {df[omit[0]].iloc[0]}" if omit and len(df) else ""
    return {
        "title": f"{name.capitalize()}{run}",
        "what": name if len(df) != 1 else name.removesuffix("s"),
        "full_list": full_list,
        "columns": [c for c in df.columns if c not in omit],
    }


@dataclass
class ActionFiles:
    """The run's action lists as files (catalog dataset ``actions``, a folder)."""

    lists: ActionLists
    formats: tuple[str, ...] = ("csv",)

    def write(self, folder: Path) -> list[Path]:
        return list(write_actions(self.lists, folder, self.formats).values())


@dataclass
class MemberFiles:
    """Each rule segment's member list as files (catalog dataset ``segment_members``)."""

    memberships: pd.DataFrame
    customers: pd.DataFrame
    formats: tuple[str, ...] = ("csv", "parquet")
    pseudonymize: bool = False

    def write(self, folder: Path) -> list[Path]:
        return export_segment_members(
            self.memberships,
            self.customers,
            folder,
            formats=self.formats,
            pseudonymize=self.pseudonymize,
        )

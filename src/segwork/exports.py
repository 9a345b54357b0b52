"""Files for people: CSV (and other) exports that a spreadsheet opens safely.

Every exported cell that a spreadsheet would run as a formula (it starts with ``= + - @``, tab,
carriage return, line feed or NUL) is prefixed with a single quote (OWASP "CSV Injection",
ASVS 1.2.10). CSV is written UTF-8 with a BOM and CRLF line ends, as Excel reads it. XLSX cells
are neutralised the same way and written as text, never as formulas. JSON Lines and Parquet
files are for programs and keep the values as they are.

Action lists and member lists (notebook 05) are written here, atomically (a temporary file in
the same folder, then ``os.replace``) and deterministically (the same lists give the same
bytes): :class:`ActionFiles` and :class:`MemberFiles` are the run's ``actions`` and
``segment_members`` datasets (objects with ``write(folder)``, see :mod:`segwork.catalog`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
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

if TYPE_CHECKING:
    from segwork.actions import ActionLists

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV Injection:
#: = + - @ tab carriage-return line-feed; ASVS 1.2.10 adds NUL).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
#: Formats of the files for people and programs: csv (people; fast), xlsx (people; slower),
#: parquet and jsonl (programs).
FORMATS = ("csv", "xlsx", "parquet", "jsonl")
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
    text = neutralise_frame(df).to_csv(index=False, lineterminator="\r\n", date_format=None)
    return text.encode("utf-8-sig")  # the BOM lets Excel read UTF-8 (Czech names) correctly


# ------------------------------------------------------------------------------------ writing


def _xlsx_value(v: Any) -> Any:
    if _is_missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str):
        return _XLSX_ILLEGAL.sub("", v)
    if isinstance(v, int | float | bool | dt.date | dt.datetime):
        return v
    return str(v)


def _xlsx_bytes(df: pd.DataFrame, sheet: str, stamp: dt.datetime) -> bytes:
    """An XLSX workbook of ``df`` (strings neutralised, written as text, never as formulas)
    whose bytes depend only on the data: fixed document and zip timestamps."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    safe = neutralise_frame(df)
    wb = Workbook(write_only=True)
    wb.properties.created = stamp
    ws = wb.create_sheet(sheet[:31] or "Sheet1")

    def cell(v: Any) -> Any:
        v = _xlsx_value(v)
        if isinstance(v, str) and v.startswith("="):
            c = WriteOnlyCell(ws, value=v)  # never happens after neutralise_frame; kept as text
            c.data_type = "s"
            return c
        if not isinstance(v, dt.datetime):
            return v  # text (neutralised: openpyxl writes it as text), numbers, empty cells
        c = WriteOnlyCell(ws, value=v)
        c.number_format = (
            "yyyy-mm-dd" if v == dt.datetime.combine(v.date(), dt.time()) else "yyyy-mm-dd hh:mm:ss"
        )
        return c

    ws.append([cell(str(c)) for c in safe.columns])
    for row in safe.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    raw = io.BytesIO()
    wb.save(raw)
    return _fixed_zip(raw.getvalue(), stamp)


def _fixed_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """Rewrite an XLSX zip with fixed timestamps (every zip entry; the document's "modified",
    which openpyxl sets to the clock on save), so equal content gives equal bytes."""
    modified = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = modified.sub(rb"\g<1>" + when + rb"\g<2>", body)
            dst.writestr(fixed, body)
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


def _jsonl_bytes(df: pd.DataFrame) -> bytes:
    cols = [str(c) for c in df.columns]
    lines = [
        json.dumps(
            dict(zip(cols, map(_json_value, row), strict=True)),
            ensure_ascii=False,
            allow_nan=False,
            default=str,
        )
        for row in df.itertuples(index=False, name=None)
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def export_members(
    members: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    pseudonymize: bool = False,
    salt: str | bytes | None = None,
    columns: Sequence[str] | None = None,
) -> Path:
    """Write a segment's member list to ``path`` (.csv, .xlsx or .parquet, by suffix).

    ``columns`` picks the columns (customer_id is always kept). CSV/XLSX cells are neutralised
    against formula injection; ``pseudonymize=True`` applies :func:`pseudonymize_members`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".parquet"):
        raise ExportError(f"export: {path.name} must end in .csv, .xlsx or .parquet")
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
        for fmt in formats:
            written.append(
                export_members(
                    table, folder / f"{stem}.{fmt}", pseudonymize=pseudonymize, columns=columns
                )
            )
    return written


def table_bytes(
    df: pd.DataFrame, fmt: str, *, sheet: str = "Sheet1", stamp: dt.datetime | None = None
) -> bytes:
    """``df`` as the bytes of one file in ``fmt`` (csv, xlsx, parquet or jsonl)."""
    if fmt == "csv":
        return csv_bytes(df)
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
    neutralised; jsonl and parquet for integrations), plus ``excluded.csv``. Atomic and
    deterministic: writing the same lists twice gives byte-identical files. Returns
    {file name: path}."""
    folder = Path(folder)
    stamp = lists.today.to_pydatetime()
    out: dict[str, Path] = {}
    for name, df in lists.lists().items():
        for fmt in check_formats(formats):
            out[f"{name}.{fmt}"] = atomic_write_bytes(
                folder / f"{name}.{fmt}", table_bytes(df, fmt, sheet=name, stamp=stamp)
            )
    out["excluded.csv"] = atomic_write_bytes(folder / "excluded.csv", csv_bytes(lists.excluded))
    return out


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

"""Read CRM sources (CSV, Parquet, Excel, SQL databases) into validated tables.

Every file or database table is read through DuckDB: history-sized tables (orders,
interactions, campaign exposures) stay there and are handed on as Ibis tables; tables with one
row per customer are handed on as pandas DataFrames. With ``engine: pyspark`` the validated
history tables are handed to Spark instead, and ``uri`` sources are read and validated by Spark
itself (see :func:`_load_spark`). Validation runs as a few aggregate queries, so it costs one scan
of a table, not a copy of it in Python.

What validation finds is either an error (the default: the message names the table, the column,
the rows and the fix) or, with ``invalid_rows: drop`` in the source's config, dropped rows that
are counted in the :class:`~segwork.schema.ValidationReport`. Returns (negative amounts) are
kept and counted.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import ibis
import pandas as pd
import sqlalchemy as sa

from segwork import engines, progress, warehouse
from segwork.config import (
    ID_TABLES,
    TABLES,
    ConfigError,
    RunConfig,
    SourceConfig,
    codec_name,
    redact_url,
)
from segwork.schema import (
    CONTRACTS,
    FALSE_WORDS,
    TRUE_WORDS,
    Contract,
    DerivedTable,
    Issue,
    SchemaError,
    Tables,
    TableStats,
    ValidationReport,
    as_ibis,
    contract_columns,
    contract_problems,
    day_end,
    require_columns,
    to_timestamp,
)

_MAX_EXAMPLES = 5
_ID_COLUMNS = ("customer_id", "order_id", "campaign_id")  # read as text so leading zeros survive
_FIRST_DATE = "1900-01-02"
"""Dates before this are placeholders, not dates of a CRM: Excel's day 0 (1899-12-30) and day 1
(1900-01-01), the commonest 'no date' an export writes, and anything older."""
# Words in the name of a column that is probably an order id (English, Czech, German).
_ORDER_ID_WORDS = ("order", "invoice", "receipt", "doklad", "faktur", "objedn", "beleg", "rechnung")
# ... a customer id (a campaign export without one gets row-number ids unless a column looks like
# one): a customer word alone or with an id suffix (CustomerID, client_no, Kundennummer), any name
# with a Czech customer word (Číslo zákazníka), or a bare id.
_CUSTOMER_ID_NAME = re.compile(
    r"(customer|client|klient|kunden|kunde|kund|cust|user|member|buyer|contact)"
    r"(id|no|nr|num|number|nummer|code|key|cislo|číslo)?|(id|key|cislo|číslo)(zakaznika|zákazníka)?"
)
_CUSTOMER_ID_WORDS = ("zakaznik", "zákazník", "odberatel", "odběratel")
# ... a campaign id (an export without one is taken as one campaign)
_CAMPAIGN_ID_WORDS = ("campaign", "kampa", "mailing")
# Texts that mean "no value" in numeric contract columns and survey answers, whatever the
# source's missing_values says: R writes NA, Excel #N/A, databases NULL (compared upper-cased).
NO_VALUE_MARKERS = ("NA", "N/A", "#N/A", "NULL")


def load_tables(cfg: RunConfig, *, con: Any = None) -> Tables:
    """Read, map and validate every source of a run config.

    ``con`` is the Ibis backend the history tables go to; by default the one the config's
    ``engine`` names (:func:`segwork.engines.connect`). On Spark see :func:`_load_spark`.
    """
    con = con if con is not None else engines.connect(cfg)
    if engines.is_spark(con):
        return _load_spark(cfg, con)
    report = ValidationReport()
    reader = _Reader(cfg, con, report)
    loaded: dict[str, Any] = {}
    for table in TABLES:  # customers first: the other tables are checked against its ids
        src = getattr(cfg.sources, table)
        if src is not None:
            with progress.step(f"reading {table} from {src.describe()}", con=con) as step:
                loaded[table] = reader.read(table, src)
                step.rows = report.tables[table].rows_kept
    if "customers" not in loaded:
        loaded["customers"] = _derive_customers(loaded, report)
    return Tables(con=con, report=report, **loaded)


def _derive_customers(loaded: dict[str, Any], report: ValidationReport) -> pd.DataFrame:
    """The customers table of a run without one: the distinct ids of the tables that have them.

    Each table's distinct ids are computed where the table lives (DuckDB or Spark), so only
    per-customer data comes into pandas. The report records which tables gave how many ids; the
    unknown-customer check does not apply (every id is known by construction).
    """
    ids: list[pd.Series] = []
    counts: dict[str, int] = {}
    for table in ID_TABLES:
        data = loaded.get(table)
        if data is None or table == "customers":
            continue
        distinct = as_ibis(data).select("customer_id").distinct().to_pandas()["customer_id"]
        distinct = distinct.dropna()
        counts[table] = len(distinct)
        ids.append(distinct)
    all_ids = pd.concat(ids, ignore_index=True).drop_duplicates().sort_values(ignore_index=True)
    report.derive(DerivedTable("customers", len(all_ids), counts))
    return pd.DataFrame({"customer_id": all_ids})


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_KIND_WORDS = {
    "date": "dates",
    "number": "numbers",
    "int": "whole numbers",
    "bool": "true/false",
    "id": "ids",
}


@dataclass
class _Findings:
    """What validation of one table found: issues for the report and the lines of its error.

    Both readers (DuckDB SQL and Ibis on Spark) count the same problems and report them here,
    so the messages are the same whichever engine read the table.
    """

    table: str
    src: SourceConfig
    report: ValidationReport
    errors: list[str] = field(default_factory=list)
    unit: str = "rows"  # "order lines" when the source's rows are order lines

    @property
    def action(self) -> Literal["dropped", "error"]:
        return "dropped" if self.src.invalid_rows == "drop" else "error"

    def unreadable(self, target: str, kind: str, n: int, examples: str, *, required: bool) -> None:
        """Values that cannot be typed: an error for required columns, else set to missing."""
        if not n:
            return
        words = _KIND_WORDS[kind]
        if not required:
            self.report.add(
                Issue(
                    self.table,
                    target,
                    f"cannot be read as {words}; set to missing",
                    n,
                    examples,
                    "repaired",
                    unit=self.unit,
                )
            )
            return
        self.report.add(
            Issue(
                self.table,
                target,
                f"cannot be read as {words}",
                n,
                examples,
                self.action,
                unit=self.unit,
            )
        )
        fix = {
            "date": "correct these rows (dates on or before 1900-01-01 are placeholders, not "
            "dates: Excel's day 0 and 1); if the "
            f"dates are not ISO (YYYY-MM-DD), set sources.{self.table}.date_format (e.g. "
            "'%d.%m.%Y', '%Y%m%d')",
            "number": "correct these rows (no currency symbols; NaN and infinity are not numbers; "
            f"set sources.{self.table}.decimal: ',' for decimal commas and sources."
            f"{self.table}.thousands for thousands separators)",
        }.get(kind, "correct these rows")
        self.errors.append(
            f"column '{target}': {n:,} value(s) cannot be read as {words}: {examples}. "
            f"Fix: {fix}, or set sources.{self.table}.invalid_rows: drop to drop and count them."
        )

    def missing(self, target: str, n: int) -> None:
        """Rows without a value in a required column."""
        if not n:
            return
        self.report.add(
            Issue(
                self.table,
                target,
                "missing value in a required column",
                n,
                "",
                self.action,
                unit=self.unit,
            )
        )
        self.errors.append(
            f"column '{target}': {n:,} row(s) have no value. Fix: fill them, or set "
            f"sources.{self.table}.invalid_rows: drop."
        )

    def duplicates(self, key: tuple[str, ...], n: int, examples: list[Any]) -> None:
        """Extra rows of keys that occur more than once (the first row of each key is kept)."""
        if not n:
            return
        shown = ", ".join(map(repr, examples))
        name = "+".join(key)
        self.report.add(
            Issue(self.table, name, "duplicate key", n, shown, self.action, unit=self.unit)
        )
        self.errors.append(
            f"key {name} is not unique: {n:,} extra row(s), e.g. {shown}. Fix: remove the "
            f"duplicates, or set sources.{self.table}.invalid_rows: drop to keep the first row "
            "of each key."
        )

    def unknown_customers(self, n: int, examples: list[Any]) -> bool:
        """Rows whose customer_id is not in the customers table; True if there are any."""
        if not n:
            return False
        shown = ", ".join(map(repr, examples))
        self.report.add(
            Issue(
                self.table,
                "customer_id",
                "unknown customer (not in the customers table)",
                n,
                shown,
                self.action,
                unit=self.unit,
            )
        )
        self.errors.append(
            f"column 'customer_id': {n:,} row(s) refer to customers that are not in the "
            f"customers table, e.g. {shown}. Fix: export the missing customers too, or set "
            f"sources.{self.table}.invalid_rows: drop."
        )
        return True

    def bad(self, target: str, problem: str, n: int, examples: str, fix: str) -> None:
        """Rows that can be read but break a rule of the contract."""
        if not n:
            return
        self.report.add(
            Issue(self.table, target, problem, n, examples, self.action, unit=self.unit)
        )
        self.errors.append(
            f"column '{target}': {n:,} row(s) with {problem}: {examples}. Fix: {fix}, or set "
            f"sources.{self.table}.invalid_rows: drop to drop and count them."
        )

    def raise_if_errors(self) -> None:
        """With invalid_rows: error (the default), stop with every problem found."""
        if self.errors and self.src.invalid_rows != "drop":
            raise SchemaError(
                self.table,
                f"{self.src.describe()} breaks the table contract:\n  - "
                + "\n  - ".join(self.errors),
            )


def _check_mapping(table: str, src: SourceConfig, present: list[str]) -> dict[str, str]:
    """Check that every mapped column exists; return {source name: contract name}."""
    for target, source in src.columns.items():
        if source not in present:
            close = difflib.get_close_matches(source, present, n=2)
            unnamed = [c for c in present if _UNNAMED.fullmatch(c)]
            raise SchemaError(
                table,
                f"the config maps '{target}' to the column '{source}', which is not in "
                f"{src.describe()}; columns present: {', '.join(present)}",
                column=target,
                fix=f"correct sources.{table}.columns.{target}"
                + (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else "")
                + (
                    f"; a column without a header ({', '.join(map(repr, unnamed))}) is mapped "
                    f'as {target}: ""'
                    if len(unnamed) == 1
                    else ""
                ),
            )
    lower = {c.lower(): c for c in present}
    for target, source in src.columns.items():
        own = lower.get(target.lower())
        if own is not None and own != source:
            raise SchemaError(
                table,
                f"the config maps '{target}' to the column '{source}', but {src.describe()} also "
                f"has a column '{own}'; both would be '{target}'",
                column=target,
                fix=f"remove sources.{table}.columns.{target} to use the file's '{own}', or "
                f"rename or drop the column '{own}' in the export to use '{source}'.",
            )
    targets: dict[str, str] = {}
    for target, source in src.columns.items():
        if source in targets:
            raise SchemaError(
                table,
                f"the config maps both '{targets[source]}' and '{target}' to the column '{source}'",
                column=target,
                fix=f"map each column once under sources.{table}.columns.",
            )
        targets[source] = target
    return {source: target for target, source in src.columns.items()}


# The names readers give columns with an empty header: DuckDB column0/column00, pandas "Unnamed: 0".
_UNNAMED = re.compile(r"column\d+|Unnamed: \d+")


def _name_unnamed(table: str, src: SourceConfig, present: list[str]) -> SourceConfig:
    """The source with a mapping onto "" (a column without a header) pointed at that column."""
    unnamed = [c for c in present if _UNNAMED.fullmatch(c)]
    blank = [t for t, name in src.columns.items() if not name.strip()]
    if len(unnamed) != 1 or len(blank) != 1:
        raise SchemaError(
            table,
            f"the config maps {', '.join(map(repr, blank))} to a column without a header, but "
            f"{src.describe()} has {len(unnamed) or 'no'} such column(s)"
            + (f": {', '.join(map(repr, unnamed))}" if unnamed else "")
            + f"; columns present: {', '.join(present)}",
            column=blank[0],
            fix=f"map sources.{table}.columns.{blank[0]} to one of the columns present by its name.",
        )
    return src.model_copy(update={"columns": {**src.columns, blank[0]: unnamed[0]}})


_HEADER_SEARCH_ROWS = 30
# Files that end in .csv/.txt but are not text, by their first bytes.
_NOT_TEXT = (
    (
        b"PK\x03\x04",
        "a zip file (an .xlsx workbook?)",
        "set sources.{table}.format: excel if it is a workbook, or unpack it",
    ),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)", "set sources.{table}.format: excel"),
    (b"PAR1", "a Parquet file", "set sources.{table}.format: parquet"),
    (
        b"\x1f\x8b",
        "compressed with gzip",
        "unpack it (gunzip) and point sources.{table}.path at the unpacked file",
    ),
)
_CHUNK_CHARS = 1 << 20


def _codec(src: SourceConfig, path: Path) -> str:
    """The codec to decode a text file with: a BOM decides, else sources.<table>.encoding."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    name = codec_name(src.encoding)
    if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return name


@contextmanager
def _utf8_copy(
    table: str, src: SourceConfig, path: Path, *, newlines: bool = False
) -> Iterator[tuple[Path, str | None]]:
    """The file as UTF-8 that DuckDB can read, and the delimiter to read it with.

    UTF-8 files (with or without a BOM) are read where they are. Any other encoding, and
    whitespace-separated columns, are converted in Python, streaming in chunks (files larger
    than memory are fine), into a temporary file that is removed when the block ends: DuckDB
    reads other encodings only through an extension it downloads at run time. ``newlines``
    also turns every line ending into "\\n" (files glued together from Windows and Unix parts).
    """
    codec = _codec(src, path)
    whitespace = src.delimiter == "whitespace"
    if codec in ("utf-8", "utf-8-sig") and not whitespace and not newlines:
        yield path, src.delimiter
        return
    if not codec.startswith(("utf-", "utf_")):
        _refuse_utf8_under_legacy_codec(table, src, path, codec)
    fd, name = tempfile.mkstemp(prefix="segwork-utf8-", suffix=".csv")
    os.close(fd)
    copy = Path(name)
    try:
        try:
            with (
                path.open("r", encoding=codec, newline=None if newlines else "") as text,
                copy.open("w", encoding="utf-8", newline="") as out,
            ):
                if whitespace:
                    for line in text:
                        fields = line.split()
                        if fields:
                            out.write("\t".join(fields) + "\n")
                else:
                    while chunk := text.read(_CHUNK_CHARS):
                        out.write(chunk)
        except UnicodeDecodeError:
            raise SchemaError(
                table,
                f"{src.describe()} is not {codec} text: {_undecodable(path, codec)}",
                fix=f"set sources.{table}.encoding to the encoding the file was saved in (e.g. "
                "cp1250 for Czech Windows exports, latin-2, utf-8, utf-16).",
            ) from None
        yield copy, "\t" if whitespace else src.delimiter
    finally:
        copy.unlink(missing_ok=True)


def _refuse_workbook_impostor(table: str, src: SourceConfig, path: Path) -> None:
    """An 'Excel export' that is no workbook: CRMs write an HTML table or plain text and give it
    an .xls ending (Excel opens both, with a warning). Named by its first bytes."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or not head:
        return  # a zip (.xlsx) or an OLE (.xls) workbook, or empty (said by the reader)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<") and any(tag in text for tag in (b"<html", b"<table", b"<!doctype")):
        what = "an HTML page (a web table saved with an Excel ending, as some CRMs export)"
        fix = (
            "open it in Excel or LibreOffice and save it as .xlsx or CSV, then point "
            f"sources.{table}.path at the new file."
        )
    elif text.startswith(b"<?xml"):
        what = "an XML file (Excel 2003 XML or another XML export)"
        fix = (
            f"open it in Excel and save it as .xlsx or CSV, then point sources.{table}.path at it."
        )
    elif head.count(0) == 0 or head.count(0) > len(head) // 4:
        what = "a text file (values separated by commas, semicolons or tabs)"
        fix = f"set sources.{table}.format: csv (and encoding/delimiter if needed)."
    else:
        return
    raise SchemaError(table, f"{src.describe()} is not an Excel workbook: it is {what}", fix=fix)


def _refuse_utf8_under_legacy_codec(table: str, src: SourceConfig, path: Path, codec: str) -> None:
    """Stop when sources.<table>.encoding names a legacy codec but the file is UTF-8.

    Every byte decodes in cp1250 or latin-2, so a UTF-8 file read with one of them gives garbled
    names ('NovĂˇkovĂˇ') without any error. Real legacy text almost never decodes as UTF-8 once it
    has a letter beyond ASCII (á is 0xE1, which UTF-8 only allows before two continuation
    bytes), so a file that decodes as UTF-8 *and* has multi-byte letters is UTF-8. Streams the
    file and stops at the first byte UTF-8 does not allow.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    multibyte = False
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
                multibyte = multibyte or max(chunk) >= 0x80
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return  # not UTF-8: the configured codec is the one to use
    if not multibyte:
        return  # plain ASCII reads the same in every codec
    with path.open("rb") as f:
        line_no, line = next((i, ln) for i, ln in enumerate(f, 1) if max(ln, default=0) >= 0x80)
    as_utf8 = line.decode("utf-8").strip()[:80]
    as_codec = line.decode(codec, errors="replace").strip()[:80]
    raise SchemaError(
        table,
        f"{src.describe()} is UTF-8 text, but sources.{table}.encoding says {src.encoding}: "
        f"line {line_no} would read as {as_codec!r} instead of {as_utf8!r}",
        fix=f"remove sources.{table}.encoding (or set it to utf-8); the file was saved as UTF-8 "
        "(a newer export or an editor that converted it).",
    )


def _mixed_line_endings(path: Path) -> bool:
    """True if the file ends some lines with \\r\\n and others with a bare \\n."""
    crlf = lf = 0
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\r\n"):
                crlf += 1
            elif line.endswith(b"\n"):
                lf += 1
            if crlf and lf:
                return True
    return False


def _undecodable(path: Path, codec: str) -> str:
    """Where ``codec`` first fails on the file: the line and the bytes, for the error message."""
    if codec.startswith(("utf-16", "utf-32")):
        return "its bytes do not decode (is it really UTF-16/32?)"
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode(codec)
            except UnicodeDecodeError as e:
                bad = " ".join(f"0x{b:02x}" for b in line[e.start : e.end])
                shown = line.decode("cp1250", errors="replace").strip()[:80]
                return f"line {number} has the byte(s) {bad} (the line read as cp1250: {shown!r})"
    return "a byte sequence does not decode"


def _explain_text_error(
    table: str, src: SourceConfig, path: Path, readable: Path, delim: str | None, e: Exception
) -> None:
    """Turn DuckDB's error on a text file into one that names the cause and the key to set."""
    message = str(e)
    if "unicode" in message.lower() and readable == path:
        raise SchemaError(
            table,
            f"{src.describe()} is not UTF-8 text: {_undecodable(path, 'utf-8')}",
            fix=f"set sources.{table}.encoding to the encoding the file was saved in: cp1250 "
            "(windows-1250) for Czech and other Central European Windows exports, latin-2 "
            "(iso8859-2), utf-16; any Python codec name works.",
        ) from None
    ragged = _ragged_line(
        table, readable, src, delim, _text_header_row(table, src, readable, delim)
    )
    if ragged:
        raise SchemaError(table, ragged[0], fix=ragged[1]) from None


def _header_names(table: str, src: SourceConfig) -> set[str]:
    """Column names the header row must hold: the customer id, and the required columns the
    config maps (a title row above the header holds none of them)."""
    contract = CONTRACTS[table]
    names = {src.columns[c] for c in contract.required if c in src.columns}
    if "customer_id" in contract.required:
        names.add(src.columns.get("customer_id", "customer_id"))
    else:
        names |= {src.columns.get(c, c) for c in contract.required}
    return names


def _text_header_row(table: str, src: SourceConfig, path: Path, delim: str | None) -> int:
    """Rows above the header of a text file: ``skip_rows``, or found among the first lines."""
    if src.skip_rows is not None or not src.header:
        return src.skip_rows or 0
    needed = _header_names(table, src)
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        head = [line for _, line in zip(range(_HEADER_SEARCH_ROWS), f, strict=False)]
    sep = delim or max(",;\t|", key=lambda c: sum(line.count(c) for line in head))
    for i, line in enumerate(head):
        fields = next(csv.reader([line], delimiter=sep), [])
        if needed <= {v.strip() for v in fields}:
            return i
    return 0


def _ragged_line(
    table: str, path: Path, src: SourceConfig, delim: str | None, skip: int
) -> tuple[str, str] | None:
    """The first line whose number of fields differs from the header's, as (message, fix).

    Read with Python's csv module (quotes, and line breaks inside quotes, as in any CSV), with
    the configured delimiter or else the one most frequent on the first line.
    """
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        for _ in range(skip):
            f.readline()
        start = f.tell()
        first = f.readline()
        f.seek(start)
        sep = delim or max(",;\t|", key=first.count)
        reader = csv.reader(f, delimiter=sep)
        expected = len(src.column_names) if not src.header and src.column_names else None
        for row in reader:
            if not row:
                continue
            if expected is None:
                expected = len(row)
                continue
            if len(row) != expected:
                line = reader.line_num + skip
                shown = "tab" if sep == "\t" else repr(sep)
                return (
                    f"{src.describe()}: line {line} has {len(row)} fields, the header has "
                    f"{expected} (fields separated by {shown})",
                    "correct that line in the file (a separator inside a value needs quotes "
                    f'"..."), or set sources.{table}.delimiter if {shown} is not the '
                    "separator.",
                )
    return None


def _check_header(table: str, src: SourceConfig, names: list[str]) -> None:
    """Two columns with one header (DuckDB and pandas would silently rename one) are an error."""
    seen: dict[str, int] = {}
    for i, n in enumerate(names, 1):
        key = n.strip().lower()
        if not key:
            continue
        if key in seen:
            raise SchemaError(
                table,
                f"{src.describe()} has two columns named {n.strip()!r} (columns {seen[key]} "
                f"and {i} of the header); segwork cannot tell which one is meant",
                column=n.strip(),
                fix="rename one of them in the export (or drop the one that is not needed).",
            )
        seen[key] = i


def _required(table: str, src: SourceConfig, mapped: list[str]) -> list[str]:
    """The columns a source must have: the contract's, adapted to order lines and surveys."""
    if table == "survey_responses":
        return ["customer_id"]
    required = list(CONTRACTS[table].required)
    if table == "orders" and "order_id" not in mapped and src.shape == "orders":
        # No order id (CDNOW and other purchase logs): a purchase is a customer and a day.
        # Unless a column looks like one that the config forgot to map.
        looks = [
            c
            for c in mapped
            if c not in CONTRACTS[table].required
            and (
                difflib.get_close_matches("order_id", [c.lower()], cutoff=0.7)
                or any(w in c.lower() for w in _ORDER_ID_WORDS)
            )
        ]
        if looks:
            raise SchemaError(
                table,
                f"no column is mapped to order_id, but {src.describe()} has "
                f"{', '.join(map(repr, looks))}",
                column="order_id",
                fix=f"map it: sources.orders.columns.order_id: {looks[0]} (without an order id, "
                "the rows of one customer on one day would be taken as one order).",
            )
        return [c for c in required if c != "order_id"]
    if table == "campaign_exposures":
        return _campaign_required(src, mapped, required)
    if table == "contracts":
        contract_columns(mapped)
        if "contract_id" not in mapped:  # one contract per customer: its id is the customer's
            return [c for c in required if c != "contract_id"]
    if table == "orders" and src.shape == "lines" and "amount" not in mapped:
        if not {"quantity", "unit_price"} <= set(mapped):
            missing = [c for c in ("quantity", "unit_price") if c not in mapped]
            raise SchemaError(
                table,
                f"order lines need a line amount, or quantity and unit_price to compute it; "
                f"{' and '.join(missing)} missing; columns present: {', '.join(mapped)}",
                column=missing[0],
                fix="map them under sources.orders.columns (e.g. quantity: Quantity, "
                "unit_price: UnitPrice), or map amount to a column of line amounts.",
            )
        required = [c for c in required if c != "amount"] + ["quantity", "unit_price"]
    return required


def _looks_like(
    columns: list[str], target: str, words: tuple[str, ...], name: re.Pattern[str] | None = None
) -> list[str]:
    """The columns whose name suggests they hold ``target`` (an id the config did not map)."""
    return [
        c
        for c in columns
        if difflib.get_close_matches(target, [c.lower()], cutoff=0.7)
        or any(w in c.lower() for w in words)
        or (name is not None and name.fullmatch(re.sub(r"[\W_]+", "", c.lower())))
    ]


def _campaign_required(src: SourceConfig, mapped: list[str], required: list[str]) -> list[str]:
    """A campaign export may lack the customer id (one row per exposed customer: ids from the
    row numbers) and the campaign id (one campaign); not when a column looks like the id."""
    table = "campaign_exposures"
    others = [c for c in mapped if c not in CONTRACTS[table].required]
    if "customer_id" not in mapped:
        looks = _looks_like(others, "customer_id", _CUSTOMER_ID_WORDS, _CUSTOMER_ID_NAME)
        if looks:
            raise SchemaError(
                table,
                f"no column is mapped to customer_id, but {src.describe()} has "
                f"{', '.join(map(repr, looks))}",
                column="customer_id",
                fix=f"map it: sources.{table}.columns.customer_id: {looks[0]} (without a customer "
                "id, each row would be taken as one customer, numbered by its row).",
            )
        required = [c for c in required if c != "customer_id"]
    if "campaign_id" not in mapped:
        looks = _looks_like(others, "campaign_id", _CAMPAIGN_ID_WORDS)
        if looks and src.campaign is None:
            raise SchemaError(
                table,
                f"no column is mapped to campaign_id, but {src.describe()} has "
                f"{', '.join(map(repr, looks))}",
                column="campaign_id",
                fix=f"map it: sources.{table}.columns.campaign_id: {looks[0]}, or, if the file "
                f"holds one campaign, name it with sources.{table}.campaign.",
            )
        required = [c for c in required if c != "campaign_id"]
    elif src.campaign is not None:
        raise SchemaError(
            table,
            f"sources.{table}.campaign names one campaign for the whole file, but "
            f"{src.describe()} has a campaign_id column",
            column="campaign_id",
            fix=f"remove sources.{table}.campaign to use the file's campaign ids.",
        )
    return required


def campaign_name(src: SourceConfig) -> str:
    """The one campaign of an export without a campaign id: the configured name or the file's."""
    if src.campaign is not None:
        return src.campaign.strip()
    if src.path is not None:
        return Path(src.path).stem
    return str(src.table or "campaign")


class _Reader:
    """Reads one source after another into the same DuckDB database."""

    def __init__(self, cfg: RunConfig, con: Any, report: ValidationReport):
        self.cfg, self.con, self.report = cfg, con, report
        self.duck: duckdb.DuckDBPyConnection = con.con

    def _sql(self, query: str) -> list[tuple[Any, ...]]:
        """Run one statement and fetch all of its result (DuckDB wants results consumed)."""
        return self.duck.execute(query).fetchall()

    def _one(self, query: str) -> Any:
        return self._sql(query)[0][0]

    # -- reading the raw source ---------------------------------------------------------------
    def _raw(self, table: str, src: SourceConfig) -> str:
        """Register the source as a DuckDB view or table named raw_<table>; return its name."""
        name = f"raw_{table}"
        kind = src.kind
        where = src.describe()
        try:
            if kind == "csv":
                self._raw_csv(table, name, src)
            elif kind == "parquet":
                path = self.cfg.path(src.path)  # type: ignore[arg-type]
                self._sql(
                    f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_literal(str(path))})"
                )
                self._sql(f"DESCRIBE {name}")
            elif kind == "excel":
                self._raw_excel(table, name, src)
            else:
                self._raw_sql(name, src)
        except SchemaError:
            raise
        except (sa.exc.SQLAlchemyError, warehouse.WarehouseError) as e:
            reason = engines.error_line(getattr(e, "orig", None) or e)
            raise SchemaError(
                table,
                f"could not read {where}: {redact_url(reason)}",
                fix=f"check the url and table of sources.{table} in the run config, that the "
                "database is reachable and that the credentials it names (${VAR}) are set in the "
                "environment.",
            ) from None
        except (duckdb.Error, ValueError, OSError, ImportError) as e:
            first = engines.error_line(e)
            raise SchemaError(
                table,
                f"could not read {where} as {kind}: {first}",
                fix=f"check that the file is a valid {kind} file (not empty, not another format), or set "
                f"'format:' for sources.{table} in the config.",
            ) from None
        return name

    def _raw_csv(self, table: str, name: str, src: SourceConfig) -> None:
        """Read a text file into a DuckDB table, in whatever dialect the config describes.

        Files DuckDB cannot read itself (any encoding but UTF-8, whitespace-separated columns)
        are converted to UTF-8 on the way in (:func:`_utf8_copy`), streaming, into a temporary
        file that is deleted once DuckDB has copied the rows.
        """
        path = self.cfg.path(src.path)  # type: ignore[arg-type]
        if path.stat().st_size == 0:
            raise ValueError("the file is empty (0 bytes)")
        with path.open("rb") as f:
            magic = f.read(4096)
        if magic.count(0) > len(magic) // 4 and _codec(src, path) in ("utf-8", "utf-8-sig"):
            odd = magic[1::2].count(0) > magic[0::2].count(0)  # "a\0b\0": little-endian
            raise SchemaError(
                table,
                f"{src.describe()} has zero bytes between its letters: it is UTF-16 text "
                "without a byte-order mark, not UTF-8",
                fix=f"set sources.{table}.encoding: utf-16-{'le' if odd else 'be'}",
            )
        for start, what, fix in _NOT_TEXT:
            if magic.startswith(start):
                raise SchemaError(
                    table,
                    f"{src.describe()} is not a text file: it is {what}",
                    fix=fix.format(table=table),
                )
        with _utf8_copy(table, src, path) as (readable, delim):
            try:
                self._read_text(table, name, src, readable, delim)
                return
            except duckdb.Error as e:
                _explain_text_error(table, src, path, readable, delim, e)
                if not _mixed_line_endings(path):
                    raise
        # \r\n and \n in one file confuse DuckDB's sniffer: read a copy with one kind.
        with _utf8_copy(table, src, path, newlines=True) as (readable, delim):
            self._read_text(table, name, src, readable, delim)

    def _read_text(
        self, table: str, name: str, src: SourceConfig, path: Path, delim: str | None
    ) -> None:
        file = _literal(str(path))
        opts = [f"header={str(src.header).lower()}"]
        if delim:
            opts.append(f"delim={_literal(delim)}")
        if src.delimiter == "whitespace":
            opts.append("quote=''")  # split on whitespace only, as the exporting program did
        if src.decimal != ".":
            opts.append(f"decimal_separator={_literal(src.decimal)}")
        if src.missing_values:
            nulls = ["", *src.missing_values]
            opts.append(f"nullstr=[{', '.join(map(_literal, nulls))}]")
        skip = _text_header_row(table, src, path, delim)
        if skip:
            opts.append(f"skip={skip}")
        first = self._sql(
            f"SELECT * FROM read_csv({file}, {', '.join([*opts[1:], 'header=false'])}, "
            "all_varchar=true) LIMIT 1"
        )
        if not first:
            raise ValueError("the file has no lines")
        if src.header:
            _check_header(table, src, [str(v) if v is not None else "" for v in first[0]])
        else:
            width = len(first[0]) if first else 0
            names = src.column_names or []
            if width != len(names):
                raise SchemaError(
                    table,
                    f"{src.describe()} has {width} column(s) on its first line, but "
                    f"sources.{table}.column_names names {len(names)}: {', '.join(names)}",
                    fix=f"give one name per column, in file order, under sources.{table}."
                    "column_names",
                )
            opts.append(f"names=[{', '.join(map(_literal, names))}]")
        header = [
            r[0]
            for r in self._sql(
                f"DESCRIBE SELECT * FROM read_csv({file}, {', '.join(opts)}, all_varchar=true)"
            )
        ]
        if len(header) == 1 and delim is None and any(c in header[0] for c in ",;\t|"):
            # The sniffer found no delimiter that gives every line the same number of fields.
            ragged = _ragged_line(table, path, src, None, skip)
            if ragged:
                raise SchemaError(table, ragged[0], fix=ragged[1])
        # Ids, dates (and numbers in a local format) are read as text: leading zeros survive,
        # and the typing step applies date_format, decimal and thousands to every value.
        text_kinds = {"id", "date"} | (
            {"number", "int"} if src.decimal != "." or src.thousands else set()
        )
        contract = CONTRACTS[table]
        wanted = {
            self._source_name(src, c)
            for c, k in {**contract.required, **contract.optional}.items()
            if k in text_kinds
        }
        types = {c: "VARCHAR" for c in header if c in wanted}
        typed = opts + (
            [f"types={{{', '.join(f'{_literal(k)}: {_literal(v)}' for k, v in types.items())}}}"]
            if types
            else []
        )
        try:
            self._sql(
                f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv({file}, {', '.join(typed)})"
            )
        except duckdb.ConversionException:
            # A value later in the file does not fit the type sniffed from the first rows:
            # read everything as text and let validation find the offending rows.
            self._sql(
                f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM "
                f"read_csv({file}, {', '.join(opts)}, all_varchar=true)"
            )

    def _raw_excel(self, table: str, name: str, src: SourceConfig) -> None:
        """Read one sheet; find the header row below title rows; ids as text."""
        path = self.cfg.path(src.path)  # type: ignore[arg-type]
        _refuse_workbook_impostor(table, src, path)
        if path.suffix.lower() == ".xls":
            try:
                import xlrd  # noqa: F401
            except ImportError:
                raise SchemaError(
                    table,
                    f"{src.describe()} is an Excel 97-2003 workbook (.xls), which segwork "
                    "does not read",
                    fix="open it in Excel or LibreOffice and save it as .xlsx (or CSV), then "
                    f"point sources.{table}.path at the new file.",
                ) from None
        # calamine (Rust) reads a 540,000-line workbook in 18 s where openpyxl took 127 s
        with pd.ExcelFile(path, engine="calamine") as book:
            sheets = [str(s) for s in book.sheet_names]
            sheet = src.sheet if src.sheet is not None else 0
            if (isinstance(sheet, str) and sheet not in sheets) or (
                isinstance(sheet, int) and not 0 <= sheet < len(sheets)
            ):
                raise SchemaError(
                    table,
                    f"{src.describe()} has no sheet {sheet!r}; its sheets are: "
                    + ", ".join(map(repr, sheets)),
                    fix=f"set sources.{table}.sheet to one of these names (or a 0-based index).",
                )
            head = pd.read_excel(
                book, sheet_name=sheet, header=None, nrows=_HEADER_SEARCH_ROWS, dtype=object
            )
            if not src.header:
                skip = src.skip_rows or 0
                names = src.column_names or []
                ids = {self._source_name(src, c) for c in _ID_COLUMNS}
                frame = pd.read_excel(
                    book,
                    sheet_name=sheet,
                    header=None,
                    skiprows=skip,
                    dtype={i: str for i, c in enumerate(names) if c in ids},
                    na_values=src.missing_values or None,
                )
                if frame.shape[1] != len(names):
                    raise SchemaError(
                        table,
                        f"sheet {sheet!r} of {src.describe()} has {frame.shape[1]} column(s), "
                        f"but sources.{table}.column_names names {len(names)}",
                        fix=f"give one name per column, in sheet order, under sources.{table}."
                        "column_names",
                    )
                frame.columns = names
            else:
                row = (
                    src.skip_rows
                    if src.skip_rows is not None
                    else self._header_row(table, src, head)
                )
                if row < len(head):
                    _check_header(
                        table, src, ["" if pd.isna(v) else str(v) for v in head.iloc[row]]
                    )
                ids = {self._source_name(src, c) for c in _ID_COLUMNS}
                labels = (  # pandas names a column without a header "Unnamed: <position>"
                    []
                    if row >= len(head)
                    else [
                        f"Unnamed: {i}" if pd.isna(v) else str(v)
                        for i, v in enumerate(head.iloc[row])
                    ]
                )
                frame = pd.read_excel(
                    book,
                    sheet_name=sheet,
                    header=row,
                    dtype={c: str for c in ids if c in labels},
                    na_values=src.missing_values or None,
                )
        if frame.shape[1] == 0:
            raise SchemaError(
                table,
                f"sheet {sheet!r} of {src.describe()} is empty",
                fix=f"export the table again, or set sources.{table}.sheet to the sheet that "
                f"holds it (sheets: {', '.join(map(repr, sheets))}).",
            )
        self.duck.register(f"{name}_df", frame)
        self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_df")
        self.duck.unregister(f"{name}_df")

    def _header_row(self, table: str, src: SourceConfig, head: pd.DataFrame) -> int:
        """The first row holding the names of the required columns (title rows are above it)."""
        needed = _header_names(table, src)
        for i, values in enumerate(head.itertuples(index=False)):
            if needed <= {str(v).strip() for v in values if not pd.isna(v)}:
                return i
        return 0

    def _raw_sql(self, name: str, src: SourceConfig) -> None:
        url, first = src.resolved_url(), True
        for chunk in warehouse.read_chunks(url, src.table):
            self.duck.register(f"{name}_chunk", chunk)
            if first:
                self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_chunk")
                first = False
            else:
                self._sql(f"INSERT INTO {name} SELECT * FROM {name}_chunk")
            self.duck.unregister(f"{name}_chunk")
        if first:  # no chunks at all: an empty table; keep its columns
            cols = warehouse.column_names(url, src.table)
            self.duck.register(f"{name}_chunk", pd.DataFrame(columns=cols))
            self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_chunk")

    @staticmethod
    def _source_name(src: SourceConfig, column: str) -> str:
        return src.columns.get(column, column)

    # -- mapping, typing, validation -------------------------------------------------------------
    def read(self, table: str, src: SourceConfig) -> Any:
        contract = CONTRACTS[table]
        lines = table == "orders" and src.shape == "lines"
        raw = self._raw(table, src)
        described = self._sql(f"DESCRIBE {raw}")
        if any(not name.strip() for name in src.columns.values()):
            # A column mapped by its empty header (R's row names): read again under the name the
            # reader gave it, so it is typed as the contract says (ids as text).
            src = _name_unnamed(table, src, [r[0] for r in described])
            raw = self._raw(table, src)
            described = self._sql(f"DESCRIBE {raw}")
        raw_types = {r[0]: r[1] for r in described}
        present = list(raw_types)
        rename = _check_mapping(table, src, present)
        mapped = [rename.get(c, c) for c in present]
        required = _required(table, src, mapped)
        require_columns(mapped, required, table)
        by_day = table == "orders" and "order_id" not in mapped  # orders = customer x day
        lines = lines or by_day
        added = self._added_ids(table, src, raw, mapped)
        if added and src.kind == "parquet":  # row numbers need the rows in a table, in file order
            self._sql(f"CREATE OR REPLACE TABLE {raw}_rows AS SELECT * FROM {raw}")
            raw = f"{raw}_rows"

        select = [f"{expr} AS {_ident(target)}" for target, expr in added.items()]
        checks = []
        markers = self._no_value_markers(table, raw, present, raw_types, rename)
        for col in present:
            target = rename.get(col, col)
            kind = contract.kind(target)
            source = markers.get(col, _ident(col))
            expr = self._typed(source, raw_types[col], kind, src) if kind else source
            select.append(f"{expr} AS {_ident(target)}")
            if kind and kind not in ("string",):
                select.append(f"{source} AS {_ident('__raw_' + target)}")
                checks.append((target, col, kind))
        present = [*added, *present]
        mapped = [*added, *mapped]
        typed = f"typed_{table}"
        # Typed once into a table: validation scans it a few dozen times, and parsing dates of
        # ten million lines once is half the cost. Parquet too: its typing expressions and the
        # decoding are otherwise paid by every check (200k demo: 45 s -> 30 s on a busy machine).
        # The run validates in a process of its own, so the memory goes back when it ends.
        raw_is_view = src.kind == "parquet" and not added
        self._sql(f"CREATE OR REPLACE TABLE {typed} AS SELECT {', '.join(select)} FROM {raw}")

        n = self._one(f"SELECT count(*) FROM {typed}")
        if n == 0:
            raise SchemaError(
                table,
                f"{src.describe()} has no data rows",
                fix="export the table again; "
                "it has a header but no rows (or an empty sheet/table).",
            )
        invalid = self._validate(
            table, src, contract, typed, checks, raw, required, lines and not by_day
        )
        keep = " AND ".join(invalid) if invalid else "TRUE"
        final_cols = ", ".join(
            self._not_after_analysis_date(table, typed, rename.get(c, c)) for c in present
        )
        if lines:
            order_id = (
                ", customer_id || ' ' || strftime(order_date, '%Y-%m-%d') AS order_id"
                if by_day
                else ""
            )
            self._sql(
                f"CREATE OR REPLACE VIEW lines_{table} AS SELECT *{order_id} FROM {typed} "
                f"WHERE {keep}"
            )
            kept = self._one(f"SELECT count(*) FROM lines_{table}")
            columns = self._sum_lines(src, f"lines_{table}", mapped)
            if by_day:
                self.report.add(
                    Issue(
                        "orders",
                        "order_id",
                        "no order id in the source: the rows of one customer on one day are "
                        "one order (order_id = customer id and day)",
                        self._one("SELECT count(*) FROM orders"),
                        "",
                        "kept",
                        unit="orders",
                    )
                )
        else:
            dedup = ""
            if contract.key and src.invalid_rows == "drop":
                dedup = f" QUALIFY row_number() OVER (PARTITION BY {', '.join(map(_ident, contract.key))}) = 1"
            body = f"SELECT {final_cols} FROM {typed} WHERE {keep}{dedup}"
            self._sql(f"CREATE OR REPLACE TABLE {_ident(table)} AS {body}")
            kept = self._one(f"SELECT count(*) FROM {_ident(table)}")
            columns = mapped
        rows = self._one(f"SELECT count(*) FROM {_ident(table)}") if lines else kept
        self.report.tables[table] = TableStats(
            table,
            src.describe(),
            n,
            kept,
            columns,
            table_rows=rows,
            unit="order lines" if lines and not by_day else "rows",
        )
        if table == "orders":
            self._check_orders(src)
        elif table in _LATE_COLUMNS and _LATE_COLUMNS[table][0] in columns:
            column = _LATE_COLUMNS[table][0]
            day = _literal(str(self.cfg.analysis_date))
            n_late, late = self._examples(
                _ident(table), f"{_ident(column)} >= DATE {day} + INTERVAL 1 DAY", _ident(column)
            )
            _report_late(self.report, table, column, self.cfg.analysis_date, n_late, late)
        # the result is a table of its own: free the intermediate copies
        self._sql(f"DROP VIEW IF EXISTS lines_{table}")
        self._sql(f"DROP TABLE {typed}")
        self._sql(f"DROP {'VIEW' if raw_is_view else 'TABLE'} {raw}")
        result = self.con.table(table)
        return result if contract.history else result.to_pandas()

    def _added_ids(
        self, table: str, src: SourceConfig, raw: str, mapped: list[str]
    ) -> dict[str, str]:
        """SQL for the ids a campaign export lacks: {contract column: expression}, said in the report.

        Without a customer id each row is one exposed customer, numbered by its row (1 = the
        first row under the header, zero-padded so the ids sort in file order); without a
        campaign id the file is one campaign (:func:`campaign_name`).
        """
        if table == "contracts":
            return self._contract_ids(src, raw, mapped)
        if table != "campaign_exposures":
            return {}
        added: dict[str, str] = {}
        n = self._one(f"SELECT count(*) FROM {raw}")
        if "customer_id" not in mapped:
            others = [
                t
                for t in ID_TABLES
                if t != table and getattr(self.cfg.sources, t, None) is not None
            ]
            if others:
                raise SchemaError(
                    table,
                    f"{src.describe()} has no customer id column, so its rows cannot be matched "
                    f"to the customers of {', '.join(others)}",
                    column="customer_id",
                    fix=f"map the customer id under sources.{table}.columns.customer_id, or "
                    "leave the other tables out of this run (a campaign export without ids is "
                    "read as one row per customer, numbered by its row).",
                )
            width = len(str(n))
            added["customer_id"] = f"lpad(CAST(rowid + 1 AS VARCHAR), {width}, '0')"
            self.report.add(
                Issue(
                    table,
                    "customer_id",
                    "no customer id in the source: each row is one exposed customer, whose id "
                    "is its row number (1 = the first row under the header)",
                    n,
                    f"{'1'.zfill(width)} .. {str(n).zfill(width)}",
                    "kept",
                )
            )
        if "campaign_id" not in mapped:
            name = campaign_name(src)
            added["campaign_id"] = _literal(name)
            how = (
                f"sources.{table}.campaign"
                if src.campaign is not None
                else f"the file's name; set sources.{table}.campaign to name it"
            )
            self.report.add(
                Issue(
                    table,
                    "campaign_id",
                    f"no campaign id in the source: every row is of one campaign, {name!r} ({how})",
                    n,
                    "",
                    "kept",
                )
            )
        return added

    def _contract_ids(self, src: SourceConfig, raw: str, mapped: list[str]) -> dict[str, str]:
        """Without a contract id (a churn export: one row per customer) each customer's row is
        its contract, whose id is the customer id; an error if a customer has several rows."""
        table = "contracts"
        if "contract_id" in mapped or "customer_id" not in mapped:
            return {}
        column = src.columns.get("customer_id", "customer_id")
        raw_type = dict((r[0], r[1]) for r in self._sql(f"DESCRIBE {raw}"))[column]
        expr = self._typed(_ident(column), raw_type, "id", src)
        n, repeated = self._examples(
            f"(SELECT {expr} AS id, count(*) AS n FROM {raw} GROUP BY 1 HAVING count(*) > 1)",
            "id IS NOT NULL",
            "id",
            total="sum(n)",
        )
        if n:
            raise SchemaError(
                table,
                f"no column is mapped to contract_id and {n:,} rows share a customer id with "
                f"another row (e.g. customer {', '.join(map(repr, repeated[:3]))}), so a "
                "customer's contracts cannot be told apart",
                column="contract_id",
                fix="map the contract id under sources.contracts.columns.contract_id (without "
                "one, each customer's single row is taken as its contract).",
            )
        rows = self._one(f"SELECT count(*) FROM {raw}")
        self.report.add(
            Issue(
                table,
                "contract_id",
                "no contract id in the source: each customer has one row, its contract, whose id "
                "is the customer id",
                rows,
                "",
                "kept",
            )
        )
        return {"contract_id": expr}

    def _contract_rows(self, found: _Findings, typed: str) -> list[str]:
        """Contracts whose length cannot be read (:func:`segwork.schema.contract_problems`):
        counted with their contract ids; the condition that keeps the other rows."""
        columns = [
            c
            for c in ("contract_id", "start_date", "end_date", "tenure_periods", "churned")
            if c in self._sql_columns(typed)
        ]
        frame = self.duck.execute(
            f"SELECT rowid AS __row, {', '.join(map(_ident, columns))} FROM {typed}"
        ).df()
        bad = pd.Series(False, index=frame.index)
        for problem in contract_problems(frame):
            rows = frame.loc[problem.rows]
            shown = ", ".join(
                f"contract {r.contract_id!r}"
                + "".join(
                    f" {c} {_shown_value(getattr(r, c))}"
                    for c in ("start_date", "end_date", "tenure_periods")
                    if c in columns and pd.notna(getattr(r, c))
                )
                for r in rows.head(_MAX_EXAMPLES).itertuples()
            )
            found.bad(problem.column, problem.problem, len(rows), shown, problem.fix)
            bad |= problem.rows
        if not bad.any():
            return []
        rows = pd.DataFrame({"__row": frame.loc[bad, "__row"].astype("int64")})
        self.duck.register("bad_contract_rows", rows)
        self._sql("CREATE OR REPLACE TEMP TABLE bad_contracts AS SELECT * FROM bad_contract_rows")
        self.duck.unregister("bad_contract_rows")
        return ["rowid NOT IN (SELECT __row FROM bad_contracts)"]

    def _no_value_markers(
        self,
        table: str,
        raw: str,
        present: list[str],
        raw_types: dict[str, str],
        rename: dict[str, str],
    ) -> dict[str, str]:
        """NA, N/A, #N/A and NULL as missing in numeric columns read as text; counted in the report.

        Applies to the contract's number columns (amount, quantity, converted, revenue, age, ...)
        and, of survey responses, to every other column that holds only numbers once these texts
        are left out (the answers). Returns {source column: SQL of its value without them}.
        """
        contract = CONTRACTS[table]
        markers = ", ".join(_literal(m) for m in NO_VALUE_MARKERS)
        candidates: dict[str, str] = {}
        for col in present:
            if not raw_types[col].upper().startswith("VARCHAR"):
                continue
            kind = contract.kind(rename.get(col, col))
            if kind in ("number", "int") or (table == "survey_responses" and kind is None):
                test = f"upper(trim({_ident(col)})) IN ({markers})"
                candidates[col] = test
        if not candidates:
            return {}
        aggs = []
        for i, (col, test) in enumerate(candidates.items()):
            aggs.append(f"count(*) FILTER (WHERE {test}) AS m{i}")
            if contract.kind(rename.get(col, col)):  # typed as the contract says anyway
                aggs.append(f"0 AS t{i}")
                continue
            aggs.append(  # a survey column: does it hold text besides the markers?
                f"count(*) FILTER (WHERE NOT ({test}) AND NULLIF(trim({_ident(col)}), '') IS NOT "
                f"NULL AND TRY_CAST(trim({_ident(col)}) AS DOUBLE) IS NULL) AS t{i}"
            )
        counts = self._sql(f"SELECT {', '.join(aggs)} FROM {raw}")[0]
        out: dict[str, str] = {}
        found: dict[str, int] = {}
        for i, (col, test) in enumerate(candidates.items()):
            n_markers, n_text = counts[2 * i], counts[2 * i + 1]
            if not n_markers:
                continue
            kind = contract.kind(rename.get(col, col))
            if kind is None and n_text:  # a survey column that holds text: left as it is
                continue
            value = f"CASE WHEN {test} THEN NULL ELSE {_ident(col)} END"
            if kind is None:  # a survey answer: a number once the markers are gone
                value = f"TRY_CAST(trim({value}) AS DOUBLE)"
            out[col] = value
            found[rename.get(col, col)] = int(n_markers)
        if found:
            names = list(found)
            self.report.add(
                Issue(
                    table,
                    ", ".join(names) if len(names) <= 3 else f"{len(names)} columns",
                    "NA, N/A, #N/A or NULL (no value): read as missing",
                    sum(found.values()),
                    ", ".join(f"{c}: {k:,}" for c, k in list(found.items())[:_MAX_EXAMPLES]),
                    "repaired",
                    unit="values",
                )
            )
        return out

    def _not_after_analysis_date(self, table: str, typed: str, column: str) -> str:
        """A customer's birth or sign-up date after the analysis date is set to missing, counted."""
        name = _ident(column)
        if table != "customers" or column not in ("birth_date", "created_at"):
            return name
        cond = f"{name} >= DATE {_literal(str(self.cfg.analysis_date))} + INTERVAL 1 DAY"
        n, shown = self._examples(typed, cond, f"CAST({name} AS DATE)")
        self.report.add(
            Issue(
                table,
                column,
                f"after the analysis date {self.cfg.analysis_date}: set to missing",
                n,
                ", ".join(str(v) for v in shown),
                "repaired",
            )
        )
        return f"CASE WHEN {cond} THEN NULL ELSE {name} END AS {name}" if n else name

    def _sum_lines(self, src: SourceConfig, lines: str, mapped: list[str]) -> list[str]:
        """Sum validated order lines into the orders table, in DuckDB; return its columns.

        amount = the sum of the line amounts (a line's ``amount`` if the file has one, else
        quantity x unit_price); a line is a return (negative amount) when its order id starts
        with ``cancel_prefix`` or its quantity is negative. order_date is the earliest line date.
        Other columns are carried when they are the same on every line of an order, and left
        out (and counted) when they differ, like a product name.
        """
        base = "amount" if "amount" in mapped else "quantity * unit_price"
        cancelled = []
        if src.cancel_prefix:
            cancelled.append(f"starts_with(order_id, {_literal(src.cancel_prefix)})")
        if "quantity" in mapped:
            cancelled.append("quantity < 0")
        line_amount = (
            f"CASE WHEN {' OR '.join(cancelled)} THEN -abs({base}) ELSE {base} END"
            if cancelled
            else base
        )
        fixed = {"order_id", "customer_id", "order_date", "amount", "quantity", "unit_price"}
        extras = [c for c in mapped if c not in fixed and c != "lines"]
        carried: list[str] = []
        if extras:
            per_order = ", ".join(f"count(DISTINCT {_ident(c)}) AS {_ident(c)}" for c in extras)
            varying = self._sql(
                f"SELECT {', '.join(f'count(*) FILTER (WHERE {_ident(c)} > 1)' for c in extras)} "
                f"FROM (SELECT {per_order} FROM {lines} GROUP BY order_id)"
            )[0]
            for c, n_orders in zip(extras, varying, strict=True):
                if n_orders:
                    self.report.add(
                        Issue(
                            "orders",
                            c,
                            "differs between the lines of an order (one value per line, like a "
                            "product): left out of the orders table",
                            int(n_orders),
                            "",
                            "kept",
                            unit="orders",
                        )
                    )
                else:
                    carried.append(c)
        aggs = [
            "any_value(customer_id) AS customer_id",
            "min(order_date) AS order_date",
            f"sum({line_amount}) AS amount",
        ]
        if "quantity" in mapped:
            aggs.append("sum(quantity) AS quantity")
        if cancelled and "is_return" not in mapped:  # a cancelled free order is no purchase
            aggs.append(f"bool_and({' OR '.join(cancelled)}) AS is_return")
        aggs += [f"any_value({_ident(c)}) AS {_ident(c)}" for c in carried]
        aggs.append("count(*) AS lines")
        self._sql(
            f"CREATE OR REPLACE TABLE orders AS SELECT order_id, {', '.join(aggs)} "
            f"FROM {lines} GROUP BY order_id"
        )
        if src.cancel_prefix:
            n, shown = self._examples(
                "orders", f"starts_with(order_id, {_literal(src.cancel_prefix)})", "order_id"
            )
            self.report.add(
                Issue(
                    "orders",
                    "order_id",
                    f"cancellations (order id starts with {src.cancel_prefix!r}): amounts "
                    "counted as returns",
                    n,
                    ", ".join(map(repr, shown)),
                    "kept",
                    unit="orders",
                )
            )
        if "quantity" in mapped:
            n = self._one(f"SELECT count(*) FROM {lines} WHERE quantity < 0")
            self.report.add(
                Issue(
                    "orders",
                    "quantity",
                    "order lines with a negative quantity: counted as returns",
                    n,
                    "",
                    "kept",
                    unit="order lines",
                )
            )
        columns = ["order_id", "customer_id", "order_date", "amount"]
        return columns + (["quantity"] if "quantity" in mapped else []) + carried + ["lines"]

    @staticmethod
    def _typed(col: str, raw_type: str, kind: str, src: SourceConfig) -> str:
        t = raw_type.upper()
        text = t.startswith("VARCHAR")
        numeric = any(
            t.startswith(p)
            for p in (
                "BIGINT",
                "INTEGER",
                "SMALLINT",
                "TINYINT",
                "HUGEINT",
                "UBIGINT",
                "UINTEGER",
                "DOUBLE",
                "FLOAT",
                "DECIMAL",
                "REAL",
            )
        )
        if kind == "id":
            if t.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL")):  # 1001.0 read from Excel
                return f"CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR)"
            # "13085.0": a whole-number id written from a float column (a pandas or Excel export
            # of ids with gaps) is the id 13085, as it is in the tables that wrote it as 13085
            text = f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
            return f"regexp_replace({text}, '^([0-9]+)\\.0+$', '\\1')"
        if kind == "string":  # a blank cell is no value (a required one is counted as missing)
            text = f"CAST({col} AS VARCHAR)"
            return f"(CASE WHEN TRIM({text}) <> '' THEN {text} END)"
        if kind == "date":
            if t.startswith(("DATE", "TIMESTAMP")):
                value = f"TRY_CAST({col} AS TIMESTAMP)"
            elif src.date_format:
                value = f"TRY_STRPTIME(CAST({col} AS VARCHAR), {_literal(src.date_format)})"
            elif text:
                value = f"TRY_CAST({col} AS TIMESTAMP)"
            else:
                return "CAST(NULL AS TIMESTAMP)"
            # On or before 1900-01-01 is a placeholder (Excel's day 0 and 1), not a CRM's date.
            return f"(CASE WHEN {value} >= TIMESTAMP '{_FIRST_DATE}' THEN {value} END)"
        if kind in ("number", "int"):
            target = "DOUBLE" if kind == "number" else "BIGINT"
            if text:
                cleaned = f"TRIM({col})"
                for sep in (" ", "\u00a0", "\u202f") + ((src.thousands,) if src.thousands else ()):
                    cleaned = f"REPLACE({cleaned}, {_literal(sep)}, '')"
                if src.decimal != ".":
                    if src.thousands is None:  # 1.234,50: the point can only group thousands
                        cleaned = f"REPLACE({cleaned}, '.', '')"
                    cleaned = f"REPLACE({cleaned}, {_literal(src.decimal)}, '.')"
                value = f"TRY_CAST({cleaned} AS {target})"
            elif t.startswith("BOOLEAN"):
                value = f"CAST({col} AS {target})"
            else:
                value = f"TRY_CAST({col} AS {target})"
            if kind == "number":  # NaN and infinity are not amounts: a total would become NaN
                return f"(CASE WHEN isfinite({value}) THEN {value} END)"
            return value
        if kind == "bool":
            if t.startswith("BOOLEAN"):
                return col
            if numeric:
                return f"({col} <> 0)"
            trues = ", ".join(map(_literal, TRUE_WORDS))
            falses = ", ".join(map(_literal, FALSE_WORDS))
            low = f"LOWER(TRIM(CAST({col} AS VARCHAR)))"
            return f"CASE WHEN {low} IN ({trues}) THEN TRUE WHEN {low} IN ({falses}) THEN FALSE ELSE NULL END"
        return col

    def _validate(
        self,
        table: str,
        src: SourceConfig,
        contract: Contract,
        typed: str,
        checks: list[tuple[str, str, str]],
        raw_table: str,
        required: list[str],
        lines: bool,
    ) -> list[str]:
        """Count every kind of bad row; raise or return the conditions that keep the good ones."""
        found = _Findings(table, src, self.report, unit="order lines" if lines else "rows")
        keep: list[str] = []
        for target, source, kind in checks:
            raw = _ident("__raw_" + target)
            col = _ident(target)
            is_required = target in required
            bad = self._examples(typed, f"{col} IS NULL AND {raw} IS NOT NULL", raw)
            if bad[0]:
                rows = self._row_numbers(src, raw_table, source, bad[1])
                examples = ", ".join(
                    f"row {r}: {v!r}" if r else repr(v) for v, r in zip(bad[1], rows, strict=True)
                )
                found.unreadable(target, kind, bad[0], examples, required=is_required)
            if is_required:
                found.missing(
                    target, self._one(f"SELECT count(*) FROM {typed} WHERE {raw} IS NULL")
                )
                keep.append(f"{col} IS NOT NULL")
        for target in required:  # text columns: an empty or blank cell is a missing value
            if contract.kind(target) == "string":
                col = _ident(target)
                found.missing(
                    target, self._one(f"SELECT count(*) FROM {typed} WHERE {col} IS NULL")
                )
                keep.append(f"{col} IS NOT NULL")
        if table == "orders":
            base = "amount" if "amount" in required else "quantity * unit_price"
            cond = f"abs({base}) >= {src.max_amount!r}"
            n_big, big = self._examples(typed, cond, base)
            found.bad(
                "amount" if base == "amount" else "unit_price",
                f"amounts of {src.max_amount:,.0f} or more",
                n_big,
                ", ".join(map(repr, big)),
                "correct these rows (an export may write such values for missing ones); if "
                f"they are real, raise sources.{table}.max_amount",
            )
            if n_big:
                keep.append(f"NOT ({cond})")
            if "currency" in self._sql_columns(typed):
                keep += self._one_currency(found, typed)
        no_order_id = table == "orders" and "order_id" not in required  # orders = customer x day
        key = () if lines or no_order_id else contract.key
        if key:
            key_sql = ", ".join(map(_ident, key))
            dup_n, dups = self._examples(
                f"(SELECT {key_sql}, count(*) AS n FROM {typed} WHERE "
                + " AND ".join(f"{_ident(k)} IS NOT NULL" for k in key)
                + " GROUP BY ALL HAVING count(*) > 1)",
                "TRUE",
                f"CAST(({key_sql}) AS VARCHAR)" if len(key) > 1 else key_sql,
                total="sum(n - 1)",
            )
            if table == "orders" and dup_n:
                self._refuse_lines_as_orders(typed, dup_n, dups)
            found.duplicates(key, dup_n, dups)
        if (
            "customer_id" in contract.required
            and table != "customers"
            and "customers" in self.report.tables
        ):
            cond = f"customer_id NOT IN (SELECT customer_id FROM {_ident('customers')})"
            n_unknown, unknown = self._examples(
                typed, f"customer_id IS NOT NULL AND {cond}", "customer_id"
            )
            if found.unknown_customers(n_unknown, unknown):
                keep.append(f"customer_id IN (SELECT customer_id FROM {_ident('customers')})")
        if lines:
            valid = " AND ".join(keep) if keep else "TRUE"
            self._sql(
                "CREATE OR REPLACE TEMP TABLE mixed_orders AS SELECT order_id FROM "
                f"{typed} WHERE {valid} GROUP BY order_id HAVING count(DISTINCT customer_id) > 1"
            )
            n_mixed, mixed = self._examples(
                typed, f"{valid} AND order_id IN (SELECT order_id FROM mixed_orders)", "order_id"
            )
            found.bad(
                "customer_id",
                "lines of one order name different customers",
                n_mixed,
                ", ".join(f"order {v!r}" for v in mixed),
                "correct the customer of these lines (an order belongs to one customer)",
            )
            if n_mixed:
                keep.append("order_id NOT IN (SELECT order_id FROM mixed_orders)")
        if table == "contracts":
            keep += self._contract_rows(found, typed)
        found.raise_if_errors()
        return keep

    def _sql_columns(self, relation: str) -> list[str]:
        return [r[0] for r in self._sql(f"DESCRIBE {relation}")]

    def _one_currency(self, found: _Findings, typed: str) -> list[str]:
        """Amounts in a currency other than the run's cannot be summed with the rest."""
        run = self.cfg.currency.strip().upper()
        code = "upper(trim(CAST(currency AS VARCHAR)))"
        other = self._sql(
            f"SELECT COALESCE({code}, '(none)') AS c, count(*) FROM {typed} "
            f"WHERE {code} IS DISTINCT FROM {_literal(run)} GROUP BY 1 ORDER BY 2 DESC"
        )
        n = sum(int(r[1]) for r in other)
        found.bad(
            "currency",
            f"amounts not in the run's currency {run}",
            n,
            ", ".join(f"{c} ({k:,} rows)" for c, k in other[:_MAX_EXAMPLES]),
            f"convert the amounts to {run} in the export; if all amounts are in another "
            "currency, set currency: in the run config",
        )
        return [f"{code} = {_literal(run)}"] if n else []

    def _refuse_lines_as_orders(self, typed: str, extra: int, examples: list[Any]) -> None:
        """An orders file in which most rows share their order id is a file of order lines.

        Keeping the first line of each order would take one line's price as the order's amount,
        so this is an error even with invalid_rows: drop.
        """
        n = self._one(f"SELECT count(*) FROM {typed}")
        in_repeats = self._one(
            f"SELECT COALESCE(sum(n), 0) FROM (SELECT count(*) AS n FROM {typed} "
            "GROUP BY order_id HAVING count(*) > 1)"
        )
        if in_repeats / n <= 0.5:
            return
        raise SchemaError(
            "orders",
            f"{in_repeats:,} of {n:,} rows share their order id with another row "
            f"(e.g. {', '.join(map(repr, examples))}): the file looks like order lines, one row "
            "per product of an order",
            column="order_id",
            fix="set sources.orders.shape: lines, and map quantity and unit_price (or a line "
            "amount) under sources.orders.columns; the lines are then summed into orders. If "
            "cancellations are marked by an order id prefix (C536379), set "
            "sources.orders.cancel_prefix.",
        )

    def _examples(
        self, relation: str, where: str, value: str, total: str = "count(*)"
    ) -> tuple[int, list[Any]]:
        n = self._one(f"SELECT COALESCE({total}, 0) FROM {relation} WHERE {where}")
        if not n:
            return 0, []
        vals = [
            r[0]
            for r in self._sql(
                f"SELECT DISTINCT {value} FROM {relation} WHERE {where} ORDER BY 1 LIMIT {_MAX_EXAMPLES}"
            )
        ]
        return int(n), vals

    def _row_numbers(
        self, src: SourceConfig, raw_table: str, column: str, values: list[Any]
    ) -> list[int | None]:
        """Data-row numbers (1 = first row after the header) of the first occurrence of each value.

        Text files, Excel sheets and database tables are copied into a DuckDB table in their
        order, so its rowid is the row number; Parquet is read again, one column. Only called
        when there is something to report.
        """
        if src.url is not None:
            return [None] * len(values)
        if src.kind != "parquet":
            found = dict(
                self._sql(
                    f"SELECT CAST({_ident(column)} AS VARCHAR), min(rowid) + 1 FROM {raw_table} "
                    f"WHERE CAST({_ident(column)} AS VARCHAR) IN "
                    f"({', '.join(_literal(str(v)) for v in values)}) GROUP BY 1"
                )
            )
            return [found.get(str(v)) for v in values]
        if src.path is None:
            return [None] * len(values)
        import pyarrow.parquet as pq

        wanted: dict[str, int | None] = {str(v): None for v in values}
        offset = 0
        try:
            pf = pq.ParquetFile(self.cfg.path(src.path))
            for batch in pf.iter_batches(columns=[column]):
                # str() of the Python values, as the examples were: 'nan', 'inf', '2025-01-01'
                for i, value in enumerate(batch.column(0).to_pylist()):
                    text = str(value)
                    if text in wanted and wanted[text] is None:
                        wanted[text] = offset + i + 1
                offset += batch.num_rows
                if all(r is not None for r in wanted.values()):
                    break
        except (ValueError, OSError):
            return [None] * len(values)
        return [wanted.get(str(v)) for v in values]

    def _check_orders(self, src: SourceConfig) -> None:
        """Count what is kept but worth knowing: returns, zero amounts, orders after the date."""
        n, total = self._sql(
            "SELECT count(*), COALESCE(sum(amount), 0) FROM orders WHERE amount < 0"
        )[0]
        zero = self._one("SELECT count(*) FROM orders WHERE amount = 0")
        _report_returns(self.report, n, total, zero)
        day = _literal(str(self.cfg.analysis_date))
        n_late, late = self._examples(
            "orders", f"order_date >= DATE {day} + INTERVAL 1 DAY", "order_date"
        )
        _report_late(self.report, "orders", "order_date", self.cfg.analysis_date, n_late, late)
        total_orders, first = self._sql("SELECT count(*), min(order_date) FROM orders")[0]
        if total_orders and n_late == total_orders:
            raise SchemaError(
                "orders",
                f"every order is after the analysis date {self.cfg.analysis_date} (the first is "
                f"on {str(first)[:10]}), so there is no history to analyse as of that date",
                column="order_date",
                fix="set analysis_date in the run config to a day on or after the first order "
                "(usually the last day of the export).",
            )
        if src.shape == "orders" and "quantity" in self._sql_columns("orders"):
            n_neg = self._one("SELECT count(*) FROM orders WHERE quantity < 0")
            self.report.add(
                Issue(
                    "orders",
                    "quantity",
                    "negative quantities (returned goods)",
                    n_neg,
                    "",
                    "kept",
                    unit="orders",
                )
            )


_LATE_COLUMNS = {
    "orders": ("order_date", "orders", "left out of analyses as of that date"),
    "interactions": ("occurred_at", "interactions", "left out of analyses as of that date"),
    "campaign_exposures": (
        "assigned_at",
        "assignments",
        "not used by the A/B evaluation (it does not read the assignment date), but a campaign "
        "assigned after the analysis date has outcomes outside the history: check analysis_date",
    ),
}
"""History whose dates can lie after the analysis date: column, unit, effect."""


def _shown_value(value: Any) -> str:
    """A value in an error message: a date as its day, a whole number without '.0'."""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}" if value == value.normalize() else str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _report_late(
    report: ValidationReport, table: str, column: str, day: Any, n: int, examples: list[Any]
) -> None:
    """Rows of orders, interactions or campaign assignments dated after the analysis date: kept
    and counted (the data is right; the date of the analysis is the question)."""
    _, unit, effect = _LATE_COLUMNS[table]
    report.add(
        Issue(
            table,
            column,
            f"after the analysis date {day}: {effect}",
            n,
            ", ".join(sorted(str(v)[:10] for v in examples)),
            "kept",
            unit=unit,
        )
    )


def _report_returns(report: ValidationReport, n: int, total: float, zero: int) -> None:
    """Returns and zero amounts are kept, and counted so the report says how many."""
    if n:
        report.add(
            Issue(
                "orders",
                "amount",
                f"returns (negative amounts, {total:,.0f} in total)",
                n,
                "",
                "kept",
                unit="orders",
            )
        )
    if zero:
        report.add(Issue("orders", "amount", "zero amounts", zero, "", "kept", unit="orders"))


# -- engine pyspark -----------------------------------------------------------------------------
def _load_spark(cfg: RunConfig, spark: Any) -> Tables:
    """Engine pyspark: history tables end up as Ibis tables on Spark, the others in pandas.

    Sources with a ``path`` (or ``url``) are read and validated by DuckDB exactly as with engine
    duckdb; a validated history table is then written once as Parquet to a staging folder that
    Spark reads, so both engines compute on the same typed rows. Sources with a ``uri`` are read
    by Spark itself and validated there with Ibis expressions (:class:`_SparkReader`).
    """
    duck = ibis.duckdb.connect()  # validates path/url sources; holds customers for their checks
    report = ValidationReport()
    reader, spark_reader = _Reader(cfg, duck, report), _SparkReader(cfg, spark, report)
    staging: Path | None = None
    loaded: dict[str, Any] = {}
    for table in TABLES:  # customers first: the other tables are checked against its ids
        src = getattr(cfg.sources, table)
        if src is None:
            continue
        history = CONTRACTS[table].history
        with progress.step(
            f"reading {table} from {src.describe()}", con=duck if src.uri is None else None
        ) as step:
            if src.uri is not None:
                loaded[table] = spark_reader.read(table, src, loaded.get("customers"))
                if table == "customers":  # later path sources check their ids against it
                    duck.create_table("customers", loaded[table], overwrite=True)
            else:
                if history:
                    _require_local(spark, table)
                loaded[table] = reader.read(table, src)
                if history:
                    staging = staging or _staging_folder()
                    loaded[table] = _stage(duck, spark, table, staging)
            step.rows = report.tables[table].rows_kept
    if "customers" not in loaded:
        loaded["customers"] = _derive_customers(loaded, report)
    return Tables(con=spark, report=report, **loaded)


def _require_local(spark: Any, table: str) -> None:
    """A path source is read on this machine; only a local Spark can see what it stages."""
    master = spark._session.sparkContext.master
    if not str(master).startswith("local"):
        raise ConfigError(
            f"sources.{table}: on a Spark cluster (spark.master {master}) history tables are read "
            "by the cluster, so give them as 'uri' (e.g. hdfs://..., s3a://..., or file:///... on "
            "storage every node mounts) instead of 'path'. Fix: set sources."
            f"{table}.uri, or run with a local master."
        )


def _staging_folder() -> Path:
    """A private temporary folder for validated tables Spark reads; removed when Python exits."""
    folder = Path(tempfile.mkdtemp(prefix="segwork-spark-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _stage(duck: Any, spark: Any, table: str, folder: Path) -> ibis.Table:
    """Write DuckDB's validated ``table`` as Parquet into ``folder``; return it read by Spark."""
    path = folder / f"{table}.parquet"
    duck.con.execute(
        f"COPY (SELECT * FROM {_ident(table)}) TO {_literal(str(path))} (FORMAT parquet)"
    )
    return spark.read_parquet(str(path), table_name=f"segwork_{table}")


def _ibis_typed(col: ibis.Value, kind: str, src: SourceConfig, table: str, name: str) -> Any:
    """The Ibis twin of :meth:`_Reader._typed`: ``col`` as the contract's kind, NULL if it fails."""
    dt = col.type()
    if kind == "id":
        if dt.is_floating() or dt.is_decimal():  # 1001.0 -> "1001"
            return col.try_cast("int64").cast("string")
        return col.cast("string").strip().nullif("")
    if kind == "string":  # as in DuckDB: a blank cell is no value
        text = col.cast("string")
        return ibis.ifelse(text.strip() == "", ibis.null("string"), text)
    if kind == "date":
        return _ibis_date(col, dt, src, table, name)
    if kind in ("number", "int"):
        target = "float64" if kind == "number" else "int64"
        if dt.is_string():
            text = col.strip()
            for sep in (" ", "\u00a0", "\u202f") + ((src.thousands,) if src.thousands else ()):
                text = text.replace(sep, "")
            if src.decimal != ".":
                if src.thousands is None:
                    text = text.replace(".", "")
                text = text.replace(src.decimal, ".")
            value = text.try_cast(target)
        elif dt.is_boolean():
            value = col.cast(target)
        else:
            value = col.try_cast(target)
        if kind == "number":  # as in DuckDB: NaN and infinity are not amounts
            return ibis.ifelse(value.isnan() | value.isinf(), ibis.null("float64"), value)
        return value
    if kind == "bool":
        if dt.is_boolean():
            return col
        if dt.is_numeric():
            return col != 0
        low = col.cast("string").strip().lower()
        return ibis.cases(
            (low.isin(list(TRUE_WORDS)), True),
            (low.isin(list(FALSE_WORDS)), False),
            else_=ibis.null("bool"),
        )
    return col


def _ibis_date(col: ibis.Value, dt: Any, src: SourceConfig, table: str, name: str) -> Any:
    """A date column as a timestamp; placeholders (on or before 1900-01-01) are no value."""
    if dt.is_timestamp() or dt.is_date():
        value = col.cast("timestamp")
    elif dt.is_string() and src.date_format:
        raise SchemaError(
            table,
            f"{src.describe()} has dates as text and sources.{table}.date_format is set; "
            "date_format is for files DuckDB reads, a uri source's dates must be typed or ISO "
            "text (YYYY-MM-DD)",
            column=name,
            fix="store the column as a timestamp/date in the Parquet parts, or remove "
            "date_format if the text is ISO",
        )
    elif dt.is_string():
        value = col.try_cast("timestamp")
    else:
        return ibis.null("timestamp")
    first = ibis.timestamp(to_timestamp(_FIRST_DATE, "first date").to_pydatetime())
    return ibis.ifelse(value >= first, value, ibis.null("timestamp"))


def _plain(value: Any) -> Any:
    """A Python value for a numpy scalar (so examples print as 1.5, not np.float64(1.5))."""
    return value.item() if hasattr(value, "item") else value


def _int(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


class _SparkReader:
    """Reads ``uri`` sources with Spark and validates them with portable Ibis expressions.

    The checks are those of :class:`_Reader` (mapped and required columns, values that cannot
    be typed, missing required values, duplicate keys, unknown customers) with the same
    messages; examples show values only, without the row numbers DuckDB finds in local files.
    """

    def __init__(self, cfg: RunConfig, con: Any, report: ValidationReport):
        self.cfg, self.con, self.report = cfg, con, report

    def _raw(self, table: str, src: SourceConfig) -> ibis.Table:
        uri = src.resolved_uri()
        if "://" not in uri:  # a plain folder: relative to the config file, like paths
            uri = str(self.cfg.path(Path(uri)))
        name, kind = f"segwork_raw_{table}", src.kind
        try:
            if kind == "parquet":
                return self.con.read_parquet(uri, table_name=name)
            if kind == "csv":  # every column as text; typing and validation follow
                return self.con.read_csv(
                    uri,
                    table_name=name,
                    inferSchema=False,
                    sep=src.delimiter or ",",
                    encoding=src.encoding,
                )
        except Exception as e:  # Spark's AnalysisException etc.: path missing, not Parquet
            raise SchemaError(
                table,
                f"Spark could not read {src.describe()} as {kind}: {redact_url(engines.error_line(e))}",
                fix=f"check sources.{table}.uri (the location must be readable by every Spark "
                "node) and its format.",
            ) from None
        raise SchemaError(
            table,
            f"a uri source is read by Spark as parquet or csv, not {kind}",
            fix=f"set sources.{table}.format to parquet or csv, or give a path instead",
        )

    def read(self, table: str, src: SourceConfig, customers: pd.DataFrame | None) -> Any:
        """Map, type and validate one uri source; an Ibis table (history) or a DataFrame."""
        contract = CONTRACTS[table]
        raw = self._raw(table, src)
        present = list(raw.columns)
        rename = _check_mapping(table, src, present)
        mapped = [rename.get(c, c) for c in present]
        require_columns(
            mapped,
            ["customer_id"] if table == "survey_responses" else list(contract.required),
            table,
        )

        cols: dict[str, Any] = {}
        checks: list[tuple[str, str]] = []
        for col in present:
            target = rename.get(col, col)
            kind = contract.kind(target)
            cols[target] = _ibis_typed(raw[col], kind, src, table, target) if kind else raw[col]
            if kind and kind != "string":
                cols["__raw_" + target] = raw[col]
                checks.append((target, kind))
        typed = raw.select(**cols)

        aggs: dict[str, Any] = {"rows": typed.count()}  # one scan for every count
        for i, (target, _) in enumerate(checks):
            value, before = typed[target], typed["__raw_" + target]
            aggs[f"bad_{i}"] = (value.isnull() & before.notnull()).sum()
            aggs[f"missing_{i}"] = before.isnull().sum()
        for target in contract.required:
            if contract.kind(target) == "string" and target in typed.columns:
                aggs[f"missing_text_{target}"] = typed[target].isnull().sum()
        counts = typed.aggregate(**aggs).to_pandas().iloc[0]
        n = _int(counts["rows"])
        if n == 0:
            raise SchemaError(
                table,
                f"{src.describe()} has no data rows",
                fix="export the table again; it has a header but no rows (or no Parquet parts).",
            )

        found = _Findings(table, src, self.report)
        keep: list[Any] = []
        for i, (target, kind) in enumerate(checks):
            value, before = typed[target], typed["__raw_" + target]
            required = target in contract.required
            bad = _int(counts[f"bad_{i}"])
            if bad:
                shown = self._examples(typed.filter(value.isnull() & before.notnull()), [before])
                found.unreadable(target, kind, bad, ", ".join(map(repr, shown)), required=required)
            if required:
                found.missing(target, _int(counts[f"missing_{i}"]))
                keep.append(typed[target].notnull())
        for target in contract.required:  # text columns: a blank cell is a missing value
            if contract.kind(target) == "string" and target in typed.columns:
                found.missing(target, _int(counts[f"missing_text_{target}"]))
                keep.append(typed[target].notnull())
        if contract.key:
            key = list(contract.key)
            groups = typed.group_by(key).aggregate(n=typed.count())
            dups = groups.filter(groups.n > 1)
            extra = _int(dups.aggregate(extra=(dups.n - 1).sum()).to_pandas().iloc[0, 0])
            if extra:
                found.duplicates(contract.key, extra, self._examples(dups, [dups[k] for k in key]))
        ids = None
        if "customer_id" in contract.required and table != "customers" and customers is not None:
            ids = ibis.memtable(customers[["customer_id"]].drop_duplicates())
            unknown = typed.filter(typed.customer_id.notnull()).anti_join(ids, "customer_id")
            n_unknown = _int(unknown.count().to_pandas())
            if not found.unknown_customers(
                n_unknown, self._examples(unknown, [unknown.customer_id])
            ):
                ids = None
        found.raise_if_errors()

        out = typed.filter(*keep) if keep else typed
        if ids is not None:
            out = out.semi_join(ids, "customer_id")
        out = out.select(*mapped)
        if contract.key and src.invalid_rows == "drop":  # one row per key, as DuckDB keeps
            rank = ibis.row_number().over(group_by=list(contract.key), order_by=list(contract.key))
            out = out.mutate(_rank=rank).filter(lambda t: t["_rank"] == 0).drop("_rank")
        kept = _int(out.count().to_pandas())
        self.report.tables[table] = TableStats(table, src.describe(), n, kept, mapped)
        if table == "orders":
            stats = (
                out.aggregate(
                    returns=(out.amount < 0).sum(),
                    returned=out.amount.sum(where=out.amount < 0),
                    zero=(out.amount == 0).sum(),
                )
                .to_pandas()
                .iloc[0]
            )
            _report_returns(
                self.report,
                _int(stats["returns"]),
                float(stats["returned"] or 0),
                _int(stats["zero"]),
            )
            self._count_late(out)
        elif table in _LATE_COLUMNS and _LATE_COLUMNS[table][0] in out.columns:
            column = _LATE_COLUMNS[table][0]
            day = day_end(self.cfg.analysis_date)
            late = out.filter(out[column] >= day)
            n_late = _int(late.count().to_pandas())
            shown = self._examples(late, [late[column]]) if n_late else []
            _report_late(self.report, table, column, self.cfg.analysis_date, n_late, shown)
        if contract.history:
            return out
        frame = out.to_pandas()
        for col in frame.columns:  # Spark hands over nanoseconds; DuckDB (and segwork) use us
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[us]")
        return frame

    def _count_late(self, orders: ibis.Table) -> None:
        """Orders after the analysis date: kept and counted, as the DuckDB reader does."""
        day = day_end(self.cfg.analysis_date)
        late = orders.filter(orders.order_date >= day)
        n_late = _int(late.count().to_pandas())
        shown = self._examples(late, [late.order_date])
        _report_late(self.report, "orders", "order_date", self.cfg.analysis_date, n_late, shown)

    @staticmethod
    def _examples(rows: ibis.Table, values: list[Any]) -> list[Any]:
        """Up to five distinct example values (a tuple per row for several columns)."""
        shown = rows.select(*[v.name(f"v{i}") for i, v in enumerate(values)]).distinct()
        frame = shown.limit(_MAX_EXAMPLES).to_pandas()
        plain = [tuple(_plain(v) for v in r) for r in frame.itertuples(index=False)]
        return [r[0] if len(r) == 1 else r for r in plain]

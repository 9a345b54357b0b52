"""Files for people: CSV (and other) exports that a spreadsheet opens safely.

Every exported cell that a spreadsheet would run as a formula (it starts with ``= + - @``, tab,
carriage return, line feed or NUL) is prefixed with a single quote (OWASP "CSV Injection",
ASVS 1.2.10). CSV is written UTF-8 with a BOM and CRLF line ends, as Excel reads it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV Injection:
#: = + - @ tab carriage-return line-feed; ASVS 1.2.10 adds NUL).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


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
        mapped = s.map(neutralise_cell)
        out[col] = mapped.astype(s.dtype) if pd.api.types.is_string_dtype(s.dtype) else mapped
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    text = neutralise_frame(df).to_csv(index=False, lineterminator="\r\n", date_format=None)
    return text.encode("utf-8-sig")  # the BOM lets Excel read UTF-8 (Czech names) correctly

"""What notebooks show to people: findings, explanations and tables, always HTML-escaped.

Reports are read by stakeholders, so every notebook leads with a finding in plain words and
explains each figure. Data can contain anything (a customer called ``<script>``), so text from
data is escaped here, in one place.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_STYLE = {
    "finding": "border-left:6px solid #2b6cb0;background:#ebf4ff;padding:12px 16px;margin:12px 0;"
    "font-size:1.05em;border-radius:4px",
    "warning": "border-left:6px solid #c05621;background:#fffaf0;padding:12px 16px;margin:12px 0;border-radius:4px",
    "explain": "color:#4a5568;font-style:italic;margin:4px 0 18px 0",
}


def _paragraphs(text: str) -> str:
    return "".join(
        f"<p style='margin:4px 0'>{html.escape(p.strip())}</p>"
        for p in text.split("\n\n")
        if p.strip()
    )


def _html(markup: str):
    from IPython.display import HTML, display

    display(HTML(markup))


def box_html(text: str, *, title: str, kind: str = "finding") -> str:
    """A titled box (kind 'finding' or 'warning') with escaped text; blank lines split paragraphs."""
    return f"<div style='{_STYLE[kind]}'><strong>{html.escape(title)}</strong>{_paragraphs(text)}</div>"


def finding(text: str, *, title: str = "Finding") -> None:
    """Show the main result of a section as a highlighted box (lead with it)."""
    _html(box_html(text, title=title, kind="finding"))


def warning(text: str, *, title: str = "Watch out") -> None:
    """Show a caveat a reader must not miss (data problems, small samples)."""
    _html(box_html(text, title=title, kind="warning"))


def explain(text: str) -> None:
    """A caption under a figure or table: what it shows and how to read it."""
    _html(f"<div style='{_STYLE['explain']}'>{_paragraphs(text)}</div>")


def show_table(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 30,
    index: bool = False,
    formats: Mapping[str, str] | None = None,
) -> None:
    """Show a DataFrame as an escaped HTML table (see :func:`table_html`)."""
    _html(table_html(df, caption=caption, max_rows=max_rows, index=index, formats=formats))


@dataclass(frozen=True)
class PageTable:
    """A table as a page shows it: columns named in words, their formats, and what they mean."""

    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    note: str = ""


def show_page_table(table: PageTable, *, caption: str) -> None:
    """Show a :class:`PageTable` and, under it, the sentence saying what its columns mean."""
    show_table(table.frame, caption=caption, formats=table.formats)
    if table.note:
        explain(table.note)


def table_html(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 30,
    index: bool = False,
    formats: Mapping[str, str] | None = None,
) -> str:
    """A DataFrame as an escaped HTML table, numbers formatted with thousands separators."""
    shown = df.head(max_rows).copy()
    for col in shown.columns:
        fmt = (formats or {}).get(col)
        s = shown[col]
        if fmt:
            shown[col] = s.map(lambda v, f=fmt: _cell(v, f))
        elif pd.api.types.is_float_dtype(s):
            shown[col] = s.map(lambda v: _cell(v, "{:,.2f}"))
        elif pd.api.types.is_integer_dtype(s):
            shown[col] = s.map(lambda v: "" if pd.isna(v) else f"{v:,}")
        elif pd.api.types.is_datetime64_any_dtype(s):
            shown[col] = s.map(
                lambda v: "" if pd.isna(v) else str(v.date()) if v == v.normalize() else str(v)
            )
        else:
            shown[col] = s.map(lambda v: "" if _missing(v) else v)
    markup = shown.to_html(index=index, escape=True, border=0, na_rep="", classes="segwork-table")
    if caption:
        markup = f"<p><strong>{html.escape(caption)}</strong></p>" + markup
    if len(df) > max_rows:
        markup += f"<p style='color:#718096'>Showing {max_rows:,} of {len(df):,} rows.</p>"
    return markup


def _missing(v) -> bool:
    """NaN, NaT, None and pd.NA are shown as empty cells, never as 'nan' or 'NaT'."""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists, arrays
        return False


def _cell(v, fmt: str) -> str:
    if _missing(v):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return fmt.format(v)


def decimals_for(values: Iterable[float], *, money: bool = False) -> int:
    """Decimals that show the smallest meaningful magnitude among ``values`` (e.g. the half-widths
    of confidence intervals) to two significant digits: 8.3 -> 1, 0.27 -> 2, 42 -> 0. Amounts of
    money get cents rather than one decimal (1 -> 2); 0 when no value is finite and non-zero."""
    arr = np.abs(np.asarray(list(values), dtype=float))
    arr = arr[np.isfinite(arr) & (arr > 0)]
    if not arr.size:
        return 2 if money else 0
    d = int(min(max(1 - math.floor(math.log10(arr.min())), 0), 6))
    return 2 if money and d == 1 else d


def number(value: float, decimals: int, *, unit: str = "", sign: bool = False) -> str:
    """A number with thousands separators, ``decimals`` places, an optional sign and unit; '' for
    a missing value (never 'nan')."""
    if value is None or not np.isfinite(value):
        return "" if value is None or np.isnan(value) else ("∞" if value > 0 else "-∞")
    text = f"{value:{'+' if sign else ''},.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        text = text.replace("-", "+" if sign else "")  # no '-0.00'
    return f"{text} {unit}".strip()


def money(value: float, currency: str = "CZK") -> str:
    """12 345 678 CZK -> '12.3 M CZK', 2 016 -> '2,016 CZK' (not '2.0 k'), 7.5 -> '7.50 CZK':
    readable at a glance, with cents below 100 (the same threshold as :func:`money_format`) and
    'k' only from 10,000; '' for a missing value."""
    if value is None or not np.isfinite(value):
        return ""
    a = abs(value)
    for div, unit in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if a >= div and (div > 1e3 or a >= 1e4):
            return f"{value / div:,.1f}{unit} {currency}"
    return f"{value:,.2f} {currency}" if a < 100 else f"{value:,.0f} {currency}"


def money_format(values: Any) -> str:
    """A format string for amounts of money like ``values``: cents when they are small.

    Two decimals when the typical (median absolute, non-zero) amount is below 100, none
    otherwise, so a 0.40 spend per customer is not shown as "0" and 12,345,678 not with cents.
    """
    v = pd.Series(np.asarray(values, dtype="float64").ravel())
    v = v[np.isfinite(v) & (v != 0)].abs()
    return "{:,.2f}" if v.empty or v.median() < 100 else "{:,.0f}"


def pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f} %"

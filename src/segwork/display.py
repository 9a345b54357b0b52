"""What notebooks show to people: findings, explanations and tables, always HTML-escaped.

Reports are read by stakeholders, so every notebook leads with a finding in plain words and
explains each figure. Data can contain anything (a customer called ``<script>``), so text from
data is escaped here, in one place.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from segwork.numbers import decimals_for, money, money_format, number, pct  # noqa: F401 (re-exported: show.money etc.)

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

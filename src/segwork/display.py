"""What notebooks show to people: findings, explanations, tables and figures, always HTML-escaped.

Reports are read by stakeholders, so every notebook leads with a finding in plain words and
explains each figure. Data can contain anything (a customer called ``<script>``), so text from
data is escaped here, in one place.

Tables are for people: columns carry plain labels (:data:`LABELS`, else the column name with its
underscores replaced), each column is written by its kind (``count``, ``money``, ``pct``,
``number``, ``p_value``, ``date``: see :func:`table_html`), never in e-notation, and a long table
can be sorted and searched in the same offline file. Statistical detail goes into a collapsed
"For analysts" section (:func:`for_analysts`); figures are shown as images with alt text
(:func:`figure`). Findings and warnings carry output metadata so a run summary can collect them.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segwork.labels import LABELS, label, words  # noqa: F401 (re-exported: show.label etc.)
from segwork.numbers import decimals_for, money, money_format, number, pct  # noqa: F401 (re-exported: show.money etc.)

_STYLE = {
    "finding": "border-left:6px solid #2b6cb0;background:#ebf4ff;padding:12px 16px;margin:12px 0;"
    "font-size:1.05em;border-radius:4px",
    "warning": "border-left:6px solid #c05621;background:#fffaf0;padding:12px 16px;margin:12px 0;border-radius:4px",
    "note": "border-left:6px solid #a0aec0;background:#f7fafc;padding:12px 16px;margin:12px 0;border-radius:4px",
    "explain": "color:#4a5568;font-style:italic;margin:4px 0 18px 0",
    "analysts": "border:1px solid #cbd5e0;border-radius:4px;padding:6px 12px;margin:12px 0",
}

#: The kinds a column of :func:`table_html` can be written as (``formats={"col": kind}``).
KINDS = ("count", "money", "pct", "number", "p_value", "date")

#: Tables with more rows than this are sortable and searchable (``interactive=None``).
INTERACTIVE_ROWS = 15


#: Column labels live in :mod:`segwork.labels` (core), so analysis sentences use them too.
# ------------------------------------------------------------------------------------------
# boxes and text
# ------------------------------------------------------------------------------------------
class _Markup(str):
    """HTML with the output metadata it is displayed with (see :func:`finding`)."""

    metadata: dict[str, Any] | None = None


def _paragraphs(text: str) -> str:
    return "".join(
        f"<p style='margin:4px 0'>{html.escape(p.strip())}</p>"
        for p in text.split("\n\n")
        if p.strip()
    )


def _html(markup: str) -> None:
    from IPython.display import HTML, display

    meta = getattr(markup, "metadata", None)
    if meta:
        display(HTML(str(markup)), metadata=meta)
    else:
        display(HTML(str(markup)))


def box_html(text: str, *, title: str, kind: str = "finding") -> str:
    """A titled box with escaped text; blank lines split paragraphs. ``kind``: 'finding',
    'warning' (an alert the run summary collects) or 'note' (a neutral box, e.g. a caveat for
    analysts inside :func:`for_analysts`, which is not an alert)."""
    return f"<div style='{_STYLE[kind]}'><strong>{html.escape(title)}</strong>{_paragraphs(text)}</div>"


def _box(text: str, title: str, kind: str) -> None:
    markup = _Markup(box_html(text, title=title, kind=kind))
    markup.metadata = {"segwork": {"kind": kind, "title": title, "text": text}}
    _html(markup)


def finding(text: str, *, title: str = "Finding") -> None:
    """Show the main result of a section as a highlighted box (lead with it). The output carries
    ``{"segwork": {"kind": "finding", "title", "text"}}`` metadata for the run summary."""
    _box(text, title, "finding")


def warning(text: str, *, title: str = "Watch out") -> None:
    """Show a caveat a reader must not miss (data problems, small samples); the output carries
    ``{"segwork": {"kind": "warning", ...}}`` metadata so the run summary lists it as an alert."""
    _box(text, title, "warning")


def explain_html(text: str) -> str:
    """The markup of :func:`explain`."""
    return f"<div style='{_STYLE['explain']}'>{_paragraphs(text)}</div>"


def explain(text: str) -> None:
    """A caption under a figure or table: what it shows and how to read it."""
    _html(explain_html(text))


def text_html(text: str) -> str:
    """Escaped paragraphs (blank lines split them), e.g. a part of :func:`for_analysts`."""
    return f"<div class='segwork-text'>{_paragraphs(text)}</div>"


def for_analysts_html(title: str, *parts: str) -> str:
    """The markup of :func:`for_analysts`."""
    return (
        f"<details class='segwork-analysts' style='{_STYLE['analysts']}'>"
        f"<summary style='cursor:pointer;color:#2d3748'>For analysts: {html.escape(title)}</summary>"
        + "".join(parts)
        + "</details>"
    )


def for_analysts(title: str, *parts: str) -> None:
    """Show statistical detail (tests, planning tables, model summaries, notes on parameters) in
    ONE collapsed section 'For analysts: {title}', so a stakeholder reads past it.

    ``parts`` are HTML strings made by this module (:func:`table_html`, :func:`box_html`,
    :func:`text_html`, :func:`figure_html`, or a ``Summary`` object's ``as_html()``), which
    escape their data; plain text must go through :func:`text_html`.
    """
    _html(for_analysts_html(title, *parts))


def summary_html(summary: Any) -> str:
    """A :class:`segwork.summary.Summary` (a fitted model's parameters, a check's metrics) as a
    part of :func:`for_analysts`: its tables written like every table here (no e-notation)."""
    parts = [f"<p><strong>{html.escape(summary.title)}</strong></p>"]
    if summary.facts:
        parts.append(text_html("; ".join(f"{k}: {v}" for k, v in summary.facts.items())))
    for caption, table in summary.tables:
        parts.append(table_html(table, caption=caption or None, index=True, max_rows=100))
    parts += [text_html(n) for n in summary.notes]
    return "".join(parts)


# ------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------
def figure_html(fig: Any = None, *, alt: str) -> str:
    """The matplotlib figure ``fig`` (default: the current one) as an inline PNG ``<img>`` with
    escaped ``alt`` text saying what it shows in words; the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    fig = plt.gcf() if fig is None else fig
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f"<img class='segwork-figure' src='data:image/png;base64,{data}' "
        f"alt='{html.escape(alt, quote=True)}' style='max-width:100%;height:auto'>"
    )


def figure(fig: Any = None, *, alt: str) -> None:
    """Show ``fig`` (default: the current figure) as an image with alt text, instead of
    ``plt.show()``, and close it."""
    _html(figure_html(fig, alt=alt))


# ------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------
def show_table(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 30,
    index: bool = False,
    formats: Mapping[str, str] | None = None,
    currency: str | None = None,
    labels: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> None:
    """Show a DataFrame as an escaped HTML table (see :func:`table_html`)."""
    _html(
        table_html(
            df,
            caption=caption,
            max_rows=max_rows,
            index=index,
            formats=formats,
            currency=currency,
            labels=labels,
            interactive=interactive,
        )
    )


@dataclass(frozen=True)
class PageTable:
    """A table as a page shows it: its columns, their formats (kinds or format strings), their
    labels, the currency of its money columns, and what the columns mean."""

    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    note: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    currency: str | None = None


def page_table_html(table: PageTable, *, caption: str, max_rows: int = 30) -> str:
    """The markup of :func:`show_page_table` (e.g. a part of :func:`for_analysts`)."""
    markup = table_html(
        table.frame,
        caption=caption,
        max_rows=max_rows,
        formats=table.formats,
        currency=table.currency,
        labels=table.labels,
    )
    return markup + (explain_html(table.note) if table.note else "")


def show_page_table(table: PageTable, *, caption: str, max_rows: int = 30) -> None:
    """Show a :class:`PageTable` and, under it, the sentence saying what its columns mean."""
    _html(page_table_html(table, caption=caption, max_rows=max_rows))


_ids = itertools.count(1)


def table_html(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 30,
    index: bool = False,
    formats: Mapping[str, str] | None = None,
    currency: str | None = None,
    labels: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    """A DataFrame as an escaped HTML table for people.

    ``formats`` maps a column to a kind or a format string: ``"count"`` (1,234, never '.00'),
    ``"money"`` (:func:`segwork.numbers.money` in ``currency``), ``"pct"`` (a fraction 0.123 as
    '12.3%'), ``"number"`` (the decimals the column needs, '< 0.0001' below them),
    ``"p_value"`` ('< 0.001'), ``"date"``, or an old format string such as ``"{:,.2f}"``.
    Columns without one: integers and floats whose values are all whole are counts, other floats
    ``"{:,.2f}"`` (``"number"`` when that would show a non-zero value as 0.00), dates as dates.
    No float is written in e-notation. Headers are :func:`label` of the column (``labels``
    first). Only the first ``max_rows`` rows are shown ('Showing N of M rows'). Above
    :data:`INTERACTIVE_ROWS` shown rows (or with ``interactive=True``) the table gets a search
    box and sortable headers from a small inline script (no network; each cell's
    ``data-sort`` holds its raw value); without JavaScript and in print it is a plain table.
    """
    frame = df
    if index:
        unnamed = df.index.nlevels == 1 and df.index.name is None and "index" not in df
        frame = df.reset_index().rename(columns={"index": ""} if unnamed else {})
    shown = frame.head(max_rows)
    heads, columns, aligns, exact = [], [], [], []
    for pos, col in enumerate(shown.columns):
        s = shown.iloc[:, pos]
        fmt = (formats or {}).get(col)
        cells = _column_cells(s, fmt, currency)
        columns.append(cells)
        exact.append(fmt == "money")  # rounded to '12.3 M': the exact amount on hover
        aligns.append(all(k is None or isinstance(k, float) for _, k in cells))
        heads.append(label(col, labels))
    if interactive is None:
        interactive = len(shown) > INTERACTIVE_ROWS
    table_id = f"segwork-table-{next(_ids)}"
    out = [f"<div class='segwork-table-box' id='{table_id}'>"]
    if caption:
        out.append(f"<p><strong>{html.escape(caption)}</strong></p>")
    out.append("<table class='dataframe segwork-table' border='0'><thead><tr>")
    out.extend(
        f"<th scope='col' style='text-align:{'right' if right else 'left'}'>{html.escape(h)}</th>"
        for h, right in zip(heads, aligns, strict=True)
    )
    out.append("</tr></thead><tbody>")
    for i in range(len(shown)):
        out.append("<tr>")
        for cells, right, hover in zip(columns, aligns, exact, strict=True):
            text, key = cells[i]
            sort = "" if key is None else repr(key) if isinstance(key, float) else str(key)
            style = "text-align:right" if right else "text-align:left"
            title = (
                f" title='{html.escape(_exact_money(key, currency), quote=True)}'"
                if hover and isinstance(key, float) and math.isfinite(key)
                else ""
            )
            out.append(
                f"<td data-sort='{html.escape(sort, quote=True)}'{title} style='{style}'>"
                f"{html.escape(text)}</td>"
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    if len(frame) > max_rows:
        out.append(f"<p style='color:#718096'>Showing {max_rows:,} of {len(frame):,} rows.</p>")
    if interactive:
        out.append(_TABLE_SCRIPT.replace("__ID__", table_id))
    out.append("</div>")
    return "".join(out)


# The search box and sortable headers of a long table: vanilla JavaScript, no network. The box
# is made by the script, so without JavaScript (or printed) the table is a plain table.
_TABLE_SCRIPT = """<style>@media print{.segwork-table-tools{display:none!important}}
.segwork-table-tools{margin:4px 0}.segwork-table-tools input{padding:2px 6px;min-width:16em}
.segwork-table-tools span{margin-left:8px;color:#718096}
.segwork-sortable th{cursor:pointer}</style><script>(function(){
var me=document.currentScript,box=(me&&me.closest&&me.closest('.segwork-table-box'))||
document.getElementById('__ID__');if(!box||box.getAttribute('data-ready'))return;
box.setAttribute('data-ready','1');var table=box.querySelector('table');
var body=table&&table.tBodies[0];if(!body)return;table.className+=' segwork-sortable';
var rows=Array.prototype.slice.call(body.rows);
var tools=document.createElement('div');tools.className='segwork-table-tools';
var input=document.createElement('input');input.type='search';
input.placeholder='Search this table';input.setAttribute('aria-label','Search this table');
var count=document.createElement('span');count.setAttribute('aria-live','polite');
tools.appendChild(input);tools.appendChild(count);table.parentNode.insertBefore(tools,table);
input.addEventListener('input',function(){var q=input.value.toLowerCase().trim(),n=0;
rows.forEach(function(r){var ok=!q||r.textContent.toLowerCase().indexOf(q)>=0;
r.style.display=ok?'':'none';if(ok)n++;});
count.textContent=q?n+' of '+rows.length+' rows match':'';});
function key(c){var s=c?c.getAttribute('data-sort'):'';if(s===null)s=c.textContent;
if(s==='')return[2,''];var x=Number(s);return isFinite(x)?[0,x]:[1,s.toLowerCase()];}
var heads=Array.prototype.slice.call(table.tHead.rows[0].cells);
heads.forEach(function(th,i){th.tabIndex=0;th.title='Sort by this column';
function sort(){var asc=th.getAttribute('aria-sort')!=='ascending';
heads.forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
rows.slice().sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
if(x[0]!==y[0])return x[0]-y[0];if(x[1]===y[1])return 0;
var d=x[1]<y[1]?-1:1;return x[0]===2?0:(asc?d:-d);})
.forEach(function(r){body.appendChild(r);});}
th.addEventListener('click',sort);th.addEventListener('keydown',function(e){
if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});});})();</script>"""


# ------------------------------------------------------------------------------------------
# cells
# ------------------------------------------------------------------------------------------
Cell = tuple[str, float | str | None]  # (text shown, raw sort value; None for an empty cell)


def _missing(v) -> bool:
    """NaN, NaT, None and pd.NA are shown as empty cells, never as 'nan' or 'NaT'."""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists, arrays
        return False


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_
    )


def _finite(s: pd.Series) -> np.ndarray:
    vals = [float(v) for v in s if _is_number(v)]
    arr = np.asarray(vals, dtype=float)
    return arr[np.isfinite(arr)]


def _column_cells(s: pd.Series, fmt: str | None, currency: str | None) -> list[Cell]:
    """Each value of the column ``s`` as (text, sort key) by ``fmt`` (see :func:`table_html`)."""
    if fmt is None:
        fmt = _default_format(s)
    write = _writer(s, fmt, currency)
    cells: list[Cell] = []
    for v in s:
        if _missing(v):
            cells.append(("", None))
        elif _is_number(v):
            x = float(v)
            text = "∞" if x == math.inf else "-∞" if x == -math.inf else write(v)
            cells.append((text, x))
        elif isinstance(v, pd.Timestamp | np.datetime64):
            t = pd.Timestamp(v)
            cells.append((_date_text(t), t.isoformat()))
        else:
            text = str(v)
            cells.append((text, _leading_number(text)))
    return cells


def _default_format(s: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_integer_dtype(s):
        return "count"
    if pd.api.types.is_float_dtype(s):
        v = _finite(s)
        if v.size and np.all(v == np.round(v)) and np.abs(v).max() < 2**53:
            return "count"
        if np.any((v != 0) & (np.abs(v) < 0.005)):
            return "number"
        return "{:,.2f}"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    return None  # text, or mixed values: each written by its type


def _writer(s: pd.Series, fmt: str | None, currency: str | None) -> Callable[[Any], str]:
    """How a finite number of the column is written."""
    if fmt == "count":
        return _count_text
    if fmt == "money":
        return lambda v: money(float(v), currency or "").strip()
    if fmt == "pct":
        d = _pct_decimals(_finite(s))
        return lambda v: _below(float(v), d, percent=True) or pct(float(v), d)
    if fmt == "number":
        d = _number_decimals(_finite(s))
        return lambda v: _number_text(float(v), d)
    if fmt == "p_value":
        from segwork.numbers import p_text

        return lambda v: p_text(float(v))
    if fmt == "date":
        return lambda v: str(v)
    if fmt is None:  # numbers in a text column: each by itself
        return lambda v: (
            _count_text(v)
            if float(v) == round(float(v))
            else _number_text(float(v), _number_decimals(np.array([float(v)])))
        )
    return lambda v: _format_string(v, fmt)


def _count_text(v: Any) -> str:
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    x = float(v)
    if x == round(x) and abs(x) < 2**53:
        return f"{int(round(x)):,}"
    return _number_text(x, _number_decimals(np.array([x])))


def _exact_money(x: float, currency: str | None) -> str:
    """An amount in full (cents below 100, as :func:`segwork.numbers.money_format`)."""
    return number(x, 2 if abs(x) < 100 else 0, unit=currency or "")


def _pct_decimals(v: np.ndarray) -> int:
    """One decimal of a percent ('12.3%'; a share too small for it is '< 0.1%'), two when
    every share of the column is below 1%."""
    if v.size and np.abs(100 * v).max() < 1:
        return min(max(decimals_for(100 * v), 1), 2)
    return 1


def _number_decimals(v: np.ndarray) -> int:
    """The decimals that show the column's smallest value to two digits, at most four; none
    when every value is whole, at least one otherwise."""
    if not v.size or np.all(v == np.round(v)):
        return 0
    return min(max(decimals_for(v), 1), 4)


def _below(x: float, decimals: int, *, percent: bool = False) -> str:
    """'< 0.0001' ('< 0.01%') for a non-zero value too small for ``decimals``; '' otherwise."""
    scale = 100 if percent else 1
    step = 10.0**-decimals
    if x == 0 or abs(scale * x) >= step / 2:
        return ""
    unit = "%" if percent else ""
    return (f"< {step:.{decimals}f}" if x > 0 else f"> -{step:.{decimals}f}") + unit


def _number_text(x: float, decimals: int) -> str:
    return _below(x, decimals) or number(x, decimals)


def _format_string(v: Any, fmt: str) -> str:
    text = fmt.format(v)
    if re.search(r"\d[eE][+-]?\d", text) and _is_number(v):  # never e-notation
        x = float(v)
        return _number_text(x, _number_decimals(np.array([x])))
    return text


def _date_text(t: pd.Timestamp) -> str:
    return str(t.date()) if t == t.normalize() else f"{t:%Y-%m-%d %H:%M}"


_LEADING = re.compile(r"^\s*[<>≈]?\s*([+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)")


def _leading_number(text: str) -> float | str:
    """The sort key of a text cell: the number it starts with ('12.3%', '+1.2 pp [..]',
    '1,234 / 567'), else the text itself."""
    m = _LEADING.match(text)
    if not m:
        return text
    try:
        return float(m[1].replace(",", "").replace("−", "-"))
    except ValueError:
        return text


def _cell(v, fmt: str) -> str:
    """One value by a format string ('' when missing, ∞ for infinity); kept for callers."""
    if _missing(v):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return _format_string(v, fmt)

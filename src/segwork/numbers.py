"""segwork's one rule for writing numbers, money and shares as text.

Pure functions (no display, no I/O), so analysis modules that word a number (an interval, a
p-value) and the pages use the same digits. :mod:`segwork.display` shows them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


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
    return f"{100 * value:.{digits}f}%"


def p_text(p: float | None) -> str:
    """A p-value for a table: '< 0.001' or two significant digits ('0.071'), never '5.9e-13';
    empty when it cannot be computed."""
    if p is None or not np.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def p_phrase(p: float | None) -> str:
    """A p-value after 'p' in a sentence: '< 0.001' or '= 0.071', never '5.9e-13'."""
    text = p_text(p)
    return "not computable" if not text else text if text.startswith("<") else f"= {text}"

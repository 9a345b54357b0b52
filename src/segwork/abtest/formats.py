"""How the numbers of a result are written in the decision reasons: rates in % with differences in
percentage points, other metrics with the decimals their intervals need, p-values without
scientific notation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segwork.abtest.metrics import METRIC_KINDS
from segwork.numbers import decimals_for, number


@dataclass(frozen=True)
class MetricFormat:
    """How one metric is written for people: rates in % with differences in percentage points,
    other metrics with as many decimals as their intervals need (cents for small amounts)."""

    kind: str
    decimals: int
    unit: str = ""

    def value(self, x: float) -> str:
        if x is None or not np.isfinite(x):
            return ""
        if self.kind == "binary":
            return f"{100 * x:.{self.decimals}f}%"
        return number(x, self.decimals, unit=self.unit)

    def diff(self, d: float, lo: float, hi: float) -> str:
        if d is None or not np.isfinite(d):
            return "not evaluated"
        k = self.decimals
        if self.kind == "binary":
            ci = f" [{100 * lo:+.{k}f}, {100 * hi:+.{k}f}]" if np.isfinite(lo) else ""
            return f"{100 * d:+.{k}f} pp{ci}"
        ci = f" [{number(lo, k, sign=True)}, {number(hi, k, sign=True)}]" if np.isfinite(lo) else ""
        return f"{number(d, k, sign=True)}{ci} {self.unit}".strip()


def metric_formats(table: pd.DataFrame, *, currency: str = "") -> dict[str, MetricFormat]:
    """One :class:`MetricFormat` per metric of a result table, chosen from its numbers: decimals
    that show the narrowest interval of a difference to two significant digits (at least one for
    rates), the currency for money metrics."""

    out = {}
    for m, rows in table.groupby("metric", sort=False):
        kind = (
            str(rows["metric_kind"].iat[0])
            if "metric_kind" in rows
            else METRIC_KINDS.get(str(m), "numeric")
        )
        half = (rows["diff_ci_high"] - rows["diff_ci_low"]).to_numpy(dtype=float) / 2
        if kind == "binary":
            out[str(m)] = MetricFormat(kind, max(1, decimals_for(100 * half)))
        else:
            if not np.isfinite(half).any():
                half = rows["control_mean"].to_numpy(dtype=float)
            money = kind == "money"
            out[str(m)] = MetricFormat(
                kind, decimals_for(half, money=money), currency if money else ""
            )
    return out

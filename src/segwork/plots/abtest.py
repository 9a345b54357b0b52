"""Figures of notebook 04 (campaign A/B tests), in seaborn's shape: data first, ``ax=``, the Axes out."""

from __future__ import annotations

import textwrap
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, PercentFormatter

from segwork.abtest import ABResult, ABTestError, segment_name


def forest_plot(
    data: pd.DataFrame | ABResult,
    metric: str | None = None,
    *,
    ax=None,
    campaign: str | None = None,
    title: str | None = None,
    segment_column: str | None = None,
    scale: Literal["difference", "lift"] = "difference",
    currency: str = "",
):
    """Effects with their intervals by segment (and variant): green = significantly positive
    after correction, red = significantly negative, grey = not significant. ``metric``: the
    result's primary metric (or the table's first) by default. Returns the Axes.

    ``scale="difference"`` (default) draws the difference to control with the interval the
    tables use (percentage points for rates, ``currency`` for money); a segment stopped with no
    minimum useful effect is red, as the stop needs the same corrected significance; ``"lift"``
    draws the relative lift with its delta-method interval, which can disagree with the
    difference's for small counts."""
    table = data
    if isinstance(data, ABResult):
        metric = metric or data.primary_metric
        table = data.table
    metric = metric or str(table["metric"].iat[0])
    t = table[table["metric"] == metric]
    if campaign is not None:
        t = t[t["campaign_id"] == campaign]
    if t.empty:
        raise ABTestError(
            f"forest_plot: no rows for metric '{metric}'"
            + (f", campaign '{campaign}'" if campaign else "")
        )
    t = t.reset_index(drop=True)
    if ax is None:
        ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(t)))[1]
    many = t["campaign_id"].nunique() > 1
    nvar = t["variant"].nunique() > 1
    labels = [
        (f"{r.campaign_id}: " if many else "")
        + segment_name(str(r.segment), segment_column)
        + (f" · {r.variant}" if nvar else "")
        for r in t.itertuples()
    ]
    y = np.arange(len(t))[::-1]
    binary = "metric_kind" in t and (t["metric_kind"].astype(str) == "binary").all()
    if scale == "lift":
        cols, factor = ("lift", "lift_ci_low", "lift_ci_high"), 1.0
    elif scale == "difference":
        cols, factor = ("diff", "diff_ci_low", "diff_ci_high"), (100.0 if binary else 1.0)
    else:
        raise ABTestError(f"forest_plot: scale must be 'difference' or 'lift', not {scale!r}")
    lift, lo, hi = (factor * t[c].to_numpy(dtype=float) for c in cols)
    sig = t["significant"].to_numpy(dtype=bool)
    ok = np.isfinite(lift) & np.isfinite(lo) & np.isfinite(hi)
    groups = [
        ("significantly positive", "#2a9d8f", sig & (lift > 0)),
        ("significantly negative", "#e76f51", sig & (lift < 0)),
        ("not significant", "#8d99ae", ~sig),
    ]
    for name, colour, mask in groups:
        m = mask & ok
        if m.any():
            ax.errorbar(
                lift[m],
                y[m],
                xerr=[lift[m] - lo[m], hi[m] - lift[m]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=3,
                label=name,
            )
    for yi in y[~ok]:
        ax.text(0, yi, "  lift undefined / not evaluated", va="center", fontsize=8, color="#555555")
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, labels, parse_math=False)  # '$0 - $100' is money, not math
    if scale == "lift":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        what = f"relative lift in {metric} vs control"
    elif binary:
        what = f"difference in {metric} vs control (percentage points)"
    else:
        money = "metric_kind" in t and (t["metric_kind"].astype(str) == "money").all()
        unit = f" ({currency})" if money and currency else ""
        what = f"difference in {metric} per customer vs control{unit}"
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel(
        f"{what}\n(dot: estimate; line: interval; colour: significance after correction)",
        parse_math=False,
    )
    ax.set_title(
        textwrap.fill(title or f"Lift in {metric} by segment", 48), fontsize=11, parse_math=False
    )
    if ok.any():
        ax.legend(loc="best", fontsize=8)
    return ax

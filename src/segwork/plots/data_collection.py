"""The figures of page 01 (data collection and customer 360), in seaborn's shape.

Each function takes its data first, draws into ``ax=`` (a new figure without it) and returns
the Axes (:func:`buyer_histograms`, three panels, returns the three Axes).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from segwork.plots import (
    histogram,
    money_axis,
    monthly_line,
    share_bars,
    share_comparison,
    top_n_bars,
)
from segwork.quality import ValueSpread


def missing_bars(missing: pd.DataFrame, *, label: str = "label", ax=None):
    """The share of rows with no value per column (``label`` names each bar)."""
    ax = share_bars(
        missing, category=label, value="share", title="Share of rows with no value", ax=ax
    )
    ax.set_xlabel("share of rows missing")
    return ax


def monthly_revenue(monthly: pd.DataFrame, *, currency: str, ax=None):
    """Net revenue per month (partial months hollow), from quality.monthly_orders."""
    return monthly_line(
        monthly,
        x="month",
        y="revenue",
        title="Net revenue per month",
        ylabel=currency,
        partial="partial",
        ax=ax,
    )


def monthly_counts(monthly: pd.DataFrame, *, ax=None):
    """Orders per month, and returns when there are any (partial months hollow)."""
    with_returns = int(monthly["returns"].sum()) > 0
    counts = monthly.melt(
        id_vars=["month", "partial"],
        value_vars=["orders", "returns"] if with_returns else ["orders"],
        var_name="type",
        value_name="count",
    )
    return monthly_line(
        counts,
        x="month",
        y="count",
        hue="type" if with_returns else None,
        partial="partial",
        ax=ax,
        title="Orders and returns per month" if with_returns else "Orders per month",
    )


def revenue_by(by_value: pd.DataFrame, column: str, *, currency: str, n: int = 10, ax=None):
    """Net revenue per value of an orders column: the ``n`` largest and one grey "other" bar."""
    ax = top_n_bars(
        by_value,
        category=column,
        value="revenue",
        n=n,
        title=f"Net revenue by {column.replace('_', ' ')}",
        ax=ax,
    )
    money_axis(ax, axis="x")
    ax.set_xlabel(f"net revenue ({currency})")
    return ax


def buyer_histograms(
    c360: pd.DataFrame, *, days: int, spread: ValueSpread, currency: str, axes=None
) -> np.ndarray:
    """Three panels of the buyers of a customer 360: orders in the last ``days``, average order
    value (log axis when ``spread`` says so) and days since the last order."""
    if axes is None:
        axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")[1]
    buyers = c360.loc[c360["has_ordered"]]
    histogram(
        buyers,
        x=f"orders_{days}d",
        xlabel="orders per buyer",
        title=f"Orders in the last {days} days",
        ax=axes[0],
    )
    histogram(
        buyers,
        x="aov",
        xlabel=f"average order value ({currency})",
        title="Average order value",
        log=spread.log_scale,
        ax=axes[1],
    )
    histogram(
        buyers,
        x="days_since_last_order",
        xlabel="days",
        title="Days since the last order",
        ax=axes[2],
    )
    return axes


def breakdown_bars(groups: pd.DataFrame, column: str, *, title: str = "", ax=None):
    """The groups of one attribute (customers.breakdown): the share of customers beside the
    share of net revenue when there is revenue, else the share of customers alone."""
    if "revenue_share" in groups:
        return share_comparison(groups, category=column, title=title, ax=ax)
    return share_bars(groups, category=column, value="customer_share", title=title, ax=ax)

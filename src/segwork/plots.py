"""Shared figure style and the plotting helpers used across notebooks.

Plotting functions follow seaborn: a DataFrame in, ``ax=None`` to draw into, the Axes out.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PALETTE = "crest"


def set_theme() -> None:
    """One look for every report: white grid, readable font sizes, figures sized for HTML."""
    sns.set_theme(style="whitegrid", context="notebook", palette="deep")
    plt.rcParams.update(
        {
            "figure.figsize": (9, 4.5),
            "figure.dpi": 90,
            "axes.titleweight": "bold",
            "axes.titlesize": 13,
        }
    )


def _ax(ax):
    return ax if ax is not None else plt.subplots()[1]


def share_bars(
    df: pd.DataFrame, *, category: str, value: str, title: str = "", ax=None, fmt: str = "{:.0%}"
):
    """Horizontal bars of ``value`` per ``category`` with the value printed at each bar."""
    ax = _ax(ax)
    sns.barplot(data=df, y=category, x=value, ax=ax, color=sns.color_palette()[0], orient="h")
    for patch, v in zip(ax.patches, df[value], strict=False):
        ax.text(
            patch.get_width(),
            patch.get_y() + patch.get_height() / 2,
            " " + fmt.format(v),
            va="center",
            fontsize=9,
        )
    ax.set_title(title)
    ax.set_ylabel("")
    return ax


def monthly_line(
    df: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    title: str = "",
    ylabel: str = "",
    ax=None,
):
    """A line over months (orders or revenue per month)."""
    ax = _ax(ax)
    sns.lineplot(data=df, x=x, y=y, hue=hue, marker="o", ax=ax)
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    if df[y].abs().max() >= 1e6:
        money_axis(ax)
    return ax


def money_axis(ax, axis: str = "y"):
    """Label large amounts as 12.5 M instead of matplotlib's 1e7 offset."""

    def fmt(v, _):
        return (
            f"{v / 1e6:,.1f} M"
            if abs(v) >= 1e6
            else f"{v / 1e3:,.0f} k"
            if abs(v) >= 1e3
            else f"{v:,.0f}"
        )

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    return ax


def histogram(
    df: pd.DataFrame, *, x: str, title: str = "", log: bool = False, bins: int = 40, ax=None
):
    """Distribution of one column; ``log`` for money-like columns with a long tail."""
    ax = _ax(ax)
    data = df[x].dropna()
    if log:
        data = data[data > 0]
    sns.histplot(x=data, bins=bins, log_scale=log, ax=ax, color=sns.color_palette()[0])
    ax.set_title(title)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel("customers")
    return ax


def share_comparison(
    df: pd.DataFrame,
    *,
    category: str,
    title: str = "",
    shares=("customer_share", "revenue_share"),
    labels=("customers", "revenue"),
    ax=None,
):
    """Side-by-side bars of two shares per category (e.g. share of customers vs share of revenue)."""
    ax = _ax(ax)
    long = df.melt(
        id_vars=category, value_vars=list(shares), var_name="measure", value_name="share"
    )
    long["measure"] = long["measure"].map(dict(zip(shares, labels, strict=True)))
    long[category] = long[category].astype(str)
    sns.barplot(data=long, y=category, x="share", hue="measure", orient="h", ax=ax)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(title)
    ax.set_ylabel("")
    ax.set_xlabel("share")
    ax.legend(title="")
    return ax


def share_heatmap(
    df: pd.DataFrame,
    *,
    index: str,
    columns: str,
    values: str,
    title: str = "",
    fmt: str = ".0%",
    ax=None,
):
    """A grid of shares (e.g. segment mix per region) with the value printed in each cell."""
    ax = _ax(ax)
    grid = df.pivot_table(
        index=index, columns=columns, values=values, aggfunc="sum", observed=False, sort=False
    )
    sns.heatmap(
        grid, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 8}
    )
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel("")
    return ax

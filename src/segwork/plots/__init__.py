"""Shared figure style and the plotting helpers used across notebooks.

Plotting functions follow seaborn: a DataFrame in, ``ax=None`` to draw into, the Axes out.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import PercentFormatter

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


def plain_labels(values: pd.Series) -> pd.Series:
    """Category labels as text matplotlib prints as they are ('$1,000 +' is not math)."""
    return values.astype("string").fillna("(unknown)").str.replace("$", r"\$", regex=False)


def share_bars(
    df: pd.DataFrame,
    *,
    category: str,
    value: str,
    title: str = "",
    ax=None,
    fmt: str | None = None,
):
    """Horizontal bars of ``value`` per ``category`` with the value printed at each bar.

    ``fmt`` defaults to whole percent, or one decimal when a share is under 10 % (so 0.8 % is
    not printed as "1%").
    """
    if fmt is None:
        v = pd.to_numeric(df[value], errors="coerce")
        fmt = "{:.1%}" if ((v > 0) & (v < 0.095)).any() else "{:.0%}"
    ax = _ax(ax)
    df = df.assign(**{category: plain_labels(df[category])})
    sns.barplot(data=df, y=category, x=value, ax=ax, color=sns.color_palette()[0], orient="h")
    if "%" in fmt:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.set_xlabel(value.replace("_", " "))
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
    partial: str | None = None,
    ax=None,
):
    """A line over months (orders or revenue per month).

    ``partial`` names a boolean column marking months the data covers only in part (the first
    and last month of an export that starts or ends mid-month): those points are drawn hollow
    and labelled "partial", so a short month is not read as a drop.
    """
    ax = _ax(ax)
    sns.lineplot(data=df, x=x, y=y, hue=hue, marker="o", ax=ax)
    if hue is not None:
        ax.legend(title="")  # the series names say it; no column name above them
    if partial is not None and partial in df and df[partial].any():
        part = df.loc[df[partial].astype(bool)]
        ax.scatter(
            part[x],
            part[y],
            s=90,
            facecolors="white",
            edgecolors="0.3",
            linewidths=1.5,
            zorder=5,
            label="partial month",
        )
        for px in part[x].drop_duplicates():
            top = part.loc[part[x] == px, y].max()
            ax.annotate(
                "partial",
                (px, top),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
                color="0.3",
            )
        ax.legend(title="", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    money_axis(ax, cents=None if (df[y].dropna() % 1).any() else False)
    return ax


def money_axis(ax, axis: str = "y", *, cents: bool | None = None):
    """Label amounts readably: 12.5 M and 40 k instead of matplotlib's 1e7 offset, and cents
    when the whole axis spans small amounts (an axis from 0 to 3 reads 0.50, 1.00, ...);
    ``cents`` forces them on or off (off for counts)."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    top = max(abs(lo), abs(hi))
    small = top < 10 if cents is None else cents

    # one unit for the whole axis (from its largest value), so it never reads "8,000" under "10 k"
    def scaled(v: float, unit: float, name: str) -> str:
        text = f"{v / unit:,.2f}".rstrip("0").rstrip(".")  # 2.5 k, not "2 k"; 10 k, not 10.00 k
        return f"{'0' if text in ('-0', '') else text} {name}"

    def fmt(v, _):
        if v == 0:
            return "0"
        if top >= 1e6:
            return scaled(v, 1e6, "M")
        if top >= 1e4:
            return scaled(v, 1e3, "k")
        return f"{v:,.2f}" if small else f"{v:,.0f}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    return ax


def top_n(
    df: pd.DataFrame,
    *,
    category: str,
    value: str | None = None,
    n: int = 10,
    other: str = "other",
) -> pd.DataFrame:
    """The ``n`` largest categories and one ``other`` row summing the rest.

    ``value`` is an additive column (a count, an amount) summed per category; without it the
    rows are counted. The result has columns ``category``, ``value`` (or "count") and
    ``categories`` (how many original categories each row stands for, 1 except for "other"),
    largest first with "other" last. Nothing is lost: the values sum to the input's total.
    """
    col = value or "count"
    key = df[category].astype("string").fillna("(unknown)")
    sums = (
        df.assign(**{col: 1})[col].groupby(key).sum()
        if value is None
        else df[value].groupby(key).sum()
    )
    sums = sums.sort_values(ascending=False, kind="stable")
    out = pd.DataFrame({category: sums.index.astype(str), col: sums.to_numpy(), "categories": 1})
    if len(out) > n + 1:  # lumping a single category into "other" would only hide its name
        rest = out.iloc[n:]
        other_row = pd.DataFrame(
            {category: [other], col: [rest[col].sum()], "categories": [len(rest)]}
        )
        out = pd.concat([out.iloc[:n], other_row], ignore_index=True)
    return out


def top_n_bars(
    df: pd.DataFrame,
    *,
    category: str,
    value: str | None = None,
    n: int = 10,
    other: str = "other",
    title: str = "",
    fmt: str = "{:,.0f}",
    ax=None,
):
    """Horizontal bars of the ``n`` largest categories plus one "other (k more)" bar.

    For columns with many values (countries, products, cities) where one bar per value would
    be unreadable. ``value`` is summed per category (rows are counted without it).
    """
    data = top_n(df, category=category, value=value, n=n, other=other)
    col = value or "count"
    lumped = data["categories"] > 1
    data[category] = data[category].where(
        ~lumped, data[category] + " (" + data["categories"].astype(str) + " more)"
    )
    ax = share_bars(data, category=category, value=col, title=title, ax=ax, fmt=fmt)
    if lumped.any():
        ax.patches[len(data) - 1].set_facecolor("0.7")
    ax.set_xlabel(value.replace("_", " ") if value else "rows")
    return ax


def histogram(
    df: pd.DataFrame,
    *,
    x: str,
    title: str = "",
    xlabel: str | None = None,
    log: bool = False,
    bins: int = 40,
    ax=None,
):
    """Distribution of one column; ``log`` for money-like columns with a long tail.

    ``xlabel``: the axis in words (default: the column name without underscores).
    """
    ax = _ax(ax)
    data = df[x].dropna()
    if log:
        data = data[data > 0]
    sns.histplot(x=data, bins=bins, log_scale=log, ax=ax, color=sns.color_palette()[0])
    ax.set_title(title)
    ax.set_xlabel(xlabel if xlabel is not None else x.replace("_", " "))
    ax.set_ylabel("customers")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
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
    long[category] = plain_labels(long[category])
    sns.barplot(data=long, y=category, x="share", hue="measure", orient="h", ax=ax)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
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

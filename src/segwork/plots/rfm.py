"""Figures of RFM (notebook 02): the R x F grid, segment shares and segment migration.

Seaborn's shape: the data first (the output of :func:`segwork.rfm.score`,
:func:`segwork.rfm.segment_kpis` or :func:`segwork.rfm.migration`), ``ax=`` to draw into, the
Axes returned.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from segwork.plots import _ax, share_comparison
from segwork.rfm import MigrationResult, RFMError
from segwork.rfm.kpis import _check_scored

__all__ = ["migration_heatmap", "rf_heatmap", "segment_bars"]


def rf_heatmap(
    scored: pd.DataFrame, *, value: Literal["customers", "monetary"] = "customers", ax=None
) -> Axes:
    """R x F grid (R = bins at the top) of customer counts or mean monetary value per cell."""
    _check_scored(scored)
    bins = int(scored.attrs.get("bins", max(scored["R"].max(), scored["F"].max())))
    levels = list(range(1, bins + 1))
    if value == "customers":
        grid = pd.crosstab(scored["R"], scored["F"]).reindex(
            index=levels, columns=levels, fill_value=0
        )
        fmt, label = ",d", "customers"
    elif value == "monetary":
        grid = scored.pivot_table(
            index="R", columns="F", values="monetary", aggfunc="mean"
        ).reindex(index=levels, columns=levels)
        fmt, label = ",.0f", "average monetary value"
    else:
        raise RFMError(f"value must be 'customers' or 'monetary', got {value!r}")
    ax = _ax(ax)
    sns.heatmap(
        grid.iloc[::-1], annot=True, fmt=fmt, cmap="crest", cbar_kws={"label": label}, ax=ax
    )
    ax.set_xlabel("F score (frequency)")
    ax.set_ylabel("R score (recency)")
    ax.set_title(
        "Customers per recency and frequency score"
        if value == "customers"
        else "Average monetary value per recency and frequency score"
    )
    return ax


def segment_bars(kpis: pd.DataFrame, *, ax=None) -> Axes:
    """Share of customers and share of revenue per segment, side by side (from segment_kpis)."""
    need = ("segment", "customer_share", "revenue_share")
    missing = [c for c in need if c not in kpis]
    if missing:
        raise RFMError(
            f"segment_bars needs the output of segment_kpis; missing {', '.join(missing)}"
        )
    ax = share_comparison(
        kpis, category="segment", title="Segments: share of customers and of revenue", ax=_ax(ax)
    )
    return ax


def migration_heatmap(
    matrix: pd.DataFrame | MigrationResult, *, shares: bool = True, ax=None
) -> Axes:
    """Transition matrix (rows: segment before, columns: segment now) as a heatmap.

    Accepts a :class:`MigrationResult` (its row shares, or counts with ``shares=False``) or a
    counts/shares DataFrame; shares are printed as percentages.
    """
    if isinstance(matrix, MigrationResult):
        # rows with no customer are left out (a closed cohort has no "new" row); each row label
        # carries how many customers the row's shares are of
        totals = matrix.counts.sum(axis=1)
        data = (matrix.shares if shares else matrix.counts).loc[totals > 0]
        data = data.rename(index=lambda s: f"{s} ({int(totals[s]):,})")
    else:
        data = matrix
    is_share = bool(np.nanmax(data.to_numpy(dtype="float64"), initial=0) <= 1.0) and shares
    ax = _ax(ax)
    sns.heatmap(
        data.astype("float64"),
        annot=True,
        fmt=".0%" if is_share else ",.0f",
        cmap="crest",
        vmin=0,
        vmax=1 if is_share else None,
        cbar=False,
        ax=ax,
    )
    ax.set_xlabel("segment now")
    ax.set_ylabel("segment before")
    ax.set_title(
        "Segment migration" + (" (share of each earlier segment)" if is_share else " (customers)")
    )
    return ax

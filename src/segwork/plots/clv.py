"""Figures of the next-purchase models (notebook 02): predicted against actual buyers on the
checked period, per decile and per group of past repeat purchases.

Seaborn's shape: the data first (``HoldoutComparison.calibration`` / ``.groups`` of
:func:`segwork.clv.compare_on_holdout`), ``ax=`` to draw into, the Axes returned.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from segwork.clv import MODEL_NAMES
from segwork.plots import _ax

__all__ = ["calibration_plot", "groups_plot"]


def _period(days: int | None) -> str:
    return f"the last {days} days" if days else "the checked period"


def calibration_plot(calibration: pd.DataFrame, *, ax=None, days: int | None = None) -> Axes:
    """Predicted vs actual purchase rate per decile, one line per model, with the diagonal.

    ``days``: the checked horizon, named in the title (the page never says "holdout").
    """
    ax = _ax(ax)
    data = calibration.assign(
        model=calibration["model"].map(MODEL_NAMES).fillna(calibration["model"])
    )
    sns.lineplot(data=data, x="predicted", y="actual", hue="model", marker="o", ax=ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted probability of a purchase",
        ylabel="share who actually bought",
        title=f"Predicted and actual, {_period(days)}",
    )
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(title="")
    return ax


def groups_plot(groups: pd.DataFrame, *, ax=None, days: int | None = None) -> Axes:
    """Predicted (both models) and actual buyer share per group of past repeat purchases."""
    ax = _ax(ax)
    long = groups.melt(
        id_vars="group",
        value_vars=["actual_buyers", "propensity", "bgnbd"],
        var_name="series",
        value_name="share",
    )
    long["series"] = long["series"].map({"actual_buyers": "actual", **MODEL_NAMES})
    sns.barplot(data=long, x="group", y="share", hue="series", ax=ax)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set(
        xlabel=f"repeat purchases before {_period(days)}",
        ylabel=f"share who bought in {_period(days)}",
        title="Predicted and actual buyers",
    )
    ax.legend(title="")
    return ax

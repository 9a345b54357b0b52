"""Figures of the next-purchase models (notebook 02): predicted against actual buyers on the
checked period, per decile and per group of past repeat purchases.

Seaborn's shape: the data first (``HoldoutComparison.calibration`` / ``.groups`` of
:func:`segwork.clv.compare_on_holdout`), ``ax=`` to draw into, the Axes returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from segwork.clv import MODEL_NAMES
from segwork.clv.model_choice import LIFETIME_MODELS, ModelChoice, period_words
from segwork.plots import _ax

__all__ = ["calibration_plot", "conditional_expectation_plot", "groups_plot"]


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


def conditional_expectation_plot(choice: ModelChoice, *, ax=None) -> Axes:
    """Mean actual and predicted purchases of the checked period per number of repeat purchases
    (Fader, Hardie & Lee 2005, fig. 4): the data of :func:`segwork.clv.choose_lifetime_model`,
    one line per model, the chosen one solid."""
    ax = _ax(ax)
    g = choice.groups
    x = np.arange(len(g))
    ax.plot(x, g["actual"], color="black", marker="o", lw=2.5, label="actual")
    for key in choice.fits:
        if key in g:
            ax.plot(
                x,
                g[key],
                marker="s",
                ls="--" if key != choice.chosen else "-",
                label=LIFETIME_MODELS[key] + (" (chosen)" if key == choice.chosen else ""),
            )
    ax.set_xticks(x, g["repeat_purchases"])
    ax.set(
        xlabel="repeat purchases before",
        ylabel="purchases per customer",
        title=f"Predicted and actual, {period_words(choice.holdout_length, choice.time_unit)}",
    )
    ax.legend(title="")
    return ax

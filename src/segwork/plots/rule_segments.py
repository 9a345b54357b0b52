"""Figures of rule segments (notebook 05): how segments overlap and their sizes over runs.

Seaborn's shape: the data first (:meth:`segwork.steps.rule_segments.RuleSegmentsResult.overlap`,
:func:`segwork.segments.size_history`), ``ax=`` to draw into, the Axes returned.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

__all__ = ["overlap_heatmap", "size_lines"]


def overlap_heatmap(overlap: pd.DataFrame, *, ax=None) -> Axes:
    """Share of each row segment's members who are also in the column segment."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 5))[1]
    sns.heatmap(overlap, annot=True, fmt=".0%", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax)
    ax.set_title("How much the segments overlap")
    return ax


def size_lines(sizes: pd.DataFrame, *, ax=None) -> Axes:
    """Members per segment at each run (run_at, members, segment)."""
    if ax is None:
        ax = plt.subplots(figsize=(10, 4))[1]
    sns.lineplot(data=sizes, x="run_at", y="members", hue="segment", marker="o", ax=ax)
    ax.set_title("Members per segment at each run")
    ax.set_xlabel("run")
    ax.legend(title="", fontsize=8)
    return ax

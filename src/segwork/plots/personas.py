"""Figures of notebook 03 (seaborn's shape: data first, ``ax=`` keyword, the Axes returned)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segwork.personas import ClusteringError, PersonaResult
from segwork.plots import _ax


def k_selection_plot(
    sweep: pd.DataFrame, *, ax: Any = None, stability_threshold: float | None = None
) -> Any:
    """Stability (ARI ± sd), the weakest cluster's Jaccard and the silhouette per k; chosen k marked."""
    ax = _ax(ax)
    thr = stability_threshold or sweep.attrs.get("stability_threshold", 0.9)
    ks = sweep.index.to_numpy()
    ax.errorbar(
        ks,
        sweep["stability"],
        yerr=sweep["stability_sd"].fillna(0),
        marker="o",
        capsize=3,
        label="agreement of the repeats (adjusted Rand index, ± sd)",
    )
    ax.plot(
        ks,
        sweep["min_cluster_jaccard"],
        marker="s",
        label="least reproducible persona (overlap of members, Jaccard)",
    )
    ax.plot(ks, sweep["silhouette"], marker="^", label="separation of the groups (silhouette)")
    ax.axhline(
        thr,
        color="grey",
        linestyle=":",
        linewidth=1,
        label=f"reproducible if the overlap is at least {thr:.2f}",
    )
    chosen = sweep.attrs.get("chosen_k")
    if chosen is None and "chosen" in sweep:
        hits = sweep.index[sweep["chosen"].astype(bool)]
        chosen = int(hits[0]) if len(hits) else None
    if chosen is not None:
        ax.axvline(chosen, color="black", linestyle="--", linewidth=1)
        ax.annotate(f" chosen: {chosen}", (chosen, 1.02), ha="left", va="bottom", fontsize=9)
    ax.set_xticks(ks)
    ax.set_ylim(min(0.0, float(np.nanmin(sweep[["silhouette"]].to_numpy())) - 0.05), 1.08)
    ax.set_xlabel("number of personas (k)")
    ax.set_ylabel("higher is better")
    ax.set_title("Choosing the number of personas")
    # beside the plot, not over it: the silhouette line runs along the bottom
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


def profile_heatmap(profiles: pd.DataFrame, *, ax: Any = None) -> Any:
    """Construct z-scores per persona (rows) as a diverging heatmap, values printed."""
    import seaborn as sns

    ax = _ax(ax)
    zcols = [c for c in profiles.columns if c.startswith("z_")]
    if not zcols:
        raise ClusteringError(
            "profile_heatmap needs the profiles table of a PersonaResult (z_<construct> columns)"
        )
    data = profiles[zcols].astype(float)
    data.columns = [c[2:].replace("_", " ") for c in zcols]
    if "name" in profiles:
        data.index = [
            f"{n} ({int(s):,})" if "size" in profiles else str(n)
            for n, s in zip(profiles["name"], profiles.get("size", profiles["name"]), strict=True)
        ]
    lim = max(1.0, float(np.nanmax(np.abs(data.to_numpy()))))
    sns.heatmap(
        data,
        ax=ax,
        cmap="vlag",
        center=0,
        vmin=-lim,
        vmax=lim,
        annot=True,
        fmt="+.1f",
        cbar_kws={"label": "z-score vs all respondents"},
        linewidths=0.5,
    )
    ax.set_title("What sets each persona apart (construct means, z-scores)")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return ax


def projection_plot(result: PersonaResult, *, ax: Any = None) -> Any:
    """Respondents on the first two principal components of the features, coloured by persona."""
    import seaborn as sns

    ax = _ax(ax)
    proj, centres = result.projection, result.projection_centres
    order = list(result.profiles["name"])
    sns.scatterplot(
        data=proj,
        x="pc1",
        y="pc2",
        hue="persona",
        hue_order=order,
        s=8,
        alpha=0.5,
        linewidth=0,
        ax=ax,
    )
    for _, row in centres.iterrows():
        ax.annotate(
            str(row["persona"]),
            (row["pc1"], row["pc2"]),
            ha="center",
            fontsize=9,
            weight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7},
        )
    ev = proj.attrs.get("explained_variance_ratio", [np.nan, np.nan])
    ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
    ax.set_title("Personas in two dimensions (for orientation only)")
    ax.legend(fontsize=8, markerscale=2, loc="best")
    return ax

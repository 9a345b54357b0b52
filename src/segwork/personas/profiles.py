"""What sets each cluster apart: construct and item z-scores, top items, names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segwork.personas.clusterer import ClusteringError, PersonaClusterer
from segwork.personas.naming import persona_names
from segwork.survey import ScoredSurvey


def _profiles(
    scored: ScoredSurvey,
    labels: np.ndarray,
    k: int,
    est: PersonaClusterer,
    names: Mapping[Any, str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = scored.spec
    cons = scored.constructs
    cz = (cons.groupby(labels).mean() - cons.mean()) / cons.std(ddof=1)
    cz = cz.reindex(range(k))
    raw = scored.raw  # recoded, not imputed
    iz = (raw.groupby(labels).mean() - raw.mean()) / raw.std(ddof=1)
    iz = iz.reindex(range(k))
    flip = np.array([-1.0 if i in spec.reverse else 1.0 for i in iz.columns])
    iz = iz * flip  # back on the answer scale: z > 0 = agrees more with the item as worded
    gen_names, descs = persona_names(cz.fillna(0.0))
    overrides = {int(c): str(n) for c, n in (names or {}).items()}
    bad = sorted(set(overrides) - set(range(k)))
    if bad:
        raise ClusteringError(
            f"names: cluster(s) {bad} do not exist (clusters are 0..{k - 1}).\n"
            "Fix: name clusters by number from the profiles table of this run."
        )
    final = [overrides.get(c, gen_names[c]) for c in range(k)]
    if len(set(final)) < k:
        raise ClusteringError(f"names: persona names must be unique, got {final}")
    sizes = np.bincount(labels, minlength=k)
    top = []
    for c in range(k):
        row = iz.loc[c].dropna()
        items = row.abs().sort_values(ascending=False, kind="stable").index[:3]
        top.append(
            "; ".join(
                f"{i} “{str(spec.text[i]).strip().rstrip('.')}” ({row[i]:+.1f})" for i in items
            )
        )
    prof = pd.DataFrame(
        {"size": sizes, "share": sizes / sizes.sum()}, index=pd.RangeIndex(k, name="cluster")
    )
    for con in cz.columns:
        prof[f"z_{con}"] = cz[con].to_numpy()
    prof["top_items"] = top
    prof["stability"] = getattr(est, "stability_jaccard_", np.full(k, np.nan))
    prof["name"] = final
    prof["description"] = descs
    iz.index.name = "cluster"
    return prof, iz

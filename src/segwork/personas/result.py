"""What a persona fit found: labels, profiles, the k sweep, reliability, exclusions, projection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segwork.summary import Summary
from segwork.survey import ALPHA_THRESHOLD

#: The quality indices of the k sweep, in the order tables show them.
SWEEP_INDICES = (
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "bic",
    "stability",
    "stability_sd",
    "min_cluster_jaccard",
)


def sweep_columns(sweep: pd.DataFrame, columns: tuple[str, ...] = SWEEP_INDICES) -> list[str]:
    """The ``columns`` the k sweep has and filled (bic only for gmm, stability only if refit)."""
    return [c for c in columns if c in sweep and sweep[c].notna().any()]


if TYPE_CHECKING:
    from segwork.personas.estimator import PersonaModel


@dataclass
class PersonaResult:
    """Everything :meth:`PersonaModel.fit` found. ``model`` assigns new customers and is what is saved."""

    k: int
    k_reason: str
    labels: pd.Series  # customer_id -> cluster (0 = largest)
    personas: pd.Series  # customer_id -> persona name
    profiles: (
        pd.DataFrame
    )  # per cluster: size, share, z_<construct>, top_items, stability, name, description
    item_z: pd.DataFrame  # cluster x item: z-score of the mean answer (answer scale, as worded)
    sweep: pd.DataFrame  # per k: indices and stability
    reliability: pd.DataFrame  # per construct: alpha, weak
    excluded: pd.Series  # reason -> count
    exclusions: pd.DataFrame  # customer_id, reason
    behaviour: (
        pd.DataFrame | None
    )  # per cluster: means / category shares of behaviour and profile columns
    projection: pd.DataFrame  # customer_id, pc1, pc2, cluster, persona (a sample for large n)
    projection_centres: pd.DataFrame  # cluster, pc1, pc2, persona
    model: PersonaModel
    features: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    n_respondents: int = 0
    n_imputed: int = 0
    unused_columns: list[str] = field(default_factory=list)  # response columns not in the catalogue

    @property
    def algorithm(self) -> str:
        return self.model.meta["algorithm"]

    def assign(self, new_responses: pd.DataFrame, **kwargs: Any) -> pd.Series:
        """See :meth:`PersonaModel.assign`."""
        return self.model.assign(new_responses, **kwargs)

    def save(self, path: str | Path) -> Path:
        """Save the model (skops + sidecar JSON with sha256); :func:`segwork.personas.model_file.load` reads it back."""
        return self.model.save(path)

    def assignments(self) -> pd.DataFrame:
        """customer_id, cluster, persona of the fitted respondents (to join the customer table)."""
        return pd.DataFrame(
            {
                "customer_id": self.labels.index.to_numpy(),
                "cluster": self.labels.to_numpy(),
                "persona": self.personas.to_numpy(),
            }
        )

    def summary(self) -> Summary:
        """What the fit found: counts, features, why this k, the k sweep, reliability, personas."""
        meta = self.model.meta
        thr = self.reliability.attrs.get("threshold", ALPHA_THRESHOLD)
        beh = ", ".join(meta["behaviour_columns"] + meta["profile_columns"]) or "none"
        facts = {
            "respondents clustered": f"{self.n_respondents:,}",
            "excluded": f"{int(self.excluded.sum()):,}",
            "answers imputed": f"{self.n_imputed:,}",
            "features": f"{meta['features']} ({len(meta['feature_names'])} columns; "
            f"behaviour/profile: {beh})",
            "algorithm": str(meta["algorithm"]),
            "k": str(self.k),
        }
        facts.update({f"excluded, {reason}": f"{n:,}" for reason, n in self.excluded.items()})
        cols = sweep_columns(self.sweep, (*SWEEP_INDICES, "min_share"))
        personas = self.profiles[["name", "size", "share", "stability"]].copy()
        personas["share"] = [f"{x:.0%}" for x in personas["share"]]
        personas["stability"] = personas["stability"].astype(float).round(2)
        return Summary(
            "Persona clustering",
            facts,
            [
                (
                    "k sweep (silhouette, CH, DB higher/higher/lower is better; stability = ARI of "
                    "refits, min_cluster_jaccard = weakest cluster's reproduction)",
                    self.sweep[cols].round(3),
                ),
                (
                    f"Reliability (Cronbach's alpha, complete cases; weak if < {thr})",
                    self.reliability[["n_items", "n_complete", "alpha", "weak"]].round(3),
                ),
                ("Personas", personas),
            ],
            [f"Why this k: {self.k_reason}"]
            + [f"{row['name']}: {row['description']}" for _, row in self.profiles.iterrows()],
        )

    def __repr__(self) -> str:
        return f"PersonaResult(k={self.k}, algorithm={self.algorithm!r}, n={self.n_respondents})"

"""Notebook 03's computation: survey answers (+ the customer 360) -> personas, profiles, model.

:func:`run` is what the notebook calls; its :class:`PersonasStep` result holds everything the
page shows and ``outputs()`` names what the run saves (catalog datasets ``personas``,
``persona_profiles``, ``persona_model``). No file is read or written here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from segwork.personas import (
    BEHAVIOUR_ALPHA,
    ClusteringError,
    PersonaBehaviour,
    PersonaModel,
    PersonaResult,
)
from segwork.survey import CONSENT_COLUMN, SurveySpec


@dataclass
class PersonasStep:
    """What notebook 03 found: the fit (or why there is none) and how the personas buy."""

    spec: SurveySpec  # the survey as the item catalogue describes it
    model: PersonaModel | None  # the fitted estimator (None when no personas could be formed)
    not_fitted: str | None = None  # why no personas were formed, in one sentence
    consent_source: Literal["customers", "survey", "none"] = "none"  # where consent came from
    currency: str = ""

    @property
    def fitted(self) -> bool:
        return self.model is not None

    @property
    def personas(self) -> PersonaResult | None:
        return self.model.result_ if self.model is not None else None

    @property
    def behaviour(self) -> PersonaBehaviour | None:
        return self.model.behaviour_ if self.model is not None else None

    def outputs(self) -> dict[str, Any]:
        """Catalog dataset name -> what the run saves (nothing when no personas were formed)."""
        if self.model is None:
            return {}
        res = self.model.result_
        return {
            "personas": res.assignments(),
            "persona_profiles": res.profiles.reset_index(),
            "persona_model": self.model,
        }


def run(
    responses: pd.DataFrame,
    items: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    consent: pd.Series | pd.DataFrame | None = None,
    k: int | str = "auto",
    k_range: Sequence[int] = (2, 10),
    algorithm: str = "kmeans",
    features: str = "constructs",
    n_bootstrap: int = 10,
    min_answered: float = 0.7,
    names: Mapping[Any, str] | None = None,
    behaviour_alpha: float = BEHAVIOUR_ALPHA,
    random_state: int = 0,
    currency: str = "",
    n_jobs: int | None = None,
) -> PersonasStep:
    """Fit the personas of notebook 03.

    ``responses`` and ``items``: the validated survey tables. ``customers``: the customer 360
    (indexed by customer_id) the personas' behaviour is compared on. ``consent``: profiling
    consent, a Series indexed by customer_id or the customers table (its ``profiling_consent``
    column, when it has one); without it, a ``profiling_consent`` column of ``responses``. ``k``: "auto" or a number (text from a config is accepted). ``n_jobs``:
    bootstrap refits at once (default: up to 2 on this machine's cores). A survey that cannot
    be clustered (too few respondents left after exclusions) gives a result with
    ``not_fitted`` saying why, not an error.
    """
    spec = SurveySpec.from_catalogue(items)
    if isinstance(consent, pd.DataFrame):
        consent = (
            consent.set_index("customer_id")[CONSENT_COLUMN] if CONSENT_COLUMN in consent else None
        )
    source: Literal["customers", "survey", "none"] = (
        "customers"
        if consent is not None
        else ("survey" if CONSENT_COLUMN in responses.columns else "none")
    )
    model = PersonaModel(
        features=features,  # type: ignore[arg-type]
        algorithm=algorithm,  # type: ignore[arg-type]
        k=k if k == "auto" else int(k),  # type: ignore[arg-type]
        k_range=tuple(k_range),
        behaviour_alpha=behaviour_alpha,
        min_answered=min_answered,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
        names=dict(names) if names else None,
        n_jobs=n_jobs if n_jobs is not None else min(2, os.cpu_count() or 1),
    )
    try:
        model.fit(responses, items, customers, consent=consent)
    except ClusteringError as e:
        return PersonasStep(spec, None, str(e), source, currency)
    return PersonasStep(spec, model, None, source, currency)


def add_behaviour(step: PersonasStep, customers: pd.DataFrame) -> PersonasStep:
    """Compare how the personas of ``step`` buy on ``customers`` (the customer 360 indexed by
    customer_id, with the RFM columns when the run has them), as :func:`run` does when given
    ``customers``. Notebook 03 fits first and calls this with a customer table that waited for
    the RFM table of notebook 02, which runs beside it. Returns ``step`` (nothing to compare
    when no personas were formed)."""
    if step.model is not None:
        step.model.compare_behaviour(customers)
    return step

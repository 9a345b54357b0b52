"""Features for clustering: survey scores (+ behaviour and profile columns) through one ColumnTransformer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import FactorAnalysis
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, PowerTransformer, StandardScaler

from segwork.personas.clusterer import ClusteringError
from segwork.survey import (
    REASON_CONSENT,
    ScoredSurvey,
    SurveySpec,
    reliability,
    score_survey,
)

FeatureKind = Literal["constructs", "items", "factors"]
FEATURES = ("constructs", "items", "factors")


def _categorical(values: pd.Series) -> np.ndarray:
    """Categories as plain Python strings, missing as the category 'missing' (fit and assign alike)."""
    s = values.astype("string")
    return s.fillna("missing").astype(object).to_numpy()


def _side_table(
    table: pd.DataFrame | Sequence[str] | None, responses: pd.DataFrame, what: str
) -> pd.DataFrame | None:
    """Behaviour/profile columns indexed by customer_id: from a table, or named columns of responses."""
    if table is None:
        return None
    if isinstance(table, pd.DataFrame):
        if "customer_id" not in table.columns:
            raise ClusteringError(
                f"{what} table: no column 'customer_id'; it has {list(table.columns)[:12]}.\n"
                "Fix: pass one row per customer with customer_id."
            )
        out = table.assign(customer_id=table["customer_id"].astype("string"))
        out = out.drop_duplicates("customer_id", keep="last").set_index("customer_id")
        return out
    cols = list(table)
    missing = [c for c in cols if c not in responses.columns]
    if missing:
        raise ClusteringError(
            f"{what} columns {missing} are not in the survey responses; it has "
            f"{list(responses.columns)[:12]}.\nFix: pass a {what} table with customer_id."
        )
    out = responses[["customer_id", *cols]].assign(
        customer_id=responses["customer_id"].astype("string")
    )
    return out.set_index("customer_id")


def _feature_frame(
    scored: ScoredSurvey,
    kind: str,
    beh: pd.DataFrame | None,
    beh_cols: list[str],
    prof: pd.DataFrame | None,
    prof_cols: list[str],
    *,
    table: str,
) -> pd.DataFrame:
    """One row per kept respondent: psychographic columns, then behaviour and profile columns."""
    psy = scored.constructs if kind == "constructs" else scored.answers
    frame = psy.copy()
    for cols, side, what in ((beh_cols, beh, "behaviour"), (prof_cols, prof, "profile")):
        if not cols:
            continue
        if side is None:
            raise ClusteringError(
                f"{table}: the model uses {what} columns {cols}; pass them (a {what} table "
                "with customer_id, or the columns in the survey table)."
            )
        missing = [c for c in cols if c not in side.columns]
        if missing:
            raise ClusteringError(
                f"{table}: missing {what} column(s) {missing} that the model was fitted with.\n"
                f"Fix: provide {missing} (empty values are imputed)."
            )
        clash = [c for c in cols if c in frame.columns]
        if clash:
            raise ClusteringError(
                f"{what} column(s) {clash} have the same name as survey features; rename them."
            )
        joined = side[cols].reindex(frame.index)
        for c in cols:
            if what == "behaviour":
                vals = pd.to_numeric(joined[c], errors="coerce")
                bad = joined[c].notna() & vals.isna()
                if bad.any():
                    ex = joined.index[bad.to_numpy()][:5].tolist()
                    raise ClusteringError(
                        f"{what} column '{c}' is not numeric for customers {ex}.\n"
                        "Fix: pass numbers (or put the column under profile= as a category)."
                    )
                frame[c] = vals.astype("float64").to_numpy()
            else:
                frame[c] = _categorical(joined[c])
    return frame


def make_preprocessor(
    kind: FeatureKind,
    psy_cols: list[str],
    beh_cols: list[str],
    prof_cols: list[str],
    *,
    n_factors: int,
    random_state: int = 0,
) -> ColumnTransformer:
    """The one ColumnTransformer that turns survey (+ behaviour, profile) columns into features."""
    if kind == "factors":
        psy: Any = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "factors",
                    FactorAnalysis(
                        n_components=n_factors, rotation="varimax", random_state=random_state
                    ),
                ),
                ("zscore", StandardScaler()),
            ]
        )
    else:
        psy = StandardScaler()
    parts: list[tuple[str, Any, list[str]]] = [("psychographic", psy, psy_cols)]
    if beh_cols:
        parts.append(
            (
                "behaviour",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("power", PowerTransformer(method="yeo-johnson", standardize=True)),
                    ]
                ),
                beh_cols,
            )
        )
    if prof_cols:
        parts.append(
            ("profile", OneHotEncoder(handle_unknown="ignore", sparse_output=False), prof_cols)
        )
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


@dataclass
class _Prepared:
    """Scored survey and fitted feature pipeline: everything before clustering (reused by the explorer)."""

    spec: SurveySpec
    scored: ScoredSurvey
    reliability: pd.DataFrame
    features: str
    psy_cols: list[str]
    beh: pd.DataFrame | None
    beh_cols: list[str]
    prof: pd.DataFrame | None
    prof_cols: list[str]
    pre: ColumnTransformer
    X: np.ndarray


def _prepare(
    responses: pd.DataFrame,
    catalogue: pd.DataFrame,
    *,
    features: str,
    behaviour: Any,
    profile: Any,
    consent: Any,
    min_answered: float,
    scale: tuple[int, int],
    alpha_threshold: float,
    n_factors: int | None,
    random_state: int,
) -> _Prepared:
    if features not in FEATURES:
        raise ClusteringError(f"features must be one of {FEATURES}, got {features!r}")
    spec = SurveySpec.from_catalogue(catalogue, scale=scale, min_answered=min_answered)
    scored = score_survey(responses, spec, consent=consent)
    spec = scored.spec
    n = len(scored.answers)
    if n < 20:
        why = scored.exclusions["reason"].value_counts()
        detail = "; ".join(f"{reason}: {count:,}" for reason, count in why.items())
        consent_note = (
            " A respondent with no profiling consent on record (e.g. not in the customers table) "
            "counts as not consenting."
            if REASON_CONSENT in why.index
            else ""
        )
        raise ClusteringError(
            f"only {n} of {len(scored.answers) + len(scored.exclusions):,} survey respondents are "
            f"left after exclusions ({detail or 'none excluded'}); clustering needs at least 20."
            + consent_note
        )
    rel = reliability(scored.raw, spec, threshold=alpha_threshold)
    beh = _side_table(behaviour, responses, "behaviour")
    prof = _side_table(profile, responses, "profile")
    beh_cols = [] if beh is None else list(beh.columns)
    prof_cols = [] if prof is None else list(prof.columns)
    frame = _feature_frame(
        scored, features, beh, beh_cols, prof, prof_cols, table="survey_responses"
    )
    psy_cols = list(
        scored.constructs.columns if features == "constructs" else scored.answers.columns
    )
    n_fac = int(n_factors or len(spec.constructs))
    pre = make_preprocessor(
        features,
        psy_cols,
        beh_cols,
        prof_cols,
        n_factors=n_fac,  # type: ignore[arg-type]
        random_state=random_state,
    )
    pre.fit(frame)
    X = pre.transform(
        frame
    )  # transform (not fit_transform) so assignment reproduces these rows exactly
    return _Prepared(
        spec,
        scored,
        rel,
        features,
        psy_cols,
        beh,
        beh_cols,
        prof,
        prof_cols,
        pre,
        np.asarray(X, float),
    )

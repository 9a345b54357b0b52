"""Psychographic clustering: survey answers -> a handful of named personas, and new customers into them.

The flow of :meth:`PersonaModel.fit` (a scikit-learn estimator):

1. **Survey scoring** (:mod:`segwork.survey`): validate answers against the item catalogue,
   exclude customers without profiling consent and respondents with too few answers (both
   counted), reverse-code, impute, score constructs, Cronbach's alpha per construct.
2. **Features** in one scikit-learn ``ColumnTransformer`` (part of the saved model):
   psychographic features (``"constructs"``: construct scores, ``"items"``: the items,
   ``"factors"``: varimax factor scores of a ``FactorAnalysis`` with one factor per construct),
   standardised; optional behaviour columns (median-imputed, Yeo-Johnson power transform, which
   tames skewed money and counts, then standardised); optional categorical profile columns
   (one-hot, missing as its own category, unseen categories ignored).
3. **Clustering** by :class:`PersonaClusterer`, one estimator for ``kmeans`` (default),
   ``gmm`` (Gaussian mixture, full covariances, with BIC) and ``ward`` (agglomerative, Ward
   linkage). Clusters are numbered by size (0 = largest).
4. **Choosing k** by :func:`k_sweep` (internal indices and bootstrap stability per k) and
   :func:`choose_k` (the rule is in its docstring and the reason is returned in words).
5. **Profiles and personas**: construct and item z-scores per cluster, the items that set a
   cluster apart (with their catalogue text), a name and description in the catalogue's
   construct names (:func:`persona_names`, overridable), and behaviour per persona from the
   customer data with a test of difference per column (:func:`persona_behaviour`).
6. **Saving** (:mod:`segwork.personas.model_file`, the I/O part) with skops (never pickle) plus a
   sidecar JSON with the file's sha256 and the metadata that :meth:`PersonaModel.assign` uses
   to refuse incompatible input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from segwork.personas.behaviour import (
    BEHAVIOUR_ALPHA,
    cluster_behaviour,
    persona_behaviour,
)
from segwork.personas.clusterer import ALGORITHMS, Algorithm, ClusteringError, PersonaClusterer
from segwork.personas.features import (
    FeatureKind,
    _feature_frame,
    _prepare,
    _Prepared,
    _side_table,
)
from segwork.personas.profiles import _profiles
from segwork.personas.result import PersonaResult
from segwork.personas.selection import _k_values, choose_k, k_sweep
from segwork.summary import Summary
from segwork.survey import (
    ALPHA_THRESHOLD,
    DEFAULT_SCALE,
    REASON_CONSENT,
    SurveySpec,
    reason_too_few,
    score_survey,
)

MODEL_FORMAT = "segwork-personas/1"


def _version() -> str:
    from segwork import __version__

    return __version__


class PersonaModel(BaseEstimator):
    """Survey respondents -> named personas, as a scikit-learn estimator.

    Parameters (set in ``__init__``, read by ``get_params``, so ``clone`` works): ``features``
    (``"constructs"``, ``"items"``, ``"factors"``), ``algorithm`` (``"kmeans"``, ``"gmm"``,
    ``"ward"``), ``k`` (``"auto"`` or an int), ``k_range`` (inclusive bounds tried when k is
    ``"auto"``), ``behaviour_alpha`` (level of the tests of behaviour between personas),
    ``min_answered`` (respondents who answered a smaller share of items are left out),
    ``n_bootstrap``, ``subsample``, ``sample_size``, ``n_init``, ``n_threads``, ``n_jobs`` (see
    :func:`~segwork.personas.selection.k_sweep`), ``random_state``, ``names`` (``{cluster: name}``
    overrides), ``scale``, ``alpha_threshold``, ``stability_threshold``, ``silhouette_share``
    (see :func:`~segwork.personas.selection.choose_k`), ``n_factors``, ``ward_max_n``,
    ``projection_size``.

    :meth:`fit` learns (names end in ``_``): ``result_`` (a :class:`PersonaResult`: profiles,
    sweep, reliability, exclusions, projection), ``labels_`` (cluster per customer_id), ``k_``,
    ``k_reason_``, ``pipeline_`` (the ColumnTransformer and the :class:`PersonaClusterer`),
    ``meta_`` (what the model file records), ``spec_`` (the survey scoring rules) and
    ``behaviour_`` (how the personas buy, when ``customers`` is given). :meth:`predict` places
    respondents (new or old) into the fitted personas; :func:`segwork.personas.model_file.load`
    returns a fitted PersonaModel.
    """

    def __init__(
        self,
        features: FeatureKind = "constructs",
        algorithm: Algorithm = "kmeans",
        k: int | Literal["auto"] = "auto",
        k_range: tuple[int, int] | Sequence[int] = (2, 10),
        *,
        behaviour_alpha: float = BEHAVIOUR_ALPHA,
        min_answered: float = 0.7,
        n_bootstrap: int = 10,
        random_state: int = 0,
        names: Mapping[Any, str] | None = None,
        subsample: float = 0.8,
        sample_size: int = 3000,
        n_init: int = 4,
        scale: tuple[int, int] = DEFAULT_SCALE,
        alpha_threshold: float = ALPHA_THRESHOLD,
        stability_threshold: float = 0.9,
        silhouette_share: float = 0.8,
        n_factors: int | None = None,
        ward_max_n: int = 3000,
        projection_size: int = 5000,
        n_threads: int | None = 1,
        n_jobs: int = 1,
    ):
        self.features = features
        self.algorithm = algorithm
        self.k = k
        self.k_range = k_range
        self.behaviour_alpha = behaviour_alpha
        self.min_answered = min_answered
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.names = names
        self.subsample = subsample
        self.sample_size = sample_size
        self.n_init = n_init
        self.scale = scale
        self.alpha_threshold = alpha_threshold
        self.stability_threshold = stability_threshold
        self.silhouette_share = silhouette_share
        self.n_factors = n_factors
        self.ward_max_n = ward_max_n
        self.projection_size = projection_size
        self.n_threads = n_threads
        self.n_jobs = n_jobs

    # ---- fitting -------------------------------------------------------------------------

    def fit(
        self,
        responses: pd.DataFrame,
        catalogue: pd.DataFrame,
        customers: pd.DataFrame | None = None,
        *,
        consent: pd.Series | pd.DataFrame | None = None,
        behaviour: pd.DataFrame | Sequence[str] | None = None,
        profile: pd.DataFrame | Sequence[str] | None = None,
        describe: pd.DataFrame | None = None,
    ) -> PersonaModel:
        """Score the survey, choose k, cluster, profile and name the personas.

        ``responses``: customer_id + one column per catalogue item (Likert on ``scale``,
        missing allowed). ``catalogue``: item, construct, text, reverse_coded. ``customers``:
        the customer 360 (indexed by customer_id): how the personas buy is compared on it
        (``behaviour_``). ``behaviour`` (numeric) and ``profile`` (categorical) add features: a table
        with customer_id, or names of columns of ``responses``. ``consent``: a Series indexed by
        customer_id, or a table with customer_id and profiling_consent (default: a
        profiling_consent column of ``responses`` if there is one). ``describe``: a customer
        table whose columns are summarised per cluster without being features.
        """
        k = self.k
        if self.algorithm not in ALGORITHMS:
            raise ClusteringError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if not (k == "auto" or (isinstance(k, int | np.integer) and not isinstance(k, bool))):
            raise ClusteringError(f"k must be 'auto' or an integer, got {k!r}")
        if not 0 < self.subsample < 1:
            raise ClusteringError(f"subsample must be a share in (0, 1), got {self.subsample!r}")
        prep = _prepare(
            responses,
            catalogue,
            features=self.features,
            behaviour=behaviour,
            profile=profile,
            consent=consent,
            min_answered=self.min_answered,
            scale=self.scale,
            alpha_threshold=self.alpha_threshold,
            n_factors=self.n_factors,
            random_state=self.random_state,
        )
        ks = _k_values(self.k_range) if k == "auto" else [int(k)]
        sweep, fits = k_sweep(
            prep.X,
            ks,
            algorithm=self.algorithm,
            random_state=self.random_state,
            n_bootstrap=self.n_bootstrap,
            subsample=self.subsample,
            sample_size=self.sample_size,
            n_init=self.n_init,
            ward_max_n=self.ward_max_n,
            n_threads=self.n_threads,
            n_jobs=self.n_jobs,
            stability_threshold=self.stability_threshold,
            silhouette_share=self.silhouette_share,
        )
        k_sel, reason = choose_k(
            sweep,
            stability_threshold=self.stability_threshold,
            silhouette_share=self.silhouette_share,
        )
        sweep.attrs.update(
            stability_threshold=self.stability_threshold, silhouette_share=self.silhouette_share
        )
        result = _assemble(
            prep,
            sweep,
            fits[k_sel],
            reason,
            algorithm=self.algorithm,
            random_state=self.random_state,
            names=self.names,
            describe=describe,
            projection_size=self.projection_size,
            model=self,
        )
        self.result_ = result
        self.labels_ = result.labels
        self.k_ = result.k
        self.k_reason_ = result.k_reason
        self.behaviour_ = (
            persona_behaviour(result, customers, alpha=self.behaviour_alpha)
            if customers is not None
            else None
        )
        return self

    def compare_behaviour(self, customers: pd.DataFrame) -> PersonaModel:
        """Compare how the fitted personas buy on ``customers`` (the customer 360 indexed by
        customer_id) and set ``behaviour_``: what :meth:`fit` does when given ``customers``, for
        a customer table that is ready only after the fit (a run writes the RFM table beside it)."""
        check_is_fitted(self, "result_")
        self.behaviour_ = persona_behaviour(self.result_, customers, alpha=self.behaviour_alpha)
        return self

    @classmethod
    def _from_fitted(cls, pipeline: Pipeline, meta: dict[str, Any]) -> PersonaModel:
        """A fitted model from its pipeline and metadata (what a model file holds)."""
        model = cls(
            features=meta["features"],
            algorithm=meta["algorithm"],
            k=int(meta["k"]),
            random_state=int(meta.get("random_state", 0)),
            names={int(c): str(n) for c, n in meta["names"].items()},
        )
        model.pipeline_, model.meta_ = pipeline, meta
        model.spec_ = SurveySpec.from_dict(meta["survey"])
        model.k_, model.k_reason_ = int(meta["k"]), str(meta.get("k_reason", ""))
        return model

    # ---- what the fit learned ------------------------------------------------------------

    @property
    def pipeline(self) -> Pipeline:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_

    @property
    def meta(self) -> dict[str, Any]:
        check_is_fitted(self, "meta_")
        return self.meta_

    @property
    def spec(self) -> SurveySpec:
        check_is_fitted(self, "spec_")
        return self.spec_

    @property
    def persona_names(self) -> dict[int, str]:
        """cluster -> persona name of the fitted model."""
        return {int(c): n for c, n in self.meta["names"].items()}

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "pipeline_")

    # ---- assigning ----------------------------------------------------------------------

    def assign_frame(
        self,
        new_responses: pd.DataFrame,
        *,
        behaviour: pd.DataFrame | None = None,
        profile: pd.DataFrame | None = None,
        consent: pd.Series | pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """customer_id, cluster, persona, status for every row of ``new_responses`` (input order).

        Respondents are scored exactly as at fit time (the fitted item medians fill gaps). Those
        without profiling consent (a ``profiling_consent`` column or ``consent``) or with too few
        answers get no cluster (``<NA>``) and a status saying why. Missing item columns and
        out-of-range answers raise :class:`~segwork.survey.SurveyError` naming them.
        """
        check_is_fitted(self, "pipeline_")
        table = "new survey responses"
        scored = score_survey(
            new_responses, self.spec_, consent=consent, learn_medians=False, table=table
        )
        meta = self.meta_
        beh_cols, prof_cols = meta["behaviour_columns"], meta["profile_columns"]
        beh = _side_table(
            behaviour if behaviour is not None else (beh_cols or None), new_responses, "behaviour"
        )
        prof = _side_table(
            profile if profile is not None else (prof_cols or None), new_responses, "profile"
        )
        ids = new_responses["customer_id"].astype("string").to_numpy()
        out = pd.DataFrame({"customer_id": ids})
        cluster = pd.Series(pd.NA, index=pd.Index(ids, name="customer_id"), dtype="Int64")
        if len(scored.answers):
            frame = _feature_frame(
                scored, meta["features"], beh, beh_cols, prof, prof_cols, table=table
            )
            X = self.pipeline_[:-1].transform(frame)
            cluster.loc[scored.answers.index] = self.pipeline_[-1].predict(X)
        out["cluster"] = cluster.to_numpy()
        names = self.persona_names
        out["persona"] = pd.array(
            [names.get(int(c)) if pd.notna(c) else None for c in out["cluster"]], dtype="string"
        )
        status = pd.Series("assigned", index=pd.Index(ids), dtype="string")
        if len(scored.exclusions):
            status.loc[scored.exclusions["customer_id"].to_numpy()] = scored.exclusions[
                "reason"
            ].to_numpy()
        out["status"] = status.to_numpy()
        return out

    def assign(
        self,
        new_responses: pd.DataFrame,
        *,
        names: bool = False,
        behaviour: pd.DataFrame | None = None,
        profile: pd.DataFrame | None = None,
        consent: pd.Series | pd.DataFrame | None = None,
    ) -> pd.Series:
        """Cluster labels (``names=True``: persona names) of new respondents, indexed by customer_id.

        Excluded respondents (no consent, too few answers) get ``<NA>``; see :meth:`assign_frame`
        for the reason per respondent.
        """
        frame = self.assign_frame(
            new_responses, behaviour=behaviour, profile=profile, consent=consent
        )
        col = "persona" if names else "cluster"
        return pd.Series(
            frame[col].to_numpy(),
            index=pd.Index(frame["customer_id"], name="customer_id"),
            name=col,
        )

    def predict(self, responses: pd.DataFrame, **kwargs: Any) -> pd.Series:
        """The persona (cluster number) of each respondent, indexed by customer_id: the fitted
        respondents get their fitted label, new ones the nearest persona (:meth:`assign`)."""
        return self.assign(responses, **kwargs)

    def save(self, path: Any) -> Any:
        """Write the model file (skops + sha256 sidecar): see :func:`segwork.personas.model_file.save`."""
        from segwork.personas import model_file  # I/O, imported only when a file is written

        return model_file.save(self, path)

    # ---- reading ------------------------------------------------------------------------

    def summary(self) -> Summary:
        """What the fit found, as text (``print``) and HTML (a notebook shows it)."""
        check_is_fitted(self, "result_")
        return self.result_.summary()

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        if hasattr(self, "meta_"):
            meta = self.meta_
            return (
                f"PersonaModel(k={int(meta['k'])}, algorithm={meta['algorithm']!r}, "
                f"features={meta['features']!r}, items={len(self.spec_.items)})"
            )
        return super().__repr__(N_CHAR_MAX)


def _assemble(
    prep: _Prepared,
    sweep: pd.DataFrame,
    est: PersonaClusterer,
    reason: str,
    *,
    algorithm: str,
    random_state: int,
    names: Mapping[Any, str] | None,
    describe: pd.DataFrame | None,
    projection_size: int,
    model: PersonaModel | None = None,
) -> PersonaResult:
    """The result for one fitted clusterer: profiles, names, behaviour, projection, saved-model metadata."""
    scored, X = prep.scored, prep.X
    k_sel = int(est.n_clusters)
    labels = est.labels_
    profiles, item_z = _profiles(scored, labels, k_sel, est, names)
    ids = scored.answers.index
    n = len(ids)
    meta = {
        "format": MODEL_FORMAT,
        "segwork_version": _version(),
        "sklearn_version": __import__("sklearn").__version__,
        "skops_version": __import__("skops").__version__,
        "created_at": pd.Timestamp.now().isoformat(timespec="seconds"),
        "survey": prep.spec.to_dict(),
        "features": prep.features,
        "psychographic_columns": prep.psy_cols,
        "behaviour_columns": prep.beh_cols,
        "profile_columns": prep.prof_cols,
        "feature_names": [str(f) for f in prep.pre.get_feature_names_out()],
        "algorithm": algorithm,
        "k": k_sel,
        "k_reason": reason,
        "random_state": int(random_state),
        "names": {str(c): str(nm) for c, nm in profiles["name"].items()},
        "descriptions": {str(c): str(d) for c, d in profiles["description"].items()},
    }
    pipeline = Pipeline([("features", prep.pre), ("cluster", est)])
    if model is None:
        model = PersonaModel._from_fitted(pipeline, meta)
    else:
        model.pipeline_, model.meta_, model.spec_ = pipeline, meta, prep.spec
    name_of = profiles["name"].to_numpy()
    lab = pd.Series(labels, index=pd.Index(ids, name="customer_id"), name="cluster")
    per = pd.Series(pd.array(name_of[labels], dtype="string"), index=lab.index, name="persona")
    tables = [] if describe is None else [describe]
    tables += [side.reset_index() for side in (prep.beh, prep.prof) if side is not None]
    behaviour_profile = None
    if tables:
        merged = tables[0].assign(customer_id=tables[0]["customer_id"].astype("string"))
        for t in tables[1:]:
            extra = [c for c in t.columns if c == "customer_id" or c not in merged.columns]
            merged = merged.merge(
                t[extra].assign(customer_id=t["customer_id"].astype("string")),
                on="customer_id",
                how="outer",
            )
        behaviour_profile = cluster_behaviour(lab, merged)
    pca = PCA(2, random_state=random_state).fit(X)
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, min(n, projection_size), replace=False))
    xy = pca.transform(X[rows])
    proj = pd.DataFrame(
        {
            "customer_id": ids[rows],
            "pc1": xy[:, 0],
            "pc2": xy[:, 1],
            "cluster": labels[rows],
            "persona": pd.array(name_of[labels[rows]], dtype="string"),
        }
    )
    proj.attrs["explained_variance_ratio"] = pca.explained_variance_ratio_.tolist()
    cxy = pca.transform(est.cluster_centers_)
    centres = pd.DataFrame(
        {
            "cluster": range(k_sel),
            "pc1": cxy[:, 0],
            "pc2": cxy[:, 1],
            "persona": pd.array(name_of, dtype="string"),
        }
    )
    excl = scored.exclusions
    reasons = [REASON_CONSENT, reason_too_few(prep.spec)]
    excluded = excl["reason"].value_counts().reindex(reasons, fill_value=0).astype("int64")
    excluded.index.name = "reason"
    sweep = sweep.copy()
    sweep["chosen"] = sweep.index == k_sel
    sweep.attrs["chosen_k"] = k_sel
    return PersonaResult(
        k=k_sel,
        k_reason=reason,
        labels=lab,
        personas=per,
        profiles=profiles,
        item_z=item_z,
        sweep=sweep,
        reliability=prep.reliability,
        excluded=excluded.rename("customers"),
        exclusions=excl,
        behaviour=behaviour_profile,
        projection=proj,
        projection_centres=centres,
        model=model,
        features=X,
        n_respondents=n,
        n_imputed=scored.n_imputed,
        unused_columns=list(scored.unused_columns),
    )


def fit_personas(
    responses: pd.DataFrame,
    catalogue: pd.DataFrame,
    *,
    behaviour: pd.DataFrame | Sequence[str] | None = None,
    profile: pd.DataFrame | Sequence[str] | None = None,
    consent: pd.Series | pd.DataFrame | None = None,
    describe: pd.DataFrame | None = None,
    **params: Any,
) -> PersonaResult:
    """``PersonaModel(**params).fit(...).result_``: kept for old callers; use :class:`PersonaModel`."""
    model = PersonaModel(**params).fit(
        responses,
        catalogue,
        consent=consent,
        behaviour=behaviour,
        profile=profile,
        describe=describe,
    )
    return model.result_

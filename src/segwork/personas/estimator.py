"""Psychographic clustering: survey answers -> a handful of named personas, and new customers into them.

The flow of :func:`fit_personas`:

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
6. **Saving** with skops (never pickle) plus a sidecar JSON with the file's sha256 and the
   metadata that :meth:`PersonaModel.assign` uses to refuse incompatible input.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ipywidgets as widgets
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, PowerTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from segwork import progress
from segwork.errors import SegworkError
from segwork.files import atomic_write_bytes
from segwork.survey import (
    ALPHA_THRESHOLD,
    DEFAULT_SCALE,
    REASON_CONSENT,
    ScoredSurvey,
    SurveySpec,
    reason_too_few,
    reliability,
    score_survey,
)

Algorithm = Literal["kmeans", "gmm", "ward"]
FeatureKind = Literal["constructs", "items", "factors"]
ALGORITHMS = ("kmeans", "gmm", "ward")
FEATURES = ("constructs", "items", "factors")
MODEL_FORMAT = "segwork-personas/1"


class ClusteringError(SegworkError, ValueError):
    """Clustering input or parameters that cannot work; the message says what and the fix."""


class ModelFileError(SegworkError, ValueError):
    """A saved persona model that is missing, tampered with or incompatible with the input."""


# --------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------


class PersonaClusterer(ClusterMixin, BaseEstimator):
    """k-means, Gaussian mixture or Ward clustering behind one fit/predict interface.

    - ``kmeans``: ``KMeans(n_init=n_init, random_state=random_state)``; predict = nearest centre.
    - ``gmm``: ``GaussianMixture(covariance_type, n_init, random_state)``; predict = most probable
      component; ``bic_`` is the BIC on the fitted data.
    - ``ward``: Ward-linkage agglomerative clustering (scipy's ``linkage(method="ward")``, cut into
      k clusters; the tree is memoised so a k sweep builds it once per data set) on at most
      ``ward_max_n`` rows (a seeded sample when there are more: Ward needs memory quadratic in
      n). Its clusters' centroids are the model: every row, fitted or new, is placed at the
      **nearest centroid**, so ``labels_`` are exactly what :meth:`predict` returns for the
      fitted rows.

    Labels are renumbered by cluster size, 0 = largest, so runs are easy to compare. Learned:
    ``labels_``, ``cluster_centers_`` (in the feature space), ``label_map_``, ``model_`` (the
    fitted KMeans / GaussianMixture, None for ward), ``bic_``; :func:`k_sweep` adds
    ``stability_jaccard_`` (each cluster's mean Jaccard over bootstrap refits).
    """

    def __init__(
        self,
        n_clusters: int = 5,
        algorithm: Algorithm = "kmeans",
        *,
        random_state: int = 0,
        n_init: int = 4,
        covariance_type: str = "full",
        ward_max_n: int = 3000,
    ):
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_init = n_init
        self.covariance_type = covariance_type
        self.ward_max_n = ward_max_n

    def fit(self, X: Any, y: Any = None) -> PersonaClusterer:
        X = np.asarray(X, dtype=float)
        k = int(self.n_clusters)
        if self.algorithm not in ALGORITHMS:
            raise ClusteringError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if not 1 < k < X.shape[0]:
            raise ClusteringError(
                f"n_clusters={k} needs 2 <= k < number of respondents ({X.shape[0]})"
            )
        self.bic_ = float("nan")
        if self.algorithm == "kmeans":
            model = KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(X)
            centres = model.cluster_centers_
            raw = _nearest(X, centres)  # = model.labels_ up to ties; the same function as predict
        elif self.algorithm == "gmm":
            model = GaussianMixture(
                k,
                covariance_type=self.covariance_type,
                n_init=self.n_init,
                random_state=self.random_state,
            ).fit(X)
            raw, centres = model.predict(X), model.means_
            self.bic_ = float(model.bic(X))
        else:
            rows = np.arange(X.shape[0])
            if X.shape[0] > self.ward_max_n:
                rng = np.random.default_rng(self.random_state)
                rows = np.sort(rng.choice(X.shape[0], self.ward_max_n, replace=False))
            tree_labels = fcluster(_ward_tree(X[rows]), k, criterion="maxclust") - 1
            present = np.unique(tree_labels)
            if len(present) < k:
                raise ClusteringError(
                    f"Ward linkage cannot cut these data into {k} clusters (ties)"
                )
            centres = np.vstack([X[rows][tree_labels == c].mean(axis=0) for c in present])
            model = None
            raw = _nearest(X, centres)
        counts = np.bincount(raw, minlength=k)
        order = np.argsort(-counts, kind="stable")  # new label j = old label order[j]
        self.label_map_ = np.empty(k, dtype=np.int64)
        self.label_map_[order] = np.arange(k)
        self.cluster_centers_ = np.asarray(centres)[order]
        self.labels_ = self.label_map_[raw]
        self.model_ = model
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape[1] != self.n_features_in_:
            raise ClusteringError(f"expected {self.n_features_in_} features, got {X.shape[1]}")
        if self.algorithm == "gmm":
            return self.label_map_[self.model_.predict(X)]
        return _nearest(X, self.cluster_centers_)


_WARD_TREES: OrderedDict[str, np.ndarray] = OrderedDict()


def _ward_tree(X: np.ndarray) -> np.ndarray:
    """Ward linkage of X (scipy), memoised by content: a k sweep cuts the same tree for every k."""
    data = np.ascontiguousarray(X, dtype=float)
    key = f"{data.shape}:{hashlib.sha256(data.view(np.uint8)).hexdigest()}"
    if key in _WARD_TREES:
        _WARD_TREES.move_to_end(key)
        return _WARD_TREES[key]
    tree = linkage(data, method="ward")
    _WARD_TREES[key] = tree
    while len(_WARD_TREES) > 32:
        _WARD_TREES.popitem(last=False)
    return tree


def _nearest(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean) for each row.

    Distances are summed row by row (no matrix product), so a row's label never depends on
    which other rows are assigned with it: the fitted labels and a later assignment agree exactly.
    """
    out = np.empty(X.shape[0], dtype=np.int64)
    step = 8192
    for start in range(0, X.shape[0], step):
        block = X[start : start + step]
        d = ((block[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        out[start : start + step] = d.argmin(axis=1)
    return out


# --------------------------------------------------------------------------------------------
# choosing k
# --------------------------------------------------------------------------------------------


def _k_values(k_range: tuple[int, int] | Sequence[int]) -> list[int]:
    ks = (
        list(range(int(k_range[0]), int(k_range[1]) + 1))
        if len(k_range) == 2
        else [int(k) for k in k_range]
    )
    if not ks or min(ks) < 2:
        raise ClusteringError(
            f"k_range must give k >= 2 (inclusive bounds, e.g. (2, 10)), got {k_range!r}"
        )
    return ks


def _silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    if not 1 < len(np.unique(labels)) < len(labels):
        return float("nan")
    return float(silhouette_score(dist, labels, metric="precomputed"))


def cluster_jaccard(reference: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """Jaccard agreement of each reference cluster with its matched cluster in ``other``.

    Clusters are matched one-to-one by the assignment (Hungarian) maximising the overlap; a
    reference cluster with no counterpart gets 0. Hennig's cluster-wise stability (2007) uses
    the mean of these over bootstrap refits: above 0.75 a cluster is usually called stable.
    """
    ka = max(k, int(other.max()) + 1 if len(other) else k)
    table = np.zeros((k, ka))
    np.add.at(table, (reference, other), 1)
    rows, cols = linear_sum_assignment(-table)
    out = np.zeros(k)
    inter = table[rows, cols]
    union = table.sum(axis=1)[rows] + table.sum(axis=0)[cols] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out[rows] = np.where(union > 0, inter / union, 0.0)
    return out


def k_sweep(
    X: np.ndarray,
    k_range: tuple[int, int] | Sequence[int] = (2, 10),
    *,
    algorithm: Algorithm = "kmeans",
    random_state: int = 0,
    n_bootstrap: int = 10,
    subsample: float = 0.8,
    sample_size: int = 3000,
    n_init: int = 4,
    ward_max_n: int = 3000,
    n_threads: int | None = 1,
) -> tuple[pd.DataFrame, dict[int, PersonaClusterer]]:
    """Fit every k of ``k_range`` (inclusive bounds) and measure it; returns the table and the fits.

    ``k_range``: two numbers are inclusive bounds, more (or one) are the exact k values.
    Per k: ``silhouette`` (on one seeded sample of ``sample_size`` rows when n is larger, the
    same rows for every k; higher is better), ``calinski_harabasz`` (higher better),
    ``davies_bouldin`` (lower better), ``bic`` (gmm only, lower better), ``inertia`` (within-cluster sum of squares), ``min_share`` (smallest
    cluster) and bootstrap stability: the model is refitted on ``n_bootstrap`` random subsamples
    of ``subsample`` of the rows (the same subsamples for every k, a different seed per refit)
    and each refit's labels are compared with the full fit's labels on those rows by the
    adjusted Rand index: ``stability`` (mean) and ``stability_sd``; and cluster-wise, the
    Jaccard agreement of each cluster with its match in the refit (:func:`cluster_jaccard`),
    averaged over refits, of which ``min_cluster_jaccard`` is the weakest cluster's. The global
    ARI hides one unstable cluster among many stable ones; the weakest cluster does not.

    ``n_threads`` caps the BLAS/OpenMP threads (1 by default: many small fits are fastest
    single-threaded, and k-means' OpenMP threads slow down badly on a busy shared machine;
    None = the libraries' default).
    """
    with threadpool_limits(limits=n_threads):
        return _k_sweep(
            X,
            k_range,
            algorithm=algorithm,
            random_state=random_state,
            n_bootstrap=n_bootstrap,
            subsample=subsample,
            sample_size=sample_size,
            n_init=n_init,
            ward_max_n=ward_max_n,
        )


def _k_sweep(
    X: np.ndarray,
    k_range: tuple[int, int] | Sequence[int],
    *,
    algorithm: Algorithm,
    random_state: int,
    n_bootstrap: int,
    subsample: float,
    sample_size: int,
    n_init: int,
    ward_max_n: int,
) -> tuple[pd.DataFrame, dict[int, PersonaClusterer]]:
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    ks = _k_values(k_range)
    rng = np.random.default_rng(random_state)
    m = max(int(round(subsample * n)), 2)
    draws = [np.sort(rng.choice(n, m, replace=False)) for _ in range(n_bootstrap)]
    sil_rows = (
        np.sort(rng.choice(n, sample_size, replace=False)) if n > sample_size else np.arange(n)
    )
    # distances once for all k: the silhouette sample is the same rows for every k
    sil_dist = pairwise_distances(X[sil_rows])
    rows, fits = [], {}
    for k in progress.items(ks, f"choosing k: fitting k and {n_bootstrap} bootstrap refits"):
        if k >= n:
            raise ClusteringError(f"k={k} needs more than {n} respondents")
        est = PersonaClusterer(
            k, algorithm, random_state=random_state, n_init=n_init, ward_max_n=ward_max_n
        ).fit(X)
        fits[k] = est
        labels = est.labels_
        n_used = len(np.unique(labels))
        aris, jac = [], []
        for b, idx in enumerate(draws):
            refit = PersonaClusterer(
                k,
                algorithm,
                random_state=random_state + 1 + b,
                n_init=n_init,
                ward_max_n=ward_max_n,
            ).fit(X[idx])
            aris.append(adjusted_rand_score(labels[idx], refit.labels_))
            jac.append(cluster_jaccard(labels[idx], refit.labels_, k))
        cluster_jac = np.mean(jac, axis=0) if jac else np.full(k, np.nan)
        est.stability_jaccard_ = cluster_jac
        ok = n_used > 1
        rows.append(
            {
                "k": k,
                "silhouette": _silhouette(sil_dist, labels[sil_rows]),
                "calinski_harabasz": float(calinski_harabasz_score(X, labels)) if ok else np.nan,
                "davies_bouldin": float(davies_bouldin_score(X, labels)) if ok else np.nan,
                "bic": est.bic_,
                "inertia": float(((X - est.cluster_centers_[labels]) ** 2).sum()),
                "min_share": float(np.bincount(labels, minlength=k).min() / n),
                "stability": float(np.mean(aris)) if aris else np.nan,
                "stability_sd": float(np.std(aris, ddof=1)) if len(aris) > 1 else np.nan,
                "min_cluster_jaccard": float(cluster_jac.min()),
            }
        )
    return pd.DataFrame(rows).set_index("k"), fits


def choose_k(
    sweep: pd.DataFrame, *, stability_threshold: float = 0.9, silhouette_share: float = 0.8
) -> tuple[int, str]:
    """Pick k from a :func:`k_sweep` table; returns ``(k, reason in plain words)``.

    The rule: a k is **stable** when even its weakest cluster is reproduced by the bootstrap
    refits (``min_cluster_jaccard >= stability_threshold``, default 0.9). Among stable k whose
    silhouette is at least ``silhouette_share`` (default 80%) of the best stable silhouette,
    take the **largest** k.

    Why: internal indices (silhouette, Calinski-Harabasz) favour few, coarse clusters, so they
    often pick k=2 when personas are really 5; stability alone can be fooled by a consistent but
    pointless split of one persona (stable, yet it costs silhouette). Merging true personas keeps
    clusters stable, splitting one makes its halves unstable or lowers silhouette, so the
    largest stable k without a silhouette collapse is the number of distinct groups. The two
    thresholds come from a study of 52 simulated surveys (3-6 planted personas; equal and
    unequal sizes, noisier answers, personas that differ on only two constructs): the rule
    picked the planted k in 48; in the 4 misses the planted k was itself not stable (two
    personas nearly alike, or a persona of ~5%). Internal indices alone picked it in 35. If no
    k is stable, the most stable one is taken and the reason says to treat it with caution.
    """
    need = {"silhouette", "min_cluster_jaccard"}
    if not need <= set(sweep.columns) or sweep.empty:
        raise ClusteringError(f"choose_k needs a k_sweep table with columns {sorted(need)}")
    if len(sweep) > 1 and sweep["min_cluster_jaccard"].isna().all():
        raise ClusteringError("choosing k needs bootstrap stability: set n_bootstrap >= 2")
    if len(sweep) == 1:
        k = int(sweep.index[0])
        return k, (
            f"{k} personas were set in the run configuration (notebooks.03_personas.k), not "
            "chosen from the data ('auto' chooses the number from the evidence)."
        )
    stable = sweep[sweep["min_cluster_jaccard"] >= stability_threshold]
    if stable.empty:
        k = int(sweep["min_cluster_jaccard"].idxmax())
        return k, (
            f"{k} personas, to be treated with caution: for no number from {sweep.index.min()} to "
            f"{sweep.index.max()} does every persona come back when the grouping is repeated on "
            f"random subsamples of the respondents (an overlap of members of "
            f"{stability_threshold:.2f} is required; 1 = the same members); {k} comes closest "
            f"({sweep.at[k, 'min_cluster_jaccard']:.2f})."
        )
    best = stable["silhouette"].max()
    ok = stable[stable["silhouette"] >= silhouette_share * best]
    k = int(ok.index.max())
    row = sweep.loc[k]
    reason = (
        f"{k} personas: the largest number for which every persona comes back when the grouping "
        "is repeated on random subsamples of the respondents (even the least reproducible one "
        f"overlaps its repeat by {row['min_cluster_jaccard']:.2f}; {stability_threshold:.2f} is "
        "required, 1 = the same members) and the groups stay about as well separated as with the "
        f"best such number (silhouette {row['silhouette']:.2f}, best {best:.2f})."
    )
    larger = sweep[sweep.index > k]
    if not larger.empty:
        k1 = int(larger.index.min())
        r1 = sweep.loc[k1]
        why = (
            f"one of its groups does not come back (overlap {r1['min_cluster_jaccard']:.2f} only)"
            if r1["min_cluster_jaccard"] < stability_threshold
            else f"the groups are less well separated (silhouette {r1['silhouette']:.2f})"
        )
        reason += f" With {k1}, a persona would be split without a real difference: {why}."
    smaller = sweep[sweep.index < k]
    if not smaller.empty and smaller["silhouette"].max() > row["silhouette"]:
        k0 = int(smaller["silhouette"].idxmax())
        reason += (
            f" Separation alone would favour {k0} (silhouette {smaller['silhouette'].max():.2f}), "
            "which merges groups that the finer, reproducible grouping keeps apart."
        )
    return k, reason


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# persona names
# --------------------------------------------------------------------------------------------


def construct_label(construct: str) -> str:
    """A construct's name as the catalogue gives it, for text: 'price_sensitivity' -> 'price sensitivity'."""
    return str(construct).replace("_", " ").strip()


def readable_reliability(rel: pd.DataFrame) -> pd.DataFrame:
    """:func:`segwork.survey.reliability` for people: constructs as the catalogue names them,
    Cronbach's alpha to two decimals ('cannot be computed' instead of nan), 'yes' where it is
    below the bar, and the items whose reverse coding looks wrong."""
    thr = rel.attrs.get("threshold", 0.7)
    return pd.DataFrame(
        {
            "construct": [construct_label(c) for c in rel.index],
            "items": rel["n_items"].astype(int).to_numpy(),
            "reverse-coded items": rel["reverse_items"].fillna("").astype(str).to_numpy(),
            "respondents who answered all its items": [f"{int(n):,}" for n in rel["n_complete"]],
            "Cronbach's alpha": [
                "cannot be computed" if not np.isfinite(a) else f"{a:.2f}"
                for a in rel["alpha"].astype(float)
            ],
            f"below {thr:g}?": ["yes" if w else "" for w in rel["weak"].astype(bool)],
            "items against the rest (check their coding)": rel["suspect_items"]
            .fillna("")
            .astype(str)
            .to_numpy(),
        }
    )


def persona_names(construct_z: pd.DataFrame, *, min_z: float = 0.5) -> tuple[list[str], list[str]]:
    """A unique name and a description per cluster, in the catalogue's words, from construct z-scores.

    A construct sets a cluster apart when ``|z| >= min_z`` (standard deviations from all
    respondents). The name says which construct does so most and in which direction ("High
    Neuroticism", "Low price sensitivity"); when another cluster already has that name the next
    distinguishing constructs are added ("High Neuroticism, low Extraversion"), then a number.
    A cluster with no such construct is "Near average on every construct". The description
    states the z-scores of up to three distinguishing constructs and which constructs are near
    the average (``|z| < 0.25``). Nothing is said that the data do not show: the words are the
    construct names of the item catalogue, the numbers are the cluster's.
    """
    names, descs, used = [], [], set()
    for _, row in construct_z.iterrows():
        order = row.abs().sort_values(ascending=False, kind="stable")
        top = [c for c in order.index if abs(row[c]) >= min_z][:3]
        parts = [f"{'high' if row[c] > 0 else 'low'} {construct_label(c)}" for c in top]
        if not parts:
            candidates = ["Near average on every construct"]
        else:
            candidates = [", ".join(parts[: i + 1]) for i in range(len(parts))]
            candidates = [c[0].upper() + c[1:] for c in candidates]
        name = next((c for c in candidates if c not in used), None)
        n = 2
        while name is None or name in used:
            name = f"{candidates[0]} ({n})"
            n += 1
        used.add(name)
        names.append(name)
        if not top:
            descs.append(
                f"No construct sets this group apart: on every construct its mean is within "
                f"{min_z:g} standard deviations of all respondents' mean."
            )
            continue
        above = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in top if row[c] > 0]
        below = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in top if row[c] < 0]
        bits = []
        if above:
            bits.append("higher than the average respondent on " + " and ".join(above))
        if below:
            bits.append(
                "lower on " + " and ".join(below)
                if above
                else "lower than the average respondent on " + " and ".join(below)
            )
        text = "; ".join(bits)
        text = text[0].upper() + text[1:]
        # the other constructs on which the group is not average either: without them a group
        # above average on everything would read as above average on its top constructs only
        rest = [c for c in order.index if c not in top and abs(row[c]) >= 0.25]
        also = []
        for sign, word in ((1, "higher"), (-1, "lower")):
            cs = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in rest if sign * row[c] > 0]
            if cs:
                also.append(
                    f"{word} on " + (", ".join(cs[:-1]) + " and " if len(cs) > 1 else "") + cs[-1]
                )
        if also:
            text += ". Also " + "; also ".join(also)
        flat = [c for c in order.index if abs(row[c]) < 0.25]
        if flat:
            text += ". Near the average on " + ", ".join(construct_label(c) for c in flat[:3])
        descs.append(text + ".")
    return names, descs


# --------------------------------------------------------------------------------------------
# the fitted model (what is saved) and the result (what a notebook shows)
# --------------------------------------------------------------------------------------------


def _version() -> str:
    from segwork import __version__

    return __version__


class PersonaModel:
    """A fitted persona model: survey scoring rules + feature pipeline + clusterer + names.

    ``pipeline`` is a scikit-learn ``Pipeline([("features", ColumnTransformer), ("cluster",
    PersonaClusterer)])``; ``meta`` is JSON-able (survey spec, feature columns, k, names, versions).
    This is what :meth:`save` writes and :func:`load` returns.
    """

    def __init__(self, pipeline: Pipeline, meta: dict[str, Any]):
        self.pipeline = pipeline
        self.meta = meta
        self.spec = SurveySpec.from_dict(meta["survey"])

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    @property
    def names(self) -> dict[int, str]:
        return {int(c): n for c, n in self.meta["names"].items()}

    def __repr__(self) -> str:
        return (
            f"PersonaModel(k={self.k}, algorithm={self.meta['algorithm']!r}, features={self.meta['features']!r}, "
            f"items={len(self.spec.items)})"
        )

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
        table = "new survey responses"
        scored = score_survey(
            new_responses, self.spec, consent=consent, learn_medians=False, table=table
        )
        beh_cols, prof_cols = self.meta["behaviour_columns"], self.meta["profile_columns"]
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
                scored, self.meta["features"], beh, beh_cols, prof, prof_cols, table=table
            )
            X = self.pipeline[:-1].transform(frame)
            cluster.loc[scored.answers.index] = self.pipeline[-1].predict(X)
        out["cluster"] = cluster.to_numpy()
        names = self.names
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

    def save(self, path: str | Path) -> Path:
        """Write the model with skops (no pickle) and a sidecar ``<path>.json`` with its sha256."""
        import skops.io as sio

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": MODEL_FORMAT,
            "pipeline": self.pipeline,
            "meta": json.dumps(self.meta, sort_keys=True),
        }
        sio.dump(payload, path)
        sidecar = {
            "format": MODEL_FORMAT,
            "model_file": path.name,
            "sha256": _sha256(path),
            "meta": self.meta,
        }
        _sidecar(path).write_text(
            json.dumps(sidecar, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8"
        )
        return path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Every type a saved persona model may contain. Anything else in a file is refused: skops then
# never constructs it. (Checked against skops.io.get_untrusted_types of saved models in the tests.)
TRUSTED_TYPES: list[str] = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.slice",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.PowerTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.decomposition._factor_analysis.FactorAnalysis",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "segwork.clusters.PersonaClusterer",
]


def load(path: str | Path) -> PersonaModel:
    """Load a persona model saved by :meth:`PersonaResult.save`, refusing anything suspicious.

    Refused (:class:`ModelFileError`): no sidecar JSON; a file whose sha256 differs from the one
    recorded when it was saved (changed or corrupted); a file containing types outside
    :data:`TRUSTED_TYPES`; a file whose embedded metadata differs from the sidecar's.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"persona model not found: {path}")
    side = _sidecar(path)
    if not side.is_file():
        raise ModelFileError(
            f"{path}: no sidecar {side.name} with the model's checksum, so it cannot be verified; "
            "refusing to load.\nFix: keep the .json saved next to the model."
        )
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{side}: not valid JSON ({e}); refusing to load.") from e
    if record.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{side}: format {record.get('format')!r}, expected {MODEL_FORMAT!r}.")
    digest = _sha256(path)
    if digest != record.get("sha256"):
        raise ModelFileError(
            f"{path}: sha256 {digest[:12]}... does not match {str(record.get('sha256'))[:12]}... "
            "recorded when it was saved: the file was changed or corrupted; refusing to load.\n"
            "Fix: re-save the model from the run that fitted it."
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # noqa: BLE001 - any parse failure means the file is not a model we wrote
        raise ModelFileError(f"{path}: not a readable skops file ({type(e).__name__}: {e}).") from e
    unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unknown:
        raise ModelFileError(
            f"{path}: contains types that a persona model never contains: {unknown}; refusing to load."
        )
    payload = sio.load(path, trusted=TRUSTED_TYPES)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a segwork persona model.")
    meta = json.loads(payload["meta"])
    if meta != record.get("meta"):
        raise ModelFileError(
            f"{path}: the metadata inside the model differs from {side.name}; refusing to load."
        )
    return PersonaModel(payload["pipeline"], meta)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"customer_id": "string"})
    if suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path)
        if "customer_id" in df.columns:
            df["customer_id"] = df["customer_id"].astype("string")
        return df
    raise ClusteringError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def assign_file(model_path: str | Path, input_path: str | Path, output_path: str | Path) -> Path:
    """Read new survey answers (CSV/Parquet), place them into the model's personas, write the result.

    The output (CSV or Parquet by suffix) has customer_id, cluster, persona, status (``assigned`` or
    why not). The CSV is written by the export writer (:func:`segwork.actions.export_members`):
    a cell a spreadsheet would run as a formula (an id such as ``=HYPERLINK(...)``) is neutralised.
    Errors (missing file, tampered model, missing items, out-of-range answers) are
    ValueError/FileNotFoundError subclasses with a message that names the problem.
    """
    from segwork.actions import export_members

    model_path, input_path, output_path = Path(model_path), Path(input_path), Path(output_path)
    out_suffix = output_path.suffix.lower()
    if out_suffix not in (".csv", ".parquet", ".pq"):
        raise ClusteringError(
            f"{output_path}: unsupported output type {out_suffix!r}; use .csv or .parquet"
        )
    model = load(model_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"input file not found: {input_path}")
    frame = model.assign_frame(_read_table(input_path))
    if out_suffix == ".csv":
        return export_members(frame, output_path)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)  # for programs: values as they are
    return atomic_write_bytes(output_path, buf.getvalue())


@dataclass
class PersonaResult:
    """Everything :func:`fit_personas` found. ``model`` assigns new customers and is what is saved."""

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
        """Save the model (skops + sidecar JSON with sha256); :func:`load` reads it back."""
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

    def summary(self) -> str:
        meta = self.model.meta
        thr = self.reliability.attrs.get("threshold", ALPHA_THRESHOLD)
        lines = [
            "Persona clustering",
            "=" * 18,
            f"Respondents clustered: {self.n_respondents:,}   excluded: {int(self.excluded.sum()):,}"
            f"   answers imputed: {self.n_imputed:,}",
        ]
        lines += [f"  excluded, {reason}: {n:,}" for reason, n in self.excluded.items()]
        beh = ", ".join(meta["behaviour_columns"] + meta["profile_columns"]) or "none"
        lines += [
            f"Features: {meta['features']} ({len(meta['feature_names'])} columns; behaviour/profile: {beh})",
            f"Algorithm: {meta['algorithm']}   k: {self.k}",
            f"Why this k: {self.k_reason}",
            "",
            "k sweep (silhouette, CH, DB higher/higher/lower is better; stability = ARI of refits, "
            "min_cluster_jaccard = weakest cluster's reproduction):",
        ]
        cols = [
            c
            for c in [
                "silhouette",
                "calinski_harabasz",
                "davies_bouldin",
                "bic",
                "stability",
                "stability_sd",
                "min_cluster_jaccard",
                "min_share",
            ]
            if c in self.sweep and self.sweep[c].notna().any()
        ]
        lines.append(self.sweep[cols].round(3).to_string())
        lines += [
            "",
            f"Reliability (Cronbach's alpha, complete cases; weak if < {thr}):",
            self.reliability[["n_items", "n_complete", "alpha", "weak"]].round(3).to_string(),
            "",
            "Personas:",
        ]
        for c, row in self.profiles.iterrows():
            lines.append(
                f"  {c}: {row['name']}  {int(row['size']):,} ({row['share']:.0%}), stability {row['stability']:.2f}"
            )
            lines.append(f"     {row['description']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"PersonaResult(k={self.k}, algorithm={self.algorithm!r}, n={self.n_respondents})"


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


def cluster_behaviour(
    labels: pd.Series, table: pd.DataFrame, *, max_categories: int = 6
) -> pd.DataFrame:
    """Behaviour per cluster: mean of numeric columns, share of the top categories of the others.

    ``table`` has customer_id and any columns (revenue, RFM segment, CLV, channel, ...). A row
    ``all`` gives the same over all clustered respondents for comparison.
    """
    if "customer_id" not in table.columns:
        raise ClusteringError("describe table: no column 'customer_id'")
    t = table.assign(customer_id=table["customer_id"].astype("string")).drop_duplicates(
        "customer_id"
    )
    t = t.set_index("customer_id").reindex(labels.index)
    groups = labels.to_numpy()
    out: dict[str, pd.Series] = {}
    for col in t.columns:
        s = t[col]
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            cats = s.astype("string").fillna("missing")
            for cat in cats.value_counts().index[:max_categories]:
                hit = (cats == cat).astype(float)
                out[f"{col}: {cat}"] = pd.concat(
                    [hit.groupby(groups).mean(), pd.Series({"all": hit.mean()})]
                )
        else:
            v = s.astype("float64")
            out[f"{col} (mean)"] = pd.concat(
                [v.groupby(groups).mean(), pd.Series({"all": v.mean()})]
            )
    res = pd.DataFrame(out)
    res.index.name = "cluster"
    return res


BEHAVIOUR_ALPHA = 0.05
# Kaufman & Rousseeuw's reading of the average silhouette: below 0.25 no substantial structure
WEAK_SILHOUETTE = 0.25


def behaviour_tests(
    labels: pd.Series,
    table: pd.DataFrame,
    *,
    alpha: float = BEHAVIOUR_ALPHA,
    max_categories: int = 6,
) -> pd.DataFrame:
    """Does each behaviour column differ between personas? One test per column, Holm-adjusted.

    ``labels``: cluster per customer_id (the clustered respondents); ``table``: customer_id and
    behaviour columns (revenue, orders, RFM segment, ...). Respondents without a value (not in
    the table, or missing) are left out of that column's test and counted (``n``).

    - numeric columns: **Kruskal-Wallis** H test (``scipy.stats.kruskal``, tie-corrected) of the
      personas' distributions (robust to skewed money and counts); effect size epsilon-squared
      ``H / (n - 1)``;
    - true/false and text columns: Pearson's **chi-square** test of independence of persona and
      category (``scipy.stats.chi2_contingency``, no continuity correction), on the
      ``max_categories - 1`` largest categories plus "other"; effect size Cramér's V;
      ``small_expected`` is the share of cells with an expected count below 5 (above 20% the
      chi-square approximation is doubtful, said in ``note``).

    The p-values are adjusted for the number of columns tested by **Holm's** method
    (``p_holm``); ``differs`` is ``p_holm < alpha``. A column that cannot be tested (fewer than
    two personas with values, one value for everyone) has ``p_value`` NaN and a ``note``.
    """
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    if "customer_id" not in table.columns:
        raise ClusteringError("behaviour table: no column 'customer_id'")
    t = table.assign(customer_id=table["customer_id"].astype("string")).drop_duplicates(
        "customer_id"
    )
    t = t.set_index("customer_id").reindex(labels.index.astype("string"))
    groups = pd.Series(labels.to_numpy(), index=t.index)
    rows = []
    for col in t.columns:
        s = t[col]
        known = s.notna().to_numpy()
        g = groups[known]
        row: dict[str, Any] = {
            "column": str(col),
            "n": int(known.sum()),
            "n_missing": int((~known).sum()),
            "statistic": np.nan,
            "df": np.nan,
            "p_value": np.nan,
            "effect": np.nan,
            "small_expected": np.nan,
            "note": "",
        }
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        if numeric:
            row.update(test="Kruskal-Wallis", effect_name="epsilon-squared")
            v = s[known].astype("float64")
            samples = [v[g.to_numpy() == c].to_numpy() for c in np.unique(g.to_numpy())]
            samples = [x for x in samples if len(x)]
            if len(samples) < 2:
                row["note"] = "fewer than two personas have values"
            elif np.unique(v.to_numpy()).size < 2:
                row["note"] = f"every respondent has the same value ({v.iloc[0]:g})"
            else:
                h, p = stats.kruskal(*samples)
                n = int(sum(len(x) for x in samples))
                row.update(statistic=float(h), df=len(samples) - 1, p_value=float(p))
                row["effect"] = float(h / (n - 1))
        else:
            row.update(test="chi-square", effect_name="Cramér's V")
            cats = s[known].astype("string")
            top = cats.value_counts().index[: max(max_categories - 1, 1)]
            cats = cats.where(cats.isin(top), "other")
            obs = pd.crosstab(g.to_numpy(), cats.to_numpy())
            obs = obs.loc[obs.sum(axis=1) > 0, obs.sum(axis=0) > 0]
            if obs.shape[0] < 2:
                row["note"] = "fewer than two personas have values"
            elif obs.shape[1] < 2:
                row["note"] = f"every respondent has the same value ({obs.columns[0]})"
            else:
                chi2, p, dof, expected = stats.chi2_contingency(obs.to_numpy(), correction=False)
                n = int(obs.to_numpy().sum())
                small = float((expected < 5).mean())
                row.update(statistic=float(chi2), df=int(dof), p_value=float(p))
                row["effect"] = float(np.sqrt(chi2 / (n * (min(obs.shape) - 1))))
                row["small_expected"] = small
                if small > 0.2:
                    row["note"] = (
                        f"{small:.0%} of expected counts are below 5: the chi-square p-value "
                        "is approximate"
                    )
        rows.append(row)
    cols = [
        "column",
        "test",
        "n",
        "n_missing",
        "statistic",
        "df",
        "p_value",
        "p_holm",
        "effect_name",
        "effect",
        "differs",
        "small_expected",
        "note",
    ]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    tested = out["p_value"].notna().to_numpy()
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = multipletests(out.loc[tested, "p_value"], method="holm")[1]
    out["differs"] = (out["p_holm"] < alpha).fillna(False).astype(bool)
    out.attrs.update(alpha=alpha, method="Holm")
    return out[cols]


def behaviour_text(tests: pd.DataFrame, *, n_respondents: int | None = None) -> str:
    """What the tests of :func:`behaviour_tests` show, in words: a difference only where one is found."""
    alpha = tests.attrs.get("alpha", BEHAVIOUR_ALPHA)
    tested = tests[tests["p_value"].notna()]
    if tested.empty:
        return "No behaviour column could be tested (see the notes in the table)."

    def one(r: Any) -> str:
        stat = "H" if r["test"] == "Kruskal-Wallis" else "chi-square"
        return (
            f"{behaviour_label(r['column'])} ({r['test']}, {stat} = {r['statistic']:,.1f}, Holm-adjusted "
            f"p {_p(r['p_holm'])}, {r['effect_name']} {r['effect']:.2f}, n = {int(r['n']):,})"
        )

    diff = tested[tested["differs"]]
    same = tested[~tested["differs"]]
    parts = []
    if not diff.empty:
        parts.append(
            "The personas differ in " + "; ".join(one(r) for _, r in diff.iterrows()) + "."
        )
    if not same.empty:
        parts.append(
            f"No difference between the personas was found (Holm-adjusted p >= {alpha:g}) in "
            + "; ".join(one(r) for _, r in same.iterrows())
            + (
                ". On these, the personas cannot be told apart by how they buy."
                if diff.empty
                else "."
            )
        )
    missing = int(tests["n_missing"].max()) if len(tests) else 0
    if missing and n_respondents:
        parts.append(
            "Respondents without a value in the customer data (not customers, or no value) are "
            f"left out of a column's test: up to {missing:,} of {n_respondents:,} (n is per column)."
        )
    return " ".join(parts)


def _p(p: float) -> str:
    """'< 0.001' or '= 0.012' (to follow a 'p')."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


# behaviour columns of the customer 360 (notebooks 01 and 02) compared across personas, besides
# revenue and orders of the longest window (see behaviour_columns)
BEHAVIOUR_COLUMNS = ("aov", "rfm_segment", "clv_12m")


def behaviour_columns(customers: pd.DataFrame) -> list[str]:
    """The behaviour columns to compare: revenue and orders of the longest window the customer
    360 has (``revenue_<w>d``, ``orders_<w>d``, windows set by notebook 01), then
    :data:`BEHAVIOUR_COLUMNS` that exist."""
    import re

    windows = [
        int(m.group(1))
        for c in customers.columns
        if (m := re.fullmatch(r"revenue_(\d+)d", str(c))) and f"orders_{m.group(1)}d" in customers
    ]
    out = [f"revenue_{max(windows)}d", f"orders_{max(windows)}d"] if windows else []
    return out + [c for c in BEHAVIOUR_COLUMNS if c in customers.columns]


def behaviour_label(column: str) -> str:
    """A behaviour column of the customer 360 in words: 'revenue_365d' -> 'revenue, last 365
    days', 'aov' -> 'average order value', 'clv_12m' -> 'expected value, next 12 months (CLV)'."""
    import re

    col = str(column)
    if m := re.fullmatch(r"(revenue|orders)_(\d+)d", col):
        return f"{m.group(1)}, last {int(m.group(2)):,} days"
    if m := re.fullmatch(r"clv_(\d+)m", col):
        return f"expected value, next {int(m.group(1))} months (CLV)"
    known = {"aov": "average order value", "rfm_segment": "RFM segment"}
    return known.get(col, col.replace("_", " "))


def _is_money(column: str) -> bool:
    import re

    return bool(re.fullmatch(r"revenue_\d+d|aov|clv_\d+m|monetary\w*|revenue\w*", str(column)))


def readable_behaviour(table: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """:func:`cluster_behaviour`'s table for people: columns in words, amounts with the currency
    (cents when an amount is under 100, else whole units), counts with one decimal, category shares
    in per cent; an empty cell, never 'nan', where a persona has no value."""
    from segwork.display import number

    out = pd.DataFrame(index=table.index.astype(str))
    out.index.name = "persona"
    for col in table.columns:
        v = table[col].to_numpy(dtype=float)
        if str(col).endswith(" (mean)"):
            base = str(col)[: -len(" (mean)")]
            money = _is_money(base)
            small = np.nanmin(np.abs(v), initial=np.inf) < 100
            k = (2 if small else 0) if money else 1
            unit = currency if money else ""
            out[f"{behaviour_label(base)} (mean)"] = [number(x, k, unit=unit) for x in v]
        else:
            base, _, cat = str(col).partition(": ")
            cat = "not scored or no value" if cat == "missing" else cat
            out[f"{behaviour_label(base)}: {cat}"] = [
                "" if not np.isfinite(x) else f"{x:.0%}" for x in v
            ]
    return out.reset_index()


def readable_behaviour_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """:func:`behaviour_tests` for people: what was compared in words, the test, how many
    respondents had a value, the Holm-adjusted p ('< 0.001', never '6.5e-08'), the effect size
    and whether the personas differ ('yes'/'no'; empty where nothing could be tested)."""
    from segwork.display import number

    return pd.DataFrame(
        {
            "compared": [behaviour_label(c) for c in tests["column"]],
            "test": tests["test"].astype(str).to_numpy(),
            "respondents with a value": [f"{int(n):,}" for n in tests["n"]],
            "statistic (df)": [
                ""
                if not np.isfinite(st)
                else f"{'H' if t == 'Kruskal-Wallis' else 'chi-square'} = "
                f"{number(st, 1)} ({int(df)})"
                for t, st, df in zip(tests["test"], tests["statistic"], tests["df"], strict=True)
            ],
            "p (Holm-adjusted)": [
                "" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")
                for p in tests["p_holm"].astype(float)
            ],
            "effect size": [
                "" if not np.isfinite(e) else f"{name} {e:.2f}"
                for name, e in zip(tests["effect_name"], tests["effect"].astype(float), strict=True)
            ],
            "differ?": [
                "" if not np.isfinite(p) else ("yes" if d else "no")
                for p, d in zip(tests["p_holm"].astype(float), tests["differs"], strict=True)
            ],
            "note": tests["note"].fillna("").astype(str).to_numpy(),
        }
    )


@dataclass
class PersonaBehaviour:
    """How the personas buy, with a test per column; or why that cannot be shown (``reason``)."""

    reason: str | None  # one sentence when behaviour is not shown, else None
    table: pd.DataFrame | None = None  # per persona (and "all"): means and category shares
    tests: pd.DataFrame | None = None  # behaviour_tests
    text: str = ""  # what the tests show, in words
    n_buyers: int = 0  # respondents with at least one order

    @property
    def available(self) -> bool:
        return self.reason is None


def persona_behaviour(
    result: PersonaResult,
    customers: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    alpha: float = BEHAVIOUR_ALPHA,
) -> PersonaBehaviour:
    """Behaviour per persona from the customer 360 (indexed by customer_id), tested.

    ``columns`` defaults to :func:`behaviour_columns`. Not shown, with one sentence saying
    why, when the run has no order history, when none of the clustered respondents has an
    order (survey-only respondents), or when none of ``columns`` is in the table.
    """
    n = result.n_respondents
    if "orders_total" not in customers.columns:
        return PersonaBehaviour(
            "This run has no order history (no orders source), so how the personas buy is not shown."
        )
    ids = result.labels.index
    ordered = (
        customers["has_ordered"] if "has_ordered" in customers else customers["orders_total"] > 0
    )
    buyers = int(ordered.reindex(ids).fillna(False).astype(bool).sum())
    if buyers == 0:
        return PersonaBehaviour(
            f"None of the {n:,} respondents has an order in the order history (the respondents "
            "are not customers with orders), so how the personas buy is not shown."
        )
    wanted = list(columns) if columns is not None else behaviour_columns(customers)
    cols = [c for c in wanted if c in customers.columns]
    if not cols:
        return PersonaBehaviour(
            "The customer data has none of the behaviour columns "
            f"({', '.join(wanted) or 'revenue and orders per window'}), so how the personas "
            "buy is not shown.",
            n_buyers=buyers,
        )
    data = customers[cols].reset_index()
    data = data.rename(columns={data.columns[0]: "customer_id"})
    tests = behaviour_tests(result.labels, data, alpha=alpha)
    names = result.profiles["name"]
    table = cluster_behaviour(result.labels, data).rename(index=names)
    table.index = [str(i) for i in table.index]
    table.index.name = "persona"
    return PersonaBehaviour(
        None,
        table=table,
        tests=tests,
        text=behaviour_text(tests, n_respondents=n),
        n_buyers=buyers,
    )


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
    model = PersonaModel(Pipeline([("features", prep.pre), ("cluster", est)]), meta)
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
    k: int | Literal["auto"] = "auto",
    k_range: tuple[int, int] | Sequence[int] = (2, 10),
    algorithm: Algorithm = "kmeans",
    random_state: int = 0,
    features: FeatureKind = "constructs",
    behaviour: pd.DataFrame | Sequence[str] | None = None,
    profile: pd.DataFrame | Sequence[str] | None = None,
    consent: pd.Series | pd.DataFrame | None = None,
    min_answered: float = 0.7,
    names: Mapping[Any, str] | None = None,
    n_bootstrap: int = 10,
    subsample: float = 0.8,
    sample_size: int = 3000,
    n_init: int = 4,
    scale: tuple[int, int] = DEFAULT_SCALE,
    alpha_threshold: float = ALPHA_THRESHOLD,
    stability_threshold: float = 0.9,
    silhouette_share: float = 0.8,
    describe: pd.DataFrame | None = None,
    n_factors: int | None = None,
    ward_max_n: int = 3000,
    projection_size: int = 5000,
    n_threads: int | None = 1,
) -> PersonaResult:
    """Cluster survey respondents into personas (the steps are in the module docstring).

    ``responses``: customer_id + one column per catalogue item (Likert on ``scale``, missing
    allowed). ``catalogue``: item, construct, text, reverse_coded. ``k="auto"`` sweeps
    ``k_range`` (inclusive bounds) and applies :func:`choose_k` (``stability_threshold``,
    ``silhouette_share``); an int fixes k (its row of the sweep is still measured).
    ``behaviour`` (numeric) and ``profile`` (categorical) add features: a table with customer_id,
    or names of columns of ``responses``. ``consent``: profiling consent (a Series indexed by
    customer_id, or a table with customer_id and profiling_consent; default: a profiling_consent
    column of ``responses`` if there is one). ``names``: ``{cluster: "name"}`` overrides generated
    persona names. ``describe``: a customer table whose columns are summarised per cluster
    (revenue, RFM segment, CLV, channel, ...) without being features. ``n_bootstrap``,
    ``subsample``, ``sample_size``, ``n_init``, ``n_threads``: see :func:`k_sweep`.
    """
    if algorithm not in ALGORITHMS:
        raise ClusteringError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if not (k == "auto" or (isinstance(k, int | np.integer) and not isinstance(k, bool))):
        raise ClusteringError(f"k must be 'auto' or an integer, got {k!r}")
    if not 0 < subsample < 1:
        raise ClusteringError(f"subsample must be a share in (0, 1), got {subsample!r}")
    prep = _prepare(
        responses,
        catalogue,
        features=features,
        behaviour=behaviour,
        profile=profile,
        consent=consent,
        min_answered=min_answered,
        scale=scale,
        alpha_threshold=alpha_threshold,
        n_factors=n_factors,
        random_state=random_state,
    )
    ks = _k_values(k_range) if k == "auto" else [int(k)]
    sweep, fits = k_sweep(
        prep.X,
        ks,
        algorithm=algorithm,
        random_state=random_state,
        n_bootstrap=n_bootstrap,
        subsample=subsample,
        sample_size=sample_size,
        n_init=n_init,
        ward_max_n=ward_max_n,
        n_threads=n_threads,
    )
    k_sel, reason = choose_k(
        sweep, stability_threshold=stability_threshold, silhouette_share=silhouette_share
    )
    sweep.attrs.update(stability_threshold=stability_threshold, silhouette_share=silhouette_share)
    return _assemble(
        prep,
        sweep,
        fits[k_sel],
        reason,
        algorithm=algorithm,
        random_state=random_state,
        names=names,
        describe=describe,
        projection_size=projection_size,
    )


# --------------------------------------------------------------------------------------------
# figures (seaborn style: DataFrame in, Axes out)
# --------------------------------------------------------------------------------------------


def _ax(ax: Any) -> Any:
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(9, 4.5))[1]


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


# --------------------------------------------------------------------------------------------
# interactive explorer
# --------------------------------------------------------------------------------------------


def explorer(responses: pd.DataFrame, catalogue: pd.DataFrame, **kwargs: Any) -> ClusterExplorer:
    """An ipywidgets explorer: choose features, algorithm and k; see indices, stability, profiles."""
    return ClusterExplorer(responses, catalogue, **kwargs)


class ClusterExplorer(widgets.VBox):
    """Controls (features, algorithm, k) above outputs (sweep table, stability, personas, heatmap).

    :meth:`update` is a plain method (the widgets' observers call it), so tests can set control
    values and check the outputs. Sweeps are cached per (features, algorithm); changing k only
    re-profiles the fit already made in the sweep.
    """

    def __init__(
        self,
        responses: pd.DataFrame,
        catalogue: pd.DataFrame,
        *,
        k_range: tuple[int, int] = (2, 8),
        n_bootstrap: int = 5,
        random_state: int = 0,
        features: str = "constructs",
        algorithm: str = "kmeans",
        **fit_kwargs: Any,
    ):
        self._responses, self._catalogue = responses, catalogue
        self._k_range, self._n_bootstrap, self._rs = k_range, n_bootstrap, random_state
        self._fit_kwargs = fit_kwargs
        self._prep: dict[str, _Prepared] = {}
        self._sweeps: dict[
            tuple[str, str], tuple[pd.DataFrame, dict[int, PersonaClusterer], int, str]
        ] = {}
        ks = _k_values(k_range)
        self.features = widgets.Dropdown(
            options=list(FEATURES), value=features, description="Features"
        )
        self.algorithm = widgets.Dropdown(
            options=list(ALGORITHMS), value=algorithm, description="Algorithm"
        )
        self.k = widgets.IntSlider(
            value=ks[0], min=ks[0], max=ks[-1], description="k", continuous_update=False
        )
        self.indices = widgets.HTML()
        self.stability = widgets.HTML()
        self.personas = widgets.HTML()
        self.heatmap = widgets.Image(format="png")
        self.result: PersonaResult | None = None
        self._busy = False
        super().__init__(
            [
                widgets.HBox([self.features, self.algorithm, self.k]),
                self.stability,
                self.indices,
                self.personas,
                self.heatmap,
            ]
        )
        self.update(new_sweep=True)
        for w in (self.features, self.algorithm):
            w.observe(lambda _change: self.update(new_sweep=True), names="value")
        self.k.observe(lambda _change: self.update(), names="value")

    def _sweep(
        self,
    ) -> tuple[_Prepared, tuple[pd.DataFrame, dict[int, PersonaClusterer], int, str]]:
        feat, alg = self.features.value, self.algorithm.value
        kw = self._fit_kwargs
        if feat not in self._prep:
            self._prep[feat] = _prepare(
                self._responses,
                self._catalogue,
                features=feat,
                behaviour=kw.get("behaviour"),
                profile=kw.get("profile"),
                consent=kw.get("consent"),
                min_answered=kw.get("min_answered", 0.7),
                scale=kw.get("scale", DEFAULT_SCALE),
                alpha_threshold=kw.get("alpha_threshold", ALPHA_THRESHOLD),
                n_factors=kw.get("n_factors"),
                random_state=self._rs,
            )
        prep = self._prep[feat]
        if (feat, alg) not in self._sweeps:
            sweep, fits = k_sweep(
                prep.X,
                self._k_range,
                algorithm=alg,
                random_state=self._rs,
                n_bootstrap=self._n_bootstrap,
                sample_size=kw.get("sample_size", 3000),
                n_init=kw.get("n_init", 4),
            )
            k_auto, reason = choose_k(sweep)
            self._sweeps[(feat, alg)] = (sweep, fits, k_auto, reason)
        return prep, self._sweeps[(feat, alg)]

    def update(self, new_sweep: bool = False) -> None:
        """Recompute for the current controls and redraw every output."""
        if self._busy:
            return
        self._busy = True
        try:
            prep, (sweep, fits, k_auto, reason) = self._sweep()
            if new_sweep:
                self.k.value = k_auto  # observers are muted by _busy
            k = int(self.k.value)
            why = (
                reason
                if k == k_auto
                else f"k={k} set in the explorer; the rule would choose k={k_auto}."
            )
            self.result = _assemble(
                prep,
                sweep,
                fits[k],
                why,
                algorithm=self.algorithm.value,
                random_state=self._rs,
                names=None,
                describe=None,
                projection_size=2000,
            )
            self._render(k, k_auto)
        finally:
            self._busy = False

    def _render(self, k: int, k_auto: int) -> None:
        import html

        import matplotlib.pyplot as plt

        res = self.result
        assert res is not None
        row = res.sweep.loc[k]
        self.stability.value = (
            f"<b>k={k}</b> (rule: k={k_auto}) &mdash; stability ARI {row['stability']:.3f} ± "
            f"{row['stability_sd']:.3f}, weakest cluster Jaccard {row['min_cluster_jaccard']:.3f}, "
            f"silhouette {row['silhouette']:.3f}<br><i>{html.escape(res.k_reason)}</i>"
        )
        cols = [
            c
            for c in [
                "silhouette",
                "calinski_harabasz",
                "davies_bouldin",
                "bic",
                "stability",
                "stability_sd",
                "min_cluster_jaccard",
            ]
            if res.sweep[c].notna().any()
        ]
        table = res.sweep[cols].round(3)
        self.indices.value = table.style.apply(
            lambda r: ["font-weight: bold; background: #eef" if r.name == k else "" for _ in r],
            axis=1,
        ).to_html()
        self.personas.value = (
            res.profiles[["name", "size", "share", "stability"]].round(3).to_html()
        )
        fig, ax = plt.subplots(figsize=(8, 0.5 * k + 1.5))
        profile_heatmap(res.profiles, ax=ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.heatmap.value = buf.getvalue()  # an Image widget: drawn without a kernel, testable


def grouping_text(result: PersonaResult, model_file: str) -> str:
    """Who was grouped, how many missing answers were filled and how, and where the model is
    (for the page; the command that uses the model is in the README, not here)."""
    return (
        f"{result.n_respondents:,} respondents were grouped; {result.n_imputed:,} missing "
        f"{'answer was' if result.n_imputed == 1 else 'answers were'} filled (from the respondent's own "
        "answers to the same construct, else the item's median). The model is saved as "
        f"{model_file} in the run's artifacts, so new respondents can be placed into the same "
        "personas."
    )


def headline(result: PersonaResult) -> str:
    """The finding notebook 03 leads with: how many personas, their names and sizes, why this k."""
    p = result.profiles.sort_values("size", ascending=False)
    names = "; ".join(f"{r['name']} ({r['share']:.0%})" for _, r in p.iterrows())
    text = (
        f"{result.n_respondents:,} survey respondents fall into {result.k} personas: {names}.\n\n"
        f"Why {result.k}: {result.k_reason.removeprefix(f'{result.k} personas: ')}"
    )
    sil = (
        float(result.sweep.loc[result.k, "silhouette"]) if "silhouette" in result.sweep else np.nan
    )
    if sil < WEAK_SILHOUETTE:
        text += (
            f"\n\nThe groups are weakly separated (silhouette {sil:.2f}; below {WEAK_SILHOUETTE} "
            "is usually read as no substantial cluster structure): respondents vary along a "
            "continuum, and the personas are regions of it rather than distinct types. Many "
            "respondents lie near a boundary."
        )
    return text

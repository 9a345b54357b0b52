"""The clustering estimator behind the personas: k-means, Gaussian mixture or Ward, one interface.

:class:`PersonaClusterer` fits on a feature matrix and places rows at the nearest centre (the
most probable component for ``gmm``); labels are numbered by cluster size (0 = largest).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from segwork.errors import SegworkError

Algorithm = Literal["kmeans", "gmm", "ward"]
FeatureKind = Literal["constructs", "items", "factors"]
ALGORITHMS = ("kmeans", "gmm", "ward")
FEATURES = ("constructs", "items", "factors")


class ClusteringError(SegworkError, ValueError):
    """Clustering input or parameters that cannot work; the message says what and the fix."""


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

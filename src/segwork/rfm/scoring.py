"""R, F and M scores: :class:`RfmScorer` learns the quantile edges of each score (``fit``) and scores
new customers with them (``transform``); :func:`score` scores and names the segments of one set.

Quantile scores keep bins equal-sized by breaking ties with a fixed hash of customer_id
(:func:`tie_break_order`); fixed ``cut_points`` replace the quantiles of a score.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from segwork.rfm.errors import RFMError, RFMWarning
from segwork.rfm.segments import _check_bins, segment_lookup


def _score_inputs(features: pd.DataFrame) -> dict[str, pd.Series]:
    """Raw values per score, oriented so that larger = better (recency negated)."""
    need = ["recency", "frequency", "monetary"] + (["T"] if "T" in features else [])
    missing = [c for c in need if c not in features]
    if missing:
        raise RFMError(
            f"features lack column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(map(str, features.columns))}. Pass the output of rfm.features"
        )
    if features.index.has_duplicates:
        raise RFMError("features: customer_id (the index) is not unique")
    # clv convention: time since the last purchase is T - recency (as rfm_summary's RFM mode does)
    since_last = features["T"] - features["recency"] if "T" in features else features["recency"]
    out = {"R": since_last, "F": features["frequency"], "M": features["monetary"]}
    for k, s in out.items():
        if s.isna().any():
            raise RFMError(
                f"features: {int(s.isna().sum())} customers have no value for the {k} score; "
                f"e.g. {', '.join(map(str, s.index[s.isna()][:5]))}"
            )
    return out


def tie_break_order(ids: pd.Index) -> np.ndarray:
    """Position of each customer in the tie-break order: by a fixed hash of the id, then the id.

    The hash is ``pandas.util.hash_pandas_object`` of the ids as strings (SipHash with pandas'
    fixed key), so the order is the same on every run and machine, yet independent of how the ids
    were assigned.
    """
    text = pd.Series(ids.astype(str), dtype="string")
    h = pd.util.hash_pandas_object(text, index=False).to_numpy()
    order = np.argsort(h, kind="stable")
    if np.any(h[order][1:] == h[order][:-1]):  # a hash collision (rare): break it by the id text
        by_text = np.empty(len(text), dtype="int64")
        by_text[np.asarray(text.argsort())] = np.arange(len(text))
        order = np.lexsort((by_text, h))
    rank = np.empty(len(text), dtype="int64")
    rank[order] = np.arange(len(text))
    return rank


def _edge_warnings(name: str, v: np.ndarray, edges: np.ndarray, bins: int) -> None:
    """Say when the quantile edges of a score collapse (many equal values)."""
    if np.unique(edges).size == 1:
        warnings.warn(
            f"{name} score: all {len(v):,} customers have the same value ({v[0]:g}); every "
            f"customer gets the middle score {(bins + 1) // 2}",
            RFMWarning,
            stacklevel=4,
        )
    elif np.unique(edges).size < bins + 1:
        warnings.warn(
            f"{name} score: many customers share the same value, so the {bins} equal-sized groups "
            f"collapse ({np.unique(edges).size - 1} distinct value ranges for {bins} scores). To keep "
            f"the groups equal in size, customers with equal values are split between neighbouring "
            f"{name} scores in a fixed pseudo-random order (a hash of the customer id), so two customers with the same value "
            f"can get different {name} scores.",
            RFMWarning,
            stacklevel=4,
        )


def _rank_score(
    values: pd.Series, bins: int, higher_is_better: bool, tie_rank: np.ndarray
) -> np.ndarray:
    """Equal-sized quantile bins of the ranks of values; ties broken by ``tie_rank`` (see
    :func:`score`)."""
    n = len(values)
    v = values.to_numpy(dtype="float64")
    key = v if higher_is_better else -v
    order = np.lexsort((tie_rank, key))  # by value, then by the tie-break order
    rank = np.empty(n, dtype="float64")
    rank[order] = np.arange(1, n + 1)
    # bins of the ranks 1..n with right-closed edges at their quantiles, as pandas.qcut(rank)
    rank_edges = np.quantile(np.arange(1, n + 1, dtype="float64"), np.linspace(0, 1, bins + 1))
    return (np.searchsorted(rank_edges[1:-1], rank, side="left") + 1).astype("int64")


def _check_cut_points(name: str, edges: Sequence[float], bins: int) -> np.ndarray:
    e = np.asarray(edges, dtype="float64")
    if e.ndim != 1 or e.size != bins - 1 or np.any(np.diff(e) <= 0) or np.isnan(e).any():
        raise RFMError(
            f"cut_points for {name} must be {bins - 1} strictly increasing numbers (bins={bins}), "
            f"got {list(edges)!r}"
        )
    return e


class RfmScorer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """R, F and M scores (1..bins) and the segment, with the score edges learned by ``fit``.

    ``fit(features)`` learns, per score, the ``bins - 1`` inner quantile edges of the raw values
    (``edges_``: time since the last purchase for R, frequency for F, monetary for M, each
    ``np.quantile(values, np.linspace(0, 1, bins + 1))[1:-1]``), or takes the fixed
    ``cut_points`` of a score, and the code -> segment lookup of ``segment_map``.
    ``transform(features)`` scores any customers with those edges, so customers who arrive later
    are scored against the customer base the scorer was fitted on: bins are right-closed in the
    direction in which larger is better ((-inf, e1], (e1, e2], ... for F and M; for R the most
    recent customers get ``bins`` and a customer exactly on a learned edge gets the better
    score, as in the ranks); values beyond the fitted range get the lowest or highest score.
    Fixed ``cut_points`` are right-closed in the raw value for every score (R [30, 90, 180, 365]
    days gives R = 5 up to 30 days).

    ``fit_transform(features)`` scores the fitted customers themselves by rank, so the groups
    stay equal in size when values tie (ties split in the fixed order of
    :func:`tie_break_order`): see :func:`score`, which is ``RfmScorer(...).fit_transform``.
    Without ties it equals ``fit(features).transform(features)``.
    """

    def __init__(
        self,
        bins: int = 5,
        segment_map: Mapping[str, Any] | str | Path = "default",
        cut_points: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.bins = bins
        self.segment_map = segment_map
        self.cut_points = cut_points

    def fit(self, X: pd.DataFrame, y: Any = None) -> RfmScorer:
        """Learn the edges of each score from features ``X`` (the output of rfm.features)."""
        bins = _check_bins(self.bins)
        self.lookup_, self.segments_ = segment_lookup(self.segment_map, bins)
        raw = _score_inputs(X)
        cuts = _normalise_cut_points(self.cut_points)
        self.edges_: dict[str, np.ndarray] = {}
        self.fixed_: dict[str, bool] = {}
        self.constant_: dict[str, bool] = {}
        for name, values in raw.items():
            v = values.to_numpy(dtype="float64")
            if name in cuts:
                self.edges_[name] = _check_cut_points(name, cuts[name], bins)
                self.fixed_[name], self.constant_[name] = True, False
            else:
                if v.size == 0:
                    raise RFMError("features: no customers to learn the score edges from")
                edges = np.quantile(v, np.linspace(0, 1, bins + 1))
                _edge_warnings(name, v, edges, bins)
                self.edges_[name] = edges[1:-1]
                self.fixed_[name] = False
                self.constant_[name] = bool(np.unique(edges).size == 1)
        self.bins_ = bins
        self.n_customers_ = len(X)
        return self

    def _scores_by_edges(self, name: str, values: pd.Series) -> np.ndarray:
        bins, e = self.bins_, self.edges_[name]
        v = values.to_numpy(dtype="float64")
        if self.constant_[name]:
            return np.full(len(v), (bins + 1) // 2, dtype="int64")
        if name != "R":
            return (np.searchsorted(e, v, side="left") + 1).astype("int64")
        side = "left" if self.fixed_[name] else "right"
        return (bins - np.searchsorted(e, v, side=side)).astype("int64")

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with R, F, M, ``rfm_code`` and ``segment``, scored with the learned edges."""
        check_is_fitted(self, "edges_")
        raw = _score_inputs(X)
        out = X.copy()
        for name, values in raw.items():
            out[name] = self._scores_by_edges(name, values)
        return self._name_segments(out, X)

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then score the fitted customers by rank (equal-sized groups; see the class)."""
        self.fit(X)
        raw = _score_inputs(X)
        out = X.copy()
        tie_rank = tie_break_order(X.index)
        for name, values in raw.items():
            if self.fixed_[name] or self.constant_[name]:
                out[name] = self._scores_by_edges(name, values)
            else:
                out[name] = _rank_score(values, self.bins_, name != "R", tie_rank)
        if len(out) < self.bins_:
            warnings.warn(
                f"only {len(out)} customers for {self.bins_} bins: some scores are empty",
                RFMWarning,
                stacklevel=3,
            )
        return self._name_segments(out, X)

    def _name_segments(self, out: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
        out["rfm_code"] = (
            out["R"].astype(str) + out["F"].astype(str) + out["M"].astype(str)
        ).astype("string")
        out["segment"] = pd.Categorical(
            out["rfm_code"].map(self.lookup_).astype(object), categories=self.segments_
        )
        segment_map = self.segment_map
        out.attrs = {
            **X.attrs,
            "bins": self.bins_,
            "segment_map": segment_map
            if isinstance(segment_map, str) and "\n" not in segment_map
            else "custom",
        }
        return out


def score(
    features: pd.DataFrame,
    *,
    bins: int = 5,
    segment_map: Mapping[str, Any] | str | Path = "default",
    cut_points: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """The features with R, F, M scores (1..bins), ``rfm_code`` (e.g. "545") and ``segment``:
    ``RfmScorer(bins, segment_map, cut_points).fit_transform(features)``.

    Quantile scoring with a stated tie policy: customers are ranked by value, ties broken by a
    fixed hash of customer_id (then customer_id; see :func:`tie_break_order`), and the ranks are
    cut into ``bins`` equal-sized groups (sizes differ by at most one; the same as
    ``pandas.qcut(values.rank(method="first"), bins)`` on a frame sorted in tie-break order). So
    equal values can straddle two scores; which customers of a tie land in the higher score is
    reproducible but unrelated to the id's order (ids usually grow with sign-up date, and breaking
    ties by the id itself would put every recent one-time buyer in F = 2, never F = 1, so "Recent
    Customers" would stay empty). When the quantile edges of
    the raw values collapse (many ties, typical for frequency) an :class:`RFMWarning` names the
    score; if all values of a score are equal every customer gets the middle score. Recency is
    inverted: the most recent customers get R = bins. For clv-convention features R uses the time
    since the last purchase, T - recency. To score later customers against these customers'
    edges, fit an :class:`RfmScorer` and call its ``transform``.

    ``cut_points`` = {"R": [...], "F": [...], "M": [...]} (or recency/frequency/monetary) gives
    ``bins - 1`` increasing raw-value edges for a score instead of quantiles; bins are right-closed
    ((-inf, e1], (e1, e2], ...), so for F [1, 2, 4, 8] means 1 / 2 / 3-4 / 5-8 / 9+ purchases and
    for R [30, 90, 180, 365] days gives R=5 up to 30 days.

    ``segment_map``: "default" (11 segments, Putler's R x FM rules, see DEFAULT_SEGMENT_MAP),
    "rf_grid" (the common 10-segment R x F grid), or a user map (dict, YAML file path or YAML
    text) checked by :func:`validate_segment_map`. The segment column is categorical with the
    segments in display order (best first), so empty segments still appear in KPIs and plots.
    """
    return RfmScorer(bins=bins, segment_map=segment_map, cut_points=cut_points).fit_transform(
        features
    )


def _normalise_cut_points(
    cut_points: Mapping[str, Sequence[float]] | None,
) -> dict[str, Sequence[float]]:
    if not cut_points:
        return {}
    alias = {"R": "R", "F": "F", "M": "M", "recency": "R", "frequency": "F", "monetary": "M"}
    out = {}
    for k, v in cut_points.items():
        if k not in alias:
            raise RFMError(
                f"cut_points keys must be R, F, M (or recency, frequency, monetary), got {k!r}"
            )
        out[alias[k]] = v
    return out

"""Uplift and Qini curves, their areas, uplift at k and the share of the effect kept: pure numpy.

Definitions follow scikit-uplift 0.5 (``sklift.metrics``), which the tests use as an oracle:

* Rows are ranked by score, highest first; ties are kept together (the curves have one point per
  distinct score, as a ROC curve does). Where a cut falls inside a tie (:func:`uplift_at_k`,
  :func:`effect_kept`), rows are taken in the order of ``np.argsort(score, kind="mergesort")``
  reversed, i.e. the later row first, exactly as scikit-uplift does.
* **Uplift curve** at the top ``n`` rows: ``(mean_t(y) - mean_c(y)) * n`` over those rows: the
  extra outcomes if all ``n`` were treated (a mean over an empty group counts as 0).
* **Qini curve** at the top ``n`` rows: ``Y_t - Y_c * N_t / N_c``: the extra outcomes among the
  treated of those rows, the control outcomes scaled to the treated count.
* **Areas**: trapezoids over the curve points; the *absolute* area above random is the area
  minus that of the straight line from (0, 0) to the curve's end (random targeting); the
  *normalised* score (:func:`qini_auc_score`, :func:`uplift_auc_score`) divides it by the same
  quantity of the perfect curve, so random targeting scores 0 on average and perfect ranking 1.
* **Perfect curves**: the Qini curve of the score ``y t - y (1 - t)``
  (``negative_effect=True``: the perfect model also puts customers hurt by the campaign last), or
  with ``negative_effect=False`` the three points (0, 0), (R, R), (n, R) with ``R`` the total
  incremental outcome ``Y_t - N_t Y_c / N_c``; the perfect uplift curve is the uplift curve of
  ``2 [y == t] + (y if control responders outnumber treated non-responders else t)`` (0/1
  outcomes only). The perfect Qini curve is defined for amounts too (treated customers who spent
  most first, control customers who spent most last); scikit-uplift accepts only 0/1 outcomes, so
  the tests check amounts against the definition, not the oracle.

Also :func:`effect_kept`: the share of the campaign's effect (the uplift curve at all rows: the
extra outcomes if everyone were treated) that treating only the top ``k`` share would keep, with
a Poisson-bootstrap interval (rows weighted by Poisson(1) counts, scores held fixed).

Every curve function also takes weights (one row per bootstrap replicate) so intervals are computed
on one fixed ordering without re-sorting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segwork.uplift.errors import UpliftError

__all__ = [
    "EffectKept",
    "auc",
    "bootstrap_weights",
    "effect_kept",
    "perfect_qini_area",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_area",
    "qini_auc_score",
    "qini_curve",
    "uplift_area",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
]


# ------------------------------------------------------------------------------------ inputs
def _arrays(y, score, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    t = np.asarray(treatment)
    if not (y.ndim == score.ndim == t.ndim == 1) or not (len(y) == len(score) == len(t)):
        raise UpliftError(
            f"outcome, score and treatment must be 1-d arrays of one length, got lengths "
            f"{len(y)}, {len(score)}, {len(t)}"
        )
    if len(y) == 0:
        raise UpliftError("no rows to evaluate: the outcome is empty")
    values = set(np.unique(t).tolist())
    if not values <= {0, 1}:
        raise UpliftError(f"treatment must be 0/1, got values {sorted(values)[:5]}")
    if not np.isfinite(y).all() or not np.isfinite(score).all():
        raise UpliftError("outcome and score must be finite numbers (no NaN or infinity)")
    return y, score, t.astype(float)


def _order(score: np.ndarray) -> np.ndarray:
    """Highest score first; within ties the later row first (scikit-uplift's order)."""
    return np.argsort(score, kind="mergesort")[::-1]


def _thresholds(sorted_score: np.ndarray) -> np.ndarray:
    """Index of the last row of each run of equal scores (in the sorted order)."""
    return np.r_[np.flatnonzero(np.diff(sorted_score)), sorted_score.size - 1]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def _cumulative(y, score, t, weights=None):
    """Cumulative sums at each threshold: (n, n_t, y_t, n_c, y_c), each (replicates, points)."""
    order = _order(score)
    y, t, s = y[order], t[order], score[order]
    w = np.ones((1, len(y))) if weights is None else np.atleast_2d(weights)[:, order]
    idx = _thresholds(s)
    n = np.cumsum(w, axis=1)[:, idx]
    n_t = np.cumsum(w * t, axis=1)[:, idx]
    y_t = np.cumsum(w * (y * t), axis=1)[:, idx]
    y_c = np.cumsum(w * (y * (1 - t)), axis=1)[:, idx]
    return n, n_t, y_t, n - n_t, y_c


def _start_at_zero(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prepend the point (0, 0) (scikit-uplift adds it when the curve does not start there)."""
    zeros = np.zeros((x.shape[0], 1))
    return np.hstack([zeros, x]), np.hstack([zeros, v])


def _squeeze(x, v, weights):
    return (x[0], v[0]) if weights is None or np.ndim(weights) == 1 else (x, v)


# ------------------------------------------------------------------------------------ curves
def uplift_curve(y, score, treatment, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Points (customers targeted, extra outcomes if they were all treated) of the uplift curve.

    With ``weights`` of shape (B, n) the curves of B weighted replicates, shape (B, points)."""
    y, score, t = _arrays(y, score, treatment)
    n, n_t, y_t, n_c, y_c = _cumulative(y, score, t, weights)
    values = (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n
    return _squeeze(*_start_at_zero(n, values), weights)


def qini_curve(y, score, treatment, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Points (customers targeted, extra outcomes among their treated) of the Qini curve."""
    y, score, t = _arrays(y, score, treatment)
    n, n_t, y_t, n_c, y_c = _cumulative(y, score, t, weights)
    values = y_t - y_c * _ratio(n_t, n_c)
    return _squeeze(*_start_at_zero(n, values), weights)


def _check_binary(y: np.ndarray, what: str) -> None:
    if not np.isin(y, (0.0, 1.0)).all():
        raise UpliftError(f"{what} needs a 0/1 outcome; for amounts use the absolute areas")


def perfect_qini_curve(
    y, treatment, *, negative_effect: bool = True, weights=None
) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of a perfect ranking of the realised outcomes (module docstring)."""
    y, _, t = _arrays(y, np.zeros(len(y)), treatment)
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t, weights=weights)
    w = np.ones((1, len(y))) if weights is None else np.atleast_2d(weights)
    n = w.sum(axis=1)
    r = (w * y * t).sum(axis=1) - (w * t).sum(axis=1) * _ratio(
        (w * y * (1 - t)).sum(axis=1), (w * (1 - t)).sum(axis=1)
    )
    x = np.column_stack([np.zeros_like(n), r, n])
    v = np.column_stack([np.zeros_like(n), r, r])
    return _squeeze(x, v, weights)


def perfect_uplift_curve(y, treatment, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve of a perfect ranking (binary outcome; see the module docstring)."""
    y, _, t = _arrays(y, np.zeros(len(y)), treatment)
    _check_binary(y, "the perfect uplift curve")
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2.0 * (y == t) + summand, t, weights=weights)


# ------------------------------------------------------------------------------------- areas
def auc(x: np.ndarray, v: np.ndarray) -> np.ndarray | float:
    """Trapezoid area under the points (x, v) (along the last axis)."""
    return np.trapezoid(v, x, axis=-1)


def _above_random(x: np.ndarray, v: np.ndarray) -> np.ndarray | float:
    """Area between the curve and the straight line from (0, 0) to its end point."""
    return auc(x, v) - x[..., -1] * v[..., -1] / 2


def qini_area(y, score, treatment, *, weights=None) -> np.ndarray | float:
    """Absolute area between the Qini curve and random targeting (outcome units x customers)."""
    return _above_random(*qini_curve(y, score, treatment, weights=weights))


def uplift_area(y, score, treatment, *, weights=None) -> np.ndarray | float:
    """Absolute area between the uplift curve and random targeting."""
    return _above_random(*uplift_curve(y, score, treatment, weights=weights))


def perfect_qini_area(y, treatment, *, negative_effect: bool = True, weights=None):
    """Area between the perfect Qini curve and random targeting (the normaliser of
    :func:`qini_auc_score`; the same for every ranking of the same rows, so computed once)."""
    return _above_random(
        *perfect_qini_curve(y, treatment, negative_effect=negative_effect, weights=weights)
    )


def qini_auc_score(y, score, treatment, *, negative_effect: bool = True, weights=None):
    """Normalised area under the Qini curve (the Qini coefficient): area above random divided
    by the perfect curve's area above random. Random targeting: 0 on average; perfect: 1."""
    actual = qini_area(y, score, treatment, weights=weights)
    best = _above_random(
        *perfect_qini_curve(y, treatment, negative_effect=negative_effect, weights=weights)
    )
    return actual / best


def uplift_auc_score(y, score, treatment, *, weights=None):
    """Normalised area under the uplift curve (as :func:`qini_auc_score`, with uplift curves)."""
    actual = uplift_area(y, score, treatment, weights=weights)
    best = _above_random(*perfect_uplift_curve(y, treatment, weights=weights))
    return actual / best


# ---------------------------------------------------------------------------------- top k
def _top_n(n: int, k: float | int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise UpliftError(f"k must be a share in (0, 1) or a number of rows, got {k!r}")
    if isinstance(k, int | np.integer):
        if not 0 < k < n:
            raise UpliftError(f"k = {k} rows must be between 1 and {n - 1} (there are {n} rows)")
        return int(k)
    if not 0 < k < 1:
        raise UpliftError(f"k = {k} must be a share between 0 and 1, e.g. 0.2 for the top 20%")
    return int(n * k)


def uplift_at_k(y, score, treatment, k: float | int = 0.2, *, strategy: str = "overall") -> float:
    """Mean outcome of the treated minus that of the control among the top ``k`` rows.

    ``strategy="overall"``: the top ``k`` of all rows; ``"by_group"``: the top ``k`` of each arm
    separately (``k`` a share of each arm, or that many rows of each)."""
    y, score, t = _arrays(y, score, treatment)
    order = _order(score)
    ys, ts = y[order], t[order]
    if strategy == "overall":
        top = _top_n(len(y), k)
        yt, tt = ys[:top], ts[:top]
        if tt.all() or not tt.any():
            raise UpliftError(f"the top {top} rows hold only one arm; uplift at k is undefined")
        return float(yt[tt == 1].mean() - yt[tt == 0].mean())
    if strategy == "by_group":
        treated, control = ys[ts == 1], ys[ts == 0]
        if isinstance(k, float):
            n_t, n_c = int(len(treated) * k), int(len(control) * k)
        else:
            n_t = n_c = int(k)
        if not (0 < n_t <= len(treated) and 0 < n_c <= len(control)):
            raise UpliftError(f"k = {k} is more rows than an arm holds or none at all")
        return float(treated[:n_t].mean() - control[:n_c].mean())
    raise UpliftError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Poisson(1) row weights, shape (n_boot, n): a bootstrap that needs no re-sorting."""
    return np.random.default_rng(seed).poisson(1.0, size=(n_boot, n)).astype(float)


@dataclass(frozen=True)
class EffectKept:
    """Share of the campaign's effect the top ``k`` of the ranking keeps, with its interval.

    ``kept``: extra outcomes if only the top ``k`` were treated; ``total``: extra outcomes if
    everyone were treated; ``share = kept / total``. The interval is a percentile interval of
    the Poisson bootstrap; it is NaN-free only when the total effect stays away from 0."""

    k: float
    n_top: int
    kept: float
    total: float
    share: float
    ci_low: float
    ci_high: float
    total_ci_low: float
    total_ci_high: float
    level: float

    @property
    def total_is_clear(self) -> bool:
        """Whether the campaign's total effect is clearly above 0 (its interval excludes 0)."""
        return self.total_ci_low > 0


def _kept_and_total(ys, ts, w, top):
    """(kept, total) per replicate from rows already in ranking order; w: (B, n)."""

    def extra(cols):
        ww = w[:, cols]
        n_t = (ww * ts[cols]).sum(axis=1)
        n_c = (ww * (1 - ts[cols])).sum(axis=1)
        y_t = (ww * ys[cols] * ts[cols]).sum(axis=1)
        y_c = (ww * ys[cols] * (1 - ts[cols])).sum(axis=1)
        return (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * ww.sum(axis=1)

    return extra(slice(0, top)), extra(slice(None))


def effect_kept(
    y,
    score,
    treatment,
    k: float = 0.2,
    *,
    level: float = 0.95,
    n_boot: int = 500,
    seed: int = 0,
    chunk: int = 50,
) -> EffectKept:
    """How much of the campaign's effect targeting only the top ``k`` share would have kept.

    ``kept`` = uplift at k (overall) x rows in the top k: the extra outcomes if only they were
    treated; ``total`` = the same for all rows. Interval: Poisson bootstrap over rows (``n_boot``
    replicates, ``chunk`` at a time so memory stays at ``chunk x n`` floats), percentile."""
    y, score, t = _arrays(y, score, treatment)
    top = _top_n(len(y), k)
    order = _order(score)
    ys, ts = y[order], t[order]
    kept, total = (float(a[0]) for a in _kept_and_total(ys, ts, np.ones((1, len(y))), top))
    shares, totals = [], []
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, chunk):
        w = rng.poisson(1.0, size=(min(chunk, n_boot - start), len(y))).astype(float)
        a, b = _kept_and_total(ys, ts, w, top)
        shares.append(_ratio(a, b))
        totals.append(b)
    s, tot = np.concatenate(shares), np.concatenate(totals)
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(s, q) if n_boot else (np.nan, np.nan)
    t_lo, t_hi = np.quantile(tot, q) if n_boot else (np.nan, np.nan)
    return EffectKept(
        k=float(top / len(y)) if isinstance(k, int) else float(k),
        n_top=top,
        kept=kept,
        total=total,
        share=kept / total if total != 0 else float("nan"),
        ci_low=float(lo),
        ci_high=float(hi),
        total_ci_low=float(t_lo),
        total_ci_high=float(t_hi),
        level=level,
    )

"""Next purchase and lifetime value: BG/NBD, Gamma-Gamma, discounted CLV and a propensity model.

The Buy-Till-You-Die models take the clv-convention features of :func:`segwork.rfm.features`
(frequency = repeat purchase periods, recency = first to last purchase, T = first purchase to
the end of observation, monetary = mean spend per repeat purchase period, 0 without one), as
lifetimes and PyMC-Marketing do. Times are in the unit of the features (days by default).

* :class:`BetaGeo` - the BG/NBD model of Fader, Hardie & Lee (2005), "Counting your customers
  the easy way". Maximum likelihood on the distinct (frequency, recency, T) triples weighted by
  their counts, so a million customers cost as much as their distinct histories. One-time buyers
  (frequency 0) are alive with probability 1: in BG/NBD dropout happens only right after a
  repeat purchase.
* :class:`GammaGamma` - spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted on
  repeat buyers only; it assumes spend is independent of frequency (checked, in ``summary``).
* :func:`customer_lifetime_value` - expected purchases per month times expected spend,
  discounted monthly (the lifetimes convention: a month is 30 days or 4.345 weeks).
* :func:`build_propensity_dataset`, :class:`PropensityModel`, :func:`temporal_holdout` - a
  scikit-learn classifier on features at a cutoff date predicting a purchase in the next
  horizon, evaluated on the last horizon before the analysis date.
* :func:`compare_on_holdout` - BG/NBD and the propensity model predicting the same holdout,
  with the confidence interval of their AUC difference (:func:`auc_difference`, DeLong).
* :func:`analyse_rfm_clv` - the computation behind notebook 02: RFM, migration, the models and
  their comparison, with every section the data cannot support left out in one plain sentence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from segwork.customers import interaction_counts, order_behaviour
from segwork.errors import SegworkError
from segwork.schema import as_ibis, is_purchase, require_columns

__all__ = [
    "MONTH_IN_UNITS",
    "BetaGeo",
    "CLVError",
    "CLVWarning",
    "GammaGamma",
    "HoldoutComparison",
    "HoldoutResult",
    "PropensityModel",
    "RfmClvResult",
    "analyse_rfm_clv",
    "auc_difference",
    "bgnbd_log_likelihood",
    "build_propensity_dataset",
    "calibration_plot",
    "calibration_table",
    "compare_on_holdout",
    "comparison_text",
    "customer_lifetime_value",
    "customer_table",
    "gamma_gamma_log_likelihood",
    "groups_plot",
    "propensity_inputs_text",
    "temporal_holdout",
    "value_by_segment",
]


class CLVError(SegworkError, ValueError):
    """Input the models cannot use; the message says which rows or columns and what to do."""


class CLVWarning(UserWarning):
    """A fit that ran but whose result needs care (assumption violated, parameter at a bound)."""


# one month in units of the features; the lifetimes / PyMC-Marketing ``customer_lifetime_value``
MONTH_IN_UNITS = {"D": 30.0, "W": 4.345, "M": 1.0, "H": 30.0 * 24.0}
_BG = ("r", "alpha", "a", "b")
_GG = ("p", "q", "v")
_LOG_BOUND = 18.0  # search box for log-parameters: exp(18) ~ 6.6e7


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        if isinstance(values, pd.Series | pd.Index):
            arr = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            arr = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise CLVError(f"column {name!r} must be numeric: {exc}") from None
    return np.atleast_1d(arr)


def _reject(mask: np.ndarray, index: pd.Index | None, problem: str, fix: str) -> None:
    if not mask.any():
        return
    if index is not None:
        examples = ", ".join(map(str, index[mask][:3]))
        where = f"{index.name or 'row'} {examples}"
    else:
        where = "position " + ", ".join(map(str, np.flatnonzero(mask)[:3]))
    raise CLVError(f"clv features: {problem} in {int(mask.sum()):,} row(s) (e.g. {where}); {fix}")


def _histories(
    frequency: Any, recency: Any = None, T: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index | None]:
    """Validated (x, t_x, T) arrays from a clv features frame or three array-likes."""
    index = None
    if isinstance(frequency, pd.DataFrame):
        df = frequency
        missing = [c for c in ("frequency", "recency", "T") if c not in df.columns]
        if missing:
            raise CLVError(
                f"clv features need columns frequency, recency and T; missing {missing} "
                f"(columns present: {list(df.columns)}). Use "
                "segwork.rfm.features(orders, analysis_date=..., convention='clv')."
            )
        index = df.index
        frequency, recency, T = df["frequency"], df["recency"], df["T"]
    elif recency is None or T is None:
        raise CLVError("give a clv features frame, or all three of frequency, recency and T")
    x, tx, t = (
        _as_float(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"))
    )
    if not x.shape == tx.shape == t.shape:
        raise CLVError(
            f"frequency, recency and T must have the same length (got {len(x)}, {len(tx)}, {len(t)})"
        )
    if len(x) == 0:
        raise CLVError(
            "no customers: the clv features are empty (no purchase before the analysis date?)"
        )
    _reject(
        ~(np.isfinite(x) & np.isfinite(tx) & np.isfinite(t)),
        index,
        "missing or infinite frequency, recency or T",
        "drop or fix those customers",
    )
    _reject(
        (x < 0) | (x != np.round(x)),
        index,
        "frequency that is not a whole number >= 0",
        "frequency counts repeat purchase periods (the clv convention of segwork.rfm.features)",
    )
    _reject(
        (tx < 0) | (tx > t * (1 + 1e-12) + 1e-12),
        index,
        "recency outside [0, T]",
        "recency is the time from the first to the last purchase and cannot exceed T",
    )
    _reject(
        (x == 0) & (tx != 0),
        index,
        "recency > 0 with frequency 0",
        "customers without repeat purchases must have recency 0 (the lifetimes convention); "
        "check that frequency counts repeat purchases, not all purchases",
    )
    return x, tx, t, index


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------
def bgnbd_log_likelihood(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, eq. 6 of Fader, Hardie & Lee (2005), in log space.

    L = B(a, b+x)/B(a, b) * G(r+x) a^r / G(r) * [(a+T)^-(r+x) + d(x>0) a/(b+x-1) (a+t_x)^-(r+x)],
    where the second bracket term exists for repeat buyers only (dropout follows a purchase).
    """
    r, alpha, a, b = (float(p) for p in params)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    rep = x > 0
    head = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * math.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            rep,
            math.log(a) - np.log(np.where(rep, b + x - 1, 1.0)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return head + np.logaddexp(a3, a4)


@dataclass
class _BGData:
    """(x, t_x, T) histories with weights; x-only terms are evaluated once per distinct x."""

    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ux: np.ndarray = field(init=False)
    xi: np.ndarray = field(init=False)
    rep: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ux, self.xi = np.unique(self.x, return_inverse=True)
        self.rep = self.x > 0


def _bg_objective(
    log_p: np.ndarray, d: _BGData, penalizer: float, *, total: bool = False
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood (mean per customer, or the total) and its gradient in log-parameters."""
    theta = np.exp(log_p)
    r, alpha, a, b = theta
    ux, xi = d.ux, d.xi
    head_u = (
        special.gammaln(r + ux)
        - special.gammaln(r)
        + r * math.log(alpha)
        + special.betaln(a, b + ux)
        - special.betaln(a, b)
    )
    log_ratio_u = math.log(a) - np.log(np.where(ux > 0, b + ux - 1, 1.0))  # log a/(b+x-1)
    rx = r + d.x
    log_T, log_tx = np.log(alpha + d.T), np.log(alpha + d.tx)
    a3 = -rx * log_T
    a4 = np.where(d.rep, log_ratio_u[xi] - rx * log_tx, -np.inf)
    m = np.logaddexp(a3, a4)
    ll = head_u[xi] + m
    w3, w4 = np.exp(a3 - m), np.exp(a4 - m)  # posterior weights of "alive" and "dropped out"
    psi_rx = special.digamma(r + ux)[xi]
    psi_abx = special.digamma(a + b + ux)[xi]
    psi_bx = special.digamma(b + ux)[xi]
    inv_bx1 = np.where(ux > 0, 1.0 / np.where(ux > 0, b + ux - 1, 1.0), 0.0)[xi]
    d_r = psi_rx - special.digamma(r) + math.log(alpha) - w3 * log_T - w4 * log_tx
    d_alpha = r / alpha - rx * (w3 / (alpha + d.T) + w4 / (alpha + d.tx))
    d_a = special.digamma(a + b) - psi_abx + w4 / a
    d_b = psi_bx - psi_abx - special.digamma(b) + special.digamma(a + b) - w4 * inv_bx1
    grad = np.array([d.w @ d_r, d.w @ d_alpha, d.w @ d_a, d.w @ d_b])
    value = float(d.w @ ll)
    if not total:
        n = d.w.sum()
        value, grad = value / n, grad / n
    f = -value + penalizer * float(theta @ theta)
    g = -grad * theta + 2.0 * penalizer * theta * theta
    return f, g


def _minimise(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray
) -> optimize.OptimizeResult:
    """L-BFGS-B with the analytic gradient over a box of log-parameters."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    return optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 5000, "maxfun": 20000, "ftol": 1e-15, "gtol": 1e-10},
    )


def _log_covariance(
    grad_total: Callable[[np.ndarray], np.ndarray],
    log_p: np.ndarray,
    at_edge: Sequence[int] = (),
) -> np.ndarray:
    """Covariance of the log-parameters: inverse of the Hessian of the total negative
    log-likelihood, by central differences of its analytic gradient.

    The data carry no information along a direction in which the Hessian is not positive
    (flat, curving down, or not finite), as when the fit runs off towards 0 or infinity. Every
    parameter that moves along such a direction, and every parameter at the edge of the search
    box (``at_edge``), gets an infinite variance (its covariances NaN), whatever form the
    degenerate Hessian takes (singular, indefinite, NaN); the others get the inverse of the
    Hessian on the identified directions (the plain inverse when the Hessian is positive definite).
    """
    k = len(log_p)
    h = 1e-5
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[i] = (grad_total(log_p + e) - grad_total(log_p - e)) / (2 * h)
    hess = (hess + hess.T) / 2
    return _covariance_from_hessian(hess, at_edge)


def _covariance_from_hessian(hess: np.ndarray, at_edge: Sequence[int] = ()) -> np.ndarray:
    """Inverse of a symmetric Hessian, infinite variance for the directions it does not identify
    (see :func:`_log_covariance`)."""
    k = len(hess)
    loose = ~np.isfinite(hess).all(axis=1)
    loose[list(at_edge)] = True
    keep = np.flatnonzero(~loose)
    cov = np.full((k, k), np.nan)
    if keep.size:
        vals, vecs = np.linalg.eigh(hess[np.ix_(keep, keep)])
        good = vals > 1e-9 * max(float(np.abs(vals).max()), 1e-300)
        cov[np.ix_(keep, keep)] = (vecs[:, good] / vals[good]) @ vecs[:, good].T
        # a parameter moves along a non-identified direction if it loads on it visibly
        loose[keep[(np.abs(vecs[:, ~good]) > 0.03).any(axis=1)]] = True
    cov[loose, :] = np.nan
    cov[:, loose] = np.nan
    cov[loose, loose] = np.inf
    return cov


def _converged(res: optimize.OptimizeResult) -> bool:
    return bool(res.success or np.max(np.abs(res.jac)) < 1e-5)


def _at_edge(res: optimize.OptimizeResult) -> list[int]:
    """Positions of the log-parameters that ran to the edge of the search box."""
    return [i for i, v in enumerate(res.x) if abs(v) > _LOG_BOUND - 0.5]


def _fit_problems(
    model: str, res: optimize.OptimizeResult, names: Sequence[str], cov_log: np.ndarray, advice: str
) -> tuple[list[str], str | None]:
    """The parameters the data do not pin down and a warning text, or ([], None).

    A parameter is flagged when it ran to the edge of the search box or is not identified:
    standard error of its logarithm not below 2 (a 95% interval wider than a factor e^7.8, about
    2,500), infinite or undefined, whatever form the degenerate Hessian takes. (Measured: on CDNOW
    and the demo every standard error of a log-parameter is below 0.6; on an invoice export where
    BG/NBD finds nobody dropping out, log a and log b have 3.0 and 3.3.) A fit that stopped early
    is flagged too. The warning (a :class:`CLVWarning`) is issued here.
    """
    with np.errstate(invalid="ignore"):
        se_log = np.sqrt(np.diag(cov_log))
    edge = _at_edge(res)
    at_bound = [names[i] for i in edge]
    loose = [n for n, s in zip(names, se_log, strict=True) if not s < 2 and n not in at_bound]
    problems = []
    if at_bound:
        problems.append(f"parameter(s) {', '.join(at_bound)} ran to the edge of the search")
    if loose:
        problems.append(
            f"parameter(s) {', '.join(loose)} are not identified (infinite or huge standard errors)"
        )
    if not _converged(res):
        problems.append(f"the optimiser did not converge ({res.message})")
    if not problems:
        return [], None
    text = f"{model} fit: {'; '.join(problems)}; the data hardly identify the model - {advice}"
    warnings.warn(text, CLVWarning, stacklevel=3)
    return at_bound + loose, text


def _fit_bgnbd(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray, penalizer: float = 0.0
) -> tuple[np.ndarray, optimize.OptimizeResult, float]:
    """Maximum likelihood of BG/NBD on (possibly aggregated) histories with weights ``w``.

    Time is rescaled so that max T = 10 (as lifetimes does), which keeps alpha near 1 during the
    search; the penalizer (an L2 term on the parameters, lifetimes' ``penalizer_coef``) applies
    in that scale. Returns (r, alpha, a, b) in the original time unit, the optimiser result and
    the time scale.
    """
    scale = 10.0 / T.max() if T.max() > 0 else 1.0
    data = _BGData(x, tx * scale, T * scale, w)
    res = _minimise(lambda lp: _bg_objective(lp, data, penalizer), np.zeros(4))
    theta = np.exp(res.x)
    theta[1] /= scale
    return theta, res, scale


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of equal-length columns, the row of each input and the counts.

    Each column is coded by its distinct values and the codes are combined into one integer
    key, so a million customers cost a few 1-d sorts (np.unique with ``axis=0`` sorts rows as
    byte strings and is about ten times slower).
    """
    values, codes = zip(*(np.unique(c, return_inverse=True) for c in columns), strict=True)
    sizes = [len(v) for v in values]
    if math.prod(sizes) < 2**62:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for code, size in zip(codes, sizes, strict=True):
            key = key * size + code.ravel()
        ukey, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        out = []
        for vals, size in zip(values[::-1], sizes[::-1], strict=True):
            ukey, code = np.divmod(ukey, size)
            out.append(vals[code])
        return out[::-1], inverse.ravel(), counts
    uniq, inverse, counts = np.unique(  # pragma: no cover - over 2^62 value combinations
        np.column_stack(columns), axis=0, return_inverse=True, return_counts=True
    )
    return list(uniq.T), inverse.ravel(), counts


def _unique_histories(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows (n x 3), the row of each customer, counts and float weights."""
    cols, inverse, counts = _unique_rows(x, tx, T)
    return np.column_stack(cols), inverse, counts, counts.astype(float)


class BetaGeo:
    """BG/NBD: expected purchases of each customer and the chance they are still active.

    Purchase rates are Gamma(r, alpha) across customers (rate parametrisation: mean r/alpha
    purchases per time unit) and after every repeat purchase a customer drops out with a
    probability p ~ Beta(a, b). ``params_`` = {r, alpha, a, b}, alpha in the time unit of the
    features. ``penalizer`` adds ``penalizer * sum(params**2)`` to the mean negative
    log-likelihood (in rescaled time, as lifetimes' ``penalizer_coef``); 0 is plain maximum
    likelihood. Standard errors come from the inverse Hessian of the unpenalised likelihood.
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(
        self, clv_features: pd.DataFrame | None = None, *, frequency=None, recency=None, T=None
    ) -> BetaGeo:
        """Fit on a clv features frame (columns frequency, recency, T) or on three arrays."""
        if self.penalizer < 0:
            raise CLVError(f"penalizer must be >= 0, got {self.penalizer}")
        source = clv_features if clv_features is not None else frequency
        x, tx, t, _ = _histories(source, recency, T)
        if x.max() == 0:
            raise CLVError(
                f"none of the {len(x):,} customers has a repeat purchase: BG/NBD cannot separate "
                "the purchase rate from dropout. Use a longer history (analysis date later, or no "
                "window) or the propensity model."
            )
        uniq, inverse, counts, w = _unique_histories(x, tx, t)
        if len(uniq) < 4:
            raise CLVError(
                f"only {len(uniq)} distinct customer histories (frequency, recency, T): the four "
                "BG/NBD parameters are not identified. The model needs customers who differ in "
                "how often, how recently and since when they buy."
            )
        theta, res, scale = _fit_bgnbd(uniq[:, 0], uniq[:, 1], uniq[:, 2], w, self.penalizer)
        self.params_ = dict(zip(_BG, map(float, theta), strict=True))
        data = _BGData(uniq[:, 0], uniq[:, 1], uniq[:, 2], w)
        log_p = np.log(theta)
        self.log_likelihood_ = -_bg_objective(log_p, data, 0.0, total=True)[0]
        cov = _log_covariance(
            lambda lp: _bg_objective(lp, data, 0.0, total=True)[1], log_p, _at_edge(res)
        )
        self.covariance_log_ = cov  # of (log r, log alpha, log a, log b)
        self.standard_errors_ = dict(
            zip(_BG, map(float, theta * np.sqrt(np.diag(cov))), strict=True)
        )  # delta method
        self.converged_ = _converged(res)
        self.n_iterations_ = int(res.nit)
        self.n_customers_ = len(x)
        self.n_triples_ = len(uniq)
        self.n_repeat_buyers_ = int((x > 0).sum())
        self.time_unit_ = (
            clv_features.attrs.get("time_unit") if isinstance(clv_features, pd.DataFrame) else None
        )
        self._data = (x, tx, t)
        self.weak_parameters_, self.fit_warning_ = _fit_problems(
            "BG/NBD", res, _BG, cov, "use a longer history or a penalizer"
        )
        return self

    def caveats(self) -> list[str]:
        """Plain sentences for the page when the fit cannot be trusted (empty when it can).

        Said when a parameter is not pinned down (see :func:`_fit_problems`), the optimiser did
        not converge, or the fit calls most of the repeat buyers who have gone longest without a
        purchase (the top quarter by time since the last purchase) at least 99% likely still
        active, i.e. it sees nobody leave. The text shows that consequence on the fitted
        customers. (Measured: 0% of that quarter on CDNOW and the demo, 95% on an invoice export
        whose fit puts the dropout probability near 0.)
        """
        self._check()
        x, tx, t = self._data
        rep = x > 0
        pa = self.p_alive()
        sure = float((pa[rep] >= 0.99).mean()) if rep.any() else float("nan")
        gap = t - tx
        long_gap = rep & (gap >= np.quantile(gap[rep], 0.75)) if rep.any() else rep
        sure_gap = float((pa[long_gap] >= 0.99).mean()) if long_gap.any() else float("nan")
        sees_nobody_leave = bool(long_gap.any() and sure_gap >= 0.5)
        if not self.weak_parameters_ and self.converged_ and not sees_nobody_leave:
            return []
        r, alpha, a, b = self._theta()
        weak = set(self.weak_parameters_)
        what = []
        if weak & {"a", "b"}:
            what.append(
                f"how likely customers are to stop buying (it estimates a {a / (a + b):.1%} "
                "chance of stopping after each purchase)"
            )
        if weak & {"r", "alpha"}:
            what.append("how often customers buy")
        if not what and not self.converged_:
            what.append("its parameters (the optimiser did not converge)")
        if what:
            text = (
                "The BG/NBD model cannot be trusted on this data: the purchase histories do not "
                f"pin down {' or '.join(what)}."
            )
        else:
            text = (
                "The BG/NBD model sees almost nobody stop buying on this data (it estimates a "
                f"{a / (a + b):.1%} chance of stopping after each purchase)."
            )
        if rep.any() and max(sure, sure_gap) >= 0.5:
            text += (
                f" As a result it calls {sure:.0%} of repeat buyers at least 99% likely still "
                f"active, and {sure_gap:.0%} of the quarter who have gone longest without a "
                "purchase."
            )
        text += (
            " Do not use its chance-still-active or lifetime value to decide whom to win back; "
            "rank by the time since the last purchase instead."
        )
        return [text]

    # ---- predictions -------------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: BetaGeo().fit(clv_features)")

    def _args(self, frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._check()
        if frequency is None:
            if not hasattr(self, "_data"):
                raise CLVError("give frequency, recency and T (this model holds no fitted data)")
            return self._data
        return _histories(frequency, recency, T)[:3]

    def _theta(self) -> tuple[float, float, float, float]:
        return tuple(float(self.params_[k]) for k in _BG)  # type: ignore[return-value]

    def p_alive(self, frequency=None, recency=None, T=None) -> np.ndarray:
        """P(still active at T | history) (Fader, Hardie & Lee 2008, note 021).

        1 for customers without a repeat purchase: in BG/NBD a customer can only drop out right
        after a repeat purchase. Defaults to the fitted customers; ``frequency`` may also be a
        clv features frame.
        """
        x, tx, t = self._args(frequency, recency, T)
        r, alpha, a, b = self._theta()
        rep = x > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (
                math.log(a)
                - np.log(np.where(rep, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
            )
        return np.where(rep, special.expit(-log_odds_dead), 1.0)

    def expected_purchases(
        self, t: float | np.ndarray, frequency=None, recency=None, T=None
    ) -> np.ndarray:
        """Expected number of purchases in the next ``t`` time units given the history (eq. 10).

        Computed as P(alive) times the unconditional expectation under the posterior parameters
        (r + x, alpha + T, a, b + x), with the Euler transformation of the hypergeometric term
        (numerically stable for large x and long horizons).
        """
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, a, b = self._theta()
        return self.p_alive(x, tx, tt) * _expected_new(t, r + x, alpha + tt, a, b + x)

    def expected_purchases_new(self, t: float | np.ndarray) -> float | np.ndarray:
        """Expected purchases in (0, t] of a newly acquired customer (unconditional, eq. 9)."""
        self._check()
        out = _expected_new(np.asarray(t, dtype=float), *self._theta())
        return float(out) if np.ndim(out) == 0 else out

    def probability_of_purchases(
        self, n: int, t: float, frequency=None, recency=None, T=None
    ) -> np.ndarray:
        """P(exactly ``n`` purchases in the next ``t`` time units | history).

        Given the history, a customer is alive with probability p_alive and then has posterior
        rate Gamma(r + x, alpha + T) and dropout Beta(a, b + x); the count from T on follows
        eq. 8 of Fader, Hardie & Lee (2005) with those parameters (the process restarts, as
        dropout only follows purchases). A dropped-out customer buys 0 times.
        """
        if n < 0 or int(n) != n:
            raise CLVError(f"n must be a whole number >= 0, got {n}")
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, a, b = self._theta()
        pa = self.p_alive(x, tx, tt)
        pmf = _bgnbd_pmf(int(n), float(t), r + x, alpha + tt, a, b + x)
        return pa * pmf + (1.0 - pa) * (n == 0)

    def p_purchase(self, t: float, frequency=None, recency=None, T=None) -> np.ndarray:
        """P(at least one purchase in the next ``t`` time units | history) = 1 - P(X(t) = 0)."""
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, _, _ = self._theta()
        # 1 - P(0) = p_alive * (1 - ((alpha+T)/(alpha+T+t))^(r+x)); the bracket via expm1/log1p
        return self.p_alive(x, tx, tt) * -np.expm1(-(r + x) * np.log1p(t / (alpha + tt)))

    def summary(self) -> str:
        """Parameters with standard errors, log-likelihood and the size of the data."""
        self._check()
        lines = [
            "BG/NBD (Fader, Hardie & Lee 2005), maximum likelihood",
            "=" * 64,
            f"customers: {self.n_customers_:,}   repeat buyers: {self.n_repeat_buyers_:,}   "
            f"distinct (frequency, recency, T): {self.n_triples_:,}",
            f"log-likelihood: {self.log_likelihood_:,.3f}   converged: {self.converged_}   "
            f"penalizer: {self.penalizer}   time unit: {self.time_unit_ or 'as given'}",
            "",
            f"{'param':<7}{'estimate':>12}{'std err':>12}{'95% CI (log-normal)':>26}",
        ]
        se_log = np.sqrt(np.diag(self.covariance_log_))
        for (k, v), s in zip(self.params_.items(), se_log, strict=True):
            with np.errstate(over="ignore", invalid="ignore"):
                lo, hi = v * np.exp(-1.96 * s), v * np.exp(1.96 * s)
            lines.append(f"{k:<7}{v:>12.4g}{self.standard_errors_[k]:>12.3g}{lo:>13.4g}{hi:>13.4g}")
        r, alpha, a, b = self._theta()
        lines += [
            "",
            f"mean purchase rate r/alpha = {r / alpha:.4g} per time unit; mean dropout "
            f"probability a/(a+b) = {a / (a + b):.3f} after each purchase",
        ]
        return "\n".join(lines)


def _expected_new(t, r, alpha, a, b):
    """E[X(t)] for a customer starting now with parameters (r, alpha, a, b): eq. 9 of FHL 2005.

    (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; z)], z = t/(alpha+t), rewritten
    with 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) as
    (a+b-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z)].
    """
    t = np.asarray(t, dtype=float)
    if abs(a - 1.0) < 1e-7:  # removable singularity at a = 1
        a = 1.0 + 1e-7
    c = a + b - 1.0
    z = t / (alpha + t)
    log1mz = -np.log1p(t / alpha)
    bracket = -np.expm1((a - 1.0) * log1mz) - np.exp((a - 1.0) * log1mz) * (
        special.hyp2f1(c - r, a - 1.0, c, z) - 1.0
    )
    return c / (a - 1.0) * bracket


def _bgnbd_pmf(n: int, t: float, r, alpha, a, b) -> np.ndarray:
    """P(X(t) = n) of a customer starting now with parameters (r, alpha, a, b): eq. 8 of FHL 2005.

    B(a, b+n)/B(a, b) NB(n; r, alpha/(alpha+t)) + [n > 0] B(a+1, b+n-1)/B(a, b) P(NB >= n),
    with NB the negative binomial of the Gamma-Poisson mixture.
    """
    prob = alpha / (alpha + t)
    first = np.exp(
        special.betaln(a, b + n) - special.betaln(a, b) + stats.nbinom.logpmf(n, r, prob)
    )
    if n == 0:
        return first
    second = np.exp(special.betaln(a + 1, b + n - 1) - special.betaln(a, b)) * stats.nbinom.sf(
        n - 1, r, prob
    )
    return first + second


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------
def gamma_gamma_log_likelihood(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-density of the mean spend ``m`` over ``x`` purchases.

    Spends are Gamma(p, nu) (rate nu), nu ~ Gamma(q, v) across customers, so the mean of x
    spends is Gamma(p x, x nu) and, integrating nu out,
    f(m) = G(px+q) / (G(px) G(q)) v^q m^(px-1) x^(px) / (v + x m)^(px+q).
    """
    p, q, v = (float(k) for k in params)
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * math.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _gg_objective(
    log_p: np.ndarray,
    ux: np.ndarray,
    xi: np.ndarray,
    m: np.ndarray,
    w: np.ndarray,
    penalizer: float,
    total: bool = False,
) -> tuple[float, np.ndarray]:
    """Negative Gamma-Gamma log-likelihood and gradient in log-parameters; terms that depend on
    x alone are evaluated once per distinct x (``ux``, gathered by ``xi``)."""
    theta = np.exp(log_p)
    p, q, v = theta
    x = ux[xi]
    px = p * x
    log_xm_v = np.log(x * m + v)
    log_m = np.log(m)
    pux = p * ux
    ll = (
        (special.gammaln(pux + q) - special.gammaln(pux) + pux * np.log(ux))[xi]
        - special.gammaln(q)
        + q * math.log(v)
        + (px - 1) * log_m
        - (px + q) * log_xm_v
    )
    psi = special.digamma(pux + q)
    d_p = x * ((psi - special.digamma(pux) + np.log(ux))[xi] + log_m - log_xm_v)
    d_q = psi[xi] - special.digamma(q) + math.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    grad = np.array([w @ d_p, w @ d_q, w @ d_v])
    value = float(w @ ll)
    if not total:
        value, grad = value / w.sum(), grad / w.sum()
    return -value + penalizer * float(theta @ theta), -grad * theta + 2 * penalizer * theta**2


class GammaGamma:
    """Gamma-Gamma spend model: expected spend per purchase, shrunk towards the population mean.

    ``params_`` = {p, q, v}: a customer's spends are Gamma(p, nu) with nu ~ Gamma(q, v) across
    customers (mean spend p v / (q - 1)). Fitted on repeat buyers (frequency > 0, monetary > 0)
    by maximum likelihood; monetary is in the shop currency (scaled internally). The model
    assumes spend does not depend on frequency; the fit reports their Pearson correlation among
    repeat buyers and warns (:class:`CLVWarning`) when it is 0.3 or more in absolute value.
    """

    CORRELATION_LIMIT = 0.3

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(
        self, clv_features: pd.DataFrame | None = None, *, frequency=None, monetary=None
    ) -> GammaGamma:
        """Fit on a clv features frame (columns frequency, monetary) or on two arrays."""
        if self.penalizer < 0:
            raise CLVError(f"penalizer must be >= 0, got {self.penalizer}")
        x, m, index = self._inputs(clv_features, frequency, monetary)
        _reject(
            ~(np.isfinite(x) & np.isfinite(m)),
            index,
            "missing frequency or monetary",
            "drop or fix them",
        )
        keep = (x > 0) & (m > 0)
        self.n_excluded_ = int((~keep).sum())
        self.n_nonpositive_spend_ = int(((x > 0) & (m <= 0)).sum())
        if keep.sum() < 3:
            raise CLVError(
                f"Gamma-Gamma needs repeat buyers with positive spend (frequency > 0 and monetary > 0); "
                f"found {int(keep.sum())} of {len(x):,} customers. With (almost) no repeat buyers "
                "use the mean order value instead."
            )
        x, m = x[keep], m[keep]
        if np.unique(m).size < 2:
            raise CLVError(
                f"all {len(m):,} repeat buyers have the same mean spend ({m[0]:g}): the spread "
                "between customers, which Gamma-Gamma estimates, is not identified"
            )
        scale = float(np.median(m))
        (rx, rm), _, counts = _unique_rows(x, m)  # distinct (x, m) pairs with their counts
        ux, xi = np.unique(rx, return_inverse=True)
        w = counts.astype(float)
        x0 = np.array([0.0, math.log(2.0), 0.0])
        res = _minimise(lambda lp: _gg_objective(lp, ux, xi, rm / scale, w, self.penalizer), x0)
        theta = np.exp(res.x)
        theta[2] *= scale
        self.params_ = dict(zip(_GG, map(float, theta), strict=True))
        log_p = np.log(theta)
        self.log_likelihood_ = -_gg_objective(log_p, ux, xi, rm, w, 0.0, total=True)[0]
        cov = _log_covariance(
            lambda lp: _gg_objective(lp, ux, xi, rm, w, 0.0, total=True)[1], log_p, _at_edge(res)
        )
        self.covariance_log_ = cov
        self.standard_errors_ = dict(
            zip(_GG, map(float, theta * np.sqrt(np.diag(cov))), strict=True)
        )
        self.converged_ = _converged(res)
        self.n_customers_ = len(x)
        if x.std() > 0 and m.std() > 0:
            rho, pval = stats.pearsonr(x, m)
        else:
            rho, pval = 0.0, 1.0
        self.frequency_monetary_correlation_ = float(rho)
        self.correlation_pvalue_ = float(pval)
        self._data = (x, m)
        if abs(rho) >= self.CORRELATION_LIMIT:
            warnings.warn(
                f"Gamma-Gamma assumes spend per purchase is independent of frequency, but their "
                f"correlation among repeat buyers is {rho:+.2f}: expected spend (and CLV) will be "
                "biased; consider modelling spend per segment instead",
                CLVWarning,
                stacklevel=2,
            )
        self.weak_parameters_, self.fit_warning_ = _fit_problems(
            "Gamma-Gamma", res, _GG, cov, "treat expected spend with care"
        )
        return self

    def caveats(self) -> list[str]:
        """Plain sentences for the page when the spend model cannot be trusted (empty if it can)."""
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: GammaGamma().fit(clv_features)")
        out = []
        rho = self.frequency_monetary_correlation_
        if abs(rho) >= self.CORRELATION_LIMIT:
            out.append(
                "The spend model assumes that how much customers spend per purchase does not "
                f"depend on how often they buy, but here the two are correlated ({rho:+.2f} among "
                f"the {self.n_customers_:,} repeat buyers): expected spend and lifetime value are "
                "biased for frequent buyers."
            )
        if self.untrusted:
            out.append(
                "The spend model cannot be trusted on this data: the repeat buyers' spends do not "
                "pin down its parameters, so expected spend per purchase is a rough guess."
            )
        return out

    @property
    def untrusted(self) -> bool:
        """The data do not pin down the parameters (a weak parameter or a fit that stopped
        early, see :func:`_fit_problems`): expected spend, and so lifetime value, is a guess."""
        return bool(self.weak_parameters_) or not self.converged_

    @staticmethod
    def _inputs(features, frequency, monetary) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
        if isinstance(features, pd.DataFrame):
            missing = [c for c in ("frequency", "monetary") if c not in features.columns]
            if missing:
                raise CLVError(
                    f"Gamma-Gamma needs columns frequency and monetary (clv convention); missing "
                    f"{missing} (columns present: {list(features.columns)})"
                )
            return (
                _as_float(features["frequency"], "frequency"),
                _as_float(features["monetary"], "monetary"),
                features.index,
            )
        if frequency is None or monetary is None:
            raise CLVError("give a clv features frame, or both frequency and monetary")
        x, m = _as_float(frequency, "frequency"), _as_float(monetary, "monetary")
        if x.shape != m.shape:
            raise CLVError(
                f"frequency and monetary must have the same length ({len(x)} vs {len(m)})"
            )
        if len(x) == 0:
            raise CLVError("no customers: the clv features are empty")
        return x, m, None

    def conditional_expected_average_profit(self, frequency=None, monetary=None) -> np.ndarray:
        """E[spend per purchase | x repeat purchases with mean m] = p (v + x m) / (p x + q - 1).

        A weighted mean of the customer's own mean and the population mean p v / (q - 1) (which
        is what customers without repeat purchases get). ``frequency`` may be a features frame;
        without arguments, the fitted repeat buyers.
        """
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: GammaGamma().fit(clv_features)")
        p, q, v = (self.params_[k] for k in _GG)
        if q <= 1:
            raise CLVError(
                f"the population mean spend p v / (q - 1) is infinite (fitted q = {q:.3g} <= 1): "
                "spend is too heavy-tailed for Gamma-Gamma; trim outliers or use a penalizer"
            )
        if frequency is None:
            x, m = self._data
        elif isinstance(frequency, pd.DataFrame):
            x, m, _ = self._inputs(frequency, None, None)
        else:
            x, m, _ = self._inputs(None, frequency, monetary)
        return (p * (v + x * m)) / (p * x + q - 1)

    expected_spend = conditional_expected_average_profit

    def summary(self) -> str:
        """Parameters with standard errors, log-likelihood and the independence check."""
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: GammaGamma().fit(clv_features)")
        rho = self.frequency_monetary_correlation_
        verdict = (
            "fine"
            if abs(rho) < self.CORRELATION_LIMIT
            else "HIGH: the model assumes none, expected spend is biased"
        )
        p, q, v = (self.params_[k] for k in _GG)
        lines = [
            "Gamma-Gamma spend model (Fader, Hardie & Lee 2005), maximum likelihood",
            "=" * 64,
            f"repeat buyers fitted: {self.n_customers_:,}   left out: {self.n_excluded_:,} "
            f"(no repeat purchase or spend <= 0)   converged: {self.converged_}",
            f"log-likelihood: {self.log_likelihood_:,.3f}   penalizer: {self.penalizer}",
            f"Pearson correlation of frequency and mean spend: {rho:+.3f} "
            f"(p = {self.correlation_pvalue_:.2g}) - {verdict}",
            "",
            f"{'param':<7}{'estimate':>12}{'std err':>12}",
        ]
        for k, val in self.params_.items():
            lines.append(f"{k:<7}{val:>12.4g}{self.standard_errors_[k]:>12.3g}")
        if q > 1:
            lines += [
                "",
                f"population mean spend per purchase p v / (q - 1) = {p * v / (q - 1):,.2f}",
            ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# lifetime value
# --------------------------------------------------------------------------------------------
def customer_lifetime_value(
    bgnbd: BetaGeo,
    gg: GammaGamma,
    features: pd.DataFrame,
    *,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    time_unit: str = "D",
) -> pd.Series:
    """Discounted value of each customer's expected purchases over the next ``horizon_months``.

    CLV = sum_{m=1..M} (E[X(m f)] - E[X((m-1) f)]) * E[spend] / (1 + d)^m, with E[X(t)] the
    BG/NBD conditional expectation, E[spend] the Gamma-Gamma conditional mean and f one month in
    the features' time unit (30 days, 4.345 weeks), exactly as lifetimes' and PyMC-Marketing's
    ``customer_lifetime_value``. With d = 0 it is E[X(M f)] * E[spend].
    """
    if time_unit not in MONTH_IN_UNITS:
        raise CLVError(f"time_unit must be one of {sorted(MONTH_IN_UNITS)}, got {time_unit!r}")
    declared = features.attrs.get("time_unit") if isinstance(features, pd.DataFrame) else None
    for source, unit in (
        ("the features", declared),
        ("the BG/NBD fit", getattr(bgnbd, "time_unit_", None)),
    ):
        if unit is not None and unit != time_unit:
            raise CLVError(
                f"time_unit={time_unit!r} but {source} are in {unit!r}: pass time_unit={unit!r}"
            )
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise CLVError(f"horizon_months must be a whole number >= 1, got {horizon_months}")
    if not discount_rate_monthly > -1:
        raise CLVError(f"discount_rate_monthly must be > -1, got {discount_rate_monthly}")
    x, tx, t, _ = _histories(features)
    spend = gg.conditional_expected_average_profit(features)
    # expected purchases depend on (x, t_x, T) only: evaluate once per distinct history
    uniq, inverse, _, _ = _unique_histories(x, tx, t)
    f = MONTH_IN_UNITS[time_unit]
    value = np.zeros(len(uniq))
    previous = np.zeros(len(uniq))
    for m in range(1, int(horizon_months) + 1):
        upto = bgnbd.expected_purchases(m * f, uniq[:, 0], uniq[:, 1], uniq[:, 2])
        value += (upto - previous) / (1.0 + discount_rate_monthly) ** m
        previous = upto
    return pd.Series(
        value[inverse] * spend, index=features.index, name=f"clv_{int(horizon_months)}m"
    )


# --------------------------------------------------------------------------------------------
# propensity
# --------------------------------------------------------------------------------------------
INTERACTION_KINDS = (
    "email_open",
    "email_click",
    "call",
    "meeting",
    "complaint",
    "cart_abandoned",
    "service_contract",
    "web_visit",
)
PROFILE_COLUMNS = ("customer_type", "region", "income_band", "email_opt_in")


def _purchases_between(
    orders: pd.DataFrame | ibis.Table, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Per customer with a purchase (amount >= 0, free items included) in the days (start, end]: orders and distinct
    purchase days, counted in the Ibis backend."""
    t = as_ibis(orders)
    lo, hi = start.normalize() + pd.Timedelta(days=1), end.normalize() + pd.Timedelta(days=1)
    t = t.filter((t.order_date >= lo) & (t.order_date < hi) & is_purchase(t))
    out = (
        t.group_by("customer_id")
        .aggregate(orders=t.count(), purchase_days=t.order_date.truncate("D").nunique())
        .to_pandas()
        .set_index("customer_id")
    )
    return out.astype("int64")


def build_propensity_dataset(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    cutoff: Any,
    horizon_days: int = 90,
    profile_columns: Sequence[str] = PROFILE_COLUMNS,
) -> tuple[pd.DataFrame, pd.Series]:
    """Features known at the end of ``cutoff`` and the label "purchased in (cutoff, cutoff + h]".

    Population: customers with at least one purchase (amount >= 0, not a return) on or before the cutoff.
    Features (aggregated in the Ibis backend, only per-customer rows come to pandas):
    orders and revenue in total and in the last 30/90/365 days, returns, average order value,
    days since the last order (recency), days since the first (tenure); interactions of the
    last 365 days per kind (email clicks, complaints, abandoned carts, ...), complaints ever and
    a service-contract flag; profile columns of the customers table that exist. Nothing after
    the cutoff enters the features. The label is False for everyone when the horizon lies past
    the end of the data (as when scoring at the analysis date).
    """
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise CLVError(f"horizon_days must be a whole number of days >= 1, got {horizon_days}")
    cut = pd.Timestamp(cutoff).normalize()
    beh = order_behaviour(orders, analysis_date=cut)
    beh = beh[beh["orders_total"] > 0]
    if beh.empty:
        raise CLVError(
            f"table 'orders': no customer has a purchase on or before {cut.date()}: "
            "nothing to learn from; choose a later cutoff or a shorter horizon"
        )
    # sorted: the backend returns groups in no particular order, and fits should be repeatable
    X = beh.drop(columns=["first_order_date", "last_order_date"]).astype("float64").sort_index()
    kinds: list[str] = []
    cols: list[str] = []
    if interactions is not None:
        inter = interaction_counts(interactions, analysis_date=cut).drop(
            columns=["last_interaction_at"]
        )
        kinds = sorted(c[: -len("_365d")] for c in inter.columns if c.endswith("_365d"))
        for kind in INTERACTION_KINDS:  # fixed columns, whatever kinds occur before this cutoff
            inter[f"{kind}_365d"] = inter.get(f"{kind}_365d", 0)
        inter = inter.astype("float64")
        X = X.join(inter, how="left")
        X[inter.columns] = X[inter.columns].fillna(0.0)
    if customers is not None:
        require_columns(customers.columns, ("customer_id",), "customers")
        prof = customers.set_index("customer_id")
        if prof.index.has_duplicates:
            raise CLVError(
                "table 'customers': customer_id is not unique; validate it with segwork.sources"
            )
        cols = [c for c in profile_columns if c in prof.columns]
        X = X.join(prof[cols], how="left")
    bought = _purchases_between(orders, cut, cut + pd.Timedelta(days=int(horizon_days)))
    y = pd.Series(X.index.isin(bought.index), index=X.index, name="purchased")
    X.attrs = {
        "cutoff": str(cut.date()),
        "horizon_days": int(horizon_days),
        "interaction_kinds": kinds,  # the kinds that occur in the data up to the cutoff
        "profile_columns": cols,
    }
    return X, y


class PropensityModel:
    """P(purchase in the next ``horizon_days``) from features at a cutoff; a scikit-learn pipeline.

    ``model="hgb"``: histogram gradient boosting (non-linear, handles missing values);
    ``model="logistic"``: standardised logistic regression (an interpretable baseline).
    Text columns are one-hot encoded (unknown levels ignored). Train it on
    :func:`build_propensity_dataset` output; :func:`temporal_holdout` does both and evaluates.
    """

    def __init__(self, horizon_days: int = 90, model: str = "hgb", random_state: int = 0):
        self.horizon_days = horizon_days
        self.model = model
        self.random_state = random_state

    def _pipeline(self, X: pd.DataFrame):
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        cat = [c for c in X.columns if X[c].dtype == object]
        num = [c for c in X.columns if c not in cat]
        onehot = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        if self.model == "hgb":
            pre = ColumnTransformer([("num", "passthrough", num), ("cat", onehot, cat)])
            clf = HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.1, random_state=self.random_state
            )
        elif self.model == "logistic":
            scale = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
            pre = ColumnTransformer([("num", scale, num), ("cat", onehot, cat)])
            clf = LogisticRegression(max_iter=2000)
        else:
            raise CLVError(f"model must be 'hgb' or 'logistic', got {self.model!r}")
        return make_pipeline(pre, clf)

    @staticmethod
    def _prepare(X: pd.DataFrame) -> pd.DataFrame:
        """Numbers as float, everything else as text objects with NaN for missing (for sklearn)."""
        out = {}
        for c in X.columns:
            s = X[c]
            if pd.api.types.is_numeric_dtype(s) and s.dtype != bool:
                out[c] = s.astype("float64")
            else:
                out[c] = pd.Series(
                    np.where(s.isna(), np.nan, s.astype(str)), index=s.index, dtype=object
                )
        return pd.DataFrame(out, index=X.index)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> PropensityModel:
        """Fit on features ``X`` (one row per customer) and the boolean label ``y``."""
        y = pd.Series(y, index=X.index) if not isinstance(y, pd.Series) else y
        if len(X) != len(y):
            raise CLVError(f"X has {len(X)} rows but y has {len(y)}")
        if y.nunique() < 2:
            raise CLVError(
                f"the label has one class only ({'everyone' if bool(y.iloc[0]) else 'no one'} bought in "
                "the horizon): nothing to learn; choose another cutoff or horizon"
            )
        self.columns_ = list(X.columns)
        self.inputs_ = {
            k: list(X.attrs.get(k, [])) for k in ("interaction_kinds", "profile_columns")
        }
        Xp = self._prepare(X)
        self.pipeline_ = self._pipeline(Xp).fit(Xp, y.astype(int).to_numpy())
        self.base_rate_ = float(y.mean())
        return self

    def predict_proba(self, X: pd.DataFrame) -> pd.Series:
        """P(purchase in the horizon) per row of ``X``, as a Series named "propensity"."""
        if not hasattr(self, "pipeline_"):
            raise CLVError("fit the model first: PropensityModel().fit(X, y)")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise CLVError(
                f"features missing at prediction: {missing}; build them with "
                "build_propensity_dataset and the same tables as for fitting"
            )
        p = self.pipeline_.predict_proba(self._prepare(X[self.columns_]))[:, 1]
        return pd.Series(p, index=X.index, name="propensity")


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    actual = np.asarray(actual, dtype=float)
    base = float(actual.mean())
    both = 0 < base < 1
    return {
        "n": float(len(actual)),
        "base_rate": base,
        "auc": float(roc_auc_score(actual, predicted)) if both else float("nan"),
        "brier": float(brier_score_loss(actual, predicted, pos_label=1)),
        "brier_baseline": float(np.mean((actual - base) ** 2)),
        "mean_predicted": float(np.mean(predicted)),
    }


def calibration_table(
    actual: pd.Series, predicted: pd.DataFrame | pd.Series, n_bins: int = 10
) -> pd.DataFrame:
    """Mean predicted vs actual purchase rate per quantile bin of each model's prediction.

    Long format (model, decile, predicted, actual, customers), from
    :func:`sklearn.calibration.calibration_curve` with ``strategy="quantile"``; customers are
    counted with the same bin edges. Bins that tied predictions leave empty are dropped.
    """
    from sklearn.calibration import calibration_curve

    if isinstance(predicted, pd.Series):
        predicted = predicted.to_frame()
    y = np.asarray(actual, dtype=float)
    rows = []
    for model in predicted.columns:
        p = predicted[model].to_numpy(dtype=float)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
        counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
        bins = np.flatnonzero(counts)
        for b, pt, pp in zip(bins, prob_true, prob_pred, strict=True):
            rows.append(
                {
                    "model": model,
                    "decile": int(b) + 1,
                    "predicted": float(pp),
                    "actual": float(pt),
                    "customers": int(counts[b]),
                }
            )
    return pd.DataFrame(rows, columns=["model", "decile", "predicted", "actual", "customers"])


@dataclass
class HoldoutResult:
    """A propensity model evaluated on the last horizon before the analysis date.

    ``model_holdout`` was trained on cutoff analysis - 2h (labels from (analysis - 2h,
    analysis - h]) and scored at analysis - h against the purchases of the last h days
    (``metrics``, ``calibration``, ``predictions``). ``model`` is refitted on the latest labelled
    window (cutoff analysis - h) for scoring at the analysis date with :meth:`score`.
    """

    metrics: dict[str, float]
    calibration: pd.DataFrame
    predictions: pd.DataFrame  # customer_id index: propensity, actual
    train_cutoff: pd.Timestamp
    eval_cutoff: pd.Timestamp
    analysis_date: pd.Timestamp
    model: PropensityModel
    model_holdout: PropensityModel
    _tables: tuple = field(default=(), repr=False)

    def score(self, analysis_date: Any = None) -> pd.Series:
        """Propensity at ``analysis_date`` (default: the analysis date) from the refitted model."""
        orders, customers, interactions = self._tables
        when = self.analysis_date if analysis_date is None else pd.Timestamp(analysis_date)
        X, _ = build_propensity_dataset(
            orders, customers, interactions, cutoff=when, horizon_days=self.model.horizon_days
        )
        return self.model.predict_proba(X)

    def summary(self) -> str:
        m = self.metrics
        lines = [
            f"Propensity model ({self.model.model}), temporal holdout",
            "=" * 64,
            f"trained on features at {self.train_cutoff.date()} -> purchases in the next "
            f"{m['horizon_days']:.0f} days; evaluated on features at {self.eval_cutoff.date()} -> "
            f"purchases up to {self.analysis_date.date()}",
            f"customers {m['n']:,.0f}, buyers {m['base_rate']:.1%}, mean predicted "
            f"{m['mean_predicted']:.1%}",
            f"AUC {m['auc']:.3f}   Brier {m['brier']:.4f} (always predicting the base rate: "
            f"{m['brier_baseline']:.4f})",
        ]
        return "\n".join(lines)


def temporal_holdout(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
) -> HoldoutResult:
    """Train at analysis - 2h, evaluate at analysis - h on the last h days, refit for scoring.

    No information after a cutoff enters its features; the evaluation labels are the purchases
    in the last ``horizon_days`` up to and including the analysis date.
    """
    ref = pd.Timestamp(analysis_date).normalize()
    h = pd.Timedelta(days=int(horizon_days))
    train_cut, eval_cut = ref - 2 * h, ref - h
    X_tr, y_tr = build_propensity_dataset(
        orders, customers, interactions, cutoff=train_cut, horizon_days=horizon_days
    )
    X_ev, y_ev = build_propensity_dataset(
        orders, customers, interactions, cutoff=eval_cut, horizon_days=horizon_days
    )
    for label, yy, cut in (("training", y_tr, train_cut), ("holdout", y_ev, eval_cut)):
        buyers = int(yy.sum())
        if min(buyers, len(yy) - buyers) < MIN_CLASS:
            raise CLVError(
                f"too few customers to check the next-purchase models: in the {label} window "
                f"({horizon_days} days after {cut:%d %b %Y}) {buyers:,} of {len(yy):,} customers "
                f"bought and {len(yy) - buyers:,} did not; at least {MIN_CLASS} of each are needed"
            )
    first = PropensityModel(horizon_days, model, random_state).fit(X_tr, y_tr)
    p = first.predict_proba(X_ev)
    metrics = _scores(y_ev.to_numpy(), p.to_numpy()) | {"horizon_days": float(horizon_days)}
    preds = pd.DataFrame({"propensity": p, "actual": y_ev})
    final = PropensityModel(horizon_days, model, random_state).fit(X_ev, y_ev)
    return HoldoutResult(
        metrics=metrics,
        calibration=calibration_table(y_ev, preds[["propensity"]]),
        predictions=preds,
        train_cutoff=train_cut,
        eval_cutoff=eval_cut,
        analysis_date=ref,
        model=final,
        model_holdout=first,
        _tables=(orders, customers, interactions),
    )


MIN_CLASS = 10  # buyers and non-buyers needed in each holdout window


def auc_difference(
    actual: Any, first: Any, second: Any, *, level: float = 0.95
) -> dict[str, float]:
    """AUC of two scores on the same customers and the confidence interval of their difference.

    DeLong, DeLong & Clarke-Pearson (1988) for correlated ROC curves, computed with midranks
    (Sun & Xu 2014): the variance of AUC1 - AUC2 from the structural components of both scores
    over the buyers and over the non-buyers. Returns auc_first, auc_second, difference (first -
    second), se, low, high (the ``level`` Wald interval) and p_value (two-sided, H0: equal AUC).
    """
    y = np.asarray(actual, dtype=bool)
    scores = np.vstack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    if scores.shape[1] != len(y):
        raise CLVError("actual and both scores must have one value per customer")
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise CLVError(
            f"the AUC difference needs at least two buyers and two non-buyers (got {m} and {n})"
        )
    aucs, v10, v01 = [], [], []
    for k in range(2):
        tx = stats.rankdata(pos[k])
        ty = stats.rankdata(neg[k])
        tz = stats.rankdata(np.concatenate([pos[k], neg[k]]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)  # per buyer: share of non-buyers scored lower (ties 1/2)
        v01.append(1.0 - (tz[m:] - ty) / m)  # per non-buyer: share of buyers scored higher
    s = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    diff = aucs[0] - aucs[1]
    var = max(float(s[0, 0] + s[1, 1] - 2 * s[0, 1]), 0.0)
    se = math.sqrt(var)
    z = stats.norm.ppf(0.5 + level / 2)
    # se = 0: both scores rank every buyer against every non-buyer alike
    p_value = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    return {
        "auc_first": float(aucs[0]),
        "auc_second": float(aucs[1]),
        "difference": float(diff),
        "se": se,
        "low": float(diff - z * se),
        "high": float(diff + z * se),
        "p_value": p_value,
        "level": float(level),
    }


_GROUP_EDGES = [-1, 0, 1, 3, 7, np.inf]
_GROUP_LABELS = ["0", "1", "2-3", "4-7", "8+"]


@dataclass
class HoldoutComparison:
    """BG/NBD and the propensity model on the same holdout; also readable as a dict.

    ``predictions`` (per customer: propensity, bgnbd = P(at least one purchase), bgnbd_expected,
    past_frequency, actual, actual_purchases), ``metrics`` (AUC, Brier per model), ``calibration``
    (per decile), ``groups`` (per group of past repeat purchases), ``tidy`` (all of it long, for
    side-by-side plots), ``bgnbd`` (the fit at the holdout cutoff), ``holdout`` and ``model``.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    groups: pd.DataFrame
    tidy: pd.DataFrame
    bgnbd: BetaGeo
    holdout: HoldoutResult
    model: PropensityModel
    auc_difference: dict[str, float] = field(default_factory=dict)  # propensity - BG/NBD

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)

    def summary(self) -> str:
        return comparison_text(self)


def compare_on_holdout(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
    holdout: HoldoutResult | None = None,
) -> HoldoutComparison:
    """BG/NBD and the propensity model predicting the same last horizon, side by side.

    ``holdout``: a :func:`temporal_holdout` result for the same data and horizon, when the
    caller has one already (it is not fitted again).

    Both see data up to analysis - h only. BG/NBD is fitted on the clv features (in days) at
    that cutoff and predicts P(at least one purchase in the next h days) = 1 - P(X(h) = 0 |
    history) and the expected number of purchase days; the propensity model is
    :func:`temporal_holdout`'s. Compared on the customers both score (those with a purchase by
    the cutoff): AUC, Brier, calibration per decile, and predicted vs actual buyers and purchases
    per group of past repeat purchases. ``result.tidy`` stacks it long:
    columns model, view ("decile" or "group"), bin, customers, predicted, actual,
    predicted_purchases, actual_purchases.
    """
    from segwork.rfm import features as rfm_features

    ref = pd.Timestamp(analysis_date).normalize()
    eval_cut = ref - pd.Timedelta(days=int(horizon_days))
    if holdout is None:
        holdout = temporal_holdout(
            orders,
            customers,
            interactions,
            analysis_date=ref,
            horizon_days=horizon_days,
            model=model,
            random_state=random_state,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exclusions were reported by the main RFM run
        feats = rfm_features(orders, analysis_date=eval_cut, convention="clv", time_unit="D")
    bg = BetaGeo().fit(feats)
    h = float(horizon_days)
    bg_pred = pd.DataFrame(
        {
            "bgnbd": bg.p_purchase(h, feats),
            "bgnbd_expected": bg.expected_purchases(h, feats),
            "past_frequency": feats["frequency"].to_numpy(),
        },
        index=feats.index,
    )
    actual = _purchases_between(orders, eval_cut, ref)
    preds = holdout.predictions.join(bg_pred, how="inner")
    preds["actual_purchases"] = (
        actual["purchase_days"].reindex(preds.index).fillna(0).astype("int64")
    )
    y = preds["actual"].to_numpy(dtype=float)
    metrics = pd.DataFrame({m: _scores(y, preds[m].to_numpy()) for m in ("propensity", "bgnbd")}).T
    metrics["horizon_days"] = h
    calibration = calibration_table(preds["actual"], preds[["propensity", "bgnbd"]])
    grouped = preds.assign(
        group=pd.cut(preds["past_frequency"], _GROUP_EDGES, labels=_GROUP_LABELS)
    ).groupby("group", observed=True)
    groups = grouped.agg(
        customers=("actual", "size"),
        actual_buyers=("actual", "mean"),
        propensity=("propensity", "mean"),
        bgnbd=("bgnbd", "mean"),
        actual_purchases=("actual_purchases", "mean"),
        bgnbd_expected=("bgnbd_expected", "mean"),
    ).reset_index()
    groups["group"] = groups["group"].astype(str)
    tidy = _tidy(calibration, groups)
    diff = auc_difference(y, preds["propensity"].to_numpy(), preds["bgnbd"].to_numpy())
    return HoldoutComparison(
        preds, metrics, calibration, groups, tidy, bg, holdout, holdout.model, diff
    )


def _tidy(calibration: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    cal = calibration.assign(view="decile", bin=calibration["decile"].astype(str))
    cal["predicted_purchases"] = np.nan
    cal["actual_purchases"] = np.nan
    parts = [cal.drop(columns="decile")]
    for model in ("propensity", "bgnbd"):
        parts.append(
            pd.DataFrame(
                {
                    "model": model,
                    "view": "group",
                    "bin": groups["group"],
                    "customers": groups["customers"],
                    "predicted": groups[model],
                    "actual": groups["actual_buyers"],
                    "predicted_purchases": groups["bgnbd_expected"] if model == "bgnbd" else np.nan,
                    "actual_purchases": groups["actual_purchases"],
                }
            )
        )
    cols = [
        "model",
        "view",
        "bin",
        "customers",
        "predicted",
        "actual",
        "predicted_purchases",
        "actual_purchases",
    ]
    return pd.concat(parts, ignore_index=True)[cols]


# --------------------------------------------------------------------------------------------
# per-customer table, segments, figures, words (used by notebook 02)
# --------------------------------------------------------------------------------------------
def customer_table(
    bgnbd: BetaGeo,
    gg: GammaGamma,
    clv_features: pd.DataFrame,
    propensity: pd.Series | None = None,
    *,
    horizon_days: int = 90,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> pd.DataFrame:
    """Per-customer predictions at the analysis date: p_alive, expected purchases in the horizon,
    expected spend, CLV and (if given) propensity; clv features are in days."""
    f = clv_features
    unit = f.attrs.get("time_unit", "D")
    per_day = 1.0 / {"D": 1.0, "W": 7.0}.get(unit, 1.0)
    out = pd.DataFrame(
        {
            "p_alive": bgnbd.p_alive(f),
            f"expected_purchases_{horizon_days}d": bgnbd.expected_purchases(
                horizon_days * per_day, f
            ),
            "expected_spend": gg.conditional_expected_average_profit(f),
        },
        index=f.index,
    )
    out[f"clv_{horizon_months}m"] = customer_lifetime_value(
        bgnbd,
        gg,
        f,
        horizon_months=horizon_months,
        discount_rate_monthly=discount_rate_monthly,
        time_unit=unit,
    )
    if propensity is not None:
        out[f"propensity_{horizon_days}d"] = propensity.reindex(out.index)
    return out


def value_by_segment(table: pd.DataFrame, *, segment: str = "rfm_segment") -> pd.DataFrame:
    """Mean p_alive, propensity and CLV per segment, with the segment's total and share of CLV.

    Works with whichever of p_alive, propensity_<h>d and clv_<n>m the table has (a model that
    could not be fitted leaves its column out); without CLV the segments keep the table's order.
    """
    clv_col = next((c for c in table.columns if c.startswith("clv_")), None)
    means = [
        c for c in table.columns if c == "p_alive" or c.startswith("propensity_") or c == clv_col
    ]
    if not means or segment not in table.columns:
        raise CLVError(
            f"value_by_segment needs {segment!r} and at least one of p_alive, propensity_<h>d, "
            f"clv_<n>m; got {list(table.columns)}"
        )
    scored = table[table[segment].notna()]
    g = scored.groupby(segment, observed=True)
    out = g[means].mean()
    out.insert(0, "customers", g.size())
    if clv_col is None:
        return out.reset_index()
    out["clv_total"] = g[clv_col].sum()
    out["clv_share"] = out["clv_total"] / out["clv_total"].sum()
    return out.sort_values("clv_total", ascending=False).reset_index()


def value_table(
    seg_value: pd.DataFrame,
    *,
    currency: str,
    discount_rate_monthly: float,
    warned: bool = False,
    bgnbd_untrusted: bool = False,
    propensity_check: dict[str, float] | None = None,
    spend_untrusted: bool = False,
    horizon_days: int | None = None,
):
    """:func:`value_by_segment` as page 02 shows it: columns in words and what each means.

    ``warned``: a model warning is on the page, so the note sends the reader to it.
    ``bgnbd_untrusted``: the page warns that BG/NBD cannot be trusted (:meth:`BetaGeo.caveats`);
    its chance still active and the lifetime value built on it are then not shown as findings
    (they stay in the artifact), segments are ordered by size, and the note says why and what
    to use instead. ``propensity_check``: the propensity model's holdout metrics
    (:attr:`HoldoutResult.metrics`), the evidence for offering it instead.
    ``spend_untrusted``: the page warns that the spend model cannot be trusted
    (:attr:`GammaGamma.untrusted`); lifetime value, which multiplies BG/NBD's expected purchases
    by its expected spend, is then not shown either (it stays in the artifact), while BG/NBD's
    columns stay when it is trusted; the note says why and names the expected purchases in
    ``horizon_days`` days (in the artifact) as what to use instead.
    """
    from segwork.display import PageTable, money_format

    lead = ""
    if bgnbd_untrusted:
        hidden = [
            c
            for c in seg_value.columns
            if c in ("p_alive", "clv_total", "clv_share") or c.startswith(("clv_", "expected_"))
        ]
        seg_value = seg_value.drop(columns=hidden).sort_values(
            "customers", ascending=False, kind="stable"
        )
        lead = (
            "Chance still active and lifetime value (BG/NBD) are not shown: the model cannot be "
            "trusted on this data, see the warning above. " + _instead(seg_value, propensity_check)
        )
        warned = False  # the lead already sends the reader to the warning
    elif spend_untrusted:
        hidden = [c for c in seg_value.columns if c.startswith("clv_") or c == "expected_spend"]
        seg_value = seg_value.drop(columns=hidden).sort_values(
            "customers", ascending=False, kind="stable"
        )
        purchases = (
            f"expected purchases in {horizon_days} days (BG/NBD, column "
            f"expected_purchases_{horizon_days}d of the rfm artifact)"
            if horizon_days
            else "expected purchases (BG/NBD, in the rfm artifact)"
        )
        lead = (
            "Lifetime value is not shown: it multiplies the expected purchases by the spend "
            "model's expected spend per purchase, and the spend model (Gamma-Gamma) cannot be "
            "trusted on this data, see the warning above. To estimate what customers are worth, "
            f"use their {purchases} times their own average order value, or the net revenue "
            "per segment in the segment table above."
        )
        warned = False  # the lead already sends the reader to the warning
    names: dict[str, str] = {"rfm_segment": "segment", "customers": "customers"}
    formats: dict[str, str] = {"customers": "{:,.0f}"}
    words = []
    if "p_alive" in seg_value:
        names["p_alive"] = "chance still active (BG/NBD)"
        formats[names["p_alive"]] = "{:.0%}"
        words.append(
            "chance still active: the segment's average chance, by BG/NBD, that its customers "
            "have not stopped buying (BG/NBD lets a customer stop only after a repeat purchase, "
            "so it counts every customer with a single purchase as active)"
        )
    for col in seg_value.columns:
        if col.startswith("propensity_") and col.endswith("d"):
            days = col[len("propensity_") : -1]
            names[col] = f"chance of a purchase in {days} days"
            formats[names[col]] = "{:.0%}"
            words.append(
                f"chance of a purchase in {days} days: the average, by the propensity model"
            )
    clv_col = next((c for c in seg_value.columns if c.startswith("clv_") and c.endswith("m")), None)
    if clv_col is not None:
        months = clv_col[len("clv_") : -1]
        names[clv_col] = f"value per customer, {months} months ({currency})"
        names["clv_total"] = f"segment value ({currency})"
        names["clv_share"] = "share of value"
        formats[names[clv_col]] = money_format(seg_value[clv_col])
        formats[names["clv_total"]] = money_format(seg_value["clv_total"])
        formats["share of value"] = "{:.1%}"
        words.append(
            f"value per customer: the expected revenue of the next {months} months, discounted "
            f"by {discount_rate_monthly:.0%} a month (BG/NBD with Gamma-Gamma); segment value: "
            "its sum over the segment, and that sum's share of all segments"
        )
    frame = seg_value[[c for c in names if c in seg_value]].rename(columns=names)
    note = "; ".join(words)
    note = note[:1].upper() + note[1:] + "." if note else ""
    note = (lead + " " + note).strip()
    if warned:
        note += " Read the model warnings above before using these figures."
    return PageTable(frame, {k: v for k, v in formats.items() if k in frame}, note)


def _instead(seg_value: pd.DataFrame, check: dict[str, float] | None) -> str:
    """What a reader can use when BG/NBD is not shown: the propensity model if it is in the
    table and beat the base rate on the holdout (with that evidence), and always recency."""
    col = next((c for c in seg_value.columns if c.startswith("propensity_")), None)
    recency = (
        "the time since the last purchase (recency, on which the segments rest: the longer, "
        "the less likely the customer is to come back)"
    )
    if col is None:
        return f"To decide whom to win back, use {recency}."
    days = col[len("propensity_") : -1]
    if check and check.get("brier", np.inf) < check.get("brier_baseline", -np.inf):
        pred, base = check["mean_predicted"], check["base_rate"]
        # the level is off when it misses the actual share by more than two binomial SEs
        off = abs(pred - base) > 2 * np.sqrt(base * (1 - base) / max(check.get("n", 1), 1))
        use = (
            "to rank customers (not as a probability: its level was off)"
            if off
            else "as the chance of a purchase"
        )
        return (
            f"To decide whom to win back, use the propensity model's chance of a purchase in "
            f"{days} days {use} and {recency}. On the last {days} days it predicted "
            f"{pred:.1%} buyers against {base:.1%} actual, Brier score {check['brier']:.3f} "
            f"against {check['brier_baseline']:.3f} for always predicting that share, AUC "
            f"{check['auc']:.3f}."
        )
    why = (
        f" (on the last {days} days its Brier score, {check['brier']:.3f}, was no better than "
        f"{check['brier_baseline']:.3f} for always predicting the share of buyers)"
        if check
        else " (it was not checked on past data)"
    )
    return (
        f"To decide whom to win back, use {recency}; the propensity model's chance of a purchase "
        f"is shown but not backed by the check on past data{why}."
    )


MODEL_NAMES = {"propensity": "propensity model", "bgnbd": "BG/NBD"}  # as the pages name them


def _period(days: int | None) -> str:
    return f"the last {days} days" if days else "the checked period"


def calibration_plot(calibration: pd.DataFrame, ax=None, *, days: int | None = None):
    """Predicted vs actual purchase rate per decile, one line per model, with the diagonal.

    ``days``: the checked horizon, named in the title (the page never says "holdout").
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = ax if ax is not None else plt.subplots()[1]
    data = calibration.assign(
        model=calibration["model"].map(MODEL_NAMES).fillna(calibration["model"])
    )
    sns.lineplot(data=data, x="predicted", y="actual", hue="model", marker="o", ax=ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted probability of a purchase",
        ylabel="share who actually bought",
        title=f"Predicted and actual, {_period(days)}",
    )
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(title="")
    return ax


def groups_plot(groups: pd.DataFrame, ax=None, *, days: int | None = None):
    """Predicted (both models) and actual buyer share per group of past repeat purchases."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = ax if ax is not None else plt.subplots()[1]
    long = groups.melt(
        id_vars="group",
        value_vars=["actual_buyers", "propensity", "bgnbd"],
        var_name="series",
        value_name="share",
    )
    long["series"] = long["series"].map({"actual_buyers": "actual", **MODEL_NAMES})
    sns.barplot(data=long, x="group", y="share", hue="series", ax=ax)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set(
        xlabel=f"repeat purchases before {_period(days)}",
        ylabel=f"share who bought in {_period(days)}",
        title="Predicted and actual buyers",
    )
    ax.legend(title="")
    return ax


def accuracy_table(comparison: HoldoutComparison) -> pd.DataFrame:
    """The holdout metrics as the page shows them: one row per model, in words."""
    m = comparison.metrics
    out = pd.DataFrame(
        {
            "model": [MODEL_NAMES.get(str(k), str(k)) for k in m.index],
            "customers": m["n"].round().astype("int64").to_numpy(),
            "share who bought": m["base_rate"].to_numpy(),
            "AUC": m["auc"].to_numpy(),
            "Brier score": m["brier"].to_numpy(),
            "Brier score of a flat guess": m["brier_baseline"].to_numpy(),
        }
    )
    return out


ACCURACY_FORMATS = {
    "customers": "{:,}",
    "share who bought": "{:.1%}",
    "AUC": "{:.3f}",
    "Brier score": "{:.4f}",
    "Brier score of a flat guess": "{:.4f}",
}


def accuracy_text(comparison: HoldoutComparison) -> str:
    """What the columns of :func:`accuracy_table` mean, with this run's dates and counts."""
    m = comparison.metrics
    days = int(comparison.holdout.metrics["horizon_days"])
    cutoff = pd.Timestamp(comparison.holdout.eval_cutoff)
    n = int(round(float(m["n"].iloc[0])))
    return (
        f"customers: the {n:,} customers with a purchase up to {cutoff:%d %b %Y}, whom both models "
        "scored; share who "
        f"bought: of them, the share who bought in the last {days} days. AUC: the chance that a "
        "customer who bought is ranked above one who did not (0.5 is a coin toss, 1 is perfect). "
        "Brier score: the mean squared gap between the predicted chance and what happened (0 or "
        "1); a flat guess predicts the share who bought for everyone, so a model is of use only "
        "where its Brier score is below that of the flat guess."
    )


def propensity_inputs_text(inputs: PropensityModel | pd.DataFrame | dict[str, Any]) -> str:
    """What the propensity model sees, in words: a fitted model, its features frame (from
    :func:`build_propensity_dataset`) or their ``inputs_``/``attrs`` dict."""
    if isinstance(inputs, PropensityModel):
        inputs = getattr(inputs, "inputs_", {})
    elif isinstance(inputs, pd.DataFrame):
        inputs = inputs.attrs
    kinds = [k.replace("_", " ") for k in inputs.get("interaction_kinds", [])]
    profile = [c.replace("_", " ") for c in inputs.get("profile_columns", [])]
    parts = ["the order history"]
    if kinds:
        parts.append("the interactions recorded here (" + ", ".join(kinds) + ")")
    if profile:
        parts.append("the customer profile (" + ", ".join(profile) + ")")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def comparison_text(
    comparison: HoldoutComparison | dict[str, Any], *, bgnbd_warned: bool = False
) -> str:
    """Plain words on which model to trust for what, from the holdout metrics.

    One model is called better at ranking only when the confidence interval of the AUC
    difference (DeLong) excludes 0; otherwise the two are called indistinguishable on this data.
    ``bgnbd_warned``: the page warns that BG/NBD cannot be trusted; the text then says that
    this check does not lift the warning (it tests who buys soon, not the chance still active).
    """
    m = comparison["metrics"]
    holdout = comparison["holdout"]
    days = int(holdout.metrics["horizon_days"])
    d = (
        comparison.auc_difference
        if isinstance(comparison, HoldoutComparison)
        else comparison.get("auc_difference")
    )
    if not d:
        p = comparison["predictions"]
        d = auc_difference(p["actual"], p["propensity"], p["bgnbd"])
    interval = (
        f"difference {d['difference']:+.3f}, {d['level']:.0%} confidence interval "
        f"[{d['low']:+.3f}, {d['high']:+.3f}], DeLong test"
    )
    aucs = (
        f"AUC {m.loc['propensity', 'auc']:.3f} for the propensity model vs "
        f"{m.loc['bgnbd', 'auc']:.3f} for BG/NBD; {interval}"
    )
    if d["low"] > 0 or d["high"] < 0:
        best = "the propensity model" if d["difference"] > 0 else "BG/NBD"
        lead = f"On the last {days} days, {best} ranked customers better ({aucs})."
    else:
        lead = (
            f"On the last {days} days, the two models ranked customers equally well within the "
            f"uncertainty of this data ({aucs}): neither can be called better."
        )
    sees = propensity_inputs_text(holdout.model)
    text = (
        f"{lead} Brier score {m.loc['propensity', 'brier']:.3f} vs {m.loc['bgnbd', 'brier']:.3f} "
        f"(lower is better). The propensity model learns from {sees}; BG/NBD with Gamma-Gamma "
        "needs only purchase history, extrapolates beyond one horizon and gives lifetime value."
    )
    if bgnbd_warned:
        text += (
            f" The model warning above still holds: this check is of who buys in the next {days} "
            "days, not of BG/NBD's chance still active or lifetime value."
        )
    return text


# --------------------------------------------------------------------------------------------
# the computation behind notebook 02
# --------------------------------------------------------------------------------------------
@dataclass
class RfmClvResult:
    """Everything notebook 02 shows, computed from the run's tables; every ``*_note`` is the one
    plain sentence the page shows instead of a section that this data cannot support.

    ``notes``: RFM scoring caveats; ``coverage``: who was scored and why others were left out;
    ``model_notes``: models that could not be fitted or cannot be trusted, in words;
    ``table``: per customer RFM scores and segment joined with the model predictions that exist.
    """

    scored: pd.DataFrame
    kpis: pd.DataFrame
    coverage: str
    notes: list[str]
    migration: Any  # rfm.MigrationResult | None
    migration_note: str | None
    clv_features: pd.DataFrame
    bgnbd: BetaGeo | None
    spend: GammaGamma | None
    model_notes: list[str]
    comparison: HoldoutComparison | None
    holdout: HoldoutResult | None
    holdout_note: str | None
    propensity_model: PropensityModel | None
    table: pd.DataFrame
    breakdowns: list[str]
    breakdown_note: str | None
    horizon_days: int
    clv_months: int

    def headline(self) -> str:
        from segwork.rfm import headline

        return headline(self.kpis, self.migration)

    @property
    def bgnbd_untrusted(self) -> bool:
        """BG/NBD was fitted and the page warns that it cannot be trusted (its caveats)."""
        return self.bgnbd is not None and bool(self.bgnbd.caveats())

    @property
    def spend_untrusted(self) -> bool:
        """The spend model was fitted and the page warns that it cannot be trusted."""
        return self.spend is not None and self.spend.untrusted

    def comparison_text(self) -> str:
        """:func:`comparison_text` of the holdout check, minding a BG/NBD warning on the page."""
        if self.comparison is None:
            return ""
        return comparison_text(self.comparison, bgnbd_warned=self.bgnbd_untrusted)

    def value_table(self, *, currency: str, discount_rate_monthly: float):
        """The value per segment as page 02 shows it (:func:`value_table`), or None when there
        is no model prediction or no scored customer; without BG/NBD's columns when it cannot
        be trusted, without lifetime value when the spend model cannot (they stay in
        :attr:`table`, the rfm artifact)."""
        t = self.table
        cols = [c for c in t.columns if c == "p_alive" or c.startswith(("propensity_", "clv_"))]
        if not cols or "rfm_segment" not in t or not t["rfm_segment"].notna().any():
            return None
        return value_table(
            value_by_segment(t),
            currency=currency,
            discount_rate_monthly=discount_rate_monthly,
            warned=bool(self.model_notes),
            bgnbd_untrusted=self.bgnbd_untrusted,
            propensity_check=None if self.holdout is None else dict(self.holdout.metrics),
            spend_untrusted=self.spend_untrusted,
            horizon_days=self.horizon_days,
        )

    def models(self) -> dict[str, Any]:
        """Parameters and holdout metrics as plain data (the clv_models artifact)."""
        out: dict[str, Any] = {
            "bgnbd": self.bgnbd.params_ if self.bgnbd else None,
            "gamma_gamma": self.spend.params_ if self.spend else None,
            "notes": list(self.model_notes),
        }
        if self.comparison is not None:
            out["holdout"] = self.comparison.metrics.reset_index(names="model").to_dict("records")
            out["auc_difference"] = dict(self.comparison.auc_difference)
        elif self.holdout is not None:
            out["holdout"] = [{"model": "propensity", **self.holdout.metrics}]
        if self.holdout_note:
            out["holdout_note"] = self.holdout_note
        return out


# profile columns a segment breakdown can use, in the order they are shown (built by customers)
BREAKDOWN_COLUMNS = (
    "age_band",
    "gender",
    "income_band",
    "region",
    "country",
    "industry",
    "company_size",
    "customer_type",
)


def _first_purchase(orders: pd.DataFrame | ibis.Table) -> pd.Timestamp | None:
    t = as_ibis(orders)
    first = t.filter(is_purchase(t)).order_date.min().to_pandas()
    return None if pd.isna(first) else pd.Timestamp(first).normalize()


def analyse_rfm_clv(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    profile: pd.DataFrame | None = None,
    bins: int = 5,
    segment_map: Any = "default",
    window_days: int | None = 365,
    migration_days: int = 90,
    horizon_days: int = 90,
    clv_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> RfmClvResult:
    """RFM segments, migration, BG/NBD + Gamma-Gamma, the propensity model and their holdout
    comparison, as notebook 02 shows them. A section this data cannot support (no earlier period
    for migration, no repeat purchase for BG/NBD, too short a history for the holdout, no profile
    columns for breakdowns) is left out with one plain sentence instead of an error.

    ``profile`` is the customer 360 (index customer_id) whose profile columns the breakdowns use;
    ``customers`` is the customers table the propensity model takes its profile from.
    """
    from segwork import rfm

    ref = pd.Timestamp(analysis_date).normalize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features = rfm.features(orders, analysis_date=ref, window_days=window_days)
        scored = rfm.score(features, bins=bins, segment_map=segment_map)
    kpis = rfm.segment_kpis(scored, orders, analysis_date=ref)
    notes = sorted(
        {
            str(w.message)
            for w in caught
            if issubclass(w.category, rfm.RFMWarning)
            and "left out of the RFM" not in str(w.message)
        }
    )
    known = None if profile is None else len(profile)
    coverage = rfm.coverage_text(features, customers_total=known)

    moves, migration_note = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rfm.RFMWarning)  # the same notes as the scores above
            moves = rfm.migration(
                orders,
                analysis_date=ref,
                earlier_days=migration_days,
                feature_kwargs={"window_days": window_days},
                bins=bins,
                segment_map=segment_map,
            )
    except rfm.RFMNotApplicable as e:
        migration_note = str(e)

    model_notes: list[str] = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # the page says it in words (caveats) instead
        clv_features = rfm.features(orders, analysis_date=ref, convention="clv")
        bgnbd: BetaGeo | None = None
        spend: GammaGamma | None = None
        try:
            bgnbd = BetaGeo().fit(clv_features)
            model_notes += bgnbd.caveats()
        except CLVError as e:
            model_notes.append(
                "The BG/NBD model (chance still active, expected purchases, lifetime value) is "
                f"left out: {e}"
            )
        try:
            spend = GammaGamma().fit(clv_features)
            model_notes += spend.caveats()
        except CLVError as e:
            model_notes.append(
                f"The spend model (Gamma-Gamma) and lifetime value are left out: {e}"
            )
        if spend is not None and spend.params_["q"] <= 1:
            model_notes.append(
                "Lifetime value is left out: spend per purchase is too heavy-tailed for the spend "
                f"model (fitted q = {spend.params_['q']:.2f} <= 1, an infinite mean)."
            )
            spend = None

        comparison, holdout, holdout_note, final = None, None, None, None
        h = pd.Timedelta(days=int(horizon_days))
        first = _first_purchase(orders)
        if first is not None and first > ref - 2 * h:
            holdout_note = (
                "The propensity model and the check of the models on past data are left out: "
                f"they need purchases before {ref - 2 * h:%d %b %Y} (two periods of "
                f"{horizon_days} days before the analysis date), and the first purchase is on "
                f"{first:%d %b %Y}."
            )
        else:
            try:  # fitted once: the comparison with BG/NBD reuses it
                holdout = temporal_holdout(
                    orders,
                    customers,
                    interactions,
                    analysis_date=ref,
                    horizon_days=horizon_days,
                )
            except CLVError as e:
                holdout_note = (
                    "The propensity model and the check of the models on past data are left "
                    f"out: {e}."
                )
            if holdout is not None and bgnbd is not None:
                try:
                    comparison = compare_on_holdout(
                        orders,
                        customers,
                        interactions,
                        analysis_date=ref,
                        horizon_days=horizon_days,
                        holdout=holdout,
                    )
                except CLVError as e:
                    holdout_note = (
                        "BG/NBD is not compared with the propensity model on past data: "
                        f"at {ref - h:%d %b %Y} {e}"
                    )
            if holdout is not None:
                final = holdout.model

    value = pd.DataFrame(index=clv_features.index)
    if bgnbd is not None:
        value["p_alive"] = bgnbd.p_alive(clv_features)
        value[f"expected_purchases_{horizon_days}d"] = bgnbd.expected_purchases(
            float(horizon_days), clv_features
        )
        if spend is not None:
            value["expected_spend"] = spend.conditional_expected_average_profit(clv_features)
            value[f"clv_{clv_months}m"] = customer_lifetime_value(
                bgnbd,
                spend,
                clv_features,
                horizon_months=clv_months,
                discount_rate_monthly=discount_rate_monthly,
            )
    if final is not None:
        X_now, _ = build_propensity_dataset(
            orders, customers, interactions, cutoff=ref, horizon_days=horizon_days
        )
        value[f"propensity_{horizon_days}d"] = final.predict_proba(X_now).reindex(value.index)
    table = rfm.customer_table(scored).join(value, how="outer")

    breakdowns = [
        c
        for c in BREAKDOWN_COLUMNS
        if profile is not None and c in profile and profile[c].reindex(scored.index).nunique() >= 2
    ]
    breakdown_note = (
        None
        if breakdowns
        else "The segment mix by customer profile is left out: the customer data has no profile "
        "column with at least two values among the scored customers (such as age, region, "
        "industry or company size)."
    )
    return RfmClvResult(
        scored=scored,
        kpis=kpis,
        coverage=coverage,
        notes=notes,
        migration=moves,
        migration_note=migration_note,
        clv_features=clv_features,
        bgnbd=bgnbd,
        spend=spend,
        model_notes=model_notes,
        comparison=comparison,
        holdout=holdout,
        holdout_note=holdout_note,
        propensity_model=final,
        table=table,
        breakdowns=breakdowns,
        breakdown_note=breakdown_note,
        horizon_days=int(horizon_days),
        clv_months=int(clv_months),
    )

"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): expected purchases
and the chance a customer is still active.

Maximum likelihood on the distinct (frequency, recency, T) triples weighted by their counts, so a
million customers cost as much as their distinct histories. One-time buyers (frequency 0) are
alive with probability 1: in BG/NBD dropout happens only right after a repeat purchase.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from segwork.clv.errors import CLVError
from segwork.clv.fitting import (
    _at_edge,
    _converged,
    _count_model_summary,
    _fit_problems,
    _log_covariance,
    _minimise,
)
from segwork.clv.inputs import _histories, _unique_histories
from segwork.summary import Summary

_BG = ("r", "alpha", "a", "b")


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


def _fit_bgnbd(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray, penalizer: float = 0.0
) -> tuple[np.ndarray, optimize.OptimizeResult, float]:
    """Maximum likelihood of BG/NBD on (possibly aggregated) histories with weights ``w``.

    Time is rescaled so that max T = 10, which keeps alpha near 1 during the search; the
    penalizer (an L2 term on the parameters, like lifetimes' ``penalizer_coef``) applies in that
    scale. lifetimes 0.11.3 rescales to max T = 1, so the same number penalises differently
    there; unpenalised fits are the same. Returns (r, alpha, a, b) in the original time unit, the optimiser result and
    the time scale.
    """
    scale = 10.0 / T.max() if T.max() > 0 else 1.0
    data = _BGData(x, tx * scale, T * scale, w)
    res = _minimise(lambda lp: _bg_objective(lp, data, penalizer), np.zeros(4))
    theta = np.exp(res.x)
    theta[1] /= scale
    return theta, res, scale


class BetaGeo(BaseEstimator):
    """BG/NBD: expected purchases of each customer and the chance they are still active.

    Purchase rates are Gamma(r, alpha) across customers (rate parametrisation: mean r/alpha
    purchases per time unit) and after every repeat purchase a customer drops out with a
    probability p ~ Beta(a, b). ``params_`` = {r, alpha, a, b}, alpha in the time unit of the
    features. ``penalizer`` adds ``penalizer * sum(params**2)`` to the mean negative
    log-likelihood (in time rescaled to max T = 10; not lifetimes' scale); 0 is plain maximum
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
        try:
            check_is_fitted(self, "params_")
        except NotFittedError:
            raise CLVError("fit the model first: BetaGeo().fit(clv_features)") from None

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

    def summary(self) -> Summary:
        """Parameters with standard errors and 95% intervals, log-likelihood and the size of the
        data, as a :class:`~segwork.summary.Summary` (text and HTML forms)."""
        self._check()
        r, alpha, a, b = self._theta()
        return _count_model_summary(
            self,
            "BG/NBD (Fader, Hardie & Lee 2005), maximum likelihood",
            [
                f"mean purchase rate r/alpha = {r / alpha:.4g} per time unit; mean dropout "
                f"probability a/(a+b) = {a / (a + b):.3f} after each purchase"
            ],
        )


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

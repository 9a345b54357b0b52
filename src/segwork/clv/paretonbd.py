"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): expected purchases and the chance a customer
is still active, when customers can leave at any moment (not only right after a purchase).

Maximum likelihood on the distinct (frequency, recency, T) triples weighted by their counts, as
for BG/NBD. The likelihood is eq. 18-20 of Fader & Hardie's note "A Note on Deriving the
Pareto/NBD Model and Related Expressions" (2005), on the log scale: the difference of the two
Gauss hypergeometric terms of A0 is taken with ``logsumexp`` and the branch (alpha >= beta or
alpha < beta) keeps the argument of 2F1 in [0, 1). scipy has no derivative of 2F1 in its
parameters, so the gradient is a central difference of the log-likelihood in the
log-parameters (the only model here without an analytic gradient).

:class:`_CountModel` holds what Pareto/NBD and MBG/NBD (:mod:`segwork.clv.mbgnbd`) share: the
checked and aggregated inputs, the fit with standard errors and weak-parameter warnings, and
the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special
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
from segwork.clv.inputs import _as_float, _histories, _unique_rows
from segwork.summary import Summary

_PNBD = ("r", "alpha", "s", "beta")


def _log_a0(
    r: float, alpha: float, s: float, beta: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """log A0 of Fader & Hardie (2005), eq. 19 (alpha >= beta) and 20 (alpha < beta).

    A0 = 2F1(r+s+x, c; r+s+x+1; z(t_x)) / (m+t_x)^(r+s+x) - [the same at T],
    z(t) = |alpha-beta|/(m+t), with m = max(alpha, beta) and c = s+1 when alpha >= beta,
    c = r+x otherwise; -inf when t_x = T (A0 = 0). Each 2F1 is taken through Euler's
    transformation, 2F1(a, c; a+1; z) = (1-z)^(1-c) 2F1(1, a+1-c; a+1; z), whose series
    converges at z = 1: the plain form overflows for frequent buyers when alpha << beta
    (2F1 grows like (1-z)^(1-r-x)). 1 - z(t) = (min(alpha, beta)+t)/(m+t).
    """
    if alpha >= beta:
        lo, m, c = beta, alpha, s + 1.0
    else:
        lo, m, c = alpha, beta, r + x
    rsx = r + s + x

    def log_term(t: np.ndarray) -> np.ndarray:
        log_m, log_1mz = np.log(m + t), np.log(lo + t) - np.log(m + t)
        f = special.hyp2f1(1.0, rsx + 1.0 - c, rsx + 1.0, (m - lo) / (m + t))
        return (1.0 - c) * log_1mz + np.log(f) - rsx * log_m

    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = log_term(tx), log_term(T)
        out = special.logsumexp([p1, p2], axis=0, b=[np.ones_like(p1), -np.ones_like(p2)])
    return np.where(tx >= T, -np.inf, out)


def paretonbd_log_likelihood(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood, eq. 18 of Fader & Hardie (2005), in log space.

    L = G(r+x) alpha^r beta^s / G(r) * [1/((alpha+T)^(r+x) (beta+T)^s) + s/(r+s+x) A0].
    """
    r, alpha, s, beta = (float(p) for p in params)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) - np.log(r + s + x) + _log_a0(r, alpha, s, beta, x, tx, T)
    return head + np.logaddexp(alive, dead)


def _central_gradient(f: Callable[[np.ndarray], float], p: np.ndarray, h: float) -> np.ndarray:
    """Gradient of ``f`` at ``p`` by central differences of step ``h`` in each coordinate."""
    g = np.empty(len(p))
    for i in range(len(p)):
        e = np.zeros(len(p))
        e[i] = h
        g[i] = (f(p + e) - f(p - e)) / (2 * h)
    return g


def _count(total: float) -> int | float:
    """A sum of weights as a whole number of customers when it is one."""
    return int(round(total)) if abs(total - round(total)) < 1e-9 else float(total)


class _CountModel(BaseEstimator):
    """Shared fit and summary of the purchase-count models fitted by maximum likelihood.

    A subclass names its parameters (``_names``), its per-customer log-likelihood
    (``_log_likelihood``) and optionally an analytic gradient of the weighted total
    (``_total_gradient``, in the log-parameters; central differences otherwise).
    """

    _names: tuple[str, str, str, str]
    _title: str
    _model: str
    _time_params: tuple[int, ...]  # positions of the parameters in units of time

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    # ---- the likelihood ----------------------------------------------------------------
    @staticmethod
    def _log_likelihood(theta: np.ndarray, x, tx, T) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _total_gradient(self, log_p: np.ndarray, data, step: float = 1e-5) -> np.ndarray:
        """d(sum of w * log-likelihood)/d(log-parameters), by central differences of ``step``.

        The covariance differentiates this gradient once more (steps of 1e-5) and asks for
        ``step=1e-3``: with 1e-5 the rounding of the total log-likelihood, amplified twice,
        moved CDNOW's standard error of beta by 0.15%; with 1e-3 it agrees with a Hessian by
        second differences to 1e-5.
        """
        x, tx, T, w = data
        return _central_gradient(
            lambda lp: float(w @ self._log_likelihood(np.exp(lp), x, tx, T)), log_p, step
        )

    def _objective(self, log_p: np.ndarray, data) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood plus the L2 penalty, and its gradient (log-parameters)."""
        x, tx, T, w = data
        theta = np.exp(log_p)
        n = w.sum()
        ll = float(w @ self._log_likelihood(theta, x, tx, T))
        if not np.isfinite(ll):
            return 1e300, np.zeros(len(log_p))
        grad = self._total_gradient(log_p, data)
        f = -ll / n + self.penalizer * float(theta @ theta)
        g = -grad / n + 2.0 * self.penalizer * theta * theta
        return f, g

    # ---- fit ---------------------------------------------------------------------------
    def fit(self, frequency=None, recency=None, T=None, weights=None):
        """Fit on a clv features frame (columns frequency, recency, T) or on three arrays.

        ``weights`` (optional): the number of customers each row stands for (positive whole
        numbers or any positive numbers), as lifetimes' ``weights``; rows are aggregated into
        distinct histories either way.
        """
        if self.penalizer < 0:
            raise CLVError(f"penalizer must be >= 0, got {self.penalizer}")
        frame = frequency if isinstance(frequency, pd.DataFrame) else None
        x, tx, t, _ = _histories(frequency, recency, T)
        if weights is None:
            w_in = np.ones(len(x))
        else:
            w_in = _as_float(weights, "weights")
            if w_in.shape != x.shape:
                raise CLVError(
                    f"weights must have one value per customer row ({len(x)}), got {len(w_in)}"
                )
            if not (np.isfinite(w_in) & (w_in > 0)).all():
                raise CLVError("weights must be finite and > 0 (the customers each row stands for)")
        if x.max() == 0:
            raise CLVError(
                f"none of the {len(x):,} customers has a repeat purchase: {self._model} cannot "
                "separate the purchase rate from dropout. Use a longer history (analysis date "
                "later, or no window) or the propensity model."
            )
        cols, inverse, _ = _unique_rows(x, tx, t)
        w = np.bincount(inverse, weights=w_in, minlength=len(cols[0]))
        if len(cols[0]) < 4:
            raise CLVError(
                f"only {len(cols[0])} distinct customer histories (frequency, recency, T): the "
                f"four {self._model} parameters are not identified. The model needs customers "
                "who differ in how often, how recently and since when they buy."
            )
        scale = 10.0 / t.max() if t.max() > 0 else 1.0  # max T = 10, as BetaGeo
        scaled = (cols[0], cols[1] * scale, cols[2] * scale, w)
        res = _minimise(lambda lp: self._objective(lp, scaled), np.zeros(4))
        theta = np.exp(res.x)
        theta[list(self._time_params)] /= scale
        data = (cols[0], cols[1], cols[2], w)
        log_p = np.log(theta)
        self.params_ = dict(zip(self._names, map(float, theta), strict=True))
        self.log_likelihood_ = float(w @ self._log_likelihood(theta, *data[:3]))
        cov = _log_covariance(
            lambda lp: -self._total_gradient(lp, data, step=1e-3), log_p, _at_edge(res)
        )
        self.covariance_log_ = cov
        self.standard_errors_ = dict(
            zip(self._names, map(float, theta * np.sqrt(np.diag(cov))), strict=True)
        )  # delta method
        self.converged_ = _converged(res)
        self.n_iterations_ = int(res.nit)
        self.n_customers_ = _count(w_in.sum())
        self.n_triples_ = len(cols[0])
        self.n_repeat_buyers_ = _count(w_in[x > 0].sum())
        self.time_unit_ = frame.attrs.get("time_unit") if frame is not None else None
        self.weak_parameters_, self.fit_warning_ = _fit_problems(
            self._model, res, self._names, cov, "use a longer history or a penalizer"
        )
        return self

    # ---- helpers for predictions -------------------------------------------------------
    def _check(self) -> None:
        try:
            check_is_fitted(self, "params_")
        except NotFittedError:
            raise CLVError(
                f"fit the model first: {type(self).__name__}().fit(clv_features)"
            ) from None

    def _args(self, frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._check()
        return _histories(frequency, recency, T)[:3]

    def _theta(self) -> tuple[float, float, float, float]:
        return tuple(float(self.params_[k]) for k in self._names)  # type: ignore[return-value]

    def _notes(self) -> list[str]:
        return []

    def summary(self) -> Summary:
        """Parameters with standard errors and 95% intervals, log-likelihood and the size of the
        data, as a :class:`~segwork.summary.Summary` (text and HTML forms)."""
        self._check()
        return _count_model_summary(self, self._title, self._notes())


class ParetoNBD(_CountModel):
    """Pareto/NBD: expected purchases of each customer and the chance they are still active.

    Purchase rates are Gamma(r, alpha) across customers and lifetimes exponential with rates
    Gamma(s, beta) (rate parametrisation, alpha and beta in the time unit of the features).
    ``params_`` = {r, alpha, s, beta}. ``penalizer`` adds ``penalizer * sum(params**2)`` to the
    mean negative log-likelihood in rescaled time (max T = 10, as :class:`BetaGeo`; lifetimes
    0.11.3 rescales to max T = 1, so its ``penalizer_coef`` is a different penalty, and its
    Pareto/NBD divides the total by the mean weight instead of the sum); 0 is plain maximum
    likelihood. Standard errors come from the inverse Hessian of the unpenalised likelihood
    (delta method from the log-parameters).
    """

    _names = _PNBD
    _title = "Pareto/NBD (Schmittlein, Morrison & Colombo 1987), maximum likelihood"
    _model = "Pareto/NBD"
    _time_params = (1, 3)

    @staticmethod
    def _log_likelihood(theta, x, tx, T) -> np.ndarray:
        return paretonbd_log_likelihood(theta, x, tx, T)

    def conditional_probability_alive(self, frequency, recency=None, T=None) -> np.ndarray:
        """P(still active at T | history), eq. 11 of Fader & Hardie (2005):
        1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)."""
        x, tx, t = self._args(frequency, recency, T)
        r, alpha, s, beta = self._theta()
        log_odds_dead = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + t)
            + s * np.log(beta + t)
            + _log_a0(r, alpha, s, beta, x, tx, t)
        )
        return special.expit(-log_odds_dead)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t, frequency, recency=None, T=None
    ) -> np.ndarray:
        """Expected purchases in the next ``t`` time units given the history (eq. 41):
        P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)].

        The bracket over (s-1) is written with expm1/log1p, which also holds at s = 1 (where it
        is log((beta+T+t)/(beta+T))).
        """
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, s, beta = self._theta()
        log_q = -np.log1p(np.asarray(t, dtype=float) / (beta + tt))  # log (beta+T)/(beta+T+t)
        near_1 = abs(s - 1.0) < 1e-10
        bracket = -log_q if near_1 else -np.expm1((s - 1.0) * log_q) / (s - 1.0)
        pa = self.conditional_probability_alive(x, tx, tt)
        return pa * (r + x) * (beta + tt) / (alpha + tt) * bracket

    def _notes(self) -> list[str]:
        r, alpha, s, beta = self._theta()
        return [
            f"mean purchase rate r/alpha = {r / alpha:.4g} per time unit; mean dropout rate "
            f"s/beta = {s / beta:.4g} per time unit"
        ]

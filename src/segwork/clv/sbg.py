"""The shifted-beta-geometric (sBG) model of contract duration (Fader & Hardie 2007, "How to
project customer retention", Journal of Interactive Marketing 21(1)): retention curves, expected
and discounted lifetimes and the value of a contract (Fader & Hardie 2010, "Customer-base
valuation in a contractual setting", Marketing Science 29(1)).

Contracts (subscriptions, memberships, service contracts) come up for renewal once a period.
Each contract has a churn probability theta it keeps for life, theta ~ Beta(alpha, beta) across
contracts, so the period T in which it ends (T = 1, 2, ...) is geometric given theta. Then

    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta),
    S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta),
    r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1).

The retention rate r(t) rises with t because the contracts likely to churn leave first, not
because any contract grows more loyal. A contract that has made ``n`` renewals has T > n.

Maximum likelihood on the distinct (periods observed, churned) pairs weighted by their counts:
a cohort's survivor counts N_0 >= N_1 >= ... >= N_n (alive after 0, 1, ..., n renewals) are
N_{t-1} - N_t contracts that churned in period t and N_n still active after n renewals, the same
likelihood as the per-contract durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from segwork.clv.errors import CLVError
from segwork.clv.fitting import (
    _at_edge,
    _converged,
    _fit_problems,
    _log_covariance,
    _minimise,
    _parameter_rows,
)
from segwork.clv.inputs import _as_float, _unique_rows
from segwork.summary import Summary

_SBG = ("alpha", "beta")


def sbg_log_likelihood(
    params: Sequence[float], durations: np.ndarray, churned: np.ndarray
) -> np.ndarray:
    """Per-contract sBG log-likelihood: log P(T = t) for a contract that churned in period t,
    log S(t) for one still active after t renewals (Fader & Hardie 2007, eq. 2 and 5)."""
    alpha, beta = (float(p) for p in params)
    t = np.asarray(durations, dtype=float)
    c = np.asarray(churned, dtype=bool)
    with np.errstate(invalid="ignore"):
        churn = special.betaln(alpha + 1.0, beta + t - 1.0)
    alive = special.betaln(alpha, beta + t)
    return np.where(c, churn, alive) - special.betaln(alpha, beta)


def _sbg_objective(
    log_p: np.ndarray, t: np.ndarray, c: np.ndarray, w: np.ndarray, *, total: bool = False
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood (mean per contract, or the total) and its analytic gradient in
    (log alpha, log beta)."""
    alpha, beta = np.exp(log_p)
    psi = special.digamma
    ab = alpha + beta
    tc = np.where(c, t, 1.0)  # churners have t >= 1; the placeholder keeps the logs finite
    ll = np.where(
        c, special.betaln(alpha + 1.0, beta + tc - 1.0), special.betaln(alpha, beta + t)
    ) - special.betaln(alpha, beta)
    base_a, base_b = psi(ab) - psi(alpha), psi(ab) - psi(beta)
    d_alpha = np.where(c, psi(alpha + 1.0) - psi(ab + tc), -psi(ab + t) + psi(alpha)) + base_a
    d_beta = np.where(c, psi(beta + tc - 1.0) - psi(ab + tc), psi(beta + t) - psi(ab + t)) + base_b
    value = float(w @ ll)
    grad = np.array([w @ d_alpha, w @ d_beta]) * np.array([alpha, beta])
    if not total:
        n = w.sum()
        value, grad = value / n, grad / n
    return -value, -grad


def _fail(mask: np.ndarray, index: pd.Index | None, problem: str, fix: str) -> None:
    if not mask.any():
        return
    if index is not None:
        where = f"{index.name or 'row'} " + ", ".join(map(str, index[mask][:3]))
    else:
        where = "position " + ", ".join(map(str, np.flatnonzero(mask)[:3]))
    raise CLVError(f"contracts: {problem} in {int(mask.sum()):,} row(s) (e.g. {where}); {fix}")


def _contracts(durations: Any, churned: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated (periods observed, churned) arrays of per-contract records."""
    index = durations.index if isinstance(durations, pd.Series) else None
    t = _as_float(durations, "durations")
    c_raw = _as_float(churned, "churned")
    if t.shape != c_raw.shape:
        raise CLVError(
            f"durations and churned must have the same length (got {len(t)} and {len(c_raw)})"
        )
    if len(t) == 0:
        raise CLVError("no contracts: durations is empty")
    _fail(~np.isfinite(t) | ~np.isfinite(c_raw), index, "missing durations or churned", "fix them")
    _fail(
        (t < 0) | (t != np.round(t)),
        index,
        "durations that are not whole numbers >= 0",
        "a duration counts the renewal periods a contract was observed",
    )
    _fail(~np.isin(c_raw, (0.0, 1.0)), index, "churned that is not 0/1", "give True/False")
    c = c_raw == 1.0
    _fail(
        c & (t < 1),
        index,
        "churned contracts with duration 0",
        "a contract that churned in its first period has duration 1",
    )
    return t, c


def _cohort_contracts(survivors: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-contract (duration, churned) records, with counts as weights, of one cohort's survivor
    counts or a list of cohorts (counts N_0, N_1, ... alive after 0, 1, ... renewals)."""
    cohorts = survivors
    if np.ndim(np.asarray(survivors, dtype=object)) == 1 and not any(
        isinstance(s, Sequence | np.ndarray | pd.Series) for s in survivors
    ):
        cohorts = [survivors]
    ts, cs, ws = [], [], []
    for k, cohort in enumerate(cohorts):
        n = _as_float(cohort, f"survivors[{k}]")
        name = f"cohort {k}" if len(cohorts) > 1 else "the cohort"
        if len(n) < 2 or not np.isfinite(n).all():
            raise CLVError(
                f"survivor counts of {name}: need finite counts alive after 0, 1, ... renewals "
                f"(at least two numbers), got {list(n)}"
            )
        if (n < 0).any() or (n != np.round(n)).any() or n[0] == 0:
            hint = (
                " (these look like proportions: multiply by the cohort size)" if n[0] <= 1 else ""
            )
            raise CLVError(
                f"survivor counts of {name} must be whole numbers >= 0 starting above 0, got "
                f"{list(n)[:6]}{hint}"
            )
        if (np.diff(n) > 0).any():
            at = int(np.flatnonzero(np.diff(n) > 0)[0]) + 1
            raise CLVError(
                f"survivor counts of {name} rise at period {at} ({n[at - 1]:g} -> {n[at]:g}): a "
                "cohort can only shrink; give the numbers of one acquisition cohort"
            )
        periods = np.arange(1, len(n))
        ts += [periods, [len(n) - 1]]
        cs += [np.ones(len(periods), bool), [False]]
        ws += [-np.diff(n), [n[-1]]]
    return np.concatenate(ts).astype(float), np.concatenate(cs), np.concatenate(ws)


def _fit_sbg(
    t: np.ndarray, c: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, optimize.OptimizeResult]:
    """Maximum likelihood of (alpha, beta) from the mean log-likelihood, starting at (1, 1)."""
    res = _minimise(lambda lp: _sbg_objective(lp, t, c, w), np.zeros(2))
    return np.exp(res.x), res


class ShiftedBetaGeometric(BaseEstimator):
    """sBG: how many contracts renew each period, how long they last and what they are worth.

    Fit on a cohort's survivor counts (``fit([1000, 631, 468, ...])``: alive after 0, 1, 2, ...
    renewals, or a list of such cohorts) or on per-contract records (``fit(durations=...,
    churned=...)``: renewal periods observed, and whether the contract ended in its last one).
    ``params_`` = {alpha, beta}: the churn probability of a contract is Beta(alpha, beta) across
    contracts. Standard errors come from the inverse Hessian (delta method from the logs).
    """

    def fit(self, survivors: Any = None, *, durations: Any = None, churned: Any = None):
        """Fit on survivor counts or on (durations, churned); exactly one of the two."""
        if (survivors is None) == (durations is None):
            raise CLVError(
                "give either a cohort's survivor counts or durations with churned, not both"
            )
        if survivors is not None:
            t, c, w = _cohort_contracts(survivors)
            keep = w > 0
            t, c, w = t[keep], c[keep], w[keep]
        else:
            if churned is None:
                raise CLVError("give churned (True/False per contract) with durations")
            td, cd = _contracts(durations, churned)
            (ut, uc), _, counts = _unique_rows(td, cd.astype(float))
            t, c, w = ut, uc == 1.0, counts.astype(float)
        n_churned = float(w[c].sum())
        if n_churned == 0 or t.max() < 1:
            raise CLVError(
                "no contract has churned or come up for renewal yet: the sBG model needs at "
                "least one renewal period observed with some contracts ending"
            )
        theta, res = _fit_sbg(t, c, w)
        log_p = np.log(theta)
        self.params_ = dict(zip(_SBG, map(float, theta), strict=True))
        self.log_likelihood_ = -_sbg_objective(log_p, t, c, w, total=True)[0]
        cov = _log_covariance(
            lambda lp: _sbg_objective(lp, t, c, w, total=True)[1], log_p, _at_edge(res)
        )
        self.covariance_log_ = cov  # of (log alpha, log beta)
        self.standard_errors_ = dict(
            zip(_SBG, map(float, theta * np.sqrt(np.diag(cov))), strict=True)
        )
        self.converged_ = _converged(res)
        self.n_iterations_ = int(res.nit)
        self.n_contracts_ = int(round(w.sum()))
        self.n_churned_ = int(round(n_churned))
        self.n_periods_ = int(t.max())
        self.weak_parameters_, self.fit_warning_ = _fit_problems(
            "sBG",
            res,
            _SBG,
            cov,
            "the churn rates hardly differ between contracts or between periods; observe more "
            "renewal periods",
        )
        return self

    # ---- predictions -------------------------------------------------------------------
    def _check(self) -> tuple[float, float]:
        try:
            check_is_fitted(self, "params_")
        except NotFittedError:
            raise CLVError("fit the model first: ShiftedBetaGeometric().fit(survivors)") from None
        return self.params_["alpha"], self.params_["beta"]

    @staticmethod
    def _periods(t: Any, low: int, name: str) -> np.ndarray:
        arr = np.asarray(t, dtype=float)
        if not (np.isfinite(arr) & (arr >= low) & (arr == np.round(arr))).all():
            raise CLVError(f"{name} must be whole numbers >= {low}, got {t!r}")
        return arr

    @staticmethod
    def _out(arr: np.ndarray) -> float | np.ndarray:
        return float(arr) if np.ndim(arr) == 0 else arr

    def churn_probability(self, t: Any) -> float | np.ndarray:
        """P(T = t): chance that a new contract ends in period t (t = 1, 2, ...)."""
        a, b = self._check()
        t = self._periods(t, 1, "t")
        return self._out(np.exp(special.betaln(a + 1.0, b + t - 1.0) - special.betaln(a, b)))

    def survival(self, t: Any) -> float | np.ndarray:
        """S(t) = P(T > t): share of a cohort still active after t renewals (S(0) = 1)."""
        a, b = self._check()
        t = self._periods(t, 0, "t")
        return self._out(np.exp(special.betaln(a, b + t) - special.betaln(a, b)))

    def retention_rate(self, t: Any) -> float | np.ndarray:
        """r(t) = (beta + t - 1)/(alpha + beta + t - 1): share of the contracts active in period
        t - 1 that renew for period t (t = 1, 2, ...)."""
        a, b = self._check()
        t = self._periods(t, 1, "t")
        return self._out((b + t - 1.0) / (a + b + t - 1.0))

    def expected_lifetime(self, horizon: int | None = None) -> float:
        """Mean number of periods a new contract is active, E[T] = (alpha + beta - 1)/(alpha - 1),
        or within the first ``horizon`` periods, E[min(T, horizon)] = sum of S(0..horizon-1).

        Infinite when alpha <= 1 (a sizeable share of contracts almost never churns), as in both
        of the paper's examples: then use a horizon or the discounted lifetime.
        """
        a, b = self._check()
        if horizon is not None:
            h = int(self._periods(horizon, 1, "horizon"))
            return float(np.sum(self.survival(np.arange(h))))
        return (a + b - 1.0) / (a - 1.0) if a > 1.0 else float("inf")

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL = sum over t >= 0 of S(t)/(1+d)^t = 2F1(1, beta; alpha + beta; 1/(1+d)): present
        value, in periods' payments, of a new contract paying once a period from now on (the
        first payment now). Fader & Hardie (2010), eq. 4."""
        a, b = self._check()
        d = self._rate(discount_rate)
        return float(special.hyp2f1(1.0, b, a + b, 1.0 / (1.0 + d)))

    def discounted_expected_residual_lifetime(
        self, discount_rate: float, renewals: Any = 0
    ) -> float | np.ndarray:
        """DERL of a contract active after ``renewals`` = n renewals, at its next renewal:
        sum over k >= 0 of S(n + 1 + k)/S(n)/(1+d)^k
        = (beta + n)/(alpha + beta + n) 2F1(1, beta + n + 1; alpha + beta + n + 1; 1/(1+d)),
        Fader & Hardie (2010), eq. 6 (their n - 1 renewals is our n). The payment at the coming
        renewal is not discounted."""
        a, b = self._check()
        d = self._rate(discount_rate)
        n = self._periods(renewals, 0, "renewals")
        out = (b + n) / (a + b + n) * special.hyp2f1(1.0, b + n + 1.0, a + b + n + 1.0, 1 / (1 + d))
        return self._out(out)

    def value_per_contract(
        self, margin: float, discount_rate: float, renewals: Any = 0
    ) -> float | np.ndarray:
        """Expected residual value of an active contract after ``renewals`` renewals: margin per
        period times its DERL (Fader & Hardie 2010's E(RLV)); the margin is assumed constant."""
        return margin * self.discounted_expected_residual_lifetime(discount_rate, renewals)

    @staticmethod
    def _rate(discount_rate: float) -> float:
        d = float(discount_rate)
        if not d > 0 or not np.isfinite(d):
            raise CLVError(
                f"discount_rate is per period and must be > 0 (e.g. 0.1), got {discount_rate!r}"
            )
        return d

    def summary(self) -> Summary:
        """Parameters with standard errors and 95% intervals, log-likelihood, the size of the data
        and the implied retention, as a :class:`~segwork.summary.Summary`."""
        a, b = self._check()
        rows = _parameter_rows(self.params_, self.standard_errors_, self.covariance_log_)
        n = self.n_periods_
        life = self.expected_lifetime()
        notes = [
            f"mean churn probability alpha/(alpha+beta) = {a / (a + b):.3f} in the first period; "
            f"retention rate {self.retention_rate(1):.3f} at the first renewal, "
            f"{self.retention_rate(n + 1):.3f} at renewal {n + 1} (the next one not observed)",
            f"expected lifetime {life:.3g} periods"
            if np.isfinite(life)
            else "expected lifetime infinite (alpha <= 1: some contracts almost never churn); "
            "use the discounted lifetime",
        ]
        if self.fit_warning_:
            notes.append(self.fit_warning_)
        return Summary(
            "shifted-beta-geometric (Fader & Hardie 2007), maximum likelihood",
            facts={
                "contracts": f"{self.n_contracts_:,}",
                "churned": f"{self.n_churned_:,}",
                "renewal periods observed": f"{n}",
                "log-likelihood": f"{self.log_likelihood_:,.3f}",
                "converged": str(self.converged_),
            },
            tables=[("parameters (95% CI log-normal)", pd.DataFrame(rows).set_index("param"))],
            notes=notes,
        )

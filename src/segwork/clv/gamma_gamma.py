"""Gamma-Gamma spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted on repeat buyers
only; it assumes spend is independent of frequency (checked, in ``summary``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from segwork.clv.errors import CLVError, CLVWarning
from segwork.clv.fitting import _at_edge, _converged, _fit_problems, _log_covariance, _minimise
from segwork.clv.inputs import _as_float, _reject, _unique_rows
from segwork.numbers import p_phrase
from segwork.summary import Summary

_GG = ("p", "q", "v")


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


class GammaGamma(BaseEstimator):
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
        self._check()
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

    def _check(self) -> None:
        try:
            check_is_fitted(self, "params_")
        except NotFittedError:
            raise CLVError("fit the model first: GammaGamma().fit(clv_features)") from None

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
        self._check()
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

    def summary(self) -> Summary:
        """Parameters with standard errors, log-likelihood and the independence check, as a
        :class:`~segwork.summary.Summary` (text and HTML forms)."""
        self._check()
        rho = self.frequency_monetary_correlation_
        verdict = (
            "fine"
            if abs(rho) < self.CORRELATION_LIMIT
            else "HIGH: the model assumes none, expected spend is biased"
        )
        p, q, v = (self.params_[k] for k in _GG)
        table = pd.DataFrame(
            {
                "estimate": [f"{self.params_[k]:.4g}" for k in _GG],
                "std err": [f"{self.standard_errors_[k]:.3g}" for k in _GG],
            },
            index=pd.Index(list(_GG), name="param"),
        )
        notes = [
            f"Pearson correlation of frequency and mean spend: {rho:+.3f} "
            f"(p {p_phrase(self.correlation_pvalue_)}) - {verdict}"
        ]
        if q > 1:
            notes.append(
                f"population mean spend per purchase p v / (q - 1) = {p * v / (q - 1):,.2f}"
            )
        return Summary(
            "Gamma-Gamma spend model (Fader, Hardie & Lee 2005), maximum likelihood",
            facts={
                "repeat buyers fitted": f"{self.n_customers_:,}",
                "left out": f"{self.n_excluded_:,} (no repeat purchase or spend <= 0)",
                "converged": str(self.converged_),
                "log-likelihood": f"{self.log_likelihood_:,.3f}",
                "penalizer": str(self.penalizer),
            },
            tables=[("parameters", table)],
            notes=notes,
        )

"""Next purchase and lifetime value: BG/NBD, Gamma-Gamma, discounted CLV and a propensity model.

The Buy-Till-You-Die models take the clv-convention features of :func:`segwork.rfm.features`
(frequency = repeat purchase days, recency = first to last purchase, T = first purchase to the
end of observation, monetary = mean spend per repeat purchase day), as lifetimes and
PyMC-Marketing do.

* :class:`BetaGeo` - the BG/NBD model of Fader, Hardie & Lee (2005), "Counting your customers
  the easy way". Fitted by maximum likelihood on the distinct (frequency, recency, T) triples
  weighted by their counts, so a million customers cost as much as their few thousand distinct
  histories. One-time buyers (frequency 0) are alive with probability 1 by the model's
  assumption that dropout happens only right after a purchase.
* :class:`GammaGamma` - spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted
  on repeat buyers only; it assumes spend is independent of frequency (checked in ``summary``).
* :func:`customer_lifetime_value` - expected purchases per month times expected spend,
  discounted monthly (the lifetimes convention: a month is 30 days).
* :class:`PropensityModel` - a scikit-learn classifier on features at a cutoff date predicting
  a purchase in the next horizon, evaluated on a temporal holdout (:func:`temporal_holdout`), and
  :func:`compare_on_holdout` to put it side by side with BG/NBD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import optimize, special

from segwork.customers import interaction_counts, order_behaviour


class CLVError(ValueError):
    """Input the models cannot be fitted on; the message says why and what to do."""


def _triples(
    features: pd.DataFrame | None, frequency, recency, T
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if features is not None:
        missing = [c for c in ("frequency", "recency", "T") if c not in features]
        if missing:
            raise CLVError(
                f"clv features need columns frequency, recency, T; missing {missing}. "
                "Use segwork.rfm.features(orders, analysis_date=..., convention='clv')."
            )
        frequency, recency, T = features["frequency"], features["recency"], features["T"]
    x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    if not (x.shape == tx.shape == t.shape):
        raise CLVError("frequency, recency and T must have the same length")
    if len(x) == 0:
        raise CLVError("no customers to fit: the clv features are empty")
    if np.isnan(x).any() or np.isnan(tx).any() or np.isnan(t).any():
        raise CLVError("frequency, recency and T must not be missing")
    if (x < 0).any() or (tx < 0).any() or (tx > t + 1e-9).any() or ((x == 0) & (tx != 0)).any():
        raise CLVError(
            "invalid clv features: need frequency >= 0, 0 <= recency <= T, and recency 0 when "
            "frequency is 0 (the lifetimes convention)"
        )
    return x, tx, t


def bgnbd_log_likelihood(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6), in log space."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length columns and how often each occurs (a lexsort, O(n log n))."""
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    change = np.ones(len(order), bool)
    change[1:] = np.any([np.diff(c) != 0 for c in sorted_cols], axis=0)
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, len(order)))
    return [c[starts] for c in sorted_cols], counts


class _Histories:
    """Customer histories with their distinct x, t_x and T values, so that special functions are
    evaluated once per distinct value (x takes a few hundred values at most) and gathered."""

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
        self.x = x
        self.ux, self.xi = np.unique(x, return_inverse=True)
        self.utx, self.txi = np.unique(tx, return_inverse=True)
        self.uT, self.Ti = np.unique(T, return_inverse=True)
        self.repeat = x > 0


def _bgnbd_ll_grad(params: Sequence[float], h: _Histories, *, grad: bool = True):
    r, alpha, a, b = params
    x, xi = h.x, h.xi
    a1a2 = (
        (special.gammaln(r + h.ux) + special.betaln(a, b + h.ux))[xi]
        - special.gammaln(r)
        + r * np.log(alpha)
        - special.betaln(a, b)
    )
    log_aT = np.log(alpha + h.uT)[h.Ti]
    log_atx = np.log(alpha + h.utx)[h.txi]
    a3 = -(r + x) * log_aT
    with np.errstate(divide="ignore"):
        a4 = np.where(
            h.repeat,
            np.log(a) - np.log(np.where(h.repeat, b + x - 1, 1.0)) - (r + x) * log_atx,
            -np.inf,
        )
    last = np.logaddexp(a3, a4)
    ll = a1a2 + last
    if not grad:
        return ll, None
    w3 = np.exp(a3 - last)
    w4 = np.where(h.repeat, 1.0 - w3, 0.0)
    inv_aT = (1.0 / (alpha + h.uT))[h.Ti]
    inv_atx = (1.0 / (alpha + h.utx))[h.txi]
    dg_abx = special.digamma(a + b + h.ux)[xi]
    g = np.column_stack(
        [
            special.digamma(r + h.ux)[xi]
            - special.digamma(r)
            + np.log(alpha)
            - w3 * log_aT
            - w4 * log_atx,
            r / alpha - (r + x) * (w3 * inv_aT + w4 * inv_atx),
            special.digamma(a + b) - dg_abx + w4 / a,
            special.digamma(b + h.ux)[xi]
            - dg_abx
            - special.digamma(b)
            + special.digamma(a + b)
            - w4 / np.where(h.repeat, b + x - 1, 1.0),
        ]
    )
    return ll, g


def bgnbd_log_likelihood_and_gradient(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log-likelihood and its analytic gradient (n x 4) w.r.t. (r, alpha, a, b).

    With L = logaddexp(A3, A4) the last term of eq. 6, the weights w3 = exp(A3 - L) and
    w4 = exp(A4 - L) distribute its derivative over the two parts.
    """
    return _bgnbd_ll_grad(
        params, _Histories(np.asarray(x, float), np.asarray(tx, float), np.asarray(T, float))
    )


def _fit_positive(
    neg_ll, n_params: int, x0: np.ndarray | None = None, *, jac: bool = False
) -> tuple[np.ndarray, Any]:
    """Minimise over log-parameters; return the parameters and the optimiser result.

    With ``jac=True``, ``neg_ll`` returns (value, gradient).
    """
    start = np.zeros(n_params) if x0 is None else x0
    res = optimize.minimize(neg_ll, start, jac=jac, method="L-BFGS-B", options={"maxiter": 2000})
    if not res.success:  # a second, derivative-free attempt from where it stopped
        value = (lambda lp: neg_ll(lp)[0]) if jac else neg_ll
        res = optimize.minimize(
            value,
            res.x,
            method="Nelder-Mead",
            options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
        )
    return np.exp(res.x), res


def _standard_errors(total_neg_ll, log_params: np.ndarray, gradient=None) -> np.ndarray:
    """Standard errors of the parameters from the numerical Hessian in log space (delta method).

    With ``gradient`` (of the total negative log-likelihood in log space) the Hessian is the
    central difference of the gradient (2k evaluations instead of 4k^2).
    """
    k = len(log_params)
    h = 1e-4
    hess = np.empty((k, k))
    if gradient is not None:
        for i in range(k):
            e = np.eye(k)[i] * h
            hess[:, i] = (gradient(log_params + e) - gradient(log_params - e)) / (2 * h)
        hess = (hess + hess.T) / 2
    for i in range(k if gradient is None else 0):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                total_neg_ll(log_params + e_i + e_j)
                - total_neg_ll(log_params + e_i - e_j)
                - total_neg_ll(log_params - e_i + e_j)
                + total_neg_ll(log_params - e_i - e_j)
            ) / (4 * h * h)
    try:
        cov = np.linalg.inv(hess)
        se_log = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se_log = np.full(k, np.nan)
    return np.exp(log_params) * se_log


class BetaGeo:
    """BG/NBD: how many purchases to expect from each customer, and the chance they are still active.

    ``params_`` = {r, alpha, a, b}: purchase rates are Gamma(r, alpha) across customers, dropout
    probabilities after each purchase Beta(a, b). Time is in the unit of the features (days or weeks).
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(
        self, clv_features: pd.DataFrame | None = None, *, frequency=None, recency=None, T=None
    ) -> BetaGeo:
        x, tx, t = _triples(clv_features, frequency, recency, T)
        if x.max() == 0:
            raise CLVError(
                "no customer has a repeat purchase: BG/NBD cannot separate purchase rate from dropout. "
                "Use a longer history or a propensity model."
            )
        (ux, utx_days, ut_days), counts = unique_rows(x, tx, t)
        if len(counts) < 3:
            raise CLVError(
                f"only {len(counts)} distinct customer histories: four parameters cannot be estimated. "
                "BG/NBD needs customers who differ in frequency, recency and age."
            )
        scale = 10.0 / t.max()  # fit in rescaled time for numerical stability (as lifetimes does)
        scaled = _Histories(ux, utx_days * scale, ut_days * scale)
        w = counts.astype(float)

        total = w.sum()

        def neg_ll(log_p: np.ndarray) -> tuple[float, np.ndarray]:
            p = np.exp(log_p)
            ll, grad = _bgnbd_ll_grad(p, scaled)
            value = -(w @ ll) / total + self.penalizer * float(p @ p)
            return value, (
                -(w @ grad) / total + 2 * self.penalizer * p
            ) * p  # chain rule to log space

        params, res = _fit_positive(neg_ll, 4, jac=True)
        r, alpha, a, b = params
        self.params_ = {"r": float(r), "alpha": float(alpha / scale), "a": float(a), "b": float(b)}
        logp = np.log([self.params_[k] for k in ("r", "alpha", "a", "b")])
        days = _Histories(ux, utx_days, ut_days)  # the original time unit, for reporting

        def total_grad(lp: np.ndarray) -> np.ndarray:
            return -(w @ _bgnbd_ll_grad(np.exp(lp), days)[1]) * np.exp(lp)

        self.log_likelihood_ = float(w @ _bgnbd_ll_grad(np.exp(logp), days, grad=False)[0])
        ses = _standard_errors(
            lambda lp: -float(w @ _bgnbd_ll_grad(np.exp(lp), days, grad=False)[0]),
            logp,
            gradient=total_grad,
        )
        self.standard_errors_ = dict(zip(self.params_, ses, strict=True))
        self.n_customers_, self.n_triples_, self.converged_ = (
            int(len(x)),
            int(len(counts)),
            bool(res.success),
        )
        self._data = (x, tx, t)
        return self

    def _check(self) -> None:
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: BetaGeo().fit(clv_features)")

    def _args(self, frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._check()
        if frequency is None:
            return self._data
        return _triples(None, frequency, recency, T)

    def p_alive(self, frequency=None, recency=None, T=None) -> np.ndarray:
        """P(still active at T | history); 1 for customers without repeat purchases (model assumption)."""
        x, tx, t = self._args(frequency, recency, T)
        r, alpha, a, b = (self.params_[k] for k in ("r", "alpha", "a", "b"))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.where(x > 0, log_ratio, 0.0))), 1.0)

    def expected_purchases(self, t: float, frequency=None, recency=None, T=None) -> np.ndarray:
        """Expected number of purchases in the next ``t`` periods given each customer's history (eq. 10)."""
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, a, b = (self.params_[k] for k in ("r", "alpha", "a", "b"))
        if abs(a - 1) < 1e-9:  # removable singularity of the closed form
            a = 1 + 1e-7
        z = t / (alpha + tt + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + tt) / (alpha + tt + t)) ** (r + x) * hyp)
        with np.errstate(divide="ignore", invalid="ignore"):
            den = 1 + np.where(
                x > 0, a / (b + x - 1) * ((alpha + tt) / (alpha + tx)) ** (r + x), 0.0
            )
        return num / den

    def expected_purchases_new(self, t: float) -> float:
        """Expected purchases in (0, t] of a newly acquired customer (unconditional, eq. 9)."""
        self._check()
        r, alpha, a, b = (self.params_[k] for k in ("r", "alpha", "a", "b"))
        if abs(a - 1) < 1e-9:
            a = 1 + 1e-7
        return float(
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )

    def p_purchase(self, t: float, frequency=None, recency=None, T=None) -> np.ndarray:
        """P(at least one purchase in the next ``t`` periods | history).

        Alive customers do not drop out without purchasing, and their rate given the history is
        Gamma(r + x, alpha + T), so P = p_alive * (1 - ((alpha + T) / (alpha + T + t))^(r + x)).
        """
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha = self.params_["r"], self.params_["alpha"]
        return self.p_alive(x, tx, tt) * (1 - ((alpha + tt) / (alpha + tt + t)) ** (r + x))

    def summary(self) -> str:
        self._check()
        lines = [
            "BG/NBD (Fader, Hardie & Lee 2005), maximum likelihood",
            "=" * 53,
            f"customers: {self.n_customers_:,}   distinct (frequency, recency, T): {self.n_triples_:,}",
            f"log-likelihood: {self.log_likelihood_:,.2f}   converged: {self.converged_}   "
            f"penalizer: {self.penalizer}",
            "",
            f"{'param':<7}{'estimate':>12}{'std err':>12}",
        ]
        for k, v in self.params_.items():
            lines.append(f"{k:<7}{v:>12.4g}{self.standard_errors_[k]:>12.3g}")
        return "\n".join(lines)


def gamma_gamma_log_likelihood(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of mean spend ``m`` over ``x`` transactions."""
    p, q, v = params
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


class GammaGamma:
    """Gamma-Gamma spend model: expected average spend per purchase, shrunk towards the population mean.

    ``params_`` = {p, q, v}. Fitted on customers with frequency > 0 and monetary > 0 only.
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(
        self, clv_features: pd.DataFrame | None = None, *, frequency=None, monetary=None
    ) -> GammaGamma:
        if clv_features is not None:
            if not {"frequency", "monetary"} <= set(clv_features):
                raise CLVError("Gamma-Gamma needs columns frequency and monetary (clv convention)")
            frequency, monetary = clv_features["frequency"], clv_features["monetary"]
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary, dtype=float)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise CLVError(
                f"Gamma-Gamma needs repeat buyers with positive spend; found {int(keep.sum())}"
            )
        x, m = x[keep], m[keep]
        self.frequency_monetary_correlation_ = (
            float(np.corrcoef(x, m)[0, 1]) if x.std() and m.std() else 0.0
        )
        (ux, um), counts = unique_rows(x, m)
        w = counts.astype(float)
        shift = np.log(m.mean())  # start v near the spend scale

        def neg_ll(log_p: np.ndarray) -> float:
            p = np.exp(log_p)
            return -(w @ gamma_gamma_log_likelihood(p, ux, um)) / w.sum() + self.penalizer * float(
                p @ p
            )

        params, res = _fit_positive(neg_ll, 3, x0=np.array([0.0, 0.0, shift]))
        self.params_ = dict(zip(("p", "q", "v"), map(float, params), strict=True))
        logp = np.log(params)
        self.log_likelihood_ = float(w @ gamma_gamma_log_likelihood(params, ux, um))
        self.standard_errors_ = dict(
            zip(
                self.params_,
                _standard_errors(
                    lambda lp: -float(w @ gamma_gamma_log_likelihood(np.exp(lp), ux, um)),
                    logp,
                ),
                strict=True,
            )
        )
        self.n_customers_, self.converged_ = int(keep.sum()), bool(res.success)
        return self

    def conditional_expected_average_profit(self, frequency, monetary) -> np.ndarray:
        """E[spend per purchase | x purchases with mean m]; the population mean for x = 0."""
        if not hasattr(self, "params_"):
            raise CLVError("fit the model first: GammaGamma().fit(clv_features)")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        if q <= 1:
            raise CLVError(f"expected spend needs q > 1 (fitted q = {q:.3g})")
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary, dtype=float)
        return (p * (v + x * m)) / (p * x + q - 1)

    expected_spend = conditional_expected_average_profit

    def summary(self) -> str:
        lines = [
            "Gamma-Gamma spend model (Fader, Hardie & Lee 2005)",
            "=" * 50,
            f"repeat buyers: {self.n_customers_:,}   log-likelihood: {self.log_likelihood_:,.2f}",
            f"correlation of frequency and spend: {self.frequency_monetary_correlation_:+.3f} "
            f"({'fine' if abs(self.frequency_monetary_correlation_) < 0.3 else 'high: the model assumes none'})",
            "",
            f"{'param':<7}{'estimate':>12}{'std err':>12}",
        ]
        for k, v in self.params_.items():
            lines.append(f"{k:<7}{v:>12.4g}{self.standard_errors_[k]:>12.3g}")
        return "\n".join(lines)


DAYS_PER_MONTH = 30  # the lifetimes convention
_UNIT_DAYS = {"D": 1.0, "W": 7.0}


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

    CLV = sum over months m of (E[purchases by month m] - E[purchases by month m-1]) * expected
    spend / (1 + d)^m, with a month of 30 days (lifetimes' ``customer_lifetime_value``).
    """
    if time_unit not in _UNIT_DAYS:
        raise CLVError(f"time_unit must be 'D' or 'W', got {time_unit!r}")
    x, tx, t = _triples(features, None, None, None)
    spend = gg.conditional_expected_average_profit(features["frequency"], features["monetary"])
    value = np.zeros(len(features))
    previous = np.zeros(len(features))
    for m in range(1, horizon_months + 1):
        upto = bgnbd.expected_purchases(m * DAYS_PER_MONTH / _UNIT_DAYS[time_unit], x, tx, t)
        value += (upto - previous) * spend / (1 + discount_rate_monthly) ** m
        previous = upto
    return pd.Series(value, index=features.index, name=f"clv_{horizon_months}m")


# --- propensity ---------------------------------------------------------------------------------


def _purchases_between(
    orders: pd.DataFrame | ibis.Table, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Series:
    """Purchases (amount > 0) per customer in the days (start, end], counted in the Ibis backend."""
    from segwork.sources import as_ibis

    t = as_ibis(orders)
    lo, hi = start + pd.Timedelta(days=1), end + pd.Timedelta(days=1)
    t = t.filter((t.order_date >= lo) & (t.order_date < hi) & (t.amount > 0))
    out = t.group_by("customer_id").aggregate(n=t.count()).to_pandas()
    return out.set_index("customer_id")["n"]


def build_propensity_dataset(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    cutoff: Any,
    horizon_days: int = 90,
    profile_columns: Sequence[str] = ("customer_type",),
) -> tuple[pd.DataFrame, pd.Series]:
    """Features known at ``cutoff`` and the label "purchased in the following ``horizon_days``".

    The population is every customer with at least one purchase up to the cutoff. Features are
    the customer 360 behaviour columns as of the cutoff (reusing :mod:`segwork.customers`),
    interaction counts of the year before it, and profile columns.
    """
    cut = pd.Timestamp(cutoff)
    beh = order_behaviour(orders, analysis_date=cut)
    beh = beh[beh["orders_total"] > 0]
    if beh.empty:
        raise CLVError(
            f"no customer has a purchase on or before {cut.date()}: nothing to learn from"
        )
    X = beh.drop(columns=["first_order_date", "last_order_date"])
    if interactions is not None:
        inter = interaction_counts(interactions, analysis_date=cut)
        inter = inter.drop(columns=["last_interaction_at"]).astype(float)
        X = X.join(inter, how="left").fillna({c: 0.0 for c in inter.columns})
    if customers is not None:
        prof = customers.set_index("customer_id") if "customer_id" in customers else customers
        cols = [c for c in profile_columns if c in prof]
        X = X.join(prof[cols].astype("string").astype(object), how="left")
    y = (
        _purchases_between(orders, cut, cut + pd.Timedelta(days=horizon_days))
        .reindex(X.index)
        .fillna(0)
        > 0
    )
    return X, y.rename("purchased")


class PropensityModel:
    """P(purchase in the next horizon) from features at a cutoff; a scikit-learn pipeline inside.

    ``model="hgb"``: histogram gradient boosting (handles missing values, non-linear);
    ``model="logistic"``: scaled logistic regression (interpretable baseline).
    """

    def __init__(self, horizon_days: int = 90, model: str = "hgb", random_state: int = 0):
        self.horizon_days, self.model, self.random_state = horizon_days, model, random_state

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
                max_iter=200, learning_rate=0.05, random_state=self.random_state
            )
        elif self.model == "logistic":
            pre = ColumnTransformer(
                [
                    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                    ("cat", onehot, cat),
                ]
            )
            clf = LogisticRegression(max_iter=2000)
        else:
            raise CLVError(f"model must be 'hgb' or 'logistic', got {self.model!r}")
        return make_pipeline(pre, clf)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> PropensityModel:
        if y.nunique() < 2:
            raise CLVError(
                "the label has one class only (everyone or no one bought in the horizon): nothing to learn"
            )
        self.columns_ = list(X.columns)
        self.pipeline_ = self._pipeline(X).fit(X, y.astype(int))
        return self

    def predict_proba(self, X: pd.DataFrame) -> pd.Series:
        return pd.Series(
            self.pipeline_.predict_proba(X[self.columns_])[:, 1], index=X.index, name="propensity"
        )


@dataclass
class HoldoutResult:
    """A propensity model evaluated on the last horizon before the analysis date."""

    metrics: dict[str, float]
    calibration: pd.DataFrame
    predictions: pd.DataFrame  # customer_id index: propensity, actual
    train_cutoff: pd.Timestamp
    eval_cutoff: pd.Timestamp

    def summary(self) -> str:
        m = self.metrics
        return (
            f"Propensity, temporal holdout: trained on cutoff {self.train_cutoff.date()}, evaluated on "
            f"{self.eval_cutoff.date()} -> +{m['horizon_days']:.0f} days\n"
            f"customers {m['n']:,.0f}, buyers {m['base_rate']:.1%}; AUC {m['auc']:.3f}, Brier {m['brier']:.4f} "
            f"(Brier of always predicting the base rate: {m['brier_baseline']:.4f})"
        )


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    base = float(actual.mean())
    return {
        "n": float(len(actual)),
        "base_rate": base,
        "auc": float(roc_auc_score(actual, predicted)),
        "brier": float(brier_score_loss(actual, predicted)),
        "brier_baseline": float(brier_score_loss(actual, np.full(len(actual), base))),
    }


def calibration_table(actual: pd.Series, predicted: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs actual purchase rate per decile of each model's prediction (long format)."""
    rows = []
    for model in predicted.columns:
        p = predicted[model]
        bins = pd.qcut(p.rank(method="first"), n_bins, labels=False)
        g = pd.DataFrame({"p": p, "y": actual.astype(float), "bin": bins}).groupby("bin")
        for b, d in g:
            rows.append(
                {
                    "model": model,
                    "decile": int(b) + 1,
                    "predicted": d["p"].mean(),
                    "actual": d["y"].mean(),
                    "customers": len(d),
                }
            )
    return pd.DataFrame(rows)


def temporal_holdout(
    orders,
    customers=None,
    interactions=None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
) -> tuple[HoldoutResult, PropensityModel]:
    """Train at analysis - 2h, evaluate at analysis - h on the last horizon; return the result and a
    model refitted at analysis - h (the latest labelled window) for scoring at the analysis date."""
    ref = pd.Timestamp(analysis_date)
    h = pd.Timedelta(days=horizon_days)
    train_cut, eval_cut = ref - 2 * h, ref - h
    X_tr, y_tr = build_propensity_dataset(
        orders, customers, interactions, cutoff=train_cut, horizon_days=horizon_days
    )
    X_ev, y_ev = build_propensity_dataset(
        orders, customers, interactions, cutoff=eval_cut, horizon_days=horizon_days
    )
    first = PropensityModel(horizon_days, model, random_state).fit(X_tr, y_tr)
    p = first.predict_proba(X_ev)
    metrics = _scores(y_ev.to_numpy(), p.to_numpy()) | {"horizon_days": float(horizon_days)}
    preds = pd.DataFrame({"propensity": p, "actual": y_ev})
    result = HoldoutResult(
        metrics, calibration_table(y_ev, preds[["propensity"]]), preds, train_cut, eval_cut
    )
    final = PropensityModel(horizon_days, model, random_state).fit(X_ev, y_ev)
    return result, final


def compare_on_holdout(
    orders,
    customers=None,
    interactions=None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
) -> dict[str, Any]:
    """BG/NBD and the propensity model predicting the same last horizon, side by side.

    Both are fitted with data up to analysis - h only and predict P(purchase in the next h days)
    for the customers who had bought by then. Returns ``predictions`` (per customer),
    ``metrics`` (AUC and Brier per model), ``calibration`` (per decile) and ``groups``
    (predicted vs actual purchases per RFM-like group of past frequency), ``holdout`` and ``model``
    (the propensity model refitted on the latest labelled window, for scoring at the analysis date). ``holdout`` and ``model``
    (the propensity model refitted on the latest labelled window, for scoring at the analysis date).
    """
    from segwork.rfm import features as rfm_features

    ref = pd.Timestamp(analysis_date)
    eval_cut = ref - pd.Timedelta(days=horizon_days)
    holdout, final = temporal_holdout(
        orders,
        customers,
        interactions,
        analysis_date=ref,
        horizon_days=horizon_days,
        model=model,
        random_state=random_state,
    )
    feats = rfm_features(orders, analysis_date=eval_cut, convention="clv", time_unit="D")
    bg = BetaGeo().fit(feats)
    bg_pred = pd.DataFrame(
        {
            "bgnbd": bg.p_purchase(horizon_days, feats["frequency"], feats["recency"], feats["T"]),
            "bgnbd_expected": bg.expected_purchases(
                horizon_days, feats["frequency"], feats["recency"], feats["T"]
            ),
            "past_frequency": feats["frequency"].to_numpy(),
        },
        index=feats.index,
    )
    actual_n = _purchases_between(orders, eval_cut, ref)
    preds = holdout.predictions.join(bg_pred, how="inner")
    preds["actual_purchases"] = actual_n.reindex(preds.index).fillna(0).astype(int)
    y = preds["actual"].astype(float).to_numpy()
    metrics = pd.DataFrame({m: _scores(y, preds[m].to_numpy()) for m in ("propensity", "bgnbd")}).T
    groups = (
        preds.assign(
            group=pd.cut(
                preds["past_frequency"],
                [-1, 0, 1, 3, 7, np.inf],
                labels=["0", "1", "2-3", "4-7", "8+"],
            )
        )
        .groupby("group", observed=True)
        .agg(
            customers=("actual", "size"),
            actual_buyers=("actual", "mean"),
            propensity=("propensity", "mean"),
            bgnbd=("bgnbd", "mean"),
            actual_purchases=("actual_purchases", "mean"),
            bgnbd_expected=("bgnbd_expected", "mean"),
        )
    )
    return {
        "predictions": preds,
        "metrics": metrics,
        "calibration": calibration_table(preds["actual"], preds[["propensity", "bgnbd"]]),
        "groups": groups.reset_index(),
        "bgnbd": bg,
        "holdout": holdout,
        "model": final,
    }


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
    """Per-customer predictions at the analysis date: p_alive, expected purchases, spend, CLV, propensity."""
    f = clv_features
    out = pd.DataFrame(
        {
            "p_alive": bgnbd.p_alive(f["frequency"], f["recency"], f["T"]),
            f"expected_purchases_{horizon_days}d": bgnbd.expected_purchases(
                horizon_days, f["frequency"], f["recency"], f["T"]
            ),
            "expected_spend": gg.conditional_expected_average_profit(f["frequency"], f["monetary"]),
        },
        index=f.index,
    )
    out[f"clv_{horizon_months}m"] = customer_lifetime_value(
        bgnbd, gg, f, horizon_months=horizon_months, discount_rate_monthly=discount_rate_monthly
    )
    if propensity is not None:
        out[f"propensity_{horizon_days}d"] = propensity.reindex(out.index)
    return out


def value_by_segment(table: pd.DataFrame, *, segment: str = "rfm_segment") -> pd.DataFrame:
    """Mean p_alive, propensity and CLV per segment, with the segment's total and share of CLV."""
    clv_col = next(c for c in table.columns if c.startswith("clv_"))
    means = [
        c for c in table.columns if c == "p_alive" or c.startswith("propensity_") or c == clv_col
    ]
    g = table.groupby(segment, observed=True)
    out = g[means].mean()
    out.insert(0, "customers", g.size())
    out["clv_total"] = g[clv_col].sum()
    out["clv_share"] = out["clv_total"] / out["clv_total"].sum()
    return out.sort_values("clv_total", ascending=False).reset_index()


def calibration_plot(calibration: pd.DataFrame, ax=None):
    """Predicted vs actual purchase rate per decile, one line per model, with the diagonal."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = ax if ax is not None else plt.subplots()[1]
    sns.lineplot(data=calibration, x="predicted", y="actual", hue="model", marker="o", ax=ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted probability of a purchase",
        ylabel="share who actually bought",
        title="Calibration on the holdout",
    )
    return ax


def groups_plot(groups: pd.DataFrame, ax=None):
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
    long["series"] = long["series"].map(
        {"actual_buyers": "actual", "propensity": "propensity model", "bgnbd": "BG/NBD"}
    )
    sns.barplot(data=long, x="group", y="share", hue="series", ax=ax)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set(
        xlabel="repeat purchases before the holdout",
        ylabel="buyers in the next period",
        title="Predicted and actual buyers",
    )
    ax.legend(title="")
    return ax


def comparison_text(comparison: dict[str, Any]) -> str:
    """Plain words on which model to trust for what, from the holdout metrics."""
    m = comparison["metrics"]
    best = "propensity" if m.loc["propensity", "auc"] >= m.loc["bgnbd", "auc"] else "bgnbd"
    names = {"propensity": "the propensity model", "bgnbd": "BG/NBD"}
    return (
        f"On the last {int(comparison['holdout'].metrics['horizon_days'])} days, {names[best]} ranked customers "
        f"better (AUC {m.loc['propensity', 'auc']:.3f} for the propensity model vs {m.loc['bgnbd', 'auc']:.3f} "
        f"for BG/NBD; Brier {m.loc['propensity', 'brier']:.3f} vs {m.loc['bgnbd', 'brier']:.3f}). Use the "
        "propensity score to choose whom to contact in the next campaign: it also sees emails, complaints and "
        "abandoned carts. Use BG/NBD with Gamma-Gamma for lifetime value and long-horizon planning: it "
        "needs only purchase history, extrapolates beyond one horizon, and its parameters are interpretable."
    )

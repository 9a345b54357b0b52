"""Maximum likelihood helpers shared by BG/NBD and Gamma-Gamma: the optimiser, the covariance
from the Hessian, and the check of which parameters the data do not pin down.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from segwork.clv.errors import CLVWarning
from segwork.summary import Summary

_LOG_BOUND = 18.0  # search box for log-parameters: exp(18) ~ 6.6e7


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


def _parameter_rows(
    params: dict[str, float], standard_errors: dict[str, float], covariance_log: np.ndarray
) -> list[dict[str, str]]:
    """A fitted model's summary table: each parameter with its standard error and the 95%
    interval from the covariance of the log parameters (so it stays positive)."""
    se_log = np.sqrt(np.diag(covariance_log))
    rows = []
    for (k, v), s in zip(params.items(), se_log, strict=True):
        with np.errstate(over="ignore", invalid="ignore"):
            lo, hi = v * np.exp(-1.96 * s), v * np.exp(1.96 * s)
        rows.append(
            {
                "param": k,
                "estimate": f"{v:.4g}",
                "std err": f"{standard_errors[k]:.3g}",
                "95% CI low": f"{lo:.4g}",
                "95% CI high": f"{hi:.4g}",
            }
        )
    return rows


def _count_model_summary(model: Any, title: str, notes: list[str]) -> Summary:
    """The summary of a fitted purchase-count model (BG/NBD, Pareto/NBD, MBG/NBD): the size of
    the data, the fit, and the parameter table of :func:`_parameter_rows`."""
    rows = _parameter_rows(model.params_, model.standard_errors_, model.covariance_log_)
    return Summary(
        title,
        facts={
            "customers": f"{model.n_customers_:,}",
            "repeat buyers": f"{model.n_repeat_buyers_:,}",
            "distinct (frequency, recency, T)": f"{model.n_triples_:,}",
            "log-likelihood": f"{model.log_likelihood_:,.3f}",
            "converged": str(model.converged_),
            "penalizer": str(model.penalizer),
            "time unit": model.time_unit_ or "as given",
        },
        tables=[("parameters (95% CI log-normal)", pd.DataFrame(rows).set_index("param"))],
        notes=notes,
    )

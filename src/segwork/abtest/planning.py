"""Planning a test: customers per arm for an effect (:func:`sample_size`), the minimum detectable
effect at a size (:func:`mde`) and both for every row of a result (:func:`plan`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from segwork.abtest.conventions import PARAMS, ABTestError
from segwork.abtest.evaluation import ABResult


# Planning
def _k(power: float, alpha: float) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ABTestError(
            f"{PARAMS}.power ({power}) and {PARAMS}.alpha ({alpha}) must both be between 0 and 1"
        )
    return float(stats.norm.isf(alpha / 2) + stats.norm.ppf(power))


def sample_size(
    baseline,
    mde,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
    sd: float | None = None,
):
    """Customers per arm for a two-sided test to detect ``mde`` with ``power`` at ``alpha``.

    Proportions (``sd`` None): unpooled normal approximation, matching the Wald test used by
    :func:`evaluate`: ``n = (z_{1-alpha/2} + z_power)^2 (p1 q1 + p2 q2) / (p2 - p1)^2``, with
    ``p2 = baseline (1 + mde)`` (relative) or ``baseline + mde``. Means (``sd`` given, e.g. revenue
    per customer): ``n = 2 (z_{1-alpha/2} + z_power)^2 sd^2 / d^2``. Rounded up; arrays broadcast."""
    k = _k(power, alpha)
    p1 = np.asarray(baseline, dtype=float)
    e = np.asarray(mde, dtype=float)
    d = p1 * e if relative else e
    if np.any(d == 0):
        raise ABTestError("mde must not be 0")
    if sd is None:
        p2 = p1 + d
        if np.any((p1 <= 0) | (p1 >= 1) | (p2 <= 0) | (p2 >= 1)):
            raise ABTestError(
                f"baseline {baseline} and mde {mde} must give rates strictly between 0 and 1"
            )
        n = k**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / d**2
    else:
        n = 2 * k**2 * np.asarray(sd, dtype=float) ** 2 / d**2
    n = np.ceil(n * (1 - 1e-12))
    return int(n) if n.ndim == 0 else n.astype(np.int64)


def _mde_prop(p, n_c, n_v, k):
    """Upward absolute MDE for a rate p with arms n_c, n_v (unpooled); inf if even p2 = 1 is not enough."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1 + k**2 / n_v
        b = k**2 * (1 - 2 * p) / n_v
        cc = k**2 * p * (1 - p) * (1 / n_c + 1 / n_v)
        d = (b + np.sqrt(b**2 + 4 * a * cc)) / (2 * a)
    return np.where(d <= 1 - p, d, np.inf)


def mde(
    baseline,
    n_per_arm,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
    sd: float | None = None,
):
    """Minimum detectable (upward) effect with ``n_per_arm`` customers per arm: the inverse of
    :func:`sample_size` under the same formula (closed form; relative to baseline if ``relative``).
    ``inf`` when no effect is detectable at that size."""
    k = _k(power, alpha)
    p = np.asarray(baseline, dtype=float)
    n = np.asarray(n_per_arm, dtype=float)
    d = _mde_prop(p, n, n, k) if sd is None else k * np.asarray(sd, dtype=float) * np.sqrt(2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d / p if relative else d
    return float(out) if np.ndim(out) == 0 else out


def plan(
    result_or_table: ABResult | pd.DataFrame,
    power: float = 0.8,
    *,
    alpha: float | None = None,
    target_lift: float | None = None,
) -> pd.DataFrame:
    """Minimum detectable effect per campaign x segment x variant x metric at the current arm sizes
    (observed control rate/mean and sd as the baseline), and with ``target_lift`` the customers per
    arm needed to detect that relative lift. Pass ``alpha`` divided by the family size to plan for
    a corrected test."""
    if isinstance(result_or_table, ABResult):
        tab = result_or_table.table
        alpha = result_or_table.settings["alpha"] if alpha is None else alpha
    else:
        tab = result_or_table
        alpha = 0.05 if alpha is None else alpha
    k = _k(power, alpha)
    out = tab[
        [
            "campaign_id",
            "segment",
            "variant",
            "metric",
            "n_control",
            "n_variant",
            "control_mean",
            "control_sd",
            "lift",
        ]
    ].copy()
    out = out.rename(columns={"control_mean": "baseline", "lift": "observed_lift"})
    p = out["baseline"].to_numpy(dtype=float)
    sd = out["control_sd"].to_numpy(dtype=float)
    nc, nv = out["n_control"].to_numpy(dtype=float), out["n_variant"].to_numpy(dtype=float)
    conv = (
        tab["metric_kind"].to_numpy() == "binary"
        if "metric_kind" in tab
        else out["metric"].to_numpy() == "conversion"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(conv, _mde_prop(p, nc, nv, k), k * sd * np.sqrt(1 / nc + 1 / nv))
        d = np.where((nc > 0) & (nv > 0), d, np.inf)
        out["mde_abs"] = d
        out["mde_rel"] = np.where(p > 0, d / p, np.inf)
        if target_lift is not None:
            need = np.full(len(out), np.nan)
            valid = (p > 0) & np.isfinite(p)
            cv = conv & valid & (p * (1 + target_lift) < 1) & (p < 1)
            if cv.any():
                need[cv] = sample_size(p[cv], target_lift, power=power, alpha=alpha)
            mv = ~conv & valid & (sd > 0)
            if mv.any():
                need[mv] = sample_size(p[mv], target_lift, power=power, alpha=alpha, sd=sd[mv])
            out["target_lift"] = target_lift
            out["n_per_arm_needed"] = need
    out["power"] = power
    out["alpha"] = alpha
    return out

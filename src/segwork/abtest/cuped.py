"""CUPED (regression adjustment on a pre-period metric): the adjusted difference, its interval and
how much narrower it is than the unadjusted one.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from segwork.abtest.cells import _arm
from segwork.abtest.estimation import _normal_p, _welch


def _cuped_block(grid, metric, c, s, v, diff, se, df, z, alpha):
    """CUPED / regression adjustment with the pooled within-arm slope on the pre-period metric."""
    nc, nv = grid.n[c, s, grid.ctrl], grid.n[c, s, v]
    xc, xv = _arm(grid, "mean_pre", c, s, v)
    sxxc, sxxv = _arm(grid, "m2_pre", c, s, v)
    sxyc, sxyv = _arm(grid, f"cx_{metric.name}", c, s, v)
    syyc, syyv = _arm(grid, f"m2_{metric.name}", c, s, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        sxx = sxxc + sxxv
        theta = np.where(sxx > 0, (sxyc + sxyv) / sxx, 0.0)
        adj_c = np.maximum(syyc - 2 * theta * sxyc + theta**2 * sxxc, 0)
        adj_v = np.maximum(syyv - 2 * theta * sxyv + theta**2 * sxxv, 0)
        d = diff - theta * (xv - xc)
        if metric.binary:
            va, vb = adj_c / nc / nc, adj_v / nv / nv  # ddof 0, as the Wald test
            se_a = np.sqrt(va + vb)
            q_a = q_u = z
            p = np.where(se_a > 0, _normal_p(d / se_a), np.where(d == 0, 1.0, np.nan))
        else:
            va, vb = adj_c / (nc - 1) / nc, adj_v / (nv - 1) / nv
            se_a, df_a = _welch(va, vb, nc, nv)
            q_a, q_u = stats.t.isf(alpha / 2, df_a), stats.t.isf(alpha / 2, df)
            p = np.where(
                se_a > 0, 2 * stats.t.sf(np.abs(d / se_a), df_a), np.where(d == 0, 1.0, np.nan)
            )
        width_red = np.where(se > 0, 1 - (q_a * se_a) / (q_u * se), 0.0)
    ok = (nc > 0) & (nv > 0) & np.isfinite(se)
    res = {
        "cuped_theta": theta,
        "cuped_diff": d,
        "cuped_ci_low": d - q_a * se_a,
        "cuped_ci_high": d + q_a * se_a,
        "cuped_p_value": p,
        "cuped_se": se_a,
        "cuped_df": np.full(len(c), np.inf) if metric.binary else df_a,
        "ci_width_reduction": width_red,
    }
    return {k: np.where(ok, val, np.nan) for k, val in res.items()}

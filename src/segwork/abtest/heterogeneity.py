"""Does the effect differ between segments? The joint Wald test of the treatment x segment
interaction terms (HC2), in closed form from the cell statistics.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from segwork.abtest.cells import _Grid, sufficient_stats
from segwork.abtest.conventions import ABTestError
from segwork.abtest.metrics import resolve_metrics


# Heterogeneity
def heterogeneity(
    exposures: pd.DataFrame | ibis.Table,
    *,
    segment: str,
    metric: str = "conversion",
    control: str = "control",
    winsorize: float | None = None,
) -> pd.DataFrame:
    """Does the effect differ across segments? Per campaign and variant: the joint Wald test that all
    treatment x segment interactions are zero in OLS ``y ~ treat * C(segment)`` (control + that
    variant; a linear probability model for conversion) with HC2 errors. Chi-square (``p_value``)
    and F (``f_p_value``, df_denom = n - 2k) forms, as statsmodels' ``wald_test``.

    Segments where an arm has fewer than 2 customers (HC2 needs leverage < 1) or the effect
    estimate has zero variance are left out and listed in ``excluded``."""
    if not segment:
        raise ABTestError("the interaction test needs a segment column")
    spec = resolve_metrics((metric,), exposures)
    cells, _ = sufficient_stats(exposures, segment=segment, metrics=spec, winsorize=winsorize)
    return _heterogeneity_cells(cells, spec[0].name, control, spec[0].kind)


def _heterogeneity_cells(
    cells: pd.DataFrame, metric: str, control: str, kind: str = "binary"
) -> pd.DataFrame:
    if f"mean_{metric}" not in cells:
        raise ABTestError(f"metric '{metric}' was not evaluated")
    grid = _Grid(cells, control)
    n, mean, m2 = grid.n, grid.dense(f"mean_{metric}"), grid.dense(f"m2_{metric}")
    with np.errstate(divide="ignore", invalid="ignore"):
        var_mean = m2 / (n - 1) / n  # HC2 variance of a cell mean in the saturated model
    rows = []
    for ci, camp in enumerate(grid.campaigns):
        for vi in np.flatnonzero(grid.present[ci]):
            if vi == grid.ctrl:
                continue
            nc, nv = n[ci, :, grid.ctrl], n[ci, :, vi]
            d = mean[ci, :, vi] - mean[ci, :, grid.ctrl]
            vd = var_mean[ci, :, vi] + var_mean[ci, :, grid.ctrl]
            present = (nc + nv) > 0
            use = present & (nc >= 2) & (nv >= 2) & (vd > 0)
            excluded = [grid.segments[i] for i in np.flatnonzero(present & ~use)]
            k = int(use.sum())
            if k >= 2:
                w = 1 / vd[use]
                dd = d[use]
                q = float(np.sum(w * dd**2) - np.sum(w * dd) ** 2 / np.sum(w))
                df = k - 1
                df_denom = float(np.sum(nc[use] + nv[use]) - 2 * k)
                p, f = float(stats.chi2.sf(q, df)), q / df
                fp = float(stats.f.sf(f, df, df_denom)) if df_denom > 0 else np.nan
                lo, hi = float(dd.min()), float(dd.max())
            else:
                q = p = f = fp = lo = hi = np.nan
                df, df_denom = max(k - 1, 0), np.nan
            rows.append(
                {
                    "campaign_id": str(camp),
                    "variant": str(grid.variants[vi]),
                    "metric": metric,
                    "n_segments": k,
                    "chi2": q,
                    "df": df,
                    "p_value": p,
                    "f_stat": f,
                    "df_denom": df_denom,
                    "f_p_value": fp,
                    "min_segment_diff": lo,
                    "max_segment_diff": hi,
                    "excluded": "; ".join(excluded) if excluded else "",
                    "note": "" if k >= 2 else "fewer than 2 usable segments: no test",
                    "method": "joint Wald test of treatment x segment interactions, OLS "
                    + ("linear probability model " if kind == "binary" else "")
                    + "with HC2 errors",
                }
            )
    return pd.DataFrame(rows)

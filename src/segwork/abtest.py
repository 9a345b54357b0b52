"""A/B(/n) evaluation of campaigns by segment: did it work, for whom, how much, where to roll out.

Everything is computed from per-cell sufficient statistics (count, mean, centred sums of squares
and cross-products per campaign x segment x variant), aggregated once - in pandas with
``np.bincount`` or in the Ibis backend (DuckDB) for an Ibis table - and then evaluated with
vectorised formulas, so thousands of cells take well under a second.

Conventions (also printed by :meth:`ABResult.summary` and in the ``method`` column):

* **Comparison**: each variant against the control of the same campaign and segment;
  ``diff = variant_mean - control_mean``; two-sided tests; ``(1 - alpha)`` intervals, which are
  *not* adjusted for multiplicity (only the p-values are).
* **Conversion** (0/1 per customer): p-value of the *unpooled* two-proportion z-test (Wald,
  ``se^2 = p_v(1-p_v)/n_v + p_c(1-p_c)/n_c``); the interval for the difference is **Newcombe's
  hybrid score interval** (method 10 of Newcombe 1998, built from the two Wilson intervals), which
  stays valid at 0/n. Per-arm rates carry Wilson intervals. If both arms have no within-arm
  variation (all 0 or all 1) the z statistic is 0/0: the p-value is 1 when the rates are equal and
  undefined (NaN, with a warning) for complete separation.
* **Revenue per customer** (customers without a purchase count as 0): Welch's t-test with
  Welch-Satterthwaite degrees of freedom and the matching t interval; per-arm means carry
  t intervals (n - 1 df). Needs at least 2 customers per arm.
* **Relative lift** ``variant_mean / control_mean - 1`` with a delta-method normal interval for the
  ratio of two independent means: ``se^2 = V_v / m_c^2 + m_v^2 V_c / m_c^4`` with ``V`` the
  variance of each mean as used by the test above. Control mean 0 -> lift is NaN with a warning.
* **Bayesian view**: conversion has Beta(1, 1) priors, so Beta(1 + x, 1 + n - x) posteriors;
  ``chance_to_beat_control = P(p_v > p_c)`` and ``expected_loss = E[max(p_c - p_v, 0)]`` (the
  expected shortfall if the variant is chosen, in metric units) are computed by 48-point
  Gauss-Legendre integration over the narrower posterior (accurate to ~1e-10), or by Monte Carlo
  with a fixed seed when ``n_bayes_draws`` is given. Revenue uses the normal approximation
  ``diff ~ N(diff_hat, se_welch^2)`` in closed form.
* **CUPED** (``pre_metric``): ``theta`` = pooled within-arm covariance / variance of the
  pre-period metric (the regression-adjustment slope of ``y ~ arm + x``, so ``cuped_diff`` equals
  that OLS treatment coefficient); the adjusted outcome ``y - theta (x - mean x)`` is then tested
  exactly as above but with a normal/Welch interval (Wald z for conversion, Welch t for revenue).
  ``ci_width_reduction = 1 - width_cuped / width_unadjusted`` compares it with the unadjusted
  interval of the same kind (Wald z / Welch t), so it measures only the adjustment.
* **Winsorization** (``winsorize=q``, default off): revenue above the q-quantile (linear
  interpolation) of the campaign's revenue, pooled over all variants and segments so the cap does
  not depend on the treatment, is set to that quantile; the cap is stated in the output.
* **Multiple comparisons**: Holm (default), Benjamini-Hochberg (``"fdr_bh"``) or ``"none"``; the
  family is all segments x variants x metrics of one campaign (rows with a p-value).
* **Guards**: sample ratio mismatch (chi-square goodness of fit of the variant counts against
  ``expected_shares``, equal by default) per campaign and per segment, flagged at p < 0.001; warnings
  for arms under 30 customers, fewer than 5 expected conversions, zero conversions.
* **Heterogeneity** (:func:`heterogeneity`): joint Wald test that all treatment x segment
  interaction terms are zero in the OLS ``y ~ treat * C(segment)`` (a linear probability model for
  conversion) with HC2 errors. The model is saturated, so HC2 equals the per-cell ``s^2/n`` and the
  test is computed in closed form from the cell statistics (Cochran's Q with those variances).
* **Planning** (:func:`sample_size`, :func:`mde`, :func:`plan`): the unpooled normal approximation
  that matches the Wald test, ``n = (z_{1-alpha/2} + z_power)^2 (p1 q1 + p2 q2) / (p2 - p1)^2`` per
  arm (and ``2 (z + z)^2 sd^2 / d^2`` for means); it agrees with statsmodels' ``NormalIndPower`` at
  effect size ``d / sqrt((p1 q1 + p2 q2) / 2)``. Cohen's h (arcsine) gives similar, not equal, n.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd
from scipy import special, stats

from segwork.sources import require_columns

__all__ = [
    "ABResult",
    "ABTestError",
    "SRM_THRESHOLD",
    "decide",
    "evaluate",
    "forest_plot",
    "heterogeneity",
    "mde",
    "plan",
    "planner",
    "planner_text",
    "sample_size",
    "sample_size_planner",
    "srm",
    "sufficient_stats",
]

TABLE = "campaign_exposures"
PARAMS = "notebooks.04_campaign_ab"  # where notebook 04's settings live in the run config
METRIC_COLUMNS = {"conversion": "converted", "revenue": "revenue"}
METRIC_KINDS = {"conversion": "binary", "revenue": "money"}
KIND_ALIASES = {
    "binary": "binary",
    "proportion": "binary",
    "rate": "binary",
    "0/1": "binary",
    "numeric": "numeric",
    "mean": "numeric",
    "number": "numeric",
    "money": "money",
    "amount": "money",
    "currency": "money",
}
# A numeric outcome whose name says it is an amount of money is shown with the currency.
_MONEY_NAME = re.compile(
    r"revenue|spend|sales|amount|value|margin|profit|price|turnover|basket|income|tr[zž]ba|obrat",
    re.IGNORECASE,
)
SRM_THRESHOLD = 0.001
MIN_ARM = 30
MIN_EXPECTED_CONVERSIONS = 5
MISSING_SEGMENT = "(missing)"
Correction = Literal["holm", "fdr_bh", "none"]

METHOD = {
    "conversion": "unpooled two-proportion z-test (Wald); Newcombe hybrid score (Wilson) CI for the "
    "difference; delta-method CI for the lift",
    "revenue": "Welch's t-test (Welch-Satterthwaite df); t CI for the difference; delta-method CI for the lift",
}
BAYES_METHOD = {
    "conversion": "Beta(1,1) priors; P(variant > control) and expected loss by Gauss-Legendre integration",
    "conversion_mc": "Beta(1,1) priors; P(variant > control) and expected loss by Monte Carlo ({draws} draws, seed {seed})",
    "revenue": "normal approximation of the mean difference (Welch standard error)",
}


def _method(kind: str) -> str:
    return METHOD["conversion" if kind == "binary" else "revenue"]


CORRECTION_NAME = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg (FDR)", "none": "no correction"}
_GL_NODES = 48
_BETA_TAIL = 1e-14


class ABTestError(ValueError):
    """Input that cannot be evaluated; the message names the campaign/column and the fix."""


@dataclass(frozen=True)
class Metric:
    """One outcome of a campaign: its name in results, its column in the exposures and its kind.

    ``binary`` (0/1 per customer: a proportion, tested as conversion is), ``numeric`` (a mean
    per customer, tested as revenue is) or ``money`` (numeric, shown with the currency)."""

    name: str
    column: str
    kind: str

    @property
    def binary(self) -> bool:
        return self.kind == "binary"


MetricsArg = Sequence[str] | Mapping[str, str | None] | str | Sequence[Metric] | None


# --------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------


def sufficient_stats(
    exposures: pd.DataFrame | ibis.Table,
    *,
    segment: str | None = None,
    metrics: MetricsArg = ("conversion", "revenue"),
    pre_metric: str | None = None,
    winsorize: float | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per campaign x segment x variant: n, mean and centred sum of squares (``m2``) of each metric
    (and of ``pre_metric`` with its centred cross-products ``cx_<metric>``); plus the winsorization
    caps per numeric metric and campaign. Everything downstream is computed from these (pandas or
    Ibis input). ``metrics`` as in :func:`resolve_metrics`."""
    if not isinstance(exposures, (pd.DataFrame, ibis.Table)):
        raise TypeError(
            f"exposures: expected a pandas DataFrame or an Ibis table, got {type(exposures).__name__}"
        )
    if winsorize is not None and not (0.5 < float(winsorize) < 1.0):
        raise ABTestError(
            f"{PARAMS}.winsorize: {winsorize!r} is not a quantile to cap amounts at; give one "
            "between 0.5 and 1 (e.g. 0.99), or null for no winsorization"
        )
    if segment in ("campaign_id", "variant"):
        raise ABTestError(
            f"{PARAMS}.segment_columns: '{segment}' is a key of {TABLE}, not a customer attribute; "
            "segment by a customer column such as a persona or an RFM segment"
        )
    require_columns(exposures.columns, ["campaign_id", "variant"], TABLE)
    resolved = resolve_metrics(metrics, exposures)
    needed = [m.column for m in resolved] + [c for c in (segment, pre_metric) if c]
    require_columns(exposures.columns, needed, TABLE)
    if isinstance(exposures, ibis.Table):
        return _stats_ibis(exposures, segment, resolved, pre_metric, winsorize)
    return _stats_pandas(exposures, segment, resolved, pre_metric, winsorize)


def resolve_metrics(
    metrics: MetricsArg, exposures: pd.DataFrame | ibis.Table
) -> tuple[Metric, ...]:
    """The outcomes to evaluate, from the notebook parameter ``metrics``.

    * a mapping column -> kind (``binary`` = 0/1 per customer, ``numeric`` = a mean per customer,
      ``money`` = numeric shown with the currency; ``auto`` or null = inferred);
    * a list of columns (kinds inferred: a column holding only 0 and 1 is binary, any other
      numeric column is numeric, or money when its name says so: revenue, spend, sales, amount...);
    * the contract's names ``conversion`` (column ``converted``) and ``revenue``, the default.
    A name that is a column of the exposures always means that column."""
    if metrics is None:
        metrics = ("conversion", "revenue")
    if isinstance(metrics, str):
        metrics = (metrics,)
    if isinstance(metrics, Mapping):
        items: list[Any] = [(str(k), v) for k, v in metrics.items()]
    else:
        items = [m if isinstance(m, Metric) else (str(m), None) for m in metrics]
    if items and all(isinstance(m, Metric) for m in items):  # already resolved
        return tuple(items)
    if not items:
        raise ABTestError(
            f"{PARAMS}.metrics is empty: name at least one outcome column of {TABLE}, "
            "e.g. metrics: {converted: binary, revenue: money}"
        )
    columns = [str(c) for c in exposures.columns]
    rows: list[list[Any]] = []
    for item in items:
        if isinstance(item, Metric):
            rows.append([item.name, item.column, item.kind])
            continue
        name, kind = item
        col = name if name in columns or name not in METRIC_COLUMNS else METRIC_COLUMNS[name]
        if col not in columns:
            if name in METRIC_COLUMNS:
                require_columns(columns, [col], TABLE)  # the contract column: a SchemaError
            raise ABTestError(
                f"{PARAMS}.metrics: '{name}' is not a column of {TABLE}; its columns are "
                f"{', '.join(columns)}. Fix: list outcome columns that exist, e.g. metrics: "
                f"[{', '.join(_outcome_candidates(exposures)[:3]) or 'converted'}]"
            )
        if kind is None or str(kind).strip().lower() == "auto":
            kind = METRIC_KINDS.get(name) if col == METRIC_COLUMNS.get(name) else None
        else:
            k = KIND_ALIASES.get(str(kind).strip().lower())
            if k is None:
                raise ABTestError(
                    f"{PARAMS}.metrics.{name}: unknown type '{kind}'; use binary (0/1 per customer), "
                    "numeric (a mean per customer) or money (numeric, shown with the currency)"
                )
            kind = k
        rows.append([name, col, kind])
    names = [r[0] for r in rows]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ABTestError(f"{PARAMS}.metrics: '{dup[0]}' is listed twice; list each outcome once")
    if "pre" in names:
        raise ABTestError(
            f"{PARAMS}.metrics: 'pre' is reserved for the pre-period metric; rename that column "
            f"in sources.{TABLE}.columns"
        )
    kinds = _column_kinds(exposures, [r[1] for r in rows])
    for r in rows:
        found = kinds[r[1]]
        if found == "text":
            raise ABTestError(
                f"table '{TABLE}', column '{r[1]}': outcome '{r[0]}' must hold numbers (0/1 for a "
                f"binary outcome), but the column holds text. Fix: convert it in sources.{TABLE} or "
                f"leave it out of {PARAMS}.metrics"
            )
        if r[2] is None:
            r[2] = (
                "binary"
                if found == "binary"
                else "money"
                if _MONEY_NAME.search(r[0])
                else "numeric"
            )
    return tuple(Metric(*r) for r in rows)


def _column_kinds(t: pd.DataFrame | ibis.Table, cols: Sequence[str]) -> dict[str, str]:
    """'binary' (only 0/1 or booleans, ignoring missing), 'numeric' or 'text' per column."""
    out: dict[str, str] = {}
    if isinstance(t, ibis.Table):
        schema = t.schema()
        num = []
        for c in dict.fromkeys(cols):
            dt = schema[c]
            if dt.is_boolean():
                out[c] = "binary"
            elif dt.is_numeric():
                num.append(c)
            else:
                out[c] = "text"
        if num:
            aggs = {
                f"b{i}": ((t[c].cast("float64") != 0) & (t[c].cast("float64") != 1)).sum()
                for i, c in enumerate(num)
            }
            res = t.aggregate(**aggs).to_pandas().iloc[0]
            for i, c in enumerate(num):
                out[c] = "numeric" if int(res[f"b{i}"] or 0) else "binary"
        return out
    for c in dict.fromkeys(cols):
        s = t[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = "binary"
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            v = v[~np.isnan(v)]
            out[c] = "binary" if np.isin(v, (0.0, 1.0)).all() else "numeric"
        else:
            out[c] = "text"
    return out


def _outcome_candidates(t: pd.DataFrame | ibis.Table) -> list[str]:
    """Numeric or boolean columns of the exposures that are not keys: possible outcomes."""
    keys = {"customer_id", "campaign_id", "variant", "assigned_at"}
    if isinstance(t, ibis.Table):
        sch = t.schema()
        return [
            c for c in t.columns if c not in keys and (sch[c].is_numeric() or sch[c].is_boolean())
        ]
    return [
        c
        for c in t.columns
        if c not in keys
        and (pd.api.types.is_numeric_dtype(t[c]) or pd.api.types.is_bool_dtype(t[c]))
    ]


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    try:
        values = df[col].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ABTestError(
            f"table '{TABLE}', column '{col}': values must be numbers (got {df[col].dtype}); "
            f"convert the column in sources.{TABLE}"
        ) from err
    bad = np.isnan(values)
    if bad.any():
        rows = ", ".join(map(str, df.index[bad][:5]))
        raise ABTestError(
            f"table '{TABLE}', column '{col}': {int(bad.sum())} missing values (e.g. rows {rows}); "
            f"fill them in the export (0 = no conversion / no revenue) or drop those rows"
        )
    return values


def _check_binary(values: np.ndarray, col: str = "converted") -> None:
    bad = (values != 0) & (values != 1)
    if np.any(bad):
        raise ABTestError(
            f"table '{TABLE}', column '{col}': a binary outcome must be 0/1 (or booleans); found "
            f"{int(np.sum(bad))} other values, e.g. {np.unique(values[bad])[:5].tolist()}. Fix: "
            f"declare it as numeric in {PARAMS}.metrics, or recode it to 0/1"
        )


def _codes(series: pd.Series, name: str, *, allow_missing: bool) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(series, sort=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        if not allow_missing:
            raise ABTestError(
                f"table '{TABLE}', column '{name}': {int((codes < 0).sum())} missing values; "
                "every exposure needs a campaign_id and a variant"
            )
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_SEGMENT)
    return codes.astype(np.int64), labels


def _stats_pandas(df, segment, metrics, pre_metric, winsorize):
    cc, camps = _codes(df["campaign_id"], "campaign_id", allow_missing=False)
    vc, variants = _codes(df["variant"], "variant", allow_missing=False)
    if segment:
        sc, segs = _codes(df[segment], segment, allow_missing=True)
    else:
        sc, segs = np.zeros(len(df), dtype=np.int64), ["all"]
    C, S, V = len(camps), len(segs), len(variants)
    key = (cc * S + sc) * V + vc
    if C * S * V <= 20_000_000:
        counts = np.bincount(key, minlength=C * S * V)
        used = np.flatnonzero(counts)
        remap = np.cumsum(counts > 0) - 1
        inv = remap[key]
    else:  # pragma: no cover - huge key spaces
        used, inv = np.unique(key, return_inverse=True)
    k = len(used)
    n = np.bincount(inv, minlength=k).astype(float)
    out: dict[str, Any] = {}
    out["campaign_id"] = np.asarray(camps, dtype=object)[used // (S * V)]
    seg_idx = (used // V) % S
    out["segment"] = pd.Categorical.from_codes(seg_idx, categories=segs)
    out["variant"] = np.asarray(variants, dtype=object)[used % V]
    out["n"] = n
    caps: dict[str, dict[str, float]] = {}
    cols: dict[str, np.ndarray] = {}
    for m in metrics:
        y = _numeric(df, m.column)
        if m.binary:
            _check_binary(y, m.column)
        elif winsorize is not None:
            q = pd.Series(y).groupby(cc).quantile(float(winsorize)).to_numpy()
            caps[m.name] = {camps[i]: float(q[i]) for i in range(C)}
            y = np.minimum(y, q[cc])
        cols[m.name] = y
    if pre_metric:
        cols["pre"] = _numeric(df, pre_metric)
    centred = {}
    for name, y in cols.items():
        mean = np.bincount(inv, weights=y, minlength=k) / n
        d = y - mean[inv]
        out[f"mean_{name}"] = mean
        out[f"m2_{name}"] = np.bincount(inv, weights=d * d, minlength=k)
        centred[name] = d
    if pre_metric:
        for m in metrics:
            out[f"cx_{m.name}"] = np.bincount(
                inv, weights=centred["pre"] * centred[m.name], minlength=k
            )
    cells = pd.DataFrame(out)
    cells["campaign_id"] = cells["campaign_id"].astype("str")
    cells["variant"] = cells["variant"].astype("str")
    return cells, caps


def _stats_ibis(t: ibis.Table, segment, metrics, pre_metric, winsorize):
    seg = t[segment].cast("string").fill_null(MISSING_SEGMENT) if segment else ibis.literal("all")
    cols = {"_seg": seg}
    for m in metrics:
        cols[f"_{m.name}"] = t[m.column].cast("float64")
    if pre_metric:
        cols["_pre"] = t[pre_metric].cast("float64")
    t = t.mutate(**cols)
    names = [m.name for m in metrics] + (["pre"] if pre_metric else [])
    checks = {"n_rows": t.count(), "null_keys": (t.campaign_id.isnull() | t.variant.isnull()).sum()}
    for name in names:
        checks[f"null_{name}"] = t[f"_{name}"].isnull().sum()
    binary = [m for m in metrics if m.binary]
    for m in binary:
        checks[f"bad_{m.name}"] = ((t[f"_{m.name}"] != 0) & (t[f"_{m.name}"] != 1)).sum()
    chk = t.aggregate(**checks).to_pandas().iloc[0]
    if chk["null_keys"]:
        raise ABTestError(
            f"table '{TABLE}': {int(chk['null_keys'])} rows without campaign_id or variant"
        )
    column_of = {m.name: m.column for m in metrics} | {"pre": pre_metric}
    for name in names:
        if chk[f"null_{name}"]:
            raise ABTestError(
                f"table '{TABLE}', column '{column_of[name]}': {int(chk[f'null_{name}'])} missing "
                "values; fill them in the export (0 = no conversion / no revenue) or drop those rows"
            )
    for m in binary:
        if chk[f"bad_{m.name}"]:
            raise ABTestError(
                f"table '{TABLE}', column '{m.column}': a binary outcome must be 0/1; found "
                f"{int(chk[f'bad_{m.name}'])} other values. Fix: declare it as numeric in "
                f"{PARAMS}.metrics, or recode it to 0/1"
            )
    caps: dict[str, dict[str, float]] = {}
    if winsorize is not None:
        for m in metrics:
            if m.binary:
                continue
            col = f"_{m.name}"
            cap_t = t.group_by("campaign_id").aggregate(_cap=t[col].quantile(float(winsorize)))
            caps[m.name] = {
                str(k): float(v) for k, v in cap_t.to_pandas().itertuples(index=False, name=None)
            }
            t = t.join(cap_t, "campaign_id")
            t = t.mutate(**{col: ibis.least(t[col], t._cap)}).drop("_cap")
    aggs = {"n": t.count()}
    for name in names:
        aggs[f"mean_{name}"] = t[f"_{name}"].mean()
        aggs[f"var_{name}"] = t[f"_{name}"].var(how="pop")
    if pre_metric:
        for m in metrics:
            aggs[f"cov_{m.name}"] = t._pre.cov(t[f"_{m.name}"], how="pop")
    g = t.group_by(["campaign_id", "_seg", "variant"]).aggregate(**aggs).to_pandas()
    g = g.sort_values(["campaign_id", "_seg", "variant"], kind="stable").reset_index(drop=True)
    segs = sorted(g["_seg"].astype(str).unique())
    out = {
        "campaign_id": g["campaign_id"].astype("str"),
        "segment": pd.Categorical(g["_seg"].astype(str), categories=segs),
        "variant": g["variant"].astype("str"),
        "n": g["n"].astype(float),
    }
    for name in names:
        out[f"mean_{name}"] = g[f"mean_{name}"].astype(float)
        out[f"m2_{name}"] = g[f"var_{name}"].astype(float).fillna(0.0) * out["n"]
    if pre_metric:
        for m in metrics:
            out[f"cx_{m.name}"] = g[f"cov_{m.name}"].astype(float).fillna(0.0) * out["n"]
    cells = pd.DataFrame(out)
    return cells, caps


# --------------------------------------------------------------------------------------
# Small vectorised building blocks
# --------------------------------------------------------------------------------------


def _z(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def _wilson(x: np.ndarray, n: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for x successes out of n (clipped to [0, 1] against rounding)."""
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _normal_p(stat: np.ndarray) -> np.ndarray:
    return 2 * stats.norm.sf(np.abs(stat))


def _welch(
    vc: np.ndarray, vv: np.ndarray, nc: np.ndarray, nv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standard error and Welch-Satterthwaite df from the variances of the two means."""
    se = np.sqrt(vc + vv)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vc + vv) ** 2 / (vc**2 / (nc - 1) + vv**2 / (nv - 1))
    # Both arms without variation: df is 0/0; use the pooled df (the test is degenerate anyway).
    return se, np.where(se == 0, nc + nv - 2, df)


def _lift(mc, mv, varc, varv, alpha):
    """Relative lift mv/mc - 1 and its delta-method interval (NaN where mc == 0)."""
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = mc != 0
        lift = np.where(ok, mv / mc - 1, np.nan)
        se = np.where(ok, np.sqrt(varv / mc**2 + mv**2 * varc / mc**4), np.nan)
    return lift, lift - z * se, lift + z * se


def _beta_bayes(ac, bc, av, bv) -> tuple[np.ndarray, np.ndarray]:
    """P(V > C) and E[max(C - V, 0)] for independent Beta posteriors, by Gauss-Legendre
    integration over the narrower of the two (the other enters through its smooth CDF)."""
    ac, bc, av, bv = (np.asarray(a, dtype=float) for a in (ac, bc, av, bv))
    if ac.size == 0:
        return np.empty(0), np.empty(0)

    def sd(a, b):
        return np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    over_v = sd(av, bv) <= sd(ac, bc)
    a, b = np.where(over_v, av, ac), np.where(over_v, bv, bc)
    oa, ob = np.where(over_v, ac, av), np.where(over_v, bc, bv)
    lo, hi = special.betaincinv(a, b, _BETA_TAIL), special.betaincinv(a, b, 1 - _BETA_TAIL)
    t, w = np.polynomial.legendre.leggauss(_GL_NODES)
    half = ((hi - lo) / 2)[:, None]
    x = (lo + hi)[:, None] / 2 + half * t
    with np.errstate(divide="ignore", invalid="ignore"):
        logf = (
            (a[:, None] - 1) * np.log(x)
            + (b[:, None] - 1) * np.log1p(-x)
            - special.betaln(a, b)[:, None]
        )
        f = np.exp(logf) * w * half
        cdf = special.betainc(oa[:, None], ob[:, None], x)
        # I_x(a + 1, b) = I_x(a, b) - x^a (1 - x)^b / (a B(a, b))
        cdf1 = (
            cdf
            - np.exp(
                oa[:, None] * np.log(x)
                + ob[:, None] * np.log1p(-x)
                - special.betaln(oa, ob)[:, None]
            )
            / oa[:, None]
        )
    m_other = (oa / (oa + ob))[:, None]
    # over V: P = int f_v F_c ; loss = int f_v E[(C - y)^+],  E[(C-y)^+] = m_c (1 - I(a+1)) - y (1 - I(a))
    # over C: P = int f_c (1 - F_v) ; loss = int f_c E[(x - V)^+],  E[(x-V)^+] = x I(a) - m_v I(a+1)
    chance = np.where(over_v, (f * cdf).sum(1), (f * (1 - cdf)).sum(1))
    loss = np.where(
        over_v,
        (f * (m_other * (1 - cdf1) - x * (1 - cdf))).sum(1),
        (f * (x * cdf - m_other * cdf1)).sum(1),
    )
    return np.clip(chance, 0, 1), np.maximum(loss, 0)


def _beta_bayes_mc(ac, bc, av, bv, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chance, loss = np.empty(len(ac)), np.empty(len(ac))
    step = max(1, 4_000_000 // draws)
    for s in range(0, len(ac), step):
        sl = slice(s, s + step)
        pc = rng.beta(ac[sl, None], bc[sl, None], size=(len(ac[sl]), draws))
        pv = rng.beta(av[sl, None], bv[sl, None], size=(len(ac[sl]), draws))
        chance[sl] = (pv > pc).mean(1)
        loss[sl] = np.maximum(pc - pv, 0).mean(1)
    return chance, loss


def _normal_bayes(diff, se):
    """P(D > 0) and E[max(-D, 0)] for D ~ N(diff, se^2) (a point mass when se == 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = diff / se
        chance = np.where(
            se > 0, stats.norm.cdf(u), np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
        )
        loss = np.where(
            se > 0, se * stats.norm.pdf(u) - diff * stats.norm.sf(u), np.maximum(-diff, 0)
        )
    return chance, loss


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values of one family (NaNs left out and kept NaN)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "none":
        out[ok] = q
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    if method == "holm":
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * s))
    elif method == "fdr_bh":
        adj = np.minimum(1.0, np.minimum.accumulate((m * s / np.arange(1, m + 1))[::-1])[::-1])
    else:  # pragma: no cover - validated earlier
        raise ABTestError(f"unknown correction {method!r}")
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def srm(
    counts: Sequence[float] | Mapping[str, float] | np.ndarray,
    expected_shares: Sequence[float] | Mapping[str, float] | None = None,
) -> float:
    """p-value of the sample ratio mismatch test: chi-square goodness of fit of the observed
    counts per variant against the expected shares (equal shares by default)."""
    if isinstance(counts, Mapping):
        keys = list(counts)
        obs = np.asarray([counts[k] for k in keys], dtype=float)
        if isinstance(expected_shares, Mapping):
            missing = [k for k in keys if k not in expected_shares]
            if missing:
                raise ABTestError(
                    f"srm: expected_shares has no share for {missing}; give one per variant"
                )
            expected_shares = [expected_shares[k] for k in keys]
    else:
        obs = np.asarray(counts, dtype=float)
    p = _srm_p(
        obs[None, :], None if expected_shares is None else np.asarray(expected_shares, dtype=float)
    )
    return float(p[0])


def _srm_p(obs: np.ndarray, shares: np.ndarray | None) -> np.ndarray:
    """Row-wise chi-square goodness-of-fit p-values (rows: groups; columns: variants)."""
    k = obs.shape[1]
    if k < 2:
        return np.full(obs.shape[0], np.nan)
    shares = np.full(k, 1.0 / k) if shares is None else shares / shares.sum()
    if np.any(shares <= 0) or len(shares) != k:
        raise ABTestError(f"expected shares must be {k} positive numbers, got {shares.tolist()}")
    total = obs.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = total * shares
        chi2 = ((obs - exp) ** 2 / exp).sum(1)
    return np.where(total[:, 0] > 0, stats.chi2.sf(chi2, k - 1), np.nan)


# --------------------------------------------------------------------------------------
# The dense grid of cells and the comparisons
# --------------------------------------------------------------------------------------


_CONTROL_NAME = re.compile(
    r"control|ctrl|hold.?out|baseline|placebo|untreated|\bnone\b|^no\b|^no[ _-]|^without|kontrol",
    re.IGNORECASE,
)


def control_message(campaign: str, control: str, variants: Sequence[str]) -> str:
    """The message for a control variant that a campaign does not have, in the config's words,
    suggesting the variant whose name says it is a control group when exactly one does."""
    names = ", ".join(f"'{v}'" for v in variants)
    likely = [v for v in variants if _CONTROL_NAME.search(str(v))]
    fix = (
        f"set {PARAMS}.control: '{likely[0]}'"
        if len(likely) == 1
        else f"set {PARAMS}.control to the variant that got no treatment (one of {names})"
    )
    return (
        f"{PARAMS}.control: '{control}' is not a variant of campaign '{campaign}'; its variants "
        f"are {names}. Fix: {fix}"
    )


class _Grid:
    """Cell statistics as dense (campaign, segment, variant) arrays."""

    def __init__(self, cells: pd.DataFrame, control: str):
        self.cells = cells
        c, self.campaigns = pd.factorize(cells["campaign_id"], sort=True)
        s, segs = pd.factorize(cells["segment"], sort=True)
        v, self.variants = pd.factorize(cells["variant"], sort=True)
        self.segments = [str(x) for x in segs]
        self.idx = (c, s, v)
        self.shape = (len(self.campaigns), len(self.segments), len(self.variants))
        self.n = self.dense("n")
        self.control = control
        present = self.n.sum(1) > 0  # (C, V)
        for ci, camp in enumerate(self.campaigns):
            names = [str(self.variants[j]) for j in np.flatnonzero(present[ci])]
            if control not in names:
                raise ABTestError(control_message(str(camp), control, names))
            if len(names) < 2:
                raise ABTestError(
                    f"campaign '{camp}': only the control variant '{control}' is present; "
                    "nothing to compare it with"
                )
        self.ctrl = int(np.flatnonzero(np.asarray(self.variants) == control)[0])
        self.present = present
        self.seg_present = self.n.sum(2) > 0  # (C, S)

    def dense(self, col: str) -> np.ndarray:
        a = np.zeros(self.shape)
        a[self.idx] = self.cells[col].to_numpy(dtype=float)
        return a

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(campaign, segment, variant) of every comparison, in campaign/segment/variant order."""
        treat = self.present.copy()
        treat[:, self.ctrl] = False
        mask = self.seg_present[:, :, None] & treat[:, None, :]
        return np.nonzero(mask)


def _arm(grid: _Grid, col: str, c, s, v):
    a = grid.dense(col)
    return a[c, s, grid.ctrl], a[c, s, v]


def _metric_block(
    grid: _Grid, metric: Metric, c, s, v, alpha: float, pre: bool, n_bayes_draws, bayes_seed
):
    nc, nv = grid.n[c, s, grid.ctrl], grid.n[c, s, v]
    mc, mv = _arm(grid, f"mean_{metric.name}", c, s, v)
    m2c, m2v = _arm(grid, f"m2_{metric.name}", c, s, v)
    z = _z(alpha)
    ok = (nc > 0) & (nv > 0)
    out: dict[str, np.ndarray] = {
        "n_control": nc.astype(np.int64),
        "n_variant": nv.astype(np.int64),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        mc = np.where(nc > 0, mc, np.nan)
        mv = np.where(nv > 0, mv, np.nan)
        diff = mv - mc
        if metric.binary:
            xc, xv = np.rint(mc * nc), np.rint(mv * nv)
            varc, varv = mc * (1 - mc) / nc, mv * (1 - mv) / nv  # variance of each mean (Wald)
            se = np.sqrt(varc + varv)
            stat = diff / se
            p = np.where(se > 0, _normal_p(stat), np.where(diff == 0, 1.0, np.nan))
            stat = np.where(se > 0, stat, np.where(diff == 0, 0.0, np.nan))
            lc, uc = _wilson(xc, nc, alpha)
            lv, uv = _wilson(xv, nv, alpha)
            lo = diff - np.sqrt((mv - lv) ** 2 + (uc - mc) ** 2)
            hi = diff + np.sqrt((mc - lc) ** 2 + (uv - mv) ** 2)
            df = np.full(len(c), np.inf)
            sdc, sdv = np.sqrt(mc * (1 - mc)), np.sqrt(mv * (1 - mv))
            if n_bayes_draws:
                chance, loss = np.full(len(c), np.nan), np.full(len(c), np.nan)
                chance[ok], loss[ok] = _beta_bayes_mc(
                    1 + xc[ok],
                    1 + nc[ok] - xc[ok],
                    1 + xv[ok],
                    1 + nv[ok] - xv[ok],
                    int(n_bayes_draws),
                    bayes_seed,
                )
            else:
                chance, loss = np.full(len(c), np.nan), np.full(len(c), np.nan)
                chance[ok], loss[ok] = _beta_bayes(
                    1 + xc[ok], 1 + nc[ok] - xc[ok], 1 + xv[ok], 1 + nv[ok] - xv[ok]
                )
        else:
            sc2, sv2 = m2c / (nc - 1), m2v / (nv - 1)
            sc2, sv2 = np.where(nc > 1, sc2, np.nan), np.where(nv > 1, sv2, np.nan)
            varc, varv = sc2 / nc, sv2 / nv
            se, df = _welch(varc, varv, nc, nv)
            stat = diff / se
            p = np.where(se > 0, 2 * stats.t.sf(np.abs(stat), df), np.where(diff == 0, 1.0, np.nan))
            stat = np.where(se > 0, stat, np.where(diff == 0, 0.0, np.nan))
            tq = stats.t.isf(alpha / 2, df)
            lo, hi = diff - tq * se, diff + tq * se
            lc, uc = _tmean_ci(mc, sc2, nc, alpha)
            lv, uv = _tmean_ci(mv, sv2, nv, alpha)
            sdc, sdv = np.sqrt(sc2), np.sqrt(sv2)
            chance, loss = _normal_bayes(diff, se)
        lift, llo, lhi = _lift(mc, mv, varc, varv, alpha)
    nan_if = ~ok
    out.update(
        {
            "control_mean": mc,
            "variant_mean": mv,
            "control_sd": sdc,
            "variant_sd": sdv,
            "control_ci_low": lc,
            "control_ci_high": uc,
            "variant_ci_low": lv,
            "variant_ci_high": uv,
            "diff": diff,
            "diff_se": se,
            "diff_ci_low": lo,
            "diff_ci_high": hi,
            "lift": lift,
            "lift_ci_low": llo,
            "lift_ci_high": lhi,
            "statistic": stat,
            "df": df,
            "p_value": p,
            "chance_to_beat_control": chance,
            "expected_loss": loss,
        }
    )
    for k in (
        "diff",
        "diff_se",
        "diff_ci_low",
        "diff_ci_high",
        "lift",
        "lift_ci_low",
        "lift_ci_high",
        "statistic",
        "df",
        "p_value",
        "chance_to_beat_control",
        "expected_loss",
    ):
        out[k] = np.where(nan_if, np.nan, out[k])
    if pre:
        out.update(_cuped_block(grid, metric, c, s, v, diff, se, df, z, alpha))
    return out


def _tmean_ci(m, s2, n, alpha):
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.isf(alpha / 2, n - 1) * np.sqrt(s2 / n)
    return m - half, m + half


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
        "ci_width_reduction": width_red,
    }
    return {k: np.where(ok, val, np.nan) for k, val in res.items()}


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}g}"


def _row_warnings(tab: pd.DataFrame, pre: bool, control: str) -> list[str]:
    """One plain-words warning string per row ('' when there is nothing to say)."""
    msgs: list[list[str]] = [[] for _ in range(len(tab))]
    nc, nv = tab["n_control"].to_numpy(), tab["n_variant"].to_numpy()
    metric = tab["metric"].to_numpy()
    seg, var = tab["segment"].to_numpy(), tab["variant"].to_numpy()
    mc, mv = tab["control_mean"].to_numpy(), tab["variant_mean"].to_numpy()

    def add(mask, fn):
        for i in np.flatnonzero(mask):
            msgs[i].append(fn(i))

    add(
        nv == 0,
        lambda i: f"not evaluated: variant '{var[i]}' has no customers in segment '{seg[i]}'",
    )
    add(
        nc == 0,
        lambda i: f"not evaluated: control '{control}' has no customers in segment '{seg[i]}'",
    )
    ok = (nc > 0) & (nv > 0)
    kind = tab["metric_kind"].to_numpy()
    is_conv = kind == "binary"
    is_rev = ~is_conv

    def events(i: int) -> str:  # what a 1 of a binary outcome is called in words
        return "conversions" if metric[i] == "conversion" else f"{metric[i]} = 1"

    add(
        ok & is_rev & ((nc < 2) | (nv < 2)),
        lambda i: (
            f"not evaluated: the variance of {metric[i]} needs at least 2 customers per arm (n_control={nc[i]}, "
            f"n_variant={nv[i]})"
        ),
    )
    add(
        ok & ((nc < MIN_ARM) | (nv < MIN_ARM)),
        lambda i: (
            f"small groups (n_control={nc[i]}, n_variant={nv[i]}; under {MIN_ARM} per arm): "
            "normal approximations are rough"
        ),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (mc * nc + mv * nv) / (nc + nv)
    exp_min = np.minimum(nc, nv) * pooled
    add(
        ok & is_conv & (exp_min < MIN_EXPECTED_CONVERSIONS) & (pooled > 0),
        lambda i: (
            f"fewer than {MIN_EXPECTED_CONVERSIONS} expected {events(i)} in an arm ({exp_min[i]:.1f}): the "
            "z-test p-value is unreliable; the Newcombe interval stays valid"
        ),
    )
    add(ok & is_conv & (mc == 0) & (mv == 0), lambda i: f"no {events(i)} in either arm")
    add(ok & is_conv & (mc == 0) & (mv > 0), lambda i: f"no {events(i)} in control")
    add(ok & is_conv & (mv == 0) & (mc > 0), lambda i: f"no {events(i)} in the variant")
    add(
        ok & is_rev & (mc == 0) & (mv == 0) & (nc > 1) & (nv > 1),
        lambda i: (
            f"{metric[i]} is 0 for everyone in both arms: the t interval is degenerate ([0, 0])"
        ),
    )
    add(
        ok & (mc == 0),
        lambda i: "lift undefined: control mean is 0 (lift and its interval are NaN; use diff)",
    )
    p = tab["p_value"].to_numpy()
    add(
        ok & ~np.isfinite(p) & np.isfinite(tab["diff"].to_numpy()),
        lambda i: (
            "test undefined: no variation within either arm but different means (complete separation)"
        ),
    )
    add(
        ok & is_conv & np.isfinite(tab["lift"].to_numpy()) & ((mv == 0) | (mv == 1) | (mc == 1)),
        lambda i: (
            "lift interval unreliable: an arm has a rate of 0 or 1, so its delta-method variance is 0"
        ),
    )
    srm_flag = tab["srm_flag"].to_numpy()
    add(
        srm_flag,
        lambda i: (
            f"sample ratio mismatch (segment p = {_fmt(tab['srm_p_value'].iat[i])}, campaign p = "
            f"{_fmt(tab['srm_campaign_p_value'].iat[i])}): check the assignment before trusting this"
        ),
    )
    if pre:
        th = tab["cuped_theta"].to_numpy()
        add(
            ok & (th == 0) & np.isfinite(tab["cuped_diff"].to_numpy()),
            lambda i: "CUPED: no covariance with the pre-period metric; no adjustment",
        )
    return ["; ".join(m) for m in msgs]


# --------------------------------------------------------------------------------------
# Result object
# --------------------------------------------------------------------------------------


@dataclass
class ABResult:
    """The evaluation of campaigns x segments x variants; ``table`` has one row per campaign,
    segment, variant and metric. ``decisions`` (lazy) is :func:`decide` with its defaults."""

    table: pd.DataFrame
    cells: pd.DataFrame
    srm: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def decisions(self) -> pd.DataFrame:
        return decide(self)

    @property
    def primary_metric(self) -> str:
        """The metric decisions are judged on by default: the first binary one, else the first."""
        kinds = self.settings["metric_kinds"]
        return next((m for m, k in kinds.items() if k == "binary"), next(iter(kinds)))

    @property
    def value_metric(self) -> str | None:
        """The revenue-like metric shown next to the primary one: the first money metric, else
        the first numeric one other than the primary metric (None if there is none)."""
        kinds = self.settings["metric_kinds"]
        others = [m for m in kinds if m != self.primary_metric and kinds[m] != "binary"]
        return next((m for m in others if kinds[m] == "money"), others[0] if others else None)

    def heterogeneity(self, metric: str | None = None) -> pd.DataFrame:
        """:func:`heterogeneity` from the stored cell statistics (no data needed)."""
        if self.settings["segment"] is None:
            raise ABTestError("the interaction test needs results split by a segment column")
        metric = metric or self.primary_metric
        if metric not in self.settings["metric_kinds"]:
            raise ABTestError(
                f"metric '{metric}' was not evaluated (have {list(self.settings['metric_kinds'])})"
            )
        kind = self.settings["metric_kinds"][metric]
        return _heterogeneity_cells(self.cells, metric, self.settings["control"], kind)

    def summary(self, max_rows: int = 40) -> str:
        st = self.settings
        tab = self.table
        lines = ["A/B evaluation", "=" * 14]
        seg = (
            f"segment column '{st['segment']}'"
            if st["segment"]
            else "whole campaigns (segment = 'all')"
        )
        lines.append(
            f"{tab['campaign_id'].nunique()} campaign(s), {seg}, metrics: {', '.join(st['metrics'])}; "
            f"control variant '{st['control']}'."
        )
        lines.append(
            f"alpha = {st['alpha']}; intervals are {1 - st['alpha']:.0%} two-sided and not adjusted for "
            "multiple comparisons (p-values are)."
        )
        lines.append("Conventions:")
        for m in st["metrics"]:
            lines.append(f"  {m} ({st['metric_kinds'][m]}): {_method(st['metric_kinds'][m])}")
        lines.append(
            "  lift = variant_mean / control_mean - 1; delta-method normal CI on the ratio of two independent "
            "means (NaN when the control mean is 0)"
        )
        lines.append(
            f"  Bayesian: conversion - {st['bayes_method']}; revenue - {BAYES_METHOD['revenue']}; "
            "expected_loss = E[max(control - variant, 0)]"
        )
        if st["pre_metric"]:
            lines.append(
                f"  CUPED on '{st['pre_metric']}': theta = pooled within-arm cov/var (regression "
                "adjustment); ci_width_reduction vs the unadjusted Wald/Welch interval"
            )
        numeric = [m for m, k in st["metric_kinds"].items() if k != "binary"]
        if st["winsorize"] is not None:
            for m in numeric:
                caps = ", ".join(f"{k}: {v:,.2f}" for k, v in st["caps_by_metric"][m].items())
                lines.append(
                    f"  {m} winsorized at the {st['winsorize']:g} quantile of each campaign (caps: {caps})"
                )
        elif numeric:
            lines.append(f"  {', '.join(numeric)} not winsorized")
        lines.append(
            f"Multiple comparisons: {CORRECTION_NAME[st['correction']]}; family = all segments x variants x "
            "metrics of one campaign:"
        )
        for camp, fam in st["families"].items():
            lines.append(
                f"  {camp}: {fam['tests']} tests ({fam['segments']} segment(s) x {fam['variants']} "
                f"variant(s) x {fam['metrics']} metric(s))"
            )
        flagged = self.srm[self.srm["flag"]]
        if flagged.empty:
            lines.append(f"Sample ratio (chi-square, flag at p < {SRM_THRESHOLD}): no mismatch.")
        else:
            lines.append(f"Sample ratio MISMATCH (chi-square p < {SRM_THRESHOLD}) in:")
            for r in flagged.itertuples():
                lines.append(f"  {r.campaign_id} / {r.segment}: {r.counts} (p = {r.p_value:.2g})")
        n_warn = int((tab["warnings"] != "").sum())
        if n_warn:
            lines.append(f"{n_warn} row(s) carry warnings (column 'warnings').")
        lines.append("")
        lines.append("Results (* significant after correction):")
        shown = tab.head(max_rows)
        width = max(8, min(28, int(shown["segment"].str.len().max() or 8)))
        for r in shown.itertuples():
            star = "*" if r.significant else " "
            if r.metric_kind == "binary":
                vals = (
                    f"{r.control_mean:7.2%} -> {r.variant_mean:7.2%}"
                    if r.n_variant and r.n_control
                    else "n/a"
                )
            else:
                vals = (
                    f"{r.control_mean:9,.2f} -> {r.variant_mean:9,.2f}"
                    if r.n_variant and r.n_control
                    else "n/a"
                )
            lift = (
                f"lift {r.lift:+.1%} [{r.lift_ci_low:+.1%}, {r.lift_ci_high:+.1%}]"
                if np.isfinite(r.lift)
                else "lift n/a"
            )
            lines.append(
                f"{star} {r.campaign_id} | {str(r.segment)[:width]:<{width}} | {r.variant} | {r.metric:<10} | "
                f"{vals} | {lift} | p_adj {_fmt(r.p_adjusted, 2)} | P(beat) {_fmt(r.chance_to_beat_control, 3)}"
            )
        if len(tab) > max_rows:
            lines.append(f"... {len(tab) - max_rows} more rows in .table")
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return self.summary(max_rows=10)


def _shares_for(expected_shares, camp: str, names: list[str]) -> np.ndarray | None:
    if expected_shares is None:
        return None
    per_campaign = isinstance(expected_shares, Mapping) and all(
        isinstance(v, Mapping) for v in expected_shares.values()
    )
    if per_campaign:
        if camp not in expected_shares:
            return None  # a campaign not listed was meant to be split equally
        sh = expected_shares[camp]
    else:
        sh = expected_shares
    if isinstance(sh, Mapping):
        missing = [n for n in names if n not in sh]
        if missing:
            raise ABTestError(
                f"{PARAMS}.expected_shares: campaign '{camp}' has no share for variant(s) "
                f"{', '.join(map(repr, missing))}; give one share per variant ({', '.join(map(repr, names))})"
            )
        return np.asarray([float(sh[n]) for n in names])
    arr = np.asarray(sh, dtype=float)
    if arr.shape != (len(names),):
        raise ABTestError(
            f"{PARAMS}.expected_shares: campaign '{camp}' needs {len(names)} shares, one per "
            f"variant ({', '.join(map(repr, names))})"
        )
    return arr


def evaluate(
    exposures: pd.DataFrame | ibis.Table,
    *,
    segment: str | None = None,
    control: str = "control",
    metrics: MetricsArg = ("conversion", "revenue"),
    correction: Correction = "holm",
    alpha: float = 0.05,
    pre_metric: str | None = None,
    winsorize: float | None = None,
    n_bayes_draws: int | None = None,
    bayes_seed: int = 20240901,
    expected_shares: Mapping[str, Any] | Sequence[float] | None = None,
) -> ABResult:
    """Evaluate every variant against the control per campaign x segment for each metric.

    ``exposures`` (pandas or Ibis) has campaign_id, variant, converted (0/1) and revenue; ``segment``
    names a column to split by (None: whole campaign, segment 'all'); ``pre_metric`` enables CUPED;
    ``winsorize`` caps revenue at that campaign quantile; ``n_bayes_draws`` switches the conversion
    Bayesian view from numerical integration to Monte Carlo (seed ``bayes_seed``);
    ``expected_shares`` (per variant, or per campaign -> per variant) sets the SRM expectation.

    Conventions (details in the module docstring; also in ``summary()`` and the ``method`` column):
    conversion - unpooled two-proportion z-test (Wald) p-value, Newcombe hybrid score (Wilson)
    interval for the difference; revenue per customer - Welch's t-test, Welch-Satterthwaite df,
    t interval; lift = variant/control - 1 with a delta-method interval; Bayesian - Beta(1,1)
    posteriors (conversion), normal approximation (revenue); Holm / BH / none within each campaign
    (family: its segments x variants x metrics); intervals are not multiplicity-adjusted.
    """
    if correction not in CORRECTION_NAME:
        raise ABTestError(
            f"{PARAMS}.correction: {correction!r} is not a correction; use holm, fdr_bh or none"
        )
    if not 0 < alpha < 1:
        raise ABTestError(f"{PARAMS}.alpha: {alpha!r} must be between 0 and 1 (e.g. 0.05)")
    if n_bayes_draws is not None and int(n_bayes_draws) < 100:
        raise ABTestError("n_bayes_draws must be at least 100 (or None for numerical integration)")
    if not isinstance(exposures, (pd.DataFrame, ibis.Table)):
        raise TypeError(
            f"exposures: expected a pandas DataFrame or an Ibis table, got {type(exposures).__name__}"
        )
    require_columns(exposures.columns, ["campaign_id", "variant"], TABLE)
    spec = resolve_metrics(metrics, exposures)
    metrics = tuple(m.name for m in spec)
    kinds = {m.name: m.kind for m in spec}
    cells, caps_by_metric = sufficient_stats(
        exposures, segment=segment, metrics=spec, pre_metric=pre_metric, winsorize=winsorize
    )
    if cells.empty:
        raise ABTestError(f"table '{TABLE}' has no rows")
    grid = _Grid(cells, control)
    c, s, v = grid.rows()

    # Sample ratio mismatch per campaign and per segment.
    srm_seg = np.full(grid.shape[:2], np.nan)
    srm_camp = np.full(grid.shape[0], np.nan)
    srm_rows = []
    for ci, camp in enumerate(grid.campaigns):
        vids = np.flatnonzero(grid.present[ci])
        names = [str(grid.variants[j]) for j in vids]
        shares = _shares_for(expected_shares, str(camp), names)
        obs = grid.n[ci][:, vids]  # (S, k)
        sidx = np.flatnonzero(grid.seg_present[ci])
        srm_seg[ci, sidx] = _srm_p(obs[sidx], shares)
        srm_camp[ci] = _srm_p(obs.sum(0, keepdims=True), shares)[0]
        groups = [("all", obs.sum(0), srm_camp[ci])] if segment else []
        groups += [(grid.segments[si], obs[si], srm_seg[ci, si]) for si in sidx]
        for name, o, p in groups:
            srm_rows.append(
                {
                    "campaign_id": str(camp),
                    "segment": name,
                    "n": int(o.sum()),
                    "counts": ", ".join(f"{nm}={int(x)}" for nm, x in zip(names, o, strict=True)),
                    "p_value": p,
                    "flag": bool(p < SRM_THRESHOLD),
                }
            )
    srm_table = pd.DataFrame(srm_rows)

    pre = pre_metric is not None
    blocks = []
    for mi, metric in enumerate(spec):
        b = _metric_block(grid, metric, c, s, v, alpha, pre, n_bayes_draws, bayes_seed)
        b["_row"] = np.arange(len(c))
        b["_metric"] = np.full(len(c), mi)
        blocks.append(pd.DataFrame(b))
    tab = pd.concat(blocks, ignore_index=True).sort_values(["_row", "_metric"], kind="stable")
    rc, rs, rv = c[tab["_row"].to_numpy()], s[tab["_row"].to_numpy()], v[tab["_row"].to_numpy()]
    tab.insert(
        0, "campaign_id", pd.array(np.asarray(grid.campaigns, dtype=object)[rc], dtype="str")
    )
    tab.insert(1, "segment", pd.array(np.asarray(grid.segments, dtype=object)[rs], dtype="str"))
    tab.insert(2, "variant", pd.array(np.asarray(grid.variants, dtype=object)[rv], dtype="str"))
    tab.insert(
        3,
        "metric",
        pd.array(np.asarray(metrics, dtype=object)[tab["_metric"].to_numpy()], dtype="str"),
    )
    tab.insert(
        4,
        "metric_kind",
        pd.array(
            np.asarray([m.kind for m in spec], dtype=object)[tab["_metric"].to_numpy()],
            dtype="str",
        ),
    )
    tab = tab.drop(columns=["_row", "_metric"]).reset_index(drop=True)

    # Multiple comparisons within each campaign.
    p_adj = np.full(len(tab), np.nan)
    cp_adj = np.full(len(tab), np.nan)
    fam_size = np.zeros(len(tab), dtype=np.int64)
    families = {}
    camp_col = tab["campaign_id"].to_numpy()
    for camp in grid.campaigns:
        sel = np.flatnonzero(camp_col == camp)
        p_adj[sel] = _adjust(tab["p_value"].to_numpy()[sel], correction)
        if pre:
            cp_adj[sel] = _adjust(tab["cuped_p_value"].to_numpy()[sel], correction)
        m = int(np.isfinite(tab["p_value"].to_numpy()[sel]).sum())
        fam_size[sel] = m
        sub = tab.iloc[sel]
        sub = sub[np.isfinite(sub["p_value"].to_numpy())]  # the family: rows with a valid test
        families[str(camp)] = {
            "tests": m,
            "segments": sub["segment"].nunique(),
            "variants": sub["variant"].nunique(),
            "metrics": sub["metric"].nunique(),
        }
    tab["p_adjusted"] = p_adj
    tab["significant"] = p_adj < alpha
    tab["correction"] = CORRECTION_NAME[correction]
    tab["family_size"] = fam_size
    tab["srm_p_value"] = srm_seg[rc, rs]
    tab["srm_campaign_p_value"] = srm_camp[rc]
    tab["srm_flag"] = (tab["srm_p_value"] < SRM_THRESHOLD) | (
        tab["srm_campaign_p_value"] < SRM_THRESHOLD
    )
    bayes = (
        BAYES_METHOD["conversion_mc"].format(draws=n_bayes_draws, seed=bayes_seed)
        if n_bayes_draws
        else BAYES_METHOD["conversion"]
    )
    metric_arr = tab["metric"].to_numpy()
    kind_arr = tab["metric_kind"].to_numpy()
    tab["method"] = pd.array([_method(k) for k in kind_arr], dtype="str")
    tab["bayes_method"] = pd.array(
        [bayes if k == "binary" else BAYES_METHOD["revenue"] for k in kind_arr], dtype="str"
    )
    if winsorize is not None and caps_by_metric:
        tab["winsorized_at"] = [
            caps_by_metric.get(m, {}).get(x, np.nan)
            for m, x in zip(metric_arr, camp_col, strict=True)
        ]
        note = f"; winsorized at the {float(winsorize):g} quantile of the campaign"
        tab["method"] = pd.array(
            [
                mm + (note if m in caps_by_metric else "")
                for mm, m in zip(tab["method"], metric_arr, strict=True)
            ],
            dtype="str",
        )
    if pre:
        tab["cuped_p_adjusted"] = cp_adj
    tab["warnings"] = pd.array(_row_warnings(tab, pre, control), dtype="str")
    settings = {
        "segment": segment,
        "control": control,
        "metrics": metrics,
        "metric_kinds": kinds,
        "metric_columns": {m.name: m.column for m in spec},
        "correction": correction,
        "alpha": alpha,
        "pre_metric": pre_metric,
        "winsorize": winsorize,
        "caps": next(iter(caps_by_metric.values()), {}),
        "caps_by_metric": caps_by_metric,
        "families": families,
        "bayes_method": bayes,
        "n_bayes_draws": n_bayes_draws,
        "bayes_seed": bayes_seed,
    }
    return ABResult(table=tab, cells=cells, srm=srm_table, settings=settings)


# --------------------------------------------------------------------------------------
# Heterogeneity
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Decisions and plots
# --------------------------------------------------------------------------------------


def _increment_label(metric: str) -> str:
    """Column stem of the expected increment of a metric: 'conversions' for conversion."""
    return "conversions" if metric == "conversion" else metric


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.1%}"


def decide(
    result: ABResult,
    *,
    metric: str | None = None,
    min_lift: float = 0.0,
    min_effect: float | None = None,
    alpha: float | None = None,
    use_cuped: bool = False,
    segment_sizes: Mapping[str, float] | pd.Series | None = None,
    srm_blocks: bool = True,
) -> pd.DataFrame:
    """Roll out / stop / keep testing per campaign x segment x variant, judged on ``metric``.

    * roll out: adjusted p < alpha, the difference is positive and its interval lies above the
      minimum useful effect;
    * stop: the interval lies below the minimum useful effect, or the effect is significantly
      negative (adjusted p < alpha);
    * keep testing: otherwise (also: not evaluable, or a sample ratio mismatch when ``srm_blocks``).

    Judged on the interval of the difference (Newcombe for conversion, Welch t for revenue, or the
    CUPED interval with ``use_cuped``), which stays valid for small counts where the delta-method
    lift interval does not. The minimum useful effect is ``min_effect`` (absolute, metric units)
    or else ``min_lift x control_mean`` (the observed baseline taken as known). Expected
    incremental conversions and revenue if rolled out to the whole segment: ``segment_size x diff``
    with the interval of diff; the segment size is the number of exposed customers of the segment
    in the campaign unless ``segment_sizes`` (segment -> size) is given.
    """
    tab = result.table
    alpha = result.settings["alpha"] if alpha is None else alpha
    metric = metric or result.primary_metric
    if metric not in result.settings["metrics"]:
        raise ABTestError(
            f"{PARAMS}.decide_on: '{metric}' is not one of the evaluated metrics "
            f"({', '.join(result.settings['metrics'])})"
        )
    if use_cuped and not result.settings["pre_metric"]:
        raise ABTestError("CUPED decisions need a pre-period metric; none was evaluated")
    binary = result.settings["metric_kinds"][metric] == "binary"
    keys = ["campaign_id", "segment", "variant"]
    main = tab[tab["metric"] == metric].reset_index(drop=True)
    # Segment sizes: exposed customers of the segment in the campaign (all variants).
    cells = result.cells.assign(segment=result.cells["segment"].astype(str))
    exposed = cells.groupby(["campaign_id", "segment"], observed=True)["n"].sum()
    idx = pd.MultiIndex.from_frame(main[["campaign_id", "segment"]])
    size = exposed.reindex(idx).to_numpy(dtype=float)
    if segment_sizes is not None:
        given = pd.Series(segment_sizes, dtype=float)
        given.index = given.index.astype(str)
        size = given.reindex(main["segment"].astype(str)).to_numpy()
        if np.isnan(size).any():
            missing = sorted(set(main["segment"][np.isnan(size)]))
            raise ABTestError(f"segment_sizes has no size for segment(s) {missing}")

    def interval(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if use_cuped:
            return (
                df["cuped_diff"].to_numpy(),
                df["cuped_ci_low"].to_numpy(),
                df["cuped_ci_high"].to_numpy(),
            )
        return df["diff"].to_numpy(), df["diff_ci_low"].to_numpy(), df["diff_ci_high"].to_numpy()

    out = main[
        keys
        + [
            "n_control",
            "n_variant",
            "control_mean",
            "variant_mean",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "lift",
            "lift_ci_low",
            "lift_ci_high",
            "p_adjusted",
            "chance_to_beat_control",
            "srm_flag",
            "warnings",
        ]
    ].copy()
    out.insert(3, "metric", metric)
    out["segment_size"] = size
    for m in result.settings["metrics"]:
        label = _increment_label(m)
        other = (
            tab[tab["metric"] == m].set_index(keys).reindex(pd.MultiIndex.from_frame(main[keys]))
        )
        d, lo, hi = interval(other)
        out[f"incremental_{label}"] = size * d
        out[f"incremental_{label}_ci_low"] = size * lo
        out[f"incremental_{label}_ci_high"] = size * hi

    d, dlo, dhi = interval(main)
    p = main["cuped_p_adjusted" if use_cuped else "p_adjusted"].to_numpy()
    lift = main["lift"].to_numpy()
    mc = main["control_mean"].to_numpy()
    level = f"{1 - result.settings['alpha']:.0%}"
    padj_name = CORRECTION_NAME[result.settings["correction"]]
    what = "CUPED-adjusted difference" if use_cuped else "difference"

    def show(x: float) -> str:
        if not np.isfinite(x):
            return "n/a"
        return f"{100 * x:+.2f} pp" if binary else f"{x:+,.2f}"

    decisions, reasons = [], []
    for i in range(len(main)):
        thr = (
            min_effect
            if min_effect is not None
            else (min_lift * mc[i] if np.isfinite(mc[i]) else 0.0)
        )
        ci = f"{show(d[i])} ({level} CI {show(dlo[i])} to {show(dhi[i])}; lift {_pct(lift[i])})"
        padj = f"adjusted p = {_fmt(p[i], 2)} ({padj_name})"
        minimum = f"the minimum useful effect of {show(thr)}" + (
            f" (lift {min_lift:+.1%})" if min_effect is None and min_lift else ""
        )
        if not np.isfinite(p[i]) or not np.isfinite(dlo[i]):
            decisions.append("keep testing")
            reasons.append(
                "not enough data to judge: " + (main["warnings"].iat[i] or "no valid test")
            )
        elif srm_blocks and main["srm_flag"].iat[i]:
            decisions.append("keep testing")
            reasons.append(f"sample ratio mismatch: fix the assignment before acting ({what} {ci})")
        elif p[i] < alpha and d[i] > 0 and dlo[i] > thr:
            decisions.append("roll out")
            reasons.append(f"{what} {ci} is above {minimum} and significant, {padj}")
        elif dhi[i] < thr:
            decisions.append("stop")
            reasons.append(f"the whole interval of the {what} {ci} lies below {minimum}")
        elif p[i] < alpha and d[i] < 0:
            decisions.append("stop")
            reasons.append(f"significantly negative: {what} {ci}, {padj}")
        else:
            decisions.append("keep testing")
            reasons.append(f"not conclusive yet: {what} {ci}, {padj}")
    out.insert(4, "decision", pd.array(decisions, dtype="str"))
    out.insert(5, "reason", pd.array(reasons, dtype="str"))
    return out


def forest_plot(
    table: pd.DataFrame | ABResult,
    metric: str = "conversion",
    ax=None,
    *,
    campaign: str | None = None,
    title: str | None = None,
):
    """Relative lifts with their intervals by segment (and variant): green = significantly positive
    after correction, red = significantly negative, grey = not significant. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    if isinstance(table, ABResult):
        table = table.table
    t = table[table["metric"] == metric]
    if campaign is not None:
        t = t[t["campaign_id"] == campaign]
    if t.empty:
        raise ABTestError(
            f"forest_plot: no rows for metric '{metric}'"
            + (f", campaign '{campaign}'" if campaign else "")
        )
    t = t.reset_index(drop=True)
    if ax is None:
        ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(t)))[1]
    many = t["campaign_id"].nunique() > 1
    nvar = t["variant"].nunique() > 1
    labels = [
        (f"{r.campaign_id}: " if many else "")
        + str(r.segment)
        + (f" · {r.variant}" if nvar else "")
        for r in t.itertuples()
    ]
    y = np.arange(len(t))[::-1]
    lift = t["lift"].to_numpy(dtype=float)
    lo, hi = t["lift_ci_low"].to_numpy(dtype=float), t["lift_ci_high"].to_numpy(dtype=float)
    sig = t["significant"].to_numpy(dtype=bool)
    ok = np.isfinite(lift) & np.isfinite(lo) & np.isfinite(hi)
    groups = [
        ("significantly positive", "#2a9d8f", sig & (lift > 0)),
        ("significantly negative", "#e76f51", sig & (lift < 0)),
        ("not significant", "#8d99ae", ~sig),
    ]
    for name, colour, mask in groups:
        m = mask & ok
        if m.any():
            ax.errorbar(
                lift[m],
                y[m],
                xerr=[lift[m] - lo[m], hi[m] - lift[m]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=3,
                label=name,
            )
    for yi in y[~ok]:
        ax.text(0, yi, "  lift undefined / not evaluated", va="center", fontsize=8, color="#555555")
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, labels)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"relative lift in {metric} vs control (interval; * corrected significance)")
    ax.set_title(title or f"Lift in {metric} by segment")
    if ok.any():
        ax.legend(loc="best", fontsize=8)
    return ax


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


def _k(power: float, alpha: float) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ABTestError(f"power={power} and alpha={alpha} must both be between 0 and 1")
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


def planner_text(
    baseline: float, mde_value: float, power: float, alpha: float, relative: bool = True
) -> str:
    """The planner's output (HTML): customers per arm and in total for the settings."""
    try:
        n = sample_size(baseline, mde_value, power=power, alpha=alpha, relative=relative)
    except ABTestError as err:
        return f"<p style='color:#c05621'>{html.escape(str(err))}</p>"
    target = baseline * (1 + mde_value) if relative else baseline + mde_value
    return (
        f"<p><b>{n:,} customers per arm</b> ({2 * n:,} for control + one variant) to detect a change in "
        f"conversion from {baseline:.2%} to {target:.2%} with {power:.0%} power at alpha = {alpha:g} "
        f"(two-sided; unpooled normal approximation).</p>"
    )


def sample_size_planner(
    baseline: float = 0.05,
    mde_value: float = 0.10,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
):
    """An ipywidgets planner: sliders for baseline, MDE, power and alpha, and the required sample
    size, updated on every change (the update is :func:`planner_text`, a plain function)."""
    import ipywidgets as w

    def slider(
        value: float, lo: float, hi: float, step: float, fmt: str, label: str
    ) -> w.FloatSlider:
        return w.FloatSlider(
            value=value,
            min=lo,
            max=hi,
            step=step,
            readout_format=fmt,
            description=label,
            style={"description_width": "150px"},
            layout=w.Layout(width="480px"),
        )

    base = slider(baseline, 0.001, 0.5, 0.001, ".1%", "baseline conversion")
    eff = slider(mde_value, 0.005, 1.0, 0.005, ".1%", "min. detectable lift")
    pw = slider(power, 0.5, 0.99, 0.01, ".0%", "power")
    al = slider(alpha, 0.001, 0.2, 0.001, ".3f", "alpha")
    rel = w.Checkbox(value=relative, description="lift is relative (else absolute)")
    out = w.HTML(value=planner_text(base.value, eff.value, pw.value, al.value, rel.value))

    def update(_change=None) -> None:
        out.value = planner_text(base.value, eff.value, pw.value, al.value, rel.value)

    for ctl in (base, eff, pw, al, rel):
        ctl.observe(update, names="value")
    box = w.VBox([base, eff, pw, al, rel, out])
    return box


planner = sample_size_planner


def with_segments(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame,
    columns: Sequence[str],
    *,
    missing_label: str = "(unknown)",
) -> pd.DataFrame | ibis.Table:
    """Attach segment columns of the customer table (indexed by customer_id) to the exposures.

    The join runs where the exposures are (DuckDB for an Ibis table). Exposed customers without a
    label get ``missing_label`` so they stay in the evaluation instead of silently dropping out.
    """
    missing = [c for c in columns if c not in customers.columns]
    if missing:
        raise ABTestError(
            f"the customer table has no column(s) {missing} to segment by; "
            f"columns: {', '.join(map(str, customers.columns))}"
        )
    labels = customers[list(columns)].astype("string").fillna(missing_label)
    labels.index = labels.index.astype("string")
    labels = labels.rename_axis("customer_id").reset_index()
    if isinstance(exposures, ibis.Table):
        keep = [c for c in exposures.columns if c not in columns]
        joined = exposures.select(keep).left_join(ibis.memtable(labels), "customer_id")
        joined = joined.select(
            *keep, *[joined[c].fill_null(missing_label).name(c) for c in columns]
        )
        return joined
    out = exposures.drop(columns=[c for c in columns if c in exposures]).merge(
        labels, on="customer_id", how="left"
    )
    out[list(columns)] = out[list(columns)].fillna(missing_label)
    return out


def headline(overall: ABResult, decisions: pd.DataFrame) -> str:
    """The finding notebook 04 leads with: per campaign, did it work overall and where to roll out."""
    parts = []
    tab = overall.table[overall.table["metric"] == "conversion"]
    for camp, rows in tab.groupby("campaign_id", sort=False):
        best = rows.sort_values("diff", ascending=False).iloc[0]
        sig = "significant" if bool(best["significant"]) else "not significant"
        text = (
            f"{camp}: the best variant '{best['variant']}' changed conversion from {best['control_mean']:.1%} to "
            f"{best['variant_mean']:.1%} ({best['diff'] * 100:+.2f} pp, 95% CI {best['diff_ci_low'] * 100:+.2f} "
            f"to {best['diff_ci_high'] * 100:+.2f} pp; {sig} after correction)."
        )
        d = decisions[decisions["campaign_id"] == camp]
        roll = d[d["decision"] == "roll out"]
        stop = d[d["decision"] == "stop"]
        if len(roll):
            names = ", ".join(f"{r.segment} ({r.variant})" for r in roll.itertuples())
            text += f" Roll out to: {names}."
        else:
            text += " No segment has a clear enough effect to roll out yet."
        if len(stop):
            text += (
                " Stop for: "
                + ", ".join(f"{r.segment} ({r.variant})" for r in stop.itertuples())
                + "."
            )
        parts.append(text)
    return "\n\n".join(parts)


def readable(table: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Result rows formatted for people: rates as %, differences in pp with their interval, money rounded."""

    def val(metric: str, x: float) -> str:
        if pd.isna(x):
            return ""
        return f"{x:.1%}" if metric == "conversion" else f"{x:,.0f} {currency}".strip()

    def diff(metric: str, d: float, lo: float, hi: float) -> str:
        if metric == "conversion":
            return f"{d * 100:+.2f} pp [{lo * 100:+.2f}, {hi * 100:+.2f}]"
        return f"{d:+,.0f} [{lo:+,.0f}, {hi:+,.0f}]"

    out = pd.DataFrame(
        {
            "campaign": table["campaign_id"],
            "segment": table["segment"].astype(str),
            "variant": table["variant"],
            "metric": table["metric"],
            "customers (control / variant)": [
                f"{a:,} / {b:,}"
                for a, b in zip(table["n_control"], table["n_variant"], strict=True)
            ],
            "control": [
                val(m, x) for m, x in zip(table["metric"], table["control_mean"], strict=True)
            ],
            "variant value": [
                val(m, x) for m, x in zip(table["metric"], table["variant_mean"], strict=True)
            ],
            "difference [95% CI]": [
                diff(m, d, lo, hi)
                for m, d, lo, hi in zip(
                    table["metric"],
                    table["diff"],
                    table["diff_ci_low"],
                    table["diff_ci_high"],
                    strict=True,
                )
            ],
            "lift": [("" if pd.isna(x) else f"{x:+.1%}") for x in table["lift"]],
            "adjusted p": [f"{p:.2g}" for p in table["p_adjusted"]],
            "chance to beat control": [
                ("" if pd.isna(p) else f"{p:.0%}") for p in table["chance_to_beat_control"]
            ],
        }
    )
    return out.reset_index(drop=True)


def segment_sizes(
    customers: pd.DataFrame, column: str, *, missing_label: str = "(unknown)"
) -> pd.Series:
    """Customers per segment of the customer table, labelled as :func:`with_segments` labels them."""
    return customers[column].astype("string").fillna(missing_label).value_counts()

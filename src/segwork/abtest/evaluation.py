"""A/B(/n) evaluation of campaigns by segment: did it work, for whom, how much, where to roll out.

Everything is computed from per-cell sufficient statistics (count, mean, centred sums of squares
and cross-products per campaign x segment x variant), aggregated once - in pandas with
``np.bincount`` or in the Ibis backend (DuckDB) for an Ibis table - and then evaluated with
vectorised formulas, so thousands of cells take well under a second.

Metrics are outcome columns of the exposures (:func:`resolve_metrics`): ``binary`` (0/1 per
customer, tested as "conversion" below), ``numeric`` or ``money`` (a mean per customer, tested as
"revenue" below); the contract's ``converted`` and ``revenue`` are the default.

Decisions (:func:`recommend`) follow the evidence: one decision per campaign unless the
interaction test finds that the effect differs between segments; then one per segment. Customers
with no segment value are never the only target of a roll-out. Numbers are written with the
decimals their intervals need (:func:`metric_formats`).

Conventions (also printed by :meth:`ABResult.summary` and in the ``method`` column):

* **Comparison**: each variant against the control of the same campaign and segment;
  ``diff = variant_mean - control_mean``; two-sided tests; ``(1 - alpha)`` intervals, which are
  *not* adjusted for multiplicity (only the p-values are; :func:`decide` rolls out and stops
  only on adjusted p-values of the test against the minimum useful effect).
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
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd
from scipy import special, stats

from segwork.display import decimals_for, number
from segwork.errors import SegworkError
from segwork.schema import require_columns

__all__ = [
    "ABResult",
    "ABTestError",
    "Metric",
    "MetricFormat",
    "SRM_THRESHOLD",
    "Segments",
    "UNKNOWN",
    "VARIANT_RULE",
    "attach_segments",
    "control_message",
    "cuped_text",
    "decide",
    "default_metrics",
    "evaluate",
    "forest_plot",
    "headline",
    "heterogeneity",
    "mde",
    "metric_formats",
    "metrics_text",
    "plan",
    "planner",
    "planner_text",
    "readable",
    "readable_heterogeneity",
    "readable_plan",
    "recommend",
    "resolve_metrics",
    "sample_size",
    "sample_size_planner",
    "segment_name",
    "setup_problems",
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


class ABTestError(SegworkError, ValueError):
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
                f"{PARAMS}.metrics: '{name}' is not a column of {TABLE}; its numeric columns are "
                f"{', '.join(_outcome_candidates(exposures)) or '(none)'}. Fix: list outcome "
                "columns that exist"
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
        raise ABTestError(
            f"{PARAMS}.expected_shares: give {k} positive shares, one per variant; got "
            f"{', '.join(f'{x:g}' for x in np.ravel(shares))}"
        )
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
        "cuped_se": se_a,
        "cuped_df": np.full(len(c), np.inf) if metric.binary else df_a,
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
    control = str(control)  # variants are compared as text (a YAML 0 is the variant '0')
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

    * roll out: the difference is significantly above the minimum useful effect after
      correction: the row's test (Wald z for conversion, Welch t for revenue, or CUPED's) of
      "difference = minimum useful effect" instead of "= 0", its two-sided p-value adjusted with
      the result's correction (Holm by default) over the campaign's family (its segments x
      variants x metrics, this metric's rows tested against the minimum, the other metrics'
      against zero), is below alpha and the difference is above the minimum (a one-sided test
      at alpha / 2 per direction). With no minimum (zero) this is exactly "adjusted p < alpha and
      the difference is positive";
    * stop: the same adjusted p-value is below alpha and the difference is below the minimum;
      with a minimum of zero this is exactly "significantly negative, adjusted p < alpha".
      The uncorrected interval is used for neither: with many segments, chance alone would push
      some of them above or below the minimum;
    * keep testing: otherwise (also: not evaluable, or a sample ratio mismatch when ``srm_blocks``).

    The reasons quote the interval of the difference (Newcombe for conversion, Welch t for
    revenue, or the CUPED interval with ``use_cuped``), which stays valid for small counts where
    the delta-method lift interval does not; a row without a finite interval is kept testing. The
    minimum useful effect is ``min_effect`` (absolute, metric units)
    or else ``min_lift x control_mean`` (the observed baseline taken as known). Expected
    incremental conversions and revenue if rolled out to the whole segment: ``segment_size x diff``
    with the interval of diff; the segment size is the number of exposed customers of the segment
    in the campaign unless ``segment_sizes`` (segment -> size) is given. ``rollout_p_adjusted``
    and ``stop_p_adjusted`` are the adjusted p-values the roll-out and the stop rest on (the same
    two-sided test against the minimum, so equal; the direction of the difference decides which
    applies).
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

    thresholds = (
        np.full(len(main), float(min_effect))
        if min_effect is not None
        else np.where(np.isfinite(mc), min_lift * mc, 0.0)
    )
    p_thr = _threshold_p_adjusted(result, metric, thresholds, use_cuped)
    decisions, reasons = [], []
    for i in range(len(main)):
        thr = float(thresholds[i])
        ci = f"{show(d[i])} ({level} CI {show(dlo[i])} to {show(dhi[i])}; lift {_pct(lift[i])})"
        padj = f"adjusted p {_p_phrase(p[i])} ({padj_name})"
        minimum = (
            "zero"
            if thr == 0
            else f"the minimum useful effect of {show(thr)}"
            + (f" (lift {min_lift:+.1%})" if min_effect is None and min_lift else "")
        )
        if not np.isfinite(p[i]) or not np.isfinite(dlo[i]):
            decisions.append("keep testing")
            reasons.append(
                "not enough data to judge: " + (main["warnings"].iat[i] or "no valid test")
            )
        elif srm_blocks and main["srm_flag"].iat[i]:
            decisions.append("keep testing")
            reasons.append(f"sample ratio mismatch: fix the assignment before acting ({what} {ci})")
        elif d[i] > thr and p_thr[i] < alpha:
            decisions.append("roll out")
            reasons.append(
                f"{what} {ci} is above zero and significant, {padj}"
                if thr == 0
                else f"significantly above {minimum}: {what} {ci}; test of the {what} against "
                f"that minimum: adjusted p {_p_phrase(p_thr[i])} ({padj_name})"
            )
        elif d[i] < thr and p_thr[i] < alpha:
            decisions.append("stop")
            reasons.append(
                f"significantly negative: {what} {ci}, {padj}"
                if thr == 0
                else f"significantly below {minimum}: {what} {ci}; test of the {what} against "
                f"that minimum: adjusted p {_p_phrase(p_thr[i])} ({padj_name})"
            )
        else:
            decisions.append("keep testing")
            reasons.append(f"not conclusive yet: {what} {ci}, {padj}")
    out["rollout_p_adjusted"] = p_thr
    out["stop_p_adjusted"] = p_thr
    out.insert(4, "decision", pd.array(decisions, dtype="str"))
    out.insert(5, "reason", pd.array(reasons, dtype="str"))
    return out


def _threshold_p_adjusted(
    result: ABResult, metric: str, thresholds: np.ndarray, use_cuped: bool
) -> np.ndarray:
    """Adjusted two-sided p-values of "difference = threshold" for ``metric``'s rows (in the
    table's order), corrected as the table's p-values are: same method, same family per campaign
    (all its rows with a p-value; the other metrics keep their test against zero). A row with a
    threshold of zero keeps the table's own p-value, so with no minimum the result is exactly the
    table's adjusted p. A row whose test against zero is valid but whose test against the
    threshold is degenerate (no variation) counts as p = 1, so the family does not change."""
    tab = result.table
    pcol = "cuped_p_value" if use_cuped else "p_value"
    d = tab["cuped_diff" if use_cuped else "diff"].to_numpy(dtype=float)
    se = tab["cuped_se" if use_cuped else "diff_se"].to_numpy(dtype=float)
    df = tab["cuped_df" if use_cuped else "df"].to_numpy(dtype=float)
    rows = np.flatnonzero(tab["metric"].to_numpy() == metric)
    p = tab[pcol].to_numpy(dtype=float).copy()
    thr = np.asarray(thresholds, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (d[rows] - thr) / se[rows]
        p_thr = np.where(
            se[rows] > 0, 2 * stats.t.sf(np.abs(stat), df[rows]), 1.0
        )  # t with df = inf is the normal (Wald) test
    p_thr = np.where(thr == 0, p[rows], np.where(np.isfinite(p_thr), p_thr, 1.0))
    p[rows] = np.where(np.isfinite(p[rows]), p_thr, np.nan)
    out = np.full(len(tab), np.nan)
    camp = tab["campaign_id"].to_numpy()
    for c in pd.unique(camp):
        sel = np.flatnonzero(camp == c)
        out[sel] = _adjust(p[sel], result.settings["correction"])
    return out[rows]


def forest_plot(
    table: pd.DataFrame | ABResult,
    metric: str | None = None,
    ax=None,
    *,
    campaign: str | None = None,
    title: str | None = None,
    segment_column: str | None = None,
    scale: Literal["difference", "lift"] = "difference",
    currency: str = "",
):
    """Effects with their intervals by segment (and variant): green = significantly positive
    after correction, red = significantly negative, grey = not significant. ``metric``: the
    result's primary metric (or the table's first) by default. Returns the Axes.

    ``scale="difference"`` (default) draws the difference to control with the interval the
    tables use (percentage points for rates, ``currency`` for money); a segment stopped with no
    minimum useful effect is red, as the stop needs the same corrected significance; ``"lift"``
    draws the relative lift with its delta-method interval, which can disagree with the
    difference's for small counts."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    if isinstance(table, ABResult):
        metric = metric or table.primary_metric
        table = table.table
    metric = metric or str(table["metric"].iat[0])
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
        + segment_name(str(r.segment), segment_column)
        + (f" · {r.variant}" if nvar else "")
        for r in t.itertuples()
    ]
    y = np.arange(len(t))[::-1]
    binary = "metric_kind" in t and (t["metric_kind"].astype(str) == "binary").all()
    if scale == "lift":
        cols, factor = ("lift", "lift_ci_low", "lift_ci_high"), 1.0
    elif scale == "difference":
        cols, factor = ("diff", "diff_ci_low", "diff_ci_high"), (100.0 if binary else 1.0)
    else:
        raise ABTestError(f"forest_plot: scale must be 'difference' or 'lift', not {scale!r}")
    lift, lo, hi = (factor * t[c].to_numpy(dtype=float) for c in cols)
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
    ax.set_yticks(y, labels, parse_math=False)  # '$0 - $100' is money, not math
    if scale == "lift":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        what = f"relative lift in {metric} vs control"
    elif binary:
        what = f"difference in {metric} vs control (percentage points)"
    else:
        money = "metric_kind" in t and (t["metric_kind"].astype(str) == "money").all()
        unit = f" ({currency})" if money and currency else ""
        what = f"difference in {metric} per customer vs control{unit}"
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel(
        f"{what}\n(dot: estimate; line: interval; colour: significance after correction)",
        parse_math=False,
    )
    ax.set_title(
        textwrap.fill(title or f"Lift in {metric} by segment", 48), fontsize=11, parse_math=False
    )
    if ok.any():
        ax.legend(loc="best", fontsize=8)
    return ax


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class MetricFormat:
    """How one metric is written for people: rates in % with differences in percentage points,
    other metrics with as many decimals as their intervals need (cents for small amounts)."""

    kind: str
    decimals: int
    unit: str = ""

    def value(self, x: float) -> str:
        if x is None or not np.isfinite(x):
            return ""
        if self.kind == "binary":
            return f"{100 * x:.{self.decimals}f}%"
        return number(x, self.decimals, unit=self.unit)

    def diff(self, d: float, lo: float, hi: float) -> str:
        if d is None or not np.isfinite(d):
            return "not evaluated"
        k = self.decimals
        if self.kind == "binary":
            ci = f" [{100 * lo:+.{k}f}, {100 * hi:+.{k}f}]" if np.isfinite(lo) else ""
            return f"{100 * d:+.{k}f} pp{ci}"
        ci = f" [{number(lo, k, sign=True)}, {number(hi, k, sign=True)}]" if np.isfinite(lo) else ""
        return f"{number(d, k, sign=True)}{ci} {self.unit}".strip()


def metric_formats(table: pd.DataFrame, *, currency: str = "") -> dict[str, MetricFormat]:
    """One :class:`MetricFormat` per metric of a result table, chosen from its numbers: decimals
    that show the narrowest interval of a difference to two significant digits (at least one for
    rates), the currency for money metrics."""
    out = {}
    for m, rows in table.groupby("metric", sort=False):
        kind = (
            str(rows["metric_kind"].iat[0])
            if "metric_kind" in rows
            else METRIC_KINDS.get(str(m), "numeric")
        )
        half = (rows["diff_ci_high"] - rows["diff_ci_low"]).to_numpy(dtype=float) / 2
        if kind == "binary":
            out[str(m)] = MetricFormat(kind, max(1, decimals_for(100 * half)))
        else:
            if not np.isfinite(half).any():
                half = rows["control_mean"].to_numpy(dtype=float)
            money = kind == "money"
            out[str(m)] = MetricFormat(
                kind, decimals_for(half, money=money), currency if money else ""
            )
    return out


def _p_text(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def _p_phrase(p: float) -> str:
    """A p-value after 'p' in a sentence: '< 0.001' or '= 0.071', never '5.9e-13'."""
    text = _p_text(p)
    return "not computable" if not text else text if text.startswith("<") else f"= {text}"


def _pick_variant(rows: pd.DataFrame) -> pd.Series:
    """The one variant named for a campaign or segment (rule in :data:`VARIANT_RULE`)."""
    for decision in ("roll out", "keep testing", "stop"):
        cand = rows[rows["decision"] == decision]
        if len(cand):
            by = "diff_ci_low" if decision == "roll out" else "diff"
            return cand.loc[cand[by].fillna(-np.inf).idxmax()]
    return rows.iloc[0]


VARIANT_RULE = (
    "one variant per target: among the variants that can be rolled out, the one whose interval of "
    "the difference has the highest lower end; if none can, the one with the largest estimated "
    "difference"
)


def recommend(
    overall: ABResult,
    segmented: ABResult | None = None,
    *,
    metric: str | None = None,
    min_lift: float = 0.0,
    currency: str = "",
    segment_column: str | None = None,
    segment_sizes: Mapping[str, float] | pd.Series | None = None,
    population: float | None = None,
) -> pd.DataFrame:
    """What to do with each campaign, following the evidence.

    The decision rule is :func:`decide`'s (roll out / stop / keep testing on ``metric``, the first
    binary metric by default). Per campaign, the treatment x segment interaction test of
    ``segmented`` (:func:`heterogeneity`, Holm-adjusted over the campaign's variants) chooses the
    scope: if it finds no difference between segments (or there are no segments), there is one
    decision for the whole campaign; if it does, each segment gets its own decision. Customers
    with no value of the segment column are named in words and are never the only target of a
    roll-out. One variant is named per target (:data:`VARIANT_RULE`), and the revenue-like
    metric's effect (``value_*``) stands next to the decision metric's (``effect``).

    Expected increments are customers x difference: ``population`` customers for a whole-campaign
    roll-out (default: those exposed in the campaign), ``segment_sizes`` per segment (default:
    those exposed in the segment)."""
    metric = metric or overall.primary_metric
    value = overall.value_metric
    if (
        value is None or value == metric
    ):  # deciding on the revenue-like metric: show a rate next to it
        kinds = overall.settings["metric_kinds"]
        value = next((m for m, k in kinds.items() if m != metric and k == "binary"), None)
    col = segment_column or (segmented.settings["segment"] if segmented is not None else None)
    alpha = overall.settings["alpha"]
    both = [overall.table] + ([segmented.table] if segmented is not None else [])
    fmts = metric_formats(pd.concat(both, ignore_index=True), currency=currency)
    rows = []

    def emit(dec_row, res: ABResult, scope: str, target: str, reason: str, interaction: float):
        tab = res.table
        key = (
            (tab["campaign_id"] == dec_row["campaign_id"])
            & (tab["segment"] == dec_row["segment"])
            & (tab["variant"] == dec_row["variant"])
        )
        f = fmts
        main = tab[key & (tab["metric"] == metric)].iloc[0]
        row = {
            "campaign_id": dec_row["campaign_id"],
            "scope": scope,
            "segment_column": col if scope == "segment" else "",
            "segment": dec_row["segment"],
            "target": target,
            "variant": dec_row["variant"],
            "decision": dec_row["decision"],
            "reason": reason,
            "rule": VARIANT_RULE,
            "customers": float(dec_row["segment_size"]),
            "metric": metric,
            "metric_kind": overall.settings["metric_kinds"][metric],
            "control_mean": main["control_mean"],
            "variant_mean": main["variant_mean"],
            "diff": main["diff"],
            "diff_ci_low": main["diff_ci_low"],
            "diff_ci_high": main["diff_ci_high"],
            "p_adjusted": main["p_adjusted"],
            "effect": _effect_text(metric, main, f[metric]),
            "interaction_p": interaction,
            "interaction_column": col or "",
        }
        label = _increment_label(metric)
        for k in ("", "_ci_low", "_ci_high"):
            row[f"incremental_{label}{k}"] = dec_row[f"incremental_{label}{k}"]
        if value is not None:
            other = tab[key & (tab["metric"] == value)].iloc[0]
            vlabel = _increment_label(value)
            row.update(
                {
                    "value_metric": value,
                    "value_metric_kind": overall.settings["metric_kinds"][value],
                    "value_control_mean": other["control_mean"],
                    "value_variant_mean": other["variant_mean"],
                    "value_diff": other["diff"],
                    "value_diff_ci_low": other["diff_ci_low"],
                    "value_diff_ci_high": other["diff_ci_high"],
                    "value_p_adjusted": other["p_adjusted"],
                    "value_effect": _effect_text(value, other, f[value]),
                }
            )
            for k in ("", "_ci_low", "_ci_high"):
                row[f"incremental_{vlabel}{k}"] = dec_row[f"incremental_{vlabel}{k}"]
        rows.append(row)

    whole = decide(
        overall,
        metric=metric,
        min_lift=min_lift,
        segment_sizes=None if population is None else {"all": float(population)},
    )
    seg_dec = (
        decide(segmented, metric=metric, min_lift=min_lift, segment_sizes=segment_sizes)
        if segmented is not None
        else None
    )
    het = segmented.heterogeneity(metric) if segmented is not None else None
    for camp in overall.table["campaign_id"].unique():
        pick = _pick_variant(whole[whole["campaign_id"] == camp])
        p_int, het_text = np.nan, ""
        if het is not None:
            h = het[het["campaign_id"] == camp]
            p_adj = _adjust(h["p_value"].to_numpy(dtype=float), "holm")
            if np.isfinite(p_adj).any():
                i = int(np.nanargmin(p_adj))
                p_int = float(p_adj[i])
                if len(h) > 1:  # the campaign's scope rests on its most different variant
                    het_text = (
                        f"the test of a treatment x {col} interaction gives a Holm-adjusted "
                        f"p {_p_phrase(p_int)} for '{h['variant'].iat[i]}', the smallest of the "
                        f"{len(h)} variants"
                    )
                else:
                    het_text = (
                        f"the test of a treatment x {col} interaction gives p {_p_phrase(p_int)}"
                    )
            else:
                het_text = f"there are too few usable {col} segments for an interaction test"
        differs = np.isfinite(p_int) and p_int < alpha
        if not differs:
            if het is None:
                scope_text = "No segment column: one decision for the whole campaign."
            else:
                scope_text = (
                    f"The effect does not differ detectably between {col} segments ({het_text}), "
                    "so this decision is for the whole campaign."
                )
            emit(
                pick,
                overall,
                "whole campaign",
                "all customers",
                f"{pick['reason']}. {scope_text}",
                p_int,
            )
            continue
        d = seg_dec[seg_dec["campaign_id"] == camp]
        picks = [_pick_variant(g) for _, g in d.groupby("segment", sort=True)]
        unknown = {UNKNOWN, MISSING_SEGMENT}
        rolled = [p for p in picks if p["decision"] == "roll out"]
        only_unknown = bool(rolled) and all(p["segment"] in unknown for p in rolled)
        for p in picks:
            target = _target(str(p["segment"]), col)
            reason = f"{p['reason']}. The effect differs between {col} segments ({het_text})."
            if only_unknown and p["segment"] in unknown:
                p = p.copy()
                p["decision"] = "keep testing"
                reason = (
                    f"The only clear effect is among customers with no {col}, who cannot be "
                    f"selected by {col}: find out who they are before rolling out "
                    f"({p['reason']}). {het_text[0].upper() + het_text[1:]}."
                )
            elif p["decision"] == "keep testing":
                reason = (
                    f"{p['reason']}. The effect differs between {col} segments ({het_text}), and "
                    "this segment's own data is not conclusive."
                )
            emit(p, segmented, "segment", target, reason, p_int)
    out = pd.DataFrame(rows)
    for c in (
        "scope",
        "segment_column",
        "interaction_column",
        "segment",
        "target",
        "variant",
        "decision",
        "reason",
    ):
        out[c] = out[c].astype("str")
    return out


def _target(label: str, column: str | None) -> str:
    """A segment as a target in words: 'zip_code = Urban', 'customers with no persona', or a
    grouped label as it is ('Q1: history 29.99 to under 105.4', 'other city (12 values)')."""
    if label in (UNKNOWN, MISSING_SEGMENT):
        return segment_name(label, column)
    if column and re.match(rf"(Q\d+: |other ){re.escape(column)} ", label):
        return label
    return f"{column} = {label}" if column else label


def _effect_text(metric: str, row: pd.Series, f: MetricFormat) -> str:
    """'visit 10.6% -> 18.3% (+7.7 pp [+7.1, +8.3])' for one result row."""
    if not np.isfinite(row["diff"]):
        return f"{metric}: not evaluated"
    return (
        f"{metric} {f.value(row['control_mean'])} → {f.value(row['variant_mean'])} "
        f"({f.diff(row['diff'], row['diff_ci_low'], row['diff_ci_high'])})"
    )


def headline(overall: ABResult, decisions: pd.DataFrame) -> str:
    """The finding notebook 04 leads with, from :func:`recommend`: per campaign, what to do, for
    whom, with which variant, and the effect on the decision metric and the revenue-like one."""
    parts = []
    control = overall.settings["control"]
    for camp, d in decisions.groupby("campaign_id", sort=False):
        level = f"{1 - overall.settings['alpha']:.0%}"

        def effects(r) -> str:
            text = r["effect"]
            if "value_effect" in r and isinstance(r["value_effect"], str) and r["value_effect"]:
                text += f"; {r['value_effect']}"
            return text

        if (d["scope"] == "whole campaign").all():
            r = d.iloc[0]
            verb = {
                "roll out": f"Roll out '{r['variant']}' to all customers",
                "stop": f"Stop: no variant beats '{control}' by enough ('{r['variant']}' came closest)",
                "keep testing": f"Keep testing: the data cannot yet tell ('{r['variant']}' leads)",
            }[r["decision"]]
            text = (
                f"{camp}: {verb}. '{r['variant']}' against '{control}': {effects(r)} "
                f"({level} intervals)."
            )
            if np.isfinite(r["interaction_p"]):
                seg_col = r.get("interaction_column") or ""
                between = f"between {seg_col} segments" if seg_col else "between segments"
                text += (
                    f" The effect does not differ detectably {between} for any variant "
                    f"(smallest Holm-adjusted interaction p {_p_phrase(r['interaction_p'])}), so "
                    "the decision is for the whole campaign."
                )
        else:
            text = (
                f"{camp}: the effect differs between {d['segment_column'].iat[0]} segments "
                f"(Holm-adjusted interaction p {_p_phrase(d['interaction_p'].iat[0])}), so each segment is "
                "decided on its own."
            )
            for decision, word in (("roll out", "Roll out"), ("stop", "Stop")):
                sel = d[d["decision"] == decision]
                if len(sel):
                    text += (
                        f" {word}: "
                        + "; ".join(
                            f"{r['target']} ('{r['variant']}': {effects(r)})"
                            for _, r in sel.iterrows()
                        )
                        + "."
                    )
            rest = d[d["decision"] == "keep testing"]
            if len(rest):
                text += " Keep testing: " + ", ".join(rest["target"]) + "."
        parts.append(text)
    return "\n\n".join(parts)


def readable_decisions(
    decisions: pd.DataFrame, *, currency: str = "", level: float = 0.95
) -> pd.DataFrame:
    """:func:`recommend`'s table for people: target, variant, decision, the effects, the expected
    increments with their intervals (decimals as the intervals need; money in the currency)."""
    out = pd.DataFrame(
        {
            "campaign": decisions["campaign_id"].astype(str).to_numpy(),
            "target": decisions["target"].astype(str).to_numpy(),
            "variant": decisions["variant"].astype(str).to_numpy(),
            "decision": decisions["decision"].astype(str).to_numpy(),
            "customers": [f"{x:,.0f}" for x in decisions["customers"]],
            "effect": decisions["effect"].astype(str).to_numpy(),
        }
    )
    if "value_effect" in decisions:
        out["next to it"] = decisions["value_effect"].fillna("").astype(str).to_numpy()
    kinds = {}
    if len(decisions):
        kinds[decisions["metric"].iat[0]] = decisions["metric_kind"].iat[0]
        if "value_metric" in decisions:
            kinds[decisions["value_metric"].iat[0]] = decisions["value_metric_kind"].iat[0]
    for m, kind in kinds.items():
        stem = f"incremental_{_increment_label(m)}"
        if stem not in decisions:
            continue
        d, lo, hi = (decisions[stem + k].to_numpy(dtype=float) for k in ("", "_ci_low", "_ci_high"))
        money = kind == "money"
        k = decimals_for((hi - lo) / 2, money=money)
        unit = currency if money else ""
        out[f"expected extra {m} [{level:.0%} CI]"] = [
            ""
            if not np.isfinite(x)
            else f"{number(x, k, sign=True)} [{number(a, k, sign=True)}, {number(b, k, sign=True)}]"
            + (f" {unit}" if unit else "")
            for x, a, b in zip(d, lo, hi, strict=True)
        ]
    out["reason"] = decisions["reason"].astype(str).to_numpy()
    return out


def readable(
    table: pd.DataFrame,
    *,
    currency: str = "",
    segment_column: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Result rows formatted for people (:func:`metric_formats`): rates in %, differences in
    percentage points with their interval, amounts with the decimals the data needs."""
    fmts = metric_formats(table, currency=currency)
    metric = table["metric"].astype(str).to_numpy()
    out = pd.DataFrame(
        {
            "campaign": table["campaign_id"].astype(str).to_numpy(),
            "segment": [segment_name(str(x), segment_column) for x in table["segment"]],
            "variant": table["variant"].astype(str).to_numpy(),
            "metric": metric,
            "customers (control / variant)": [
                f"{int(a):,} / {int(b):,}"
                for a, b in zip(table["n_control"], table["n_variant"], strict=True)
            ],
            "control": [
                fmts[m].value(x) for m, x in zip(metric, table["control_mean"], strict=True)
            ],
            "variant value": [
                fmts[m].value(x) for m, x in zip(metric, table["variant_mean"], strict=True)
            ],
            f"difference [{level:.0%} CI]": [
                fmts[m].diff(d, lo, hi)
                for m, d, lo, hi in zip(
                    metric,
                    table["diff"],
                    table["diff_ci_low"],
                    table["diff_ci_high"],
                    strict=True,
                )
            ],
            "lift": [("" if not np.isfinite(x) else f"{x:+.1%}") for x in table["lift"]],
            "adjusted p": [_p_text(p) for p in table["p_adjusted"]],
            "chance to beat control": [
                ("" if not np.isfinite(p) else f"{p:.0%}") for p in table["chance_to_beat_control"]
            ],
        }
    )
    return out.reset_index(drop=True)


def segment_sizes(
    customers: pd.DataFrame, column: str, *, missing_label: str = "(unknown)"
) -> pd.Series:
    """Customers per segment of the customer table, labelled as :func:`with_segments` labels them."""
    return customers[column].astype("string").fillna(missing_label).value_counts()


# --------------------------------------------------------------------------------------
# Segments from wherever they are, and checks of the notebook's settings
# --------------------------------------------------------------------------------------

UNKNOWN = "(unknown)"


def segment_name(label: str, column: str | None) -> str:
    """A segment label in words: the missing-value label becomes 'customers with no <column>',
    a bare number or true/false is named with its column ('newbie = 1')."""
    if label in (UNKNOWN, MISSING_SEGMENT):
        return f"customers with no {column}" if column else "customers with no value"
    if column and re.fullmatch(r"-?\d+(\.\d+)?|true|false", str(label), flags=re.I):
        return f"{column} = {label}"  # a bare '0' or '1' says nothing without its column
    return str(label)


@dataclass
class Segments:
    """Exposures with segment columns attached, and where each column came from.

    ``key``: column -> the column of ``exposures`` holding its segment labels (a new column for
    the exposures' own columns, so an outcome or pre-period column is never overwritten);
    ``sources``: column -> 'exposures' or 'customers'; ``missing``: asked-for columns found in
    neither table; ``grouped``: column -> how its many values were grouped (a sentence)."""

    exposures: pd.DataFrame | ibis.Table
    columns: list[str]
    key: dict[str, str]
    sources: dict[str, str]
    missing: list[str]
    grouped: dict[str, str]

    def note(self) -> str:
        """One plain sentence about segment columns that could not be used or were grouped."""
        parts = []
        if self.missing:
            names = ", ".join(self.missing)
            parts.append(
                f"Segment column(s) {names} are neither in the customer table nor in the campaign "
                "exposures, so they are left out."
            )
        if not self.columns:
            parts.append("Results are for whole campaigns only (no segment column to split by).")
        parts += [f"{col}: {text}." for col, text in self.grouped.items()]
        return " ".join(parts)


def attach_segments(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None,
    columns: Sequence[str],
    *,
    max_segments: int = 8,
    missing_label: str = UNKNOWN,
) -> Segments:
    """Attach each segment column to the exposures, from the exposures' own columns first (values at
    the time of the campaign, e.g. an export's pre-period fields) and else from the customer table
    (indexed by customer_id). Missing values become ``missing_label``. A column with more than
    ``max_segments`` values is grouped so tables and charts stay readable: numbers into quartile
    ranges, text into its ``max_segments - 1`` largest values plus 'other'."""
    exp_cols = set(map(str, exposures.columns))
    cust_cols = set(map(str, customers.columns)) if customers is not None else set()
    keys = {"customer_id", "campaign_id", "variant"}
    sources: dict[str, str] = {}
    missing: list[str] = []
    for col in dict.fromkeys(columns):
        if col in keys:
            missing.append(col)
        elif col in exp_cols:
            sources[col] = "exposures"
        elif col in cust_cols:
            sources[col] = "customers"
        else:
            missing.append(col)
    from_customers = [c for c, s in sources.items() if s == "customers"]
    t = exposures
    grouped: dict[str, str] = {}
    if from_customers:
        labels = customers[from_customers]
        for col in from_customers:  # numbers with many values: quartiles of the customer table
            if pd.api.types.is_numeric_dtype(labels[col]) and not pd.api.types.is_bool_dtype(
                labels[col]
            ):
                labels, text = _group_values(
                    labels, col, max_segments, missing_label, relabel=True, name=col
                )
                if text:
                    grouped[col] = text.replace(
                        "different values", "different values among customers"
                    )
        t = with_segments(t, labels, from_customers, missing_label=missing_label)
    key: dict[str, str] = {}
    for col, src in sources.items():
        key[col] = col if src == "customers" else f"_segment_{col}"
        if src == "exposures":
            t = (
                t.mutate(**{key[col]: t[col]})
                if isinstance(t, ibis.Table)
                else t.assign(**{key[col]: t[col]})
            )
        t, text = _group_values(
            t, key[col], max_segments, missing_label, relabel=src == "exposures", name=col
        )
        if text:
            grouped[col] = text
    return Segments(t, list(sources), key, sources, missing, grouped)


def _group_values(t, col: str, top: int, missing_label: str, *, relabel: bool, name: str):
    """Cast a segment column to text labels; group many values (see :func:`attach_segments`)."""
    is_ibis = isinstance(t, ibis.Table)
    if is_ibis:
        dt = t.schema()[col]
        numeric = dt.is_numeric() and not dt.is_boolean()
        counts = t.group_by(col).aggregate(_n=t.count()).to_pandas()
        values, n = counts[col], counts["_n"].to_numpy()
    else:
        numeric = pd.api.types.is_numeric_dtype(t[col]) and not pd.api.types.is_bool_dtype(t[col])
        vc = t[col].value_counts(dropna=False)
        values, n = vc.index.to_series(), vc.to_numpy()
    known = values.notna().to_numpy()
    if numeric and known.sum() > top:
        v = np.repeat(values[known].to_numpy(dtype=float), n[known])
        edges = np.unique(np.quantile(v, [0, 0.25, 0.5, 0.75, 1.0]))
        labels = [
            f"Q{i + 1}: {name} {lo:,.4g} to under {hi:,.4g}"
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
        ]
        if labels:
            labels[-1] = f"Q{len(labels)}: {name} {edges[-2]:,.4g} to {edges[-1]:,.4g}"
        if len(edges) < 2:
            return _as_labels(t, col, missing_label), ""
        text = f"{int(known.sum())} different values, grouped into {len(labels)} quartile ranges"
        if is_ibis:
            x = t[col].cast("float64")
            branches = [(x < hi, lab) for hi, lab in zip(edges[1:-1], labels[:-1], strict=True)]
            expr = ibis.cases(*branches, else_=labels[-1]) if branches else ibis.literal(labels[-1])
            expr = x.isnull().ifelse(missing_label, expr)
            return t.mutate(**{col: expr}), text
        x = t[col].to_numpy(dtype="float64", na_value=np.nan)
        idx = np.clip(np.searchsorted(edges[1:-1], x, side="right"), 0, len(labels) - 1)
        lab = np.asarray(labels, dtype=object)[idx]
        lab[np.isnan(x)] = missing_label
        return t.assign(**{col: pd.array(lab, dtype="str")}), text
    t = _as_labels(t, col, missing_label) if relabel or is_ibis else t
    labels_known = values[known].astype(str).to_numpy()
    labels_known = labels_known[labels_known != missing_label]
    if len(labels_known) <= top:
        return t, ""
    order = np.argsort(
        -n[known][values[known].astype(str).to_numpy() != missing_label], kind="stable"
    )
    keep = list(labels_known[order][: top - 1])
    other = f"other {name} ({len(labels_known) - len(keep)} values)"
    text = (
        f"{len(labels_known)} different values; the {len(keep)} largest are shown and the other "
        f"{len(labels_known) - len(keep)} are grouped as '{other}'"
    )
    if is_ibis:
        c = t[col]
        return t.mutate(**{col: (c.isin(keep) | (c == missing_label)).ifelse(c, other)}), text
    s = t[col].astype("str")
    return t.assign(**{col: s.where(s.isin(keep) | (s == missing_label), other)}), text


def _as_labels(t, col: str, missing_label: str):
    if isinstance(t, ibis.Table):
        return t.mutate(**{col: t[col].cast("string").fill_null(missing_label)})
    return t.assign(**{col: t[col].astype("string").fillna(missing_label).astype("str")})


def default_metrics(exposures: pd.DataFrame | ibis.Table) -> tuple[str, ...]:
    """The contract's outcomes the exposures have (conversion from 'converted', 'revenue')."""
    found = tuple(m for m, col in METRIC_COLUMNS.items() if col in exposures.columns)
    if not found:
        raise ABTestError(_no_metrics_message(exposures))
    return found


def _no_metrics_message(exposures) -> str:
    cand = _outcome_candidates(exposures)
    return (
        f"{PARAMS}.metrics is not set and {TABLE} has neither 'converted' nor 'revenue'. Fix: set "
        f"{PARAMS}.metrics to its outcome columns with their types, e.g. metrics: "
        "{<0/1 column>: binary, <amount column>: money}"
        + (f"; numeric columns of {TABLE}: {', '.join(cand)}" if cand else "")
    )


def setup_problems(
    exposures: pd.DataFrame | ibis.Table,
    *,
    control: str,
    metrics: MetricsArg = None,
    segment_columns: Sequence[str] | None = None,
    customer_columns: Sequence[str] | None = None,
    pre_metric: str | None = None,
    decide_on: str | None = None,
    expected_shares: Mapping[str, Any] | None = None,
    correction: str | None = None,
    alpha: float | None = None,
    winsorize: float | None = None,
) -> list[str]:
    """What notebook 04 would trip on with these settings, as plain messages in the config's words
    (for ``segwork validate``): a control that is not a variant of a campaign, a campaign with
    nothing to compare, a metric column that is missing, not numeric, not 0/1 when declared binary
    or has missing values, a pre-period column that is missing, ``decide_on`` not among the metrics,
    a segment column that is neither in the exposures nor in ``customer_columns`` (the columns
    the customer table will have; the segment check is skipped when that is None), and
    ``expected_shares``, ``correction``, ``alpha`` and ``winsorize`` when they are given."""
    problems: list[str] = []
    control = str(control)
    cols = [str(c) for c in exposures.columns]
    lacking = [c for c in ("campaign_id", "variant") if c not in cols]
    if lacking:
        return [
            f"sources.{TABLE}: no column {' or '.join(map(repr, lacking))}; columns present: "
            f"{', '.join(cols)}. Fix: map them under sources.{TABLE}.columns"
        ]
    if isinstance(exposures, ibis.Table):
        pairs = exposures.select("campaign_id", "variant").distinct().to_pandas()
    else:
        pairs = exposures[["campaign_id", "variant"]].drop_duplicates()
    pairs = pairs.dropna().astype(str).sort_values(["campaign_id", "variant"])
    for camp, rows in pairs.groupby("campaign_id", sort=True):
        names = rows["variant"].tolist()
        if control not in names:
            problems.append(control_message(str(camp), control, names))
        elif len(names) < 2:
            problems.append(
                f"campaign '{camp}' of {TABLE} has only the control variant '{control}': there is "
                "nothing to compare it with. Fix: check the variant column mapping in "
                f"sources.{TABLE}.columns, or leave the campaign out of the export"
            )
    # Metrics, one at a time so that every problem is listed.
    spec: list[Metric] = []
    if metrics is None:
        try:
            items: list[Any] = list(default_metrics(exposures))
        except ABTestError as err:
            problems.append(str(err))
            items = []
    elif isinstance(metrics, str):
        items = [metrics]
    elif isinstance(metrics, Mapping):
        items = [{k: v} for k, v in metrics.items()]
    else:
        items = list(metrics)
    for item in items:
        try:
            spec += resolve_metrics([item] if not isinstance(item, Mapping) else item, exposures)
        except (ABTestError, ValueError) as err:
            problems.append(_config_words(str(err)))
    problems += _metric_value_problems(exposures, spec)
    if decide_on is not None and spec and decide_on not in [m.name for m in spec]:
        problems.append(
            f"{PARAMS}.decide_on: '{decide_on}' is not one of the metrics "
            f"({', '.join(m.name for m in spec)}). Fix: name one of them, or leave it unset"
        )
    if pre_metric is not None and pre_metric not in cols:
        problems.append(
            f"{PARAMS}.pre_metric: '{pre_metric}' is not a column of {TABLE}; its columns are "
            f"{', '.join(cols)}. Fix: name the pre-period column, or leave it unset"
        )
    variants = {str(k): g["variant"].tolist() for k, g in pairs.groupby("campaign_id")}
    problems += _shares_problems(expected_shares, variants)
    if correction is not None and correction not in CORRECTION_NAME:
        problems.append(
            f"{PARAMS}.correction: '{correction}' is not a correction. Fix: use holm, fdr_bh or none"
        )
    if alpha is not None and not 0 < float(alpha) < 1:
        problems.append(f"{PARAMS}.alpha: {alpha} must be between 0 and 1 (e.g. 0.05)")
    if winsorize is not None and not 0.5 < float(winsorize) < 1:
        problems.append(
            f"{PARAMS}.winsorize: {winsorize} is not a quantile to cap amounts at. Fix: give one "
            "between 0.5 and 1 (e.g. 0.99), or leave it unset"
        )
    if segment_columns and customer_columns is not None:
        have = set(cols) | {str(c) for c in customer_columns}
        for col in segment_columns:
            if col not in have or col in ("customer_id", "campaign_id", "variant"):
                existing = sorted(have - {"customer_id", "campaign_id", "variant", "assigned_at"})
                problems.append(
                    f"{PARAMS}.segment_columns: '{col}' is neither a column of the customer table "
                    f"nor of {TABLE}; columns that exist: {', '.join(existing) or '(none)'}. Fix: "
                    "remove it or name one of those"
                )
    return problems


def _shares_problems(expected_shares, variants: Mapping[str, list[str]]) -> list[str]:
    """expected_shares naming campaigns or variants the exposures do not have, or missing some."""
    if not expected_shares:
        return []
    out = []
    per_campaign = isinstance(expected_shares, Mapping) and all(
        isinstance(v, Mapping) for v in expected_shares.values()
    )
    plans = (
        {str(k): v for k, v in expected_shares.items()}
        if per_campaign
        else dict.fromkeys(variants, expected_shares)
    )
    for camp, shares in plans.items():
        if camp not in variants:
            out.append(
                f"{PARAMS}.expected_shares: campaign '{camp}' is not in {TABLE}; its campaigns are "
                f"{', '.join(map(repr, variants))}"
            )
            continue
        if not isinstance(shares, Mapping):
            continue
        names = variants[camp]
        unknown = [str(v) for v in shares if str(v) not in names]
        missing = [v for v in names if v not in {str(k) for k in shares}]
        bad = [str(k) for k, v in shares.items() if not _positive(v)]
        if unknown or missing or bad:
            parts = []
            if unknown:
                parts.append(f"has no variant(s) {', '.join(map(repr, unknown))}")
            if missing:
                parts.append(f"needs a share for {', '.join(map(repr, missing))}")
            if bad:
                parts.append(f"needs positive numbers for {', '.join(map(repr, bad))}")
            out.append(
                f"{PARAMS}.expected_shares: campaign '{camp}' "
                + " and ".join(parts)
                + f"; its variants are {', '.join(map(repr, names))}"
            )
    return out


def _positive(v) -> bool:
    try:
        return float(v) > 0
    except (TypeError, ValueError):
        return False


def _config_words(message: str) -> str:
    """A SchemaError about a contract metric column, pointed at the notebook setting too."""
    if message.startswith(PARAMS):
        return message
    first = message.split("\nFix:")[0]
    return (
        f"{PARAMS}.metrics: {first}. Fix: map the column under sources.{TABLE}.columns, or list "
        f"the outcome columns the export has in {PARAMS}.metrics"
    )


def _metric_value_problems(exposures, spec: Sequence[Metric]) -> list[str]:
    """Missing values in metric columns and binary metrics with values other than 0/1."""
    if not spec:
        return []
    aggs = {}
    t = exposures if isinstance(exposures, ibis.Table) else ibis.memtable(exposures)
    for i, m in enumerate(spec):
        x = t[m.column].cast("float64")
        aggs[f"null{i}"] = x.isnull().sum()
        aggs[f"bad{i}"] = ((x != 0) & (x != 1)).sum() if m.binary else ibis.literal(0)
    res = t.aggregate(**aggs).to_pandas().iloc[0]
    out = []
    for i, m in enumerate(spec):
        if int(res[f"null{i}"] or 0):
            out.append(
                f"table '{TABLE}', column '{m.column}': {int(res[f'null{i}'])} missing values of "
                f"outcome '{m.name}'. Fix: fill them in the export (0 = none) or drop those rows"
            )
        if int(res[f"bad{i}"] or 0):
            out.append(
                f"{PARAMS}.metrics.{m.name}: declared binary, but column '{m.column}' of {TABLE} has "
                f"{int(res[f'bad{i}'])} values other than 0/1. Fix: declare it numeric, or recode it to 0/1"
            )
    return out


def metrics_text(result: ABResult, *, currency: str = "") -> str:
    """What each metric of an evaluation is, in words, from its column and kind."""
    cols, kinds = result.settings["metric_columns"], result.settings["metric_kinds"]
    parts = []
    for m in result.settings["metrics"]:
        if kinds[m] == "binary":
            parts.append(f"{m}: the share of exposed customers with {cols[m]} = 1")
        else:
            unit = f" ({currency})" if kinds[m] == "money" and currency else ""
            parts.append(f"{m}: the mean of {cols[m]} per exposed customer{unit}")
    return "What is measured: " + "; ".join(parts) + "."


def cuped_text(result: ABResult) -> str:
    """One sentence on the pre-period adjustment with its measured effect ('' when there is none)."""
    pre = result.settings["pre_metric"]
    if not pre:
        return ""
    tab = result.table
    parts, meds = [], []
    for m, rows in tab.groupby("metric", sort=False):
        red = rows["ci_width_reduction"].to_numpy(dtype=float)
        red = red[np.isfinite(red)]
        if red.size:
            meds.append(float(np.median(red)))
            parts.append(f"{m} {meds[-1]:.0%}")
    if not parts:
        return ""
    effect = (
        "barely changes the intervals, because it hardly predicts the outcomes"
        if max(meds) < 0.01
        else "makes the intervals narrower"
    )
    return (
        f"Adjusting for the pre-period column '{pre}' (CUPED, regression adjustment) {effect} "
        f"(median narrowing over rows: {', '.join(parts)}). The decisions and the tables on "
        "this page use the unadjusted intervals."
    )


def heterogeneity_text(
    result: ABResult, metric: str, *, segment_column: str, alpha: float | None = None
) -> str:
    """One sentence per campaign on whether ``metric``'s effect differs between the segments of
    ``result`` (the interaction test, Holm-adjusted over the campaign's variants as in
    :func:`recommend`), so a table split by segments is read with its test next to it."""
    alpha = result.settings["alpha"] if alpha is None else alpha
    het = result.heterogeneity(metric)
    parts = []
    for camp, h in het.groupby("campaign_id", sort=False):
        adj = _adjust(h["p_value"].to_numpy(dtype=float), "holm")
        if not np.isfinite(adj).any():
            parts.append(
                f"{camp}: too few usable {segment_column} segments to test whether the effect on "
                f"{metric} differs between them."
            )
            continue
        held = "Holm-adjusted " if len(h) > 1 else ""
        differs = [
            f"'{v}' ({held}interaction p {_p_phrase(p)})"
            for v, p in zip(h["variant"], adj, strict=True)
            if np.isfinite(p) and p < alpha
        ]
        if differs:
            parts.append(
                f"{camp}: the effect on {metric} differs between {segment_column} segments for "
                f"{', '.join(differs)}."
            )
        else:
            parts.append(
                f"{camp}: the effect on {metric} does not differ detectably between "
                f"{segment_column} segments ({'smallest ' if len(h) > 1 else ''}{held}interaction p "
                f"{_p_phrase(float(np.nanmin(adj)))}), so the differences between the rows of "
                "this table may be chance."
            )
    return " ".join(parts)


def readable_heterogeneity(
    het: pd.DataFrame, *, segment_column: str, alpha: float = 0.05
) -> pd.DataFrame:
    """The interaction tests for people: the p-value, the p-value Holm-adjusted over the variants
    of the campaign (what :func:`recommend` uses), and the segments left out, in words."""
    adj = np.full(len(het), np.nan)
    pos = np.arange(len(het))
    for _, idx in het.groupby(["campaign_id", "metric"], sort=False).indices.items():
        adj[pos[idx]] = _adjust(het["p_value"].to_numpy(dtype=float)[idx], "holm")
    return pd.DataFrame(
        {
            "campaign": het["campaign_id"].astype(str).to_numpy(),
            "variant": het["variant"].astype(str).to_numpy(),
            "metric": het["metric"].astype(str).to_numpy(),
            f"{segment_column} segments tested": het["n_segments"].astype(int).to_numpy(),
            "p-value (chi-square)": [_p_text(p) for p in het["p_value"]],
            "p-value, Holm over variants": [_p_text(p) for p in adj],
            "differs?": [
                "" if not np.isfinite(p) else ("yes" if p < alpha else "not detectably")
                for p in adj
            ],
            "left out": [
                "; ".join(segment_name(x, segment_column) for x in str(e).split("; ") if x)
                for e in het["excluded"]
            ],
            "note": het["note"].astype(str).to_numpy(),
        }
    )


def readable_plan(
    plan_table: pd.DataFrame, result: ABResult, *, currency: str = "", segment_column=None
) -> pd.DataFrame:
    """:func:`plan` for people: the minimum detectable effect in the metric's own units and the
    customers per group a follow-up needs ('not detectable at this size' instead of infinity)."""
    fmts = metric_formats(result.table, currency=currency)

    def mde_text(m: str, x: float) -> str:
        if not np.isfinite(x):
            return "not detectable at this size"
        f = fmts[m]
        return (
            f"{100 * x:+.{f.decimals}f} pp"
            if f.kind == "binary"
            else number(x, f.decimals, unit=f.unit, sign=True)
        )

    out = pd.DataFrame(
        {
            "campaign": plan_table["campaign_id"].astype(str),
            "segment": [segment_name(str(x), segment_column) for x in plan_table["segment"]],
            "variant": plan_table["variant"].astype(str),
            "metric": plan_table["metric"].astype(str),
            "control": [
                fmts[m].value(x)
                for m, x in zip(plan_table["metric"], plan_table["baseline"], strict=True)
            ],
            "smallest detectable difference": [
                mde_text(m, x)
                for m, x in zip(plan_table["metric"], plan_table["mde_abs"], strict=True)
            ],
            "as a lift": ["" if not np.isfinite(x) else f"{x:+.1%}" for x in plan_table["mde_rel"]],
        }
    )
    if "n_per_arm_needed" in plan_table:
        lift = plan_table["target_lift"].iat[0] if len(plan_table) else 0.1
        out[f"customers per group for a {lift:+.0%} lift"] = [
            "cannot be planned (baseline 0 or no variation)"
            if not np.isfinite(x)
            else f"{int(x):,}"
            for x in plan_table["n_per_arm_needed"]
        ]
    return out.reset_index(drop=True)

"""The evaluation of campaigns x segments x variants x metrics (:func:`evaluate`) and its result
(:class:`ABResult`, with a statsmodels-like ``summary()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from segwork.abtest.cells import (
    _arm,
    _Grid,
    combine_cells,
    segmentation_stats,
    sufficient_stats,
)
from segwork.abtest.conventions import (
    BAYES_METHOD,
    CORRECTION_NAME,
    MIN_ARM,
    MIN_EXPECTED_CONVERSIONS,
    PARAMS,
    SRM_THRESHOLD,
    TABLE,
    ABTestError,
    Correction,
    _method,
)
from segwork.abtest.cuped import _cuped_block
from segwork.abtest.decisions import decide
from segwork.abtest.estimation import (
    _adjust,
    _beta_bayes,
    _beta_bayes_mc,
    _lift,
    _normal_bayes,
    _normal_p,
    _tmean_ci,
    _welch,
    _wilson,
    _z,
)
from segwork.abtest.heterogeneity import _heterogeneity_cells
from segwork.abtest.metrics import Metric, MetricsArg, resolve_metrics
from segwork.abtest.sample_ratio import _shares_for, _srm_p
from segwork.numbers import p_phrase
from segwork.schema import require_columns
from segwork.summary import Summary


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


# Result object
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

    def summary(self, max_rows: int = 40) -> Summary:
        """The conventions, the multiple-comparison family, the guards and the result rows, as a
        :class:`~segwork.summary.Summary` (``print`` it for text; a notebook shows its HTML)."""
        st = self.settings
        tab = self.table
        seg = (
            f"segment column '{st['segment']}'"
            if st["segment"]
            else "whole campaigns (segment = 'all')"
        )
        facts = {
            "campaigns": f"{tab['campaign_id'].nunique()}",
            "split by": seg,
            "metrics": ", ".join(st["metrics"]),
            "control": f"'{st['control']}'",
            "alpha": f"{st['alpha']}",
        }
        notes = [
            f"{tab['campaign_id'].nunique()} campaign(s), {seg}, metrics: {', '.join(st['metrics'])}; "
            f"control variant '{st['control']}'.",
            f"alpha = {st['alpha']}; intervals are {1 - st['alpha']:.0%} two-sided and not adjusted "
            "for multiple comparisons (p-values are).",
            "Conventions:",
        ]
        for m in st["metrics"]:
            notes.append(f"  {m} ({st['metric_kinds'][m]}): {_method(st['metric_kinds'][m])}")
        notes.append(
            "  lift = variant_mean / control_mean - 1; delta-method normal CI on the ratio of two "
            "independent means (NaN when the control mean is 0)"
        )
        notes.append(
            f"  Bayesian: conversion - {st['bayes_method']}; revenue - {BAYES_METHOD['revenue']}; "
            "expected_loss = E[max(control - variant, 0)]"
        )
        if st["pre_metric"]:
            notes.append(
                f"  CUPED on '{st['pre_metric']}': theta = pooled within-arm cov/var (regression "
                "adjustment); ci_width_reduction vs the unadjusted Wald/Welch interval"
            )
        numeric = [m for m, k in st["metric_kinds"].items() if k != "binary"]
        if st["winsorize"] is not None:
            for m in numeric:
                caps = ", ".join(f"{k}: {v:,.2f}" for k, v in st["caps_by_metric"][m].items())
                notes.append(
                    f"  {m} winsorized at the {st['winsorize']:g} quantile of each campaign "
                    f"(caps: {caps})"
                )
        elif numeric:
            notes.append(f"  {', '.join(numeric)} not winsorized")
        notes.append(
            f"Multiple comparisons: {CORRECTION_NAME[st['correction']]}; family = all segments x "
            "variants x metrics of one campaign:"
        )
        for camp, fam in st["families"].items():
            notes.append(
                f"  {camp}: {fam['tests']} tests ({fam['segments']} segment(s) x {fam['variants']} "
                f"variant(s) x {fam['metrics']} metric(s))"
            )
        flagged = self.srm[self.srm["flag"]]
        if flagged.empty:
            notes.append(f"Sample ratio (chi-square, flag at p < {SRM_THRESHOLD}): no mismatch.")
        else:
            notes.append(f"Sample ratio MISMATCH (chi-square p < {SRM_THRESHOLD}) in:")
            for r in flagged.itertuples():
                notes.append(
                    f"  {r.campaign_id} / {r.segment}: {r.counts} (p {p_phrase(r.p_value)})"
                )
        n_warn = int((tab["warnings"] != "").sum())
        if n_warn:
            notes.append(f"{n_warn} row(s) carry warnings (column 'warnings').")
        if len(tab) > max_rows:
            notes.append(f"... {len(tab) - max_rows} more rows in .table")
        shown = tab.head(max_rows)

        def values(r) -> str:
            if not (r.n_variant and r.n_control):
                return "n/a"
            if r.metric_kind == "binary":
                return f"{r.control_mean:.2%} -> {r.variant_mean:.2%}"
            return f"{r.control_mean:,.2f} -> {r.variant_mean:,.2f}"

        rows = pd.DataFrame(
            {
                "": ["*" if r.significant else "" for r in shown.itertuples()],
                "campaign": shown["campaign_id"].astype(str).to_numpy(),
                "segment": shown["segment"].astype(str).to_numpy(),
                "variant": shown["variant"].astype(str).to_numpy(),
                "metric": shown["metric"].astype(str).to_numpy(),
                "control -> variant": [values(r) for r in shown.itertuples()],
                "lift [CI]": [
                    f"{r.lift:+.1%} [{r.lift_ci_low:+.1%}, {r.lift_ci_high:+.1%}]"
                    if np.isfinite(r.lift)
                    else "n/a"
                    for r in shown.itertuples()
                ],
                "p_adj": [_fmt(p, 2) for p in shown["p_adjusted"]],
                "P(beat)": [_fmt(p, 3) for p in shown["chance_to_beat_control"]],
            }
        )
        return Summary(
            "A/B evaluation",
            facts=facts,
            tables=[("Results (* significant after correction)", rows)],
            notes=notes,
        )

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return str(self.summary(max_rows=10))


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
    spec = _check_settings(exposures, metrics, correction, alpha, n_bayes_draws)
    cells, caps_by_metric = sufficient_stats(
        exposures, segment=segment, metrics=spec, pre_metric=pre_metric, winsorize=winsorize
    )
    return _evaluate_cells(
        cells,
        caps_by_metric,
        spec,
        segment=segment,
        control=control,
        correction=correction,
        alpha=alpha,
        pre_metric=pre_metric,
        winsorize=winsorize,
        n_bayes_draws=n_bayes_draws,
        bayes_seed=bayes_seed,
        expected_shares=expected_shares,
    )


def evaluate_segmentations(
    exposures: pd.DataFrame | ibis.Table,
    segments: Sequence[str],
    *,
    control: str = "control",
    metrics: MetricsArg = ("conversion", "revenue"),
    correction: Correction = "holm",
    alpha: float = 0.05,
    pre_metric: str | None = None,
    winsorize: float | None = None,
    n_bayes_draws: int | None = None,
    bayes_seed: int = 20240901,
    expected_shares: Mapping[str, Any] | Sequence[float] | None = None,
) -> tuple[ABResult, dict[str, ABResult]]:
    """:func:`evaluate` of the whole campaigns and of each segment column in ``segments``, from
    one aggregation of the exposures.

    The cells of every combination of the segment columns are aggregated once (one query in the
    Ibis backend; :func:`~segwork.abtest.cells.segmentation_stats`) and summed up to the cells of
    each column and of the whole campaigns (:func:`~segwork.abtest.cells.combine_cells`), so the
    results equal separate :func:`evaluate` calls up to rounding. Returns the whole-campaign
    result and one result per column, keyed by column.
    """
    spec = _check_settings(exposures, metrics, correction, alpha, n_bayes_draws)
    fine, labels, caps = segmentation_stats(
        exposures, segments, metrics=spec, pre_metric=pre_metric, winsorize=winsorize
    )
    settings = dict(
        control=control,
        correction=correction,
        alpha=alpha,
        pre_metric=pre_metric,
        winsorize=winsorize,
        n_bayes_draws=n_bayes_draws,
        bayes_seed=bayes_seed,
        expected_shares=expected_shares,
    )
    overall = _evaluate_cells(combine_cells(fine), caps, spec, segment=None, **settings)
    by = {
        col: _evaluate_cells(combine_cells(fine, labels[col]), caps, spec, segment=col, **settings)
        for col in dict.fromkeys(segments)
    }
    return overall, by


def _check_settings(exposures, metrics, correction, alpha, n_bayes_draws) -> list[Metric]:
    """The checks every evaluation starts with; the resolved metrics."""
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
    return resolve_metrics(metrics, exposures)


def _evaluate_cells(
    cells: pd.DataFrame,
    caps_by_metric: dict[str, dict[str, float]],
    spec: Sequence[Metric],
    *,
    segment: str | None,
    control: str,
    correction: Correction,
    alpha: float,
    pre_metric: str | None,
    winsorize: float | None,
    n_bayes_draws: int | None,
    bayes_seed: int,
    expected_shares: Mapping[str, Any] | Sequence[float] | None,
) -> ABResult:
    """:func:`evaluate` from the cell statistics of one segmentation."""
    control = str(control)  # variants are compared as text (a YAML 0 is the variant '0')
    metrics = tuple(m.name for m in spec)
    kinds = {m.name: m.kind for m in spec}
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

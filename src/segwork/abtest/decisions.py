"""Decisions that follow the evidence: roll out / stop / keep testing per result row (:func:`decide`)
and one decision per campaign or per segment with its reason and expected increments
(:func:`recommend`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from segwork.abtest.conventions import CORRECTION_NAME, MISSING_SEGMENT, PARAMS, ABTestError
from segwork.abtest.estimation import _adjust
from segwork.abtest.formats import MetricFormat, metric_formats
from segwork.abtest.segments import UNKNOWN, segment_name
from segwork.numbers import p_phrase

if TYPE_CHECKING:
    from segwork.abtest.evaluation import ABResult


# Decisions and plots
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
        padj = f"adjusted p {p_phrase(p[i])} ({padj_name})"
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
                f"that minimum: adjusted p {p_phrase(p_thr[i])} ({padj_name})"
            )
        elif d[i] < thr and p_thr[i] < alpha:
            decisions.append("stop")
            reasons.append(
                f"significantly negative: {what} {ci}, {padj}"
                if thr == 0
                else f"significantly below {minimum}: {what} {ci}; test of the {what} against "
                f"that minimum: adjusted p {p_phrase(p_thr[i])} ({padj_name})"
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
                        f"p {p_phrase(p_int)} for '{h['variant'].iat[i]}', the smallest of the "
                        f"{len(h)} variants"
                    )
                else:
                    het_text = (
                        f"the test of a treatment x {col} interaction gives p {p_phrase(p_int)}"
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

"""Page 04 (campaign results by segment): the headline, the readable tables and every sentence.

The tables and sentences are plain functions of a result (tests call them); the section
functions (:func:`decision`, :func:`whole_campaigns`, :func:`effect_by_segment`,
:func:`decision_table`, :func:`other_segmentations`, :func:`planning`) show one section of the
notebook each, from :class:`segwork.steps.campaign_ab.CampaignAbResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from segwork import display as show
from segwork.abtest import (
    CORRECTION_NAME,
    DECISION_WORDS,
    VARIANT_RULE,
    ABResult,
    metric_formats,
    segment_name,
)
from segwork.abtest.decisions import _increment_label
from segwork.abtest.estimation import _adjust
from segwork.abtest.monitoring import STOPS, reason_text
from segwork.numbers import decimals_for, number, p_phrase, p_text
from segwork.plots.abtest import forest_plot

if TYPE_CHECKING:
    from segwork.steps.campaign_ab import CampaignAbResult


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
            if r["decision"] in RUNNING_VERBS:
                parts.append(_running_headline(camp, r, control))
                continue
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
                seg_col = show.words(r.get("interaction_column") or "")
                between = f"between {seg_col} segments" if seg_col else "between segments"
                text += (
                    f" The effect does not differ detectably {between} for any variant "
                    f"(smallest Holm-adjusted interaction p {p_phrase(r['interaction_p'])}), so "
                    "the decision is for the whole campaign."
                )
        else:
            text = (
                f"{camp}: the effect differs between {show.words(d['segment_column'].iat[0])} "
                "segments "
                f"(Holm-adjusted interaction p {p_phrase(d['interaction_p'].iat[0])}), so each segment is "
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


#: The decisions of a running campaign (:data:`segwork.abtest.DECISION_WORDS`) as a headline
#: says them ({v}: the variant named, {c}: the control).
RUNNING_VERBS = {
    "keep running": "Keep running: the sequential test cannot tell yet ('{v}' leads)",
    "stop — winner": "Stop the test, winner: '{v}' beats '{c}'",
    "stop — harm": "Stop the test, harm: '{v}' does worse than '{c}'",
    "stop — futility": "Stop the test, futility: no variant can beat '{c}' by enough "
    "('{v}' came closest)",
}


def _running_headline(camp: str, r: pd.Series, control: str) -> str:
    """The headline of a campaign still running, from its sequential row of the decisions."""
    verb = RUNNING_VERBS[r["decision"]].format(v=r["variant"], c=control)
    text = f"{camp} (still running): {verb}. '{r['variant']}' against '{control}': {r['effect']}."
    carried = "sequential test: stopped in run"
    if carried in str(r["reason"]):
        why = str(r["reason"]).split("sequential test: ", 1)[1].rstrip(".")
        text += f" {why[:1].upper()}{why[1:]}."
    return text


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
            "adjusted p": [p_text(p) for p in table["p_adjusted"]],
            "chance to beat control": [
                ("" if not np.isfinite(p) else f"{p:.0%}") for p in table["chance_to_beat_control"]
            ],
        }
    )
    return out.reset_index(drop=True)


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
            f"'{v}' ({held}interaction p {p_phrase(p)})"
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
                f"{p_phrase(float(np.nanmin(adj)))}), so the differences between the rows of "
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
            "p-value (chi-square)": [p_text(p) for p in het["p_value"]],
            "p-value, Holm over variants": [p_text(p) for p in adj],
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


def forest_alt(
    table: pd.DataFrame, campaign: str, metrics: list[str], *, segment_column: str, level: float
) -> str:
    """The alt text of a campaign's forest plots: what each panel shows and how many of its rows
    are significantly above or below zero after correction (their colours)."""
    parts = []
    for m in metrics:
        t = table[(table["campaign_id"] == campaign) & (table["metric"] == m)]
        sig = t["significant"].to_numpy(dtype=bool)
        diff = t["diff"].to_numpy(dtype=float)
        parts.append(
            f"for each of the {len(t)} {segment_column} segment and variant rows, the difference "
            f"to control in {m} with its {level:.0%} interval; {int((sig & (diff > 0)).sum())} "
            f"significantly above zero and {int((sig & (diff < 0)).sum())} significantly below "
            "after correction"
        )
    where = ["Left: ", "Right: "] if len(parts) == 2 else [""] * len(parts)
    return f"Forest plot of {campaign}. " + " ".join(
        f"{w}{p}." for w, p in zip(where, parts, strict=True)
    )


# --------------------------------------------------------------------------------------
# Running campaigns (sequential decisions)
# --------------------------------------------------------------------------------------
PEEKING_TEXT = (
    "Why these intervals are wider than the ones further down: this report is run again on a "
    "schedule while the campaigns are still running. Checking an ordinary (fixed-horizon) "
    "interval at every run and stopping as soon as it excludes zero declares a winner far more "
    "often than the {a} error rate it promises when there is no effect at all, because every "
    "look is another chance for noise to cross the line. The always-valid interval (a "
    "confidence sequence) keeps its promise however often it is looked at, at the price of "
    "being wider. The fixed-horizon results of these campaigns in the tables below are shown "
    "for reference only: they do not decide them."
)


def _fmts(result: CampaignAbResult):
    return metric_formats(result.overall.table, currency=result.settings["currency"])


def _count(x: float) -> str:
    return f"{x:,.0f}" if np.isfinite(x) else ""


def readable_running(result: CampaignAbResult) -> pd.DataFrame:
    """One row per declared running campaign and variant: days running, customers so far, the
    effect with its always-valid interval, the decision and the expected decision date."""
    st = result.running[result.running["declared"]]
    fmts = _fmts(result)
    level = f"{1 - result.settings['alpha']:.0%}"
    out = pd.DataFrame(
        {
            "campaign": st["campaign_id"].to_numpy(),
            "variant": st["variant"].to_numpy(),
            "days running": [
                _count(x) if np.isfinite(x) else "unknown" for x in st["days_running"]
            ],
            "customers so far (control / variant)": [
                f"{_count(a)} / {_count(b)}"
                for a, b in zip(st["n_control"], st["n_variant"], strict=True)
            ],
            "control": [
                fmts[m].value(x) for m, x in zip(st["metric"], st["control_mean"], strict=True)
            ],
            "variant value": [
                fmts[m].value(x) for m, x in zip(st["metric"], st["variant_mean"], strict=True)
            ],
            f"difference [always-valid {level} interval]": [
                fmts[m].diff(d, lo, hi)
                for m, d, lo, hi in zip(
                    st["metric"], st["diff"], st["low"], st["high"], strict=True
                )
            ],
            "decision": [DECISION_WORDS[d] for d in st["decision"]],
            "since": [
                f"run {r} ({pd.Timestamp(t).date()})" if r else ""
                for r, t in zip(st["stop_run"], st["stop_date"], strict=True)
            ],
            "expected decision": [
                t if d == "keep running" else ""
                for d, t in zip(st["decision"], st["expected_text"], strict=True)
            ],
        }
    )
    return out.reset_index(drop=True)


def running_sentences(result: CampaignAbResult) -> list[str]:
    """One plain-words paragraph per declared running campaign."""
    fmts = _fmts(result)
    level = f"{1 - result.settings['alpha']:.0%}"
    control = result.overall.settings["control"]
    out = []
    for _, c in result.running_campaigns.iterrows():
        camp = str(c["campaign_id"])
        rows = result.running[result.running["campaign_id"] == camp]
        n = float(c["n_control"] + rows["n_variant"].sum())
        days = (
            f"has run {c['days_running']:,.0f} days"
            if np.isfinite(c["days_running"])
            else "has run for an unknown number of days (the exposures have no assignment "
            "dates and no start was declared)"
        )
        f = fmts[str(c["metric"])]
        word = DECISION_WORDS[str(c["campaign_decision"])]
        text = (
            f"{camp} {days} with {n:,.0f} customers so far. Decision: {word}. "
            f"'{c['variant']}' against '{control}' on {c['metric']}: "
            f"{f.value(c['control_mean'])} → {f.value(c['variant_mean'])}; "
            + reason_text(c, f, level=level)
            + "."
        )
        if c["campaign_decision"] == "keep running":
            exp = str(c["expected_text"])
            if exp.startswith("unknown: "):
                text += f" No expected decision date: {exp.removeprefix('unknown: ')}."
            elif exp.startswith("not within"):
                text += f" Expected decision: {exp}."
            else:
                text += f" Expected decision around {exp}."
            if (c["threshold"] == 0) and not c["plan"]:
                text += (
                    " Without a smallest useful effect (min_lift) or a planned end, this test "
                    "can stop for a winner or for harm, never for futility."
                )
        others = rows[(rows["variant"] != c["variant"]) & (rows["decision"] != "keep running")]
        for _, o in others.iterrows():
            text += (
                f" '{o['variant']}': {DECISION_WORDS[o['decision']]} (run {o['stop_run']}, "
                f"{pd.Timestamp(o['stop_date']).date()})."
            )
        if c["note"]:
            text += f" Note: {c['note']}"
        out.append(text)
    gone = result.running[~result.running["declared"]]
    for camp, g in gone.groupby("campaign_id", sort=False):
        stops = [
            f"'{r['variant']}' {DECISION_WORDS[r['decision']]} in run {r['stop_run']}"
            for _, r in g.iterrows()
            if r["decision"] in STOPS
        ]
        out.append(
            f"{camp} was tracked as running until run {g['run_id'].iat[0]} and is no longer "
            "declared running, so it is evaluated as a finished campaign"
            + (f" (its earlier stop is kept on record: {'; '.join(stops)})" if stops else "")
            + "."
        )
    return out


def running_analysts_table(result: CampaignAbResult) -> pd.DataFrame:
    """The evidence behind each running decision: tuning, error rate per comparison, traffic,
    the fixed-horizon interval for comparison and the figures at a stop."""
    st = result.running[result.running["declared"]]
    fmts = _fmts(result)
    level = f"{1 - result.settings['alpha']:.0%}"
    return pd.DataFrame(
        {
            "campaign": st["campaign_id"].to_numpy(),
            "variant": st["variant"].to_numpy(),
            "metric": st["metric"].to_numpy(),
            "alpha per comparison": [f"{a:.4g}" for a in st["alpha"]],
            "tuned to (customers, both groups)": [_count(x) for x in st["n_expected"]],
            "rho": [f"{x:.4g}" for x in st["rho"]],
            "smallest useful effect": [
                fmts[m].diff(t, np.nan, np.nan) if t else "none"
                for m, t in zip(st["metric"], st["threshold"], strict=True)
            ],
            "customers per day (control + variant)": [
                f"{x:,.1f}" if np.isfinite(x) else "unknown" for x in st["per_day"]
            ],
            f"fixed-horizon {level} interval (reference only)": [
                fmts[m].diff(d, lo, hi)
                for m, d, lo, hi in zip(
                    st["metric"], st["diff"], st["fixed_low"], st["fixed_high"], strict=True
                )
            ],
            "at the stop": [
                fmts[m].diff(d, lo, hi) + f" ({_count(n)} customers)" if r else ""
                for m, d, lo, hi, n, r in zip(
                    st["metric"],
                    st["stop_diff"],
                    st["stop_low"],
                    st["stop_high"],
                    st["stop_n"],
                    st["stop_run"],
                    strict=True,
                )
            ],
            "tracked since": [
                f"run {r} ({pd.Timestamp(t).date()})"
                for r, t in zip(st["first_run"], st["first_date"], strict=True)
            ],
            "plan": [p or "none declared" for p in st["plan"]],
            "note": st["note"].to_numpy(),
        }
    ).reset_index(drop=True)


RUNNING_METHOD = (
    "Method: the asymptotic confidence sequence of Waudby-Smith et al. (2023), the formula of "
    "GrowthBook's sequential option, for the difference in means of the decision metric, per "
    "variant against the control. Variants of one campaign share alpha (Bonferroni). rho is set "
    "by the number of customers the sequence is tuned to: the declared plan (expected_customers "
    "or planned_end in the running parameter), else twice the customers at the first look (at "
    "least 5,000); it is fixed at the first look and kept, because a tuning that moved with the "
    "data would break the guarantee. Stop, winner: the interval lies entirely above the smallest "
    "useful effect (min_lift times the control's value; 0 without one). Stop, harm: entirely "
    "below 0. Stop, futility: entirely below the smallest useful effect, or, without one, the "
    "planned end or size reached with 0 still inside. A stop is kept in later runs and never "
    "re-opened. The expected decision date assumes that the estimate and the spread stay as "
    "they are and the traffic of the last 7 days continues; the half-width shrinks roughly like "
    "the square root of log(n) / n."
)


def running_html(result: CampaignAbResult) -> str:
    """The 'Running campaigns' section as markup (escaped): sentences, table, why wider, and
    the evidence for analysts."""
    declared = result.running[result.running["declared"]]
    sentences = running_sentences(result)
    if not len(declared):
        text = (
            "No campaign is declared as still running (notebook parameter running), so every "
            "campaign is evaluated as finished, with fixed-horizon tests."
        )
        return show.explain_html(" ".join([text, *sentences]))
    alpha = result.settings["alpha"]
    parts = [
        show.explain_html("\n\n".join(sentences)),
        show.table_html(
            readable_running(result), caption="Running campaigns: sequential decisions", max_rows=60
        ),
        show.explain_html(PEEKING_TEXT.format(a=f"{alpha:.0%}")),
    ]
    undated = declared[(declared["decision"] == "keep running") & ~np.isfinite(declared["per_day"])]
    if len(undated):
        parts.append(
            show.box_html(
                "No expected decision date for "
                + ", ".join(sorted(set(undated["campaign_id"])))
                + ": the exposures have no assignment dates (assigned_at), so the traffic per "
                "day is unknown. Map an assignment date column, or declare the campaign's start "
                '(running: {campaign: {started: "YYYY-MM-DD"}}), to get one.',
                title="What this page cannot compute",
                kind="note",
            )
        )
    parts.append(
        show.for_analysts_html(
            "the sequential test of running campaigns",
            show.table_html(
                running_analysts_table(result),
                caption="Running campaigns: tuning, traffic and the fixed-horizon interval",
                max_rows=60,
            ),
            show.text_html(RUNNING_METHOD),
        )
    )
    return "".join(parts)


# --------------------------------------------------------------------------------------
# Sections of the page, one call each
# --------------------------------------------------------------------------------------


def decision(result: CampaignAbResult) -> None:
    """The headline: what to do with each campaign, and which segment columns were left out."""
    show.finding(headline(result.overall, result.decisions), title="Decision")
    if result.segments.note():
        show.explain(result.segments.note())


def running_note(result: CampaignAbResult) -> str:
    """The sentence under a fixed-horizon table or plot that also shows running campaigns
    ('' when none is declared running)."""
    running = sorted(set(result.running_campaigns["campaign_id"]))
    if not running:
        return ""
    return (
        f"Still running: {', '.join(running)}. Their results here are fixed-horizon ones, for "
        "reference only; they are decided by the sequential test (Running campaigns)."
    )


def running_campaigns(result: CampaignAbResult) -> None:
    """Campaigns still running: the sequential decision of each, its expected date, evidence."""
    from IPython.display import HTML, display

    display(HTML(running_html(result)))


def whole_campaigns(result: CampaignAbResult) -> None:
    """Each campaign as a whole: every variant against the control, for each metric."""
    overall, st = result.overall, result.settings
    alpha, currency = st["alpha"], st["currency"]
    show.explain(metrics_text(overall, currency=currency))
    if running_note(result):
        show.explain(running_note(result))
    show.show_table(
        readable(overall.table, currency=currency, level=1 - alpha).drop(columns="segment"),
        caption="Whole campaigns: variant against control",
        max_rows=60,
    )
    show.explain(
        "The difference is the variant's value minus the control's (pp = percentage points) "
        f"with its {1 - alpha:.0%} confidence interval; lift is the relative change; the adjusted "
        "p-value is corrected for testing several variants, segments and metrics "
        f"({CORRECTION_NAME[st['correction']]}); chance to beat control is the Bayesian "
        "probability that the variant is better."
    )
    if cuped_text(overall):
        show.explain(cuped_text(overall))
    if overall.table["srm_flag"].any():
        show.warning(
            "The split between control and variant differs from the plan more than chance "
            "allows (sample ratio mismatch). Results of the flagged campaign may be biased: "
            "check how customers were assigned."
        )


def effect_by_segment(result: CampaignAbResult) -> None:
    """Forest plots of the effect per segment of the main column, and its interaction tests."""
    main, alpha = result.main, result.settings["alpha"]
    if main is None:
        show.explain("No segment column to split by, so this section is left out.")
        return
    decide_metric, value_metric = result.decide_metric, result.value_metric
    shown = [m for m in (decide_metric, value_metric) if m]
    rows = result.by_segment[main].table
    name = show.words(main)
    for camp in result.overall.table["campaign_id"].unique():
        n_rows = len(rows[(rows["campaign_id"] == camp) & (rows["metric"] == decide_metric)])
        # one panel under the other: a page (and A4 in print) shows them at a readable size
        fig, axes = plt.subplots(
            len(shown), 1, figsize=(8, len(shown) * (0.45 * n_rows + 2.5)), squeeze=False
        )
        for ax, m in zip(axes[:, 0], shown, strict=True):
            forest_plot(
                result.by_segment[main],
                m,
                ax=ax,
                campaign=camp,
                segment_column=name,
                currency=result.settings["currency"],
                title=f"{camp}: {m} by {name}",
            )
        plt.tight_layout()
        show.figure(
            fig,
            alt=forest_alt(rows, camp, shown, segment_column=name, level=1 - alpha),
        )
    show.explain(
        f"Each row is one {name} segment and variant; the dot is the difference to control and "
        f"the line its {1 - alpha:.0%} interval. "
        + (f"Left: {decide_metric}; right: {value_metric}." if value_metric else "")
        + (f" {running_note(result)}" if running_note(result) else "")
    )
    show.for_analysts(
        "does the effect differ between segments?",
        show.table_html(
            readable_heterogeneity(result.heterogeneity, segment_column=name, alpha=alpha),
            caption=f"Does the effect differ between {name} segments? (interaction test)",
            max_rows=60,
        ),
        show.text_html(
            "A small p-value means the campaign's effect really differs between segments (a "
            "treatment x segment interaction in a regression with robust HC2 errors), so deciding "
            "per segment is supported. A large one means the differences seen above may be "
            "chance, and the decision is made for the whole campaign."
        ),
    )


def decision_table(result: CampaignAbResult) -> None:
    """The decision per campaign (or segment) with its effects, increments and reason."""
    st = result.settings
    show.show_table(
        readable_decisions(result.decisions, currency=st["currency"], level=1 - st["alpha"]),
        caption="Decision table (also written as ab_decisions.csv)",
        max_rows=60,
    )
    show.explain(
        f"The variant named is chosen by this rule: {VARIANT_RULE}. The expected extras are the "
        "customers targeted times the measured difference (with its interval), assuming the "
        "measured effect applies to all of them."
        + (
            " A campaign still running has the sequential test's decision (keep running, or "
            "stop: winner, harm or futility) with its always-valid interval, and no expected "
            "extras: its effect is not final."
            if running_note(result)
            else ""
        )
    )


def other_segmentations(result: CampaignAbResult) -> None:
    """The decision metric split by each further segment column, with its interaction test."""
    columns = result.segments.columns
    if len(columns) < 2:
        show.explain("No other segment column to split by.")
        return
    st, m = result.settings, result.decide_metric
    for col in columns[1:]:
        t = result.by_segment[col].table
        name = show.words(col)
        show.show_table(
            readable(
                t[t["metric"] == m],
                currency=st["currency"],
                segment_column=name,
                level=1 - st["alpha"],
            ).drop(columns="metric"),
            caption=f"{m} by {name}",
            max_rows=60,
        )
        show.explain(heterogeneity_text(result.by_segment[col], m, segment_column=name))


def planning(result: CampaignAbResult) -> None:
    """The minimum detectable effect of each test and the size a follow-up needs (for
    analysts: a planning table)."""
    st = result.settings
    main = show.words(result.main) if result.main else result.main
    show.for_analysts(
        "planning the next test",
        show.table_html(
            readable_plan(
                result.plan, result.plan_basis, currency=st["currency"], segment_column=main
            ),
            caption=f"Minimum detectable effect at {st['power']:.0%} power",
            max_rows=40,
        ),
        show.text_html(
            "A segment whose minimum detectable effect is larger than the effect you hope for "
            "needs a bigger test before a decision: see the customers per group required."
        ),
    )

"""The campaign report's uplift section ("whom to target next"): the finding, the Qini curves, the
held-out comparison of the models, the target list, and honest warnings.

The sentences and tables are plain functions of :class:`segwork.steps.uplift.UpliftResult`
(:func:`headline`, :func:`scores_frame`, :func:`figure_alt`, :func:`target_text`); the section
functions (:func:`finding`, :func:`qini_curves`, :func:`model_table`, :func:`target_list`) show
one part of the notebook each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from segwork import display as show
from segwork.numbers import number
from segwork.uplift import LEARNER_NAMES, RANDOM

if TYPE_CHECKING:
    from segwork.steps.uplift import UpliftResult
    from segwork.uplift import UpliftEvaluation


def _name(ranking: str) -> str:
    return LEARNER_NAMES.get(ranking, ranking)


def _share(x: float) -> str:
    return "" if not np.isfinite(x) else f"{100 * x:.0f}%"


def headline(result: UpliftResult) -> str:
    """The finding the section leads with: how much of the effect the top of the ranking keeps
    (held-out customers, with its interval), or why the ranking cannot be used."""
    ev = result.evaluation
    e = ev.effect_kept
    top = f"{result.settings['top_share']:.0%}"
    where = f"held-out customers of '{result.campaign}'"
    if e is None:
        return f"Too few customers in '{result.campaign}' to check a ranking on held-out customers."
    if not e.total_is_clear:
        return (
            f"The campaign '{result.campaign}' had no clear overall effect on "
            f"{show.words(result.outcome)} among the {ev.n_held_out:,} {where} (extra "
            f"{show.words(result.outcome)} if everyone were treated: {number(e.total, 1)}, {e.level:.0%} interval {number(e.total_ci_low, 1)} to "
            f"{number(e.total_ci_high, 1)}), so there is no effect whose share the top {top} could "
            "keep; the ranking below is shown for completeness, not as a basis for targeting."
        )
    text = (
        f"Targeting the top {top} of the {_name(ev.chosen or ev.best)} ranking would have kept "
        f"{_share(e.share)} of the campaign's effect on {show.words(result.outcome)} "
        f"({e.level:.0%} interval {_share(e.ci_low)} to {_share(e.ci_high)}), measured on "
        f"{ev.n_held_out:,} {where} the model had not seen; random targeting keeps {top} on average."
    )
    seg = ev.settings.get("effect_kept_segments")
    if seg is not None:
        text += (
            f" Targeting the top {top} by the segments that won "
            f"({show.words(ev.settings['best_segments_column'])}) would have kept "
            f"{_share(seg.share)} ({_share(seg.ci_low)} to {_share(seg.ci_high)})."
        )
    if not ev.trusted:
        text += (
            " But no model ranks customers better than random with evidence: the ranking cannot "
            "be trusted on this data."
        )
        seg_key = ev.settings.get("best_segments")
        if seg_key and bool(ev.scores.set_index("ranking").loc[seg_key, "beats_random"]):
            text += (
                " Targeting the segments that won "
                f"({show.words(ev.settings['best_segments_column'])}) does beat random with "
                "evidence: prefer it to the model's ranking."
            )
    return text


def _skipped(result: object) -> bool:
    from segwork.steps.uplift import UpliftSkipped

    return isinstance(result, UpliftSkipped)


def finding(result: UpliftResult) -> None:
    """The finding, then every warning that applies (or why there is no ranking)."""
    if _skipped(result):
        show.explain(
            "No uplift ranking in this run: the campaign data cannot support one "
            f"({result.reason}). The campaign results above do not depend on it."
        )
        return
    show.finding(headline(result), title="Whom to target next")
    for w in result.warnings:
        show.warning(w)


def scores_frame(ev: UpliftEvaluation) -> pd.DataFrame:
    """Held-out score of each ranking with its interval and whether it beats random and the
    segments that won, in words."""
    level = ev.settings["level"]
    rows = []
    for r in ev.scores.itertuples():
        if r.kind == "random":
            verdict = "the reference (0 on average)"
        elif r.beats_random:
            verdict = "better than random"
        else:
            verdict = "not better than random"
        vs = ""
        if np.isfinite(r.diff_vs_segments):
            vs = (
                "better"
                if r.diff_ci_low > 0
                else "worse"
                if r.diff_ci_high < 0
                else "no clear difference"
            )
        rows.append(
            {
                "ranking": _name(r.ranking) + (" (used)" if r.ranking == ev.chosen else ""),
                "held-out score": number(r.score, 3, sign=True),
                f"{level:.0%} interval": (
                    f"{number(r.ci_low, 3, sign=True)} to {number(r.ci_high, 3, sign=True)}"
                    + (" (random rankings)" if r.kind == "random" else "")
                ),
                "against random": verdict,
                "against the segments that won": vs,
            }
        )
    return pd.DataFrame(rows)


def model_table(result: UpliftResult) -> None:
    """The held-out comparison of the rankings, which model is used and why."""
    if _skipped(result):
        return
    for metric, ev in result.evaluations.items():
        show.show_table(
            scores_frame(ev),
            caption=f"How well each ranking finds the customers the campaign moved ({show.words(metric)})",
        )
        show.explain(
            f"Score: {ev.settings['score_name']}, on {ev.n_held_out:,} customers held out from "
            f"training. Intervals: {ev.settings['n_boot']} bootstrap resamples of those customers; "
            f"for random targeting, the range of {ev.settings['n_random']} random rankings. "
            f"{ev.reason}"
        )
    show.for_analysts(
        "Features and settings",
        show.text_html(result.features.describe()),
        show.text_html(_settings_text(result)),
        *[show.summary_html(ev.summary()) for ev in result.evaluations.values()],
    )


def _settings_text(result: UpliftResult) -> str:
    f = result.facts
    notes = " ".join(result.settings.get("notes", []))
    return (
        f"Campaign '{result.campaign}': {f['treated_customers']:,} treated ({', '.join(result.treated)}) "
        f"and {f['control_customers']:,} control ('{result.control}') customers; treatment share "
        f"{f['treatment_share']:.0%}. A model telling treated from control customers by their "
        f"features reaches AUC {f['balance_auc']:.2f} on held-out customers (0.50 for a random "
        f"split). Ranked: {f['ranked']:,} customers of the {result.population}"
        + (
            f", {f['ranked_not_in_campaign']:,} of them not in the campaign: the model extrapolates "
            "to them from the customers it saw, which is less certain for customers unlike them "
            "(e.g. not eligible for the campaign)"
            if f["ranked_not_in_campaign"]
            else ""
        )
        + ". Learners: two-model "
        "(one outcome model per group), class transformation (inverse-propensity weighted when the "
        "split is not 50/50) and X-learner, each on scikit-learn's HistGradientBoosting. "
        + (
            ""
            if f.get("features_before_campaign")
            else "The customer table describes customers as of the analysis date, after the "
            "campaign: a feature the campaign itself changed would flatter the ranking. "
        )
        + notes
    ).strip()


def _extra(ev: UpliftEvaluation) -> str:
    """What a Qini curve adds up, in words: customers with the outcome, or the amount."""
    words = show.words(ev.outcome)
    return f"extra customers with {words}" if ev.binary else f"extra {words}"


def _curve_points(ev: UpliftEvaluation, key: str) -> tuple[np.ndarray, np.ndarray]:
    x, v = ev.curves[key]
    return x / x[-1], v


def figure_alt(ev: UpliftEvaluation) -> str:
    """Alt text of the Qini figure, from its data: where each curve stands at the top share."""
    top = ev.settings["top_share"]
    parts = []
    for key in ev.curves:
        x, v = _curve_points(ev, key)
        at = float(np.interp(top, x, v))
        parts.append(f"{_name(key)} {number(at, 1)} at {top:.0%}")
    total = ev.curves[next(iter(ev.curves))][1][-1]
    return (
        f"Qini curves of {ev.outcome} on {ev.n_held_out:,} held-out customers: {_extra(ev)} "
        "among the treated when targeting the top share of each ranking. Random "
        f"targeting is the straight line to {number(total, 1)} at 100%. " + "; ".join(parts) + "."
    )


def _plot(ev: UpliftEvaluation, ax=None):
    ax = ax if ax is not None else plt.subplots(figsize=(8, 4.8))[1]
    seg_best = ev.settings.get("best_segments")
    for key in ev.curves:
        if ev.scores.set_index("ranking").loc[key, "kind"] == "segments" and key != seg_best:
            continue
        x, v = _curve_points(ev, key)
        style = dict(lw=2.4) if key == (ev.chosen or ev.best) else dict(lw=1.4)
        if key == seg_best:
            style.update(ls="--", color="0.35")
        ax.plot(100 * x, v, label=_name(key).replace("$", r"\$"), **style)  # '$' is not math
    total = ev.curves[next(iter(ev.curves))][1][-1]
    ax.plot([0, 100], [0, total], color="0.6", lw=1.2, ls=":", label=RANDOM)
    ax.axvline(100 * ev.settings["top_share"], color="0.8", lw=1)
    ax.set_xlabel("customers targeted, best-ranked first (%)")
    ax.set_ylabel(f"{_extra(ev)} among the treated".replace("$", r"\$"))
    ax.set_title(f"Held-out Qini curves: {ev.outcome}")
    ax.legend(loc="best", fontsize=9)
    return ax


def qini_curves(result: UpliftResult) -> None:
    """The Qini curves of the models against random targeting and the segments that won."""
    if _skipped(result):
        return
    for ev in result.evaluations.values():
        ax = _plot(ev)
        show.figure(ax.figure, alt=figure_alt(ev))
        show.explain(
            f"Each line adds up the {_extra(ev)} the campaign brought as more customers are "
            "targeted, taking the best-ranked first (held-out customers only). A ranking that finds "
            "the customers the campaign moves rises steeply at the left and stays above the dotted "
            "line of random targeting; a curve that falls at the right means the last customers were "
            "put off by the campaign. The dashed line ranks by the segments that won in the training "
            f"part, by {ev.settings.get('best_segments_column') or 'no segment column (none given)'}; "
            "the vertical line marks the "
            f"top {ev.settings['top_share']:.0%}."
        )


def target_text(result: UpliftResult) -> str:
    """The target list in words: size after consent, the reasons customers were skipped."""
    lists, ts = result.lists, result.target_settings
    if lists is None:
        return "No target list was asked for (set uplift_top_n or target_budget)."
    kind = {"task": "tasks", "email": "emails", "call": "calls"}[ts["action_type"]]
    n = len(lists.lists()[kind])
    asked = (
        (f"the top {ts['top_n']:,} customers" if ts["top_n"] is not None else "")
        or f"{ts['contacts']:,} contacts (budget {number(ts['budget'], 0)} at {number(ts['cost_per_contact'], 2)} each)"
    )
    text = (
        f"Target list for the next '{result.campaign}' campaign: {n:,} {kind} "
        f"(asked for {asked}, ranked by {show.words(ts['rank_by'])}). Only customers the model expects "
        f"to gain are candidates: {ts['candidates']:,} of {result.facts['ranked']:,}."
    )
    ex = lists.excluded
    if len(ex):
        reasons = "; ".join(f"{int(r.customers):,} {r.reason}" for r in ex.itertuples())
        text += (
            f" Going down the ranking, {int(ex['customers'].sum()):,} better-ranked customers were "
            f"skipped under the same consent and contact rules as rule segments ({reasons})."
        )
    if n < ts["contacts"]:
        text += f" The list is shorter than asked: only {n:,} candidates may be contacted."
    if not result.evaluation.trusted:
        text += " The ranking is not better than random on held-out customers, so this list is no better than a random one."
    return text


def target_list(result: UpliftResult) -> None:
    """The target list: its size after consent and who was skipped."""
    if _skipped(result):
        return
    if result.lists is None:
        show.explain(target_text(result))
    else:
        show.finding(target_text(result), title="Target list")

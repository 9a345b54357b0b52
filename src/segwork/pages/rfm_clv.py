"""Page 02 (RFM segments, next purchase and lifetime value): every sentence it says, and one
function per section that shows it.

The section functions take the result of :func:`segwork.steps.rfm_clv.run` and show the
section with :mod:`segwork.display` and :mod:`segwork.plots.rfm` / :mod:`segwork.plots.clv`;
the text functions (``headline``, ``coverage_text``, ``comparison_text``, ...) return the words,
which come from the data and the parameters, never from the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from statsmodels.stats.multitest import multipletests

from segwork.clv import (
    LIFETIME_MODELS,
    MODEL_NAMES,
    HoldoutComparison,
    ModelChoice,
    PropensityModel,
    auc_difference,
)
from segwork.clv import value_by_segment as _value_by_segment
from segwork.clv.model_choice import (
    MIN_HOLDOUT_PURCHASES,
    MIN_HOLDOUT_SHARE,
    OFF_SHARE,
    period_words,
)
from segwork.display import PageTable
from segwork.numbers import p_phrase
from segwork.rfm import GONE, INACTIVE, NEW, MigrationResult, RFMError


def coverage_text(features: pd.DataFrame, *, customers_total: int | None = None) -> str:
    """One paragraph for the page: how many customers were scored, how many left out and why.

    ``features`` is the output of :func:`features` (its ``attrs["coverage"]``);
    ``customers_total`` is the number of customers known to the run (e.g. the customer table),
    so that customers who never ordered are counted too.
    """
    a = features.attrs
    cov = a.get("coverage")
    if not cov:
        raise RFMError("coverage_text needs the output of rfm.features (attrs['coverage'])")
    date = pd.Timestamp(a["analysis_date"])
    window = a.get("window_days")
    where = (
        f"up to {date:%d %b %Y}"
        if window is None
        else (f"in the {window:,} days up to {date:%d %b %Y}")
    )
    reasons = []
    if cov["before_window"]:
        reasons.append(
            f"{cov['before_window']:,} whose orders all lie before those {window:,} days"
        )
    if cov["only_returns"]:
        reasons.append(
            f"{cov['only_returns']:,} with only returns there"
            + (" (or purchases returned in full)" if a.get("convention") == "clv" else "")
        )
    if customers_total is not None and customers_total > cov["customers_with_orders"]:
        reasons.append(
            f"{customers_total - cov['customers_with_orders']:,} known customers without any "
            f"order {f'up to {date:%d %b %Y}'}"
        )
    scored = cov["scored"]
    total = max(customers_total or 0, cov["customers_with_orders"])
    text = (
        f"{scored:,} of {total:,} customers ({scored / total:.0%}) are scored: "
        f"everyone with a purchase {where} (an order of amount 0 counts as a purchase)."
    )
    text += (" Left out: " + "; ".join(reasons) + ".") if reasons else " Nobody is left out."
    after = a.get("orders_after_analysis_date", 0)
    if after:
        text += f" {after:,} order rows dated after {date:%d %b %Y} are not counted."
    return text


def breakdowns_intro(columns: Sequence[str]) -> str:
    """The sentence before the segment-mix charts, naming the attributes in words."""
    names = [c.replace("_", " ") for c in columns]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"The segment mix by {listed}. A cell shows the share of that group's customers in the "
        "segment; under each chart, a test says whether the groups differ more than chance "
        "would explain."
    )


def breakdown_tests(
    breakdowns: Mapping[str, pd.DataFrame], *, alpha: float = 0.05
) -> dict[str, str]:
    """Whether the segment mix differs between the groups of each attribute, in one sentence each.

    A chi-square test of independence on the customer counts of :func:`breakdown` (groups x
    segments, empty rows and columns left out); the p-values are adjusted by Holm's method for
    the number of attributes tested, so a chart is not called different by chance alone.
    """
    tested: dict[str, tuple[float, int, int, int, float]] = {}
    out: dict[str, str] = {}
    for by, b in breakdowns.items():
        grid = b.pivot_table(
            index=by, columns="segment", values="customers", aggfunc="sum", observed=True
        )
        grid = grid.loc[grid.sum(axis=1) > 0, grid.sum(axis=0) > 0]
        name = by.replace("_", " ")
        if grid.shape[0] < 2 or grid.shape[1] < 2:
            out[by] = f"{name[:1].upper()}{name[1:]}: too few groups or segments to test."
            continue
        _, p, _, expected = chi2_contingency(grid.to_numpy())
        tested[by] = (
            float(p),
            int(grid.to_numpy().sum()),
            *grid.shape,
            float((expected < 5).mean()),
        )
    if tested:
        adjusted = multipletests([v[0] for v in tested.values()], method="holm")[1]
        k = len(tested)
        for (by, (_, n, groups, _segments, small)), p in zip(tested.items(), adjusted, strict=True):
            name = by.replace("_", " ")
            test = (
                f"chi-square test on {n:,} scored customers in {groups} groups, p "
                f"{p_phrase(float(p))}"
                + (f", Holm-adjusted for the {k} attributes tested" if k > 1 else "")
            )
            if p < alpha:
                text = (
                    f"{name[:1].upper()}{name[1:]}: the segment mix differs between the groups "
                    f"more than chance would explain ({test})."
                )
            else:
                text = (
                    f"{name[:1].upper()}{name[1:]}: the segment mix does not differ between the "
                    f"groups beyond chance ({test}); the differences in this chart may be noise."
                )
            if small > 0.2:
                text += (
                    f" Many cells are small ({small:.0%} expect fewer than 5 customers), so the "
                    "test is approximate."
                )
            out[by] = text
    return {by: out[by] for by in breakdowns}


def scores_text(bins: int) -> str:
    """What a score means, for the run's number of score levels."""
    return (
        f"Each of the three scores runs from 1 (the customers lowest on it) to {bins} (the "
        f"highest): the scored customers are split into {bins} groups of about equal size per "
        "score, and the three scores together name the segment."
    )


def segment_table(kpis: pd.DataFrame, *, currency: str, window_days: int | None):
    """:func:`segment_kpis` as page 02 shows it: columns in words, money in ``currency`` (cents
    only for small amounts), shares in %, and a sentence saying what each column counts and over
    which days."""
    names = {
        "segment": "segment",
        "customers": "customers",
        "customer_share": "share of customers",
        "revenue": "net revenue",
        "revenue_share": "share of revenue",
        "orders": "orders",
        "avg_order_value": "average order value",
        "orders_per_customer": "orders per customer",
        "mean_recency": "days since last purchase",
    }
    frame = kpis[[c for c in names if c in kpis]].rename(columns=names)
    formats = {
        "customers": "count",
        "share of customers": "pct",
        "net revenue": "money",
        "share of revenue": "pct",
        "orders": "count",
        "average order value": "money",
        "orders per customer": "{:.1f}",
        "days since last purchase": "{:,.0f}",
    }
    window = (
        f"in the {window_days:,} days up to the analysis date"
        if window_days
        else "over the whole history"
    )
    note = (
        f"Net revenue, orders and orders per customer count purchases {window} (net revenue: "
        "purchases minus returns); average order value: net revenue per order; days since last "
        "purchase: the segment's average."
    )
    return PageTable(
        frame, {k: v for k, v in formats.items() if k in frame}, note, currency=currency
    )


def migration_text(moves: MigrationResult, *, window_days: int | None) -> str:
    """How to read :func:`migration_heatmap` of ``moves``: its rows, its special labels, and
    which of them are empty (left out of the chart)."""
    days = (moves.analysis_date - moves.earlier_date).days
    totals = moves.counts.sum(axis=1)
    columns = moves.counts.sum(axis=0)
    text = (
        f"Read across a row: of the customers who were in that segment {days} days ago (how many, "
        "in brackets), the share now in each segment."
    )
    labels = []
    if totals.get(NEW, 0) > 0:
        labels.append(f"'{NEW}': customers whose first purchase ever came after that date")
    if totals.get(INACTIVE, 0) > 0:
        labels.append(
            f"'{INACTIVE}': customers who had bought before but "
            + (
                f"had no purchase in the {window_days:,} days before that date"
                if window_days
                else "only returns up to that date"
            )
        )
    if columns.get(GONE, 0) > 0:
        labels.append(
            f"'{GONE}': customers with no purchase in the {window_days:,} days up to now, so they "
            "are no longer scored"
            if window_days
            else f"'{GONE}': customers no longer scored"
        )
    if labels:
        text += " " + "; ".join(labels) + "."
    if totals.get(NEW, 0) == 0:
        text += " No customer made a first purchase after that date, so there is no 'new' row."
    return text


def headline(kpis: pd.DataFrame, moves: MigrationResult | None = None) -> str:
    """The finding notebook 02 leads with: where the revenue is and which way customers move."""
    k = kpis.set_index("segment")
    top = k.sort_values("revenue_share", ascending=False).iloc[0]
    scored = int(k["customers"].sum())
    text = (
        f"{top.name} are {int(top['customers']):,} of the {scored:,} scored customers "
        f"({top['customer_share']:.0%}) but bring {top['revenue_share']:.0%} of these customers' "
        "net revenue."
    )
    risk = [s for s in ("At Risk", "Can't Lose Them") if s in k.index and k.loc[s, "customers"] > 0]
    if risk:
        n = int(k.loc[risk, "customers"].sum())
        share = float(k.loc[risk, "revenue_share"].sum())
        rec = k.loc[risk, "mean_recency"]
        since = (
            f"{rec.min():,.0f} days"
            if len(rec) == 1 or round(rec.min()) == round(rec.max())
            else f"{rec.min():,.0f} to {rec.max():,.0f} days"
        )
        text += (
            f" {n:,} customers who bought often or spent much have not bought for {since} on "
            f"average ({' and '.join(risk)}); they brought {share:.0%} of the revenue and are the "
            "first to win back."
        )
    if moves is not None:
        c = moves.customers
        old = c[~c["segment_before"].isin([NEW, INACTIVE])]
        if len(old):
            same = old["segment_before"].astype(str) == old["segment_now"].astype(str)
            gone = int((old["segment_now"] == GONE).sum())
            new = int((c["segment_before"] == NEW).sum())
            back = int(((c["segment_before"] == INACTIVE) & (c["segment_now"] != GONE)).sum())
            text += (
                f"\n\nOf the {len(old):,} customers scored on {moves.earlier_date:%d %b %Y}, "
                f"{int(same.sum()):,} ({same.mean():.0%}) are in the same segment now"
                + (
                    f" and {gone:,} ({gone / len(old):.0%}) are no longer scored (no purchase in "
                    "the current scoring window)"
                    if gone
                    else ""
                )
                + ". Since then "
                + (f"{new:,} first-time buyers arrived" if new else "no first-time buyers arrived")
                + (f" and {back:,} earlier customers came back." if back else ".")
            )
    return text


def value_table(
    seg_value: pd.DataFrame,
    *,
    currency: str,
    discount_rate_monthly: float,
    warned: bool = False,
    bgnbd_untrusted: bool = False,
    propensity_check: dict[str, float] | None = None,
    spend_untrusted: bool = False,
    horizon_days: int | None = None,
    model: str = "bgnbd",
):
    """:func:`value_by_segment` as page 02 shows it: columns in words and what each means.

    ``model``: the key of the lifetime model behind chance still active, expected purchases and
    lifetime value (:data:`segwork.clv.LIFETIME_MODELS`); ``bgnbd_untrusted`` then means that
    the page warns that this model cannot be trusted.

    ``warned``: a model warning is on the page, so the note sends the reader to it.
    ``bgnbd_untrusted``: the page warns that BG/NBD cannot be trusted (:meth:`BetaGeo.caveats`);
    its chance still active and the lifetime value built on it are then not shown as findings
    (they stay in the artifact), segments are ordered by size, and the note says why and what
    to use instead. ``propensity_check``: the propensity model's holdout metrics
    (:attr:`HoldoutResult.metrics`), the evidence for offering it instead.
    ``spend_untrusted``: the page warns that the spend model cannot be trusted
    (:attr:`GammaGamma.untrusted`); lifetime value, which multiplies BG/NBD's expected purchases
    by its expected spend, is then not shown either (it stays in the artifact), while BG/NBD's
    columns stay when it is trusted; the note says why and names the expected purchases in
    ``horizon_days`` days (in the artifact) as what to use instead.
    """
    name = LIFETIME_MODELS[model]
    lead = ""
    if bgnbd_untrusted:
        hidden = [
            c
            for c in seg_value.columns
            if c in ("p_alive", "clv_total", "clv_share") or c.startswith(("clv_", "expected_"))
        ]
        seg_value = seg_value.drop(columns=hidden).sort_values(
            "customers", ascending=False, kind="stable"
        )
        lead = (
            f"Chance still active and lifetime value ({name}) are not shown: the model cannot be "
            "trusted on this data, see the warning above. " + _instead(seg_value, propensity_check)
        )
        warned = False  # the lead already sends the reader to the warning
    elif spend_untrusted:
        hidden = [c for c in seg_value.columns if c.startswith("clv_") or c == "expected_spend"]
        seg_value = seg_value.drop(columns=hidden).sort_values(
            "customers", ascending=False, kind="stable"
        )
        purchases = (
            f"expected purchases in {horizon_days} days ({name}, column "
            f"expected_purchases_{horizon_days}d of the rfm artifact)"
            if horizon_days
            else f"expected purchases ({name}, in the rfm artifact)"
        )
        lead = (
            "Lifetime value is not shown: it multiplies the expected purchases by the spend "
            "model's expected spend per purchase, and the spend model (Gamma-Gamma) cannot be "
            "trusted on this data, see the warning above. To estimate what customers are worth, "
            f"use their {purchases} times their own average order value, or the net revenue "
            "per segment in the segment table above."
        )
        warned = False  # the lead already sends the reader to the warning
    names: dict[str, str] = {"rfm_segment": "segment", "customers": "customers"}
    formats: dict[str, str] = {"customers": "count"}
    words = []
    if "p_alive" in seg_value:
        names["p_alive"] = f"chance still active ({name})"
        formats[names["p_alive"]] = "pct"
        words.append(
            f"chance still active: the segment's average chance, by {name}, that its customers "
            f"have not stopped buying ({_STOP_WORDS[model]})"
        )
    for col in seg_value.columns:
        if col.startswith("propensity_") and col.endswith("d"):
            days = col[len("propensity_") : -1]
            names[col] = f"chance of a purchase in {days} days"
            formats[names[col]] = "pct"
            words.append(
                f"chance of a purchase in {days} days: the average, by the propensity model"
            )
    clv_col = next((c for c in seg_value.columns if c.startswith("clv_") and c.endswith("m")), None)
    if clv_col is not None:
        months = clv_col[len("clv_") : -1]
        names[clv_col] = f"value per customer, {months} months"
        names["clv_total"] = "segment value"
        names["clv_share"] = "share of value"
        formats[names[clv_col]] = "money"
        formats[names["clv_total"]] = "money"
        formats["share of value"] = "pct"
        words.append(
            f"value per customer: the expected revenue of the next {months} months, discounted "
            f"by {discount_rate_monthly:.0%} a month ({name} with Gamma-Gamma); segment value: "
            "its sum over the segment, and that sum's share of all segments"
        )
    frame = seg_value[[c for c in names if c in seg_value]].rename(columns=names)
    note = "; ".join(words)
    note = note[:1].upper() + note[1:] + "." if note else ""
    note = (lead + " " + note).strip()
    if warned:
        note += " Read the model warnings above before using these figures."
    return PageTable(
        frame, {k: v for k, v in formats.items() if k in frame}, note, currency=currency
    )


def _instead(seg_value: pd.DataFrame, check: dict[str, float] | None) -> str:
    """What a reader can use when BG/NBD is not shown: the propensity model if it is in the
    table and beat the base rate on the holdout (with that evidence), and always recency."""
    col = next((c for c in seg_value.columns if c.startswith("propensity_")), None)
    recency = (
        "the time since the last purchase (recency, on which the segments rest: the longer, "
        "the less likely the customer is to come back)"
    )
    if col is None:
        return f"To decide whom to win back, use {recency}."
    days = col[len("propensity_") : -1]
    if check and check.get("brier", np.inf) < check.get("brier_baseline", -np.inf):
        pred, base = check["mean_predicted"], check["base_rate"]
        # the level is off when it misses the actual share by more than two binomial SEs
        off = abs(pred - base) > 2 * np.sqrt(base * (1 - base) / max(check.get("n", 1), 1))
        use = (
            "to rank customers (not as a probability: its level was off)"
            if off
            else "as the chance of a purchase"
        )
        return (
            f"To decide whom to win back, use the propensity model's chance of a purchase in "
            f"{days} days {use} and {recency}. On the last {days} days it predicted "
            f"{pred:.1%} buyers against {base:.1%} actual, Brier score {check['brier']:.3f} "
            f"against {check['brier_baseline']:.3f} for always predicting that share, AUC "
            f"{check['auc']:.3f}."
        )
    why = (
        f" (on the last {days} days its Brier score, {check['brier']:.3f}, was no better than "
        f"{check['brier_baseline']:.3f} for always predicting the share of buyers)"
        if check
        else " (it was not checked on past data)"
    )
    return (
        f"To decide whom to win back, use {recency}; the propensity model's chance of a purchase "
        f"is shown but not backed by the check on past data{why}."
    )


def accuracy_table(comparison: HoldoutComparison) -> pd.DataFrame:
    """The holdout metrics as the page shows them: one row per model, in words."""
    m = comparison.metrics
    out = pd.DataFrame(
        {
            "model": [MODEL_NAMES.get(str(k), str(k)) for k in m.index],
            "customers": m["n"].round().astype("int64").to_numpy(),
            "share who bought": m["base_rate"].to_numpy(),
            "AUC": m["auc"].to_numpy(),
            "Brier score": m["brier"].to_numpy(),
            "Brier score of a flat guess": m["brier_baseline"].to_numpy(),
        }
    )
    return out


ACCURACY_FORMATS = {
    "customers": "count",
    "share who bought": "pct",
    "AUC": "{:.3f}",
    "Brier score": "{:.4f}",
    "Brier score of a flat guess": "{:.4f}",
}


def accuracy_text(comparison: HoldoutComparison) -> str:
    """What the columns of :func:`accuracy_table` mean, with this run's dates and counts."""
    m = comparison.metrics
    days = int(comparison.holdout.metrics["horizon_days"])
    cutoff = pd.Timestamp(comparison.holdout.eval_cutoff)
    n = int(round(float(m["n"].iloc[0])))
    return (
        f"customers: the {n:,} customers with a purchase up to {cutoff:%d %b %Y}, whom both models "
        "scored; share who "
        f"bought: of them, the share who bought in the last {days} days. AUC: the chance that a "
        "customer who bought is ranked above one who did not (0.5 is a coin toss, 1 is perfect). "
        "Brier score: the mean squared gap between the predicted chance and what happened (0 or "
        "1); a flat guess predicts the share who bought for everyone, so a model is of use only "
        "where its Brier score is below that of the flat guess."
    )


def propensity_inputs_text(inputs: PropensityModel | pd.DataFrame | dict[str, Any]) -> str:
    """What the propensity model sees, in words: a fitted model, its features frame (from
    :func:`build_propensity_dataset`) or their ``inputs_``/``attrs`` dict."""
    if isinstance(inputs, PropensityModel):
        inputs = getattr(inputs, "inputs_", {})
    elif isinstance(inputs, pd.DataFrame):
        inputs = inputs.attrs
    kinds = [k.replace("_", " ") for k in inputs.get("interaction_kinds", [])]
    profile = [c.replace("_", " ") for c in inputs.get("profile_columns", [])]
    parts = ["the order history"]
    if kinds:
        parts.append("the interactions recorded here (" + ", ".join(kinds) + ")")
    if profile:
        parts.append("the customer profile (" + ", ".join(profile) + ")")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def comparison_text(
    comparison: HoldoutComparison | dict[str, Any], *, bgnbd_warned: bool = False
) -> str:
    """Plain words on which model to trust for what, from the holdout metrics.

    One model is called better at ranking only when the confidence interval of the AUC
    difference (DeLong) excludes 0; otherwise the two are called indistinguishable on this data.
    ``bgnbd_warned``: the page warns that BG/NBD cannot be trusted; the text then says that
    this check does not lift the warning (it tests who buys soon, not the chance still active).
    """
    m = comparison["metrics"]
    holdout = comparison["holdout"]
    days = int(holdout.metrics["horizon_days"])
    d = (
        comparison.auc_difference
        if isinstance(comparison, HoldoutComparison)
        else comparison.get("auc_difference")
    )
    if not d:
        p = comparison["predictions"]
        d = auc_difference(p["actual"], p["propensity"], p["bgnbd"])
    interval = (
        f"difference {d['difference']:+.3f}, {d['level']:.0%} confidence interval "
        f"[{d['low']:+.3f}, {d['high']:+.3f}], DeLong test"
    )
    aucs = (
        f"AUC {m.loc['propensity', 'auc']:.3f} for the propensity model vs "
        f"{m.loc['bgnbd', 'auc']:.3f} for BG/NBD; {interval}"
    )
    if d["low"] > 0 or d["high"] < 0:
        best = "the propensity model" if d["difference"] > 0 else "BG/NBD"
        lead = f"On the last {days} days, {best} ranked customers better ({aucs})."
    else:
        lead = (
            f"On the last {days} days, the two models ranked customers equally well within the "
            f"uncertainty of this data ({aucs}): neither can be called better."
        )
    sees = propensity_inputs_text(holdout.model)
    text = (
        f"{lead} Brier score {m.loc['propensity', 'brier']:.3f} vs {m.loc['bgnbd', 'brier']:.3f} "
        f"(lower is better). The propensity model learns from {sees}; BG/NBD with Gamma-Gamma "
        "needs only purchase history, extrapolates beyond one horizon and gives lifetime value."
    )
    if bgnbd_warned:
        text += (
            f" The model warning above still holds: this check is of who buys in the next {days} "
            "days, not of BG/NBD's chance still active or lifetime value."
        )
    return text


# --------------------------------------------------------------------------------------------
# the result of segwork.steps.rfm_clv.run in words
# --------------------------------------------------------------------------------------------
def result_headline(result: Any) -> str:
    """The finding page 02 leads with (:func:`headline` of the result's key figures and moves)."""
    return headline(result.kpis, result.migration)


def coverage(result: Any) -> str:
    """Who was scored and why others were left out (:func:`coverage_text`)."""
    return coverage_text(result.scored, customers_total=result.customers_total)


def comparison(result: Any) -> str:
    """:func:`comparison_text` of the holdout check, minding a BG/NBD warning on the page."""
    if result.comparison is None:
        return ""
    return comparison_text(result.comparison, bgnbd_warned=_bgnbd_warned(result))


def _bgnbd_warned(result: Any) -> bool:
    """The page shows BG/NBD's warning: it cannot be trusted and it gives the predictions."""
    lifetime = getattr(result, "lifetime", None)
    return result.bgnbd_untrusted and (lifetime is None or lifetime.key == "bgnbd")


def segment_value_table(
    result: Any, *, currency: str, discount_rate_monthly: float | None = None
) -> PageTable | None:
    """The value per segment as page 02 shows it (:func:`value_table`), or None when there is
    no model prediction or no scored customer; without BG/NBD's columns when it cannot be
    trusted, without lifetime value when the spend model cannot (they stay in the rfm dataset)."""
    t = result.table
    cols = [c for c in t.columns if c == "p_alive" or c.startswith(("propensity_", "clv_"))]
    if not cols or "rfm_segment" not in t or not t["rfm_segment"].notna().any():
        return None
    rate = result.discount_rate_monthly if discount_rate_monthly is None else discount_rate_monthly
    return value_table(
        _value_by_segment(t),
        currency=currency,
        discount_rate_monthly=rate,
        warned=bool(result.model_notes),
        bgnbd_untrusted=_lifetime_untrusted(result),
        propensity_check=None if result.holdout is None else dict(result.holdout.metrics),
        spend_untrusted=result.spend_untrusted,
        horizon_days=result.horizon_days,
        model=_lifetime_key(result),
    )


def _lifetime_key(result: Any) -> str:
    lifetime = getattr(result, "lifetime", None)
    return "bgnbd" if lifetime is None else lifetime.key


def _lifetime_untrusted(result: Any) -> bool:
    return bool(getattr(result, "lifetime_untrusted", result.bgnbd_untrusted))


# --------------------------------------------------------------------------------------------
# the figures of page 02 in words (their alt text)
# --------------------------------------------------------------------------------------------
def segments_alt(kpis: pd.DataFrame) -> str:
    """What the segment bars show, with the largest segment by customers and by revenue."""
    k = kpis.set_index("segment")
    most, rich = k["customer_share"].idxmax(), k["revenue_share"].idxmax()
    return (
        f"Bar chart of the share of customers and the share of net revenue for each of the "
        f"{len(k)} RFM segments; most customers: {most} ({k.loc[most, 'customer_share']:.1%}); "
        f"most revenue: {rich} ({k.loc[rich, 'revenue_share']:.1%})."
    )


def rf_grid_alt(scored: pd.DataFrame) -> str:
    """What the R x F heat map shows, with its largest cell."""
    grid = pd.crosstab(scored["R"], scored["F"])
    r, f = grid.stack().idxmax()
    return (
        f"Heat map of the {int(grid.to_numpy().sum()):,} scored customers by recency score "
        f"(rows) and frequency score (columns); the largest cell is recency score {r}, "
        f"frequency score {f}, with {int(grid.loc[r, f]):,} customers."
    )


def breakdown_alt(b: pd.DataFrame, column: str) -> str:
    """What the segment-mix heat map of ``column`` shows."""
    name = column.replace("_", " ")
    return (
        f"Heat map of the RFM segment mix by {name}: for each of the {b[column].nunique()} "
        f"{name} groups (rows), the share of its scored customers in each of the "
        f"{b['segment'].nunique()} segments (columns)."
    )


def migration_alt(moves: MigrationResult) -> str:
    """What the migration heat map shows, with how many stayed in their segment."""
    days = (moves.analysis_date - moves.earlier_date).days
    c = moves.customers
    old = c[~c["segment_before"].isin([NEW, INACTIVE])]
    same = int((old["segment_before"].astype(str) == old["segment_now"].astype(str)).sum())
    stayed = (
        f"; {same:,} of the {len(old):,} customers scored then ({same / len(old):.0%}) are in "
        "the same segment now"
        if len(old)
        else ""
    )
    return (
        f"Heat map of customers by their segment {days} days ago (rows) and their segment now "
        f"(columns), as shares of each row{stayed}."
    )


def models_alt(days: int) -> str:
    """What the two holdout charts show."""
    return (
        f"Two charts of the check on the last {days} days. Left: for ten equal groups of "
        "customers by predicted probability, the predicted against the actual share who bought, "
        "for the propensity model and BG/NBD. Right: the share who bought, predicted and actual, "
        "by the number of repeat purchases made before."
    )


# --------------------------------------------------------------------------------------------
# the sections of page 02, one call each
# --------------------------------------------------------------------------------------------
def _subplots(*args: Any, **kwargs: Any):
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def lead(result: Any) -> None:
    """The finding, who was scored, what a score means, and the notes on the scores (for
    analysts: how ties were split)."""
    from segwork import display as show

    show.finding(result_headline(result))
    show.explain(coverage(result) + " " + scores_text(result.bins))
    if result.notes:
        show.for_analysts(
            "notes on the scores",
            *(show.box_html(n, title="Note on the scores", kind="note") for n in result.notes),
        )


def segments(result: Any, *, currency: str) -> None:
    """Share of customers and of revenue per segment, the key figures and the member lists."""
    from segwork import display as show
    from segwork.plots.rfm import segment_bars

    segment_bars(result.kpis)
    show.figure(alt=segments_alt(result.kpis))
    show.explain(
        "For each segment: its share of customers and its share of net revenue. Segments whose "
        "revenue share is far above their customer share carry the business; large segments "
        "with little revenue are where reactivation can pay."
    )
    show.show_page_table(
        segment_table(result.kpis, currency=currency, window_days=result.window_days),
        caption="Segment key figures",
    )
    if result.members is not None:
        show.explain(
            "The member list of each segment is in the run folder under rfm_segments/ "
            f"({len(result.members.memberships.columns)} CSV files)."
        )


def rf_grid(result: Any) -> None:
    """Customers per recency and frequency score."""
    from segwork import display as show
    from segwork.plots.rfm import rf_heatmap

    _, ax = _subplots(figsize=(7, 5.5))
    rf_heatmap(result.scored, ax=ax)
    show.figure(alt=rf_grid_alt(result.scored))
    show.explain(
        "Customers by recency score (rows) and frequency score (columns). Top right: recent and "
        "frequent buyers (the best customers); bottom left: customers who bought rarely and "
        "long ago."
    )


def breakdowns(result: Any) -> None:
    """The segment mix by each profile attribute, with its test (or why there is none)."""
    from segwork import display as show
    from segwork.plots import share_heatmap
    from segwork.rfm import with_group_counts

    if not result.breakdowns:
        show.explain(result.breakdown_note)
        return
    show.explain(breakdowns_intro(result.breakdowns))
    frames = result.breakdown_frames
    tests = breakdown_tests(frames)
    for column, b in frames.items():
        fig, ax = _subplots(figsize=(12, 0.4 * b[column].nunique() + 2))
        share_heatmap(
            with_group_counts(b, column),
            index=column,
            columns="segment",
            values="share",
            title=f"Segment mix by {column.replace('_', ' ')}",
            ax=ax,
        )
        show.figure(fig, alt=breakdown_alt(b, column))
        show.explain(tests[column])
    show.explain("Each row sums to 100% of the group's scored customers (how many, in brackets).")


def migration(result: Any) -> None:
    """Where customers were ``migration_days`` ago and where they are now (or why not shown)."""
    from segwork import display as show
    from segwork.plots.rfm import migration_heatmap

    moves = result.migration
    if moves is None:
        show.explain(result.migration_note)
        return
    show.explain(
        f"Where customers were {result.migration_days} days ago (rows) and where they are now "
        "(columns). If most customers stay in their segment, the segments are stable enough to "
        "plan with; large flows from the best segments into the slipping ones are an early "
        "warning."
    )
    fig, ax = _subplots(figsize=(11, 7))
    migration_heatmap(moves, ax=ax)
    show.figure(fig, alt=migration_alt(moves))
    show.explain(migration_text(moves, window_days=result.window_days))


def _sample_text(result: Any) -> str:
    """Say so when the propensity model learned from a random sample of the customers."""
    model = result.propensity_model
    n_train, n_all = getattr(model, "n_train_", None), getattr(model, "n_customers_", None)
    if not model or n_train is None or n_all is None or n_train >= n_all:
        return ""
    return (
        f" It learned from a random sample of {n_train:,} of the {n_all:,} customers (a fixed "
        "seed, so a run can be repeated); it then scores every customer."
    )


def _lifetime_intro(result: Any) -> str:
    """Say which model gives the chance still active and lifetime value when it is not BG/NBD."""
    lifetime = getattr(result, "lifetime", None)
    if lifetime is None or lifetime.key == "bgnbd":
        return ""
    return (
        f" BG/NBD is compared with the propensity model here; the chance still active, expected "
        f"purchases and lifetime value come from {lifetime.name}, chosen in the next section."
    )


def models(result: Any) -> None:
    """The two next-purchase models, their warnings, and their check on the last horizon
    (which to trust leads; the accuracy table is for analysts)."""
    from segwork import display as show
    from segwork.plots.clv import calibration_plot, groups_plot

    days = result.horizon_days
    inputs = (
        propensity_inputs_text(result.propensity_model)
        if result.propensity_model
        else "the order history"
    )
    show.explain(
        "Two ways to predict whether a customer buys in the coming months. BG/NBD (a 'buy till "
        "you die' model) uses only each customer's purchase history: how often and how recently "
        "they bought, and since when; it gives the chance the customer is still active and the "
        "expected number of purchases, and with a spend model (Gamma-Gamma) lifetime value. A "
        f"propensity model (gradient boosting) learns from {inputs}."
        + _sample_text(result)
        + _lifetime_intro(result)
    )
    for note in result.model_notes:
        show.warning(note, title="Model warning")
    if result.holdout_note:
        show.explain(result.holdout_note)
    cmp = result.comparison
    if cmp is not None:
        show.explain(
            f"Both were trained on data up to {days} days before the analysis date and checked "
            f"against what customers actually did in the last {days} days."
        )
        show.finding(comparison(result), title="Which prediction to trust for what")
        fig, (ax1, ax2) = _subplots(1, 2, figsize=(13, 4.5))
        calibration_plot(cmp.calibration, ax=ax1, days=days)
        groups_plot(cmp.groups, ax=ax2, days=days)
        show.figure(fig, alt=models_alt(days))
        show.explain(
            "Left: customers sorted into ten equal groups by predicted probability; a point on "
            "the diagonal means the prediction matched reality. Right: share of customers who "
            "bought, predicted and actual, by how many repeat purchases they had made before."
        )
        show.for_analysts(
            f"accuracy on the last {days} days",
            show.table_html(
                accuracy_table(cmp),
                formats=ACCURACY_FORMATS,
                caption=f"Accuracy on the last {days} days (higher AUC and lower Brier score are "
                "better)",
            ),
            show.text_html(accuracy_text(cmp)),
        )
    elif result.holdout is not None:
        show.for_analysts("check on past data", show.summary_html(result.holdout.summary()))


def value(result: Any, *, currency: str) -> None:
    """Expected value per RFM segment (or what is shown instead when a model is not trusted)."""
    from segwork import display as show

    table = segment_value_table(result, currency=currency)
    if table is None:
        return
    untrusted = _lifetime_untrusted(result) or result.spend_untrusted  # no lifetime value shown
    show.show_page_table(
        table,
        caption="Per RFM segment"
        if untrusted
        else f"Expected value per RFM segment over the next {result.clv_months} months",
    )


def model_summaries(result: Any) -> None:
    """The fitted models' summaries (parameters, standard errors, fit), for analysts."""
    from segwork import display as show

    lifetime = getattr(result, "lifetime", None)
    chosen = None if lifetime is None or lifetime.key == "bgnbd" else lifetime
    fitted = [f for f in (result.bgnbd, chosen, result.spend, result.holdout) if f is not None]
    if fitted:
        show.for_analysts("fitted models", *(show.summary_html(f.summary()) for f in fitted))


# --------------------------------------------------------------------------------------------
# which lifetime model: BG/NBD, Pareto/NBD and MBG/NBD on the last horizon (clv.model_choice)
# --------------------------------------------------------------------------------------------
LIFETIME_REFERENCES = (
    "BG/NBD: Fader, Hardie & Lee (2005), 'Counting your customers the easy way', Marketing "
    "Science 24(2). Pareto/NBD: Schmittlein, Morrison & Colombo (1987), Management Science "
    "33(1); likelihood as in Fader & Hardie (2005), 'A note on deriving the Pareto/NBD model and "
    "related expressions'. MBG/NBD: Batislam, Denizel & Filiztekin (2007), International Journal "
    "of Research in Marketing 24(3). The check on a later period and the conditional "
    "expectations by number of repeat purchases follow Fader, Hardie & Lee (2005), figures 3-4."
)

_STOP_WORDS = {
    "bgnbd": "it lets a customer stop only right after a repeat purchase, so it counts every "
    "customer with a single purchase as active",
    "paretonbd": "it lets a customer stop at any moment, so the longer a customer has gone "
    "without a purchase, the less likely they are still active",
    "mbgnbd": "it lets a customer stop right after any purchase, the first one included",
}


def choice_headline(choice: ModelChoice, *, used: str | None = None) -> str:
    """The finding of the model comparison: the model the page uses and why, and how each model
    predicted the total of the checked period. ``used``: the name of the model behind the
    page's predictions when it is not the chosen one (a named model, or BG/NBD as fallback)."""
    t = choice.table
    period = period_words(choice.holdout_length, choice.time_unit)
    actual = float(t["actual_total"].iloc[0])
    n = len(choice.predictions)
    used = used or choice.chosen_name
    gives = "the chance still active, the expected purchases and the lifetime value on this page"
    if used is None:
        lead = choice.reason
    elif used == choice.chosen_name:
        lead = f"{used} gives {gives}. {choice.reason}"
    elif choice.chosen is None:
        how = "as the parameters name it" if choice.rule != "auto" else "with its warnings"
        lead = f"{choice.reason} {used} gives {gives}, {how}."
    else:
        lead = (
            f"{choice.reason} {choice.chosen_name} could not be fitted on all data up to the "
            f"analysis date, so {used} gives {gives}."
        )
    since = (
        f" who had bought by {choice.calibration_end:%d %b %Y}"
        if choice.calibration_end is not None
        else ""
    )
    fitted = t[t["fitted"]]
    totals = "; ".join(
        f"{row['name']} predicted {row['predicted_total']:,.0f} ({row['total_error']:+.0%})"
        for _, row in fitted.iterrows()
        if np.isfinite(row["total_error"])
    )
    text = (
        f"{lead}\n\nIn {period}, the {n:,} customers{since} made {actual:,.0f} purchases "
        "(purchases on the same day count once)"
    )
    return text + (f": {totals}." if totals else ".")


def choice_warnings(choice: ModelChoice, *, clv_months: int | None = None) -> list[str]:
    """Warnings the comparison needs: no model predicts the checked period well, or the period is
    too short or too thin to tell the models apart."""
    t = choice.table[choice.table["fitted"]]
    period = period_words(choice.holdout_length, choice.time_unit)
    unit = period.rsplit(" ", 1)[-1]
    out = []
    if choice.all_off:
        errs = ", ".join(f"{r['name']} {r['total_error']:+.0%}" for _, r in t.iterrows())
        over = (t["total_error"] > 0).all()
        under = (t["total_error"] < 0).all()
        how = "overpredicted" if over else "underpredicted" if under else "missed"
        out.append(
            f"No model predicts {period} well: every one {how} the customers' purchases in total "
            f"by more than {OFF_SHARE:.0%} ({errs}). Treat their expected purchases and lifetime "
            "values as rough levels; the order of customers may still be useful."
        )
    if choice.short:
        actual = float(t["actual_total"].iloc[0]) if len(t) else 0.0
        reasons = []
        if actual < MIN_HOLDOUT_PURCHASES:
            reasons.append(f"only {actual:,.0f} purchases fell in it")
        if choice.holdout_length < MIN_HOLDOUT_SHARE * choice.calibration_length:
            reasons.append(
                f"it is short against the up to {choice.calibration_length:,.0f} {unit} of "
                "history before it"
            )
        text = (
            f"The check covers {period}, and {' and '.join(reasons)}. The models differ mostly "
            "in how many customers they think have stopped buying, which shows over longer "
            "periods, so a check this short may not tell them apart."
        )
        if clv_months:
            text += (
                f" The {clv_months}-month lifetime value reaches beyond what was checked; a "
                "longer check period (the horizon in the run's settings) tests more of it."
            )
        out.append(text)
    return out


def choice_table(choice: ModelChoice) -> PageTable:
    """The models side by side on the checked period, in words."""
    t = choice.table
    period = period_words(choice.holdout_length, choice.time_unit)

    def state(key: str) -> str:
        if key == choice.chosen:
            return "chosen"
        if not t.loc[key, "fitted"]:
            return "fit failed"
        if not t.loc[key, "identified"]:
            return "not pinned down"
        return ""

    frame = pd.DataFrame(
        {
            "model": t["name"].to_numpy(),
            "status": [state(k) for k in t.index],
            "purchases predicted": t["predicted_total"].round().to_numpy(),
            "purchases made": t["actual_total"].to_numpy(),
            "predicted against made": t["total_error"].to_numpy(),
            "root mean squared error": t["rmse"].to_numpy(),
            "mean absolute error": t["mae"].to_numpy(),
            "ranking of buyers (AUC)": t["auc"].to_numpy(),
        }
    )
    note = (
        f"Each model was fitted on the purchases before {period} and predicted each customer's "
        f"purchases in {period}. Predicted against made: how far the predicted total is from "
        "the actual one. Root mean squared error: the typical gap between a customer's "
        "predicted and actual purchases, large gaps weighing more (lower is better; the choice "
        "rests on it); mean absolute error: the average gap. Ranking of buyers: the chance that a customer who bought in that period has "
        "a higher chance still active than one who did not (0.5 is a coin toss); BG/NBD counts "
        "every customer with a single purchase as active, which ties them and lowers its AUC. "
        "Not pinned down: the data do not determine the model's parameters, so it cannot be "
        "chosen."
    )
    return PageTable(
        frame,
        {
            "purchases predicted": "count",
            "purchases made": "count",
            "predicted against made": "{:+.1%}",
            "root mean squared error": "number",
            "mean absolute error": "number",
            "ranking of buyers (AUC)": "{:.3f}",
        },
        note,
    )


def choice_alt(choice: ModelChoice) -> str:
    """What the conditional-expectation chart shows, with its first and last group."""
    g = choice.groups
    period = period_words(choice.holdout_length, choice.time_unit)
    first, last = g.iloc[0], g.iloc[-1]
    models = [k for k in choice.fits if k in g]
    text = (
        f"Line chart of the average purchases per customer in {period}, by the number of repeat "
        f"purchases made before ({first['repeat_purchases']} to {last['repeat_purchases']}): "
        f"actual, and predicted by {', '.join(LIFETIME_MODELS[k] for k in models)}. Actual: "
        f"{first['actual']:.2f} for {first['repeat_purchases']}, {last['actual']:.2f} for "
        f"{last['repeat_purchases']}"
    )
    if choice.chosen in g:
        text += (
            f"; {choice.chosen_name} predicted {first[choice.chosen]:.2f} and "
            f"{last[choice.chosen]:.2f}"
        )
    return text + "."


def lifetime_models(result: Any) -> None:
    """Which lifetime model fits these customers: the finding (model chosen, why), warnings,
    the comparison table, the conditional-expectation chart, parameters for analysts."""
    from segwork import display as show
    from segwork.plots.clv import conditional_expectation_plot

    choice = result.model_choice
    if choice is None:
        if result.model_choice_note:
            show.explain(result.model_choice_note)
        elif getattr(result, "lifetime", None) is not None:
            show.explain(
                f"{result.lifetime.name} gives the chance still active, the expected purchases "
                "and the lifetime value on this page: the run's parameters name it as the only "
                "model, so no other model was compared with it."
            )
        return
    used = result.lifetime.name if getattr(result, "lifetime", None) is not None else None
    show.finding(choice_headline(choice, used=used), title="The lifetime model used on this page")
    for text in choice_warnings(choice, clv_months=result.clv_months):
        show.warning(text, title="Watch out")
    if result.model_choice_note:
        show.explain(result.model_choice_note)
    period = period_words(choice.holdout_length, choice.time_unit)
    show.explain(
        "Three 'buy till you die' models predict how many purchases each customer makes next; "
        "they differ in when a customer may stop buying: BG/NBD only right after a repeat "
        "purchase, MBG/NBD after any purchase, the first one too, Pareto/NBD at any moment. "
        f"Each was fitted on the purchases before {period} and checked against what customers "
        "did in it. The rule: a model whose parameters the data do not pin down cannot be "
        f"chosen; models whose predicted total is within {OFF_SHARE:.0%} of the actual one are "
        "preferred; of those the one with the smallest error per customer (root mean squared "
        "error) wins, but BG/NBD, the standard model, stays unless another model's error is "
        "smaller by more than chance would give "
        f"({choice.level:.0%} interval of the paired difference over customers), or, with "
        "errors that close, its chance still active ranks the customers who bought again "
        "better than BG/NBD's by more than chance would give (DeLong test of the AUC)."
    )
    show.show_page_table(choice_table(choice), caption=f"The lifetime models on {period}")
    fig, ax = _subplots(figsize=(9, 4.5))
    conditional_expectation_plot(choice, ax=ax)
    show.figure(fig, alt=choice_alt(choice))
    show.explain(
        "Customers grouped by how many repeat purchases they had made before the checked period "
        "(the last group: 7 or more). For each group, the actual average number of purchases "
        "in the period (black) and each model's prediction; the closer a line runs to the black "
        "one, the better the model predicts that kind of customer."
    )
    cols = {
        "log_likelihood": "log-likelihood",
        "aic": "AIC",
        "bic": "BIC",
        "mse_difference": "squared error difference to BG/NBD",
        "mse_low": "interval low",
        "mse_high": "interval high",
        "auc_difference": "AUC difference to BG/NBD",
        "auc_p": "AUC difference p",
    }
    fit_table = choice.table.reset_index()[["name", *cols]].rename(columns=cols | {"name": "model"})
    secs = ", ".join(f"{LIFETIME_MODELS[k]} {v:.1f} s" for k, v in choice.fit_seconds.items())
    show.for_analysts(
        "the lifetime models' fits and parameters",
        show.table_html(
            fit_table,
            caption="Fit on the purchases before the checked period",
            formats={
                "log-likelihood": "number",
                "AIC": "number",
                "BIC": "number",
                "squared error difference to BG/NBD": "number",
                "interval low": "number",
                "interval high": "number",
                "AUC difference to BG/NBD": "{:+.3f}",
                "AUC difference p": "p_value",
            },
        ),
        show.text_html(
            "All three models have four parameters, so AIC and BIC order them as the "
            "log-likelihood does (higher log-likelihood, lower AIC and BIC: closer fit). Squared "
            "error difference to BG/NBD: the model's mean squared error per customer minus "
            "BG/NBD's, "
            f"with its {choice.level:.0%} interval (paired over customers, normal approximation). "
            "AUC difference: DeLong test on the chance still active. Fit times: " + secs + "."
        ),
        *(show.summary_html(f.summary()) for f in choice.fits.values()),
        show.text_html(LIFETIME_REFERENCES),
    )

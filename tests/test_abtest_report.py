"""The A/B helpers notebook 04 uses: segment joins (pandas and Ibis alike), readable tables, headline."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from segwork import abtest, numbers
from segwork.pages import campaign_ab as page
from segwork.plots import abtest as plots


def _exposures(n: int = 4000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"C{i}" for i in range(n)]
    seg = rng.choice(["A", "B"], n)
    variant = rng.choice(["control", "treatment"], n)
    p = 0.05 + 0.10 * ((seg == "A") & (variant == "treatment"))
    conv = rng.random(n) < p
    exp = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": "c1",
            "variant": variant,
            "converted": conv.astype(int),
            "revenue": conv * rng.gamma(2, 100, n),
        }
    )
    customers = pd.DataFrame({"seg": seg}, index=pd.Index(ids, name="customer_id")).iloc[
        :-10
    ]  # 10 unlabelled
    return exp, customers


def test_with_segments_same_in_pandas_and_ibis_and_keeps_unlabelled() -> None:
    exp, customers = _exposures()
    pdf = abtest.with_segments(exp, customers, ["seg"])
    idf = abtest.with_segments(ibis.memtable(exp), customers, ["seg"]).to_pandas()
    assert len(pdf) == len(exp) == len(idf)
    assert (pdf["seg"] == "(unknown)").sum() == 10
    merged = pdf.merge(idf, on="customer_id", suffixes=("", "_i"))
    assert (merged["seg"] == merged["seg_i"]).all()


def test_readable_formats_rates_and_money_from_the_table() -> None:
    exp, customers = _exposures()
    res = abtest.evaluate(abtest.with_segments(exp, customers, ["seg"]), segment="seg")
    r = page.readable(res.table, currency="CZK")
    row = res.table.iloc[0]
    assert r.loc[0, "control"] == (
        f"{row['control_mean']:.1%}"
        if row["metric"] == "conversion"
        else f"{row['control_mean']:,.0f} CZK"
    )
    is_conv = res.table["metric"] == "conversion"
    conv = res.table.index[is_conv][0]
    t = res.table.loc[conv]
    # decimals: two significant digits of the narrowest half-width, in percentage points
    half = ((res.table["diff_ci_high"] - res.table["diff_ci_low"])[is_conv] / 2 * 100).min()
    k = max(1, 1 - math.floor(math.log10(half)))
    assert k == 1  # half-widths of about 1.3 pp in the big segments
    assert r.loc[conv, "difference [95% CI]"] == (
        f"{t['diff'] * 100:+.{k}f} pp [{t['diff_ci_low'] * 100:+.{k}f}, "
        f"{t['diff_ci_high'] * 100:+.{k}f}]"
    )


def test_headline_names_the_segments_to_roll_out() -> None:
    exp, customers = _exposures(n=20000)
    labelled = abtest.with_segments(exp, customers, ["seg"])
    seg = abtest.evaluate(labelled, segment="seg")
    overall = abtest.evaluate(labelled)
    rec = abtest.recommend(overall, seg, segment_column="seg")
    # the planted effect is in A only: the interaction test finds it, so segments are decided
    assert (rec["scope"] == "segment").all()
    assert rec.loc[rec["decision"] == "roll out", "segment"].tolist() == ["A"]
    text = page.headline(overall, rec)
    assert text.startswith("c1: the effect differs between seg segments")
    assert "Roll out: seg = A ('treatment'" in text
    assert "customers with no seg" in text and "(unknown)" not in text


# --------------------------------------------------------------------------------------
# Decisions follow the interaction test (simulations with a known truth)
# --------------------------------------------------------------------------------------


def _campaign(effects: dict[str, float], n: int, base: float = 0.10, seed: int = 0, variants=None):
    """Exposures of one campaign: per segment, control at ``base`` and each variant at base plus
    its effect (``effects`` segment -> effect, or segment -> {variant: effect})."""
    rng = np.random.default_rng(seed)
    parts = []
    for seg, eff in effects.items():
        eff = eff if isinstance(eff, dict) else {"treatment": eff}
        for var, p in {"control": base, **{v: base + e for v, e in eff.items()}}.items():
            conv = (rng.random(n) < p).astype(int)
            parts.append(
                pd.DataFrame(
                    {
                        "campaign_id": "c1",
                        "seg": seg,
                        "variant": var,
                        "converted": conv,
                        "revenue": np.round(conv * rng.gamma(2.0, 40.0, n), 2),
                    }
                )
            )
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "customer_id", [f"C{i}" for i in range(len(df))])
    return df


def _ols_interaction_p(df: pd.DataFrame, variant: str = "treatment") -> float:
    """Oracle: joint Wald test of the treatment x segment terms, OLS with HC2 (statsmodels)."""
    import statsmodels.formula.api as smf

    d = df[df["variant"].isin(["control", variant])].assign(
        treat=lambda x: (x["variant"] == variant).astype(float)
    )
    fit = smf.ols("converted ~ treat * C(seg)", data=d).fit(cov_type="HC2")
    names = [n for n in fit.params.index if n.startswith("treat:")]
    r = np.zeros((len(names), len(fit.params)))
    for i, n in enumerate(names):
        r[i, list(fit.params.index).index(n)] = 1
    return float(fit.wald_test(r, scalar=True).pvalue)


def test_same_effect_everywhere_gives_one_decision_for_the_whole_campaign() -> None:
    df = _campaign({"A": 0.04, "B": 0.04, "C": 0.04}, n=3000, seed=11)
    overall = abtest.evaluate(df)
    seg = abtest.evaluate(df, segment="seg")
    rec = abtest.recommend(overall, seg, segment_column="seg")
    p = _ols_interaction_p(df)
    assert p > 0.05  # the truth: no interaction, and the oracle does not find one
    assert len(rec) == 1 and rec["scope"].iat[0] == "whole campaign"
    assert rec["target"].iat[0] == "all customers" and rec["decision"].iat[0] == "roll out"
    assert rec["interaction_p"].iat[0] == pytest.approx(p, rel=1e-6)  # one variant: Holm = p
    assert "does not differ detectably between seg segments" in rec["reason"].iat[0]
    # the revenue effect stands next to the conversion effect, from the same table
    row = overall.table[overall.table["metric"] == "revenue"].iloc[0]
    assert rec["value_metric"].iat[0] == "revenue"
    assert rec["value_diff"].iat[0] == row["diff"]
    assert rec["value_diff_ci_low"].iat[0] == row["diff_ci_low"]


def test_different_effects_give_a_decision_per_segment() -> None:
    df = _campaign({"A": 0.08, "B": 0.0, "C": -0.06}, n=3000, seed=12)
    overall = abtest.evaluate(df)
    seg = abtest.evaluate(df, segment="seg")
    rec = abtest.recommend(overall, seg, segment_column="seg").set_index("segment")
    assert _ols_interaction_p(df) < 1e-6
    assert (rec["scope"] == "segment").all() and set(rec.index) == {"A", "B", "C"}
    assert rec.loc["A", "decision"] == "roll out" and rec.loc["C", "decision"] == "stop"
    assert rec.loc["B", "decision"] in {"keep testing", "stop"}
    assert rec.loc["A", "target"] == "seg = A"
    # the segment's own numbers, not the campaign's
    t = seg.table[(seg.table["metric"] == "conversion") & (seg.table["segment"] == "A")].iloc[0]
    assert rec.loc["A", "diff"] == t["diff"] and rec.loc["A", "diff_ci_low"] == t["diff_ci_low"]


def test_false_segment_decisions_are_rare_under_a_homogeneous_effect() -> None:
    """Known truth: the same effect in 4 segments. Segment decisions should come from the
    interaction test's false positives only, about alpha = 5 % of campaigns."""
    runs, split = 100, 0
    for seed in range(runs):
        df = _campaign({s: 0.03 for s in "ABCD"}, n=400, seed=1000 + seed)
        rec = abtest.recommend(
            abtest.evaluate(df, metrics="conversion"),
            abtest.evaluate(df, segment="seg", metrics="conversion"),
            segment_column="seg",
        )
        split += bool((rec["scope"] == "segment").any())
    # binomial(100, 0.05): P(0) = 0.006, P(>= 14) = 0.0002; fixed seeds, so deterministic
    assert 1 <= split <= 13, split


def test_one_variant_named_per_target_by_the_stated_rule() -> None:
    df = _campaign({"A": {"a": 0.03, "b": 0.06}, "B": {"a": 0.03, "b": 0.06}}, n=4000, seed=13)
    overall = abtest.evaluate(df)
    rec = abtest.recommend(overall, abtest.evaluate(df, segment="seg"), segment_column="seg")
    assert len(rec) == 1 and rec["variant"].iat[0] == "b"
    conv = overall.table[overall.table["metric"] == "conversion"].set_index("variant")
    # the rule: of the variants that can be rolled out, the highest lower end of the interval
    assert conv.loc["b", "diff_ci_low"] > conv.loc["a", "diff_ci_low"] > 0
    assert "highest lower end" in rec["rule"].iat[0]


def test_unknown_segment_is_named_in_words_and_never_the_only_roll_out() -> None:
    rng = np.random.default_rng(14)
    df = _campaign({"A": 0.0, "B": 0.0, abtest.UNKNOWN: 0.12}, n=3000, seed=14)
    overall = abtest.evaluate(df)
    seg = abtest.evaluate(df, segment="seg")
    rec = abtest.recommend(overall, seg, segment_column="seg")
    assert (rec["scope"] == "segment").all()  # the effect does differ
    unknown = rec[rec["segment"] == abtest.UNKNOWN].iloc[0]
    raw = abtest.decide(seg).set_index("segment").loc[abtest.UNKNOWN, "decision"]
    assert raw == "roll out"  # the data alone would roll out to the unknown group ...
    assert unknown["decision"] == "keep testing"  # ... but it is never the only target
    assert unknown["target"] == "customers with no seg"
    assert "find out who they are" in unknown["reason"]
    text = page.headline(overall, rec)
    assert "(unknown)" not in text and "Roll out:" not in text
    del rng


# --------------------------------------------------------------------------------------
# Numbers formatted for the data
# --------------------------------------------------------------------------------------


def _email_test(n: int = 64000, seed: int = 3) -> pd.DataFrame:
    """Shaped as Hillstrom's MineThatData e-mail test: three arms, visit/conversion 0/1, spend in
    dollars (0 for almost everyone), pre-period columns, no order history."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    visit = (
        rng.random(n)
        < np.select([arm == "Mens E-Mail", arm == "Womens E-Mail"], [0.18, 0.15], 0.106)
    ).astype(int)
    conv = (visit & (rng.random(n) < np.where(arm == "No E-Mail", 0.054, 0.08))).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"H{i:05d}" for i in range(n)],
            "campaign_id": "email_2008",
            "variant": arm,
            "recency": rng.integers(1, 13, n),
            "history": np.round(rng.lognormal(5, 1, n) + 29.99, 2),
            "zip_code": rng.choice(["Surburban", "Urban", "Rural"], n, p=[0.45, 0.4, 0.15]),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
            "newbie": rng.integers(0, 2, n),
            "visit": visit,
            "conversion": conv,
            "spend": np.round(conv * rng.gamma(2.0, 60.0, n), 2),
        }
    )


def test_small_amounts_are_shown_in_cents() -> None:
    df = _email_test()
    res = abtest.evaluate(df, control="No E-Mail", metrics=["visit", "conversion", "spend"])
    r = page.readable(res.table, currency="USD").set_index(["variant", "metric"])
    t = res.table.set_index(["variant", "metric"]).loc[("Mens E-Mail", "spend")]
    assert 0.3 < t["control_mean"] < 1.5  # about a dollar per customer, as in the real test
    row = r.loc[("Mens E-Mail", "spend")]
    assert row["control"] == f"{t['control_mean']:.2f} USD"
    assert row["difference [95% CI]"] == (
        f"{t['diff']:+.2f} [{t['diff_ci_low']:+.2f}, {t['diff_ci_high']:+.2f}] USD"
    )
    # not whole dollars: "1 USD -> 1 USD, +1 [+0, +1]" was the bug
    assert row["control"] != f"{t['control_mean']:.0f} USD"
    # rates: 0.6 % conversion gets the decimals its interval needs (two significant digits)
    c = res.table.set_index(["variant", "metric"]).loc[("Mens E-Mail", "conversion")]
    assert (c["diff_ci_high"] - c["diff_ci_low"]) * 50 < 1  # half-width under 1 pp
    assert r.loc[("Mens E-Mail", "conversion"), "control"] == f"{100 * c['control_mean']:.2f}%"


def test_large_amounts_keep_whole_units_and_nothing_shows_nan() -> None:
    from segwork import display

    assert display.decimals_for([8.3]) == 1 and display.decimals_for([8.3], money=True) == 2
    assert display.decimals_for([0.27]) == 2 and display.decimals_for([42.0]) == 0
    assert display.decimals_for([0.004]) == 4 and display.decimals_for([np.nan, 0.0]) == 0
    assert display.number(-0.001, 2, sign=True) == "+0.00"
    assert display.number(12345.6, 0, unit="CZK") == "12,346 CZK"
    assert display.number(np.nan, 2) == ""
    df = pd.DataFrame(
        {
            "a": [1.5, np.nan, np.inf],
            "when": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
            "text": pd.array(["x", None, "<b>"], dtype="str"),
        }
    )
    markup = display.table_html(df)
    assert "nan" not in markup.lower() and "NaT" not in markup and "None" not in markup
    assert "2024-01-02" in markup and "∞" in markup and "&lt;b&gt;" in markup


def test_readable_names_unknown_customers_in_words() -> None:
    exp, customers = _exposures()
    res = abtest.evaluate(abtest.with_segments(exp, customers, ["seg"]), segment="seg")
    r = page.readable(res.table, segment_column="seg")
    assert "customers with no seg" in set(r["segment"]) and "(unknown)" not in set(r["segment"])
    assert not r.map(lambda v: "nan" in str(v).lower()).any().any()


def test_deciding_on_revenue_shows_the_rate_next_to_it_in_one_format() -> None:
    df = _campaign({"A": 0.04, "B": 0.04}, n=3000, seed=15)
    overall, seg = abtest.evaluate(df), abtest.evaluate(df, segment="seg")
    rec = abtest.recommend(overall, seg, metric="revenue", segment_column="seg", currency="EUR")
    assert rec["metric"].iat[0] == "revenue" and rec["value_metric"].iat[0] == "conversion"
    conv = overall.table[overall.table["metric"] == "conversion"].iloc[0]
    f = abtest.metric_formats(pd.concat([overall.table, seg.table]))["conversion"]
    assert rec["value_effect"].iat[0] == (
        f"conversion {f.value(conv['control_mean'])} → {f.value(conv['variant_mean'])} "
        f"({f.diff(conv['diff'], conv['diff_ci_low'], conv['diff_ci_high'])})"
    )
    assert rec["effect"].iat[0].startswith("revenue ") and rec["effect"].iat[0].endswith("EUR)")


def test_interaction_table_uses_the_same_adjusted_p_as_the_decision() -> None:
    df = _campaign({"A": {"a": 0.03, "b": 0.0}, "B": {"a": 0.03, "b": 0.05}}, n=2500, seed=16)
    overall, seg = abtest.evaluate(df), abtest.evaluate(df, segment="seg")
    het = seg.heterogeneity("conversion")
    shown = page.readable_heterogeneity(het, segment_column="seg")
    holm = multipletests(het["p_value"], method="holm")[1]
    assert shown["p-value, Holm over variants"].tolist() == [numbers.p_text(p) for p in holm]
    assert shown["differs?"].tolist() == ["yes" if p < 0.05 else "not detectably" for p in holm]
    rec = abtest.recommend(overall, seg, segment_column="seg")
    assert rec["interaction_p"].iat[0] == pytest.approx(holm.min())
    assert (rec["scope"] == "segment").all() == (holm.min() < 0.05)


def test_readable_decisions_shows_increments_with_their_intervals() -> None:
    df = _campaign({"A": 0.04, "B": 0.04}, n=3000, seed=17)
    overall, seg = abtest.evaluate(df, alpha=0.1), abtest.evaluate(df, segment="seg", alpha=0.1)
    rec = abtest.recommend(overall, seg, segment_column="seg", population=50_000)
    shown = page.readable_decisions(rec, currency="EUR", level=0.9)
    r = overall.table.set_index("metric")
    conv = 50_000 * r.loc["conversion", ["diff", "diff_ci_low", "diff_ci_high"]].to_numpy(float)
    rev = 50_000 * r.loc["revenue", ["diff", "diff_ci_low", "diff_ci_high"]].to_numpy(float)
    np.testing.assert_allclose(
        rec[["incremental_conversions", "incremental_conversions_ci_low"]].iloc[0], conv[:2]
    )
    assert shown["customers"].iat[0] == "50,000"
    # half-widths in the hundreds (conversions) and tens of thousands (EUR): whole numbers
    assert shown["expected extra conversion [90% CI]"].iat[0] == (
        f"{conv[0]:+,.0f} [{conv[1]:+,.0f}, {conv[2]:+,.0f}]"
    )
    assert shown["expected extra revenue [90% CI]"].iat[0] == (
        f"{rev[0]:+,.0f} [{rev[1]:+,.0f}, {rev[2]:+,.0f}] EUR"
    )
    assert shown["next to it"].iat[0].startswith("revenue ")


def test_decision_text_has_no_scientific_p_and_names_the_segment_column() -> None:
    # A large effect: the adjusted p is far below 0.001 (it was written "5.9e-13" on the page).
    df = _campaign({"A": 0.06, "B": 0.06}, n=6000, seed=21)
    overall, seg = abtest.evaluate(df), abtest.evaluate(df, segment="seg")
    rec = abtest.recommend(overall, seg, segment_column="seg")
    assert rec["p_adjusted"].iat[0] < 1e-6 and rec["decision"].iat[0] == "roll out"
    reason = rec["reason"].iat[0]
    assert "adjusted p < 0.001 (Holm)" in reason
    assert "e-" not in reason and "(s)" not in reason
    # min_lift 0: the threshold is zero, not "+0.00 pp"
    assert "is above zero and significant" in reason and "+0.00" not in reason
    # one variant: the interaction p as computed by the independent OLS/HC2 oracle
    p = _ols_interaction_p(df)
    assert f"interaction gives p = {numbers.p_text(p)}" in reason
    head = page.headline(overall, rec)
    assert "between seg segments for any variant" in head and "e-" not in head


def test_forest_plot_writes_dollar_labels_as_written() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = _campaign({"1) $0 - $100": 0.04, "2) $100 - $200": 0.04}, n=1500, seed=22)
    res = abtest.evaluate(df, segment="seg")
    fig, ax = plt.subplots()
    plots.forest_plot(res, "conversion", ax=ax, title="c1: lift in conversion by history_segment")
    fig.canvas.draw()
    labels = ax.get_yticklabels() + [ax.title, ax.xaxis.label]
    assert sorted(t.get_text() for t in labels[:2]) == ["1) $0 - $100", "2) $100 - $200"]
    # mathtext would read "$0 - $100" as math and drop the dollar signs
    assert not any(t.get_parse_math() for t in labels)
    assert max(len(line) for line in ax.title.get_text().splitlines()) <= 48  # fits its panel
    plt.close(fig)
    # money: the difference per customer in the currency, with the interval the tables show
    ax = plots.forest_plot(res, "revenue", currency="USD")
    row = res.table[res.table["metric"] == "revenue"]
    xs = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in ax.lines])
    assert set(np.round(row["diff"], 9)) <= set(np.round(xs, 9))
    assert "difference in revenue per customer vs control (USD)" in ax.get_xlabel()
    plt.close(ax.figure)


def test_a_yes_no_segment_is_named_with_its_column() -> None:
    df = _email_test(n=6000)
    res = abtest.evaluate(df, control="No E-Mail", metrics=["conversion"], segment="newbie")
    shown = page.readable(res.table, segment_column="newbie")
    assert set(shown["segment"]) == {"newbie = 0", "newbie = 1"}
    assert abtest.segment_name("Urban", "zip_code") == "Urban"  # words stay as they are
    assert abtest.segment_name("(unknown)", "zip_code") == "customers with no zip code"
    assert abtest.segment_name("1", "rfm_segment") == "RFM segment = 1"  # columns in words
    # the counts shown are the data's (pandas on the raw rows)
    n = df[df["variant"] == "No E-Mail"].groupby("newbie").size()
    row = shown[(shown["segment"] == "newbie = 1")].iloc[0]
    assert row["customers (control / variant)"].startswith(f"{n[1]:,} / ")


def test_other_segmentations_carry_their_interaction_test() -> None:
    df = _campaign({"A": 0.04, "B": 0.04, "C": 0.04}, n=3000, seed=11)
    seg = abtest.evaluate(df, segment="seg")
    p = _ols_interaction_p(df)  # the independent oracle (OLS, HC2)
    assert p > 0.05
    text = page.heterogeneity_text(seg, "conversion", segment_column="seg")
    assert text == (
        "c1: the effect on conversion does not differ detectably between seg segments "
        f"(interaction p = {numbers.p_text(p)}), so the differences between the rows of "
        "this table may be chance."
    )
    df = _campaign({"A": 0.10, "B": 0.0, "C": -0.05}, n=3000, seed=12)
    seg = abtest.evaluate(df, segment="seg")
    p = _ols_interaction_p(df)
    assert p < 0.001
    text = page.heterogeneity_text(seg, "conversion", segment_column="seg")
    assert text == (
        "c1: the effect on conversion differs between seg segments for 'treatment' "
        "(interaction p < 0.001)."
    )

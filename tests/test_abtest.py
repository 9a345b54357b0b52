"""Tests of segwork.abtest: every number against an independent oracle on the same data.

Oracles: statsmodels (two-proportion Wald test, Newcombe and Wilson intervals, multipletests with
the method named, OLS with HC2 for the interaction test, NormalIndPower), scipy (Welch's t-test,
chisquare, numerical integration), closed forms derived here, and simulations with known truth.
"""

from __future__ import annotations

import ibis
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import integrate, special, stats
from statsmodels.stats import proportion as smp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from segwork import abtest
from segwork.abtest import ABTestError
from segwork.pages import campaign_ab as page
from segwork.plots import abtest as plots
from segwork.schema import SchemaError
from segwork.widgets import planner

TIGHT = {"rtol": 1e-8, "atol": 1e-12}


def make_exposures(cells, seed: int = 0) -> pd.DataFrame:
    """Exposures from (campaign, segment, variant, n, conversion rate, mean order value) tuples.
    revenue = converted x lognormal order value; pre_revenue correlates with revenue."""
    rng = np.random.default_rng(seed)
    parts = []
    for camp, seg, var, n, p, aov in cells:
        conv = (rng.random(n) < p).astype(np.int64)
        value = rng.lognormal(np.log(aov) - 0.32, 0.8, n)
        pre = np.round(value * rng.lognormal(0, 0.3, n) * rng.random(n) * 2, 2)
        parts.append(
            pd.DataFrame(
                {
                    "campaign_id": camp,
                    "segment": seg,
                    "variant": var,
                    "converted": conv,
                    "revenue": np.round(conv * value, 2),
                    "pre_revenue": pre,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "customer_id", [f"C{i:06d}" for i in range(len(df))])
    return df


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    cells = []
    for seg, base, eff in (("A", 0.10, 0.04), ("B", 0.05, 0.0), ("C", 0.20, -0.05)):
        cells += [
            ("c1", seg, "control", 400, base, 100),
            ("c1", seg, "treatment", 420, base + eff, 110),
        ]
        cells += [
            ("c2", seg, "control", 300, base, 80),
            ("c2", seg, "offer_a", 310, base + eff, 80),
            ("c2", seg, "offer_b", 290, base, 95),
        ]
    return make_exposures(cells, seed=1)


@pytest.fixture(scope="module")
def result(data) -> abtest.ABResult:
    return abtest.evaluate(data, segment="segment")


def arms(df, camp, seg, var, col, control="control"):
    sel = (df["campaign_id"] == camp) & ((df["segment"] == seg) if seg != "all" else True)
    return (
        df.loc[sel & (df["variant"] == control), col].to_numpy(float),
        df.loc[sel & (df["variant"] == var), col].to_numpy(float),
    )


# --------------------------------------------------------------------------------------
# The table against statsmodels / scipy
# --------------------------------------------------------------------------------------


def test_table_has_the_contract_columns(result):
    need = [
        "campaign_id",
        "segment",
        "variant",
        "metric",
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
        "p_value",
        "p_adjusted",
        "chance_to_beat_control",
        "expected_loss",
        "method",
        "warnings",
        "srm_p_value",
    ]
    assert not set(need) - set(result.table.columns)
    # 2 campaigns: c1 3 segments x 1 variant, c2 3 segments x 2 variants; 2 metrics each
    assert len(result.table) == (3 + 6) * 2
    assert not result.table[need].isna().any().any()


def test_conversion_matches_statsmodels(data, result):
    rows = result.table[result.table["metric"] == "conversion"]
    for r in rows.itertuples():
        c, v = arms(data, r.campaign_id, r.segment, r.variant, "converted")
        xc, xv, nc, nv = c.sum(), v.sum(), len(c), len(v)
        assert (r.n_control, r.n_variant) == (nc, nv)
        wald = smp.test_proportions_2indep(xv, nv, xc, nc, method="wald", compare="diff")
        np.testing.assert_allclose([r.statistic, r.p_value], [wald.statistic, wald.pvalue], **TIGHT)
        lo, hi = confint_proportions_2indep(
            xv, nv, xc, nc, method="newcomb", compare="diff", alpha=0.05
        )
        np.testing.assert_allclose([r.diff_ci_low, r.diff_ci_high], [lo, hi], **TIGHT)
        np.testing.assert_allclose(
            [r.control_ci_low, r.control_ci_high],
            proportion_confint(xc, nc, alpha=0.05, method="wilson"),
            **TIGHT,
        )
        np.testing.assert_allclose(
            [r.variant_ci_low, r.variant_ci_high],
            proportion_confint(xv, nv, alpha=0.05, method="wilson"),
            **TIGHT,
        )
        np.testing.assert_allclose(r.diff, xv / nv - xc / nc, **TIGHT)
        assert "Newcombe" in r.method and "Wald" in r.method


def test_revenue_matches_scipy_welch(data, result):
    rows = result.table[result.table["metric"] == "revenue"]
    for r in rows.itertuples():
        c, v = arms(data, r.campaign_id, r.segment, r.variant, "revenue")
        t = stats.ttest_ind(v, c, equal_var=False)
        ci = t.confidence_interval(0.95)
        np.testing.assert_allclose(
            [r.statistic, r.p_value, r.df, r.diff_ci_low, r.diff_ci_high],
            [t.statistic, t.pvalue, t.df, ci.low, ci.high],
            **TIGHT,
        )
        one = stats.ttest_1samp(c, 0).confidence_interval(0.95)
        np.testing.assert_allclose(
            [r.control_ci_low, r.control_ci_high], [one.low, one.high], **TIGHT
        )
        np.testing.assert_allclose(r.control_sd, np.std(c, ddof=1), **TIGHT)
        assert "Welch" in r.method


def test_alpha_changes_interval_level(data):
    res = abtest.evaluate(data, segment="segment", alpha=0.1, metrics="conversion")
    r = res.table.iloc[0]
    c, v = arms(data, r.campaign_id, r.segment, r.variant, "converted")
    lo, hi = confint_proportions_2indep(
        v.sum(), len(v), c.sum(), len(c), method="newcomb", compare="diff", alpha=0.1
    )
    np.testing.assert_allclose([r.diff_ci_low, r.diff_ci_high], [lo, hi], **TIGHT)


def test_lift_delta_method_closed_form(data, result):
    z = stats.norm.isf(0.025)
    for r in result.table.itertuples():
        c, v = arms(
            data,
            r.campaign_id,
            r.segment,
            r.variant,
            "converted" if r.metric == "conversion" else "revenue",
        )
        ddof = 0 if r.metric == "conversion" else 1
        mc, mv = c.mean(), v.mean()
        # ratio R = mv/mc; Var(log R) ~ CV_v^2 + CV_c^2, so se(R) = R * sqrt(var_v/mv^2 + var_c/mc^2)
        vv, vc = np.var(v, ddof=ddof) / len(v), np.var(c, ddof=ddof) / len(c)
        ratio = mv / mc
        se = ratio * np.sqrt(vv / mv**2 + vc / mc**2)
        np.testing.assert_allclose(
            [r.lift, r.lift_ci_low, r.lift_ci_high],
            [ratio - 1, ratio - 1 - z * se, ratio - 1 + z * se],
            **TIGHT,
        )


def test_lift_delta_method_agrees_with_bootstrap():
    df = make_exposures(
        [("c", "all", "control", 4000, 0.2, 100), ("c", "all", "treatment", 4000, 0.24, 100)],
        seed=5,
    )
    res = abtest.evaluate(df, metrics=("conversion", "revenue"))
    rng = np.random.default_rng(0)
    for r in res.table.itertuples():
        col = "converted" if r.metric == "conversion" else "revenue"
        c, v = arms(df, "c", "all", "treatment", col)
        bc = c[rng.integers(0, len(c), (2000, len(c)))].mean(1)
        bv = v[rng.integers(0, len(v), (2000, len(v)))].mean(1)
        boot_sd = np.std(bv / bc - 1)
        delta_sd = (r.lift_ci_high - r.lift_ci_low) / (2 * stats.norm.isf(0.025))
        assert abs(boot_sd / delta_sd - 1) < 0.08


def test_bayes_conversion_matches_exact_formula():
    # Evan Miller's closed form for P(p_B > p_A) with Beta(alpha, beta) posteriors (integer alpha_B).
    def exact(ac, bc, av, bv):
        i = np.arange(av)
        return np.exp(
            special.betaln(ac + i, bc + bv)
            - np.log(bv + i)
            - special.betaln(1 + i, bv)
            - special.betaln(ac, bc)
        ).sum()

    def loss_quad(ac, bc, av, bv):  # E[max(C - V, 0)] by adaptive quadrature
        def inner(x):
            return stats.beta.pdf(x, ac, bc) * (
                x * special.betainc(av, bv, x) - av / (av + bv) * special.betainc(av + 1, bv, x)
            )

        lo, hi = stats.beta.ppf([1e-15, 1 - 1e-15], ac, bc)
        return integrate.quad(
            inner, lo, hi, epsabs=1e-13, epsrel=1e-11, limit=400, points=[ac / (ac + bc)]
        )[0]

    cases = [
        (0, 30, 0, 30),
        (3, 40, 9, 38),
        (0, 1, 1, 1),
        (40, 1000, 55, 1010),
        (200, 900, 210, 850),
        (1, 3000, 4, 20),
    ]
    rows = []
    for xc, nc, xv, nv in cases:
        rows.append(
            pd.DataFrame(
                {
                    "campaign_id": "c",
                    "segment": f"{xc}/{nc} {xv}/{nv}",
                    "variant": ["control"] * nc + ["treatment"] * nv,
                    "converted": np.r_[np.arange(nc) < xc, np.arange(nv) < xv].astype(int),
                    "revenue": 0.0,
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    res = abtest.evaluate(df, segment="segment", metrics="conversion").table.set_index("segment")
    for xc, nc, xv, nv in cases:
        r = res.loc[f"{xc}/{nc} {xv}/{nv}"]
        a = (1 + xc, 1 + nc - xc, 1 + xv, 1 + nv - xv)
        np.testing.assert_allclose(r["chance_to_beat_control"], exact(*a), rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(r["expected_loss"], loss_quad(*a), rtol=1e-7, atol=1e-10)
    # Monte Carlo option: close to the exact values and reproducible (fixed seed).
    mc1 = abtest.evaluate(df, segment="segment", metrics="conversion", n_bayes_draws=40_000).table
    mc2 = abtest.evaluate(df, segment="segment", metrics="conversion", n_bayes_draws=40_000).table
    np.testing.assert_array_equal(mc1["chance_to_beat_control"], mc2["chance_to_beat_control"])
    np.testing.assert_allclose(
        mc1["chance_to_beat_control"], res["chance_to_beat_control"].to_numpy(), atol=0.01
    )
    assert "Monte Carlo" in mc1["bayes_method"].iat[0]


def test_bayes_revenue_normal_closed_form(result):
    rev = result.table[result.table["metric"] == "revenue"]
    for r in rev.itertuples():
        se = r.diff_se
        np.testing.assert_allclose(
            r.chance_to_beat_control, stats.norm.sf(0, loc=r.diff, scale=se), **TIGHT
        )
        loss = integrate.quad(
            lambda d, m=r.diff, s=se: max(-d, 0) * stats.norm.pdf(d, m, s),
            r.diff - 12 * se,
            r.diff + 12 * se,
            points=[0.0],
            epsabs=1e-12,
            limit=200,
        )[0]
        np.testing.assert_allclose(r.expected_loss, loss, rtol=1e-7)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_corrections_match_multipletests(data, method):
    tab = abtest.evaluate(data, segment="segment", correction=method).table
    for _camp, sub in tab.groupby("campaign_id"):
        expected = multipletests(sub["p_value"].to_numpy(), method=method)[1]
        np.testing.assert_allclose(sub["p_adjusted"].to_numpy(), expected, **TIGHT)
        assert (sub["family_size"] == len(sub)).all()
    none = abtest.evaluate(data, segment="segment", correction="none").table
    np.testing.assert_array_equal(none["p_adjusted"], none["p_value"])
    with pytest.raises(ABTestError, match="correction"):
        abtest.evaluate(data, correction="hs")


def test_summary_states_conventions_and_family(result):
    text = result.summary()
    for needle in (
        "Newcombe",
        "Welch",
        "unpooled",
        "delta-method",
        "Holm",
        "Beta(1,1)",
        "c1: 6 tests",
        "c2: 12 tests",
        "not winsorized",
    ):
        assert needle in text, needle


# --------------------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------------------


def test_srm_matches_scipy_chisquare():
    counts = [1040, 960, 1010]
    assert abtest.srm(counts) == pytest.approx(stats.chisquare(counts).pvalue, rel=1e-12)
    shares = [0.5, 0.25, 0.25]
    exp = np.array(shares) * sum(counts)
    assert abtest.srm(counts, shares) == pytest.approx(
        stats.chisquare(counts, exp).pvalue, rel=1e-12
    )
    assert abtest.srm({"a": 10, "b": 30}, {"b": 3, "a": 1}) == pytest.approx(1.0)


def test_srm_flagged_per_segment_and_campaign():
    df = make_exposures(
        [
            ("c", "ok", "control", 500, 0.1, 50),
            ("c", "ok", "treatment", 510, 0.1, 50),
            ("c", "bad", "control", 500, 0.1, 50),
            ("c", "bad", "treatment", 380, 0.1, 50),
        ],
        seed=2,
    )
    res = abtest.evaluate(df, segment="segment")
    tab = res.table.set_index("segment")
    p_bad = stats.chisquare([500, 380]).pvalue
    assert p_bad < 0.001
    np.testing.assert_allclose(tab.loc["bad", "srm_p_value"], p_bad, rtol=1e-10)
    assert (
        tab.loc["bad", "srm_flag"].all()
        and "sample ratio mismatch" in tab.loc["bad", "warnings"].iat[0]
    )
    np.testing.assert_allclose(
        tab.loc["ok", "srm_campaign_p_value"].iat[0], stats.chisquare([1000, 890]).pvalue
    )
    assert res.srm.set_index("segment").loc["bad", "flag"]
    # expected shares per campaign (unequal design) remove the flag
    ok = abtest.evaluate(
        df, segment="segment", expected_shares={"c": {"control": 500, "treatment": 380}}
    )
    assert ok.table.loc[ok.table["segment"] == "bad", "srm_p_value"].iat[0] == pytest.approx(1.0)


def test_degenerate_variant_missing_in_segment_and_tiny_segment():
    df = make_exposures(
        [
            ("c", "A", "control", 200, 0.1, 50),
            ("c", "A", "treatment", 200, 0.2, 50),
            ("c", "B", "control", 50, 0.1, 50),  # no treatment in B
            ("c", "one", "treatment", 1, 1.0, 50),
        ],
        seed=3,
    )  # a segment of one customer
    res = abtest.evaluate(df, segment="segment")
    tab = res.table.set_index(["segment", "metric"])
    assert (
        "variant 'treatment' has no customers in segment 'B'"
        in tab.loc[("B", "conversion"), "warnings"]
    )
    assert (
        "control 'control' has no customers in segment 'one'"
        in tab.loc[("one", "revenue"), "warnings"]
    )
    assert np.isnan(tab.loc[("B", "conversion"), "p_value"]) and np.isnan(
        tab.loc[("B", "conversion"), "p_adjusted"]
    )
    # the valid segment is untouched and the family only counts valid tests
    assert np.isfinite(tab.loc[("A", "conversion"), "p_value"]) and tab["family_size"].iat[0] == 2
    dec = res.decisions.set_index("segment")
    assert dec.loc["B", "decision"] == "keep testing" and "no customers" in dec.loc["B", "reason"]


def test_degenerate_all_zeros_gives_valid_intervals_and_explicit_nan_lift():
    df = make_exposures(
        [("c", "all", "control", 40, 0.0, 50), ("c", "all", "treatment", 45, 0.0, 50)]
    )
    tab = abtest.evaluate(df).table.set_index("metric")
    conv, rev = tab.loc["conversion"], tab.loc["revenue"]
    assert conv["p_value"] == 1.0 and rev["p_value"] == 1.0
    lo, hi = confint_proportions_2indep(0, 45, 0, 40, method="newcomb", compare="diff")
    np.testing.assert_allclose([conv["diff_ci_low"], conv["diff_ci_high"]], [lo, hi], **TIGHT)
    assert conv["diff_ci_low"] < 0 < conv["diff_ci_high"]  # a real interval, not [0, 0]
    assert np.isnan(conv["lift"]) and "lift undefined: control mean is 0" in conv["warnings"]
    assert "no conversions in either arm" in conv["warnings"]
    assert 0 < conv["chance_to_beat_control"] < 1
    cols = [c for c in tab.columns if not c.startswith("lift")]
    assert not tab[cols].isna().any().any()


def test_zero_conversions_in_one_arm_and_small_groups():
    df = pd.DataFrame(
        {
            "campaign_id": "c",
            "variant": ["control"] * 20 + ["treatment"] * 25,
            "converted": [0] * 20 + [1] * 3 + [0] * 22,
            "revenue": 0.0,
        }
    )
    r = abtest.evaluate(df, metrics="conversion").table.iloc[0]
    assert "no conversions in control" in r["warnings"] and "small groups" in r["warnings"]
    assert "expected conversions" in r["warnings"]
    lo, hi = confint_proportions_2indep(3, 25, 0, 20, method="newcomb", compare="diff")
    np.testing.assert_allclose([r["diff_ci_low"], r["diff_ci_high"]], [lo, hi], **TIGHT)


def test_control_missing_is_a_clear_error(data):
    bad = data[~((data["campaign_id"] == "c2") & (data["variant"] == "control"))]
    with pytest.raises(
        ABTestError,
        match=r"notebooks.04_campaign_ab.control: 'control' is not a variant of campaign 'c2'; "
        r"its variants are 'offer_a', 'offer_b'",
    ) as err:
        abtest.evaluate(bad)
    assert "Pass control" not in str(err.value) and "=" not in str(err.value)
    with pytest.raises(ABTestError, match="only the control"):
        abtest.evaluate(data[data["variant"] == "control"])


def test_bad_input_errors(data):
    with pytest.raises(SchemaError, match="revenue"):
        abtest.evaluate(data.drop(columns="revenue"))
    nan = data.assign(converted=data["converted"].astype(float))
    nan.loc[5, "converted"] = np.nan
    with pytest.raises(ABTestError, match="converted.*1 missing"):
        abtest.evaluate(nan)
    with pytest.raises(ABTestError, match="0/1"):
        abtest.evaluate(data.assign(converted=data["converted"] * 2))
    with pytest.raises(ABTestError, match="metrics"):
        abtest.evaluate(data, metrics=("clicks",))
    with pytest.raises(ABTestError, match="winsorize"):
        abtest.evaluate(data, winsorize=5)
    # revenue-only evaluation does not need the converted column
    assert set(
        abtest.evaluate(data.drop(columns="converted"), metrics="revenue").table["metric"]
    ) == {"revenue"}


def test_missing_segment_values_are_their_own_segment(data):
    df = data.assign(segment=data["segment"].where(data.index % 7 != 0))
    tab = abtest.evaluate(df, segment="segment").table
    assert "(missing)" in set(tab["segment"])
    assert (
        tab.groupby(["campaign_id", "metric", "variant"])["n_variant"]
        .sum()
        .loc[("c1", "conversion", "treatment")]
        == 1260
    )


# --------------------------------------------------------------------------------------
# CUPED and winsorization
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuped_data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 1500
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    pre = rng.gamma(2.0, 50.0, n)
    treat = variant == "treatment"
    revenue = 20 + 0.8 * pre + 8 * treat + rng.normal(0, 30, n)
    conv = (rng.random(n) < 0.05 + 0.002 * pre + 0.03 * treat).astype(int)
    return pd.DataFrame(
        {
            "campaign_id": "c",
            "variant": variant,
            "converted": conv,
            "revenue": revenue,
            "pre_revenue": pre,
        }
    )


def test_cuped_equals_regression_adjustment(cuped_data):
    res = abtest.evaluate(cuped_data, pre_metric="pre_revenue").table.set_index("metric")
    df = cuped_data.assign(treat=(cuped_data["variant"] == "treatment").astype(float))
    for metric, col in (("conversion", "converted"), ("revenue", "revenue")):
        r = res.loc[metric]
        ols = smf.ols(f"{col} ~ treat + pre_revenue", data=df).fit()
        np.testing.assert_allclose(r["cuped_diff"], ols.params["treat"], rtol=1e-9)
        np.testing.assert_allclose(r["cuped_theta"], ols.params["pre_revenue"], rtol=1e-9)
        adj = df[col] - ols.params["pre_revenue"] * (df["pre_revenue"] - df["pre_revenue"].mean())
        a_c, a_v = adj[df["treat"] == 0].to_numpy(), adj[df["treat"] == 1].to_numpy()
        if metric == "revenue":
            t = stats.ttest_ind(a_v, a_c, equal_var=False)
            ci = t.confidence_interval(0.95)
            np.testing.assert_allclose(
                [r["cuped_ci_low"], r["cuped_ci_high"], r["cuped_p_value"]],
                [ci.low, ci.high, t.pvalue],
                rtol=1e-8,
            )
            width_u = r["diff_ci_high"] - r["diff_ci_low"]
        else:  # Wald z on the adjusted outcome, variances with ddof=0 as the unadjusted Wald test
            se = np.sqrt(np.var(a_v) / len(a_v) + np.var(a_c) / len(a_c))
            z = stats.norm.isf(0.025)
            np.testing.assert_allclose(
                [r["cuped_ci_low"], r["cuped_ci_high"]],
                [ols.params["treat"] - z * se, ols.params["treat"] + z * se],
                rtol=1e-8,
            )
            np.testing.assert_allclose(
                r["cuped_p_value"], 2 * stats.norm.sf(abs(ols.params["treat"]) / se), rtol=1e-8
            )
            width_u = 2 * z * r["diff_se"]
        width_a = r["cuped_ci_high"] - r["cuped_ci_low"]
        np.testing.assert_allclose(r["ci_width_reduction"], 1 - width_a / width_u, rtol=1e-9)
    assert res.loc["revenue", "ci_width_reduction"] > 0.5  # strong pre-period correlation
    assert res.loc["conversion", "ci_width_reduction"] > 0.02


def test_winsorization_caps_at_campaign_quantile(data):
    res = abtest.evaluate(data, segment="segment", winsorize=0.95)
    caps = data.groupby("campaign_id")["revenue"].quantile(0.95)
    assert res.settings["caps"] == pytest.approx(caps.to_dict(), rel=1e-12)
    capped = data.assign(revenue=np.minimum(data["revenue"], data["campaign_id"].map(caps)))
    plain = abtest.evaluate(capped, segment="segment").table
    rev, ref = res.table[res.table["metric"] == "revenue"], plain[plain["metric"] == "revenue"]
    np.testing.assert_allclose(
        rev[["diff", "diff_ci_low", "p_value"]].to_numpy(),
        ref[["diff", "diff_ci_low", "p_value"]].to_numpy(),
        **TIGHT,
    )
    assert "winsorized at the 0.95 quantile" in rev["method"].iat[0]
    assert rev["winsorized_at"].iat[0] == pytest.approx(caps[rev["campaign_id"].iat[0]])
    assert "winsorized at the 0.95 quantile" in res.summary()


def test_ibis_input_gives_the_same_table(data):
    kwargs = {"segment": "segment", "pre_metric": "pre_revenue", "winsorize": 0.97}
    a = abtest.evaluate(data, **kwargs).table
    b = abtest.evaluate(ibis.memtable(data), **kwargs).table
    pd.testing.assert_frame_equal(
        a[["campaign_id", "segment", "variant", "metric", "warnings"]],
        b[["campaign_id", "segment", "variant", "metric", "warnings"]],
    )
    num = a.select_dtypes("number").columns
    np.testing.assert_allclose(
        b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize("engine", ["pandas", "ibis"])
def test_segmentations_from_one_aggregation_equal_separate_evaluations(data, engine):
    """evaluate_segmentations sums the cells of every combination up to each column: the same
    tables (and cells) as one evaluate() per column, with CUPED and winsorization."""
    rng = np.random.default_rng(3)
    df = data.assign(
        tier=rng.choice(["gold", "silver"], len(data)),
        region=pd.array(rng.choice(["N", "S", None], len(data)), dtype="string"),
    )
    t = ibis.memtable(df) if engine == "ibis" else df
    kwargs = {"pre_metric": "pre_revenue", "winsorize": 0.97, "control": "control"}
    overall, by = abtest.evaluate_segmentations(t, ["segment", "tier", "region"], **kwargs)
    assert list(by) == ["segment", "tier", "region"]
    for col, res in [(None, overall), *by.items()]:
        ref = abtest.evaluate(t, segment=col, **kwargs)
        text = ["campaign_id", "segment", "variant", "metric", "warnings", "method"]
        pd.testing.assert_frame_equal(res.table[text], ref.table[text])
        num = ref.table.select_dtypes("number").columns
        np.testing.assert_allclose(
            res.table[num].to_numpy(float), ref.table[num].to_numpy(float), rtol=1e-9, atol=1e-12
        )
        assert list(res.cells.columns) == list(ref.cells.columns)
        assert res.settings.keys() == ref.settings.keys()
        assert res.settings["segment"] == col


# --------------------------------------------------------------------------------------
# Heterogeneity
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric,col", [("conversion", "converted"), ("revenue", "revenue")])
def test_heterogeneity_matches_ols_hc2_wald(data, metric, col):
    het = abtest.heterogeneity(data, segment="segment", metric=metric).set_index(
        ["campaign_id", "variant"]
    )
    for (camp, var), r in het.iterrows():
        sub = data[(data["campaign_id"] == camp) & data["variant"].isin(["control", var])]
        sub = sub.assign(treat=(sub["variant"] == var).astype(float))
        fit = smf.ols(f"{col} ~ treat * C(segment)", data=sub).fit(cov_type="HC2")
        names = [n for n in fit.params.index if ":" in n]
        R = np.zeros((len(names), len(fit.params)))
        for i, n in enumerate(names):
            R[i, list(fit.params.index).index(n)] = 1
        chi = fit.wald_test(R, use_f=False, scalar=True)
        f = fit.wald_test(R, use_f=True, scalar=True)
        np.testing.assert_allclose(
            [r["chi2"], r["p_value"]], [chi.statistic, chi.pvalue], rtol=1e-9
        )
        np.testing.assert_allclose(
            [r["f_stat"], r["f_p_value"], r["df_denom"]],
            [f.statistic, f.pvalue, f.df_denom],
            rtol=1e-9,
        )
        assert r["df"] == len(names) == 2
    # a planted interaction is detected (c1: +4pp, 0, -5pp); a null one is not flagged by construction
    assert het.loc[("c1", "treatment"), "p_value"] < 0.05 or metric == "revenue"


def test_heterogeneity_excludes_tiny_segments_and_matches_result_method(data, result):
    df = pd.concat(
        [data, data.iloc[:1].assign(segment="tiny", variant="treatment", campaign_id="c1")]
    )
    het = abtest.heterogeneity(df, segment="segment")
    assert het.set_index(["campaign_id", "variant"]).loc[("c1", "treatment"), "excluded"] == "tiny"
    pd.testing.assert_frame_equal(
        abtest.heterogeneity(data, segment="segment"), result.heterogeneity()
    )


# --------------------------------------------------------------------------------------
# Decisions and plot
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def decision_data() -> pd.DataFrame:
    cells = [
        ("c", "win", "control", 3000, 0.10, 100),
        ("c", "win", "treatment", 3000, 0.16, 100),
        ("c", "lose", "control", 3000, 0.10, 100),
        ("c", "lose", "treatment", 3000, 0.05, 100),
        ("c", "flat", "control", 300, 0.10, 100),
        ("c", "flat", "treatment", 300, 0.10, 100),
    ]
    return make_exposures(cells, seed=4)


def test_decisions(decision_data):
    res = abtest.evaluate(decision_data, segment="segment")
    dec = res.decisions.set_index("segment")
    assert dec.loc["win", "decision"] == "roll out"
    assert dec.loc["lose", "decision"] == "stop"
    assert dec.loc["flat", "decision"] == "keep testing"
    assert "Holm" in dec.loc["win", "reason"] and "above" in dec.loc["win", "reason"]
    conv = res.table[res.table["metric"] == "conversion"].set_index("segment")
    rev = res.table[res.table["metric"] == "revenue"].set_index("segment")
    for seg in ("win", "lose", "flat"):
        size = (decision_data["segment"] == seg).sum()
        assert dec.loc[seg, "segment_size"] == size
        np.testing.assert_allclose(
            dec.loc[
                seg,
                [
                    "incremental_conversions",
                    "incremental_conversions_ci_low",
                    "incremental_conversions_ci_high",
                ],
            ].to_numpy(float),
            size * conv.loc[seg, ["diff", "diff_ci_low", "diff_ci_high"]].to_numpy(float),
        )
        np.testing.assert_allclose(dec.loc[seg, "incremental_revenue"], size * rev.loc[seg, "diff"])
    # a high bar for the useful effect turns "roll out" into "keep testing" / "stop"
    high = abtest.decide(res, min_lift=2.0).set_index("segment")
    assert (
        high.loc["win", "decision"] == "stop"
        and "minimum useful effect" in high.loc["win", "reason"]
    )
    sized = abtest.decide(res, segment_sizes={"win": 10_000, "lose": 1, "flat": 5})
    assert sized.set_index("segment").loc["win", "incremental_conversions"] == pytest.approx(
        10_000 * conv.loc["win", "diff"]
    )
    with pytest.raises(ABTestError, match="segment_sizes"):
        abtest.decide(res, segment_sizes={"win": 1})


def test_decide_with_cuped_uses_adjusted_interval(cuped_data):
    res = abtest.evaluate(cuped_data, pre_metric="pre_revenue")
    dec = abtest.decide(res, metric="revenue", use_cuped=True).iloc[0]
    r = res.table[res.table["metric"] == "revenue"].iloc[0]
    assert dec["decision"] == "roll out"  # +8 with a CUPED interval well above 0
    assert "CUPED" in dec["reason"]
    np.testing.assert_allclose(
        dec["incremental_revenue_ci_low"], len(cuped_data) * r["cuped_ci_low"]
    )


def _segment_campaigns(n_campaigns, effects, *, n_arm=300, base=0.2, seed=0) -> pd.DataFrame:
    """Simulated campaigns with known truth, built in one vectorised draw: each campaign has
    len(effects) segments of n_arm control + n_arm treatment customers; conversion is base in
    the control and base + effects[segment] in the treatment."""
    rng = np.random.default_rng(seed)
    n_seg = len(effects)
    camp = np.repeat(np.arange(n_campaigns), n_seg * 2 * n_arm)
    seg = np.tile(np.repeat(np.arange(n_seg), 2 * n_arm), n_campaigns)
    arm = np.tile(np.repeat([0, 1], n_arm), n_campaigns * n_seg)
    p = base + arm * np.asarray(effects, dtype=float)[seg]
    return pd.DataFrame(
        {
            "campaign_id": pd.array(np.char.add("k", camp.astype(str)), dtype="str"),
            "segment": pd.array(np.char.add("s", seg.astype(str)), dtype="str"),
            "variant": pd.array(np.where(arm == 1, "treatment", "control"), dtype="str"),
            "converted": (rng.random(camp.size) < p).astype(np.int64),
        }
    )


N_SIM = 500
MC_SLACK = 2 * np.sqrt(0.05 * 0.95 / N_SIM)  # two Monte-Carlo standard errors at alpha = 0.05


def test_stop_is_corrected_like_roll_out_in_aa_campaigns():
    """Known truth: 500 A/A campaigns (no effect), 8 segments each, Holm, alpha = 0.05. The
    share of campaigns where any segment is stopped must stay at or below alpha. The old rule
    (stop when the uncorrected 95 % interval lies below zero) stopped some segment in about
    1 - 0.975^8 = 18 % of the campaigns (17.4 % in this simulation, new rule 2.6 %), computed
    inline below."""
    df = _segment_campaigns(N_SIM, [0.0] * 8, seed=21)
    res = abtest.evaluate(df, segment="segment", metrics=["converted"])
    dec = abtest.decide(res)
    any_stop = (dec["decision"] == "stop").groupby(dec["campaign_id"]).any()
    assert len(any_stop) == N_SIM
    assert any_stop.mean() <= 0.05 + MC_SLACK
    t = res.table
    old = (t["diff_ci_high"] < 0) | ((t["p_adjusted"] < 0.05) & (t["diff"] < 0))
    assert old.groupby(t["campaign_id"]).any().mean() > 0.12  # the old rule: far above alpha
    # with a minimum of zero the stop test is the roll-out test: the same adjusted p-values
    np.testing.assert_allclose(dec["stop_p_adjusted"], dec["p_adjusted"], **TIGHT)


def test_stop_against_a_minimum_useful_effect_is_corrected_and_matches_an_oracle():
    """Known truth: every segment's effect equals the minimum useful effect (+3 pp), the boundary
    of "not below it"; stopping any segment is then an error and must stay at or below alpha.
    The adjusted p-values equal statsmodels' Holm over hand-computed Wald z-tests against +3 pp."""
    df = _segment_campaigns(N_SIM, [0.03] * 8, seed=22)
    res = abtest.evaluate(df, segment="segment", metrics=["converted"])
    dec = abtest.decide(res, min_effect=0.03)
    any_stop = (dec["decision"] == "stop").groupby(dec["campaign_id"]).any()
    assert any_stop.mean() <= 0.05 + MC_SLACK
    old = (dec["diff_ci_high"] < 0.03).groupby(dec["campaign_id"]).any()
    assert old.mean() > 0.12  # the uncorrected interval below the minimum: far above alpha
    one = dec[dec["campaign_id"] == "k7"]
    pc, pv = one["control_mean"].to_numpy(), one["variant_mean"].to_numpy()
    nc, nv = one["n_control"].to_numpy(), one["n_variant"].to_numpy()
    z = (pv - pc - 0.03) / np.sqrt(pc * (1 - pc) / nc + pv * (1 - pv) / nv)
    expected = multipletests(2 * stats.norm.sf(np.abs(z)), method="holm")[1]
    np.testing.assert_allclose(one["stop_p_adjusted"], expected, **TIGHT)


def test_stop_has_power_for_a_large_harm_and_spares_the_null_segment_beside_it():
    """Known truth: segment s0 loses 12 pp (20 % -> 8 %), the 7 others have no effect. s0 is
    stopped in most of 500 simulated campaigns; s1, a null segment beside it, rarely."""
    df = _segment_campaigns(N_SIM, [-0.12] + [0.0] * 7, seed=23)
    dec = abtest.decide(abtest.evaluate(df, segment="segment", metrics=["converted"]))
    stopped = (dec["decision"] == "stop").groupby(dec["segment"]).mean()
    assert stopped["s0"] >= 0.8
    assert stopped["s1"] <= 0.025 + MC_SLACK / 2
    null_stop = ((dec["segment"] != "s0") & (dec["decision"] == "stop")).groupby(dec["campaign_id"])
    assert null_stop.any().mean() <= 0.05 + MC_SLACK  # any of the 7 null segments


def test_rollout_at_the_minimum_useful_effect_is_corrected_and_matches_an_oracle():
    """Known truth: every segment's effect equals the minimum useful effect (+3 pp), the boundary
    of "above it"; rolling out any segment is then an error and must stay at or below alpha
    (500 campaigns x 8 segments, Holm). The old rule (adjusted p against zero < alpha, positive,
    uncorrected interval above the minimum) is computed inline: it rolls out some segment far
    more often. The adjusted p-values equal statsmodels' Holm over hand-computed Wald z-tests
    against +3 pp, and the roll-out and the stop rest on the same p-value."""
    df = _segment_campaigns(N_SIM, [0.03] * 8, seed=24)
    res = abtest.evaluate(df, segment="segment", metrics=["converted"])
    dec = abtest.decide(res, min_effect=0.03)
    any_roll = (dec["decision"] == "roll out").groupby(dec["campaign_id"]).any()
    assert len(any_roll) == N_SIM
    assert any_roll.mean() <= 0.05 + MC_SLACK
    old = (dec["p_adjusted"] < 0.05) & (dec["diff"] > 0) & (dec["diff_ci_low"] > 0.03)
    old_rate = old.groupby(dec["campaign_id"]).any().mean()
    assert old_rate > 0.10 and old_rate > any_roll.mean() + 2 * MC_SLACK
    one = dec[dec["campaign_id"] == "k3"]
    pc, pv = one["control_mean"].to_numpy(), one["variant_mean"].to_numpy()
    nc, nv = one["n_control"].to_numpy(), one["n_variant"].to_numpy()
    z = (pv - pc - 0.03) / np.sqrt(pc * (1 - pc) / nc + pv * (1 - pv) / nv)
    expected = multipletests(2 * stats.norm.sf(np.abs(z)), method="holm")[1]
    np.testing.assert_allclose(one["rollout_p_adjusted"], expected, **TIGHT)
    np.testing.assert_array_equal(dec["rollout_p_adjusted"], dec["stop_p_adjusted"])
    cols = list(dec.columns)
    assert cols.index("stop_p_adjusted") == cols.index("rollout_p_adjusted") + 1


def test_rollout_has_power_well_above_the_minimum_and_spares_segments_at_it():
    """Known truth: segment s0 gains 18 pp (20 % -> 38 %), 15 pp above the minimum useful effect
    of 3 pp; the 7 others gain exactly the minimum. s0 is rolled out in most of 500 campaigns;
    some segment at the minimum in at most alpha (+ 2 Monte-Carlo SE) of them."""
    df = _segment_campaigns(N_SIM, [0.18] + [0.03] * 7, seed=25)
    dec = abtest.decide(
        abtest.evaluate(df, segment="segment", metrics=["converted"]), min_effect=0.03
    )
    rolled = (dec["decision"] == "roll out").groupby(dec["segment"]).mean()
    assert rolled["s0"] >= 0.8
    at_min = ((dec["segment"] != "s0") & (dec["decision"] == "roll out")).groupby(
        dec["campaign_id"]
    )
    assert at_min.any().mean() <= 0.05 + MC_SLACK


def test_rollout_without_a_minimum_is_todays_rule_exactly():
    """With no minimum useful effect (min_lift = 0, or min_effect = 0) the roll-out is exactly
    "adjusted p against zero < alpha and a positive difference", on the very same p-values."""
    df = _segment_campaigns(200, [0.0, 0.02, 0.05, 0.08, -0.05, 0.0, 0.1, 0.03], seed=26)
    res = abtest.evaluate(df, segment="segment", metrics=["converted"])
    for dec in (abtest.decide(res), abtest.decide(res, min_effect=0.0)):
        np.testing.assert_array_equal(dec["rollout_p_adjusted"], dec["p_adjusted"])
        today = (dec["p_adjusted"] < 0.05) & (dec["diff"] > 0)
        assert 0 < today.sum() < len(dec)  # both outcomes occur
        np.testing.assert_array_equal(dec["decision"] == "roll out", today)


def test_forest_plot(result):
    ax = plots.forest_plot(result.table, metric="conversion", campaign="c2")
    rows = result.table[
        (result.table["metric"] == "conversion") & (result.table["campaign_id"] == "c2")
    ]
    assert len(ax.get_yticks()) == len(rows) == 6
    xs = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in ax.lines])
    # by default the difference in percentage points with the decisions' (Newcombe) interval
    assert set(np.round(100 * rows["diff"], 9)) <= set(np.round(xs, 9))
    ends = np.concatenate(
        [np.asarray(c.get_segments(), dtype=float)[:, :, 0].ravel() for c in ax.collections]
    )
    assert set(np.round(100 * rows["diff_ci_low"], 9)) <= set(np.round(ends, 9))
    assert "percentage points" in ax.get_xlabel()
    plt.close(ax.figure)
    ax = plots.forest_plot(result.table, metric="conversion", campaign="c2", scale="lift")
    xs = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in ax.lines])
    assert set(np.round(rows["lift"], 12)) <= set(np.round(xs, 12))
    assert "lift" in ax.get_xlabel()
    plt.close(ax.figure)
    with pytest.raises(ABTestError):
        plots.forest_plot(result.table, metric="conversion", campaign="nope")


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "baseline,lift", [(0.05, 0.10), (0.10, 0.20), (0.30, -0.10), (0.02, 0.5), (0.5, 0.05)]
)
def test_sample_size_against_normal_ind_power(baseline, lift):
    n = abtest.sample_size(baseline, lift, power=0.8, alpha=0.05)
    p2 = baseline * (1 + lift)
    es = abs(p2 - baseline) / np.sqrt((baseline * (1 - baseline) + p2 * (1 - p2)) / 2)
    oracle = NormalIndPower()
    assert n == int(np.ceil(oracle.solve_power(effect_size=es, alpha=0.05, power=0.8)))
    assert oracle.power(es, n, 0.05) >= 0.8 > oracle.power(es, n - 1, 0.05)
    # absolute mde form
    assert abtest.sample_size(baseline, p2 - baseline, relative=False) == n


def test_sample_size_for_means_and_mde_inverse():
    es = 25 / 400
    n = abtest.sample_size(250, 0.1, sd=400, power=0.9, alpha=0.01)
    assert n == int(np.ceil(NormalIndPower().solve_power(effect_size=es, alpha=0.01, power=0.9)))
    for baseline, n_arm in ((0.05, 5000), (0.2, 800), (0.01, 20000)):
        rel = abtest.mde(baseline, n_arm)
        assert abtest.sample_size(baseline, rel) == n_arm
        p2 = baseline * (1 + rel)
        es = (p2 - baseline) / np.sqrt((baseline * (1 - baseline) + p2 * (1 - p2)) / 2)
        assert NormalIndPower().power(es, n_arm, 0.05) == pytest.approx(0.8, abs=1e-5)
    d = abtest.mde(250, 1000, sd=400, relative=False)
    assert NormalIndPower().power(d / 400, 1000, 0.05) == pytest.approx(0.8, abs=1e-5)
    assert abtest.mde(0.5, 2) == np.inf  # nothing detectable with 2 per arm
    with pytest.raises(ABTestError):
        abtest.sample_size(0.9, 0.2)


def test_plan(result):
    pl = abtest.plan(result, power=0.8, target_lift=0.2)
    conv = pl[pl["metric"] == "conversion"].iloc[0]
    k = stats.norm.isf(0.025) + stats.norm.ppf(0.8)
    p, d, nc, nv = conv["baseline"], conv["mde_abs"], conv["n_control"], conv["n_variant"]
    # the MDE solves d = k * sqrt(p q / n_c + (p + d)(q - d) / n_v)
    assert d == pytest.approx(k * np.sqrt(p * (1 - p) / nc + (p + d) * (1 - p - d) / nv), rel=1e-10)
    assert conv["n_per_arm_needed"] == abtest.sample_size(p, 0.2)
    rev = pl[pl["metric"] == "revenue"].iloc[0]
    assert rev["mde_abs"] == pytest.approx(
        k * rev["control_sd"] * np.sqrt(1 / rev["n_control"] + 1 / rev["n_variant"])
    )
    assert rev["n_per_arm_needed"] == abtest.sample_size(rev["baseline"], 0.2, sd=rev["control_sd"])


def test_planner_widget_updates():
    box = planner.sample_size_planner(baseline=0.05, mde_value=0.1)
    sliders = {
        c.description: c for c in box.children if hasattr(c, "description") and c.description
    }
    out = box.children[-1]
    before = out.value
    assert f"{abtest.sample_size(0.05, 0.1):,} customers per arm" in before
    sliders["min. detectable lift"].value = 0.2
    assert out.value != before
    assert f"{abtest.sample_size(0.05, 0.2):,} customers per arm" in out.value
    sliders["power"].value = 0.9
    assert f"{abtest.sample_size(0.05, 0.2, power=0.9):,}" in out.value
    assert out.value == planner.planner_text(0.05, 0.2, 0.9, 0.05, True)
    assert "strictly between" in planner.planner_text(0.9, 0.5, 0.8, 0.05)


# --------------------------------------------------------------------------------------
# Simulation: interval coverage with known truth; the demo's planted effects
# --------------------------------------------------------------------------------------


def test_interval_coverage_simulation():
    """1,000 independent experiments (as 1,000 segments of one call): the 95% intervals of the
    difference and of the lift cover the true effect in 93-97% of them."""
    rng = np.random.default_rng(2024)
    reps, n = 1000, 300
    pc, pv = 0.30, 0.36
    mu_c, mu_v, sigma = np.log(50.0), np.log(55.0), 0.5
    seg = np.repeat(np.arange(reps), 2 * n)
    treat = np.tile(np.r_[np.zeros(n, bool), np.ones(n, bool)], reps)
    conv = rng.random(len(seg)) < np.where(treat, pv, pc)
    pre = rng.gamma(2.0, 20.0, len(seg))
    value = (
        np.exp(np.where(treat, mu_v, mu_c) + sigma * rng.standard_normal(len(seg)))
        * (pre / 40) ** 0.5
    )
    df = pd.DataFrame(
        {
            "campaign_id": "sim",
            "segment": seg,
            "variant": np.where(treat, "treatment", "control"),
            "converted": conv.astype(int),
            "revenue": conv * value,
            "pre_revenue": pre,
        }
    )
    tab = abtest.evaluate(df, segment="segment", pre_metric="pre_revenue").table
    ev_sqrt = stats.gamma(2.0, scale=20.0).expect(lambda x: np.sqrt(x / 40))  # E[(pre/40)^0.5]
    m = np.exp(sigma**2 / 2) * ev_sqrt
    truth = {
        "conversion": (pv - pc, pv / pc - 1),
        "revenue": (
            pv * np.exp(mu_v) * m - pc * np.exp(mu_c) * m,
            pv * np.exp(mu_v) / (pc * np.exp(mu_c)) - 1,
        ),
    }
    for metric, (d, lift) in truth.items():
        t = tab[tab["metric"] == metric]
        assert len(t) == reps
        cover = ((t["diff_ci_low"] <= d) & (d <= t["diff_ci_high"])).mean()
        assert 0.93 <= cover <= 0.97, (metric, "diff", cover)
        cover = ((t["lift_ci_low"] <= lift) & (lift <= t["lift_ci_high"])).mean()
        assert 0.93 <= cover <= 0.97, (metric, "lift", cover)
        cover = ((t["cuped_ci_low"] <= d) & (d <= t["cuped_ci_high"])).mean()
        assert 0.93 <= cover <= 0.97, (metric, "cuped", cover)
    assert (tab.loc[tab["metric"] == "revenue", "ci_width_reduction"] > 0).mean() > 0.9


@pytest.fixture(scope="module")
def demo_data():
    demo = pytest.importorskip("segwork.demo")
    d = demo.generate(20_000, seed=11)
    e = d.campaign_exposures.merge(
        d.truth_customers[["customer_id", "persona"]], on="customer_id", how="left"
    )
    return e, pd.DataFrame(d.truth["campaign_effects"])


def test_demo_planted_effects_recovered(demo_data):
    exposures, effects = demo_data
    k = 2 * len(effects)  # conversion and revenue interval per campaign x variant x persona
    res = abtest.evaluate(
        exposures, segment="persona", alpha=0.05 / k
    )  # simultaneous (Bonferroni) level
    tab = res.table.set_index(["campaign_id", "variant", "segment", "metric"])
    for e in effects.itertuples():
        for metric, truth in (
            ("conversion", e.true_effect_conversion),
            ("revenue", e.true_effect_revenue_per_customer),
        ):
            r = tab.loc[(e.campaign_id, e.variant, e.persona, metric)]
            assert r["diff_ci_low"] <= truth <= r["diff_ci_high"], (
                e.campaign_id,
                e.variant,
                e.persona,
                metric,
            )
    assert not res.table["srm_flag"].any()
    # the newsletter's effect differs by persona (+6pp .. -3pp): the interaction test sees it
    het = abtest.heterogeneity(exposures, segment="persona").set_index(["campaign_id", "variant"])
    assert het.loc[("autumn_newsletter", "treatment"), "p_value"] < 0.05


# --------------------------------------------------------------------------------------
# Any outcome column as a metric (a Hillstrom-shaped e-mail test)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def email_test() -> pd.DataFrame:
    """Shaped as Kevin Hillstrom's MineThatData e-mail test: one campaign, arms 'Mens E-Mail',
    'Womens E-Mail', 'No E-Mail'; outcomes visit and conversion (0/1) and spend (dollars, 0 for
    almost everyone); pre-period columns recency, history, history_segment, zip_code, channel."""
    rng = np.random.default_rng(2008)
    n = 24000
    arm = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    p_visit = np.select([arm == "Mens E-Mail", arm == "Womens E-Mail"], [0.18, 0.15], 0.106)
    visit = (rng.random(n) < p_visit).astype(np.int64)
    conv = (visit & (rng.random(n) < np.where(arm == "No E-Mail", 0.054, 0.08))).astype(np.int64)
    history = np.round(rng.lognormal(5, 1, n) + 29.99, 2)
    bands = ["1) $0 - $100", "2) $100 - $200", "3) $200 - $350", "4) $350 +"]
    return pd.DataFrame(
        {
            "customer_id": [f"H{i:05d}" for i in range(n)],
            "campaign_id": "email_2008",
            "variant": arm,
            "recency": rng.integers(1, 13, n),
            "history": history,
            "history_segment": np.asarray(bands)[np.searchsorted([100, 200, 350], history)],
            "zip_code": rng.choice(["Surburban", "Urban", "Rural"], n, p=[0.45, 0.4, 0.15]),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
            "newbie": rng.integers(0, 2, n),
            "visit": visit,
            "conversion": conv,
            "spend": np.round(conv * rng.gamma(2.0, 60.0, n), 2),
        }
    )


def test_outcome_columns_as_metrics_against_statsmodels_and_scipy(email_test):
    df = email_test
    res = abtest.evaluate(df, control="No E-Mail", metrics=["visit", "conversion", "spend"])
    assert res.settings["metric_kinds"] == {
        "visit": "binary",
        "conversion": "binary",
        "spend": "money",  # inferred: not 0/1, and the name says it is an amount
    }
    assert res.primary_metric == "visit" and res.value_metric == "spend"
    tab = res.table.set_index(["variant", "metric"])
    for var in ("Mens E-Mail", "Womens E-Mail"):
        c = df[df["variant"] == "No E-Mail"]
        v = df[df["variant"] == var]
        for m in ("visit", "conversion"):
            r = tab.loc[(var, m)]
            xc, xv = int(c[m].sum()), int(v[m].sum())
            stat, p = smp.test_proportions_2indep(
                xv, len(v), xc, len(c), method="wald", compare="diff"
            )
            lo, hi = confint_proportions_2indep(
                xv, len(v), xc, len(c), method="newcomb", compare="diff"
            )
            np.testing.assert_allclose(
                [r["diff"], r["p_value"], r["diff_ci_low"], r["diff_ci_high"]],
                [xv / len(v) - xc / len(c), p, lo, hi],
                **TIGHT,
            )
        r = tab.loc[(var, "spend")]
        welch = stats.ttest_ind(v["spend"], c["spend"], equal_var=False)
        ci = welch.confidence_interval(0.95)
        np.testing.assert_allclose(
            [r["p_value"], r["diff_ci_low"], r["diff_ci_high"]],
            [welch.pvalue, ci.low, ci.high],
            **TIGHT,
        )
        assert r["method"].startswith("Welch")


def test_metric_kinds_declared_and_the_same_in_ibis(email_test):
    kinds = {"visit": "binary", "spend": "numeric", "recency": "mean"}
    a = abtest.evaluate(email_test, control="No E-Mail", metrics=kinds, segment="zip_code")
    assert a.settings["metric_kinds"] == {
        "visit": "binary",
        "spend": "numeric",
        "recency": "numeric",
    }
    b = abtest.evaluate(
        ibis.memtable(email_test), control="No E-Mail", metrics=kinds, segment="zip_code"
    )
    num = a.table.select_dtypes("number").columns
    np.testing.assert_allclose(
        b.table[num].to_numpy(float), a.table[num].to_numpy(float), rtol=1e-8
    )
    assert list(a.table["metric_kind"].unique()) == ["binary", "numeric"]
    # interaction test of a numeric metric: the same closed form, stated as OLS (not LPM)
    het = a.heterogeneity("spend")
    assert "linear probability" not in het["method"].iat[0]
    with pytest.raises(ABTestError, match="declare it as numeric"):
        abtest.evaluate(email_test, control="No E-Mail", metrics={"recency": "binary"})
    with pytest.raises(ABTestError, match="unknown type 'count'"):
        abtest.evaluate(email_test, control="No E-Mail", metrics={"visit": "count"})
    with pytest.raises(ABTestError, match="must hold numbers"):
        abtest.evaluate(email_test, control="No E-Mail", metrics=["channel"])


def test_winsorizing_and_cuped_apply_to_any_numeric_metric(email_test):
    res = abtest.evaluate(
        email_test,
        control="No E-Mail",
        metrics={"visit": "binary", "spend": "money"},
        winsorize=0.999,
        pre_metric="history",
    )
    cap = email_test["spend"].quantile(0.999)
    assert res.settings["caps_by_metric"] == {"spend": {"email_2008": pytest.approx(cap)}}
    spend = res.table[res.table["metric"] == "spend"]
    np.testing.assert_allclose(spend["winsorized_at"].to_numpy(float), cap, rtol=1e-12)
    assert spend["method"].str.contains("winsorized at the 0.999 quantile").all()
    assert res.table.loc[res.table["metric"] == "visit", "winsorized_at"].isna().all()
    assert "spend winsorized at the 0.999 quantile" in res.summary()
    assert page.cuped_text(res).startswith(
        "Adjusting for the pre-period column 'history' (CUPED, regression adjustment) barely "
        "changes the intervals"  # history is independent of the outcomes in this simulation
    )
    plain = abtest.evaluate(email_test, control="No E-Mail", metrics=["visit"])
    assert page.cuped_text(plain) == ""  # no pre-period column: no CUPED sentence


# --------------------------------------------------------------------------------------
# setup_problems: what `segwork validate` reports for notebook 04
# --------------------------------------------------------------------------------------


def test_setup_problems_in_the_config_words(email_test):
    df = email_test.assign(spend_text=email_test["spend"].astype(str))
    df.loc[3, "visit"] = 2
    probs = abtest.setup_problems(
        df,
        control="control",
        metrics={"visit": "binary", "clicks": None, "spend_text": "numeric", "spend": "money"},
        segment_columns=["persona", "zip_code"],
        customer_columns=["customer_id"],
        pre_metric="pre_revenue",
        decide_on="conversion",
    )
    assert probs[0] == (
        "notebooks.04_campaign_ab.control: 'control' is not a variant of campaign 'email_2008'; "
        "its variants are 'Mens E-Mail', 'No E-Mail', 'Womens E-Mail'. "
        "Fix: set notebooks.04_campaign_ab.control: 'No E-Mail'"
    )
    text = "\n".join(probs)
    assert (
        "notebooks.04_campaign_ab.metrics: 'clicks' is not a column of campaign_exposures" in text
    )
    assert "column 'spend_text': outcome 'spend_text' must hold numbers" in text
    assert "notebooks.04_campaign_ab.metrics.visit: declared binary, but column 'visit'" in text
    assert "1 values other than 0/1" in text
    assert "notebooks.04_campaign_ab.decide_on: 'conversion' is not one of the metrics" in text
    assert "notebooks.04_campaign_ab.pre_metric: 'pre_revenue' is not a column" in text
    assert "notebooks.04_campaign_ab.segment_columns: 'persona' is neither" in text
    assert "zip_code" in text.split("'persona' is neither")[1]  # the columns that exist
    assert "zip_code' is neither" not in text
    assert len(probs) == 7
    for p in probs:  # no Python in the messages
        assert "Pass " not in p and "=" not in p and "()" not in p


def test_setup_problems_missing_values_default_metrics_and_a_clean_setup(email_test):
    assert (
        abtest.setup_problems(
            email_test,
            control="No E-Mail",
            metrics=["visit", "spend"],
            segment_columns=["zip_code", "persona"],
            customer_columns=["customer_id", "persona"],
        )
        == []
    )
    none = abtest.setup_problems(email_test, control="No E-Mail")
    assert none == [abtest._no_metrics_message(email_test)]
    assert none[0].startswith(
        "notebooks.04_campaign_ab.metrics is not set and campaign_exposures has neither "
        "'converted' nor 'revenue'"
    )
    gaps = email_test.assign(spend=email_test["spend"].where(email_test.index % 1000 != 0))
    probs = abtest.setup_problems(ibis.memtable(gaps), control="No E-Mail", metrics=["spend"])
    assert probs == [
        "table 'campaign_exposures', column 'spend': 24 missing values of outcome 'spend'. "
        "Fix: fill them in the export (0 = none) or drop those rows"
    ]
    # several campaigns: each is checked, and a control that cannot be guessed is not guessed
    two = pd.concat([email_test, email_test.assign(campaign_id="b", variant="x")])
    probs = abtest.setup_problems(two, control="No E-Mail", metrics=["visit"])
    assert probs == [
        "notebooks.04_campaign_ab.control: 'No E-Mail' is not a variant of campaign 'b'; its "
        "variants are 'x'. Fix: set notebooks.04_campaign_ab.control to the variant that got no "
        "treatment (one of 'x')"
    ]


# --------------------------------------------------------------------------------------
# Segments from the exposures' own columns, many values grouped
# --------------------------------------------------------------------------------------


def test_segments_come_from_exposure_columns_and_many_values_are_grouped(email_test):
    customers = pd.DataFrame(index=pd.Index(email_test["customer_id"], name="customer_id"))
    df = email_test.assign(city=[f"city{i % 20:02d}" for i in range(len(email_test))])
    df.loc[df.index % 50 == 0, "city"] = None
    for table in (df, ibis.memtable(df)):
        seg = abtest.attach_segments(
            table, customers, ["persona", "zip_code", "history", "city"], max_segments=8
        )
        assert seg.columns == ["zip_code", "history", "city"] and seg.missing == ["persona"]
        assert seg.sources == dict.fromkeys(seg.columns, "exposures")
        out = seg.exposures.to_pandas() if isinstance(seg.exposures, ibis.Table) else seg.exposures
        out = out.sort_values("customer_id").reset_index(drop=True)
        # the original columns are kept (history is also a pre-period metric)
        np.testing.assert_array_equal(out["history"].to_numpy(), df["history"].to_numpy())
        q = np.quantile(df["history"], [0.25, 0.5, 0.75])
        hist = out[seg.key["history"]]
        assert (
            hist.nunique() == 4
            and hist.str.startswith("Q1: history").sum() == (df["history"] < q[0]).sum()
        )
        city = out[seg.key["city"]]
        assert city.nunique() == 7 + 1 + 1  # 7 largest + other + unknown
        assert (city == "(unknown)").sum() == df["city"].isna().sum()
        assert (city == "other city (13 values)").sum() == (
            ~df["city"].isin(df["city"].value_counts().index[:7]) & df["city"].notna()
        ).sum()
        assert "20 different values" in seg.grouped["city"]
        assert "persona" in seg.note()
    res = abtest.evaluate(
        seg.exposures, control="No E-Mail", metrics=["visit"], segment=seg.key["city"]
    )
    assert (
        res.table.groupby("variant")["n_variant"].sum().sum()
        == (df["variant"] != "No E-Mail").sum()
    )
    nothing = abtest.attach_segments(df, customers, ["persona"])
    assert nothing.columns == [] and "whole campaigns only" in nothing.note()


def test_setup_problems_checks_the_other_settings_when_given(email_test):
    probs = abtest.setup_problems(
        email_test,
        control="No E-Mail",
        metrics=["visit"],
        expected_shares={"email_2008": {"No E-Mail": 0.34, "Mens E-Mail": 0.33, "Kids": 0.33}},
        correction="bonferroni",
        alpha=5,
        winsorize=99,
    )
    assert probs == [
        "notebooks.04_campaign_ab.expected_shares: campaign 'email_2008' has no variant(s) 'Kids' "
        "and needs a share for 'Womens E-Mail'; its variants are 'Mens E-Mail', 'No E-Mail', "
        "'Womens E-Mail'",
        "notebooks.04_campaign_ab.correction: 'bonferroni' is not a correction. Fix: use holm, "
        "fdr_bh or none",
        "notebooks.04_campaign_ab.alpha: 5 must be between 0 and 1 (e.g. 0.05)",
        "notebooks.04_campaign_ab.winsorize: 99 is not a quantile to cap amounts at. Fix: give one "
        "between 0.5 and 1 (e.g. 0.99), or leave it unset",
    ]
    other = abtest.setup_problems(
        email_test, control="No E-Mail", metrics=["visit"], expected_shares={"spring": {"a": 1}}
    )
    assert other == [
        "notebooks.04_campaign_ab.expected_shares: campaign 'spring' is not in campaign_exposures; "
        "its campaigns are 'email_2008'"
    ]
    fine = {"No E-Mail": 1, "Mens E-Mail": 1, "Womens E-Mail": 1}
    assert (
        abtest.setup_problems(
            email_test, control="No E-Mail", metrics=["visit"], expected_shares=fine
        )
        == []
    )


def test_cuped_sentence_states_the_measured_narrowing(cuped_data):
    res = abtest.evaluate(cuped_data, pre_metric="pre_revenue")
    text = page.cuped_text(res)
    rev = res.table.loc[res.table["metric"] == "revenue", "ci_width_reduction"]
    assert rev.median() > 0.05 and "makes the intervals narrower" in text
    assert f"revenue {rev.median():.0%}" in text
    # the page is for managers: no artifact columns to look up
    assert text.endswith("The decisions and the tables on this page use the unadjusted intervals.")
    assert "cuped_*" not in text and "ab_results" not in text


def test_numeric_customer_columns_are_grouped_into_quartiles_of_the_customer_table(email_test):
    ids = email_test["customer_id"]
    rng = np.random.default_rng(7)
    customers = pd.DataFrame(
        {"clv": rng.gamma(2.0, 100.0, len(ids)), "tier": rng.integers(1, 4, len(ids))},
        index=pd.Index(ids, name="customer_id"),
    )
    customers.loc[customers.index[:30], "clv"] = np.nan
    seg = abtest.attach_segments(email_test, customers, ["clv", "tier"])
    assert seg.sources == {"clv": "customers", "tier": "customers"} and list(seg.grouped) == ["clv"]
    out = seg.exposures.set_index("customer_id")
    q = np.nanquantile(customers["clv"], [0.25, 0.5, 0.75])
    first = out["clv"].str.startswith("Q1: clv")
    assert first.sum() == (customers["clv"] < q[0]).sum()
    assert (out["clv"] == "(unknown)").sum() == 30
    assert set(out["tier"]) == {"1", "2", "3"}  # few values: kept as they are

"""The demo generator: contracts, determinism, chunked writing and the planted truth.

The planted truth is checked against independent oracles: k-means (scikit-learn) must find
the personas in the survey, and difference-in-means with Wald standard errors must find the
planted campaign effects; pre_revenue is recomputed from the orders with pandas.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from segwork import demo

SEED = 7
N_SMALL = 2_000


@pytest.fixture(scope="module")
def small() -> demo.DemoData:
    return demo.generate(N_SMALL, seed=SEED)


@pytest.fixture(scope="module")
def large() -> demo.DemoData:
    """20,000 customers: enough exposures to check campaign effects per persona."""
    return demo.generate(20_000, seed=SEED)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    return demo.write_demo(out, N_SMALL, seed=SEED, chunk_rows=3_000)


# --- determinism and contracts ------------------------------------------------------


def test_same_seed_gives_identical_output_and_other_seed_differs() -> None:
    a = demo.generate(1_500, seed=3)
    b = demo.generate(1_500, seed=3)
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)
    pd.testing.assert_frame_equal(a.truth_customers, b.truth_customers)
    assert a.truth == b.truth
    c = demo.generate(1_500, seed=4)
    assert not c.orders["amount"].equals(a.orders["amount"])
    assert not c.truth_customers["persona_id"].equals(a.truth_customers["persona_id"])


EXPECTED = {
    "customers": {
        "customer_id": "str",
        "customer_type": "str",
        "name": "str",
        "email": "str",
        "phone": "str",
        "gender": "str",
        "birth_date": "datetime",
        "education": "str",
        "income_band": "str",
        "country": "str",
        "region": "str",
        "city": "str",
        "postal_code": "str",
        "industry": "str",
        "employees": "Int64",
        "annual_revenue": "float64",
        "email_opt_in": "bool",
        "sms_opt_in": "bool",
        "phone_opt_in": "bool",
        "profiling_consent": "bool",
        "owner": "str",
        "created_at": "datetime",
    },
    "orders": {
        "order_id": "str",
        "customer_id": "str",
        "order_date": "datetime",
        "amount": "float64",
        "quantity": "int64",
        "category": "str",
        "channel": "str",
        "currency": "str",
        "is_return": "bool",
        "original_order_id": "str",
    },
    "interactions": {
        "customer_id": "str",
        "occurred_at": "datetime",
        "kind": "str",
        "channel": "str",
        "detail": "str",
    },
    "survey_items": {"item": "str", "construct": "str", "text": "str", "reverse_coded": "bool"},
    "campaign_exposures": {
        "customer_id": "str",
        "campaign_id": "str",
        "variant": "str",
        "assigned_at": "datetime",
        "converted": "int64",
        "revenue": "float64",
        "pre_revenue": "float64",
    },
    "contracts": {
        "contract_id": "str",
        "customer_id": "str",
        "plan": "str",
        "start_date": "datetime",
        "end_date": "datetime",
        "period_value": "float64",
    },
}


def _check_dtype(s: pd.Series, kind: str) -> bool:
    if kind == "str":
        return pd.api.types.is_string_dtype(s.dtype) and s.dtype != object
    if kind == "datetime":
        return pd.api.types.is_datetime64_dtype(s.dtype) and getattr(s.dtype, "tz", None) is None
    return str(s.dtype) == kind


def test_every_contract_column_is_present_with_its_dtype(small: demo.DemoData) -> None:
    tables = small.tables()
    for name, cols in EXPECTED.items():
        df = tables[name]
        assert list(df.columns) == list(cols), name
        for col, kind in cols.items():
            assert _check_dtype(df[col], kind), f"{name}.{col}: {df[col].dtype} is not {kind}"
    survey = small.survey_responses
    items = list(small.survey_items["item"])
    assert list(survey.columns) == ["customer_id", "answered_at", *items]
    assert items == [f"q{i:02d}" for i in range(1, 25)]
    assert all(survey[c].dtype == "float64" for c in items)
    assert _check_dtype(survey["answered_at"], "datetime")
    assert list(small.truth_customers.columns[:3]) == ["customer_id", "persona", "persona_id"]


def test_ids_are_unique_and_every_order_belongs_to_a_known_customer(small: demo.DemoData) -> None:
    c, o = small.customers, small.orders
    assert c["customer_id"].is_unique and len(c) == N_SMALL
    assert c["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert c["customer_id"].iloc[0] == "C000001" and c["customer_id"].iloc[-1] == f"C{N_SMALL:06d}"
    assert o["order_id"].is_unique and o["order_id"].str.fullmatch(r"O\d+").all()
    known = set(c["customer_id"])
    for name in ("orders", "interactions", "survey_responses", "campaign_exposures", "contracts"):
        assert set(small.tables()[name]["customer_id"]) <= known, name
    assert set(small.truth_customers["customer_id"]) == known
    # Customer numbers follow sign-up time.
    assert c["created_at"].is_monotonic_increasing


def test_profiles_look_like_a_czech_crm(small: demo.DemoData) -> None:
    c = small.customers
    b2b = c["customer_type"] == "B2B"
    assert 0.10 < b2b.mean() < 0.20
    assert c["region"].nunique() == 14 and "Jihomoravský kraj" in set(c["region"])
    assert c["region"].value_counts().index[0] in {"Středočeský kraj", "Hlavní město Praha"}
    assert c["postal_code"].dropna().str.fullmatch(r"\d{3} \d{2}").all()
    assert c["phone"].dropna().str.fullmatch(r"\+420 \d{3} \d{3} \d{3}").all()
    assert c["email"].dropna().str.fullmatch(r"[a-z0-9.\-]+@[a-z0-9.\-]+\.[a-z]+").all()
    # B2B rows carry company fields, B2C rows person fields.
    assert c.loc[b2b, ["gender", "birth_date", "education", "income_band"]].isna().all().all()
    assert c.loc[~b2b, ["industry", "employees", "annual_revenue"]].isna().all().all()
    assert c.loc[b2b, "name"].str.contains(r"s\.r\.o\.|s r\.o\.|a\.s\.|v\.o\.s\.").all()
    # A few percent missing in profile columns, never in ids or consent flags.
    for col, applies in (
        ("gender", ~b2b),
        ("birth_date", ~b2b),
        ("income_band", ~b2b),
        ("city", None),
        ("industry", b2b),
    ):
        share = c[col].isna().mean() if applies is None else c.loc[applies, col].isna().mean()
        assert 0.003 < share < 0.2, col
    assert c[["customer_id", "region", "owner", "created_at"]].notna().all().all()
    for col in ("email_opt_in", "sms_opt_in", "phone_opt_in", "profiling_consent"):
        assert 0.2 < c[col].mean() < 0.95, col
    assert set(c.loc[b2b, "owner"]).isdisjoint(set(c.loc[~b2b, "owner"]))
    assert c.loc[b2b, "owner"].nunique() > c.loc[~b2b, "owner"].nunique()


# --- orders -------------------------------------------------------------------------


def test_returns_are_negative_and_reference_an_earlier_order_of_the_customer(
    small: demo.DemoData,
) -> None:
    o = small.orders
    r = o[o["is_return"]]
    assert 0.015 < len(r) / len(o) < 0.05
    assert (r["amount"] < 0).all() and (r["quantity"] < 0).all()
    sales = o[~o["is_return"]]
    assert (sales["amount"] > 0).all() and sales["original_order_id"].isna().all()
    ref = r.merge(
        o, left_on="original_order_id", right_on="order_id", suffixes=("", "_orig"), how="left"
    )
    assert ref["order_id_orig"].notna().all()
    assert (ref["customer_id"] == ref["customer_id_orig"]).all()
    assert (ref["order_date"] > ref["order_date_orig"]).all()
    assert (~ref["is_return_orig"]).all()
    assert (-ref["amount"] <= ref["amount_orig"]).all()
    assert (ref["currency"] == "CZK").all()


def test_some_orders_fall_after_the_analysis_date(small: demo.DemoData) -> None:
    o = small.orders
    cutoff = pd.Timestamp(small.truth["analysis_date"]) + pd.Timedelta(days=1)
    after = o["order_date"] >= cutoff
    assert 0.001 < after.mean() < 0.02
    assert after.sum() == small.truth["sizes"]["orders_after_analysis_date"]
    window_start = pd.Timestamp(small.truth["window_start"])
    assert o["order_date"].min() >= window_start
    # Whoever dropped out before the analysis date buys nothing after it.
    dead = set(
        small.truth_customers.loc[~small.truth_customers["alive_at_analysis_date"], "customer_id"]
    )
    assert not set(o.loc[after & ~o["is_return"], "customer_id"]) & dead


def test_purchase_behaviour_is_heterogeneous_and_seasonal(large: demo.DemoData) -> None:
    o = large.orders
    sales = o[~o["is_return"]]
    per_customer = (
        sales.groupby("customer_id").size().reindex(large.customers["customer_id"], fill_value=0)
    )
    assert 0.10 < (per_customer == 0).mean() < 0.45  # dormant (churned before the window)
    assert 0.10 < (per_customer == 1).mean() < 0.40  # one-time buyers
    assert (per_customer >= 10).mean() > 0.05  # loyal
    # December outsells the summer months per day; B2B hardly orders at weekends.
    day = sales["order_date"].dt.normalize()
    daily = sales.groupby(day).size()
    month = daily.index.month
    assert daily[month == 12].mean() > 1.2 * daily[np.isin(month, [7, 8])].mean()
    b2b = set(large.customers.loc[large.customers["customer_type"] == "B2B", "customer_id"])
    is_b2b = sales["customer_id"].isin(b2b)
    weekend = sales["order_date"].dt.day_of_week >= 5
    assert weekend[is_b2b].mean() < 0.10 < weekend[~is_b2b].mean()
    assert sales.loc[is_b2b, "amount"].median() > 3 * sales.loc[~is_b2b, "amount"].median()
    same_day = sales.groupby([sales["customer_id"], day]).size()
    assert (same_day > 1).sum() > 0
    assert set(o["channel"]) == {"web", "store", "phone", "b2b_portal"}
    assert len(set(o["category"])) == 7


def test_personas_drive_behaviour(large: demo.DemoData) -> None:
    o = large.orders[~large.orders["is_return"]].merge(large.truth_customers, on="customer_id")
    b2c = set(large.customers.loc[large.customers["customer_type"] == "B2C", "customer_id"])
    o = o[o["customer_id"].isin(b2c)]
    aov = o.groupby("persona")["amount"].mean()
    assert aov["Quality-first loyalists"] > 2.5 * aov["Price-driven deal hunters"]
    web = o.assign(web=o["channel"] == "web").groupby("persona")["web"].mean()
    assert web["Convenience seekers"] > web["Quality-first loyalists"] + 0.3
    tech = o.assign(el=o["category"] == "Electronics").groupby("persona")["el"].mean()
    assert tech.idxmax() == "Tech early adopters"


def test_interactions_cover_the_kinds_with_planted_shares(small: demo.DemoData) -> None:
    i, c = small.interactions, small.customers
    assert set(i["kind"]) == {
        "email_open",
        "email_click",
        "web_visit",
        "call",
        "meeting",
        "cart_abandoned",
        "complaint",
        "service_contract",
    }
    b2b = set(c.loc[c["customer_type"] == "B2B", "customer_id"])
    assert i.loc[i["kind"] == "meeting", "customer_id"].isin(b2b).all()
    complainers = i.loc[i["kind"] == "complaint", "customer_id"].nunique() / len(c)
    assert 0.01 < complainers < 0.04
    contracts = i.loc[i["kind"] == "service_contract", "customer_id"].nunique() / len(c)
    assert 0.06 < contracts < 0.16
    opted_out = set(c.loc[~c["email_opt_in"], "customer_id"])
    assert not set(i.loc[i["kind"] == "email_open", "customer_id"]) & opted_out
    created = i["customer_id"].map(c.set_index("customer_id")["created_at"])
    assert (i["occurred_at"] >= created).all()
    assert i[["channel", "detail"]].notna().all().all()


# --- survey and personas ------------------------------------------------------------


def test_survey_only_for_customers_with_profiling_consent(small: demo.DemoData) -> None:
    s, c = small.survey_responses, small.customers
    consent = set(c.loc[c["profiling_consent"], "customer_id"])
    assert set(s["customer_id"]) <= consent and s["customer_id"].is_unique
    assert 0.3 < len(s) / len(c) < 0.5
    answers = s[small.survey_items["item"]].to_numpy()
    present = answers[~np.isnan(answers)]
    assert set(np.unique(present)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    missing = np.isnan(answers)
    assert 0.02 < missing.mean() < 0.08
    assert (missing.mean(axis=1) > 0.5).sum() >= 1  # a few respondents skipped most
    joined = s.merge(c, on="customer_id")
    assert (joined["answered_at"] > joined["created_at"]).all()
    assert (joined["answered_at"] <= pd.Timestamp(small.truth["analysis_date"])).all()


def _construct_scores(data: demo.DemoData) -> tuple[np.ndarray, np.ndarray]:
    """Construct means over reverse-corrected items; respondents missing > 25% dropped."""
    s, items = data.survey_responses, data.survey_items
    x = s[items["item"]].to_numpy(dtype=float)
    x = np.where(items["reverse_coded"].to_numpy(), 6 - x, x)
    keep = np.isnan(x).mean(axis=1) <= 0.25
    constructs = items["construct"].to_numpy()
    scores = np.column_stack(
        [np.nanmean(x[keep][:, constructs == k], axis=1) for k in demo.CONSTRUCTS]
    )
    persona = s.loc[keep, ["customer_id"]].merge(data.truth_customers, on="customer_id")[
        "persona_id"
    ]
    return scores, persona.to_numpy()


def test_reverse_coded_items_are_anticorrelated_with_their_construct(small: demo.DemoData) -> None:
    s, items = small.survey_responses, small.survey_items
    assert items.groupby("construct")["reverse_coded"].sum().eq(1).all()
    assert items.groupby("construct").size().eq(4).all()
    corr = s[items["item"]].corr()
    for construct, group in items.groupby("construct"):
        rev = group.loc[group["reverse_coded"], "item"].iloc[0]
        others = group.loc[~group["reverse_coded"], "item"]
        assert (corr.loc[rev, others] < -0.3).all(), construct
        pairs = corr.loc[others, others].to_numpy()[np.triu_indices(len(others), 1)]
        assert (pairs > 0.3).all(), construct
    assert items["text"].str.endswith(".").all() and items["text"].is_unique


def test_planted_personas_are_recovered_by_kmeans(small: demo.DemoData) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    scores, persona = _construct_scores(small)
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(scores)
    assert adjusted_rand_score(persona, labels) >= 0.8
    # Not trivially separable, but k = 5 is the best silhouette among 2..8.
    sil = {
        k: silhouette_score(scores, KMeans(k, n_init=10, random_state=0).fit_predict(scores))
        for k in range(2, 9)
    }
    assert max(sil, key=sil.get) == 5
    assert sil[5] < 0.6
    # Construct means by persona match the planted means.
    truth = {p["persona_id"]: p["construct_means"] for p in small.truth["personas"]}
    for k in range(5):
        expected = np.array([truth[k][c] for c in demo.CONSTRUCTS])
        observed = scores[persona == k].mean(axis=0)
        assert np.abs(observed - expected).max() < 0.45, k


# --- campaigns ----------------------------------------------------------------------


def test_exposure_shares_match_the_design(large: demo.DemoData) -> None:
    e = large.campaign_exposures
    assert not e.duplicated(["customer_id", "campaign_id"]).any()
    for camp in large.truth["campaigns"]:
        sub = e[e["campaign_id"] == camp["campaign_id"]]
        counts = sub["variant"].value_counts().reindex(list(camp["variants"]))
        expected = np.array(list(camp["variants"].values())) * len(sub)
        assert stats.chisquare(counts.to_numpy(), expected).pvalue > 1e-3, camp["campaign_id"]
        launch = pd.Timestamp(camp["launch"])
        span = pd.Timedelta(days=camp["assignment_days"])
        assert sub["assigned_at"].between(launch, launch + span).all()
        design = next(c for c in demo.CAMPAIGNS if c["campaign_id"] == camp["campaign_id"])
        analysis = pd.Timestamp(large.truth["analysis_date"])
        assert (analysis - launch.normalize()).days == design["days_before_analysis"]
        # every attribution window has closed by the end of the analysis date
        closes = sub["assigned_at"] + pd.Timedelta(days=camp["attribution_days"])
        assert (closes <= analysis + pd.Timedelta(days=1)).all(), camp["campaign_id"]
    running = e[e["campaign_id"] == "winter_preview"]
    days = running["assigned_at"].dt.normalize().nunique()
    assert days >= 20  # assigned day by day, not in one launch mail
    c = large.customers.set_index("customer_id")
    news = e[e["campaign_id"] == "autumn_newsletter"]
    assert c.loc[news["customer_id"], "email_opt_in"].all()
    assert ((e["revenue"] > 0) == (e["converted"] == 1)).all()


def test_only_recently_active_customers_are_exposed(large: demo.DemoData) -> None:
    o = large.orders[~large.orders["is_return"]]
    for camp in large.truth["campaigns"]:
        launch = pd.Timestamp(camp["launch"])
        recent = set(
            o.loc[
                o["order_date"].between(launch - pd.Timedelta(days=365), launch, inclusive="left"),
                "customer_id",
            ]
        )
        exposed = set(
            large.campaign_exposures.loc[
                large.campaign_exposures["campaign_id"] == camp["campaign_id"], "customer_id"
            ]
        )
        assert exposed <= recent
        assert len(exposed) > 0.5 * camp["sample_share"] * len(recent)


def test_pre_revenue_is_the_orders_in_the_90_days_before_assignment(small: demo.DemoData) -> None:
    e = small.campaign_exposures.reset_index(names="row")
    m = e.merge(small.orders, on="customer_id")
    in_window = (m["order_date"] >= m["assigned_at"] - pd.Timedelta(days=90)) & (
        m["order_date"] < m["assigned_at"]
    )
    pre = m[in_window].groupby("row")["amount"].sum().reindex(e["row"], fill_value=0.0)
    np.testing.assert_allclose(e["pre_revenue"].to_numpy(), pre.to_numpy(), atol=0.011)
    assert (e["pre_revenue"] != 0).mean() > 0.3


def _arm_stats(large: demo.DemoData) -> pd.DataFrame:
    e = large.campaign_exposures.merge(
        large.truth_customers[["customer_id", "persona"]], on="customer_id"
    )
    return e.groupby(["campaign_id", "persona", "variant"]).agg(
        n=("converted", "size"),
        p=("converted", "mean"),
        r=("revenue", "mean"),
        rv=("revenue", "var"),
    )


def test_conversion_effects_per_persona_match_the_truth(large: demo.DemoData) -> None:
    arms = _arm_stats(large)
    z = []
    for eff in large.truth["campaign_effects"]:
        ctrl = arms.loc[(eff["campaign_id"], eff["persona"], "control")]
        var = arms.loc[(eff["campaign_id"], eff["persona"], eff["variant"])]
        # Unpooled Wald standard errors of the control rate and of the difference.
        se0 = math.sqrt(eff["baseline_conversion"] * (1 - eff["baseline_conversion"]) / ctrl["n"])
        assert abs(ctrl["p"] - eff["baseline_conversion"]) < 4 * se0
        se = math.sqrt(
            ctrl["p"] * (1 - ctrl["p"]) / ctrl["n"] + var["p"] * (1 - var["p"]) / var["n"]
        )
        z.append((var["p"] - ctrl["p"] - eff["true_effect_conversion"]) / se)
    z = np.array(z)
    n_effects = sum((len(c["variants"]) - 1) * len(demo.PERSONAS) for c in demo.CAMPAIGNS)
    assert len(z) == n_effects == 20 and np.abs(z).max() < 3.5
    assert stats.chi2.sf((z**2).sum(), len(z)) > 1e-3
    # The heterogeneity is large enough to be found: deal hunters vs tech adopters.
    news = [e for e in large.truth["campaign_effects"] if e["campaign_id"] == "autumn_newsletter"]
    assert {e["persona"]: e["true_effect_conversion"] for e in news}["Tech early adopters"] < 0
    diffs = {}
    for persona in ("Price-driven deal hunters", "Tech early adopters"):
        c, t = (
            arms.loc[("autumn_newsletter", persona, "control")],
            arms.loc[("autumn_newsletter", persona, "treatment")],
        )
        diffs[persona] = (
            t["p"] - c["p"],
            c["p"] * (1 - c["p"]) / c["n"] + t["p"] * (1 - t["p"]) / t["n"],
        )
    gap = diffs["Price-driven deal hunters"][0] - diffs["Tech early adopters"][0]
    assert (
        gap / math.sqrt(diffs["Price-driven deal hunters"][1] + diffs["Tech early adopters"][1]) > 3
    )


def test_revenue_effects_per_persona_match_the_truth(large: demo.DemoData) -> None:
    arms = _arm_stats(large)
    z = []
    for eff in large.truth["campaign_effects"]:
        ctrl = arms.loc[(eff["campaign_id"], eff["persona"], "control")]
        var = arms.loc[(eff["campaign_id"], eff["persona"], eff["variant"])]
        se = math.sqrt(ctrl["rv"] / ctrl["n"] + var["rv"] / var["n"])  # Welch
        z.append((var["r"] - ctrl["r"] - eff["true_effect_revenue_per_customer"]) / se)
        assert eff["n_exposed"] == int(arms.loc[(eff["campaign_id"], eff["persona"])]["n"].sum())
    z = np.array(z)
    assert np.abs(z).max() < 3.5
    assert stats.chi2.sf((z**2).sum(), len(z)) > 1e-3
    # pre_revenue predicts revenue (what CUPED relies on).
    e = large.campaign_exposures
    assert stats.spearmanr(e["pre_revenue"], e["revenue"]).statistic > 0.05
    assert np.corrcoef(e["pre_revenue"], e["revenue"])[0, 1] > 0.1


def test_campaign_outcomes_follow_the_documented_model(large: demo.DemoData) -> None:
    """Rebuild g from the documented rule; check value_factor exactly and each model piece."""
    model = large.truth["campaign_model"]
    e = large.campaign_exposures.merge(large.truth_customers, on="customer_id")
    e["batch"] = (e["customer_id"].str[1:].astype(int) - 1) // 1000
    e = e.sort_values(["pre_revenue", "mean_order_value"], kind="stable")
    groups = e.groupby(["campaign_id", "batch", "persona"])
    e["r"] = (groups.cumcount() + 0.5) / groups["customer_id"].transform("size")
    e["g"] = model["G0"] + model["G1"] * e["r"]
    value = e.assign(v=model["spend_over_mean_order_value"] * e["g"] * e["mean_order_value"])
    value = value.groupby(["campaign_id", "persona"])["v"].mean()
    campaigns = {c["campaign_id"]: c for c in large.truth["campaigns"]}
    for eff in large.truth["campaign_effects"]:
        assert eff["value_factor"] == pytest.approx(
            value[(eff["campaign_id"], eff["persona"])], rel=1e-9
        )
        expected = eff["value_factor"] * (
            (eff["baseline_conversion"] + eff["true_effect_conversion"])
            * campaigns[eff["campaign_id"]]["spend_multiplier"][eff["variant"]]
            - eff["baseline_conversion"]
        )
        assert eff["true_effect_revenue_per_customer"] == pytest.approx(expected, rel=1e-12)
    # Conversion probability (b + d) * g: observed conversions match the expected count.
    effects = {
        (x["campaign_id"], x["variant"], x["persona"]): x for x in large.truth["campaign_effects"]
    }
    base = {
        (x["campaign_id"], x["persona"]): x["baseline_conversion"]
        for x in large.truth["campaign_effects"]
    }
    d = [
        effects[(c, v, p)]["true_effect_conversion"] if v != "control" else 0.0
        for c, v, p in zip(e["campaign_id"], e["variant"], e["persona"], strict=True)
    ]
    b = [base[(c, p)] for c, p in zip(e["campaign_id"], e["persona"], strict=True)]
    e["p"] = (np.array(b) + np.array(d)) * e["g"]
    for _, sub in e.groupby(["campaign_id", "variant"]):
        z = (sub["converted"].sum() - sub["p"].sum()) / math.sqrt((sub["p"] * (1 - sub["p"])).sum())
        assert abs(z) < 3.5
    top = e["r"] > 0.5
    assert e.loc[top, "converted"].mean() > 1.8 * e.loc[~top, "converted"].mean()
    # Spend given conversion: 1.2 * mean_order_value * spend_multiplier * lognormal(mean 1).
    conv = e[e["converted"] == 1]
    mult = {
        (c["campaign_id"], v): u
        for c in large.truth["campaigns"]
        for v, u in c["spend_multiplier"].items()
    }
    u = np.array([mult[k] for k in zip(conv["campaign_id"], conv["variant"], strict=True)])
    ratio = conv["revenue"] / (model["spend_over_mean_order_value"] * conv["mean_order_value"] * u)
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))
    assert np.log(ratio).std() == pytest.approx(model["s_e"], abs=0.03)


# --- truth, files, chunking, scaling ------------------------------------------------


def test_truth_is_valid_json_and_matches_the_data(small: demo.DemoData, written: Path) -> None:
    def no_nan(token: str) -> float:
        raise AssertionError(f"non-finite number {token} in truth.json")

    text = (written / "truth" / "truth.json").read_text(encoding="utf-8")
    truth = json.loads(text, parse_constant=no_nan)
    assert truth == json.loads(json.dumps(small.truth))
    assert truth["seed"] == SEED and truth["analysis_date"] == "2026-09-30"
    sizes = truth["sizes"]
    assert sizes["customers"] == len(small.customers)
    assert sizes["orders"] == len(small.orders)
    assert sizes["returns"] == int(small.orders["is_return"].sum())
    assert sizes["interactions"] == len(small.interactions)
    assert sizes["survey_respondents"] == len(small.survey_responses)
    assert sizes["campaign_exposures"] == len(small.campaign_exposures)
    assert [p["name"] for p in truth["personas"]] == [p["name"] for p in demo.PERSONAS]
    for p in truth["personas"]:
        assert set(p["construct_means"]) == set(demo.CONSTRUCTS)
        assert p["n_customers"] == int(
            (small.truth_customers["persona_id"] == p["persona_id"]).sum()
        )
    assert [i["item"] for i in truth["items"]] == list(small.survey_items["item"])
    keys = {
        "campaign_id",
        "variant",
        "persona",
        "baseline_conversion",
        "true_effect_conversion",
        "true_effect_revenue_per_customer",
    }
    assert all(keys <= set(e) for e in truth["campaign_effects"])
    names = small.truth_customers.drop_duplicates("persona_id").set_index("persona_id")["persona"]
    assert all(names[p["persona_id"]] == p["name"] for p in truth["personas"])


def test_chunked_files_equal_the_in_memory_tables(small: demo.DemoData, written: Path) -> None:
    """write_demo writes exactly (row for row) what generate() returns for the same seed."""
    assert pq.ParquetFile(written / "orders.parquet").num_row_groups > 1
    pd.testing.assert_frame_equal(pd.read_parquet(written / "orders.parquet"), small.orders)
    pd.testing.assert_frame_equal(
        pd.read_parquet(written / "interactions.parquet"), small.interactions
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(written / "truth" / "customers.parquet"), small.truth_customers
    )
    customers = pd.read_csv(
        written / "customers.csv",
        dtype={"postal_code": str},
        parse_dates=["birth_date", "created_at"],
    )
    for col in (
        "customer_id",
        "name",
        "region",
        "city",
        "email_opt_in",
        "profiling_consent",
        "annual_revenue",
    ):
        pd.testing.assert_series_equal(
            customers[col], small.customers[col], check_dtype=False, obj=col
        )
    assert (customers["created_at"] == small.customers["created_at"]).all()
    assert customers["employees"].astype("Int64").equals(small.customers["employees"])
    survey = pd.read_csv(written / "survey_responses.csv", parse_dates=["answered_at"])
    pd.testing.assert_frame_equal(survey, small.survey_responses, check_dtype=False)
    exposures = pd.read_csv(written / "campaign_exposures.csv", parse_dates=["assigned_at"])
    pd.testing.assert_frame_equal(exposures, small.campaign_exposures, check_dtype=False)
    items = pd.read_csv(written / "survey_items.csv")
    pd.testing.assert_frame_equal(items, small.survey_items, check_dtype=False)


def test_orders_per_customer_and_orders_only_writer(tmp_path: Path) -> None:
    n = demo.write_orders_only(
        tmp_path / "orders.parquet", 6_000, seed=SEED, orders_per_customer=12
    )
    on_disk = pd.read_parquet(tmp_path / "orders.parquet")
    assert len(on_disk) == n and abs(n / 6_000 - 1) < 0.15
    # The same orders as the full generator with as many customers.
    full = demo.generate(500, seed=SEED, orders_per_customer=12)
    pd.testing.assert_frame_equal(on_disk, full.orders)
    assert full.truth["sizes"]["orders"] == n


def test_bad_parameters_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoParameterError, match="n_customers"):
        demo.generate(0)
    with pytest.raises(ValueError, match="analysis_date"):
        demo.generate(10, analysis_date="not a date")
    with pytest.raises(demo.DemoParameterError, match="years"):
        demo.generate(10, years=-1)
    with pytest.raises(demo.DemoParameterError, match="n_orders"):
        demo.write_orders_only(tmp_path / "x.parquet", 0)


# --- service contracts ------------------------------------------------------------------------


def test_contracts_follow_the_service_contract_interactions(large: demo.DemoData) -> None:
    k, i, c = large.contracts, large.interactions, large.customers.set_index("customer_id")
    signed = i[i["kind"] == "service_contract"]
    assert k["contract_id"].is_unique and len(k) == len(signed) == large.truth["sizes"]["contracts"]
    assert (k["start_date"].to_numpy() == signed["occurred_at"].dt.normalize().to_numpy()).all()
    b2b = c.loc[k["customer_id"], "customer_type"].eq("B2B").to_numpy()
    assert (k["plan"].eq("Business care").to_numpy() == b2b).all()
    ended = k["end_date"].notna()
    assert (k.loc[ended, "end_date"] > k.loc[ended, "start_date"]).all()
    day_after = pd.Timestamp(large.truth["analysis_date"]) + pd.Timedelta(days=1)
    assert (k.loc[ended, "end_date"] < day_after).all()
    # whole calendar months after the start
    assert (k.loc[ended, "end_date"].dt.day == k.loc[ended, "start_date"].dt.day).mean() > 0.9


def test_the_contracts_step_recovers_the_planted_churn_process(large: demo.DemoData) -> None:
    """The sBG fit per plan covers the planted alpha and beta (within 3 standard errors)."""
    from segwork.steps import contracts as step

    result = step.run(large.contracts, analysis_date=large.truth["analysis_date"])
    plans = large.truth["contracts_model"]["plans"]
    for plan, truth in plans.items():
        model = result.fits[plan].model
        se = model.standard_errors_
        for p in ("alpha", "beta"):
            z = (model.params_[p] - truth[p]) / se[p]
            assert abs(z) < 3, (plan, p, model.params_[p], truth[p], se[p])


def test_a_contract_that_would_outlive_any_calendar_is_simply_active(monkeypatch) -> None:
    """theta near 0 draws lives of millions of months (year 10231 broke the 200k benchmark)."""
    import pyarrow as pa

    monkeypatch.setitem(
        demo.CONTRACT_PLANS, "Home care", {"alpha": 0.01, "beta": 500.0, "period_value": 1.0}
    )
    spec = demo._make_spec(10, 2.0, 1, "2026-09-30", None)
    inter = pa.table(
        {
            "customer_id": ["C1", "C2"],
            "occurred_at": pa.array(pd.to_datetime(["2025-01-10", "2026-02-03"])),
            "kind": ["service_contract", "service_contract"],
        }
    )
    customers = pa.table({"customer_id": ["C1", "C2"], "customer_type": ["B2C", "B2C"]})
    table = demo._contracts_table(spec, inter, customers, np.random.default_rng(0)).to_pandas()
    assert table["end_date"].isna().all() and list(table["plan"]) == ["Home care"] * 2

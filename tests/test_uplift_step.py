"""The uplift step on a small campaign with a known truth: evaluation, ranking, the target list
under the consent rules of rule segments, exports, warnings, and the page (escaped HTML)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segwork import actions, display
from segwork.exports import write_actions
from segwork.pages import uplift as page
from segwork.steps import uplift as step
from segwork.uplift import UpliftError


def _crm(n: int = 12_000, *, effect: float = 0.15, seed: int = 0, share: float = 0.5):
    """Customer table (with consent and contacts) and one campaign's exposures; the campaign
    works only for customers with few days since their last order."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    days = rng.integers(1, 365, n)
    customers = pd.DataFrame(
        {
            "name": [
                f"<script>alert({i})</script>" if i % 97 == 0 else f"Customer {i}" for i in range(n)
            ],
            "email": [None if i % 10 == 0 else f"c{i}@example.cz" for i in range(n)],
            "email_opt_in": rng.random(n) < 0.7,
            "days_since_order": days,
            "tier": rng.choice(["=gold", "silver", "bronze"], n),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    exposed = rng.random(n) < 0.8
    t = rng.random(n) < share
    p = 0.08 + t * np.where(days < 100, effect, 0.0)
    y = (rng.random(n) < p).astype(int)
    exposures = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": "spring_<b>mail</b>",
            "variant": np.where(t, "treatment", "control"),
            "assigned_at": pd.Timestamp("2024-03-01"),
            "converted": y,
            "revenue": y * rng.gamma(3.0, 40.0, n),
        }
    )[exposed].reset_index(drop=True)
    return customers, exposures


@pytest.fixture(scope="module")
def crm():
    return _crm()


@pytest.fixture(scope="module")
def result(crm):
    customers, exposures = crm
    return step.run(
        exposures,
        customers,
        control="control",
        segment_columns=["tier"],
        n_boot=100,
        top_n=300,
        today="2024-05-01",
        run_id="run-1",
    )


def test_step_ranks_every_customer_and_finds_the_effect(result, crm):
    customers, _ = crm
    assert result.population == "customer table"
    assert set(result.ranking.index) == set(customers.index)  # the unexposed too
    assert sorted(result.ranking["uplift_rank"]) == list(range(1, len(customers) + 1))
    assert result.evaluation.trusted
    # customers the campaign works for rank higher
    r = result.ranking.join(customers["days_since_order"])
    assert r.loc[r["days_since_order"] < 100, "uplift_rank"].mean() < r["uplift_rank"].mean() - 2000
    assert set(result.evaluations) == {"converted", "revenue"}
    assert result.features.dropped["email"] == "an identifier"
    assert "converted" not in result.features.columns
    tab = result.scores_table()
    assert {"random targeting", "segments that won (tier)", "two_model", "x_learner"} <= set(
        tab["ranking"]
    )
    assert tab.loc[tab["chosen"], "metric"].tolist() == ["converted", "revenue"]
    assert result.facts["ranked_not_in_campaign"] == len(customers) - result.facts["customers"]
    text = str(result.summary())
    assert "campaign: spring_<b>mail</b>" in text and "Held-out score of each ranking" in text


def test_target_list_applies_the_consent_rules_of_rule_segments(result, crm):
    customers, _ = crm
    emails = result.lists.emails
    assert len(emails) == 300
    listed = customers.loc[emails["customer_id"]]
    assert listed["email_opt_in"].all() and listed["email"].notna().all()
    # the list is the 300 best-ranked customers who may be emailed: nobody reachable was skipped
    ranked = result.ranking.sort_values("uplift_rank")
    ok = customers["email_opt_in"] & customers["email"].notna()
    best = ranked.index[ok.reindex(ranked.index).to_numpy()][:300]
    assert set(emails["customer_id"]) == set(best)
    # the same rows as build_actions on those customers: the rules and the format are actions'
    last = ranked.index.get_loc(best[-1])
    same = actions.build_actions(
        pd.DataFrame(
            {"customer_id": ranked.index[: last + 1], "segment": "uplift: spring_<b>mail</b>"}
        ),
        result._contact_table(),
        {"uplift: spring_<b>mail</b>": page_action(result)},
        run_id="run-1",
        today="2024-05-01",
    )
    pd.testing.assert_frame_equal(emails, same.emails)
    skipped = result.lists.excluded.set_index("reason")["customers"]
    assert skipped["no email consent"] + skipped.get("no email address", 0) == last + 1 - 300


def page_action(result):
    return step._default_action(result._contact_table(), result.campaign)


def test_budget_and_rank_by_value(result):
    lists = result.target_list(budget=1_000, cost_per_contact=7.5, today="2024-05-01")
    assert len(lists.emails) == 133  # floor(1000 / 7.5)
    assert result.target_settings["contacts"] == 133
    lists = result.target_list(
        top_n=50, rank_by="revenue", cost_per_contact=1.0, today="2024-05-01"
    )
    ids = lists.emails["customer_id"]
    assert (result.ranking.loc[ids, "expected_extra_revenue"] > 1.0).all()
    with pytest.raises(UpliftError, match="cost_per_contact"):
        result.target_list(budget=100)
    with pytest.raises(UpliftError, match="top_n"):
        result.target_list(top_n=0)
    with pytest.raises(UpliftError, match="rank_by"):
        result.target_list(top_n=5, rank_by="visits")
    result.target_list(top_n=300, today="2024-05-01", run_id="run-1")  # back to the fixture's


def test_exported_list_neutralises_formula_cells(result, tmp_path):
    lists = result.target_list(
        top_n=100,
        action={"type": "email", "template": "$tier", "due_in_days": 3},
        today="2024-05-01",
    )
    assert (lists.emails["text"] == "=gold").any()  # the list holds the raw value
    files = write_actions(lists, tmp_path)
    text = files["emails.csv"].read_text(encoding="utf-8")
    assert ",=gold," not in text and ",'=gold," in text  # the file a person opens does not
    result.target_list(top_n=300, today="2024-05-01", run_id="run-1")


def test_features_from_the_exposures_when_the_customer_table_has_none():
    customers, exposures = _crm(6_000, seed=1)
    exp = exposures.join(customers[["days_since_order", "tier"]], on="customer_id")
    exp = exp.rename(columns={"converted": "conversion", "revenue": "spend"})
    exp["visit"] = np.maximum(exp["conversion"], (np.arange(len(exp)) % 5 == 0).astype(int))
    ids_only = pd.DataFrame(index=customers.index)
    metrics = {"visit": "binary", "conversion": "binary", "spend": "money"}
    r = step.run(exp, ids_only, metrics=metrics, n_boot=30, top_n=100, today="2024-05-01")
    assert (r.outcome, r.value) == ("visit", "spend")  # the first 0/1 metric, the first other
    assert r.population == "exposed customers"
    assert set(r.ranking.index) == set(exp["customer_id"])
    # no outcome is a feature, even those not ranked by (conversion)
    assert r.facts["features_from_exposures"] == ["days_since_order", "tier"]
    assert r.features.dropped["conversion"] == "an outcome"
    # the A/B decision metric is the default outcome when it is 0/1; an amount is not
    kw = {"metrics": metrics, "n_boot": 10, "exposure_features": True}
    assert step.run(exp, ids_only, decide_on="conversion", **kw).outcome == "conversion"
    assert step.run(exp, ids_only, decide_on="spend", **kw).outcome == "visit"
    with pytest.raises(UpliftError, match="not one of the campaign's metrics"):
        step.run(exp, ids_only, metrics=metrics, outcome="clicks")
    assert len(r.lists.tasks) == 100 and len(r.lists.emails) == 0  # no email column: tasks


def test_no_effect_warns_that_the_ranking_cannot_be_trusted():
    customers, exposures = _crm(6_000, effect=0.0, seed=2)
    r = step.run(exposures, customers, n_boot=100, value=False)
    assert not r.evaluation.trusted
    assert any("cannot be trusted" in w for w in r.warnings)
    assert "cannot be trusted" in page.headline(r) or "no clear overall effect" in page.headline(r)


def test_extreme_share_and_small_campaign_warn():
    customers, exposures = _crm(3_000, seed=3, share=0.05)
    r = step.run(exposures, customers, n_boot=30, value=False)
    text = " ".join(r.warnings)
    assert (
        "Only 5% of the customers" in text
        or "Only 4% of the customers" in text
        or "Only 6%" in text
    )
    assert "Small campaign" in text


def test_unrandomised_campaign_warns():
    customers, exposures = _crm(8_000, seed=4)
    recent = exposures["customer_id"].map(customers["days_since_order"]) < 150
    exposures = exposures.assign(variant=np.where(recent, "treatment", "control"))
    r = step.run(exposures, customers, n_boot=30, value=False)
    assert any("may not have been randomised" in w for w in r.warnings)


def test_bad_settings_name_the_fix(crm):
    customers, exposures = crm
    with pytest.raises(UpliftError, match="no control variant 'holdout'"):
        step.run(exposures, customers, control="holdout")
    with pytest.raises(UpliftError, match="not in campaign_exposures"):
        step.run(exposures, customers, campaign="nope")
    with pytest.raises(UpliftError, match="must be 0/1"):
        step.run(exposures, customers, outcome="revenue")
    bad = exposures.assign(converted=exposures["converted"].astype(float))
    bad.loc[3, "converted"] = np.nan
    with pytest.raises(UpliftError, match="missing or non-numeric"):
        step.run(bad, customers)


@pytest.fixture
def shown(monkeypatch):
    out: list[str] = []
    monkeypatch.setattr(display, "_html", lambda markup: out.append(str(markup)))
    return out


def test_page_leads_with_the_finding_and_escapes_data(result, shown):
    page.finding(result)
    page.qini_curves(result)
    page.model_table(result)
    page.target_list(result)
    html = "\n".join(shown)
    assert "Targeting the top 20% of the" in shown[0]
    e = result.evaluation.effect_kept
    assert f"{100 * e.share:.0f}%" in shown[0]
    seg = result.evaluation.settings["effect_kept_segments"]
    assert f"by the segments that won (tier) would have kept {100 * seg.share:.0f}%" in shown[0]
    assert "<b>mail</b>" not in html and "&lt;b&gt;mail&lt;/b&gt;" in html
    assert "<script>" not in html
    assert "alt='Qini curves of converted" in html
    assert "300 emails" in html
    assert "src='http" not in html and 'src="http' not in html  # one offline file


def test_figure_alt_is_made_from_the_data(result):
    ev = result.evaluation
    alt = page.figure_alt(ev)
    x, v = ev.curves[ev.chosen]
    at = float(np.interp(0.2, x / x[-1], v))
    assert f"{at:,.1f} at 20%" in alt


def test_headline_prefers_the_segments_that_won_when_only_they_beat_random(result):
    import dataclasses

    ev = result.evaluation
    scores = ev.scores.copy()
    scores["beats_random"] = scores["kind"] == "segments"
    untrusted = dataclasses.replace(ev, chosen=None, scores=scores)
    other = dataclasses.replace(result, evaluations={**result.evaluations, "converted": untrusted})
    text = page.headline(other)
    assert "cannot be trusted" in text
    assert "Targeting the segments that won (tier) does beat random with evidence" in text
    assert "prefer it" not in page.headline(result)


def test_models_learn_from_the_customers_as_they_were_before_the_campaign():
    """Converted customers ordered after the campaign's start; those orders must not be features.

    The customers as they were the day before the first assignment are rebuilt from the orders
    (checked here with pandas), the models learn from them, and today's customers are ranked."""
    from types import SimpleNamespace

    from segwork.customers import build_customer360

    rng = np.random.default_rng(4)
    n = 3_000
    ids = [f"C{i:04d}" for i in range(n)]
    customers = pd.DataFrame({"customer_id": ids, "email_opt_in": rng.random(n) < 0.8})
    start = pd.Timestamp("2024-03-01")
    before = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(2 * n)],
            "customer_id": rng.choice(ids, 2 * n),
            "order_date": start - pd.to_timedelta(rng.integers(1, 400, 2 * n), unit="D"),
            "amount": rng.gamma(2.0, 50.0, 2 * n).round(2),
        }
    )
    t = rng.random(n) < 0.5
    y = (rng.random(n) < np.where(t, 0.2, 0.1)).astype(int)
    assigned = start + pd.to_timedelta(rng.integers(0, 5, n), unit="D")
    exposures = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": "spring",
            "variant": np.where(t, "treatment", "control"),
            "assigned_at": assigned,
            "converted": y,
        }
    )
    caused = pd.DataFrame(  # the campaign's conversions are orders after the assignment
        {
            "order_id": [f"X{i}" for i in range(int(y.sum()))],
            "customer_id": np.array(ids)[y == 1],
            "order_date": assigned[y == 1] + pd.Timedelta(days=2),
            "amount": 80.0,
        }
    )
    orders = pd.concat([before, caused], ignore_index=True)
    tables = SimpleNamespace(
        customers=customers, orders=orders, interactions=None, survey_responses=None
    )
    history, note = step.customers_before(tables, exposures, control="control")
    assert "29 Feb 2024, the day before 'spring' assigned its first customer" in note
    counted = before.groupby("customer_id").size().reindex(ids, fill_value=0)
    assert (history["orders_total"] == counted).all()  # none of the caused orders
    now = build_customer360(customers, orders, analysis_date="2024-04-30")
    assert (now["orders_total"] - history["orders_total"]).sum() == y.sum()

    res = step.run(exposures, now, control="control", tables=tables, n_boot=20, seed=1)
    assert res.facts["features_before_campaign"] is True
    assert any("29 Feb 2024" in str(x) for x in res.settings["notes"])
    assert res.population == "customer table" and len(res.ranking) == n
    plain = step.run(exposures, now, control="control", n_boot=20, seed=1)
    assert plain.facts["features_before_campaign"] is False
    # without assignment dates there is nothing to rebuild from, and the note says why
    none, why = step.customers_before(
        tables, exposures.drop(columns="assigned_at"), control="control"
    )
    assert none is None and "no assignment dates" in why


def test_data_that_cannot_support_a_ranking_skip_the_section_not_the_report(shown):
    """A campaign measured in revenue only has no 0/1 outcome: with the defaults the section
    says why and the notebook goes on; a setting the user named stays an error."""
    customers, exposures = _crm(2_000, seed=3)
    spend_only = exposures.drop(columns="converted")
    skipped = step.run_if_possible(spend_only, customers, control="control", n_boot=10)
    assert isinstance(skipped, step.UpliftSkipped) and skipped.outputs() == {}
    assert "no 0/1 outcome" in skipped.reason
    for section in (page.finding, page.qini_curves, page.model_table, page.target_list):
        section(skipped)
    assert len(shown) == 1 and "No uplift ranking in this run" in shown[0]
    with pytest.raises(UpliftError, match="not one of the campaign's metrics"):
        step.run_if_possible(spend_only, customers, control="control", outcome="clicks")
    ran = step.run_if_possible(exposures, customers, control="control", n_boot=10)
    assert isinstance(ran, step.UpliftResult)

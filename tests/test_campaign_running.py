"""Running campaigns through notebook 04's step and page: sequential decisions instead of the
fixed-horizon ones, carried from run to run, errors of the running parameter, the page's words."""

from __future__ import annotations

import html

import ibis
import numpy as np
import pandas as pd
import pytest

from segwork.abtest import ABTestError
from segwork.catalog import Catalog
from segwork.pages import campaign_ab as page
from segwork.pages import summary
from segwork.steps import campaign_ab

TODAY = "2026-11-20"


def _exposures(
    effects: dict[str, float], *, days: int = 20, per_day: int = 300, seed: int = 1, dates=True
) -> pd.DataFrame:
    """Campaigns assigned evenly over ``days`` days up to TODAY, conversion 10 % in control and
    10 % + effect in 'offer'."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(TODAY) - pd.Timedelta(days=days - 1)
    parts = []
    for camp, eff in effects.items():
        n = days * per_day
        var = rng.choice(["control", "offer"], n)
        conv = (rng.random(n) < 0.10 + eff * (var == "offer")).astype(int)
        part = pd.DataFrame(
            {
                "customer_id": [f"{camp}-{i}" for i in range(n)],
                "campaign_id": camp,
                "variant": var,
                "assigned_at": start
                + pd.to_timedelta(rng.integers(0, days, n), "D")
                + pd.to_timedelta(rng.integers(0, 86_000, n), "s"),
                "converted": conv,
                "revenue": np.round(conv * rng.gamma(2.0, 30.0, n), 2),
            }
        )
        parts.append(part if dates else part.drop(columns="assigned_at"))
    return pd.concat(parts, ignore_index=True)


def _run(exposures, **kw) -> campaign_ab.CampaignAbResult:
    kw.setdefault("today", TODAY)
    kw.setdefault("run_id", "r1")
    return campaign_ab.run(exposures, None, currency="EUR", **kw)


def test_strong_effect_stops_for_a_winner_and_replaces_the_fixed_horizon_decision():
    e = _exposures({"strong": 0.05, "done": 0.05})
    res = _run(e, running=["strong"])
    d = res.decisions.set_index("campaign_id")
    assert d.loc["strong", "decision"] == "stop — winner"
    assert np.isnan(d.loc["strong", "p_adjusted"])  # no fixed-horizon p decides it
    row = res.running.set_index("campaign_id").loc["strong"]
    assert d.loc["strong", "diff_ci_low"] == row["low"] > 0
    assert row["low"] < row["fixed_low"]  # the always-valid interval is the wider one
    assert d.loc["done", "decision"] == "roll out"  # a finished campaign keeps its evaluation
    plain = _run(e)
    assert plain.decisions.set_index("campaign_id").loc["done", "reason"] == d.loc["done", "reason"]
    assert "strong (still running): Stop the test, winner: 'offer'" in page.headline(
        res.overall, res.decisions
    )
    assert "Roll out" not in page.headline(res.overall, res.decisions).split("\n\n")[1]


def test_aa_keeps_running_with_an_expected_decision_date():
    # seed 7: the A/A estimate happens to be +1.3 pp, so a date is projected for it
    res = _run(_exposures({"aa": 0.0}, per_day=400, seed=7), running=["aa"])
    row = res.running.iloc[0]
    assert row["decision"] == "keep running"
    assert row["days_running"] == 20 and row["per_day"] == pytest.approx(400, rel=0.15)
    assert row["expected_kind"] == ("winner" if row["diff"] > 0 else "harm")
    assert row["expected_date"] > pd.Timestamp(TODAY)
    assert str(row["expected_date"].date()) in row["expected_text"]
    assert res.decisions["decision"].iat[0] == "keep running"
    sentence = page.running_sentences(res)[0]
    assert "aa has run 20 days with 8,000 customers so far. Decision: keep running." in sentence
    assert f"Expected decision around {row['expected_date'].date()}" in sentence
    # seed 1: an estimate near 0 would take longer than the horizon, and the page says so
    far = _run(_exposures({"aa": 0.0}, per_day=400, seed=1), running=["aa"])
    assert pd.isna(far.running["expected_date"].iat[0])
    assert "not within 180 days at the current traffic" in page.running_sentences(far)[0]


def test_a_null_effect_with_a_smallest_useful_effect_stops_for_futility():
    e = _exposures({"null": 0.0}, days=30, per_day=2000, seed=5)
    res = _run(e, running=["null"], min_lift=0.2)  # useful from +2 pp
    row = res.running.iloc[0]
    assert row["threshold"] == pytest.approx(0.2 * row["control_mean"])
    assert row["high"] < row["threshold"] and row["low"] < 0 < row["high"]
    assert row["decision"] == "futility"
    assert res.decisions["decision"].iat[0] == "stop — futility"
    # the same data without a minimum cannot stop for futility and says so
    plain = _run(e, running=["null"])
    assert plain.running["decision"].iat[0] == "keep running"
    assert "never for futility" in page.running_sentences(plain)[0]


def test_the_stop_is_carried_to_the_next_run_and_reversed_data_only_noted(tmp_path):
    first = _run(_exposures({"spring": 0.05}), running=["spring"])
    assert first.running["decision"].iat[0] == "winner"
    # through the catalog, as the notebook saves it and the next run reads it
    cat = Catalog(tmp_path / "runs" / "r1", tmp_path)
    cat.save_all(first.outputs())
    previous = cat.load("ab_running")
    later = _exposures({"spring": -0.04}, days=40, per_day=600, seed=9)
    second = _run(
        later, running=["spring"], today="2026-12-10", run_id="r2", previous_running=previous
    )
    row = second.running.iloc[0]
    assert row["decision"] == "winner" and row["stop_run"] == "r1"
    assert row["high"] < 0 and "This run disagrees" in row["note"]
    assert second.decisions["decision"].iat[0] == "stop — winner"
    text = page.headline(second.overall, second.decisions)
    assert "Stopped in run r1 (2026-11-20)" in text and "This run disagrees" in text
    markup = page.running_html(second)
    assert "run r1 (2026-11-20)" in markup and "This run disagrees" in markup


def test_bad_running_parameters_name_the_campaign_and_the_ids(tmp_path):
    e = _exposures({"spring": 0.0, "summer": 0.0}, days=3)
    with pytest.raises(ABTestError) as err:
        _run(e, running=["sprign"])
    text = str(err.value)
    assert "'sprign'" in text and "did you mean 'spring'" in text and "'summer'" in text
    with pytest.raises(ABTestError, match="planned_end"):
        _run(e, running={"spring": {"planned_end": "next week"}})
    # every problem at once: a wrong control and an unknown campaign
    with pytest.raises(ABTestError) as both:
        _run(e, running=["nope"], control="ctrl")
    assert "'nope'" in str(both.value) and "ctrl" in str(both.value)


def test_page_says_the_decisions_and_escapes_campaign_ids():
    e = _exposures({"<b>win</b>": 0.06, "a&a": 0.0}, seed=2)
    res = _run(e, running=["<b>win</b>", "a&a"])
    markup = page.running_html(res)
    assert "<b>win</b>" not in markup
    assert html.escape("<b>win</b>") in markup and "a&amp;a" in markup
    for words in ("stop — winner", "keep running", "Why these intervals are wider", "Rho"):
        assert words in markup
    assert "For analysts: the sequential test of running campaigns" in markup
    assert "Fixed-horizon 95% interval (reference only)" in markup
    digest = summary.digest(res).to_dict()
    tiles = {n["key"]: n["value"] for n in digest["numbers"]}
    assert tiles["running_stopped"] == 1
    assert digest["decisions"]["<b>win</b>"] == "stop — winner (offer)"


def test_no_dates_no_expected_date_and_the_page_says_why():
    e = _exposures({"mail": 0.002}, dates=False)
    res = _run(ibis.memtable(e), running=["mail"])
    row = res.running.iloc[0]
    assert pd.isna(row["expected_date"]) and np.isnan(row["days_running"])
    markup = page.running_html(res)
    assert "What this page cannot compute" in markup
    assert "unknown number of days" in markup and "no assignment dates" in markup
    assert "No expected decision date: the exposures have no assignment dates" in markup


def test_ibis_and_pandas_agree_and_nothing_running_writes_an_empty_state():
    e = _exposures({"spring": 0.02}, seed=3)
    a = _run(e, running=["spring"]).running
    b = _run(ibis.memtable(e), running=["spring"]).running
    pd.testing.assert_frame_equal(a, b)
    none = _run(e)
    assert len(none.running) == 0 and "ab_running" in none.outputs()
    assert "No campaign is declared as still running" in page.running_html(none)


def test_every_section_of_page_04_shows_with_a_running_campaign(capsys):
    e = _exposures({"spring": 0.05, "done": 0.0}, seed=6)
    e["tier"] = np.where(np.arange(len(e)) % 3 == 0, "gold", "silver")
    e["region"] = np.where(np.arange(len(e)) % 2 == 0, "north", "south")
    res = _run(e, running=["spring"], segment_columns=["tier", "region"])
    assert page.running_note(res).startswith("Still running: spring.")
    assert page.running_note(_run(e)) == ""
    for section in (
        page.decision,
        page.running_campaigns,
        page.whole_campaigns,
        page.effect_by_segment,
        page.decision_table,
        page.other_segmentations,
        page.planning,
    ):
        section(res)
    shown = capsys.readouterr().out
    assert "<IPython.core.display.HTML object>" in shown  # displayed, without an error
    table = page.readable_decisions(res.decisions)
    row = table.set_index("campaign").loc["spring"]
    assert row["decision"] == "stop — winner" and "always-valid" in row["effect"]

"""Running campaigns (segwork.abtest.monitoring): the decision rule, the projected decision date
against the half-width formula and a simulation, traffic, the running parameter's errors and the
decisions carried from run to run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segwork.abtest import (
    ABTestError,
    customers_needed,
    monitor,
    project_decision,
    running_plans,
    sequential_decision,
    sequential_halfwidth,
    sequential_interval,
    sequential_rho,
)
from segwork.abtest.monitoring import (
    DEFAULT_N_EXPECTED,
    STATE_COLUMNS,
    RunningPlan,
    campaign_decisions,
    traffic,
)

ALPHA = 0.05


# --------------------------------------------------------------------------------------
# decision rule
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("low", "high", "thr", "reached", "expect"),
    [
        (0.01, 0.03, 0.0, False, "winner"),
        (-0.03, -0.01, 0.0, False, "harm"),
        (-0.01, 0.02, 0.0, False, "keep running"),
        (-0.01, 0.02, 0.0, True, "futility"),  # plan reached, 0 still inside
        (0.01, 0.03, 0.0, True, "winner"),  # a clear effect at the plan's end is not futility
        (0.03, 0.05, 0.02, False, "winner"),  # above the smallest useful effect
        (0.01, 0.03, 0.02, False, "keep running"),  # above 0, not clearly above the minimum
        (-0.005, 0.015, 0.02, False, "futility"),  # entirely below the minimum
        (-0.03, -0.01, 0.02, False, "harm"),  # worse than control: harm, not futility
        (math.nan, math.nan, 0.0, True, "keep running"),
    ],
)
def test_sequential_decision(low, high, thr, reached, expect):
    assert sequential_decision(low, high, thr, plan_reached=reached) == expect


# --------------------------------------------------------------------------------------
# projection
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("s2", [0.18, 1.0, 2500.0])
@pytest.mark.parametrize("n", [40, 3_000, 250_000])
@pytest.mark.parametrize("n_exp", [1_000, 50_000])
def test_customers_needed_inverts_the_halfwidth(s2, n, n_exp):
    rho = sequential_rho(ALPHA, n_exp)
    h = float(sequential_halfwidth(s2, n, ALPHA, rho))
    need = customers_needed(s2, h, alpha=ALPHA, rho=rho)
    assert need == pytest.approx(n, rel=1e-8)
    # the half-width decreases in n: a bit more is below, a bit less is above
    assert float(sequential_halfwidth(s2, need * 1.01, ALPHA, rho)) < h
    assert float(sequential_halfwidth(s2, need * 0.99, ALPHA, rho)) > h


def test_customers_needed_edges():
    rho = sequential_rho(ALPHA, 5000)
    assert customers_needed(1.0, 0.0, alpha=ALPHA, rho=rho) == math.inf
    assert customers_needed(0.0, 0.01, alpha=ALPHA, rho=rho) == 0.0
    assert customers_needed(1.0, 1e-9, alpha=ALPHA, rho=rho) == math.inf  # beyond 1e15


@pytest.mark.parametrize(
    ("estimate", "thr", "kind", "target"),
    [
        (0.02, 0.0, "winner", 0.02),
        (0.03, 0.01, "winner", 0.02),
        (-0.015, 0.0, "harm", 0.015),
        (0.004, 0.02, "futility", 0.016),
        (-0.004, 0.01, "futility", 0.014),
    ],
)
def test_projection_is_the_first_day_the_halfwidth_is_small_enough(estimate, thr, kind, target):
    s2, n, per_day = 0.36, 4_000.0, 400.0
    rho = sequential_rho(ALPHA, 20_000)
    p = project_decision(estimate, s2, n, per_day, alpha=ALPHA, rho=rho, threshold=thr)
    assert p.kind == kind and p.reason == "" and p.days is not None and p.days > 0

    def h(days: int) -> float:
        return float(sequential_halfwidth(s2, n + days * per_day, ALPHA, rho))

    assert h(p.days) <= target < h(p.days - 1)
    assert p.n_needed == pytest.approx(customers_needed(s2, target, alpha=ALPHA, rho=rho))


def test_projection_without_traffic_beyond_horizon_and_at_the_boundary():
    rho = sequential_rho(ALPHA, 20_000)
    none = project_decision(0.02, 0.36, 4000, 0.0, alpha=ALPHA, rho=rho)
    assert none.days is None and none.reason == "no traffic" and none.kind == "winner"
    far = project_decision(0.0005, 0.36, 4000, 10.0, alpha=ALPHA, rho=rho, horizon_days=180)
    assert far.days is None and far.reason == "beyond horizon"
    flat = project_decision(0.0, 0.36, 4000, 400.0, alpha=ALPHA, rho=rho)
    assert flat.days is None and flat.kind is None and flat.n_needed == math.inf


def test_projected_day_matches_simulated_stopping_times():
    """With the true effect as the estimate, about half the simulated campaigns (a little more:
    the first crossing comes before the last) have stopped for a winner by the projected day,
    and almost all by twice that."""
    per_arm, p_c, delta, day0, sims = 200, 0.10, 0.02, 5, 2000
    n_exp = 2 * per_arm * 40
    rho = sequential_rho(ALPHA, n_exp)
    p_t = p_c + delta
    s2 = 2 * (p_c * (1 - p_c) + p_t * (1 - p_t))  # se^2 x n with n/2 customers per arm
    proj = project_decision(delta, s2, 2 * per_arm * day0, 2 * per_arm, alpha=ALPHA, rho=rho)
    day = day0 + proj.days
    rng = np.random.default_rng(3)
    looks = 3 * day
    conv_c = rng.binomial(per_arm, p_c, (sims, looks)).cumsum(axis=1)
    conv_t = rng.binomial(per_arm, p_t, (sims, looks)).cumsum(axis=1)
    n = per_arm * np.arange(1, looks + 1.0)
    m_c, m_t = conv_c / n, conv_t / n
    low, _ = sequential_interval(
        m_c, m_c * (1 - m_c), n, m_t, m_t * (1 - m_t), n, alpha=ALPHA, n_expected=n_exp
    )
    stop = np.where((low > 0).any(axis=1), (low > 0).argmax(axis=1) + 1, looks + 1)
    print(
        f"projected day {day}; stopped by then {np.mean(stop <= day):.3f}; median {np.median(stop)}"
    )
    assert 0.45 <= np.mean(stop <= day) <= 0.8
    assert 0.7 * day <= np.median(stop) <= 1.15 * day
    assert np.mean(stop <= 2 * day) > 0.85


def test_bonferroni_over_variants_keeps_an_aa_abc_campaign_below_alpha():
    """Two variants against one control, 30 daily looks, no effect: the chance that either
    variant is ever stopped stays at most alpha (alpha / 2 per comparison)."""
    rng = np.random.default_rng(11)
    sims, looks, per_arm, p = 2000, 30, 150, 0.08
    n = per_arm * np.arange(1, looks + 1.0)
    m = [rng.binomial(per_arm, p, (sims, looks)).cumsum(axis=1) / n for _ in range(3)]
    ever = np.zeros(sims, bool)
    for m_t in m[1:]:
        low, high = sequential_interval(
            m[0], m[0] * (1 - m[0]), n, m_t, m_t * (1 - m_t), n,
            alpha=ALPHA / 2, n_expected=2 * per_arm * looks,
        )  # fmt: skip
        ever |= ((low > 0) | (high < 0)).any(axis=1)
    print(f"A/B/C A/A campaigns ever stopped over {looks} looks: {ever.mean():.4f}")
    assert ever.mean() <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


# --------------------------------------------------------------------------------------
# traffic and the running parameter
# --------------------------------------------------------------------------------------
def test_traffic_over_the_last_days_and_for_a_young_campaign():
    days = pd.date_range("2026-11-01", "2026-11-20", freq="D")
    daily = pd.DataFrame(
        {
            "campaign_id": ["old"] * len(days) + ["young"] * 3,
            "variant": ["control"] * len(days) + ["control"] * 3,
            "day": list(days) + list(pd.date_range("2026-11-18", periods=3)),
            "n": [10] * 13 + [30] * 7 + [5, 5, 20],
        }
    )
    t = traffic(daily, "2026-11-20").set_index("campaign_id")
    assert t.loc["old", "per_day"] == pytest.approx(30.0)  # the last 7 days only
    assert t.loc["young", "per_day"] == pytest.approx(10.0)  # 30 over its 3 days
    assert t.loc["old", "first_day"] == pd.Timestamp("2026-11-01")
    quiet = traffic(daily, "2026-12-31").set_index("campaign_id")
    assert quiet.loc["old", "per_day"] == 0.0


def test_running_plans_accepts_lists_and_mappings():
    camps = ["spring", "summer"]
    assert running_plans(None, camps) == {}
    assert set(running_plans(["spring"], camps)) == {"spring"}
    assert set(running_plans("summer", camps)) == {"summer"}
    plans = running_plans(
        {"spring": {"planned_end": "2026-12-31", "expected_customers": 20000}, "summer": None},
        camps,
    )
    assert plans["spring"] == RunningPlan("spring", pd.Timestamp("2026-12-31"), 20000, None)
    assert plans["spring"].key == "planned_end=2026-12-31; expected_customers=20000"
    assert plans["summer"].key == ""


@pytest.mark.parametrize(
    ("running", "words"),
    [
        (["sprnig"], ["'sprnig'", "did you mean 'spring'", "'spring', 'summer'"]),
        (["autumn", "spring", "spring"], ["'autumn'", "listed twice"]),
        (42, ["expected a list of campaign ids"]),
        ({"spring": {"planned_end": "soon"}}, ["running.spring.planned_end", "'soon'"]),
        (
            {"spring": {"expected_customer": 10}},
            ["unknown key 'expected_customer'", "did you mean"],
        ),
        ({"spring": {"expected_customers": -3}}, ["expected_customers", "at least 2"]),
        ({"spring": "2026-12-31"}, ["expected a mapping"]),
    ],
)
def test_running_plans_errors_name_the_problem(running, words):
    with pytest.raises(ABTestError) as err:
        running_plans(running, ["spring", "summer"])
    text = str(err.value)
    assert "notebooks.04_campaign_ab.running" in text
    for w in words:
        assert w in text


# --------------------------------------------------------------------------------------
# monitor: looks, tuning and carried decisions
# --------------------------------------------------------------------------------------
def _table(
    n: int, p_c: float, p_v: float, camp: str = "spring", variants=("offer",)
) -> pd.DataFrame:
    """Whole-campaign result rows as ABResult.table has them (binary metric, exact rates)."""
    rows = []
    for v in variants:
        rows.append(
            dict(
                campaign_id=camp,
                segment="all",
                variant=v,
                metric="conversion",
                n_control=n,
                n_variant=n,
                control_mean=p_c,
                variant_mean=p_v,
                control_sd=math.sqrt(p_c * (1 - p_c) * n / (n - 1)),
                variant_sd=math.sqrt(p_v * (1 - p_v) * n / (n - 1)),
            )
        )
    return pd.DataFrame(rows)


def _daily(camp: str, start: str, days: int, per_day: int) -> pd.DataFrame:
    d = pd.date_range(start, periods=days)
    return pd.DataFrame(
        {
            "campaign_id": camp,
            "variant": np.repeat(["control", "offer"], days),
            "day": np.tile(d, 2),
            "n": per_day // 2,
        }
    )


def _monitor(table, plans=None, **kw):
    plans = plans if plans is not None else {"spring": RunningPlan("spring")}
    kw.setdefault("as_of", "2026-11-20")
    kw.setdefault("run_id", "r1")
    return monitor(table, plans, metric="conversion", control="control", **kw)


def test_monitor_looks_tunes_and_projects():
    state = _monitor(_table(3000, 0.10, 0.118), daily=_daily("spring", "2026-11-06", 15, 400))
    r = state.iloc[0]
    assert list(state.columns) == STATE_COLUMNS
    assert r["decision"] == "keep running" and r["declared"]
    assert r["days_running"] == 15 and r["per_day"] == pytest.approx(400.0)
    assert r["n_expected"] == max(DEFAULT_N_EXPECTED, 2 * 6000)
    assert r["low"] < r["fixed_low"] < r["fixed_high"] < r["high"]  # wider than fixed-horizon
    # the expected date is the projection of the row's own figures
    s2 = r["control_mean"] * (1 - r["control_mean"]) + r["variant_mean"] * (1 - r["variant_mean"])
    s2 *= 2 * 3000 / 2999
    p = project_decision(r["diff"], s2, 6000, 400.0, alpha=ALPHA, rho=r["rho"])
    assert p.kind == "winner" and 0 < p.days < 180
    assert r["expected_date"] == pd.Timestamp("2026-11-20") + pd.Timedelta(days=p.days)
    assert str(r["expected_date"].date()) in r["expected_text"]


def test_monitor_without_dates_says_the_date_is_unknown_and_uses_a_declared_start():
    state = _monitor(_table(3000, 0.10, 0.105))
    assert np.isnan(state["per_day"].iat[0]) and np.isnan(state["days_running"].iat[0])
    assert state["expected_text"].iat[0].startswith("unknown: the exposures have no assignment")
    started = _monitor(
        _table(3000, 0.10, 0.105),
        {"spring": RunningPlan("spring", started=pd.Timestamp("2026-11-11"))},
    )
    assert started["days_running"].iat[0] == 10 and started["per_day"].iat[0] == 600.0


def test_tuning_is_fixed_at_the_first_look_and_retuned_by_a_new_plan():
    first = _monitor(_table(3000, 0.10, 0.101))
    later = _monitor(_table(9000, 0.10, 0.101), previous=first, as_of="2026-11-27", run_id="r2")
    assert later["n_expected"].iat[0] == first["n_expected"].iat[0] == 12_000
    assert later["first_run"].iat[0] == "r1"
    planned = _monitor(
        _table(9000, 0.10, 0.101),
        {"spring": RunningPlan("spring", expected_customers=50_000)},
        previous=later,
        run_id="r3",
    )
    assert planned["n_expected"].iat[0] == pytest.approx(50_000)


def test_a_stop_is_carried_and_a_disagreement_only_noted():
    first = _monitor(_table(5000, 0.10, 0.14))
    assert first["decision"].iat[0] == "winner" and first["stop_run"].iat[0] == "r1"
    reversed_ = _monitor(_table(20000, 0.12, 0.10), previous=first, as_of="2026-12-01", run_id="r2")
    r = reversed_.iloc[0]
    assert r["decision"] == "winner"  # never reversed
    assert r["stop_run"] == "r1" and r["stop_date"] == pd.Timestamp("2026-11-20")
    assert r["stop_diff"] == pytest.approx(0.04)
    assert r["high"] < 0  # the new interval says harm...
    assert "This run disagrees" in r["note"] and "stands" in r["note"]  # ...and only a note says so
    # a campaign left out of `running` keeps its row (declared False) for a later run
    gone = _monitor(_table(20000, 0.12, 0.10), plans={}, previous=reversed_, run_id="r3")
    assert not gone["declared"].iat[0] and gone["decision"].iat[0] == "winner"
    back = _monitor(_table(20000, 0.12, 0.10), previous=gone, run_id="r4")
    assert back["decision"].iat[0] == "winner" and back["stop_run"].iat[0] == "r1"


def test_futility_with_a_minimum_and_at_the_planned_end():
    fut = _monitor(_table(40000, 0.10, 0.1005), min_lift=0.2)  # minimum 2 pp
    assert fut["decision"].iat[0] == "futility" and fut["threshold"].iat[0] == pytest.approx(0.02)
    end = _monitor(
        _table(3000, 0.10, 0.101),
        {"spring": RunningPlan("spring", planned_end=pd.Timestamp("2026-11-15"))},
    )
    assert end["decision"].iat[0] == "futility" and end["plan_reached"].iat[0]
    before = _monitor(
        _table(3000, 0.10, 0.101),
        {"spring": RunningPlan("spring", planned_end=pd.Timestamp("2026-12-15"))},
        daily=_daily("spring", "2026-11-06", 15, 400),
    )
    assert before["decision"].iat[0] == "keep running"
    assert before["expected_kind"].iat[0] == "planned end"
    assert before["expected_date"].iat[0] == pd.Timestamp("2026-12-15")


def test_variants_share_alpha_and_the_campaign_names_the_winner():
    t = _table(6000, 0.10, 0.10, variants=("a", "b", "c"))
    t.loc[1, ["variant_mean"]] = 0.14
    t.loc[2, ["variant_mean"]] = 0.16
    state = _monitor(t)
    assert (state["alpha"] == ALPHA / 3).all()
    camp = campaign_decisions(state).iloc[0]
    assert camp["campaign_decision"] == "winner" and camp["variant"] == "c"
    assert set(state["decision"]) == {"keep running", "winner"}


def test_state_survives_parquet(tmp_path):
    state = _monitor(_table(5000, 0.10, 0.14), daily=_daily("spring", "2026-11-06", 15, 400))
    path = tmp_path / "s.parquet"
    state.to_parquet(path)
    back = pd.read_parquet(path)
    again = _monitor(_table(6000, 0.10, 0.14), previous=back, run_id="r2")
    assert again["decision"].iat[0] == "winner" and again["stop_run"].iat[0] == "r1"
    with pytest.raises(ABTestError, match="lacks columns"):
        _monitor(_table(6000, 0.10, 0.14), previous=back.drop(columns="decision"))


def test_no_stop_while_an_arm_does_not_vary():
    """No conversion yet in control: its variance 0 understates the spread, so no stop (as
    sequential_look and gbstats), and the note says why."""
    t = _table(400, 0.0, 0.2)
    t["control_sd"] = 0.0
    state = _monitor(t)
    r = state.iloc[0]
    assert r["low"] > 0  # the interval alone would stop it
    assert r["decision"] == "keep running" and r["stop_run"] == ""
    assert "does not vary yet in the control group" in r["note"]
    assert r["expected_text"].startswith("unknown")


def test_reaching_the_expected_customers_without_a_minimum_is_futility():
    plan = {"spring": RunningPlan("spring", expected_customers=6000)}
    done = _monitor(_table(3000, 0.10, 0.101), plan)
    assert done["plan_reached"].iat[0] and done["decision"].iat[0] == "futility"
    short = _monitor(_table(2000, 0.10, 0.101), plan)
    assert not short["plan_reached"].iat[0] and short["decision"].iat[0] == "keep running"
    assert short["n_expected"].iat[0] == pytest.approx(6000)  # one variant: the whole plan

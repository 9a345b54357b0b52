"""Contracts and subscriptions: the contracts table, durations, sBG fits per plan, the page.

Oracles: hand-counted periods and pandas' DateOffset (whole periods between dates), data
simulated from a known shifted-beta-geometric model (theta ~ Beta(alpha, beta), the period of
churn geometric given theta), the empirical share of a cohort without censoring (the observed
curve), ShiftedBetaGeometric.fit itself (the left-truncated likelihood without truncation).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segwork import display
from segwork.clv import ShiftedBetaGeometric
from segwork.config import load_config
from segwork.pages import contracts as page
from segwork.schema import SchemaError, contract_problems
from segwork.sources import load_tables
from segwork.steps import contracts as step
from tests.conftest import write_config


# -------------------------------------------------------------------------------- helpers
def _simulate(n: int, alpha: float, beta: float, *, seed: int, horizon: int = 36, plan="p"):
    """Contracts from a known sBG: started 0..horizon-1 periods before the end of observation
    (uniformly), churned in period T ~ Geometric(theta), theta ~ Beta(alpha, beta)."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, n)
    life = rng.geometric(theta)  # the period in which each contract ends: 1, 2, ...
    seen = rng.integers(1, horizon + 1, n)  # periods it could be observed
    churned = life <= seen
    return pd.DataFrame(
        {
            "contract_id": [f"{plan}{i}" for i in range(n)],
            "customer_id": [f"c{plan}{i}" for i in range(n)],
            "tenure_periods": np.where(churned, life, seen).astype(float),
            "churned": churned,
            "plan": plan,
            "period_value": 10.0,
        }
    )


@pytest.fixture
def shown(monkeypatch):
    out: list[str] = []
    monkeypatch.setattr(display, "_html", lambda markup: out.append(str(markup)))
    return out


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


DATED = """contract,client,start,end,tier
K1,c1,2024-01-15,2024-04-20,basic
K2,c2,2024-03-01,2024-02-01,pro
K3,c3,,,basic
K4,c4,2024-02-01,,pro
"""
DATED_COLUMNS = {
    "contract_id": "contract",
    "customer_id": "client",
    "start_date": "start",
    "end_date": "end",
    "plan": "tier",
}
TELCO = """customerID,gender,tenure,Contract,MonthlyCharges,TotalCharges,Churn
7590-VHVEG,Female,1,Month-to-month,29.85,29.85,No
5575-GNVDE,Male,34,One year,56.95,1889.5,No
3668-QPYBK,Male,2,Month-to-month,53.85,108.15,Yes
9237-HQITU,Female,2,Month-to-month,70.70,151.65,Yes
4472-LVYGI,Female,0,Two year,52.55, ,No
"""
TELCO_COLUMNS = {
    "customer_id": "customerID",
    "tenure_periods": "tenure",
    "churned": "Churn",
    "plan": "Contract",
    "period_value": "MonthlyCharges",
}


# -------------------------------------------------------------------------------- the table
def test_end_before_start_and_no_length_name_table_column_contract_and_fix(tmp_path) -> None:
    _write(tmp_path, "contracts.csv", DATED)
    cfg = write_config(tmp_path, {"contracts": {"path": "contracts.csv", "columns": DATED_COLUMNS}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    text = str(err.value)
    assert "table 'contracts'" in text
    assert re.search(r"column 'end_date': 1 row\(s\) with an end date before the start date: "
                     r"contract 'K2' start_date 2024-03-01 end_date 2024-02-01", text)  # fmt: skip
    assert (
        "column 'start_date': 1 row(s) with neither a start date nor a tenure: contract 'K3'"
        in text
    )
    assert "Fix: correct the dates of these contracts" in text
    assert "invalid_rows: drop" in text
    assert "'K1'" not in text and "'K4'" not in text


def test_drop_mode_drops_and_counts_the_unreadable_contracts(tmp_path) -> None:
    _write(tmp_path, "contracts.csv", DATED)
    src = {"path": "contracts.csv", "columns": DATED_COLUMNS, "invalid_rows": "drop"}
    tables = load_tables(load_config(write_config(tmp_path, {"contracts": src})))
    assert sorted(tables.contracts["contract_id"]) == ["K1", "K4"]
    stats = tables.report.tables["contracts"]
    assert (stats.rows_read, stats.rows_kept) == (4, 2)
    dropped = {i.column: i.count for i in tables.report.issues if i.action == "dropped"}
    assert dropped == {"end_date": 1, "start_date": 1}
    assert tables.contracts["end_date"].isna().sum() == 1  # K4 is still active
    assert set(tables.customers["customer_id"]) == {"c1", "c4"}  # from the rows kept


def test_a_parquet_export_is_read_and_checked_the_same(tmp_path) -> None:
    frame = pd.read_csv(__import__("io").StringIO(DATED), dtype=str)
    frame["start"] = pd.to_datetime(frame["start"])
    frame["end"] = pd.to_datetime(frame["end"])
    frame.to_parquet(tmp_path / "contracts.parquet")
    src = {"path": "contracts.parquet", "columns": DATED_COLUMNS, "invalid_rows": "drop"}
    tables = load_tables(load_config(write_config(tmp_path, {"contracts": src})))
    assert sorted(tables.contracts["contract_id"]) == ["K1", "K4"]
    assert tables.contracts["start_date"].dtype.kind == "M"


def test_neither_dates_nor_tenure_and_tenure_without_churn_are_errors(tmp_path) -> None:
    _write(tmp_path, "c.csv", "contract,client,tier\nK1,c1,basic\n")
    cols = {"contract_id": "contract", "customer_id": "client", "plan": "tier"}
    cfg = write_config(tmp_path, {"contracts": {"path": "c.csv", "columns": cols}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert err.value.table == "contracts" and err.value.column == "start_date"
    assert "tenure_periods" in str(err.value) and "columns present: contract_id" in str(err.value)
    assert "Fix: map the start date" in str(err.value)

    _write(tmp_path, "c.csv", "contract,client,months\nK1,c1,3\n")
    cols = {"contract_id": "contract", "customer_id": "client", "tenure_periods": "months"}
    cfg = write_config(tmp_path, {"contracts": {"path": "c.csv", "columns": cols}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert err.value.column == "churned" and "sources.contracts.columns.churned" in str(err.value)


def test_bad_tenure_and_missing_churn_flag_are_named_by_contract() -> None:
    frame = pd.DataFrame(
        {
            "contract_id": ["A", "B", "C", "D"],
            "tenure_periods": [3.0, -1.0, 2.5, 4.0],
            "churned": [True, False, False, None],
        }
    )
    problems = {p.column: list(frame.loc[p.rows, "contract_id"]) for p in contract_problems(frame)}
    assert problems == {"tenure_periods": ["B", "C"], "churned": ["D"]}
    with pytest.raises(SchemaError) as err:
        step.run(frame, analysis_date="2025-01-01")
    assert "table 'contracts', column 'tenure_periods'" in str(err.value)
    assert "'B', 'C'" in str(err.value) and "Fix: give the completed renewal periods" in str(
        err.value
    )


def test_telco_shaped_export_reads_yes_no_and_takes_the_customer_id_as_contract_id(
    tmp_path,
) -> None:
    _write(tmp_path, "telco.csv", TELCO)
    src = {"path": "telco.csv", "columns": TELCO_COLUMNS}
    tables = load_tables(load_config(write_config(tmp_path, {"contracts": src})))
    c = tables.contracts.set_index("contract_id")
    assert list(c.index) == ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK", "9237-HQITU", "4472-LVYGI"]
    assert (c["customer_id"] == c.index).all()
    assert c["churned"].tolist() == [False, False, True, True, False]
    assert (
        c.loc["5575-GNVDE", "tenure_periods"] == 34
        and c.loc["9237-HQITU", "plan"] == "Month-to-month"
    )
    assert c["period_value"].dtype == "float64"
    assert list(tables.customers["customer_id"]) == sorted(c.index)  # derived from the contracts
    issue = next(i for i in tables.report.issues if i.column == "contract_id")
    assert issue.count == 5 and "customer id" in issue.problem

    durations, _ = step.contract_durations(tables.contracts, analysis_date="2020-01-31")
    assert durations["duration"].tolist() == [1, 34, 2, 2, 0]
    assert durations["entered"].tolist() == [0] * 5


def test_repeated_customer_without_contract_id_asks_for_the_id(tmp_path) -> None:
    _write(tmp_path, "telco.csv", TELCO + "7590-VHVEG,Female,5,One year,20,100,No\n")
    src = {"path": "telco.csv", "columns": TELCO_COLUMNS}
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(write_config(tmp_path, {"contracts": src})))
    assert err.value.column == "contract_id" and "'7590-VHVEG'" in str(err.value)
    assert "sources.contracts.columns.contract_id" in str(err.value)


# -------------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("start", "until", "period", "done", "more"),
    [
        ("2024-01-15", "2024-04-15", "month", 3, False),  # renewed on 15 Feb, 15 Mar, 15 Apr
        ("2024-01-15", "2024-04-20", "month", 3, True),
        ("2024-01-15", "2024-04-14", "month", 2, True),
        ("2025-01-31", "2025-02-28", "month", 1, False),  # 31 Jan + 1 month = 28 Feb
        ("2025-01-31", "2025-02-27", "month", 0, True),
        ("2024-01-31", "2024-02-29", "month", 1, False),  # leap year
        ("2024-02-29", "2025-02-28", "year", 1, False),
        ("2024-02-29", "2025-02-27", "year", 0, True),
        ("2024-01-15", "2024-07-15", "quarter", 2, False),
        ("2024-01-01", "2024-01-15", "week", 2, False),
        ("2024-01-01", "2024-01-16", "week", 2, True),
        ("2024-03-10", "2024-03-10", "month", 0, False),
    ],
)
def test_completed_periods_by_hand(start, until, period, done, more) -> None:
    got_done, got_more = step.completed_periods([start], [until], period)
    assert (int(got_done[0]), bool(got_more[0])) == (done, more)


def test_completed_periods_against_dateoffset() -> None:
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, 300), unit="D")
    until = start + pd.to_timedelta(rng.integers(0, 1200, 300), unit="D")
    for period, k in (("month", 1), ("quarter", 3), ("year", 12)):
        done, more = step.completed_periods(start, until, period)
        for s, u, d, m in zip(start, until, done, more, strict=True):
            n = 0
            while s + pd.DateOffset(months=k * (n + 1)) <= u:
                n += 1
            assert d == n and m == (s + pd.DateOffset(months=k * n) < u), (s, u, period)


def test_durations_from_dates() -> None:
    frame = pd.DataFrame(
        {
            "contract_id": ["ended", "active", "ends_later", "future", "same_day"],
            "customer_id": list("abcde"),
            "start_date": pd.to_datetime(
                ["2024-01-15", "2024-01-15", "2024-01-15", "2025-03-01", "2024-05-02"]
            ),
            "end_date": pd.to_datetime(["2024-04-20", None, "2025-06-01", None, "2024-05-02"]),
        }
    )
    out, notes = step.contract_durations(frame, analysis_date="2024-12-20")
    got = out.set_index("contract_id")
    # ended in its 4th month (15 Apr .. 14 May); active from 15 Jan: 11 renewals by 20 Dec
    assert got.loc["ended", ["duration", "churned"]].tolist() == [4, True]
    assert got.loc["active", ["duration", "churned"]].tolist() == [11, False]
    assert got.loc["ends_later", ["duration", "churned"]].tolist() == [11, False]
    assert got.loc["same_day", ["duration", "churned"]].tolist() == [1, True]
    assert "future" not in got.index
    assert any("1 contract(s) start after the analysis date" in n for n in notes)
    assert any("end after the analysis date" in n for n in notes)
    window, _ = step.contract_durations(frame, analysis_date="2024-12-20", window_periods=2)
    assert window.set_index("contract_id")["entered"].tolist() == [2, 9, 9, 0]


def test_observed_retention_is_the_cohort_share_without_censoring() -> None:
    life = np.array([1, 1, 2, 3, 3, 3, 5, 8, 8, 9])
    frame = pd.DataFrame({"duration": life, "churned": True, "entered": 0})
    curve = step.observed_retention(frame).set_index("period")
    for t in range(0, 10):
        assert curve.loc[t, "observed"] == pytest.approx((life > t).mean())
    assert curve.loc[3, "at_risk"] == 7 and curve.loc[3, "churned"] == 3


# -------------------------------------------------------------------------------- fits
def test_fit_recovers_known_parameters() -> None:
    contracts = _simulate(20_000, 0.7, 2.5, seed=1)
    result = step.run(contracts, analysis_date="2025-01-01")
    fit = result.fits[step.ALL]
    se = fit.model.standard_errors_
    assert fit.alpha == pytest.approx(0.7, abs=4 * se["alpha"])
    assert fit.beta == pytest.approx(2.5, abs=4 * se["beta"])
    assert 0.7 * 0.85 < fit.alpha < 0.7 * 1.15 and 2.5 * 0.85 < fit.beta < 2.5 * 1.15
    assert fit.expected_lifetime == float("inf")  # alpha < 1
    assert any("expected lifetime is infinite" in w for w in fit.warnings)
    # the model follows the observed curve on data it generated
    assert fit.max_gap < 0.02 and fit.chi2_p > 0.001
    assert not any("does not follow" in w for w in fit.warnings)


def test_window_fit_recovers_parameters_that_a_full_history_fit_gets_wrong() -> None:
    """An export of the contracts active one period before its date (churned = ended since):
    the left-truncated likelihood recovers the model; reading it as full histories does not."""
    rng = np.random.default_rng(3)
    n, alpha, beta = 60_000, 3.0, 12.0
    theta = rng.beta(alpha, beta, n)
    life = rng.geometric(theta)
    age = rng.integers(1, 60, n)  # the period each contract is in when the window opens
    alive = life >= age  # in the export: active when the window opened
    frame = pd.DataFrame(
        {
            "contract_id": np.arange(alive.sum()).astype(str),
            "customer_id": np.arange(alive.sum()).astype(str),
            "tenure_periods": age[alive].astype(float),  # churned in it, or completed it
            "churned": (life == age)[alive],
        }
    )
    windowed = step.run(frame, analysis_date="2025-01-01", window_periods=1).fits[step.ALL]
    se = windowed.model.standard_errors_
    assert windowed.alpha == pytest.approx(alpha, abs=4 * se["alpha"])
    assert windowed.beta == pytest.approx(beta, abs=4 * se["beta"])
    naive = step.run(frame, analysis_date="2025-01-01").fits[step.ALL]
    true_12 = ShiftedBetaGeometric()
    true_12.params_ = {"alpha": alpha, "beta": beta}
    assert abs(windowed.retained[12] - true_12.survival(12)) < 0.02
    assert naive.retained[12] - true_12.survival(12) > 0.1  # churn looks far rarer than it is


def test_truncated_likelihood_without_truncation_is_the_plain_fit() -> None:
    contracts = _simulate(3_000, 1.4, 4.0, seed=5)
    records, _ = step.contract_durations(contracts, analysis_date="2025-01-01")
    plain = ShiftedBetaGeometric().fit(durations=records["duration"], churned=records["churned"])
    log_p = np.log([plain.params_["alpha"], plain.params_["beta"]])
    t, c = records["duration"].to_numpy(float), records["churned"].to_numpy(bool)
    a, w = np.zeros(len(t)), np.ones(len(t))
    value, grad = step._entered_objective(log_p, t, c, a, w, True)
    assert value == pytest.approx(-plain.log_likelihood_, rel=1e-12)
    assert np.abs(grad).max() < 1e-3 * len(t)


def test_truncated_gradient_against_finite_differences() -> None:
    rng = np.random.default_rng(2)
    t = rng.integers(1, 30, 200).astype(float)
    c = rng.random(200) < 0.4
    a = np.maximum(t - rng.integers(1, 4, 200), 0).astype(float)
    w = rng.integers(1, 5, 200).astype(float)
    for log_p in (np.array([0.3, 1.2]), np.array([-1.0, 2.5])):
        _, grad = step._entered_objective(log_p, t, c, a, w, False)
        h = 1e-6
        numeric = [
            (
                step._entered_objective(log_p + h * e, t, c, a, w, False)[0]
                - step._entered_objective(log_p - h * e, t, c, a, w, False)[0]
            )
            / (2 * h)
            for e in np.eye(2)
        ]
        assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_per_plan_fits_pool_small_plans_and_value_active_contracts() -> None:
    gold = _simulate(7_000, 0.8, 6.0, seed=11, plan="<b>Gold</b> & $pro")
    basic = _simulate(6_000, 2.0, 3.0, seed=12, plan="basic")
    tiny = [_simulate(40, 1.0, 2.0, seed=20 + i, plan=f"tiny{i}") for i in range(3)]
    rare = _simulate(30, 1.0, 2.0, seed=30, plan="rare")
    frame = pd.concat([gold, basic, *tiny], ignore_index=True)
    frame["period_value"] = np.where(frame["plan"] == "basic", 10.0, 25.0)
    result = step.run(frame, analysis_date="2025-01-01", discount_rate_monthly=0.01)
    assert list(result.fits) == [step.ALL, "<b>Gold</b> & $pro", "basic", step.OTHER]
    assert result.fits[step.OTHER].plans == ["tiny0", "tiny1", "tiny2"]
    assert any("fitted together as 'other plans': tiny0, tiny1, tiny2" in n for n in result.notes)
    for name, (alpha, beta) in {"<b>Gold</b> & $pro": (0.8, 6.0), "basic": (2.0, 3.0)}.items():
        fit = result.fits[name]
        se = fit.model.standard_errors_
        assert fit.alpha == pytest.approx(alpha, abs=4 * se["alpha"]), name
        assert fit.beta == pytest.approx(beta, abs=4 * se["beta"]), name
    basic_fit = result.fits["basic"]
    assert basic_fit.expected_lifetime == pytest.approx(
        (basic_fit.alpha + basic_fit.beta - 1) / (basic_fit.alpha - 1)
    )
    # value per active contract: the mean of period_value x DERL(renewals made), by hand
    active = result.durations.loc[
        (result.durations["plan"] == "basic") & ~result.durations["churned"]
    ]
    derl = [
        basic_fit.model.discounted_expected_residual_lifetime(0.01, int(n))
        for n in active["duration"]
    ]
    assert basic_fit.value_per_active == pytest.approx(10.0 * np.mean(derl), rel=1e-10)
    assert basic_fit.value_low < basic_fit.value_per_active < basic_fit.value_high
    # a rare plan with too few contracts even alone and no pool: said, not fitted
    alone = step.run(pd.concat([gold, rare], ignore_index=True), analysis_date="2025-01-01")
    assert list(alone.fits) == [step.ALL, "<b>Gold</b> & $pro"]
    assert any("too few even together" in n and "rare" in n for n in alone.notes)
    out = result.outputs()
    assert set(out) == {"contract_fits", "contract_retention"}
    assert set(out["contract_retention"]["group"]) == set(result.fits)


def test_by_names_the_column_fitted_apart_or_none() -> None:
    frame = pd.concat(
        [
            _simulate(2_000, 1.5, 4.0, seed=41, plan="a"),
            _simulate(2_000, 3.0, 3.0, seed=42, plan="b"),
        ],
        ignore_index=True,
    ).rename(columns={"plan": "tier"})
    by_tier = step.run(frame, analysis_date="2025-01-01", by="tier")
    assert sorted(by_tier.fits) == ["a", "all contracts", "b"] and by_tier.by == "tier"
    one = step.run(frame, analysis_date="2025-01-01", by=None)
    assert list(one.fits) == [step.ALL] and one.by is None
    no_column = step.run(frame, analysis_date="2025-01-01")  # the default "plan" is not there
    assert list(no_column.fits) == [step.ALL]
    assert any("no plan column" in n for n in no_column.notes)
    with pytest.raises(SchemaError, match="'region'"):
        step.run(frame, analysis_date="2025-01-01", by="region")


def test_misfit_and_few_churns_are_warned() -> None:
    # every contract lasts exactly 12 periods: no sBG curve follows a cliff
    n = 500
    cliff = pd.DataFrame(
        {
            "contract_id": np.arange(n).astype(str),
            "customer_id": np.arange(n).astype(str),
            "tenure_periods": np.where(np.arange(n) < 400, 12.0, 20.0),
            "churned": np.arange(n) < 400,
        }
    )
    fit = step.run(cliff, analysis_date="2025-01-01").fits[step.ALL]
    assert fit.max_gap > 0.3
    assert any("does not follow the observed retention" in w for w in fit.warnings)
    few = _simulate(200, 1.0, 30.0, seed=4, horizon=6)
    fit = step.run(few, analysis_date="2025-01-01").fits[step.ALL]
    assert fit.churned < step.MIN_CHURNED
    assert any(f"only {fit.churned} contract(s) churned" in w for w in fit.warnings)


def test_one_churn_rate_for_all_is_said_in_words() -> None:
    rng = np.random.default_rng(8)
    n = 3_000
    life = rng.geometric(0.02, n)  # every contract the same 2% a period: no heterogeneity
    seen = rng.integers(1, 60, n)
    frame = pd.DataFrame(
        {
            "contract_id": np.arange(n).astype(str),
            "customer_id": np.arange(n).astype(str),
            "tenure_periods": np.minimum(life, seen).astype(float),
            "churned": life <= seen,
        }
    )
    fit = step.run(frame, analysis_date="2025-01-01").fits[step.ALL]
    words = [w for w in fit.warnings if "churn hardly differs between these contracts" in w]
    assert len(words) == 1 and step.churn_rate_spread(fit.alpha, fit.beta) < step.SAME_RATE
    rate = fit.alpha / (fit.alpha + fit.beta)
    assert abs(rate - 0.02) < 0.003 and f"{100 * rate:.2f}% end each period" in words[0]


def test_churn_rate_spread_is_the_coefficient_of_variation_of_the_beta() -> None:
    from scipy import stats

    for a, b in [(0.7, 2.5), (3.0, 12.0), (250.0, 12_000.0)]:
        dist = stats.beta(a, b)
        assert step.churn_rate_spread(a, b) == pytest.approx(dist.std() / dist.mean(), rel=1e-12)


# -------------------------------------------------------------------------------- the page
def test_page_leads_with_the_finding_and_escapes_plan_names(shown) -> None:
    gold = _simulate(4_000, 0.8, 6.0, seed=11, plan="<b>Gold</b> & $pro")
    basic = _simulate(4_000, 2.0, 3.0, seed=12, plan="basic")
    result = step.run(pd.concat([gold, basic], ignore_index=True), analysis_date="2025-01-01")
    page.headline(result, currency="EUR")
    page.retention(result)
    page.plans(result, currency="EUR")
    page.model_details(result)
    html = "\n".join(shown)
    assert "<b>Gold</b>" not in html and "&lt;b&gt;Gold&lt;/b&gt; &amp; $pro" in html
    finding = page.headline_text(result, currency="EUR")
    biggest = result.plan_fits[0]
    assert finding.startswith(f"Of {biggest.group} contracts ({biggest.contracts:,}),")
    best = max(result.plan_fits, key=lambda f: f.retained[24])
    assert f"{best.group} contracts keep the most" in finding
    assert f"{100 * best.retained[24]:.1f}% to remain after 24 months" in finding
    assert html.index("Contracts and subscriptions") < html.index("<img")
    alt = re.search(r"alt='([^']*)'", html).group(1)
    assert (
        "After 24 months" in alt
        and f"basic: model {100 * result.fits['basic'].retained[24]:.1f}%" in alt
    )
    assert "For analysts: contract model fits" in html and "Pearson chi-square" in html
    gold_fit = result.fits["<b>Gold</b> & $pro"]
    assert "expected lifetime is infinite" in html  # alpha 0.8: said as a warning
    warned = [f for f in result.fits.values() if f.warnings]
    assert html.count("<strong>Contract model: ") == len(warned) >= 1  # one alert per fit
    assert "<strong>Contract model: &lt;b&gt;Gold&lt;/b&gt; &amp; $pro</strong>" in html
    assert f"{gold_fit.value_per_active:,.0f} EUR" in html


def test_page_without_contracts_says_so(shown) -> None:
    page.no_contracts()
    assert "no contracts table" in shown[0] and "sources.contracts" in shown[0]


def test_telco_shaped_csv_from_file_to_page(tmp_path, shown) -> None:
    rng = np.random.default_rng(9)
    rows = []
    for plan, (alpha, beta) in {"Month-to-month": (0.5, 3.0), "Two year": (1.5, 60.0)}.items():
        sim = _simulate(1_500, alpha, beta, seed=int(rng.integers(1e6)), horizon=72, plan=plan)
        for r in sim.itertuples():
            rows.append(
                f"{r.contract_id}-X,Female,{int(r.tenure_periods)},{plan},"
                f"{rng.uniform(20, 110):.2f},,{'Yes' if r.churned else 'No'}"
            )
    _write(tmp_path, "telco.csv", TELCO.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    src = {"path": "telco.csv", "columns": TELCO_COLUMNS}
    tables = load_tables(load_config(write_config(tmp_path, {"contracts": src})))
    result = step.run(tables.contracts, analysis_date="2025-06-30", period="month")
    assert list(result.fits) == [step.ALL, "Month-to-month", "Two year"]
    assert result.fits["Month-to-month"].contracts == 1_500
    m2m = result.fits["Month-to-month"]
    assert m2m.retained[12] < result.fits["Two year"].retained[12]
    page.headline(result, currency="USD")
    assert "Of Month-to-month contracts (1,500)" in shown[0]
    assert "Two year contracts keep the most" in shown[0]


def test_the_run_summary_digest_of_the_contracts_report() -> None:
    from segwork.pages import summary

    gold = _simulate(3_000, 0.8, 6.0, seed=21, plan="gold")
    basic = _simulate(2_000, 2.0, 3.0, seed=22, plan="basic")
    contracts = pd.concat([gold, basic], ignore_index=True)
    result = step.run(contracts, analysis_date="2025-01-01")
    d = summary.digest(result, currency="EUR")
    numbers = {n.key: n for n in d.numbers}
    assert numbers["contracts"].value == len(contracts) == 5_000
    assert numbers["churned_share"].value == pytest.approx(contracts["churned"].mean(), abs=1e-12)
    overall = result.fits[step.ALL]
    assert numbers["value_per_active"].value == pytest.approx(overall.value_per_active)
    assert numbers["value_per_active"].unit == "EUR"
    assert d.groups == {"Plan": {"gold": 3_000, "basic": 2_000}}
    assert d.headline == page.headline_text(result, currency="EUR")

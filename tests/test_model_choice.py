"""The lifetime model choice of notebook 02 (segwork.clv.model_choice): BG/NBD, Pareto/NBD and
MBG/NBD on the same temporal holdout, checked on simulations with a known truth, against
lifetimes 0.11.3 / scikit-learn / scipy on CDNOW, and through the step and page 02."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from scipy import stats
from sklearn.metrics import roc_auc_score

from segwork import clv
from segwork.clv import model_choice as mc
from tests.realdata import cdnow_master

ROOT = Path(__file__).resolve().parents[1]


# ---- simulations with a known truth ----------------------------------------------------------
def _simulate(kind: str, params: tuple[float, ...], n: int, seed: int, holdout: float = 39.0):
    """Customers of a known process: calibration (frequency, recency, T) and holdout counts.

    Each customer starts with a purchase at 0 and is observed for T ~ U(20, 40) time units, then
    for ``holdout`` more. Purchase rates Gamma(r, alpha) (rate); Pareto/NBD: an exponential
    lifetime with rate Gamma(s, beta); BG/NBD: after each repeat purchase the customer stops with
    probability p ~ Beta(a, b).
    """
    rng = np.random.default_rng(seed)
    r, alpha, c, d = params
    lam = rng.gamma(r, 1 / alpha, n)
    T = rng.uniform(20.0, 40.0, n)
    death = rng.exponential(1 / rng.gamma(c, 1 / d, n)) if kind == "paretonbd" else None
    p = rng.beta(c, d, n) if kind == "bgnbd" else None
    x, tx, y = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + holdout or (death is not None and t > death[i]):
                break
            if t <= T[i]:
                x[i], tx[i] = x[i] + 1, t
            else:
                y[i] += 1
            if p is not None and rng.random() < p[i]:
                break
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T}), y


def test_pareto_nbd_data_prefer_a_model_that_lets_one_time_buyers_leave() -> None:
    """Pareto/NBD truth with many customers leaving before a repeat purchase: BG/NBD (which
    keeps them all) overpredicts the holdout by far more than 20% and is not chosen; the chosen
    model predicts the holdout total within 10%, and Pareto/NBD fits and predicts better."""
    feats, y = _simulate("paretonbd", (2.0, 10.0, 2.0, 20.0), 5000, seed=1)
    res = mc.compare_models(feats, y, holdout_length=39.0)
    t = res.table
    assert t.loc["bgnbd", "total_error"] > 0.2
    assert res.chosen in {"paretonbd", "mbgnbd"}
    assert abs(t.loc[res.chosen, "total_error"]) < 0.10
    assert t.loc["paretonbd", "mse"] < t.loc["bgnbd", "mse"]
    assert t.loc["paretonbd", "log_likelihood"] > t.loc["bgnbd", "log_likelihood"]
    assert "BG/NBD missed the total" in res.reason


@pytest.mark.parametrize("seed", [1, 2])
def test_bgnbd_data_keep_bgnbd(seed) -> None:
    """BG/NBD truth: BG/NBD is kept (no other model is better beyond noise), and it predicts
    the holdout total within 10%."""
    feats, y = _simulate("bgnbd", (0.25, 4.0, 0.8, 2.5), 5000, seed=seed)
    res = mc.compare_models(feats, y, holdout_length=39.0)
    assert res.chosen == "bgnbd", res.reason
    assert abs(res.table.loc["bgnbd", "total_error"]) < 0.10


def test_absolute_error_would_pick_a_wrong_model_on_bgnbd_data() -> None:
    """Why the rule rests on squared error: on BG/NBD data the other models, which predict
    fewer purchases, beat the true model on mean absolute error (the median of a count with
    many zeros is below its mean), not on mean squared error."""
    feats, y = _simulate("bgnbd", (0.25, 4.0, 0.8, 2.5), 5000, seed=1)
    t = mc.compare_models(feats, y, holdout_length=39.0).table
    assert t["mae"].idxmin() != "bgnbd" and t["mse"].idxmin() == "bgnbd"


# ---- the rule on hand-made tables ------------------------------------------------------------
def _table(**rows: dict) -> pd.DataFrame:
    base = {"total_error": 0.0, "mse": 1.0, "rmse": 1.0, "mse_difference": np.nan,
            "mse_low": np.nan, "mse_high": np.nan}  # fmt: skip
    return pd.DataFrame({k: base | v for k, v in rows.items()}).T


def test_the_rule() -> None:
    period = "the last 90 days"
    better = {"mse": 0.9, "rmse": 0.95, "mse_difference": -0.1, "mse_low": -0.15, "mse_high": -0.05}
    noisy = better | {"mse_low": -0.2, "mse_high": 0.01}
    t = _table(bgnbd={}, paretonbd=better)
    assert mc._choose(t, {}, "auto", 0.95, period)[0] == "paretonbd"
    # within noise: BG/NBD stays, and the text says so
    chosen, reason = mc._choose(_table(bgnbd={}, paretonbd=noisy), {}, "auto", 0.95, period)
    assert chosen == "bgnbd" and "within what chance would give" in reason
    # within noise on the error, but a ranking of who buys again better beyond noise: used
    ranks = {"auc": 0.79, "auc_difference": 0.45, "auc_p": 1e-6}
    tied = _table(bgnbd={"auc": 0.34}, paretonbd=noisy | ranks)
    chosen, reason = mc._choose(tied, {}, "auto", 0.95, period)
    assert chosen == "paretonbd"
    assert "AUC 0.790 against 0.340, DeLong p < 0.001" in reason
    weakly = _table(bgnbd={"auc": 0.70}, paretonbd=noisy | ranks | {"auc_p": 0.2})
    assert mc._choose(weakly, {}, "auto", 0.95, period)[0] == "bgnbd"
    worse = _table(bgnbd={"auc": 0.80}, paretonbd=noisy | ranks | {"auc_difference": -0.1})
    assert mc._choose(worse, {}, "auto", 0.95, period)[0] == "bgnbd"
    # a weakly identified model cannot be chosen however well it predicts
    weak = {"paretonbd": "the data do not pin down its parameters (s, beta)"}
    assert mc._choose(t, weak, "auto", 0.95, period)[0] == "bgnbd"
    # a model missing the total by more than 20% yields to one within it
    off = _table(bgnbd={"total_error": 0.35, "mse": 0.8, "rmse": 0.89}, mbgnbd=noisy)
    chosen, reason = mc._choose(off, {}, "auto", 0.95, period)
    assert chosen == "mbgnbd" and "BG/NBD missed the total of the last 90 days" in reason
    # nothing usable: no choice; a named model stands unless it is unusable
    none = {"bgnbd": "the fit failed (x)", "paretonbd": "the data do not pin down (s)"}
    assert mc._choose(t, none, "auto", 0.95, period)[0] is None
    assert mc._choose(t, {}, "paretonbd", 0.95, period)[0] == "paretonbd"
    assert mc._choose(t, none, "paretonbd", 0.95, period)[0] is None


def test_bad_parameters_name_the_choices() -> None:
    with pytest.raises(clv.CLVError, match=r"unknown model\(s\) \['pnbd'\].*'bgnbd', 'paretonbd'"):
        mc.check_models(["bgnbd", "pnbd"])
    with pytest.raises(clv.CLVError, match="empty"):
        mc.check_models([])
    with pytest.raises(clv.CLVError, match="twice"):
        mc.check_models(["bgnbd", "bgnbd"])
    with pytest.raises(clv.CLVError, match=r"one of \['auto', 'bgnbd'\].*add 'mbgnbd'"):
        mc.check_choice("mbgnbd", ["bgnbd"])
    feats, y = _simulate("bgnbd", (0.25, 4.0, 0.8, 2.5), 200, seed=3)
    with pytest.raises(clv.CLVError, match="one value per calibration customer"):
        mc.compare_models(feats, y[:-1], holdout_length=39.0)
    with pytest.raises(clv.CLVError, match=">= 0"):
        mc.compare_models(feats, -y, holdout_length=39.0)
    with pytest.raises(clv.CLVError, match="holdout_length"):
        mc.compare_models(feats, y, holdout_length=0)


def test_the_step_checks_the_model_parameters_before_any_work() -> None:
    from segwork.steps import rfm_clv as step

    with pytest.raises(clv.CLVError, match="choose from"):
        step.run(pd.DataFrame(), analysis_date="2026-09-30", clv_models=["bgnbd", "pareto"])
    with pytest.raises(clv.CLVError, match="clv_model must be one of"):
        step.run(pd.DataFrame(), analysis_date="2026-09-30", clv_model="best")


def test_notebook_02_declares_the_model_choices() -> None:
    """The notebook's parameter rules accept exactly the models the package knows."""
    nb = json.loads((ROOT / "notebooks" / "02_rfm_clv.ipynb").read_text(encoding="utf-8"))
    rules = nb["metadata"]["segwork"]["parameter_values"]
    assert rules["clv_models"]["items"]["choices"] == list(mc.LIFETIME_MODELS)
    assert rules["clv_model"]["choices"] == ["auto", *mc.LIFETIME_MODELS]
    source = "".join(nb["cells"][1]["source"])
    assert 'clv_models = ["bgnbd", "paretonbd", "mbgnbd"]' in source
    assert 'clv_model = "auto"' in source
    assert any("page.lifetime_models(result)" in "".join(c["source"]) for c in nb["cells"])


def test_pareto_nbd_above_the_cap_is_fitted_on_a_stated_sample() -> None:
    """Above max_customers Pareto/NBD is fitted on a random sample; the comparison's
    log-likelihood is then that of every customer at the sample's estimates."""
    feats, y = _simulate("paretonbd", (2.0, 10.0, 2.0, 20.0), 1200, seed=4)
    fit = mc.fit_lifetime_model("paretonbd", feats, max_customers=500)
    assert fit.sample == 500 and fit.model.n_customers_ == 500
    assert "random sample of 500 customers" in str(fit.summary())
    res = mc.compare_models(feats, y, holdout_length=39.0, max_fit_customers=500)
    theta = list(res.fits["paretonbd"].params_.values())
    every = clv.paretonbd_log_likelihood(theta, *(feats[c] for c in ("frequency", "recency", "T")))
    assert res.table.loc["paretonbd", "log_likelihood"] == pytest.approx(every.sum(), rel=1e-12)
    assert res.fits["bgnbd"].sample is None and res.fits["bgnbd"].model.n_customers_ == 1200


# ---- the numbers against independent implementations, on CDNOW --------------------------------
END = "1998-06-30"
HORIZON = 90


@pytest.fixture(scope="module")
def cdnow():
    raw = pd.read_csv(cdnow_master(), sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    orders = pd.DataFrame(
        {
            "order_id": [f"R{i}" for i in range(len(raw))],
            "customer_id": raw["customer_id"],
            "order_date": raw["date"],
            "amount": raw["dollar_value"].astype("float64"),
        }
    )
    return raw, mc.choose_lifetime_model(orders, analysis_date=END, horizon_days=HORIZON)


def test_cdnow_holdout_figures_equal_lifetimes_and_pandas(cdnow) -> None:
    """Actual holdout purchases counted by pandas on the raw file (distinct purchase days in the
    last 90 days); each model's predictions by lifetimes' conditional_expected_number_of_
    purchases_up_to_time at our parameters; totals, MAE, RMSE, the conditional expectations
    and the AUC of the chance still active (scikit-learn) recomputed from those."""
    raw, res = cdnow
    end = pd.Timestamp(END)
    cut = end - pd.Timedelta(days=HORIZON)
    assert (res.calibration_end, res.holdout_end) == (cut, end)
    calib = raw[raw["date"] <= cut]
    first = calib.groupby("customer_id")["date"].min()
    days = calib.groupby("customer_id")["date"].agg(["nunique", "max"])
    x = (days["nunique"] - 1).astype(float)
    tx = (days["max"] - first).dt.days.astype(float)
    T = (cut - first).dt.days.astype(float)
    later = raw[(raw["date"] > cut) & (raw["date"] <= end)]
    actual = later.groupby("customer_id")["date"].nunique().reindex(x.index).fillna(0)
    assert len(res.predictions) == len(x) == 23_570
    assert res.table.loc["bgnbd", "actual_total"] == actual.sum() == 5_619
    fitters = {
        "bgnbd": BetaGeoFitter(),
        "paretonbd": ParetoNBDFitter(),
        "mbgnbd": ModifiedBetaGeoFitter(),
    }
    bought = actual.to_numpy() > 0
    preds = {}
    # lifetimes in weeks (its Pareto/NBD 2F1 overflows for some CDNOW customers in days; the
    # predictions do not depend on the time unit): alpha and beta / 7, histories / 7
    xw, txw, Tw = x, tx / 7, T / 7
    for key, fitter in fitters.items():
        params = dict(res.fits[key].params_)
        params |= {k: params[k] / 7 for k in ("alpha", "beta") if k in params}
        fitter.params_ = pd.Series(params)
        pred = fitter.conditional_expected_number_of_purchases_up_to_time(HORIZON / 7, xw, txw, Tw)
        preds[key] = pred = np.asarray(pred, float)
        assert np.isfinite(pred).all(), key
        row = res.table.loc[key]
        assert row["predicted_total"] == pytest.approx(pred.sum(), rel=1e-6), key
        err = pred - actual.to_numpy()
        assert row["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-6), key
        assert row["rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-6), key
        alive = np.asarray(fitter.conditional_probability_alive(xw, txw, Tw), float)
        assert row["auc"] == pytest.approx(roc_auc_score(bought, alive), abs=1e-9), key
    groups = (
        pd.DataFrame({"g": np.minimum(x, 7), "actual": actual, **preds})
        .groupby("g")
        .mean()
        .reset_index(drop=True)
    )
    np.testing.assert_allclose(res.groups[["actual", *fitters]], groups[["actual", *fitters]],
                               rtol=1e-6)  # fmt: skip
    assert list(res.groups["repeat_purchases"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]


def test_cdnow_paired_interval_against_scipy(cdnow) -> None:
    """The squared-error difference to BG/NBD: mean, interval and p-value against scipy's paired
    t-test (the z-interval equals the t-interval to 1e-4 at 23,570 customers)."""
    _, res = cdnow
    p = res.predictions
    for key in ("paretonbd", "mbgnbd"):
        a, b = (p[key] - p["actual"]) ** 2, (p["bgnbd"] - p["actual"]) ** 2
        t = stats.ttest_rel(a, b)
        ci = t.confidence_interval(0.95)
        row = res.table.loc[key]
        assert row["mse_difference"] == pytest.approx((a - b).mean(), rel=1e-9)
        assert row["mse_low"] == pytest.approx(ci.low, rel=1e-3)
        assert row["mse_high"] == pytest.approx(ci.high, rel=1e-3)
        assert row["mse_p"] == pytest.approx(t.pvalue, rel=1e-2)


def test_cdnow_choice_and_its_words(cdnow) -> None:
    """On CDNOW every model fits and is pinned down; MBG/NBD has the smallest squared error,
    within noise of BG/NBD's, but its chance still active ranks the buyers of the last 90 days
    far better (BG/NBD counts every one-time buyer as surely active), so MBG/NBD is used."""
    _, res = cdnow
    assert res.problems == {} and res.table["identified"].all()
    assert res.table["mse"].idxmin() == "mbgnbd" and res.table.loc["mbgnbd", "mse_high"] > 0
    assert res.table.loc["bgnbd", "auc"] < 0.5 < res.table.loc["mbgnbd", "auc"]
    assert res.table.loc["mbgnbd", "auc_p"] < 0.05
    assert res.chosen == "mbgnbd" and res.chosen_name == "MBG/NBD"
    assert "within what chance would give" in res.reason and "ranks the customers" in res.reason
    assert not res.all_off  # all within 20% of the 5,619 purchases
    assert res.short  # 90 days after up to 455 days of history: the page warns
    d = res.to_dict()
    assert d["chosen"] == "mbgnbd" and json.dumps(d)  # plain data for clv_models.json
    text = str(res.summary())
    assert "BG/NBD, Pareto/NBD and MBG/NBD on the same holdout" in text and "90 days" in text


# ---- the step and page 02 ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_result():
    from segwork import demo
    from segwork.customers import build_customer360
    from segwork.steps import rfm_clv as step

    d = demo.generate(1500, seed=7)
    ref = pd.Timestamp(d.truth["analysis_date"])
    c360 = build_customer360(d.customers, d.orders, analysis_date=ref, interactions=d.interactions)
    return step.run(d.orders, d.customers, d.interactions, analysis_date=ref, profile=c360)


def test_the_chosen_model_gives_the_predictions(demo_result) -> None:
    """p_alive, expected purchases and CLV in the rfm table come from the chosen model, refitted
    on all data up to the analysis date; clv_models records the choice; BG/NBD stays fitted."""
    res = demo_result
    choice = res.model_choice
    assert choice is not None and choice.chosen in mc.LIFETIME_MODELS
    assert res.lifetime.key == choice.chosen and res.lifetime_name == choice.chosen_name
    f = res.clv_features
    np.testing.assert_allclose(res.table["p_alive"].reindex(f.index), res.lifetime.p_alive(f))
    np.testing.assert_allclose(
        res.table["expected_purchases_90d"].reindex(f.index),
        res.lifetime.expected_purchases(90.0, f),
    )
    assert res.lifetime.model.n_customers_ == len(f)  # refitted at the analysis date
    models = res.models()
    assert models["lifetime_model"] == choice.chosen and models["bgnbd"] == res.bgnbd.params_
    assert models["model_choice"]["chosen"] == choice.chosen
    json.dumps(models["model_choice"])
    assert res.bgnbd is not None


def test_a_named_model_gives_the_predictions(monkeypatch) -> None:
    """clv_model names the model: with it alone in clv_models there is no comparison and it is
    fitted at the analysis date; the value table names it."""
    from segwork import demo
    from segwork.steps import rfm_clv as step

    d = demo.generate(600, seed=5)
    ref = pd.Timestamp(d.truth["analysis_date"])
    named = step.run(d.orders, analysis_date=ref, clv_models=["paretonbd"], clv_model="paretonbd")
    assert named.model_choice is None and named.lifetime.key == "paretonbd"
    assert isinstance(named.lifetime.model, clv.ParetoNBD) and not named.lifetime_untrusted
    assert "chance still active (Pareto/NBD)" in _value_columns(named)
    from segwork import display
    from segwork.pages import rfm_clv as page

    shown: list[str] = []
    monkeypatch.setattr(display, "_html", shown.append)
    page.lifetime_models(named)
    assert "Pareto/NBD gives the chance still active" in shown[0] and "only model" in shown[0]


def _value_columns(res) -> list[str]:
    from segwork.pages import rfm_clv as page

    table = page.segment_value_table(res, currency="EUR")
    return [] if table is None else list(table.frame.columns)


def test_page_section_leads_with_the_choice_and_shows_its_evidence(demo_result, monkeypatch):
    """The section: the finding first (the chosen model named, and why), the comparison table
    with headers in words, the conditional-expectation figure with alt text from the data, the
    warnings that apply, and the fits with their references for analysts."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from segwork import display
    from segwork.pages import rfm_clv as page

    shown: list[str] = []
    monkeypatch.setattr(display, "_html", shown.append)
    res = demo_result
    page.lifetime_models(res)
    html = "\n".join(shown)
    assert not plt.get_fignums()
    choice = res.model_choice
    finding = html.index("The lifetime model used on this page")
    assert finding < html.index("<table") < html.index("<img ")
    assert f"{choice.chosen_name} gives the chance still active" in html
    actual = int(choice.table["actual_total"].iloc[0])
    assert f"made {actual:,} purchases" in html
    alts = re.findall(r"<img [^>]*alt='([^']*)'", html)
    assert len(alts) == 1 and "by the number of repeat purchases" in alts[0]
    assert f"{choice.groups['actual'].iloc[0]:.2f} for 0" in alts[0]
    heads = re.findall(r"<th [^>]*>([^<]*)</th>", html)
    assert "Root mean squared error" in heads and "Mean absolute error" in heads
    assert not [h for h in heads if "_" in h]
    assert "For analysts: the lifetime models&#x27; fits and parameters" in html or (
        "For analysts: the lifetime models' fits and parameters" in html
    )
    assert "Batislam, Denizel &amp; Filiztekin (2007)" in html
    warned = "No model predicts" in html
    assert warned == choice.all_off
    assert ("The check covers the last 90 days" in html) == choice.short


def test_page_warnings_say_when_no_model_predicts_well_or_the_check_is_short(demo_result):
    from dataclasses import replace

    from segwork.pages import rfm_clv as page

    choice = demo_result.model_choice
    off = replace(choice, table=choice.table.assign(total_error=[0.31, 0.25, 0.4]))
    text = " ".join(page.choice_warnings(off))
    assert "No model predicts the last 90 days well: every one overpredicted" in text
    assert "+31%" in text
    fine = replace(
        choice,
        table=choice.table.assign(total_error=0.05, actual_total=5000.0),
        calibration_length=200.0,
    )
    assert page.choice_warnings(fine) == []
    short = replace(fine, holdout_length=30.0)
    (warning,) = page.choice_warnings(short, clv_months=12)
    assert "short against the up to 200 days of history" in warning
    assert "12-month lifetime value reaches beyond what was checked" in warning


def test_when_nobody_leaves_no_model_is_chosen_and_the_page_says_so() -> None:
    """Steady buyers who never stop (the invoice export's case): none of the three models pins
    down its dropout, so none is chosen; the finding says so and names the fallback."""
    from segwork.pages import rfm_clv as page

    feats, y = _simulate("nbd", (2.0, 10.0, 0.0, 0.0), 3000, seed=6)
    res = mc.compare_models(feats, y, holdout_length=39.0)
    assert res.chosen is None and set(res.problems) == set(mc.LIFETIME_MODELS)
    assert not res.table["identified"].any()
    text = page.choice_headline(res, used="BG/NBD")
    assert text.startswith("No model can be chosen: every fit failed or left a parameter")
    assert "BG/NBD gives the chance still active" in text and "with its warnings" in text
    table = page.choice_table(res).frame
    assert set(table["status"]) == {"not pinned down"}

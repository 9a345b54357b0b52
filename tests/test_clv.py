"""BG/NBD, Gamma-Gamma, CLV and propensity against simulations with known truth and direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from segwork import clv, demo, rfm

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}  # the CDNOW estimates of the paper (weeks)


def simulate_bgnbd(n: int, params: dict, T: np.ndarray, horizon: float = 0.0, seed: int = 0):
    """Purchases after a first one at time 0: Poisson(lambda) until dropout (prob p after each purchase).

    Returns x (repeat purchases in (0, T]), t_x (time of the last one) and future purchases in (T, T + horizon].
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    t, x, tx, future = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        t_next = t + rng.exponential(1 / lam)
        buy = alive & (t_next <= T + horizon)
        past = buy & (t_next <= T)
        x[past] += 1
        tx[past] = t_next[past]
        future[buy & ~past] += 1
        t = np.where(buy, t_next, t)
        alive = buy & (rng.random(n) >= p)
    return x, tx, future


@pytest.fixture(scope="module")
def simulated():
    T = np.random.default_rng(1).uniform(26, 78, 30_000)
    x, tx, _ = simulate_bgnbd(30_000, TRUE, T, seed=2)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


@pytest.fixture(scope="module")
def fitted(simulated):
    return clv.BetaGeo().fit(simulated)


def test_bgnbd_recovers_known_parameters(fitted) -> None:
    for k, v in TRUE.items():
        se = fitted.standard_errors_[k]
        assert abs(fitted.params_[k] - v) < max(3.5 * se, 0.12 * v), (k, fitted.params_[k], se)
    assert "distinct (frequency, recency, T)" in fitted.summary()


def test_bgnbd_log_likelihood_matches_the_published_formula(simulated, fitted) -> None:
    r, alpha, a, b = (fitted.params_[k] for k in ("r", "alpha", "a", "b"))
    rows = simulated.sample(300, random_state=3).itertuples()
    for row in rows:
        x, tx, T = row.frequency, row.recency, row.T
        # eq. 6 of Fader, Hardie & Lee (2005), written out directly
        direct = (
            math.gamma(r + x)
            * alpha**r
            / math.gamma(r)
            * math.exp(
                math.lgamma(a)
                + math.lgamma(b + x)
                + math.lgamma(a + b)
                - math.lgamma(a + b + x)
                - math.lgamma(a)
                - math.lgamma(b)
            )
            * (
                (alpha + T) ** -(r + x)
                + (a / (b + x - 1) * (alpha + tx) ** -(r + x) if x > 0 else 0.0)
            )
        )
        got = clv.bgnbd_log_likelihood(
            (r, alpha, a, b), np.array([x]), np.array([tx]), np.array([T])
        )[0]
        assert got == pytest.approx(math.log(direct), abs=1e-8)


def test_aggregated_fit_reports_the_likelihood_of_every_customer(simulated, fitted) -> None:
    p = [fitted.params_[k] for k in ("r", "alpha", "a", "b")]
    per_customer = clv.bgnbd_log_likelihood(
        p, *(simulated[c].to_numpy() for c in ("frequency", "recency", "T"))
    )
    assert fitted.log_likelihood_ == pytest.approx(per_customer.sum(), rel=1e-12)
    twice = clv.BetaGeo().fit(pd.concat([simulated, simulated]))
    assert twice.n_customers_ == 2 * len(simulated) and twice.n_triples_ == fitted.n_triples_
    for k in TRUE:
        assert twice.params_[k] == pytest.approx(fitted.params_[k], rel=1e-4)


def test_p_alive_properties(fitted) -> None:
    assert (
        fitted.p_alive([0, 0], [0, 0], [10, 50]) == 1.0
    ).all()  # no repeat purchase: alive by assumption
    pa = fitted.p_alive([3, 3, 3], [20, 20, 20], [30, 50, 80])
    assert pa[0] > pa[1] > pa[2] and (pa > 0).all()


def test_conditional_predictions_match_simulation_for_customers_without_repeat_purchases() -> None:
    T = np.full(400_000, 40.0)
    x, _, future = simulate_bgnbd(400_000, TRUE, T, horizon=20.0, seed=7)
    bg = clv.BetaGeo()
    bg.params_ = dict(TRUE)
    zero = x == 0  # conditioning on (0, 0, T) is exact
    n = zero.sum()
    exp = bg.expected_purchases(20.0, [0], [0], [40.0])[0]
    assert future[zero].mean() == pytest.approx(exp, abs=4 * future[zero].std() / math.sqrt(n))
    p = bg.p_purchase(20.0, [0], [0], [40.0])[0]
    assert (future[zero] > 0).mean() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))


def test_unconditional_expectation_matches_simulation() -> None:
    bg = clv.BetaGeo()
    bg.params_ = dict(TRUE)
    x, _, _ = simulate_bgnbd(300_000, TRUE, np.full(300_000, 30.0), seed=9)
    assert x.mean() == pytest.approx(
        bg.expected_purchases_new(30.0), abs=4 * x.std() / math.sqrt(len(x))
    )


def simulate_gg(n: int, p: float, q: float, v: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, n)
    nu = rng.gamma(q, 1 / v, n)
    m = np.array([rng.gamma(p, 1 / nu_i, k).mean() for nu_i, k in zip(nu, x, strict=True)])
    return pd.DataFrame({"frequency": x.astype(float), "monetary": m})


def test_gamma_gamma_recovers_parameters_and_likelihood_matches_integration() -> None:
    data = simulate_gg(8000, 6.0, 4.0, 15.0, seed=4)
    gg = clv.GammaGamma().fit(data)
    for k, v in {"p": 6.0, "q": 4.0, "v": 15.0}.items():
        assert abs(gg.params_[k] - v) < max(3.5 * gg.standard_errors_[k], 0.15 * v), (
            k,
            gg.params_[k],
        )
    p, q, v = 6.0, 4.0, 15.0
    for x, m in [(1.0, 12.5), (4.0, 31.0), (9.0, 17.0)]:
        # the mean of x Gamma(p, rate nu) spends is Gamma(p x, rate x nu); integrate over nu ~ Gamma(q, rate v)
        density, _ = integrate.quad(
            lambda nu, x=x, m=m: (
                stats.gamma.pdf(m, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1 / v)
            ),
            0,
            np.inf,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        got = clv.gamma_gamma_log_likelihood((p, q, v), np.array([x]), np.array([m]))[0]
        assert got == pytest.approx(math.log(density), abs=1e-7)
    # E[spend | x, m] is the posterior mean p / E-posterior rate: closed form (p (v + x m)) / (p x + q - 1)
    assert gg.conditional_expected_average_profit(0, 0) == pytest.approx(
        gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1)
    )


def test_clv_discounts_monthly_increments() -> None:
    class Linear(clv.BetaGeo):
        def expected_purchases(self, t, frequency=None, recency=None, T=None):
            return np.full(len(np.atleast_1d(frequency)), 0.1 * t)  # 0.1 purchases per day

    class Flat(clv.GammaGamma):
        def conditional_expected_average_profit(self, frequency, monetary):
            return np.full(len(np.atleast_1d(frequency)), 200.0)

    feats = pd.DataFrame(
        {"frequency": [1.0, 2.0], "recency": [5.0, 9.0], "T": [10.0, 20.0], "monetary": [1.0, 1.0]}
    )
    got = clv.customer_lifetime_value(
        Linear(), Flat(), feats, horizon_months=12, discount_rate_monthly=0.02
    )
    expected = sum(0.1 * 30 * 200 / 1.02**m for m in range(1, 13))
    assert got.tolist() == pytest.approx([expected, expected], rel=1e-12)
    weekly = clv.customer_lifetime_value(
        Linear(), Flat(), feats, horizon_months=1, discount_rate_monthly=0.0, time_unit="W"
    )
    assert weekly.iloc[0] == pytest.approx(0.1 * 30 / 7 * 200)


@pytest.fixture(scope="module")
def small_demo():
    return demo.generate(2500, seed=5)


def test_propensity_holdout_and_comparison_on_demo_data(small_demo) -> None:
    d = small_demo
    ref = pd.Timestamp(d.truth["analysis_date"])
    cmp = clv.compare_on_holdout(
        d.orders, d.customers, d.interactions, analysis_date=ref, horizon_days=90
    )
    m = cmp["metrics"]
    assert m.loc["propensity", "auc"] > 0.7 and m.loc["bgnbd", "auc"] > 0.7
    assert (m["brier"] < m["brier_baseline"]).all()
    preds = cmp["predictions"]
    # the label is recomputed independently from the orders
    o = d.orders[
        (d.orders["amount"] > 0)
        & (d.orders["order_date"] >= ref - pd.Timedelta(days=89))
        & (d.orders["order_date"] < ref + pd.Timedelta(days=1))
    ]
    assert set(preds.index[preds["actual"]]) == set(o["customer_id"]) & set(preds.index)
    cal = cmp["calibration"]
    assert (
        set(cal["model"]) == {"propensity", "bgnbd"}
        and cal.groupby("model")["customers"].sum().eq(len(preds)).all()
    )
    assert cmp["groups"]["customers"].sum() == len(preds)


def test_clv_on_rfm_features_of_demo_data(small_demo) -> None:
    feats = rfm.features(
        small_demo.orders, analysis_date=small_demo.truth["analysis_date"], convention="clv"
    )
    bg, gg = clv.BetaGeo().fit(feats), clv.GammaGamma().fit(feats)
    value = clv.customer_lifetime_value(bg, gg, feats)
    assert value.index.equals(feats.index) and (value >= 0).all() and value.notna().all()
    pa = bg.p_alive(feats["frequency"], feats["recency"], feats["T"])
    assert ((pa >= 0) & (pa <= 1)).all()


def test_degenerate_inputs_give_clear_errors() -> None:
    with pytest.raises(clv.CLVError, match="empty"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [], "recency": [], "T": []}))
    with pytest.raises(clv.CLVError, match="no customer has a repeat purchase"):
        clv.BetaGeo().fit(
            pd.DataFrame({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [5.0, 9.0]})
        )
    with pytest.raises(clv.CLVError, match="distinct customer histories"):
        clv.BetaGeo().fit(
            pd.DataFrame({"frequency": [2.0] * 50, "recency": [5.0] * 50, "T": [9.0] * 50})
        )
    with pytest.raises(clv.CLVError, match="recency 0 when"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [0.0], "recency": [3.0], "T": [5.0]}))
    with pytest.raises(clv.CLVError, match="repeat buyers"):
        clv.GammaGamma().fit(pd.DataFrame({"frequency": [0.0, 1.0], "monetary": [0.0, 5.0]}))
    with pytest.raises(clv.CLVError, match="fit the model first"):
        clv.BetaGeo().p_alive()
    X = pd.DataFrame({"f": [1.0, 2.0, 3.0]})
    with pytest.raises(clv.CLVError, match="one class only"):
        clv.PropensityModel().fit(X, pd.Series([True, True, True]))


def test_customer_table_and_value_by_segment(small_demo) -> None:
    feats = rfm.features(
        small_demo.orders, analysis_date=small_demo.truth["analysis_date"], convention="clv"
    )
    bg, gg = clv.BetaGeo().fit(feats), clv.GammaGamma().fit(feats)
    prop = pd.Series(0.5, index=feats.index[:10])
    table = clv.customer_table(bg, gg, feats, prop, horizon_days=90, horizon_months=6)
    assert list(table.columns) == [
        "p_alive",
        "expected_purchases_90d",
        "expected_spend",
        "clv_6m",
        "propensity_90d",
    ]
    np.testing.assert_allclose(
        table["p_alive"], bg.p_alive(feats["frequency"], feats["recency"], feats["T"])
    )
    assert table["propensity_90d"].notna().sum() == 10
    table["rfm_segment"] = np.where(feats["frequency"] > 2, "often", "rarely")
    by = clv.value_by_segment(table).set_index("rfm_segment")
    assert by["clv_total"].sum() == pytest.approx(table["clv_6m"].sum())
    assert by.loc["often", "customers"] == (feats["frequency"] > 2).sum()
    assert by["clv_share"].sum() == pytest.approx(1.0)


def test_analytic_gradient_matches_finite_differences(simulated) -> None:
    rows = simulated.sample(500, random_state=1)
    x, tx, T = (rows[c].to_numpy() for c in ("frequency", "recency", "T"))
    params = np.array([0.4, 6.0, 0.9, 3.0])
    _, grad = clv.bgnbd_log_likelihood_and_gradient(params, x, tx, T)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6 * params[i]
        numeric = (clv.bgnbd_log_likelihood(params + e, x, tx, T) - clv.bgnbd_log_likelihood(params - e, x, tx, T)) / (
            2 * e[i]
        )
        np.testing.assert_allclose(grad[:, i], numeric, rtol=1e-5, atol=1e-7)

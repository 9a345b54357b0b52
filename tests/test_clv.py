"""BG/NBD, Gamma-Gamma, CLV and propensity against known truth, published formulas and integrals.

Oracles: simulation from known parameters (fit recovery, Monte Carlo predictions), eq. 6 of
Fader, Hardie & Lee (2005) written out with plain gamma/beta functions, numerical integration of
the individual-level model over the posterior of (lambda, p), a per-customer (unaggregated) fit
with numerical gradients, statsmodels' numerical Hessian, closed-form annuities for CLV, and an
independent pandas computation of the propensity label.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats
from sklearn.ensemble import HistGradientBoostingClassifier  # loads OpenMP, so the limit holds
from statsmodels.tools.numdiff import approx_hess
from threadpoolctl import threadpool_limits

from segwork import clv, demo, display, rfm
from segwork.pages import rfm_clv as page02
from segwork.plots import clv as plots_clv
from segwork.steps import rfm_clv as step02


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """OpenMP in HistGradientBoosting stalls when pytest-xdist workers share two cores.

    threadpoolctl limits only libraries already loaded, hence the sklearn.ensemble import.
    """
    assert HistGradientBoostingClassifier is not None
    with threadpool_limits(1):
        yield


TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}  # the CDNOW estimates of the paper (weeks)
NAMES = ("r", "alpha", "a", "b")


def simulate_bgnbd(n: int, params: dict, T: np.ndarray, horizon: float = 0.0, seed: int = 0):
    """Customers who made a first purchase at 0: Poisson(lambda) purchases, and after each
    (repeat) purchase dropout with probability p; lambda ~ Gamma(r, alpha), p ~ Beta(a, b).

    Returns x (repeat purchases in (0, T]), t_x (time of the last one, 0 if none) and the number
    of purchases in (T, T + horizon].
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,))
    x, tx, future = np.zeros(n), np.zeros(n), np.zeros(n)
    t = np.zeros(n)
    idx = np.arange(n)  # customers still alive and inside T + horizon
    while idx.size:
        t_next = t[idx] + rng.exponential(1 / lam[idx])
        buy = t_next <= T[idx] + horizon
        idx, t_next = idx[buy], t_next[buy]
        past = t_next <= T[idx]
        x[idx[past]] += 1
        tx[idx[past]] = t_next[past]
        future[idx[~past]] += 1
        t[idx] = t_next
        idx = idx[rng.random(idx.size) >= p[idx]]
    return x, tx, future


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    T = np.random.default_rng(1).uniform(26, 78, 30_000)
    x, tx, _ = simulate_bgnbd(30_000, TRUE, T, seed=2)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


@pytest.fixture(scope="module")
def fitted(simulated) -> clv.BetaGeo:
    return clv.BetaGeo().fit(simulated)


def model(params: dict) -> clv.BetaGeo:
    bg = clv.BetaGeo()
    bg.params_ = dict(params)
    return bg


# ---- BG/NBD: estimation ----------------------------------------------------------------------
def test_bgnbd_recovers_known_parameters(fitted) -> None:
    assert fitted.converged_
    for k, v in TRUE.items():
        est, se = fitted.params_[k], fitted.standard_errors_[k]
        assert abs(est - v) < 3.5 * se, (k, est, se)
        assert abs(est - v) < 0.12 * v, (k, est)
    text = fitted.summary()
    assert "distinct (frequency, recency, T): 30,000" in text and "std err" in text
    assert f"{fitted.log_likelihood_:,.3f}" in text


def test_bgnbd_log_likelihood_matches_the_published_formula(simulated) -> None:
    rows = simulated.sample(300, random_state=3)
    for r, alpha, a, b in [(0.25, 4.0, 0.8, 2.5), (1.7, 0.6, 2.2, 0.4)]:
        got = clv.bgnbd_log_likelihood(
            (r, alpha, a, b), rows["frequency"], rows["recency"], rows["T"]
        )
        for (x, tx, T), g in zip(rows[["frequency", "recency", "T"]].to_numpy(), got, strict=True):
            # eq. 6 of Fader, Hardie & Lee (2005), with plain gamma and beta functions
            direct = (
                special.beta(a, b + x)
                / special.beta(a, b)
                * math.gamma(r + x)
                * alpha**r
                / math.gamma(r)
                * (
                    (alpha + T) ** -(r + x)
                    + (a / (b + x - 1) * (alpha + tx) ** -(r + x) if x > 0 else 0.0)
                )
            )
            assert g == pytest.approx(math.log(direct), abs=1e-8)


def daily(n: int, seed: int) -> pd.DataFrame:
    """Histories in whole days (as segwork.rfm.features gives), so many customers share one."""
    T = 30.0 * np.random.default_rng(seed).integers(1, 14, n)  # monthly cohorts
    x, tx, _ = simulate_bgnbd(n, {"r": 0.6, "alpha": 20.0, "a": 0.7, "b": 3.0}, T, seed=seed + 1)
    return pd.DataFrame({"frequency": x, "recency": np.where(x > 0, np.ceil(tx), 0.0), "T": T})


def test_aggregated_fit_equals_the_fit_on_every_customer() -> None:
    data = daily(6000, seed=11)
    bg = clv.BetaGeo().fit(data)
    assert bg.n_triples_ < 0.75 * len(data)  # aggregation does something here
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    per_customer = clv.bgnbd_log_likelihood([bg.params_[k] for k in NAMES], x, tx, T)
    assert bg.log_likelihood_ == pytest.approx(per_customer.sum(), rel=1e-12)

    # an independent fit: every customer separately, numerical gradients, another optimiser
    def neg(log_p):
        return -clv.bgnbd_log_likelihood(np.exp(log_p), x, tx, T).sum() / len(x)

    start = np.log([1.0, 10.0, 1.0, 1.0])
    naive = optimize.minimize(neg, start, method="BFGS", options={"gtol": 1e-9})
    for k, v in zip(NAMES, np.exp(naive.x), strict=True):
        assert bg.params_[k] == pytest.approx(v, rel=2e-5), k
    assert bg.log_likelihood_ >= -naive.fun * len(x) - 1e-6

    twice = clv.BetaGeo().fit(pd.concat([data, data]))
    assert twice.n_customers_ == 2 * len(data) and twice.n_triples_ == bg.n_triples_
    assert twice.params_ == pytest.approx(bg.params_, rel=1e-12)


def test_standard_errors_match_a_numerical_hessian_of_the_likelihood() -> None:
    data = daily(4000, seed=21)
    bg = clv.BetaGeo().fit(data)
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    theta = np.array([bg.params_[k] for k in NAMES])
    hess = approx_hess(theta, lambda th: clv.bgnbd_log_likelihood(th, x, tx, T).sum())
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    for k, s in zip(NAMES, se, strict=True):
        assert bg.standard_errors_[k] == pytest.approx(s, rel=2e-3), k


def test_analytic_gradients_match_finite_differences(simulated) -> None:
    rows = simulated.sample(2000, random_state=1)
    x, tx, T = (rows[c].to_numpy() for c in ("frequency", "recency", "T"))
    ux, xi = np.unique(x, return_inverse=True)
    data = clv.bgnbd._BGData(x, tx, T, np.arange(1.0, len(x) + 1))  # unequal weights
    gg = simulate_gg(500, 3.0, 5.0, 40.0, seed=3)
    gx, gxi = np.unique(gg["frequency"].to_numpy(), return_inverse=True)
    objectives = {
        "bgnbd": (lambda lp: clv.bgnbd._bg_objective(lp, data, 0.3), np.log([0.4, 6.0, 0.9, 3.0])),
        "gamma-gamma": (
            lambda lp: clv.gamma_gamma._gg_objective(
                lp, gx, gxi, gg["monetary"].to_numpy(), np.ones(500), 0.3
            ),
            np.log([2.0, 4.0, 30.0]),
        ),
    }
    for name, (fun, lp) in objectives.items():
        _, grad = fun(lp)
        h = 1e-6
        numeric = [(fun(lp + e)[0] - fun(lp - e)[0]) / (2 * h) for e in np.eye(len(lp)) * h]
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_penalizer_shrinks_the_parameters() -> None:
    data = daily(3000, seed=51)
    plain, shrunk = clv.BetaGeo().fit(data), clv.BetaGeo(penalizer=0.1).fit(data)
    scale = (
        10.0 / data["T"].max()
    )  # the penalty applies in time rescaled to max T = 10 (lifetimes 0.11.3 uses 1)

    def size(bg):
        th = np.array([bg.params_[k] for k in NAMES]) * [1, scale, 1, 1]
        return float(th @ th)

    assert size(shrunk) < size(plain)
    assert shrunk.log_likelihood_ < plain.log_likelihood_
    with pytest.raises(clv.CLVError, match="penalizer"):
        clv.BetaGeo(penalizer=-1).fit(data)


# ---- BG/NBD: predictions ---------------------------------------------------------------------
def posterior_oracle(params: dict, x: float, tx: float, T: float, t: float) -> dict[str, float]:
    """The individual-level model integrated over the prior of (lambda, p), numerically.

    Alive at T: (1-p)^x lambda^x e^(-lambda T); dropped out after the last purchase:
    p (1-p)^(x-1) lambda^x e^(-lambda t_x). Future counts given (lambda, p) and alive: the
    paper's P(X(t) = n | lambda, p). Substitutions lambda = s^(1/r), p = u^(1/a) remove the
    singularities of the prior densities at 0.
    """
    r, alpha, a, b = (params[k] for k in NAMES)
    const = alpha**r / math.gamma(r) / r / (a * special.beta(a, b))
    s_max = ((r + x + 12 * math.sqrt(r + x) + 30) / (alpha + tx)) ** r

    def integral(fn) -> float:
        def integrand(u, s):
            lam, p = s ** (1 / r), u ** (1 / a)
            prior = const * math.exp(-alpha * lam) * (1 - p) ** (b - 1)
            alive = (1 - p) ** x * lam**x * math.exp(-lam * T)
            dead = p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * tx) if x > 0 else 0.0
            return prior * fn(lam, p, alive, dead)

        return integrate.dblquad(integrand, 0, s_max, 0, 1, epsabs=0, epsrel=1e-10)[0]

    def p_count(n: int, lam: float, p: float) -> float:
        q = (1 - p) ** n * (lam * t) ** n * math.exp(-lam * t) / math.factorial(n)
        if n > 0:
            head = sum((lam * t) ** j / math.factorial(j) for j in range(n))
            q += p * (1 - p) ** (n - 1) * (1 - math.exp(-lam * t) * head)
        return q

    z = integral(lambda lam, p, al, de: al + de)
    out = {
        "likelihood": z,
        "p_alive": integral(lambda lam, p, al, de: al) / z,
        "expected": integral(lambda lam, p, al, de: al * -math.expm1(-lam * p * t) / p) / z,
    }
    for n in range(3):
        alive_part = integral(lambda lam, p, al, de, n=n: al * p_count(n, lam, p))
        dead_part = integral(lambda lam, p, al, de: de) if n == 0 else 0.0
        out[f"p{n}"] = (alive_part + dead_part) / z
    return out


@pytest.mark.parametrize(("x", "tx", "T"), [(0, 0.0, 30.0), (2, 10.0, 40.0), (7, 35.0, 38.0)])
def test_predictions_match_the_integrated_individual_model(x, tx, T) -> None:
    bg, t = model(TRUE), 20.0
    o = posterior_oracle(TRUE, x, tx, T, t)
    h = ([x], [tx], [T])
    assert clv.bgnbd_log_likelihood([TRUE[k] for k in NAMES], *h)[0] == pytest.approx(
        math.log(o["likelihood"]), abs=1e-9
    )
    assert bg.p_alive(*h)[0] == pytest.approx(o["p_alive"], abs=1e-10)
    assert bg.expected_purchases(t, *h)[0] == pytest.approx(o["expected"], rel=1e-9)
    for n in range(3):
        assert bg.probability_of_purchases(n, t, *h)[0] == pytest.approx(o[f"p{n}"], abs=1e-10)
    assert bg.p_purchase(t, *h)[0] == pytest.approx(1 - o["p0"], abs=1e-10)


def test_expected_purchases_equal_the_papers_eq_10_and_the_pmf_mean(fitted) -> None:
    r, alpha, a, b = (fitted.params_[k] for k in NAMES)
    x = np.array([0.0, 1, 3, 12, 40])
    tx = np.array([0.0, 5, 30, 60, 70])
    T = np.array([10.0, 50, 52, 70, 72])
    t = 26.0
    # eq. 10 as printed (Gauss hypergeometric with the original arguments)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    eq10 = ((a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)) / (
        1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)
    )
    got = fitted.expected_purchases(t, x, tx, T)
    np.testing.assert_allclose(got, eq10, rtol=1e-9)
    pmf = np.array([fitted.probability_of_purchases(n, t, x, tx, T) for n in range(400)])
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-10)
    np.testing.assert_allclose((np.arange(400)[:, None] * pmf).sum(axis=0), got, rtol=1e-8)
    # eq. 9 (a new customer) is eq. 10 with no history
    assert fitted.expected_purchases_new(t) == pytest.approx(
        fitted.expected_purchases(t, [0], [0], [0])[0]
    )
    hyp9 = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    eq9 = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp9)
    assert fitted.expected_purchases_new(t) == pytest.approx(eq9, rel=1e-10)


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_time(fitted) -> None:
    assert (fitted.p_alive([0, 0, 0], [0, 0, 0], [0.5, 10, 500]) == 1.0).all()
    pa = fitted.p_alive([3] * 4, [20] * 4, [20, 30, 50, 80])
    assert pa[0] > pa[1] > pa[2] > pa[3] > 0
    assert pa[0] == pytest.approx(1 / (1 + TRUE["a"] / (TRUE["b"] + 2)), rel=0.1)  # t_x = T
    later = fitted.p_alive([3] * 3, [5, 25, 45], [50] * 3)  # more recent last purchase: more alive
    assert later[0] < later[1] < later[2]
    default = fitted.p_alive()  # the fitted customers
    assert default.shape == (fitted.n_customers_,) and ((default > 0) & (default <= 1)).all()


def test_conditional_predictions_match_simulation(fitted) -> None:
    """Monte Carlo of the fitted model: customers without repeat purchases by T are selected
    exactly; for a repeat buyer, draws from the prior are weighted by the likelihood of the
    history (alive or dropped out) and simulated forward."""
    params, t = dict(fitted.params_), 20.0
    T = np.full(300_000, 40.0)
    x, _, future = simulate_bgnbd(300_000, params, T, horizon=t, seed=7)
    zero = x == 0
    n = zero.sum()
    exp = fitted.expected_purchases(t, [0], [0], [40.0])[0]
    assert future[zero].mean() == pytest.approx(exp, abs=4 * future[zero].std() / math.sqrt(n))
    p = fitted.p_purchase(t, [0], [0], [40.0])[0]
    assert (future[zero] > 0).mean() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))

    rng = np.random.default_rng(8)
    m = 400_000
    lam = rng.gamma(params["r"], 1 / params["alpha"], m)
    drop = rng.beta(params["a"], params["b"], m)
    for hx, htx, hT in [(2, 25.0, 40.0), (6, 12.0, 40.0)]:
        alive_w = (1 - drop) ** hx * lam**hx * np.exp(-lam * hT)
        dead_w = drop * (1 - drop) ** (hx - 1) * lam**hx * np.exp(-lam * htx)
        fut = simulate_bgnbd_given(lam, drop, t, rng)
        w = alive_w + dead_w
        c = alive_w * fut
        mu = c.sum() / w.sum()
        se = math.sqrt(((c - mu * w) ** 2).sum()) / w.sum()  # ratio estimator
        assert se < 0.02 * mu  # the check has teeth
        assert fitted.expected_purchases(t, [hx], [htx], [hT])[0] == pytest.approx(mu, abs=4 * se)


def simulate_bgnbd_given(lam: np.ndarray, p: np.ndarray, horizon: float, rng):
    """Purchases in (0, horizon] of alive customers with known (lambda, p)."""
    n = len(lam)
    t, count = np.zeros(n), np.zeros(n)
    idx = np.arange(n)
    while idx.size:
        t_next = t[idx] + rng.exponential(1 / lam[idx])
        idx, t_next = idx[t_next <= horizon], t_next[t_next <= horizon]
        count[idx] += 1
        t[idx] = t_next
        idx = idx[rng.random(idx.size) >= p[idx]]
    return count


def test_unconditional_expectation_matches_simulation() -> None:
    bg = model(TRUE)
    x, _, _ = simulate_bgnbd(300_000, TRUE, 30.0, seed=9)
    assert x.mean() == pytest.approx(
        bg.expected_purchases_new(30.0), abs=4 * x.std() / math.sqrt(len(x))
    )


def test_predictions_accept_a_features_frame_and_scalars(fitted, simulated) -> None:
    head = simulated.head(5)
    np.testing.assert_array_equal(
        fitted.p_alive(head), fitted.p_alive(head["frequency"], head["recency"], head["T"])
    )
    assert fitted.expected_purchases(10.0, 1, 5.0, 9.0).shape == (1,)


# ---- Gamma-Gamma -----------------------------------------------------------------------------
def simulate_gg(n: int, p: float, q: float, v: float, seed: int = 0, x=None) -> pd.DataFrame:
    """x individual Gamma(p, rate nu) spends per customer, nu ~ Gamma(q, rate v); their mean."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, n) if x is None else x
    nu = rng.gamma(q, 1 / v, n)
    spends = rng.gamma(p, 1 / np.repeat(nu, x))
    m = np.add.reduceat(spends, np.concatenate([[0], np.cumsum(x)[:-1]])) / x
    return pd.DataFrame({"frequency": x.astype(float), "monetary": m})


def spend_of(feats: pd.DataFrame, seed: int) -> np.ndarray:
    """Gamma-Gamma mean spends for the repeat buyers of ``feats``, 0 for the others."""
    x = feats["frequency"].to_numpy().astype(int)
    rep = x > 0
    out = np.zeros(len(x))
    out[rep] = simulate_gg(int(rep.sum()), 4.0, 3.0, 100.0, seed=seed, x=x[rep])[
        "monetary"
    ].to_numpy()
    return out


def gg_density(p: float, q: float, v: float, x: float, m: float, weight=lambda nu: 1.0) -> float:
    """Integral over nu ~ Gamma(q, v) of the density of the mean of x Gamma(p, nu) spends."""
    return integrate.quad(
        lambda nu: (
            weight(nu)
            * stats.gamma.pdf(m, p * x, scale=1 / (x * nu))
            * stats.gamma.pdf(nu, q, scale=1 / v)
        ),
        0,
        np.inf,
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )[0]


def test_gamma_gamma_recovers_parameters_and_matches_integrals() -> None:
    truth = {"p": 6.0, "q": 4.0, "v": 1500.0}  # spend in the shop currency, mean 3000
    data = simulate_gg(8000, *truth.values(), seed=4)
    data.loc[:4, ["frequency", "monetary"]] = 0.0  # one-time buyers are left out
    gg = clv.GammaGamma().fit(data)
    assert gg.n_customers_ == 8000 - 5 and gg.n_excluded_ == 5
    for k, v in truth.items():
        assert abs(gg.params_[k] - v) < 3.5 * gg.standard_errors_[k], (k, gg.params_[k])
        assert abs(gg.params_[k] - v) < 0.15 * v, (k, gg.params_[k])
    p, q, v = truth.values()
    for x, m in [(1.0, 1250.0), (4.0, 3100.0), (9.0, 1700.0)]:
        density = gg_density(p, q, v, x, m)
        got = clv.gamma_gamma_log_likelihood((p, q, v), np.array([x]), np.array([m]))[0]
        assert got == pytest.approx(math.log(density), abs=1e-8)
        # posterior mean of the spend mean p / nu given the customer's x and m
        posterior = gg_density(p, q, v, x, m, weight=lambda nu: p / nu) / density
        est = clv.GammaGamma()
        est.params_ = dict(truth)
        assert est.conditional_expected_average_profit([x], [m])[0] == pytest.approx(
            posterior, rel=1e-8
        )
    assert gg.expected_spend([0.0], [0.0])[0] == pytest.approx(
        gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1)
    )
    assert "Pearson correlation of frequency and mean spend" in gg.summary()
    assert abs(gg.frequency_monetary_correlation_) < 0.1


def test_gamma_gamma_standard_errors_match_a_numerical_hessian() -> None:
    data = simulate_gg(3000, 3.0, 5.0, 40.0, seed=5)
    gg = clv.GammaGamma().fit(data)
    theta = np.array([gg.params_[k] for k in ("p", "q", "v")])
    x, m = data["frequency"].to_numpy(), data["monetary"].to_numpy()
    hess = approx_hess(theta, lambda th: clv.gamma_gamma_log_likelihood(th, x, m).sum())
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    for k, s in zip(("p", "q", "v"), se, strict=True):
        assert gg.standard_errors_[k] == pytest.approx(s, rel=2e-3), k


def test_gamma_gamma_warns_when_spend_depends_on_frequency() -> None:
    x = np.random.default_rng(6).integers(1, 12, 3000)
    data = simulate_gg(3000, 3.0, 5.0, 40.0, seed=6, x=x)
    data["monetary"] *= data["frequency"] ** 1.5  # frequent buyers spend more per purchase
    with pytest.warns(clv.CLVWarning, match="independent of frequency"):
        gg = clv.GammaGamma().fit(data)
    assert gg.frequency_monetary_correlation_ == pytest.approx(
        np.corrcoef(data["frequency"], data["monetary"])[0, 1]
    )
    assert "HIGH" in gg.summary()


# ---- lifetime value --------------------------------------------------------------------------
class Linear(clv.BetaGeo):
    """c purchases per time unit for everyone: CLV is an annuity."""

    def expected_purchases(self, t, frequency=None, recency=None, T=None):
        return np.full(len(np.atleast_1d(frequency)), 0.1 * t)


class Flat(clv.GammaGamma):
    def conditional_expected_average_profit(self, frequency=None, monetary=None):
        return np.full(len(frequency), 200.0)


FEATS = pd.DataFrame(
    {"frequency": [1.0, 2.0], "recency": [5.0, 9.0], "T": [10.0, 20.0], "monetary": [1.0, 1.0]}
)


@pytest.mark.parametrize(("unit", "month"), [("D", 30.0), ("W", 4.345)])
def test_clv_is_a_monthly_discounted_annuity_in_the_lifetimes_convention(unit, month) -> None:
    d, months = 0.02, 12
    got = clv.customer_lifetime_value(
        Linear(), Flat(), FEATS, horizon_months=months, discount_rate_monthly=d, time_unit=unit
    )
    annuity = (1 - (1 + d) ** -months) / d  # sum of (1 + d)^-m, m = 1..12
    assert got.tolist() == pytest.approx([0.1 * month * 200 * annuity] * 2, rel=1e-12)
    assert got.name == "clv_12m" and got.index.equals(FEATS.index)


def test_clv_without_discount_is_expected_purchases_times_spend(fitted) -> None:
    feats = daily(3000, seed=31)
    feats["monetary"] = spend_of(feats, seed=32)
    gg = clv.GammaGamma().fit(feats)
    value = clv.customer_lifetime_value(
        fitted, gg, feats, horizon_months=6, discount_rate_monthly=0.0
    )
    expected = fitted.expected_purchases(180.0, feats) * gg.expected_spend(feats)
    np.testing.assert_allclose(value.to_numpy(), expected, rtol=1e-10)
    discounted = clv.customer_lifetime_value(fitted, gg, feats, horizon_months=6)
    assert (discounted < value).all() and (discounted > value / 1.01**6).all()


def test_clv_refuses_mismatched_time_units(fitted) -> None:
    feats = FEATS.copy()
    feats.attrs["time_unit"] = "W"
    with pytest.raises(clv.CLVError, match="time_unit='D' but the features are in 'W'"):
        clv.customer_lifetime_value(fitted, Flat(), feats)
    with pytest.raises(clv.CLVError, match="time_unit"):
        clv.customer_lifetime_value(fitted, Flat(), FEATS, time_unit="Y")


# ---- propensity ------------------------------------------------------------------------------
REF = pd.Timestamp("2026-06-30")


def planted_crm(n: int = 1500, seed: int = 0):
    """Two years of orders with a planted signal: heavy buyers (mostly B2B) buy ~7x as often,
    and 30% of customers complain once and never buy again."""
    rng = np.random.default_rng(seed)
    start = REF - pd.Timedelta(days=729)
    days = 730
    heavy = rng.random(n) < 0.4
    rate = np.where(heavy, 0.035, 0.005)
    first = rng.integers(0, 300, n)
    churn = np.where(rng.random(n) < 0.3, rng.integers(200, days, n), days)
    span = np.maximum(churn - first, 1)
    k = 1 + rng.poisson(rate * span)
    cust = np.repeat(np.arange(n), k)
    offset = np.concatenate([[0], rng.integers(0, span[cust[1:]] if len(cust) > 1 else 1)])
    # the first order of each customer falls on its first day; the rest uniformly until churn
    firsts = np.r_[True, cust[1:] != cust[:-1]]
    day = first[cust] + np.where(firsts, 0, offset)
    day = np.minimum(day, np.minimum(churn[cust], days - 1))
    ids = np.array([f"C{i:05d}" for i in range(n)])
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i:07d}" for i in range(len(cust))],
            "customer_id": ids[cust],
            "order_date": start + pd.to_timedelta(day, unit="D") + pd.Timedelta(hours=10),
            "amount": rng.gamma(2.0, 400.0, len(cust)),
        }
    )
    complainers = churn < days
    interactions = pd.DataFrame(
        {
            "customer_id": ids[complainers],
            "occurred_at": start + pd.to_timedelta(churn[complainers], unit="D"),
            "kind": "complaint",
        }
    )
    b2b = np.where(rng.random(n) < 0.85, heavy, ~heavy)
    customers = pd.DataFrame({"customer_id": ids, "customer_type": np.where(b2b, "B2B", "B2C")})
    return orders, customers, interactions


@pytest.fixture(scope="module")
def crm():
    return planted_crm()


def test_propensity_dataset_sees_nothing_after_the_cutoff_and_labels_match_pandas(crm) -> None:
    orders, customers, interactions = crm
    cut = REF - pd.Timedelta(days=90)
    X, y = clv.build_propensity_dataset(
        orders, customers, interactions, cutoff=cut, horizon_days=60
    )
    later = orders["order_date"] >= cut + pd.Timedelta(days=1)
    X2, _ = clv.build_propensity_dataset(
        orders[~later], customers, interactions, cutoff=cut, horizon_days=60
    )
    pd.testing.assert_frame_equal(X, X2)
    before = orders.loc[~later & (orders["amount"] > 0), "customer_id"]
    assert set(X.index) == set(before)
    window = later & (orders["order_date"] < cut + pd.Timedelta(days=61)) & (orders["amount"] > 0)
    assert set(y.index[y]) == set(orders.loc[window, "customer_id"]) & set(X.index)
    for col in (
        "orders_total",
        "orders_30d",
        "orders_90d",
        "orders_365d",
        "days_since_last_order",
        "tenure_days",
        "aov",
        "complaints_total",
        "complaint_365d",
        "cart_abandoned_365d",
        "email_click_365d",
        "customer_type",
    ):
        assert col in X.columns, col
    complained = interactions.loc[
        interactions["occurred_at"] < cut + pd.Timedelta(days=1), "customer_id"
    ]
    assert X["complaints_total"].sum() == complained.isin(X.index).sum()


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
def test_temporal_holdout_finds_the_planted_signal(crm, kind) -> None:
    orders, customers, interactions = crm
    res = clv.temporal_holdout(
        orders, customers, interactions, analysis_date=REF, horizon_days=90, model=kind
    )
    m = res.metrics
    assert m["auc"] > 0.75 and m["brier"] < 0.9 * m["brier_baseline"]
    assert res.train_cutoff == REF - pd.Timedelta(
        days=180
    ) and res.eval_cutoff == REF - pd.Timedelta(days=90)
    cal = res.calibration
    assert list(cal.columns) == ["model", "decile", "predicted", "actual", "customers"]
    assert 5 <= len(cal) <= 10 and cal["customers"].sum() == m["n"]
    w = cal["customers"] / cal["customers"].sum()
    assert (w * cal["actual"]).sum() == pytest.approx(m["base_rate"], abs=1e-12)
    assert (w * cal["predicted"]).sum() == pytest.approx(
        res.predictions["propensity"].mean(), abs=1e-12
    )
    assert cal["actual"].iloc[-1] > cal["actual"].iloc[0] + 0.3
    scores = res.score()
    assert scores.between(0, 1).all() and set(scores.index) == set(orders["customer_id"])
    assert "AUC" in res.summary()


def test_compare_on_holdout_on_demo_data() -> None:
    d = demo.generate(2500, seed=5)
    ref = pd.Timestamp(d.truth["analysis_date"])
    cmp = clv.compare_on_holdout(
        d.orders, d.customers, d.interactions, analysis_date=ref, horizon_days=90
    )
    m = cmp["metrics"]
    assert m.loc["propensity", "auc"] > 0.7 and m.loc["bgnbd", "auc"] > 0.7
    assert (m["brier"] < m["brier_baseline"]).all()
    preds = cmp.predictions
    o = d.orders[
        (d.orders["amount"] >= 0)
        & (d.orders["order_date"] >= ref - pd.Timedelta(days=89))
        & (d.orders["order_date"] < ref + pd.Timedelta(days=1))
    ]
    assert set(preds.index[preds["actual"]]) == set(o["customer_id"]) & set(preds.index)
    days = o.assign(day=o["order_date"].dt.normalize()).groupby("customer_id")["day"].nunique()
    assert preds["actual_purchases"].equals(days.reindex(preds.index).fillna(0).astype("int64"))
    feats = rfm.features(d.orders, analysis_date=ref - pd.Timedelta(days=90), convention="clv")
    p_none = pd.Series(cmp.bgnbd.probability_of_purchases(0, 90.0, feats), index=feats.index)
    np.testing.assert_allclose(
        preds["bgnbd"], 1 - p_none.reindex(preds.index), rtol=1e-9, atol=1e-15
    )
    tidy = cmp.tidy
    assert set(tidy["view"]) == {"decile", "group"} and set(tidy["model"]) == {
        "propensity",
        "bgnbd",
    }
    assert (tidy.groupby(["model", "view"])["customers"].sum() == len(preds)).all()
    assert cmp["groups"]["customers"].sum() == len(preds)
    assert "propensity" in cmp.summary()


def test_customer_table_and_value_by_segment() -> None:
    feats = daily(2000, seed=41)
    feats.index = pd.Index([f"C{i}" for i in range(len(feats))], name="customer_id")
    feats["monetary"] = spend_of(feats, seed=42)
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
    np.testing.assert_allclose(table["expected_purchases_90d"], bg.expected_purchases(90, feats))
    assert table["propensity_90d"].notna().sum() == 10
    table["rfm_segment"] = np.where(feats["frequency"] > 2, "often", "rarely")
    by = clv.value_by_segment(table).set_index("rfm_segment")
    assert by["clv_total"].sum() == pytest.approx(table["clv_6m"].sum())
    assert by.loc["often", "customers"] == (feats["frequency"] > 2).sum()
    assert by["clv_share"].sum() == pytest.approx(1.0)


# ---- degenerate inputs -----------------------------------------------------------------------
def test_degenerate_inputs_give_clear_errors() -> None:
    with pytest.raises(clv.CLVError, match="empty"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [], "recency": [], "T": []}))
    one_order = pd.DataFrame(
        {
            "order_id": ["O1"],
            "customer_id": ["C1"],
            "order_date": [pd.Timestamp("2026-01-05")],
            "amount": [10.0],
        }
    )
    feats = rfm.features(one_order, analysis_date="2026-03-01", convention="clv")
    with pytest.raises(clv.CLVError, match="none of the 1 customers has a repeat purchase"):
        clv.BetaGeo().fit(feats)
    with pytest.raises(clv.CLVError, match="repeat buyers"):
        clv.GammaGamma().fit(feats)
    same = pd.DataFrame({"frequency": [2.0] * 50, "recency": [5.0] * 50, "T": [9.0] * 50})
    with pytest.raises(clv.CLVError, match="distinct customer histories"):
        clv.BetaGeo().fit(same)
    with pytest.raises(clv.CLVError, match="same mean spend"):
        clv.GammaGamma().fit(same.assign(monetary=25.0))
    bad = pd.DataFrame(
        {"frequency": [0.0, 1.0], "recency": [0.0, 12.0], "T": [5.0, 9.0]},
        index=pd.Index(["A", "B"], name="customer_id"),
    )
    with pytest.raises(clv.CLVError, match=r"recency outside \[0, T\].*customer_id B"):
        clv.BetaGeo().fit(bad)
    with pytest.raises(clv.CLVError, match="recency > 0 with frequency 0"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [0.0], "recency": [3.0], "T": [5.0]}))
    with pytest.raises(clv.CLVError, match="whole number"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [1.5], "recency": [3.0], "T": [5.0]}))
    with pytest.raises(clv.CLVError, match="missing"):
        clv.BetaGeo().fit(pd.DataFrame({"frequency": [1.0]}))
    with pytest.raises(clv.CLVError, match="fit the model first"):
        clv.BetaGeo().p_alive()
    with pytest.raises(clv.CLVError, match="fit the model first"):
        clv.GammaGamma().expected_spend([1], [2])
    with pytest.raises(clv.CLVError, match="one class only"):
        clv.PropensityModel().fit(pd.DataFrame({"f": [1.0, 2.0, 3.0]}), pd.Series([True] * 3))
    with pytest.raises(clv.CLVError, match="no customer has a purchase"):
        clv.build_propensity_dataset(one_order, cutoff="2025-12-31", horizon_days=30)
    assert issubclass(clv.CLVError, ValueError)


def test_weak_identification_is_flagged_not_hidden() -> None:
    """Four distinct histories, nobody visibly dropping out: the fit runs, and says so."""
    few = pd.DataFrame({"frequency": [0, 1, 2, 5.0], "recency": [0, 3, 8, 9.0], "T": [10.0] * 4})
    with pytest.warns(clv.CLVWarning, match="not identified|edge of the search"):
        bg = clv.BetaGeo().fit(few.loc[few.index.repeat(3)])
    # nobody drops out, so the dropout parameters a, b are what the data cannot pin down
    assert {"a", "b"} <= set(bg.weak_parameters_)
    for k in bg.weak_parameters_:
        se = bg.standard_errors_[k]
        assert se == np.inf or se / bg.params_[k] > 100, (k, se)
    assert not any(math.isnan(v) for v in bg.standard_errors_.values())
    (caveat,) = bg.caveats()  # the page says it in words, with the consequence
    assert "cannot be trusted" in caveat and "100% of repeat buyers" in caveat


def test_a_fit_that_sees_nobody_leave_is_said_in_words(simulated) -> None:
    """Well-identified parameters can still say that nobody drops out; the page then says what
    that does to p_alive. The same histories under the paper's parameters give no caveat."""
    x, tx, T = (simulated[c].to_numpy() for c in ("frequency", "recency", "T"))
    rep = x > 0
    gap = T - tx
    longest = rep & (gap >= np.quantile(gap[rep], 0.75))
    for params, says in ((TRUE, False), ({**TRUE, "a": 0.002, "b": 8.0}, True)):
        bg = model(params)
        bg._data, bg.weak_parameters_, bg.converged_ = (x, tx, T), [], True
        share = (bg.p_alive() >= 0.99)[longest].mean()
        assert (share >= 0.5) == says
        caveats = bg.caveats()
        assert bool(caveats) == says
        if says:
            assert f"{share:.0%} of the quarter who have gone longest" in caveats[0]
            assert "sees almost nobody stop buying" in caveats[0]


@pytest.mark.parametrize(
    "form",
    ["singular", "indefinite", "nan", "edge"],
)
def test_every_form_of_a_degenerate_hessian_flags_the_weak_parameters(form) -> None:
    """A Hessian that does not identify (a, b) - flat, curving down, not finite, or a parameter at
    the edge of the search - gives infinite variance for exactly those parameters and the plain
    inverse for the others (closed form: block-diagonal Hessian)."""
    good = np.array([[4.0, 1.0], [1.0, 3.0]])  # (log r, log alpha), positive definite
    bad = {
        "singular": np.array([[1.0, 1.0], [1.0, 1.0]]),  # flat along (1, -1)
        "indefinite": np.array([[1.0, 2.0], [2.0, 1.0]]),  # eigenvalue -1 along (1, -1)
        "nan": np.array([[np.nan, 0.0], [0.0, 1.0]]),
        "edge": np.array([[2.0, 0.0], [0.0, 5.0]]),
    }[form]
    hess = np.zeros((4, 4))
    hess[:2, :2], hess[2:, 2:] = good, bad
    edge = [2, 3] if form == "edge" else []
    cov = clv.fitting._covariance_from_hessian(hess, edge)
    np.testing.assert_allclose(cov[:2, :2], np.linalg.inv(good), rtol=1e-12)
    if form == "nan":  # only log a is undefined; log b is identified on its own
        assert np.isinf(cov[2, 2]) and cov[3, 3] == pytest.approx(1.0)
    else:
        assert np.isinf(cov[2, 2]) and np.isinf(cov[3, 3])
    fit = optimize.OptimizeResult(x=np.zeros(4), success=True, jac=np.zeros(4), message="")
    with pytest.warns(clv.CLVWarning, match="a"):
        weak, text = clv.fitting._fit_problems("BG/NBD", fit, NAMES, cov, "advice")
    assert set(weak) == ({"a"} if form == "nan" else {"a", "b"})


# ---- AUC difference (DeLong) -------------------------------------------------------------------
def _correlated_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    common = rng.normal(size=n)
    s1 = 1.0 * y + common + 0.8 * rng.normal(size=n)
    s2 = 0.8 * y + common + 0.8 * rng.normal(size=n)
    return y, np.round(s1, 1), np.round(s2, 1)  # rounded: ties, as in real scores


def test_delong_matches_its_definition_computed_pair_by_pair() -> None:
    """Structural components written out as the O(m n) double sum of DeLong et al. (1988)."""
    y, s1, s2 = _correlated_scores(150, seed=3)
    got = clv.auc_difference(y, s1, s2)

    def psi(a, b):  # buyer score a against non-buyer score b
        return (a > b) + 0.5 * (a == b)

    comps = []
    for s in (s1, s2):
        grid = psi(s[y][:, None], s[~y][None, :])
        comps.append((grid.mean(), grid.mean(axis=1), grid.mean(axis=0)))
    m, n = y.sum(), (~y).sum()
    s10 = np.cov(np.vstack([c[1] for c in comps]))
    s01 = np.cov(np.vstack([c[2] for c in comps]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    from sklearn.metrics import roc_auc_score

    assert got["auc_first"] == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    assert got["auc_second"] == pytest.approx(roc_auc_score(y, s2), abs=1e-12)
    assert got["se"] == pytest.approx(math.sqrt(var), rel=1e-10)
    assert got["low"] == pytest.approx(got["difference"] - 1.959963984540054 * got["se"])
    assert got["p_value"] == pytest.approx(
        2 * stats.norm.sf(abs(got["difference"]) / got["se"]), rel=1e-10
    )


def _bootstrap_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each resample, the resample given as customer counts (B x n):
    P(buyer scores above a non-buyer) + P(tie) / 2, summed over the distinct score values."""
    values, code = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(values)))
    onehot[np.arange(len(score)), code] = 1.0
    pos, neg = (weights * y) @ onehot, (weights * ~y) @ onehot  # B x distinct values
    below = np.cumsum(neg, axis=1) - neg
    return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def test_delong_interval_agrees_with_a_paired_bootstrap_over_customers() -> None:
    """The oracle: the spread of AUC1 - AUC2 over 4,000 paired resamples of customers."""
    from sklearn.metrics import roc_auc_score

    y, s1, s2 = _correlated_scores(1500, seed=4)
    got = clv.auc_difference(y, s1, s2)
    rng = np.random.default_rng(5)
    counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=4000).astype(float)
    one = np.ones((1, len(y)))
    assert _bootstrap_auc(y, s1, one)[0] == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    diffs = _bootstrap_auc(y, s1, counts) - _bootstrap_auc(y, s2, counts)
    # Monte Carlo error of a bootstrap SD with B = 4000 is about 1.1%
    assert got["se"] == pytest.approx(np.std(diffs, ddof=1), rel=0.05)
    assert got["difference"] == pytest.approx(np.mean(diffs), abs=0.2 * got["se"])


def test_identical_rankings_are_indistinguishable_and_the_page_says_so() -> None:
    y, s1, _ = _correlated_scores(400, seed=6)
    same = clv.auc_difference(y, s1, 2 * s1 + 1)  # a monotone transform ranks alike
    assert same["difference"] == 0 and same["se"] == 0 and same["p_value"] == 1.0
    assert same["low"] == same["high"] == 0


def test_page_calls_a_model_better_only_when_the_interval_excludes_zero() -> None:
    d = demo.generate(1200, seed=7)
    ref = pd.Timestamp(d.truth["analysis_date"])
    cmp = clv.compare_on_holdout(d.orders, analysis_date=ref, horizon_days=90)
    diff = cmp.auc_difference
    p = cmp.predictions
    assert diff == clv.auc_difference(p["actual"], p["propensity"], p["bgnbd"])
    text = page02.comparison_text(cmp)
    excludes = diff["low"] > 0 or diff["high"] < 0
    assert ("ranked customers better" in text) == excludes
    assert ("neither can be called better" in text) == (not excludes)
    assert f"[{diff['low']:+.3f}, {diff['high']:+.3f}]" in text
    # no interactions and no profile: the text names only what the model saw
    assert "learns from the order history;" in text
    assert "email" not in text and "complaint" not in text and "cart" not in text
    # an interval that straddles 0 is said to be indistinguishable
    cmp.auc_difference = {**diff, "low": -0.01, "high": 0.02, "difference": 0.005}
    assert "neither can be called better" in page02.comparison_text(cmp)


def test_accuracy_table_and_plots_name_models_and_columns_in_words() -> None:
    import matplotlib.pyplot as plt

    d = demo.generate(800, seed=3)
    ref = pd.Timestamp(d.truth["analysis_date"])
    cmp = clv.compare_on_holdout(d.orders, analysis_date=ref, horizon_days=90)
    table = page02.accuracy_table(cmp)
    assert table["model"].tolist() == ["propensity model", "BG/NBD"]
    assert set(table.columns) == set(page02.ACCURACY_FORMATS) | {"model"}
    cut = ref - pd.Timedelta(days=90)
    o = d.orders[d.orders["order_date"] <= ref]
    before = set(o.loc[o["order_date"] <= cut, "customer_id"])
    after = set(o.loc[(o["order_date"] > cut) & (o["amount"] > 0), "customer_id"])
    assert table["customers"].tolist() == [len(before)] * 2
    assert table["share who bought"].iloc[0] == pytest.approx(len(before & after) / len(before))
    text = page02.accuracy_text(cmp)
    assert f"the {len(before):,} customers with a purchase up to {cut:%d %b %Y}" in text
    assert "last 90 days" in text and "_" not in text
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plots_clv.calibration_plot(cmp.calibration, ax=ax1, days=90)
    plots_clv.groups_plot(cmp.groups, ax=ax2, days=90)
    for ax in (ax1, ax2):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "BG/NBD" in labels and "bgnbd" not in labels and "propensity" not in labels
        assert "holdout" not in (ax.get_title() + ax.get_xlabel() + ax.get_ylabel())
    assert "last 90 days" in ax1.get_title()
    plt.close(fig)


# ---- the computation of notebook 02 on shapes other than the demo ------------------------------
def _cohort_orders(n: int = 600, *, days: int = 540, seed: int = 11, repeat: bool = True):
    """A closed cohort: first purchases in the first 60 days only, then Poisson purchases with
    dropout (BG/NBD-like), amounts in cents-sized dollars and some free items."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        t = float(rng.integers(0, 60))
        lam, p = rng.gamma(0.6, 1 / 20), rng.beta(1, 4)
        while t < days:
            rows.append((f"U{i:05d}", int(t), float(rng.choice([0.0, 4.99, 9.99, 14.5]))))
            if not repeat or rng.random() < p:
                break
            t += rng.exponential(1 / lam)
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    return pd.DataFrame(
        {
            "order_id": [f"O{j}" for j in range(len(df))],
            "customer_id": df["customer_id"],
            "order_date": pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], "D"),
            "amount": df["amount"],
        }
    )


def _page_text(res: step02.RfmClvResult) -> str:
    parts = [page02.coverage(res), page02.result_headline(res), *res.notes, *res.model_notes]
    parts += [t for t in (res.migration_note, res.holdout_note, res.breakdown_note) if t]
    if res.comparison is not None:
        parts.append(page02.comparison_text(res.comparison))
    return "\n".join(parts)


def test_notebook_02_on_a_closed_cohort_with_orders_only() -> None:
    orders = _cohort_orders()
    ref = pd.Timestamp("2021-06-24")  # 540 days after the start
    res = step02.run(orders, analysis_date=ref, window_days=365)
    text = _page_text(res)
    # a closed cohort has no new buyers
    assert (res.migration.customers["segment_before"] == "new").sum() == 0
    assert "no first-time buyers arrived" in text
    # orders only: no profile breakdowns, the propensity model uses the order history only
    assert res.breakdowns == [] and "left out" in res.breakdown_note
    assert page02.propensity_inputs_text(res.propensity_model) == "the order history"
    for demo_word in ("email", "complaint", "cart", "business", "South Moravia", "CZK"):
        assert demo_word not in text
    for missing in ("nan", "NaT", "None"):
        assert missing not in text.replace("cannot", "")
    # every customer with a purchase is in the clv features; zero-amount buyers too
    assert len(res.clv_features) == orders["customer_id"].nunique()
    assert set(res.table.index) == set(orders["customer_id"])
    assert res.comparison is not None and "AUC" in page02.comparison_text(res.comparison)
    assert display.money_format(orders["amount"]) == "{:,.2f}"  # cents for small amounts
    models = res.models()
    assert set(models["auc_difference"]) >= {"difference", "low", "high"}


def test_notebook_02_goes_on_when_no_model_can_be_fitted() -> None:
    """Everyone buys once, and the history is shorter than the migration and holdout windows:
    each section that cannot run is one sentence, and the scores are still there."""
    orders = _cohort_orders(200, days=40, repeat=False)
    ref = pd.Timestamp("2020-02-20")
    res = step02.run(orders, analysis_date=ref, migration_days=90, horizon_days=90)
    assert res.bgnbd is None and res.spend is None
    assert any("BG/NBD" in n and "repeat purchase" in n for n in res.model_notes)
    assert any("Gamma-Gamma" in n for n in res.model_notes)
    assert res.migration is None and "no earlier period" in res.migration_note
    assert res.comparison is None and res.holdout is None and "left out" in res.holdout_note
    assert not any(c.startswith(("clv_", "propensity_", "p_alive")) for c in res.table.columns)
    assert len(res.scored) == orders["customer_id"].nunique()
    assert res.models()["bgnbd"] is None
    text = _page_text(res)
    assert "nan" not in text.replace("cannot", "") and "NaT" not in text


def test_too_few_buyers_in_the_holdout_is_said_in_words() -> None:
    """Forty customers, a handful buying in the last 90 days: the comparison is left out with
    the counts, and the BG/NBD fit and the scores are still there."""
    orders = _cohort_orders(40, days=400, seed=13)
    ref = pd.Timestamp("2021-02-04")
    res = step02.run(orders, analysis_date=ref, window_days=365)
    last = orders[
        (orders["order_date"] > ref - pd.Timedelta(days=90)) & (orders["order_date"] <= ref)
    ]
    assert last["customer_id"].nunique() < clv.MIN_CLASS
    assert res.comparison is None and res.holdout is None
    assert "too few customers" in res.holdout_note and "at least 10 of each" in res.holdout_note
    assert res.bgnbd is not None and len(res.scored) > 0


def test_value_table_names_columns_in_words() -> None:
    seg_value = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "Lost"],
            "customers": [10, 30],
            "p_alive": [0.9, 0.4],
            "clv_12m": [5.5, 0.25],
            "propensity_90d": [0.6, 0.1],
            "clv_total": [55.0, 7.5],
            "clv_share": [55 / 62.5, 7.5 / 62.5],
        }
    )
    table = page02.value_table(seg_value, currency="EUR", discount_rate_monthly=0.01, warned=True)
    assert list(table.frame.columns) == [
        "segment",
        "customers",
        "chance still active (BG/NBD)",
        "chance of a purchase in 90 days",
        "value per customer, 12 months",
        "segment value",
        "share of value",
    ]
    assert table.formats["value per customer, 12 months"] == "money" and table.currency == "EUR"
    from segwork.display import page_table_html

    assert ">5.50 EUR<" in page_table_html(table, caption="x")  # cents: small amounts
    assert table.note.startswith("Chance still active:") and "1% a month" in table.note
    assert table.note.endswith("Read the model warnings above before using these figures.")
    assert "_" not in table.note
    only = page02.value_table(
        seg_value[["rfm_segment", "customers", "propensity_90d"]],
        currency="EUR",
        discount_rate_monthly=0.01,
    )
    assert list(only.frame.columns) == ["segment", "customers", "chance of a purchase in 90 days"]
    assert "BG/NBD" not in only.note and "warnings" not in only.note


def test_a_bgnbd_warning_is_not_lifted_by_the_holdout_check() -> None:
    """Online Retail: BG/NBD "cannot be trusted" (warning) yet ranked better on the holdout; the
    finding must not read as if the warning were void."""
    orders = _cohort_orders()
    res = step02.run(
        orders, analysis_date=pd.Timestamp("2021-06-24"), window_days=365, clv_model="bgnbd"
    )  # BG/NBD gives the predictions, so its warning is on the page
    assert res.comparison is not None and res.bgnbd is not None
    assert res.lifetime.key == "bgnbd"
    res.bgnbd.caveats = lambda: []
    assert "warning above" not in page02.comparison(res)
    assert page02.comparison(res) == page02.comparison_text(res.comparison)
    res.bgnbd.caveats = lambda: ["The BG/NBD model cannot be trusted on this data."]
    text = page02.comparison(res)
    assert text.startswith(page02.comparison_text(res.comparison))
    assert text.endswith(
        "The model warning above still holds: this check is of who buys in the next 90 days, "
        "not of BG/NBD's chance still active or lifetime value."
    )
    # when another lifetime model gives the predictions, BG/NBD's warning is not on the page
    other = step02.run(
        orders, analysis_date=pd.Timestamp("2021-06-24"), window_days=365, clv_model="mbgnbd"
    )
    other.bgnbd.caveats = lambda: ["The BG/NBD model cannot be trusted on this data."]
    assert other.lifetime.key == "mbgnbd" and "warning above" not in page02.comparison(other)


def _nobody_leaves_orders(n: int = 300, *, days: int = 600, seed: int = 3) -> pd.DataFrame:
    """Steady Poisson buyers who never stop (no dropout at all): BG/NBD's dropout is not
    identified, the case of the invoice export where it 'sees nobody leave'."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lam, t = rng.gamma(2.0, 1 / 40), rng.uniform(0, 200)
        while (t := t + rng.exponential(1 / lam)) < days - 1:
            rows.append((f"N{i:04d}", int(t), float(rng.gamma(2, 20))))
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    return pd.DataFrame(
        {
            "order_id": [f"O{j}" for j in range(len(df))],
            "customer_id": df["customer_id"],
            "order_date": pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], "D"),
            "amount": df["amount"],
        }
    )


def test_value_table_leaves_out_bgnbd_when_the_page_warns_it_cannot_be_trusted() -> None:
    """Nobody ever stops buying: the page warns about BG/NBD, so its chance still active and
    lifetime value are not in the stakeholder table (they stay in the artifact), and the note
    says why and what to use instead."""
    ref = pd.Timestamp("2020-01-01") + pd.Timedelta(days=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = step02.run(_nobody_leaves_orders(), analysis_date=ref)
    assert res.bgnbd_untrusted and any("cannot be trusted" in n for n in res.model_notes)
    assert res.bgnbd.params_["a"] / (res.bgnbd.params_["a"] + res.bgnbd.params_["b"]) < 0.001
    assert {"p_alive", "clv_12m"} <= set(res.table.columns)  # the artifact keeps them
    page = page02.segment_value_table(res, currency="EUR", discount_rate_monthly=0.01)
    shown = " ".join(page.frame.columns)
    assert "chance still active" not in shown and "value" not in shown
    assert page.frame["customers"].is_monotonic_decreasing  # not ordered by the hidden CLV
    assert page.note.startswith(
        "Chance still active and lifetime value (BG/NBD) are not shown: the model cannot be "
        "trusted on this data, see the warning above. To decide whom to win back, use "
    )
    assert "the time since the last purchase" in page.note
    m = res.holdout.metrics
    backed = m["brier"] < m["brier_baseline"]
    assert ("not backed by the check on past data" in page.note) == (not backed)
    assert f"{m['brier']:.3f}" in page.note and f"{m['brier_baseline']:.3f}" in page.note
    # the same result without the warning shows BG/NBD's columns as before
    res.bgnbd.caveats = lambda: []
    trusted = page02.segment_value_table(res, currency="EUR", discount_rate_monthly=0.01)
    assert "chance still active (BG/NBD)" in trusted.frame.columns
    assert "value per customer, 12 months" in trusted.frame.columns
    assert "not shown" not in trusted.note


def test_value_table_offers_the_propensity_model_only_with_its_holdout_evidence() -> None:
    seg_value = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "Lost"],
            "customers": [10, 30],
            "p_alive": [1.0, 0.99],
            "clv_12m": [5.5, 4.0],
            "propensity_90d": [0.6, 0.1],
            "clv_total": [55.0, 120.0],
            "clv_share": [55 / 175, 120 / 175],
        }
    )
    good = {"auc": 0.81, "brier": 0.12, "brier_baseline": 0.2, "base_rate": 0.3, "n": 1000}
    good["mean_predicted"] = 0.28  # within 2 binomial SEs (2 * 0.0145) of the actual share
    page = page02.value_table(
        seg_value,
        currency="EUR",
        discount_rate_monthly=0.01,
        warned=True,
        bgnbd_untrusted=True,
        propensity_check=good,
    )
    assert list(page.frame.columns) == ["segment", "customers", "chance of a purchase in 90 days"]
    assert list(page.frame["segment"]) == ["Lost", "Champions"]
    assert (
        "To decide whom to win back, use the propensity model's chance of a purchase in 90 days "
        "as the chance of a purchase and the time since the last purchase"
    ) in page.note
    assert page.note.count(
        "On the last 90 days it predicted 28.0% buyers against 30.0% actual, Brier score 0.120 "
        "against 0.200 for always predicting that share, AUC 0.810."
    )
    # 3 points off on 1,000 customers is more than 2 SEs: only the ranking is offered
    off = page02.value_table(
        seg_value,
        currency="EUR",
        discount_rate_monthly=0.01,
        bgnbd_untrusted=True,
        propensity_check=good | {"mean_predicted": 0.27},
    )
    assert "to rank customers (not as a probability: its level was off)" in off.note
    assert "as the chance of a purchase and" not in off.note
    assert "Read the model warnings" not in page.note  # said once, at the start
    no_check = page02.value_table(
        seg_value, currency="EUR", discount_rate_monthly=0.01, bgnbd_untrusted=True
    )
    assert "not checked on past data" in no_check.note
    bare = page02.value_table(
        seg_value[["rfm_segment", "customers", "p_alive", "clv_12m", "clv_total", "clv_share"]],
        currency="EUR",
        discount_rate_monthly=0.01,
        bgnbd_untrusted=True,
    )
    assert list(bare.frame.columns) == ["segment", "customers"]
    assert bare.note.endswith(
        "To decide whom to win back, use the time since the last purchase "
        "(recency, on which the segments rest: the longer, the less likely "
        "the customer is to come back)."
    )


def _same_spenders_orders(n: int = 400, *, days: int = 600, seed: int = 7) -> pd.DataFrame:
    """BG/NBD buyers (Gamma purchase rates, Beta dropout after each repeat purchase) whose order
    values all come from one Gamma(4, scale 10): no spread between the customers' mean spends,
    so the spend model's q and v (that spread) run off to the edge and are not pinned down."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lam, p, t = rng.gamma(0.8, 1 / 20), rng.beta(1.0, 4.0), rng.uniform(0, 400)
        rows.append((f"S{i:04d}", int(t), float(rng.gamma(4.0, 10.0))))
        while (t := t + rng.exponential(1 / lam)) < days - 1:
            rows.append((f"S{i:04d}", int(t), float(rng.gamma(4.0, 10.0))))
            if rng.random() < p:
                break
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    return pd.DataFrame(
        {
            "order_id": [f"O{j}" for j in range(len(df))],
            "customer_id": df["customer_id"],
            "order_date": pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], "D"),
            "amount": df["amount"],
        }
    )


def test_value_table_leaves_out_lifetime_value_when_the_spend_model_cannot_be_trusted() -> None:
    """Everyone's orders come from one spend distribution: the page warns that the spend model
    cannot be trusted, so lifetime value (purchases x its expected spend) leaves the stakeholder
    table (it stays in the artifact) while BG/NBD, trusted here, keeps its chance still active;
    the note says why and what to use instead."""
    ref = pd.Timestamp("2020-01-01") + pd.Timedelta(days=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = step02.run(_same_spenders_orders(), analysis_date=ref)
    assert not res.bgnbd_untrusted and res.spend_untrusted
    assert {"q", "v"} <= set(res.spend.weak_parameters_)
    p, q, v = (res.spend.params_[k] for k in ("p", "q", "v"))
    assert q > 100 and p * v / (q - 1) == pytest.approx(40.0, rel=0.1)  # the one mean spend
    assert res.model_notes == [
        "The spend model cannot be trusted on this data: the repeat buyers' spends do not pin "
        "down its parameters, so expected spend per purchase is a rough guess."
    ]
    assert {"p_alive", "expected_purchases_90d", "expected_spend", "clv_12m"} <= set(
        res.table.columns
    )  # the artifact keeps them
    page = page02.segment_value_table(res, currency="EUR", discount_rate_monthly=0.01)
    assert "chance still active (BG/NBD)" in page.frame.columns
    assert not any("value" in c for c in page.frame.columns)
    assert page.frame["customers"].is_monotonic_decreasing  # not ordered by the hidden CLV
    assert page.note.startswith(
        "Lifetime value is not shown: it multiplies the expected purchases by the spend model's "
        "expected spend per purchase, and the spend model (Gamma-Gamma) cannot be trusted on "
        "this data, see the warning above. To estimate what customers are worth, use their "
        "expected purchases in 90 days (BG/NBD, column expected_purchases_90d of the rfm "
        "artifact) times their own average order value, or the net revenue per segment in the "
        "segment table above. Chance still active: "
    )
    assert "value per customer" not in page.note and "Read the model warnings" not in page.note
    # the same result with a trusted spend model shows lifetime value as before
    res.spend.weak_parameters_ = []
    trusted = page02.segment_value_table(res, currency="EUR", discount_rate_monthly=0.01)
    assert "value per customer, 12 months" in trusted.frame.columns
    assert "not shown" not in trusted.note


def test_value_table_says_why_once_when_neither_model_can_be_trusted() -> None:
    seg_value = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "Lost"],
            "customers": [10, 30],
            "p_alive": [0.9, 0.2],
            "clv_12m": [55.0, 4.0],
            "clv_total": [550.0, 120.0],
            "clv_share": [550 / 670, 120 / 670],
        }
    )
    kw = {"currency": "EUR", "discount_rate_monthly": 0.01, "horizon_days": 30}
    spend = page02.value_table(seg_value, spend_untrusted=True, **kw)
    assert list(spend.frame.columns) == ["segment", "customers", "chance still active (BG/NBD)"]
    assert list(spend.frame["segment"]) == ["Lost", "Champions"]
    assert "expected purchases in 30 days (BG/NBD, column expected_purchases_30d" in spend.note
    both = page02.value_table(seg_value, spend_untrusted=True, bgnbd_untrusted=True, **kw)
    assert list(both.frame.columns) == ["segment", "customers"]
    assert both.note.startswith("Chance still active and lifetime value (BG/NBD) are not shown")
    assert "spend model" not in both.note  # BG/NBD's reason covers lifetime value


# ---- scikit-learn estimators and summaries ---------------------------------------------------
def test_bgnbd_and_gamma_gamma_clone_and_refit_to_the_same_parameters(simulated) -> None:
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from segwork.summary import Summary

    rows = simulated.sample(3000, random_state=4)
    spend = rows.assign(monetary=np.where(rows["frequency"] > 0, 20 + rows["recency"] % 13, 0.0))
    for model, data in ((clv.BetaGeo(penalizer=0.001), rows), (clv.GammaGamma(), spend)):
        fitted = model.fit(data)
        check_is_fitted(fitted)
        twin = clone(fitted)
        assert twin.get_params() == fitted.get_params()
        with pytest.raises(NotFittedError):
            check_is_fitted(twin)
        with pytest.raises(clv.CLVError, match="fit the model first"):
            twin.summary()
        assert twin.fit(data).params_ == pytest.approx(fitted.params_, rel=1e-12)
        summary = fitted.summary()
        assert isinstance(summary, Summary) and "std err" in summary
        assert "<table" in summary._repr_html_() and str(summary) == summary.as_text()

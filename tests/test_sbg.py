"""The shifted-beta-geometric model against published figures and independent computations.

Oracles: the estimates of Fader & Hardie (2007) on their "regular" and "high end" data (fitted on
years 0-7 as in the paper, figures as the paper gives them and as JD Maturen's
shifted_beta_geometric_py checks them: alpha 0.704 / beta 1.182 and 0.668 / 3.806), the
log-likelihood at (1, 1) that implementation checks (-2.115 per customer, high end), its
projected survival for years 8-12 and DERL (7.530 at d = 10 % after 7 renewals) of the high-end
cohort; the closed form of P(T = t) with plain
beta functions; the per-contract form of the same data; a simulation from known parameters;
brute-force sums of discounted survival.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, special, stats

from segwork import clv
from segwork.clv.sbg import ShiftedBetaGeometric, sbg_log_likelihood

# Fader & Hardie (2007), Table 1 (after Berry & Linoff 2004): customers alive after 0..8 years
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468]


def _cohort_to_contracts(counts):
    """Per-contract records of a cohort, written out one contract per row."""
    counts = np.asarray(counts)
    durations, churned = [], []
    for t in range(1, len(counts)):
        k = counts[t - 1] - counts[t]
        durations += [t] * k
        churned += [True] * k
    durations += [len(counts) - 1] * counts[-1]
    churned += [False] * counts[-1]
    return np.array(durations), np.array(churned)


def _direct_ll(alpha, beta, counts):
    """Cohort log-likelihood from the closed form with numpy/scipy beta functions only."""
    counts = np.asarray(counts, dtype=float)
    t = np.arange(1, len(counts))
    B = special.beta
    p = B(alpha + 1, beta + t - 1) / B(alpha, beta)
    s_n = B(alpha, beta + t[-1]) / B(alpha, beta)
    return float(-np.diff(counts) @ np.log(p) + counts[-1] * np.log(s_n))


@pytest.mark.parametrize(
    ("counts", "alpha", "beta"), [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)]
)
def test_published_estimates(counts, alpha, beta):
    model = ShiftedBetaGeometric().fit(counts[:8])  # years 0-7, as in the paper
    assert model.params_["alpha"] == pytest.approx(alpha, abs=6e-4)
    assert model.params_["beta"] == pytest.approx(beta, abs=6e-4)
    assert model.converged_ and model.weak_parameters_ == []
    assert model.n_contracts_ == 1000 and model.n_periods_ == 7
    assert model.n_churned_ == 1000 - counts[7]
    assert all(0 < s < np.inf for s in model.standard_errors_.values())
    # the maximum: the direct likelihood is lower a little away from it
    ll = _direct_ll(model.params_["alpha"], model.params_["beta"], counts[:8])
    assert model.log_likelihood_ == pytest.approx(ll, rel=1e-12)
    for da, db in [(0.01, 0), (-0.01, 0), (0, 0.02), (0, -0.02)]:
        assert _direct_ll(alpha + da, beta + db, counts[:8]) < ll


def test_log_likelihood_against_closed_form():
    t, c = _cohort_to_contracts(HIGH_END[:8])
    for a, b in [(1.0, 1.0), (0.668, 3.806), (2.5, 0.3)]:
        assert sbg_log_likelihood((a, b), t, c).sum() == pytest.approx(
            _direct_ll(a, b, HIGH_END[:8]), rel=1e-12
        )
    # the figure an independent implementation checks at its starting values
    assert sbg_log_likelihood((1.0, 1.0), t, c).mean() == pytest.approx(-2.115, abs=1e-3)


def test_contract_records_give_the_cohort_fit():
    cohort = ShiftedBetaGeometric().fit(REGULAR)
    t, c = _cohort_to_contracts(REGULAR)
    records = ShiftedBetaGeometric().fit(durations=t, churned=c)
    for k in ("alpha", "beta"):
        assert records.params_[k] == pytest.approx(cohort.params_[k], rel=1e-7)
        assert records.standard_errors_[k] == pytest.approx(cohort.standard_errors_[k], rel=1e-4)
    assert records.log_likelihood_ == pytest.approx(cohort.log_likelihood_, rel=1e-12)
    assert records.n_contracts_ == 1000 and records.n_churned_ == 1000 - REGULAR[-1]
    # two cohorts at once = their records pooled
    both = ShiftedBetaGeometric().fit([REGULAR, HIGH_END[:5]])
    t2, c2 = _cohort_to_contracts(HIGH_END[:5])
    pooled = ShiftedBetaGeometric().fit(durations=np.r_[t, t2], churned=np.r_[c, c2].astype(int))
    assert both.params_["alpha"] == pytest.approx(pooled.params_["alpha"], rel=1e-7)
    assert both.log_likelihood_ == pytest.approx(pooled.log_likelihood_, rel=1e-12)


def _simulate(rng, alpha, beta, n, max_periods):
    theta = rng.beta(alpha, beta, n)
    life = rng.geometric(theta)  # the period of churn, 1, 2, ...
    observed = rng.integers(1, max_periods + 1, n)  # contracts signed at different times
    return np.minimum(life, observed), life <= observed


def test_simulation_recovers_known_parameters():
    rng = np.random.default_rng(16)
    alpha, beta = 0.8, 2.5
    t, c = _simulate(rng, alpha, beta, 20_000, 12)
    model = ShiftedBetaGeometric().fit(durations=t, churned=c)
    for k, true in (("alpha", alpha), ("beta", beta)):
        se = model.standard_errors_[k]
        assert abs(model.params_[k] - true) < 2 * se, (k, model.params_[k], se)
        assert se < 0.15 * true


def test_standard_errors_cover_the_truth():
    """95% intervals from the standard errors hold the true value in about 95% of samples."""
    rng = np.random.default_rng(7)
    alpha, beta = 1.5, 4.0
    hits = np.zeros(2)
    n_rep = 200
    for _ in range(n_rep):
        t, c = _simulate(rng, alpha, beta, 800, 8)
        model = ShiftedBetaGeometric().fit(durations=t, churned=c)
        se_log = np.sqrt(np.diag(model.covariance_log_))
        est = np.log([model.params_["alpha"], model.params_["beta"]])
        hits += np.abs(est - np.log([alpha, beta])) < 1.96 * se_log
    assert ((hits / n_rep > 0.90) & (hits / n_rep < 0.99)).all(), hits / n_rep


def test_curves_and_lifetimes_against_brute_force():
    model = ShiftedBetaGeometric().fit(HIGH_END[:8])
    a, b = model.params_["alpha"], model.params_["beta"]
    t = np.arange(1, 400)
    p = model.churn_probability(t)
    s = model.survival(np.r_[0, t])
    assert s[0] == 1.0
    np.testing.assert_allclose(p, -np.diff(s), rtol=1e-8)  # P(T = t) = S(t-1) - S(t)
    np.testing.assert_allclose(model.retention_rate(t), s[1:] / s[:-1], rtol=1e-10)
    # beta-geometric mixture by quadrature over theta
    grid = np.linspace(0, 1, 200_001)[1:-1]
    dens = np.exp((a - 1) * np.log(grid) + (b - 1) * np.log1p(-grid) - special.betaln(a, b))
    for k in (1, 3, 8):
        assert model.churn_probability(k) == pytest.approx(
            np.trapezoid(dens * grid * (1 - grid) ** (k - 1), grid), rel=2e-3
        )
    # DEL and DERL: truncated sums of discounted survival
    big = np.arange(0, 20_000)
    s_big = model.survival(big)
    for d in (0.05, 0.1, 0.3):
        disc = (1 + d) ** -big.astype(float)
        assert model.discounted_expected_lifetime(d) == pytest.approx(s_big @ disc, rel=1e-9)
        for n in (0, 1, 7, 30):
            brute = s_big[n + 1 :] @ disc[: len(big) - n - 1] / s_big[n]
            assert model.discounted_expected_residual_lifetime(d, n) == pytest.approx(
                brute, rel=1e-9
            )
    # Maturen's projection of years 8-12 and DERL for the high-end cohort; value = margin x DERL
    np.testing.assert_allclose(
        model.survival(np.arange(8, 13)), [0.460, 0.436, 0.414, 0.395, 0.378], atol=6e-4
    )
    assert model.discounted_expected_residual_lifetime(0.1, 7) == pytest.approx(7.530, abs=1e-3)
    np.testing.assert_allclose(
        model.value_per_contract(50.0, 0.1, [0, 7]),
        50.0 * model.discounted_expected_residual_lifetime(0.1, [0, 7]),
    )
    assert model.expected_lifetime() == np.inf  # alpha < 1
    assert model.expected_lifetime(horizon=12) == pytest.approx(s[:12].sum())


def test_expected_lifetime_closed_form():
    rng = np.random.default_rng(3)
    t, c = _simulate(rng, 3.0, 6.0, 5000, 10)
    model = ShiftedBetaGeometric().fit(durations=t, churned=c)
    a = model.params_["alpha"]
    assert a > 1
    b = model.params_["beta"]
    mean_inverse = integrate.quad(lambda x: stats.beta.pdf(x, a, b) / x, 0, 1)[0]  # E[1/theta]
    assert model.expected_lifetime() == pytest.approx(mean_inverse, rel=1e-8)


def test_summary_and_estimator_contract():
    model = ShiftedBetaGeometric()
    with pytest.raises(clv.CLVError, match="fit the model first"):
        model.survival(1)
    model.fit(REGULAR[:8])
    summary = model.summary()
    assert "0.7041" in summary and "1.182" in summary and "1,000" in summary
    assert "infinite" in summary
    assert model.get_params() == {}


def test_homogeneous_churn_is_flagged():
    """A cohort renewing at a constant 80 %: no sign of heterogeneity, so alpha and beta run off
    towards infinity together (a plain geometric) and the fit says they are not identified."""
    counts = np.round(1000 * 0.8 ** np.arange(9))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(clv.CLVWarning, match="not identified|edge of the search"):
            model = ShiftedBetaGeometric().fit(counts)
    assert set(model.weak_parameters_) == {"alpha", "beta"}
    assert model.params_["alpha"] > 100
    assert model.retention_rate(1) == pytest.approx(0.8, abs=1e-3)  # the mean is still right
    assert "not identified" in model.summary()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"survivors": [1.0, 0.869, 0.743]}, "proportions"),
        ({"survivors": [1000, 900, 950]}, "rise at period 2"),
        ({"survivors": [1000]}, "at least two"),
        ({"survivors": [1000, 1000, 1000]}, "no contract has churned"),
        ({"durations": [1, 2, 0], "churned": [1, 0, 1]}, "duration 0"),
        ({"durations": [1, 2.5], "churned": [1, 0]}, "whole numbers"),
        ({"durations": [1, 2], "churned": [1, 2]}, "not 0/1"),
        ({"durations": [1, 2]}, "give churned"),
        ({}, "either"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(clv.CLVError, match=match):
        ShiftedBetaGeometric().fit(**kwargs)


def test_bad_prediction_arguments():
    model = ShiftedBetaGeometric().fit(REGULAR)
    with pytest.raises(clv.CLVError, match="whole numbers >= 1"):
        model.churn_probability(0)
    with pytest.raises(clv.CLVError, match="discount_rate"):
        model.discounted_expected_residual_lifetime(0.0)

"""Always-valid confidence sequences (segwork.abtest.sequential): error control under peeking,
power, geometry against the fixed-horizon interval, and the formula against a transcription."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from segwork.abtest import (
    SequentialLook,
    fixed_horizon_interval,
    sequential_halfwidth,
    sequential_interval,
    sequential_look,
    sequential_rho,
)

ALPHA = 0.05
N_CAMPAIGNS = 2000
LOOKS = 30
PER_DAY = 200  # customers per arm per day
N_EXPECTED = 2 * PER_DAY * LOOKS  # total customers (both arms) at the planned last look


def _simulate(p_c: float, p_t: float, seed: int):
    """Cumulative per-arm (mean, variance, n) at each daily look, shape (campaigns, looks)."""
    rng = np.random.default_rng(seed)
    conv_c = rng.binomial(PER_DAY, p_c, size=(N_CAMPAIGNS, LOOKS)).cumsum(axis=1)
    conv_t = rng.binomial(PER_DAY, p_t, size=(N_CAMPAIGNS, LOOKS)).cumsum(axis=1)
    n = np.broadcast_to(PER_DAY * np.arange(1, LOOKS + 1, dtype=float), conv_c.shape)
    m_c, m_t = conv_c / n, conv_t / n
    return (m_c, m_c * (1 - m_c), n, m_t, m_t * (1 - m_t), n)


def _ever_excludes_zero(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return ((low > 0) | (high < 0)).any(axis=1)


def test_aa_peeking_keeps_sequential_error_below_alpha_but_not_fixed_horizon():
    arms = _simulate(0.05, 0.05, seed=16)
    seq = _ever_excludes_zero(*sequential_interval(*arms, alpha=ALPHA, n_expected=N_EXPECTED))
    fix = _ever_excludes_zero(*fixed_horizon_interval(*arms, alpha=ALPHA))
    seq_rate, fix_rate = seq.mean(), fix.mean()
    mc_se = math.sqrt(ALPHA * (1 - ALPHA) / N_CAMPAIGNS)
    print(
        f"A/A false-positive rate over {LOOKS} looks: sequential {seq_rate:.4f}, fixed {fix_rate:.4f}"
    )
    assert seq_rate <= ALPHA + 3 * mc_se
    assert fix_rate > 2 * ALPHA


def test_true_effect_is_found_as_winner_and_never_as_loser():
    p_c, p_t = 0.05, 0.065
    arms = _simulate(p_c, p_t, seed=17)
    low, high = sequential_interval(*arms, alpha=ALPHA, n_expected=N_EXPECTED)
    power = (low > 0).any(axis=1).mean()
    # Lower bound: stopping at any look includes the last look, where (normal approximation)
    # the interval is above 0 with probability Phi((diff - halfwidth) / se) at the true values.
    n_arm = PER_DAY * LOOKS
    se = math.sqrt((p_c * (1 - p_c) + p_t * (1 - p_t)) / n_arm)
    half = float(
        sequential_halfwidth(se**2 * 2 * n_arm, 2 * n_arm, ALPHA, sequential_rho(ALPHA, N_EXPECTED))
    )
    final_look_power = stats.norm.cdf((p_t - p_c - half) / se)
    mc_se = math.sqrt(final_look_power * (1 - final_look_power) / N_CAMPAIGNS)
    print(
        f"power by look {LOOKS}: {power:.3f} (final-look normal approximation {final_look_power:.3f})"
    )
    assert power >= final_look_power - 3 * mc_se
    assert power > 0.5
    assert not (high < 0).any()


def test_single_look_sequential_contains_fixed_and_narrows_with_alpha():
    args = (0.05, 0.05 * 0.95, 3000, 0.06, 0.06 * 0.94, 3100)
    f_low, f_high = fixed_horizon_interval(*args, alpha=ALPHA)
    s_low, s_high = sequential_interval(*args, alpha=ALPHA, n_expected=N_EXPECTED)
    assert s_low < f_low < f_high < s_high
    assert (s_low + s_high) / 2 == pytest.approx(0.01)
    widths = [
        np.subtract(*sequential_interval(*args, alpha=a, n_expected=N_EXPECTED)[::-1])
        for a in (0.01, 0.05, 0.1, 0.2)
    ]
    assert widths[-1] > 0 and np.all(np.diff(widths) < 0)


def _transcribed_halfwidth(n: float, s2: float, rho: float, alpha: float) -> float:
    """Waudby-Smith et al. (2023, arXiv:2103.06476v7) eq. 9, written out with math only:
    sigma * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )."""
    return math.sqrt(s2) * math.sqrt(
        2
        * (n * rho * rho + 1)
        / (n * n * rho * rho)
        * math.log(math.sqrt(n * rho * rho + 1) / alpha)
    )


@pytest.mark.parametrize("n", [10, 500, 12_000, 1_000_000])
@pytest.mark.parametrize("s2", [0.0475, 1.0, 2500.0])
@pytest.mark.parametrize("rho", [0.001, 0.02592, 0.5])
def test_halfwidth_matches_published_formula(n, s2, rho):
    got = float(sequential_halfwidth(s2, n, ALPHA, rho))
    assert got == pytest.approx(_transcribed_halfwidth(n, s2, rho, ALPHA), rel=1e-12, abs=0)


def test_rho_matches_published_formula():
    # eq. 161: rho = sqrt((-2 log alpha + log(-2 log alpha + 1)) / N)
    for alpha, n_exp in [(0.05, 5000), (0.01, 12_000), (0.2, 100)]:
        expect = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_exp)
        assert sequential_rho(alpha, n_exp) == pytest.approx(expect, rel=1e-12, abs=0)


def test_sequential_look_decides_and_validates():
    win = sequential_look(0.05, 0.0475, 20_000, 0.07, 0.0651, 20_000, n_expected=N_EXPECTED)
    assert isinstance(win, SequentialLook) and win.stop == "winner" and win.low > 0
    assert win.estimate == pytest.approx(0.02)
    lose = sequential_look(0.07, 0.0651, 20_000, 0.05, 0.0475, 20_000, n_expected=N_EXPECTED)
    assert lose.stop == "loser" and lose.high < 0
    wait = sequential_look(0.05, 0.0475, 200, 0.055, 0.052, 200, n_expected=N_EXPECTED)
    assert wait.stop is None and wait.low < 0 < wait.high
    assert win.reason is None and wait.reason is None


def test_no_decision_while_an_arm_does_not_vary():
    """0 of 200 against 40 of 200: the interval uses only the treatment's variance and lies above
    0, but a control with no conversion yet says nothing about its spread (gbstats refuses too)."""
    low, _ = sequential_interval(0.0, 0.0, 200, 0.2, 0.16, 200, n_expected=N_EXPECTED)
    assert low > 0  # what a decision on this interval alone would call a winner
    look = sequential_look(0.0, 0.0, 200, 0.2, 0.16, 200, n_expected=N_EXPECTED)
    assert look.stop is None and look.reason == "the outcome does not vary yet in the control group"
    both = sequential_look(1.0, 0.0, 50, 0.0, 0.0, 50, n_expected=N_EXPECTED)
    assert both.stop is None and "control and the treatment" in both.reason


def test_sequential_inputs_are_validated():
    with pytest.raises(ValueError, match="alpha"):
        sequential_rho(1.5, 5000)
    with pytest.raises(ValueError, match="n_expected"):
        sequential_rho(0.05, 0)
    with pytest.raises(ValueError, match="at least 1"):
        sequential_interval(0.1, 0.09, 0, 0.1, 0.09, 10)

"""Always-valid confidence sequences for a running campaign (difference in means, two arms).

A fixed-horizon interval is valid at *one* pre-planned look; checking it every day and stopping
at the first exclusion of 0 inflates the false-positive rate well above ``alpha``. The
asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Wang, Ramdas (2023, "Time-uniform
central limit theory and asymptotic confidence sequences", arXiv:2103.06476v7; normal-mixture
boundary of Howard, Ramdas, McAuliffe & Sekhon 2021) stays valid at every look. It is the
formula GrowthBook's gbstats uses for its "sequential" frequentist option:

* ``rho = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N)`` (eq. 161), with ``N`` the tuning
  parameter = the total sample size (both arms) at which the sequence should be tightest;
* ``halfwidth = sqrt(s2) * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * ln(sqrt(n rho^2 + 1) / alpha))``
  (eq. 9), with ``n = n_c + n_t`` and the per-observation variance ``s2 = se^2 * n`` where
  ``se^2 = var_c / n_c + var_t / n_t`` is the variance of the difference in means.

Inputs are per-arm summary statistics (mean, per-customer variance, count) as numbers or numpy
arrays (broadcast together), so many looks or simulated campaigns are evaluated at once.
``diff = mean_t - mean_c``; "winner" means the whole interval is above 0 (higher is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from segwork.abtest.conventions import ABTestError
from segwork.abtest.estimation import _z

Stop = Literal["winner", "loser"] | None

DEFAULT_N_EXPECTED = 5000.0
"""gbstats' default tuning parameter (total customers over both arms)."""


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ABTestError(f"alpha must be in (0, 1), got {alpha!r}")


def sequential_rho(alpha: float, n_expected: float) -> float:
    """Mixture parameter ``rho`` that makes the sequence tightest near ``n_expected`` (eq. 161)."""
    _check_alpha(alpha)
    if not n_expected > 0:
        raise ABTestError(f"n_expected must be positive, got {n_expected!r}")
    log_a = np.log(alpha)
    return float(np.sqrt((-2.0 * log_a + np.log(-2.0 * log_a + 1.0)) / n_expected))


def sequential_halfwidth(s2: ArrayLike, n: ArrayLike, alpha: float, rho: float) -> np.ndarray:
    """Half-width of the two-sided asymptotic confidence sequence (eq. 9) for ``n`` observations
    with per-observation variance ``s2``."""
    _check_alpha(alpha)
    s2 = np.asarray(s2, dtype=float)
    n = np.asarray(n, dtype=float)
    nr2 = n * rho**2
    return np.sqrt(s2) * np.sqrt(2.0 * (nr2 + 1.0) / (n * nr2) * np.log(np.sqrt(nr2 + 1.0) / alpha))


def _diff_and_se2(
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_c: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    n_t: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_c = np.asarray(n_c, dtype=float)
    n_t = np.asarray(n_t, dtype=float)
    if np.any(n_c < 1) or np.any(n_t < 1):
        raise ABTestError("each arm needs at least 1 customer (n_c, n_t >= 1)")
    diff = np.asarray(mean_t, dtype=float) - np.asarray(mean_c, dtype=float)
    se2 = np.asarray(var_c, dtype=float) / n_c + np.asarray(var_t, dtype=float) / n_t
    return diff, se2, n_c + n_t


def sequential_interval(
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_c: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    n_t: ArrayLike,
    *,
    alpha: float = 0.05,
    n_expected: float = DEFAULT_N_EXPECTED,
) -> tuple[np.ndarray, np.ndarray]:
    """Always-valid ``(1 - alpha)`` interval ``(low, high)`` for ``mean_t - mean_c`` at one look.

    ``var_*`` are per-customer variances, ``n_*`` the customers so far; ``n_expected`` is the total
    (both arms) sample size where the sequence should be tightest (gbstats' tuning parameter).
    """
    diff, se2, n = _diff_and_se2(mean_c, var_c, n_c, mean_t, var_t, n_t)
    half = sequential_halfwidth(se2 * n, n, alpha, sequential_rho(alpha, n_expected))
    return diff - half, diff + half


def fixed_horizon_interval(
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_c: ArrayLike,
    mean_t: ArrayLike,
    var_t: ArrayLike,
    n_t: ArrayLike,
    *,
    alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Normal (Wald) ``(1 - alpha)`` interval for ``mean_t - mean_c``, valid at one planned look only."""
    _check_alpha(alpha)
    diff, se2, _ = _diff_and_se2(mean_c, var_c, n_c, mean_t, var_t, n_t)
    half = _z(alpha) * np.sqrt(se2)
    return diff - half, diff + half


@dataclass(frozen=True)
class SequentialLook:
    """One look at a running campaign: the difference, its always-valid interval, the decision."""

    estimate: float
    low: float
    high: float
    stop: Stop
    #: why no decision can be taken yet, in plain words (``None`` when the look could decide)
    reason: str | None = None


def stop_decision(low: float, high: float) -> Stop:
    """``"winner"`` if the interval is above 0, ``"loser"`` if below, else ``None`` (continue)."""
    if low > 0:
        return "winner"
    if high < 0:
        return "loser"
    return None


def sequential_look(
    mean_c: float,
    var_c: float,
    n_c: float,
    mean_t: float,
    var_t: float,
    n_t: float,
    *,
    alpha: float = 0.05,
    n_expected: float = DEFAULT_N_EXPECTED,
) -> SequentialLook:
    """Evaluate one look: the always-valid interval and whether to stop (winner/loser) or continue.

    An arm whose outcome does not vary yet (no conversion at all, or all converted) has a sample
    variance of 0, which understates its uncertainty; like gbstats, no decision is taken then.
    """
    low, high = sequential_interval(
        mean_c, var_c, n_c, mean_t, var_t, n_t, alpha=alpha, n_expected=n_expected
    )
    low_f, high_f = float(low), float(high)
    estimate = float(mean_t) - float(mean_c)
    flat = [arm for arm, v in (("control", var_c), ("treatment", var_t)) if float(v) <= 0]
    if flat:
        reason = f"the outcome does not vary yet in the {' and the '.join(flat)} group"
        return SequentialLook(estimate, low_f, high_f, None, reason)
    return SequentialLook(estimate, low_f, high_f, stop_decision(low_f, high_f))

"""Small vectorised building blocks of the tests and intervals: Wilson and Welch intervals, normal
p-values, the delta-method lift, the Bayesian chance to beat control and expected loss, and the
multiple-comparison adjustment.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from segwork.abtest.conventions import ABTestError

_GL_NODES = 48


_BETA_TAIL = 1e-14


# Small vectorised building blocks
def _z(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def _wilson(x: np.ndarray, n: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for x successes out of n (clipped to [0, 1] against rounding)."""
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _normal_p(stat: np.ndarray) -> np.ndarray:
    return 2 * stats.norm.sf(np.abs(stat))


def _welch(
    vc: np.ndarray, vv: np.ndarray, nc: np.ndarray, nv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standard error and Welch-Satterthwaite df from the variances of the two means."""
    se = np.sqrt(vc + vv)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vc + vv) ** 2 / (vc**2 / (nc - 1) + vv**2 / (nv - 1))
    # Both arms without variation: df is 0/0; use the pooled df (the test is degenerate anyway).
    return se, np.where(se == 0, nc + nv - 2, df)


def _lift(mc, mv, varc, varv, alpha):
    """Relative lift mv/mc - 1 and its delta-method interval (NaN where mc == 0)."""
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = mc != 0
        lift = np.where(ok, mv / mc - 1, np.nan)
        se = np.where(ok, np.sqrt(varv / mc**2 + mv**2 * varc / mc**4), np.nan)
    return lift, lift - z * se, lift + z * se


def _beta_bayes(ac, bc, av, bv) -> tuple[np.ndarray, np.ndarray]:
    """P(V > C) and E[max(C - V, 0)] for independent Beta posteriors, by Gauss-Legendre
    integration over the narrower of the two (the other enters through its smooth CDF)."""
    ac, bc, av, bv = (np.asarray(a, dtype=float) for a in (ac, bc, av, bv))
    if ac.size == 0:
        return np.empty(0), np.empty(0)

    def sd(a, b):
        return np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    over_v = sd(av, bv) <= sd(ac, bc)
    a, b = np.where(over_v, av, ac), np.where(over_v, bv, bc)
    oa, ob = np.where(over_v, ac, av), np.where(over_v, bc, bv)
    lo, hi = special.betaincinv(a, b, _BETA_TAIL), special.betaincinv(a, b, 1 - _BETA_TAIL)
    t, w = np.polynomial.legendre.leggauss(_GL_NODES)
    half = ((hi - lo) / 2)[:, None]
    x = (lo + hi)[:, None] / 2 + half * t
    with np.errstate(divide="ignore", invalid="ignore"):
        logf = (
            (a[:, None] - 1) * np.log(x)
            + (b[:, None] - 1) * np.log1p(-x)
            - special.betaln(a, b)[:, None]
        )
        f = np.exp(logf) * w * half
        cdf = special.betainc(oa[:, None], ob[:, None], x)
        # I_x(a + 1, b) = I_x(a, b) - x^a (1 - x)^b / (a B(a, b))
        cdf1 = (
            cdf
            - np.exp(
                oa[:, None] * np.log(x)
                + ob[:, None] * np.log1p(-x)
                - special.betaln(oa, ob)[:, None]
            )
            / oa[:, None]
        )
    m_other = (oa / (oa + ob))[:, None]
    # over V: P = int f_v F_c ; loss = int f_v E[(C - y)^+],  E[(C-y)^+] = m_c (1 - I(a+1)) - y (1 - I(a))
    # over C: P = int f_c (1 - F_v) ; loss = int f_c E[(x - V)^+],  E[(x-V)^+] = x I(a) - m_v I(a+1)
    chance = np.where(over_v, (f * cdf).sum(1), (f * (1 - cdf)).sum(1))
    loss = np.where(
        over_v,
        (f * (m_other * (1 - cdf1) - x * (1 - cdf))).sum(1),
        (f * (x * cdf - m_other * cdf1)).sum(1),
    )
    return np.clip(chance, 0, 1), np.maximum(loss, 0)


def _beta_bayes_mc(ac, bc, av, bv, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chance, loss = np.empty(len(ac)), np.empty(len(ac))
    step = max(1, 4_000_000 // draws)
    for s in range(0, len(ac), step):
        sl = slice(s, s + step)
        pc = rng.beta(ac[sl, None], bc[sl, None], size=(len(ac[sl]), draws))
        pv = rng.beta(av[sl, None], bv[sl, None], size=(len(ac[sl]), draws))
        chance[sl] = (pv > pc).mean(1)
        loss[sl] = np.maximum(pc - pv, 0).mean(1)
    return chance, loss


def _normal_bayes(diff, se):
    """P(D > 0) and E[max(-D, 0)] for D ~ N(diff, se^2) (a point mass when se == 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = diff / se
        chance = np.where(
            se > 0, stats.norm.cdf(u), np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
        )
        loss = np.where(
            se > 0, se * stats.norm.pdf(u) - diff * stats.norm.sf(u), np.maximum(-diff, 0)
        )
    return chance, loss


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values of one family (NaNs left out and kept NaN)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "none":
        out[ok] = q
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    if method == "holm":
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * s))
    elif method == "fdr_bh":
        adj = np.minimum(1.0, np.minimum.accumulate((m * s / np.arange(1, m + 1))[::-1])[::-1])
    else:  # pragma: no cover - validated earlier
        raise ABTestError(f"unknown correction {method!r}")
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def _tmean_ci(m, s2, n, alpha):
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.isf(alpha / 2, n - 1) * np.sqrt(s2 / n)
    return m - half, m + half

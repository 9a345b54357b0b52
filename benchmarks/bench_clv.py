"""BG/NBD fit at scale: aggregated likelihood vs a per-customer likelihood, in the same run.

    python benchmarks/bench_clv.py --customers 1000000

Customers are simulated from known BG/NBD parameters in whole days (as segwork.rfm.features
produces them), so many customers share a (frequency, recency, T) history. The baseline fits
the same model with one likelihood term per customer on a subsample and is scaled to the full
size (its cost is linear in customers).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from segwork.clv import BetaGeo, bgnbd_log_likelihood

TRUE = {"r": 0.75, "alpha": 65.0, "a": 0.45, "b": 11.0}  # close to the demo data's fit, in days


def simulate(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 731, n).astype(float)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    t, x, tx = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        t_next = t + rng.exponential(1 / lam)
        buy = alive & (t_next <= T)
        x[buy] += 1
        tx[buy] = t_next[buy]
        t = np.where(buy, t_next, t)
        alive = buy & (rng.random(n) >= p)
    # whole days, as in the data: purchases on the same day are one purchase day
    return x, np.minimum(np.floor(tx), T), T


def fit_per_customer(x, tx, T) -> float:
    scale = 10.0 / T.max()

    def neg_ll(lp):
        return -bgnbd_log_likelihood(np.exp(lp), x, tx * scale, T * scale).mean()

    t0 = time.perf_counter()
    optimize.minimize(neg_ll, np.zeros(4), method="L-BFGS-B")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--baseline-sample", type=int, default=100_000)
    args = ap.parse_args()
    print(f"{'customers':>10} {'triples':>9} {'fit s':>7} {'baseline s (scaled)':>20} {'ratio':>7}  params")
    for n in args.customers:
        x, tx, T = simulate(n)
        t0 = time.perf_counter()
        bg = BetaGeo().fit(frequency=x, recency=tx, T=T)
        fit_s = time.perf_counter() - t0
        m = min(n, args.baseline_sample)
        base = fit_per_customer(x[:m], tx[:m], T[:m]) * n / m
        params = ", ".join(f"{k}={v:.3g}" for k, v in bg.params_.items())
        print(f"{n:>10,} {bg.n_triples_:>9,} {fit_s:>7.2f} {base:>20.2f} {base / fit_s:>7.1f}x  {params}")


if __name__ == "__main__":
    main()

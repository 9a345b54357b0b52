"""BG/NBD fit at scale: the aggregated likelihood against per-customer fits, in the same run.

    python benchmarks/bench_clv.py --customers 1000000

Customers are simulated from known BG/NBD parameters (close to the demo data's fit, in days)
and rounded to whole days as segwork.rfm.features gives them, with first purchases spread over
two years, so many customers share a (frequency, recency, T) history. ``BetaGeo().fit`` fits on
the distinct histories weighted by their counts. Two baselines fit every customer separately on
a subsample (``--baseline-sample``, default 100,000) and are scaled linearly to the full size:

* same optimiser: the same L-BFGS-B search with the analytic gradient, one term per customer
  (isolates what aggregation saves);
* lifetimes-style: one term per customer with numerical gradients (how lifetimes'
  ``BetaGeoFitter`` fits without ``weights``).

Prints seconds, the number of distinct histories, the ratios and the fitted parameters.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from segwork.clv import BetaGeo, bgnbd_log_likelihood
from segwork.clv.bgnbd import _fit_bgnbd
from segwork.clv.inputs import _unique_histories

TRUE = {"r": 0.75, "alpha": 65.0, "a": 0.45, "b": 11.0}


def simulate(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) in whole days of customers with a first purchase 1-730 days ago."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, n).astype(float)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    idx = np.arange(n)
    while idx.size:
        t_next = t[idx] + rng.exponential(1 / lam[idx])
        keep = t_next <= T[idx]
        idx, t_next = idx[keep], t_next[keep]
        x[idx] += 1
        tx[idx] = t_next
        t[idx] = t_next
        idx = idx[rng.random(idx.size) >= p[idx]]
    return x, np.minimum(np.ceil(tx), T), T


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def lifetimes_style(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    scale = 10.0 / T.max()

    def neg(lp):
        return -bgnbd_log_likelihood(np.exp(lp), x, tx * scale, T * scale).mean()

    return optimize.minimize(neg, np.zeros(4), method="L-BFGS-B").x


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--baseline-sample", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n, m = args.customers, min(args.customers, args.baseline_sample)

    sim_s, (x, tx, T) = timed(lambda: simulate(n, args.seed))
    print(f"simulated {n:,} customers in {sim_s:.1f} s (true {TRUE})")
    fit_s, bg = timed(lambda: BetaGeo().fit(frequency=x, recency=tx, T=T))
    print(
        f"BetaGeo().fit: {fit_s:.2f} s for {n:,} customers (checks, aggregation, fit, standard "
        f"errors), {bg.n_triples_:,} distinct (frequency, recency, T) ({bg.n_triples_ / n:.1%}); "
        f"converged {bg.converged_}"
    )
    print(
        "  "
        + ", ".join(f"{k}={v:.4g} (se {bg.standard_errors_[k]:.2g})" for k, v in bg.params_.items())
    )

    def aggregated_core():
        uniq, _, _, w = _unique_histories(x, tx, T)
        return _fit_bgnbd(uniq[:, 0], uniq[:, 1], uniq[:, 2], w)

    core_s, _ = timed(aggregated_core)
    same_s, (theta, _, _) = timed(lambda: _fit_bgnbd(x[:m], tx[:m], T[:m], np.ones(m)))
    naive_s, _ = timed(lambda: lifetimes_style(x[:m], tx[:m], T[:m]))
    scale = n / m
    print(f"\naggregation + maximum likelihood alone: {core_s:.2f} s")
    print(f"per-customer baselines on the first {m:,} customers, scaled x{scale:g} to {n:,}:")
    for name, secs in (("same optimiser", same_s), ("lifetimes-style", naive_s)):
        print(
            f"  {name:<16} {secs:7.2f} s -> {secs * scale:8.2f} s scaled; aggregated is "
            f"{secs * scale / core_s:6.1f}x faster (core) / {secs * scale / fit_s:6.1f}x (whole fit)"
        )
    sub = BetaGeo().fit(frequency=x[:m], recency=tx[:m], T=T[:m])
    agree = max(abs(sub.params_[k] / v - 1) for k, v in zip(sub.params_, theta, strict=True))
    print(f"  (aggregated and per-customer fits of the subsample agree to {agree:.1e} relative)")


if __name__ == "__main__":
    main()

"""Benchmark: the k sweep with bootstrap stability on many survey respondents.

    .venv/bin/python benchmarks/bench_clusters.py                 # 100,000 respondents (the target)
    .venv/bin/python benchmarks/bench_clusters.py --n 10000       # a quick check

Respondents are simulated like the demo survey (24 Likert items, 6 constructs, 5 personas, 3%
missing answers), scored with segwork.survey and standardised as fit_personas does, then every
k of the range is swept separately (the same seeded subsamples for every k, so the per-k rows
equal one k_sweep call) to print seconds per k. Silhouette uses a fixed sample (``--sample-size``),
refits are single-threaded k-means with ``--n-init`` starts, so the cost grows linearly in n.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from segwork.clusters import choose_k, k_sweep
from segwork.survey import SurveySpec, score_survey

MEANS = np.array(
    [  # persona x construct, like the demo's planted personas
        [4.5, 2.3, 2.2, 2.6, 3.0, 1.8],
        [1.8, 4.5, 3.0, 2.7, 3.0, 4.4],
        [2.9, 3.6, 4.6, 2.5, 2.2, 3.1],
        [2.4, 3.4, 2.1, 4.6, 3.7, 2.5],
        [2.8, 2.6, 2.2, 2.8, 4.6, 3.3],
    ]
)


def simulate(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(MEANS), size=n, p=[0.26, 0.18, 0.16, 0.17, 0.23])
    trait = rng.normal(0, 0.45, size=(n, MEANS.shape[1]))
    cols, cat = {}, []
    for j in range(24):
        c, rev = j % 6, j // 6 == 3
        x = np.clip(np.round(MEANS[truth, c] + trait[:, c] + rng.normal(0, 0.75, n)), 1, 5)
        x = 6 - x if rev else x
        x[rng.random(n) < 0.03] = np.nan
        cols[f"q{j + 1:02d}"] = x
        cat.append(
            {"item": f"q{j + 1:02d}", "construct": f"c{c}", "text": "", "reverse_coded": rev}
        )
    resp = pd.DataFrame({"customer_id": [f"R{i:07d}" for i in range(n)], **cols})
    return resp, pd.DataFrame(cat), truth


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="respondents")
    p.add_argument("--k-min", type=int, default=2)
    p.add_argument("--k-max", type=int, default=10)
    p.add_argument("--bootstrap", type=int, default=10, help="refits per k")
    p.add_argument("--algorithm", default="kmeans", choices=["kmeans", "gmm", "ward"])
    p.add_argument("--n-init", type=int, default=4)
    p.add_argument("--sample-size", type=int, default=3000, help="silhouette sample")
    a = p.parse_args(argv)

    t0 = time.perf_counter()
    resp, cat, truth = simulate(a.n)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored = score_survey(resp, SurveySpec.from_catalogue(cat))
    X = StandardScaler().fit_transform(scored.constructs)
    t_score = time.perf_counter() - t0
    print(
        f"{a.n:,} respondents simulated in {t_sim:.1f} s; scored (validate, recode, impute, constructs) "
        f"in {t_score:.1f} s; {len(scored.exclusions):,} excluded (too few answers)"
    )
    print(
        f"sweep k={a.k_min}..{a.k_max}, {a.algorithm}, {a.bootstrap} refits on 80% subsamples, "
        f"n_init={a.n_init}, silhouette on {min(a.sample_size, len(X)):,} rows"
    )

    rows, fits, total = [], {}, 0.0
    for k in range(a.k_min, a.k_max + 1):
        t0 = time.perf_counter()
        sw, fit = k_sweep(
            X,
            [k],
            algorithm=a.algorithm,
            n_bootstrap=a.bootstrap,
            n_init=a.n_init,
            sample_size=a.sample_size,
        )
        dt = time.perf_counter() - t0
        total += dt
        rows.append(sw)
        fits.update(fit)
        r = sw.iloc[0]
        print(
            f"  k={k:>2}: {dt:6.1f} s   stability ARI {r['stability']:.3f}  weakest-cluster Jaccard "
            f"{r['min_cluster_jaccard']:.3f}  silhouette {r['silhouette']:.3f}",
            flush=True,
        )
    sweep = pd.concat(rows)
    k, _ = choose_k(sweep)
    kept = ~np.isin(resp["customer_id"].to_numpy(), scored.exclusions["customer_id"].to_numpy())
    ari = adjusted_rand_score(truth[kept], fits[k].labels_)
    n_k = a.k_max - a.k_min + 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total sweep: {total:.1f} s for {n_k} values of k ({total / n_k:.1f} s per k, "
        f"{total / (n_k * (1 + a.bootstrap)):.2f} s per fit); chosen k={k} (planted 5), ARI vs truth {ari:.3f}"
    )
    print(f"peak memory (max RSS): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])

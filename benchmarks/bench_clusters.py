"""Benchmark: the k sweep with bootstrap stability on many survey respondents.

    .venv/bin/python benchmarks/bench_clusters.py                 # 100,000 respondents (the target)
    .venv/bin/python benchmarks/bench_clusters.py --n 10000       # a quick check
    .venv/bin/python benchmarks/bench_clusters.py --no-baseline   # the sweep as run, only
    .venv/bin/python benchmarks/bench_clusters.py --step data/bench/demo-200000-seed42  # notebook 03's step

Respondents are simulated like the demo survey (24 Likert items, 6 constructs, 5 personas, 3%
missing answers), scored with segwork.survey and standardised as PersonaModel does, then k is
swept twice over the same data: the **baseline** (every bootstrap refit of every k, one after
the other: the sweep before issue 14) and the sweep **as run** (the refits of a k stop once it
is provably unstable, see segwork.personas.selection.k_sweep; ``--n-jobs`` refits at once).
Both print their table, chosen k and ARI against the planted personas, and the ratio of times;
the chosen k and the ARI must be the same. Silhouette uses a fixed sample (``--sample-size``),
fits are single-threaded k-means with ``--n-init`` starts, so the cost grows linearly in n.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from segwork.personas import choose_k, k_sweep
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


def run_step(folder: Path) -> None:
    """Notebook 03's computation (``steps.personas.run``) on a benchmark demo folder
    (``benchmarks/bench_run.py`` writes them, with their ``bench-config.yaml``), reading the
    validated tables through a run catalog as ``segwork run`` does; the customer table is the
    customer 360 (the run joins notebook 02's columns to it too). Validation and the customer
    360 are done first and not timed. Prints wall and CPU seconds of the step, its k and the
    load average."""
    from common import validated_demo  # the benchmarks folder is not a package

    import segwork.steps.personas as step

    with validated_demo(folder) as (cfg, catalog, tables, c360):
        print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        w0, c0 = time.perf_counter(), time.process_time()
        result = step.run(
            tables.survey_responses, tables.survey_items, c360, consent=tables.customers
        )
        w1, c1 = time.perf_counter(), time.process_time()
        if os.environ.get("SEGWORK_BENCH_KEEP"):  # the step's inputs, for profiling by hand
            pd.to_pickle(
                (tables.survey_responses, tables.survey_items, c360, tables.customers),
                os.environ["SEGWORK_BENCH_KEEP"],
            )
    res = result.personas
    cols = ["silhouette", "stability", "min_cluster_jaccard", "n_refits"]
    print(f"{res.sweep[cols].round(3).to_string()}\n{res.k_reason}")
    labels = res.labels.to_numpy()
    print(
        f"{res.n_respondents:,} respondents clustered; k={res.k}; "
        f"sizes {np.bincount(labels).tolist()}; "
        f"labels sha256 {hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest()[:16]}"
    )
    print(f"steps.personas.run: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="respondents")
    p.add_argument("--k-min", type=int, default=2)
    p.add_argument("--k-max", type=int, default=10)
    p.add_argument("--bootstrap", type=int, default=10, help="refits per k")
    p.add_argument("--algorithm", default="kmeans", choices=["kmeans", "gmm", "ward"])
    p.add_argument("--n-init", type=int, default=4)
    p.add_argument("--sample-size", type=int, default=3000, help="silhouette sample")
    p.add_argument("--n-jobs", type=int, default=2, help="refits at once (threads)")
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the sweep as before (every refit, sequential) and print the ratio",
    )
    p.add_argument(
        "--step",
        type=Path,
        metavar="DEMO_DIR",
        help="time notebook 03's step (steps.personas.run) on a benchmark demo folder instead",
    )
    a = p.parse_args(argv)
    if a.step is not None:
        run_step(a.step)
        return

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

    kept = ~np.isin(resp["customer_id"].to_numpy(), scored.exclusions["customer_id"].to_numpy())
    ks = (a.k_min, a.k_max)
    runs = []
    modes = [("baseline: every refit, one at a time", None, 1)] if a.baseline else []
    modes.append((f"as run: early stop, {a.n_jobs} refits at once", 0.9, a.n_jobs))
    for label, threshold, jobs in modes:
        t0, c0 = time.perf_counter(), time.process_time()
        sweep, fits = k_sweep(
            X,
            ks,
            algorithm=a.algorithm,
            n_bootstrap=a.bootstrap,
            n_init=a.n_init,
            sample_size=a.sample_size,
            stability_threshold=threshold,
            n_jobs=jobs,
        )
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        k, _ = choose_k(sweep)
        ari = adjusted_rand_score(truth[kept], fits[k].labels_)
        cols = ["silhouette", "stability", "min_cluster_jaccard", "n_refits"]
        print(f"\n{label}\n{sweep[cols].round(3).to_string()}")
        print(
            f"sweep: {dt:.1f} s ({cpu:.1f} s CPU) for {len(sweep)} values of k; chosen k={k} "
            "(planted 5), "
            f"ARI vs truth {ari:.3f}",
            flush=True,
        )
        runs.append((dt, k, ari, cpu))
    if len(runs) == 2:
        (t_old, k_old, ari_old, c_old), (t_new, k_new, ari_new, c_new) = runs
        same = k_old == k_new and ari_old == ari_new
        print(
            f"\nbaseline {t_old:.1f} s -> as run {t_new:.1f} s: {t_old / t_new:.1f}x faster "
            f"(CPU {c_old:.1f} s -> {c_new:.1f} s: {c_old / c_new:.1f}x less); "
            f"same k and ARI: {'yes' if same else 'NO'} (k {k_old} / {k_new}, "
            f"ARI {ari_old:.3f} / {ari_new:.3f})"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])

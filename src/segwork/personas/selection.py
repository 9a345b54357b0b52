"""Choosing the number of personas: a k sweep with bootstrap stability, and the rule that picks k."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

from segwork import progress
from segwork.personas.clusterer import Algorithm, ClusteringError, PersonaClusterer


def _k_values(k_range: tuple[int, int] | Sequence[int]) -> list[int]:
    ks = (
        list(range(int(k_range[0]), int(k_range[1]) + 1))
        if len(k_range) == 2
        else [int(k) for k in k_range]
    )
    if not ks or min(ks) < 2:
        raise ClusteringError(
            f"k_range must give k >= 2 (inclusive bounds, e.g. (2, 10)), got {k_range!r}"
        )
    return ks


def _silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    if not 1 < len(np.unique(labels)) < len(labels):
        return float("nan")
    return float(silhouette_score(dist, labels, metric="precomputed"))


def _contingency(reference: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """Counts of (reference label, other label) pairs: a k x max(k, other's labels) integer table.

    One ``bincount`` (exact integers): what the ARI and the cluster-wise Jaccard of a refit are
    both read from, so each refit's labels are counted once.
    """
    ka = max(k, int(reference.max()) + 1 if len(reference) else k)
    kb = max(k, int(other.max()) + 1 if len(other) else k)
    flat = np.bincount(
        np.asarray(reference, dtype=np.int64) * kb + np.asarray(other, dtype=np.int64),
        minlength=ka * kb,
    )
    return flat.reshape(ka, kb)


def _ari_table(table: np.ndarray) -> float:
    """sklearn's ``adjusted_rand_score`` from the contingency table, the same number.

    The formula and its Python-integer arithmetic are sklearn's; the pair counts come from the
    table's rows and columns instead of sklearn's sorting and sparse matrix (~100x faster).
    """
    table = table.astype(np.int64, copy=False)
    n = int(table.sum())
    sum_squares = int((table**2).sum())
    tp = sum_squares - n
    fp = int((table * table.sum(axis=0)[None, :]).sum()) - sum_squares
    fn = int((table * table.sum(axis=1)[:, None]).sum()) - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _ari(reference: np.ndarray, other: np.ndarray) -> float:
    """sklearn's ``adjusted_rand_score`` of two labelings 0..k-1, the same number, ~100x faster."""
    return _ari_table(_contingency(reference, other, 1))


def _jaccard_table(table: np.ndarray, k: int) -> np.ndarray:
    """:func:`cluster_jaccard` from the contingency table (rows: the k reference clusters)."""
    table = np.asarray(table[:k], dtype=float)
    rows, cols = linear_sum_assignment(-table)
    out = np.zeros(k)
    inter = table[rows, cols]
    union = table.sum(axis=1)[rows] + table.sum(axis=0)[cols] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out[rows] = np.where(union > 0, inter / union, 0.0)
    return out


def cluster_jaccard(reference: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """Jaccard agreement of each reference cluster with its matched cluster in ``other``.

    Clusters are matched one-to-one by the assignment (Hungarian) maximising the overlap; a
    reference cluster with no counterpart gets 0. Hennig's cluster-wise stability (2007) uses
    the mean of these over bootstrap refits: above 0.75 a cluster is usually called stable.
    """
    return _jaccard_table(_contingency(reference, other, k), k)


def k_sweep(
    X: np.ndarray,
    k_range: tuple[int, int] | Sequence[int] = (2, 10),
    *,
    algorithm: Algorithm = "kmeans",
    random_state: int = 0,
    n_bootstrap: int = 10,
    subsample: float = 0.8,
    sample_size: int = 3000,
    n_init: int = 4,
    ward_max_n: int = 3000,
    n_threads: int | None = 1,
    n_jobs: int = 1,
    stability_threshold: float | None = 0.9,
    silhouette_share: float = 0.8,
) -> tuple[pd.DataFrame, dict[int, PersonaClusterer]]:
    """Fit every k of ``k_range`` (inclusive bounds) and measure it; returns the table and the fits.

    ``k_range``: two numbers are inclusive bounds, more (or one) are the exact k values.
    Per k: ``silhouette`` (on one seeded sample of ``sample_size`` rows when n is larger, the
    same rows for every k; higher is better), ``calinski_harabasz`` (higher better),
    ``davies_bouldin`` (lower better), ``bic`` (gmm only, lower better), ``inertia``
    (within-cluster sum of squares), ``min_share`` (smallest cluster) and bootstrap stability:
    the model is refitted on ``n_bootstrap`` random subsamples of ``subsample`` of the rows (the
    same subsamples for every k, a different seed per refit) and each refit's labels are
    compared with the full fit's labels on those rows by the adjusted Rand index: ``stability``
    (mean) and ``stability_sd``; and cluster-wise, the Jaccard agreement of each cluster with its
    match in the refit (:func:`cluster_jaccard`), averaged over refits, of which
    ``min_cluster_jaccard`` is the weakest cluster's. The global ARI hides one unstable cluster
    among many stable ones; the weakest cluster does not.

    **Stopping early** (``stability_threshold``, the bar of :func:`choose_k`; None = never): the
    refits of a k stop as soon as the k is *provably* not stable, i.e. some cluster's Jaccard
    mean stays below the bar even if every remaining refit reproduced it perfectly (Jaccard 1).
    Whether each k is stable, hence the k :func:`choose_k` picks, is then exactly what all refits
    give; the stability figures of such a k are the means of the refits made (``n_refits``
    says how many). If in the end no k is stable (:func:`choose_k` then compares the unstable
    ones), the stopped refits are completed, and so are those of the k after the one
    :func:`choose_k` picks (with ``stability_threshold`` and ``silhouette_share``), whose figure
    its reason quotes.

    ``n_threads`` caps the BLAS/OpenMP threads of each fit (1 by default: many small fits are
    fastest single-threaded; None = the libraries' default), also in the refit threads;
    ``n_jobs`` runs that many refits at once in threads (each refit has its own seed, so the
    results do not depend on it).
    """
    with threadpool_limits(limits=n_threads):
        return _k_sweep(
            X,
            k_range,
            algorithm=algorithm,
            random_state=random_state,
            n_bootstrap=n_bootstrap,
            subsample=subsample,
            sample_size=sample_size,
            n_init=n_init,
            ward_max_n=ward_max_n,
            n_jobs=max(int(n_jobs), 1),
            n_threads=n_threads,
            stability_threshold=stability_threshold,
            silhouette_share=silhouette_share,
        )


def _limit_openmp(n_threads: int | None) -> None:
    """Cap this thread's OpenMP threads (a refit thread's initializer).

    OpenMP's thread count is a per-thread setting: the cap :func:`k_sweep` sets holds for the
    calling thread only, and a new thread starts with the default (all cores). Without this,
    each refit thread ran k-means with a team of one OpenMP thread per core: on 2 cores, 2
    refits x 2 threads spinning at k-means' barriers (about a third of the sweep's CPU), and
    summing partial centres in an order that depends on timing.
    """
    if n_threads is not None:
        threadpool_limits(limits=n_threads, user_api="openmp")


class _Stability:
    """The bootstrap refits of one k, made in order and stoppable once the k is provably unstable."""

    def __init__(
        self, k: int, labels: np.ndarray, make: Any, draws: list[np.ndarray], X: np.ndarray
    ):
        self.k, self.labels, self.make, self.draws, self.X = k, labels, make, draws, X
        self.aris: list[float] = []
        self.jac: list[np.ndarray] = []
        self._started: list[Any] = []  # futures of the first batch, see start()

    def _one(self, b: int) -> tuple[float, np.ndarray]:
        idx = self.draws[b]
        refit = self.make(self.k, b).fit(self.X[idx])
        table = _contingency(self.labels[idx], refit.labels_, self.k)  # counted once, read twice
        return _ari_table(table), _jaccard_table(table, self.k)

    def provably_unstable(self, threshold: float | None) -> bool:
        if threshold is None or not self.jac:
            return False
        total = len(self.draws)
        best = (np.sum(self.jac, axis=0) + (total - len(self.jac))) / total  # the rest all 1
        return bool(best.min() < threshold - 1e-12)

    def start(self, pool: ThreadPoolExecutor | None) -> None:
        """Queue the first batch of refits (always made), so the caller can work meanwhile."""
        if pool is not None and not self.jac and not self._started:
            step = pool._max_workers  # noqa: SLF001
            self._started = [pool.submit(self._one, b) for b in range(min(step, len(self.draws)))]

    def run(self, pool: ThreadPoolExecutor | None, threshold: float | None) -> None:
        step = pool._max_workers if pool is not None else 1  # noqa: SLF001
        for future in self._started:  # the batch start() queued: the same refits, in order
            ari, jac = future.result()
            self.aris.append(ari)
            self.jac.append(jac)
        self._started = []
        while len(self.jac) < len(self.draws) and not self.provably_unstable(threshold):
            batch = range(len(self.jac), min(len(self.jac) + step, len(self.draws)))
            done = pool.map(self._one, batch) if pool is not None else map(self._one, batch)
            for ari, jac in done:
                self.aris.append(ari)
                self.jac.append(jac)

    def row(self) -> dict[str, float]:
        aris, k = self.aris, self.k
        cluster_jac = np.mean(self.jac, axis=0) if self.jac else np.full(k, np.nan)
        return {
            "stability": float(np.mean(aris)) if aris else np.nan,
            "stability_sd": float(np.std(aris, ddof=1)) if len(aris) > 1 else np.nan,
            "min_cluster_jaccard": float(cluster_jac.min()),
            "n_refits": len(aris),
        }

    @property
    def cluster_jaccard(self) -> np.ndarray:
        return np.mean(self.jac, axis=0) if self.jac else np.full(self.k, np.nan)


def _k_sweep(
    X: np.ndarray,
    k_range: tuple[int, int] | Sequence[int],
    *,
    algorithm: Algorithm,
    random_state: int,
    n_bootstrap: int,
    subsample: float,
    sample_size: int,
    n_init: int,
    ward_max_n: int,
    n_jobs: int,
    n_threads: int | None,
    stability_threshold: float | None,
    silhouette_share: float,
) -> tuple[pd.DataFrame, dict[int, PersonaClusterer]]:
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    ks = _k_values(k_range)
    rng = np.random.default_rng(random_state)
    m = max(int(round(subsample * n)), 2)
    draws = [np.sort(rng.choice(n, m, replace=False)) for _ in range(n_bootstrap)]
    sil_rows = (
        np.sort(rng.choice(n, sample_size, replace=False)) if n > sample_size else np.arange(n)
    )
    # distances once for all k: the silhouette sample is the same rows for every k
    sil_dist = pairwise_distances(X[sil_rows])

    def make(k: int, b: int) -> PersonaClusterer:
        return PersonaClusterer(
            k, algorithm, random_state=random_state + 1 + b, n_init=n_init, ward_max_n=ward_max_n
        )

    rows, fits, stab = {}, {}, {}
    pool = (
        ThreadPoolExecutor(n_jobs, initializer=_limit_openmp, initargs=(n_threads,))
        if n_jobs > 1
        else None
    )
    try:
        too_many = [k for k in ks if k >= n]
        if too_many:
            raise ClusteringError(f"k={too_many[0]} needs more than {n} respondents")

        def full_fit(k: int) -> PersonaClusterer:
            return PersonaClusterer(
                k, algorithm, random_state=random_state, n_init=n_init, ward_max_n=ward_max_n
            ).fit(X)

        # the full fits of every k are queued at once, so the threads never wait for them
        pending = {k: pool.submit(full_fit, k) for k in ks} if pool is not None else {}
        for k in progress.items(ks, f"choosing k: fitting k and {n_bootstrap} bootstrap refits"):
            est = pending[k].result() if pool is not None else full_fit(k)
            fits[k] = est
            labels = est.labels_
            stab[k] = _Stability(k, labels, make, draws, X)
            stab[k].start(pool)  # the refit threads work while this thread measures the fit
            ok = len(np.unique(labels)) > 1
            rows[k] = {
                "k": k,
                "silhouette": _silhouette(sil_dist, labels[sil_rows]),
                "calinski_harabasz": float(calinski_harabasz_score(X, labels)) if ok else np.nan,
                "davies_bouldin": float(davies_bouldin_score(X, labels)) if ok else np.nan,
                "bic": est.bic_,
                "inertia": float(((X - est.cluster_centers_[labels]) ** 2).sum()),
                "min_share": float(np.bincount(labels, minlength=k).min() / n),
            }
            stab[k].run(pool, stability_threshold)
        stable = [
            k
            for k in ks
            if stability_threshold is not None
            and stab[k].row()["min_cluster_jaccard"] >= stability_threshold
        ]
        if not stable:  # choose_k compares the unstable k: every refit is needed
            for k in ks:
                stab[k].run(pool, None)
        else:  # choose_k quotes the k after the one it picks ("... (overlap 0.76 only)")
            table = pd.DataFrame([{**rows[k], **stab[k].row()} for k in ks]).set_index("k")
            chosen, _ = choose_k(
                table, stability_threshold=stability_threshold, silhouette_share=silhouette_share
            )
            later = [k for k in ks if k > chosen]
            if later:
                stab[later[0]].run(pool, None)
    finally:
        if pool is not None:
            pool.shutdown()
    for k in ks:
        rows[k].update(stab[k].row())
        fits[k].stability_jaccard_ = stab[k].cluster_jaccard
    return pd.DataFrame([rows[k] for k in ks]).set_index("k"), fits


def choose_k(
    sweep: pd.DataFrame, *, stability_threshold: float = 0.9, silhouette_share: float = 0.8
) -> tuple[int, str]:
    """Pick k from a :func:`k_sweep` table; returns ``(k, reason in plain words)``.

    The rule: a k is **stable** when even its weakest cluster is reproduced by the bootstrap
    refits (``min_cluster_jaccard >= stability_threshold``, default 0.9). Among stable k whose
    silhouette is at least ``silhouette_share`` (default 80%) of the best stable silhouette,
    take the **largest** k.

    Why: internal indices (silhouette, Calinski-Harabasz) favour few, coarse clusters, so they
    often pick k=2 when personas are really 5; stability alone can be fooled by a consistent but
    pointless split of one persona (stable, yet it costs silhouette). Merging true personas keeps
    clusters stable, splitting one makes its halves unstable or lowers silhouette, so the
    largest stable k without a silhouette collapse is the number of distinct groups. The two
    thresholds come from a study of 52 simulated surveys (3-6 planted personas; equal and
    unequal sizes, noisier answers, personas that differ on only two constructs): the rule
    picked the planted k in 48; in the 4 misses the planted k was itself not stable (two
    personas nearly alike, or a persona of ~5%). Internal indices alone picked it in 35. If no
    k is stable, the most stable one is taken and the reason says to treat it with caution.
    """
    need = {"silhouette", "min_cluster_jaccard"}
    if not need <= set(sweep.columns) or sweep.empty:
        raise ClusteringError(f"choose_k needs a k_sweep table with columns {sorted(need)}")
    if len(sweep) > 1 and sweep["min_cluster_jaccard"].isna().all():
        raise ClusteringError("choosing k needs bootstrap stability: set n_bootstrap >= 2")
    if len(sweep) == 1:
        k = int(sweep.index[0])
        return k, (
            f"{k} personas were set in the run configuration (notebooks.03_personas.k), not "
            "chosen from the data ('auto' chooses the number from the evidence)."
        )
    stable = sweep[sweep["min_cluster_jaccard"] >= stability_threshold]
    if stable.empty:
        k = int(sweep["min_cluster_jaccard"].idxmax())
        return k, (
            f"{k} personas, to be treated with caution: for no number from {sweep.index.min()} to "
            f"{sweep.index.max()} does every persona come back when the grouping is repeated on "
            f"random subsamples of the respondents (an overlap of members of "
            f"{stability_threshold:.2f} is required; 1 = the same members); {k} comes closest "
            f"({sweep.at[k, 'min_cluster_jaccard']:.2f})."
        )
    best = stable["silhouette"].max()
    ok = stable[stable["silhouette"] >= silhouette_share * best]
    k = int(ok.index.max())
    row = sweep.loc[k]
    reason = (
        f"{k} personas: the largest number for which every persona comes back when the grouping "
        "is repeated on random subsamples of the respondents (even the least reproducible one "
        f"overlaps its repeat by {row['min_cluster_jaccard']:.2f}; {stability_threshold:.2f} is "
        "required, 1 = the same members) and the groups stay about as well separated as with the "
        f"best such number (silhouette {row['silhouette']:.2f}, best {best:.2f})."
    )
    larger = sweep[sweep.index > k]
    if not larger.empty:
        k1 = int(larger.index.min())
        r1 = sweep.loc[k1]
        why = (
            f"one of its groups does not come back (overlap {r1['min_cluster_jaccard']:.2f} only)"
            if r1["min_cluster_jaccard"] < stability_threshold
            else f"the groups are less well separated (silhouette {r1['silhouette']:.2f})"
        )
        reason += f" With {k1}, a persona would be split without a real difference: {why}."
    smaller = sweep[sweep.index < k]
    if not smaller.empty and smaller["silhouette"].max() > row["silhouette"]:
        k0 = int(smaller["silhouette"].idxmax())
        reason += (
            f" Separation alone would favour {k0} (silhouette {smaller['silhouette'].max():.2f}), "
            "which merges groups that the finer, reproducible grouping keeps apart."
        )
    return k, reason

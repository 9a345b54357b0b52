"""Benchmark: evaluate 1,000 segment x variant cells (conversion and revenue, Holm correction).

Default size: 250 segments x (control + 4 variants) = 1,000 segment x variant comparisons on
about 1,000,000 exposure rows, one campaign. Timed separately: the aggregation to sufficient
statistics (groupby with np.bincount) and the whole ``evaluate`` call (aggregation + vectorised
formulas + Bayesian integration + corrections + warnings), best of ``--repeat`` runs. Optional
extras: with CUPED (``--cuped``) and through Ibis/DuckDB (``--ibis``). A correctness check compares
one cell with scipy's Welch test, so a fast but wrong run cannot pass.

    python benchmarks/bench_abtest.py                       # 1M rows, 1,000 cells
    python benchmarks/bench_abtest.py --rows 100000 --cuped --ibis
    python benchmarks/bench_abtest.py --rows 200000 --segmentations   # notebook 04's shape

``--segmentations`` times what notebook 04 does through Ibis/DuckDB: the whole campaign and three
segment columns, once with one ``evaluate`` per split and once with ``evaluate_segmentations``
(one aggregation of every combination, summed up to each column), and checks they agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from segwork import abtest


def make_data(rows: int, segments: int, variants: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, segments, rows)
    var = rng.integers(0, variants + 1, rows)
    base = 0.05 + 0.1 * rng.random(segments)
    effect = 0.02 * rng.standard_normal((segments, variants + 1))
    effect[:, 0] = 0
    p = np.clip(base[seg] + effect[seg, var], 0.001, 0.999)
    conv = rng.random(rows) < p
    pre = rng.gamma(2.0, 50.0, rows)
    revenue = np.where(conv, rng.lognormal(4.0, 0.8, rows) + 0.3 * pre, 0.0)
    names = np.array(["control"] + [f"variant_{i}" for i in range(1, variants + 1)], dtype=object)
    return pd.DataFrame(
        {
            "campaign_id": "bench",
            "segment": pd.array(np.char.add("seg_", seg.astype(str)), dtype="str"),
            "variant": pd.array(names[var], dtype="str"),
            "converted": conv.astype(np.int64),
            "revenue": np.round(revenue, 2),
            "pre_revenue": np.round(pre, 2),
        }
    )


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--segments", type=int, default=250)
    ap.add_argument(
        "--variants", type=int, default=4, help="treatment variants besides the control"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--cuped", action="store_true", help="also time evaluate with pre_metric (CUPED)"
    )
    ap.add_argument(
        "--ibis", action="store_true", help="also time the Ibis/DuckDB aggregation path"
    )
    ap.add_argument(
        "--segmentations",
        action="store_true",
        help="also time overall + 3 segment columns via Ibis: separate evaluate calls vs one aggregation",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = make_data(args.rows, args.segments, args.variants)
    print(
        f"data: {len(df):,} rows, {args.segments} segments x {args.variants} variants "
        f"= {args.segments * args.variants:,} cells (generated in {time.perf_counter() - t0:.2f} s)"
    )

    t_stats, _ = best_of(lambda: abtest.sufficient_stats(df, segment="segment"), args.repeat)
    t_eval, res = best_of(
        lambda: abtest.evaluate(df, segment="segment", correction="holm"), args.repeat
    )
    tab = res.table
    print(f"sufficient statistics (groupby):         {t_stats:.3f} s")
    print(
        f"evaluate (conversion + revenue, Holm):   {t_eval:.3f} s  -> {len(tab):,} result rows, "
        f"formulas and corrections {t_eval - t_stats:.3f} s"
    )
    t_dec, _ = best_of(lambda: abtest.decide(res), args.repeat)
    print(f"decide:                                  {t_dec:.3f} s")
    if args.cuped:
        t_c, _ = best_of(
            lambda: abtest.evaluate(df, segment="segment", pre_metric="pre_revenue"), args.repeat
        )
        print(f"evaluate with CUPED:                     {t_c:.3f} s")
    if args.ibis:
        import ibis

        t = ibis.memtable(df)
        t_i, res_i = best_of(lambda: abtest.evaluate(t, segment="segment"), args.repeat)
        print(f"evaluate via Ibis/DuckDB:                {t_i:.3f} s")
        assert np.allclose(res_i.table["p_value"], tab["p_value"], rtol=1e-8, equal_nan=True)

    if args.segmentations:
        import ibis

        rng = np.random.default_rng(1)
        t = ibis.memtable(
            df.assign(
                tier=pd.array(rng.choice(["gold", "silver", "bronze"], len(df)), dtype="str"),
                region=pd.array(rng.choice(list("NSEW"), len(df)), dtype="str"),
            )
        )
        cols = ["segment", "tier", "region"]

        def separate():
            return abtest.evaluate(t), {c: abtest.evaluate(t, segment=c) for c in cols}

        t_sep, (o1, by1) = best_of(separate, args.repeat)
        t_one, (o2, by2) = best_of(lambda: abtest.evaluate_segmentations(t, cols), args.repeat)
        print(f"overall + {len(cols)} columns, evaluate each:   {t_sep:.3f} s")
        print(f"overall + {len(cols)} columns, one aggregation: {t_one:.3f} s")
        for a, b in [(o1, o2), *((by1[c], by2[c]) for c in cols)]:
            assert np.allclose(a.table["p_value"], b.table["p_value"], rtol=1e-8, equal_nan=True)

    # correctness check of one cell against scipy
    r = tab[(tab["metric"] == "revenue")].iloc[0]
    sel = df["segment"] == r["segment"]
    c = df.loc[sel & (df["variant"] == "control"), "revenue"].to_numpy()
    v = df.loc[sel & (df["variant"] == r["variant"]), "revenue"].to_numpy()
    ref = stats.ttest_ind(v, c, equal_var=False)
    assert np.isclose(r["p_value"], ref.pvalue, rtol=1e-8), (r["p_value"], ref.pvalue)
    assert len(tab) == 2 * args.segments * args.variants
    print("check vs scipy Welch: ok")


if __name__ == "__main__":
    main()

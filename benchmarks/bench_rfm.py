"""Benchmark: RFM features through Ibis/DuckDB against a plain pandas groupby.

For each size, an orders Parquet file is generated (with ``segwork.demo.write_orders_only`` when
available, else with numpy in chunks), then ``segwork.rfm.features`` (classic and clv) reading the
Parquet through Ibis/DuckDB is timed against a straightforward pandas computation of the same
features (read the Parquet into pandas, groupby). Every measurement runs in its own subprocess, so
the peak RSS is that of one method alone. The two results are compared (customers, sums of every
column) so a fast but wrong run cannot pass.

    python benchmarks/bench_rfm.py --orders 1000000 10000000
    python benchmarks/bench_rfm.py --orders 200000          # quick check
    python benchmarks/bench_rfm.py --step data/bench/demo-200000-seed42   # notebook 02's step
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANALYSIS_DATE = "2026-09-30"
COLUMNS = ["order_id", "customer_id", "order_date", "amount"]


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def generate(path: Path, n_orders: int, seed: int = 0, generator: str = "auto") -> tuple[int, str]:
    """Write about n_orders orders to path; return (rows, generator used)."""
    if generator in ("auto", "demo"):
        try:
            from segwork.demo import write_orders_only
        except ImportError:
            if generator == "demo":
                raise
        else:
            return int(
                write_orders_only(path, n_orders, seed, analysis_date=ANALYSIS_DATE)
            ), "segwork.demo"
    return _numpy_orders(path, n_orders, seed), "numpy"


def _numpy_orders(path: Path, n_orders: int, seed: int, chunk: int = 1_000_000) -> int:
    """Orders over two years up to the analysis date (plus 2% after it), 5% returns, same-day repeats."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_customers = max(1, n_orders // 20)
    end = np.datetime64(ANALYSIS_DATE) + np.timedelta64(30, "D")
    span_s = 760 * 86400
    schema = pa.schema(
        [
            ("order_id", pa.string()),
            ("customer_id", pa.string()),
            ("order_date", pa.timestamp("us")),
            ("amount", pa.float64()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, n_orders, chunk):
            n = min(chunk, n_orders - lo)
            cust = rng.integers(0, n_customers, n)
            secs = rng.integers(0, span_s, n)
            ts = (end - np.timedelta64(span_s, "s")).astype("datetime64[s]") + secs.astype(
                "timedelta64[s]"
            )
            amount = np.round(rng.lognormal(6.5, 0.9, n), 2)
            ret = rng.random(n) < 0.05
            amount[ret] = -amount[ret]
            tbl = pa.table(
                {
                    "order_id": pa.array([f"O{i:010d}" for i in range(lo, lo + n)]),
                    "customer_id": pa.array([f"C{c:08d}" for c in cust]),
                    "order_date": pa.array(ts.astype("datetime64[us]")),
                    "amount": pa.array(amount),
                },
                schema=schema,
            )
            writer.write_table(tbl)
    return n_orders


# ------------------------------------------------------------------------------------------
# the two methods (run inside a worker process)
# ------------------------------------------------------------------------------------------
def run_ibis(path: str, convention: str):
    import ibis

    from segwork import rfm

    t = ibis.duckdb.connect().read_parquet(path)
    return rfm.features(t, analysis_date=ANALYSIS_DATE, convention=convention)


def run_pandas(path: str, convention: str):
    """The same features as rfm.features, the way one would write them in plain pandas."""
    import pandas as pd

    ref = pd.Timestamp(ANALYSIS_DATE)
    df = pd.read_parquet(path, columns=COLUMNS)
    df = df[df["order_date"] < ref + pd.Timedelta(days=1)]
    if convention == "classic":
        buys = df[df["amount"] > 0]
        g = buys.groupby("customer_id")
        last = g["order_date"].max()
        out = pd.DataFrame(
            {
                "recency": (ref - last.dt.normalize()).dt.days,
                "frequency": g["order_id"].nunique(),
                "monetary": df.groupby("customer_id")["amount"].sum().reindex(last.index),
            }
        )
    else:
        per = (
            df.assign(period=df["order_date"].dt.floor("D"))
            .groupby(["customer_id", "period"])["amount"]
            .sum()
            .reset_index()
        )
        per = per[per["amount"] > 0]
        g = per.groupby(
            "customer_id"
        )  # rows are sorted by (customer, period): first() is the first period
        first, last, n = g["period"].min(), g["period"].max(), g.size()
        repeat = n - 1
        spend = (g["amount"].sum() - g["amount"].first()) / repeat.where(repeat > 0)
        out = pd.DataFrame(
            {
                "frequency": repeat,
                "recency": (last - first) / pd.Timedelta(days=1),
                "T": (ref - first) / pd.Timedelta(days=1),
                "monetary": spend.fillna(0.0),
            }
        )
    return out.sort_index()


def worker(method: str, path: str, convention: str) -> None:
    """Time one method in this process; print JSON with seconds, peak RSS and result checksums."""
    import warnings

    import segwork.rfm  # noqa: F401  (imports are not part of the timing)

    warnings.simplefilter("ignore")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = (run_ibis if method == "ibis" else run_pandas)(path, convention)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    sums = {c: float(out[c].astype("float64").sum()) for c in out.columns}
    print(
        json.dumps(
            {
                "seconds": secs,
                "peak_rss_mb": peak / 1024,
                "base_rss_mb": base / 1024,
                "customers": len(out),
                "sums": sums,
            }
        )
    )


def measure(method: str, path: Path, convention: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", method, str(path), convention],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{method}/{convention} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same(a: dict, b: dict) -> bool:
    if a["customers"] != b["customers"] or a["sums"].keys() != b["sums"].keys():
        return False
    return all(
        abs(a["sums"][k] - b["sums"][k]) <= 1e-9 * max(1.0, abs(b["sums"][k])) for k in a["sums"]
    )


def run_step(folder: Path) -> None:
    """Notebook 02's computation (``steps.rfm_clv.run``) and its save, on a benchmark demo folder
    (``benchmarks/bench_run.py`` writes them, with their ``bench-config.yaml``), reading the
    validated tables through a run catalog as ``segwork run`` does. Validation is done first
    and not timed. Prints wall and CPU seconds of the step and of writing its datasets."""
    from common import validated_demo  # the benchmarks folder is not a package

    import segwork.steps.rfm_clv as step

    with validated_demo(folder) as (cfg, catalog, tables, c360):
        w0, c0 = time.perf_counter(), time.process_time()
        result = step.run(
            tables.orders,
            tables.customers,
            tables.interactions,
            analysis_date=cfg.analysis_date,
            profile=c360,
        )
        w1, c1 = time.perf_counter(), time.process_time()
        catalog.save_all(result.outputs())
        w2, c2 = time.perf_counter(), time.process_time()
    print(f"{len(c360):,} customers, {len(result.table):,} in the rfm table")
    print(f"steps.rfm_clv.run: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU")
    print(f"saving its datasets: {w2 - w1:.1f} s wall, {c2 - c1:.1f} s CPU")
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--orders",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="order counts to benchmark",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where to write the Parquet files (default: a temp dir)",
    )
    p.add_argument("--generator", choices=["auto", "demo", "numpy"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--step",
        type=Path,
        default=None,
        metavar="DEMO_DIR",
        help="time notebook 02's step on a benchmark demo folder instead",
    )
    args = p.parse_args(argv)
    if args.step is not None:
        run_step(args.step)
        return

    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_rfm_")
        data_dir = Path(tmp.name)
    else:
        data_dir = args.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, analysis date {ANALYSIS_DATE}")
    header = f"{'orders':>12} {'convention':<9} {'method':<14} {'seconds':>8} {'peak RSS MB':>12} {'customers':>10}  ratio"
    rows = []
    try:
        for n in args.orders:
            path = data_dir / f"orders_{n}_{args.seed}_{args.generator}.parquet"
            t0 = time.perf_counter()
            rows_written, gen = generate(path, n, args.seed, args.generator)
            print(
                f"generated {rows_written:,} orders with {gen} in {time.perf_counter() - t0:.1f} s "
                f"({path.stat().st_size / 2**20:.0f} MB Parquet)"
            )
            for conv in ("classic", "clv"):
                ib = measure("ibis", path, conv)
                pdm = measure("pandas", path, conv)
                if not same(ib, pdm):
                    raise SystemExit(
                        f"results differ for {conv} at {n:,} orders:\nibis   {ib}\npandas {pdm}"
                    )
                rows.append((rows_written, conv, "ibis/duckdb", ib, pdm["seconds"] / ib["seconds"]))
                rows.append((rows_written, conv, "pandas", pdm, None))
            if tmp is not None:
                path.unlink()  # keep the temp dir small between sizes
    finally:
        if tmp is not None:
            tmp.cleanup()
    print()
    print(header)
    print("-" * len(header))
    for n, conv, method, m, ratio in rows:
        r = f"pandas/ibis time {ratio:.1f}x" if ratio is not None else ""
        print(
            f"{n:>12,} {conv:<9} {method:<14} {m['seconds']:>8.2f} {m['peak_rss_mb']:>12.0f} {m['customers']:>10,}  {r}"
        )
    for i in range(0, len(rows), 2):
        ib, pdm = rows[i][3], rows[i + 1][3]
        print(
            f"{rows[i][0]:>12,} {rows[i][1]:<9} peak RSS pandas/ibis: {pdm['peak_rss_mb'] / ib['peak_rss_mb']:.1f}x "
            f"(above the {ib['base_rss_mb']:.0f} MB of an idle worker: ibis {ib['peak_rss_mb'] - ib['base_rss_mb']:.0f} MB, "
            f"pandas {pdm['peak_rss_mb'] - pdm['base_rss_mb']:.0f} MB)"
        )
    print("results of both methods agree (customers and column sums, rtol 1e-9)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    else:
        main()

"""Scale benchmark: RFM, CLV features and the customer 360 at 10^6-10^8 orders.

For each size an orders Parquet file (with matching customers and interactions files) is made
by the demo generator, streamed in chunks, and cached in ``data/bench/`` (reused when its
manifest has the same size, seed and generator version). Then, each in its own process so that
its peak memory is its own:

* **floor**: one plain DuckDB ``SELECT customer_id, max(order_date), count(*), sum(amount) ...
  GROUP BY 1`` over the orders file, fetched to Arrow: the least any engine pays for a pass
  over the orders;
* **segwork**: ``rfm.features(convention="classic")``, ``rfm.features(convention="clv")`` and
  ``customers.build_customer360`` (customers, orders and interactions) on Ibis tables over the
  Parquet files, DuckDB with the same memory_limit / threads / temp_directory as the floor;
* **pandas**: a straightforward pandas implementation of the same three (read the Parquet,
  groupby), skipped with its estimated memory when it would not fit. Whenever pandas ran, its
  results are compared with segwork's, every column of every customer, so a fast but wrong
  result fails the benchmark.

    python benchmarks/bench_scale.py --orders 1e6 1e7 1e8
    python benchmarks/bench_scale.py --orders 1e6            # about a minute

Prints a table and writes benchmarks/results/scale-<UTC time>.md/.json and scale-latest.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (the benchmarks folder is not a package)
    ANALYSIS_DATE,
    DATA_DIR,
    RESULTS_DIR,
    duckdb_backend,
    emit,
    machine_info,
    machine_lines,
    markdown_table,
    peak_rss_mb,
    run_child,
    total_memory_mb,
    write_results,
)

ORDER_COLUMNS = ["order_id", "customer_id", "order_date", "amount"]
WINDOWS = (30, 90, 365)
COMPUTATIONS = ("rfm_classic", "rfm_clv", "customer360")
LABELS = {
    "floor": "DuckDB floor (scan + group by)",
    "rfm_classic": "RFM classic",
    "rfm_clv": "CLV features (rfm clv)",
    "customer360": "customer 360",
}
# Peak memory of the pandas baselines per order row above an idle process: about twice what was
# measured at 10^6 orders (310-390 bytes), used only until a smaller size of the same run has
# measured it; then that measurement is scaled instead.
PANDAS_BYTES_PER_ORDER = {"rfm_classic": 650, "rfm_clv": 650, "customer360": 800}


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def data_dir_for(root: Path, n_orders: int, seed: int, per_customer: float) -> Path:
    return root / f"scale-{n_orders}-seed{seed}-opc{per_customer:g}"


def wanted_manifest(n_orders: int, seed: int, per_customer: float) -> dict[str, Any]:
    from segwork.demo import GENERATOR_VERSION

    return {
        "requested_orders": n_orders,
        "seed": seed,
        "orders_per_customer": per_customer,
        "analysis_date": ANALYSIS_DATE,
        "generator_version": GENERATOR_VERSION,
    }


def ensure_data(
    root: Path, n_orders: int, seed: int, per_customer: float, rss_limit_mb: float
) -> dict:
    """The data of one size: reuse it when the manifest matches, else generate it in a child."""
    folder = data_dir_for(root, n_orders, seed, per_customer)
    manifest_path = folder / "manifest.json"
    want = wanted_manifest(n_orders, seed, per_customer)
    if manifest_path.exists():
        have = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = [
            folder / f for f in ("orders.parquet", "customers.parquet", "interactions.parquet")
        ]
        if all(have.get(k) == v for k, v in want.items()) and all(f.exists() for f in files):
            have["reused"] = True
            return have
    res = run_child(
        [
            sys.executable,
            __file__,
            "--child",
            json.dumps({"task": "generate", "dir": str(folder), **want}),
        ],
        rss_limit_mb=rss_limit_mb,
    )
    if "error" in res:
        raise SystemExit(f"generating {n_orders:,} orders failed: {res['error']}")
    manifest = {**want, **res, "reused": False}
    from segwork.files import atomic_write_text

    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def generate(spec: dict) -> dict:
    """Write orders, interactions and customers Parquet files with the demo generator (streamed)."""
    import duckdb
    import pyarrow.parquet as pq

    from segwork.demo import write_demo

    folder = Path(spec["dir"])
    t0 = time.perf_counter()
    n_customers = max(1, round(spec["requested_orders"] / spec["orders_per_customer"]))
    write_demo(
        folder,
        n_customers,
        seed=spec["seed"],
        analysis_date=spec["analysis_date"],
        orders_per_customer=spec["orders_per_customer"],
    )
    # customers come as CSV: convert to Parquet (DuckDB streams it; types inferred from all rows)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    src = str(folder / "customers.csv").replace("'", "''")
    dst = str(folder / "customers.parquet").replace("'", "''")
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}', sample_size = -1)) TO '{dst}' (FORMAT parquet)"
    )
    con.close()
    for name in (
        "customers.csv",
        "campaign_exposures.csv",
        "survey_responses.csv",
        "survey_items.csv",
    ):
        (folder / name).unlink(missing_ok=True)  # not used here: keep the disk footprint small
    shutil.rmtree(folder / "truth", ignore_errors=True)
    files = {f: folder / f for f in ("orders.parquet", "customers.parquet", "interactions.parquet")}
    return {
        "generation_s": round(time.perf_counter() - t0, 2),
        "generation_peak_rss_mb": round(peak_rss_mb()),
        "rows": {k.split(".")[0]: pq.ParquetFile(p).metadata.num_rows for k, p in files.items()},
        "mb": {k.split(".")[0]: round(p.stat().st_size / 2**20, 1) for k, p in files.items()},
    }


# ------------------------------------------------------------------------------------------
# the computations (each runs in a child process)
# ------------------------------------------------------------------------------------------
def floor(con: Any, folder: Path) -> Any:
    """The plain DuckDB scan-and-group of the orders file, fetched to Arrow."""
    cur = con.con.execute(
        "SELECT customer_id, max(order_date) AS last_order, count(*) AS n, sum(amount) AS revenue "
        "FROM read_parquet(?) GROUP BY 1",
        [str(folder / "orders.parquet")],
    )
    return cur.to_arrow_table() if hasattr(cur, "to_arrow_table") else cur.fetch_arrow_table()


def segwork_compute(comp: str, con: Any, folder: Path) -> Any:
    """segwork's own computation on Ibis tables over the Parquet files."""
    import pandas as pd

    from segwork import customers, rfm

    orders = con.read_parquet(str(folder / "orders.parquet"))
    if comp == "rfm_classic":
        return rfm.features(orders, analysis_date=ANALYSIS_DATE, convention="classic")
    if comp == "rfm_clv":
        return rfm.features(orders, analysis_date=ANALYSIS_DATE, convention="clv")
    cust = pd.read_parquet(folder / "customers.parquet")
    inter = con.read_parquet(str(folder / "interactions.parquet"))
    return customers.build_customer360(
        cust, orders, analysis_date=ANALYSIS_DATE, interactions=inter, windows=WINDOWS
    )


def pandas_compute(comp: str, folder: Path) -> Any:
    """The same computation written the way one would in plain pandas."""
    from bench_rfm import run_pandas  # the pandas RFM baseline of bench_rfm.py

    if comp == "rfm_classic":
        return run_pandas(str(folder / "orders.parquet"), "classic")
    if comp == "rfm_clv":
        return run_pandas(str(folder / "orders.parquet"), "clv")
    return pandas_customer360(folder)


def pandas_customer360(folder: Path) -> Any:
    """build_customer360 in plain pandas: read the history files whole and group by customer."""
    import pandas as pd

    from segwork.customers import age_band, company_size_band

    ref = pd.Timestamp(ANALYSIS_DATE)
    end = ref + pd.Timedelta(days=1)
    cust = pd.read_parquet(folder / "customers.parquet").set_index("customer_id")

    o = pd.read_parquet(folder / "orders.parquet", columns=ORDER_COLUMNS)
    o = o[o["order_date"] < end]
    buy = o["amount"] > 0
    cols = {
        "purchase": buy.astype("int64"),
        "ret": (o["amount"] < 0).astype("int64"),
        "gross": o["amount"].where(buy, 0.0),
    }
    for w in WINDOWS:
        inside = o["order_date"] >= end - pd.Timedelta(days=w)
        cols[f"orders_{w}d"] = (inside & buy).astype("int64")
        cols[f"revenue_{w}d"] = o["amount"].where(inside, 0.0)
    o = o.assign(**cols)
    beh = o.groupby("customer_id").agg(
        first_order_date=("order_date", "min"),
        last_order_date=("order_date", "max"),
        orders_total=("purchase", "sum"),
        returns_total=("ret", "sum"),
        revenue_total=("amount", "sum"),
        gross=("gross", "sum"),
        **{c: (c, "sum") for w in WINDOWS for c in (f"orders_{w}d", f"revenue_{w}d")},
    )
    del o
    beh["aov"] = beh["gross"] / beh["orders_total"].where(beh["orders_total"] > 0)
    beh["days_since_last_order"] = (ref - beh["last_order_date"]).dt.days
    beh["tenure_days"] = (ref - beh["first_order_date"]).dt.days
    beh = beh.drop(columns="gross")

    i = pd.read_parquet(
        folder / "interactions.parquet", columns=["customer_id", "occurred_at", "kind"]
    )
    i = i[i["occurred_at"] < end]
    i = i.assign(recent=(i["occurred_at"] >= end - pd.Timedelta(days=365)).astype("int64"))
    g = i.groupby(["customer_id", "kind"])
    long = pd.DataFrame({"n": g["recent"].sum(), "ever": g.size(), "last": g["occurred_at"].max()})
    del i, g
    wide = long["n"].unstack("kind", fill_value=0).astype("int64")
    wide.columns = [f"{k}_365d" for k in wide.columns]
    kinds = long.index.get_level_values("kind")
    ever = long["ever"]
    contract = ever[(kinds == "service_contract") & (ever > 0)].index.get_level_values(
        "customer_id"
    )
    wide["has_service_contract"] = wide.index.isin(contract)
    complaints = ever[kinds == "complaint"].droplevel("kind")
    wide["complaints_total"] = complaints.reindex(wide.index).fillna(0).astype("int64")
    wide["last_interaction_at"] = long["last"].groupby(level="customer_id").max()

    c = cust.join(beh, how="left")
    counts = [k for k in beh.columns if k.startswith(("orders_", "returns_"))]
    c[counts] = c[counts].fillna(0).astype("int64")
    money = [k for k in beh.columns if k.startswith("revenue_")]
    c[money] = c[money].fillna(0.0)
    c["has_ordered"] = c["orders_total"] > 0
    c["active_365d"] = c["orders_365d"] > 0
    c = c.join(wide, how="left")
    ints = [k for k in wide.columns if k.endswith("d") or k == "complaints_total"]
    c[ints] = c[ints].fillna(0).astype("int64")
    c["has_service_contract"] = c["has_service_contract"].fillna(False).astype(bool)
    c["age_band"] = age_band(c["birth_date"], ref)  # per-customer finishing: segwork's helpers
    c["company_size"] = company_size_band(c["employees"])
    return c


def child(spec: dict) -> None:
    """Run one task described by spec and print its JSON result."""
    if spec["task"] == "generate":
        emit(generate(spec))
        return
    warnings.simplefilter("ignore")
    import ibis  # noqa: F401  (imports are not part of the timing)
    import pandas as pd  # noqa: F401
    import pyarrow  # noqa: F401

    import segwork.customers  # noqa: F401
    import segwork.rfm  # noqa: F401

    folder = Path(spec["dir"])
    engine, comp = spec["engine"], spec["comp"]
    con = None
    if engine != "pandas":
        con = duckdb_backend(spec["memory_limit"], spec["threads"], spec["temp_directory"])
    base = peak_rss_mb()
    t0 = time.perf_counter()
    if engine == "floor":
        out = floor(con, folder)
    elif engine == "segwork":
        out = segwork_compute(comp, con, folder)
    else:
        out = pandas_compute(comp, folder)
    secs = time.perf_counter() - t0
    peak = peak_rss_mb()
    if spec.get("result"):
        out.to_parquet(spec["result"])
    emit({"seconds": secs, "peak_rss_mb": peak, "base_rss_mb": base, "rows": len(out)})


# ------------------------------------------------------------------------------------------
# checking pandas against segwork
# ------------------------------------------------------------------------------------------
def compare(seg: Any, pdf: Any, rtol: float = 1e-9) -> list[str]:
    """Differences between two per-customer frames (same customers, columns and values)."""
    import numpy as np
    import pandas as pd

    problems = []
    if set(seg.columns) != set(pdf.columns):
        return [
            f"columns differ: segwork only {sorted(set(seg.columns) - set(pdf.columns))}, "
            f"pandas only {sorted(set(pdf.columns) - set(seg.columns))}"
        ]
    seg, pdf = seg.sort_index(), pdf.sort_index()[seg.columns]
    if not seg.index.astype(str).equals(pdf.index.astype(str)):
        return [f"customers differ: {len(seg):,} in segwork, {len(pdf):,} in pandas"]
    for col in seg.columns:
        a, b = seg[col], pdf[col]
        if pd.api.types.is_bool_dtype(a) or pd.api.types.is_numeric_dtype(a):
            x = a.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
            y = b.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
            ok = np.isclose(x, y, rtol=rtol, atol=1e-6, equal_nan=True)
        elif pd.api.types.is_datetime64_any_dtype(a):
            x = pd.to_datetime(a).astype("datetime64[us]")
            y = pd.to_datetime(b).astype("datetime64[us]")
            ok = ((x == y) | (x.isna() & y.isna())).to_numpy()
        else:
            x, y = a.astype("string").fillna("<NA>"), b.astype("string").fillna("<NA>")
            ok = (x == y).to_numpy(dtype=bool)
        if not ok.all():
            first = seg.index[~ok][0]
            problems.append(
                f"{col}: {int((~ok).sum()):,} customers differ, e.g. {first}: "
                f"segwork {seg.at[first, col]!r}, pandas {pdf.at[first, col]!r}"
            )
    return problems


# ------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------
def parse_count(text: str) -> int:
    """1e6, 10000000 or 1_000_000 as an int."""
    value = float(text.replace("_", ""))
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(value)


def human(n: int) -> str:
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def pandas_estimate_mb(comp: str, n_orders: int, measured: dict[str, tuple[int, dict]]) -> float:
    """Peak memory pandas will need: scaled from a smaller size of this run, else the constants."""
    if comp in measured:
        rows, m = measured[comp]
        per_row = max(0.0, m["peak_rss_mb"] - m["base_rss_mb"]) / rows
        return m["base_rss_mb"] + per_row * n_orders
    return 300 + PANDAS_BYTES_PER_ORDER[comp] * n_orders / 2**20


def main(argv: list[str] | None = None) -> None:
    ram_mb = total_memory_mb()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--orders",
        type=parse_count,
        nargs="+",
        default=[10**6, 10**7, 10**8],
        help="order counts (about; the generator gives whole customers), e.g. 1e6 1e7 1e8",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the result files")
    p.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="where the Parquet files are cached"
    )
    p.add_argument(
        "--tmp",
        type=Path,
        default=None,
        help="DuckDB temp_directory for spilling (default: <data-dir>/duckdb_tmp)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--orders-per-customer", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    p.add_argument("--memory-limit", default="12GB", help="DuckDB memory_limit")
    p.add_argument(
        "--pandas-budget-gb",
        type=float,
        default=round(ram_mb * 0.6 / 1024, 1),
        help="skip pandas when its estimated peak is above this (default 60%% of RAM)",
    )
    p.add_argument("--force-pandas", action="store_true", help="run pandas whatever its estimate")
    p.add_argument("--no-pandas", action="store_true", help="skip the pandas baselines")
    p.add_argument(
        "--rss-limit-gb",
        type=float,
        default=round(ram_mb * 0.85 / 1024, 1),
        help="kill a measurement whose memory goes above this (default 85%% of RAM)",
    )
    args = p.parse_args(argv)

    data_root = args.data_dir.resolve()
    tmp_dir = (args.tmp or data_root / "duckdb_tmp").resolve()
    rss_limit = args.rss_limit_gb * 1024
    info = machine_info()
    settings = {
        "threads": args.threads,
        "memory_limit": args.memory_limit,
        "temp_directory": str(tmp_dir),
    }
    print(
        f"{info['cores']} cores, {info['memory_gb']} GB RAM; duckdb {info['duckdb']}, "
        f"ibis {info['ibis-framework']}, pandas {info['pandas']}; DuckDB {settings}",
        flush=True,
    )

    records: list[dict] = []
    datasets: list[dict] = []
    checks: list[str] = []
    measured_pandas: dict[str, tuple[int, dict]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as results_tmp:
        for n in args.orders:
            t0 = time.perf_counter()
            print(f"\n== {human(n)} orders: data", flush=True)
            man = ensure_data(data_root, n, args.seed, args.orders_per_customer, rss_limit)
            folder = data_dir_for(data_root, n, args.seed, args.orders_per_customer)
            rows = man["rows"]["orders"]
            how = "reused" if man["reused"] else f"generated in {man['generation_s']:.1f} s"
            print(
                f"   {rows:,} orders, {man['rows']['customers']:,} customers, "
                f"{man['rows']['interactions']:,} interactions ({how}, "
                f"peak {man['generation_peak_rss_mb']:,} MB); Parquet MB {man['mb']}",
                flush=True,
            )
            datasets.append(
                {**man, "dir": str(folder), "wall_s": round(time.perf_counter() - t0, 1)}
            )

            def measure(
                engine: str, comp: str, result: str = "", folder=folder, n=n, rows=rows
            ) -> dict:
                spec = {
                    "task": "measure",
                    "engine": engine,
                    "comp": comp,
                    "dir": str(folder),
                    "result": result,
                    **settings,
                }
                res = run_child(
                    [sys.executable, __file__, "--child", json.dumps(spec)], rss_limit_mb=rss_limit
                )
                rec = {
                    "requested_orders": n,
                    "orders": rows,
                    "computation": comp,
                    "engine": engine,
                    **res,
                }
                records.append(rec)
                if "error" in res:
                    print(f"   {LABELS[comp]:<24} {engine:<8} FAILED: {res['error']}", flush=True)
                else:
                    print(
                        f"   {LABELS[comp]:<24} {engine:<8} {res['seconds']:8.2f} s "
                        f"{res['peak_rss_mb']:9,.0f} MB peak",
                        flush=True,
                    )
                return rec

            measure("floor", "floor")
            for comp in COMPUTATIONS:
                seg_file = str(Path(results_tmp) / f"{n}-{comp}-segwork.parquet")
                pd_file = str(Path(results_tmp) / f"{n}-{comp}-pandas.parquet")
                seg = measure("segwork", comp, seg_file)
                if args.no_pandas:
                    continue
                est = pandas_estimate_mb(comp, rows, measured_pandas)
                if est > args.pandas_budget_gb * 1024 and not args.force_pandas:
                    note = f"skipped (est. {est / 1024:.1f} GB > budget {args.pandas_budget_gb} GB)"
                    records.append(
                        {
                            "requested_orders": n,
                            "orders": rows,
                            "computation": comp,
                            "engine": "pandas",
                            "skipped": note,
                        }
                    )
                    print(f"   {LABELS[comp]:<24} pandas   {note}", flush=True)
                    continue
                pdm = measure("pandas", comp, pd_file)
                if "error" in pdm or "error" in seg:
                    continue
                measured_pandas[comp] = (rows, pdm)
                import pandas as pd

                problems = compare(pd.read_parquet(seg_file), pd.read_parquet(pd_file))
                if problems:
                    raise SystemExit(
                        f"pandas and segwork disagree on {comp} at {rows:,} orders:\n  "
                        + "\n  ".join(problems)
                    )
                checks.append(f"{human(n)} {comp}: {seg['rows']:,} customers x all columns equal")
                Path(pd_file).unlink()
                Path(seg_file).unlink(missing_ok=True)

    total_s = time.perf_counter() - started
    md = report(records, datasets, checks, info, settings, args, total_s)
    print("\n" + md.split("\n## Machine")[0])
    path = write_results(
        "scale",
        md,
        {
            "machine": info,
            "duckdb_settings": settings,
            "datasets": datasets,
            "measurements": records,
            "checks": checks,
            "total_s": total_s,
        },
        args.out,
    )
    print(f"written to {path} (and {path.with_suffix('.json').name}, scale-latest.md)")


def report(
    records: list[dict],
    datasets: list[dict],
    checks: list[str],
    info: dict,
    settings: dict,
    args: argparse.Namespace,
    total_s: float,
) -> str:
    """The markdown result file: the table, the data, the checks and the machine."""
    by_key = {(r["requested_orders"], r["computation"], r["engine"]): r for r in records}
    rows = []
    for r in records:
        n, comp, eng = r["requested_orders"], r["computation"], r["engine"]
        flo = by_key.get((n, "floor", "floor"), {})
        pdm = by_key.get((n, comp, "pandas"), {})
        if "skipped" in r or "error" in r:
            rows.append(
                [
                    human(n),
                    LABELS[comp],
                    eng,
                    r.get("skipped") or r["error"].splitlines()[0],
                    "",
                    "",
                    "",
                    "",
                ]
            )
            continue

        def ratio(other: dict, key: str, r=r) -> str:
            ok = other and "seconds" in other and other[key] > 0
            return f"{r[key] / other[key]:.2f}" if ok else "-"

        rows.append(
            [
                human(n),
                LABELS[comp],
                eng,
                f"{r['seconds']:.2f}",
                f"{r['peak_rss_mb']:,.0f}",
                ratio(pdm, "seconds") if comp != "floor" else "-",
                ratio(flo, "seconds"),
                ratio(pdm, "peak_rss_mb") if comp != "floor" else "-",
            ]
        )
    header = [
        "orders",
        "computation",
        "engine",
        "seconds",
        "peak RSS MB",
        "time / pandas",
        "time / floor",
        "RSS / pandas",
    ]
    data_rows = [
        [
            f"{d['rows']['orders']:,}",
            f"{d['rows']['customers']:,}",
            f"{d['rows']['interactions']:,}",
            f"{sum(d['mb'].values()):,.0f}",
            "reused" if d["reused"] else f"{d['generation_s']:.1f}",
            f"{d['generation_peak_rss_mb']:,}",
        ]
        for d in datasets
    ]
    lines = [
        "# segwork scale benchmark",
        "",
        f"Analysis date {ANALYSIS_DATE}; DuckDB settings {settings} (segwork and floor alike); "
        f"each measurement in its own process; time excludes imports, includes reading the files; "
        f"peak RSS is the process's maximum resident memory (imports included). "
        f"Ratios below 1 mean faster / smaller than the reference. Total wall time {total_s / 60:.1f} min.",
        "",
        markdown_table(header, rows),
        "",
        "## Data (demo generator, streamed; customers : orders = 1 : "
        f"{args.orders_per_customer:g} requested)",
        "",
        markdown_table(
            ["orders", "customers", "interactions", "Parquet MB", "generation s", "gen. peak MB"],
            data_rows,
        ),
        "",
        "## Checks (pandas against segwork, every customer and column, rtol 1e-9)",
        "",
        *([f"- {c}" for c in checks] or ["- none (pandas did not run)"]),
        "",
        "## Machine",
        "",
        *machine_lines(info),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()

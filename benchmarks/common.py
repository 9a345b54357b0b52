"""Shared pieces of the scale benchmarks: measured subprocesses, DuckDB settings, result files.

Every measurement runs in a child process of its own so that its peak memory is that of one
computation alone. The child prints one JSON line (its last line on stdout); the parent watches
the child's resident memory and kills it above a limit, so a computation that does not fit cannot
take the machine down (``RLIMIT_AS`` is no use here: DuckDB, Arrow and numpy reserve far more
address space than they touch).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data" / "bench"  # /data/* is gitignored
RESULTS_DIR = ROOT / "benchmarks" / "results"  # gitignored
ANALYSIS_DATE = "2026-09-30"  # the demo generator's default analysis date


# -- inside a measured child ------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict[str, Any]) -> None:
    """Print the child's result as the last line of stdout, for :func:`run_child`."""
    print(json.dumps(result, default=str), flush=True)


def duckdb_backend(memory_limit: str, threads: int, temp_directory: str | Path) -> Any:
    """An Ibis DuckDB backend with memory_limit, threads and temp_directory set.

    Uses segwork's own ``engines.duckdb_backend`` (what a run config's ``duckdb:`` mapping does),
    so the benchmark measures the connection a run gets.
    """
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit, flags=re.IGNORECASE):
        raise SystemExit(f"--memory-limit {memory_limit!r}: expected a size such as 12GB or 8GiB")
    Path(temp_directory).mkdir(parents=True, exist_ok=True)
    settings = {
        "memory_limit": memory_limit,
        "threads": int(threads),
        "temp_directory": str(temp_directory),
    }
    try:
        from segwork.engines import duckdb_backend as backend
    except ImportError:  # an older segwork without engines: the same SETs by hand
        import ibis

        con = ibis.duckdb.connect()
        con.con.execute(f"SET memory_limit = '{memory_limit}'")
        con.con.execute(f"SET threads = {int(threads)}")
        con.con.execute("SET temp_directory = '" + str(temp_directory).replace("'", "''") + "'")
        return con
    return backend(settings)


# -- in the parent ----------------------------------------------------------------------------
def total_memory_mb() -> float:
    """Physical memory of the machine in MiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def run_child(
    cmd: list[str],
    *,
    rss_limit_mb: float,
    timeout_s: float | None = None,
    poll_s: float = 0.2,
    show_stderr: bool = False,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a measuring child; return its JSON result, or {"error": ...} if it failed or was killed.

    The child's memory (its whole process tree) is sampled every ``poll_s`` seconds; above
    ``rss_limit_mb`` the tree is killed and the result says so. ``show_stderr`` passes the
    child's stderr (progress lines) through instead of keeping its tail for the error message.
    ``env`` replaces the child's environment (default: this process's).
    """
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=None if show_stderr else subprocess.PIPE,
        text=True,
        env=env,
    )
    ps = psutil.Process(proc.pid)
    sampled = 0.0
    killed = None
    stdout, stderr = "", ""
    while True:
        try:
            stdout, stderr = proc.communicate(timeout=poll_s)
            break
        except subprocess.TimeoutExpired:
            pass
        try:
            tree = [ps, *ps.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree) / 2**20
        except psutil.Error:
            continue
        sampled = max(sampled, rss)
        over_time = timeout_s is not None and time.perf_counter() - t0 > timeout_s
        if rss > rss_limit_mb or over_time:
            killed = (
                f"killed: resident memory {rss:,.0f} MB above the limit of {rss_limit_mb:,.0f} MB"
                if not over_time
                else f"killed: still running after {timeout_s:.0f} s"
            )
            for p in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    p.kill()
            stdout, stderr = proc.communicate()
            break
    if killed:
        return {"error": killed, "sampled_rss_mb": sampled}
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((stderr or "(see the output above)").strip().splitlines()[-15:])
        return {"error": f"exit code {proc.returncode}:\n{tail}", "sampled_rss_mb": sampled}
    out = json.loads(lines[-1])
    out["sampled_rss_mb"] = sampled
    return out


def machine_info() -> dict[str, Any]:
    """Cores, memory and the versions that matter for the figures."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    cpu = platform.processor() or "-"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(total_memory_mb() / 1024, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        **{p: v(p) for p in ("segwork", "duckdb", "ibis-framework", "pandas", "pyarrow", "numpy")},
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    """Machine info as markdown list lines."""
    return [f"- {k}: {val}" for k, val in info.items()]


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table (numbers right-aligned, text left-aligned)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    numeric = [
        bool(cells) and all(re.fullmatch(r"[-\d.,x%]+|-|", r[i]) for r in cells)
        for i in range(len(header))
    ]

    def fmt(vals: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                (v.rjust(w) if num else v.ljust(w))
                for v, w, num in zip(vals, widths, numeric, strict=True)
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if num else ("-" * (w + 2))
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([fmt(header), sep, *(fmt(r) for r in cells)])


def write_results(prefix: str, markdown: str, data: dict[str, Any], out_dir: Path) -> Path:
    """Write <prefix>-<UTC time>.md and .json to out_dir and copy the .md to <prefix>-latest.md."""
    from segwork.files import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    md = atomic_write_text(out_dir / f"{prefix}-{stamp}.md", markdown)
    atomic_write_text(
        out_dir / f"{prefix}-{stamp}.json", json.dumps(data, indent=2, default=str) + "\n"
    )
    shutil.copyfile(md, out_dir / f"{prefix}-latest.md")
    return md


def dir_size_mb(path: Path) -> float:
    """Total size of the files under path, in MiB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


@contextlib.contextmanager
def validated_demo(folder: Path) -> Iterator[tuple[Any, Any, Any, Any]]:
    """A benchmark demo folder's sources validated once into a temporary run catalog, as
    ``segwork run`` does, and its customer 360: ``(config, catalog, tables, c360)``."""
    from segwork import engines
    from segwork.catalog import Catalog
    from segwork.config import load_config
    from segwork.context import validate_into
    from segwork.customers import build_customer360

    cfg = load_config(folder / "bench-config.yaml")
    with tempfile.TemporaryDirectory(prefix="bench_step_") as tmp:
        catalog = Catalog(Path(tmp) / "run")
        validate_into(cfg, catalog)
        tables = catalog.load_tables(engines.connect(cfg))
        c360 = build_customer360(
            tables.customers,
            tables.orders,
            analysis_date=cfg.analysis_date,
            interactions=tables.interactions,
        )
        yield cfg, catalog, tables, c360

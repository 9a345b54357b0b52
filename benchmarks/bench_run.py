"""Full-run benchmark: `segwork run` on demo data of 20k and 200k customers, per notebook.

For each size the demo CRM is written with ``segwork demo`` into ``data/bench/demo-<n>-seed<s>/``
(reused when its truth.json has the same size, seed and generator version), a run config is
derived from ``configs/demo.yaml`` with the paths pointing there and reports going to
``data/bench/reports-<n>/``, and ``segwork.pipeline.run`` executes every notebook, in a child
process of its own. Per notebook it reports the wall time of the RunRecord and where it went
(its ``timings``): waiting for the kernel (started, with the notebook's imports, while the
previous notebook ran), papermill's execution and in it the notebook's own cells, and the HTML
rendering; "frame" is everything but the cells (kernel wait + papermill's own time + render).
It also reports the run's one validation of the sources, the peak resident memory of each
notebook's kernel (its VmHWM, sampled every 0.2 s) and the peak of the whole run: the runner
process plus every kernel and their children, summed at each sample.

    python benchmarks/bench_run.py --customers 20000 200000
    python benchmarks/bench_run.py --customers 20000          # about 1.5 minutes
    python benchmarks/bench_run.py --customers 200000 --baseline 44a5369

``--baseline REV`` runs the same benchmark first with the code of git revision REV (a worktree
in ``data/bench/baseline-<rev>/``, its own notebooks and configs/demo.yaml, imported through
PYTHONPATH by the runner and its kernels) on the same data, and prints each size's whole-run
time beside this tree's with the ratio: a figure measured in the same session on the same
machine, which a time measured elsewhere is not.

Prints a table and writes benchmarks/results/run-<UTC time>.md/.json and run-latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (the benchmarks folder is not a package)
    DATA_DIR,
    RESULTS_DIR,
    ROOT,
    dir_size_mb,
    emit,
    machine_info,
    machine_lines,
    markdown_table,
    peak_rss_mb,
    run_child,
    total_memory_mb,
    write_results,
)

DEMO_CONFIG = ROOT / "configs" / "demo.yaml"
SOURCES = {
    "customers": "customers.csv",
    "orders": "orders.parquet",
    "interactions": "interactions.parquet",
    "survey_responses": "survey_responses.csv",
    "survey_items": "survey_items.csv",
    "campaign_exposures": "campaign_exposures.csv",
    "contracts": "contracts.csv",
}
_NOTEBOOK_START = re.compile(r"^\[(\d+)/(\d+)\] (\S+) \.\.\.$")


# ------------------------------------------------------------------------------------------
# data and config
# ------------------------------------------------------------------------------------------
def ensure_demo(folder: Path, n_customers: int, seed: int) -> dict[str, Any]:
    """The demo CRM of n customers in folder: reused when truth.json matches, else `segwork demo`."""
    from segwork.demo import GENERATOR_VERSION

    truth = folder / "truth" / "truth.json"
    if truth.exists():
        t = json.loads(truth.read_text(encoding="utf-8"))
        same = (t.get("n_customers"), t.get("seed"), t.get("generator_version")) == (
            n_customers,
            seed,
            GENERATOR_VERSION,
        )
        if same and all((folder / f).exists() for f in SOURCES.values()):
            return {"sizes": t["sizes"], "generation_s": None, "mb": round(dir_size_mb(folder), 1)}
    segwork = Path(sys.executable).with_name("segwork")  # the CLI of this environment
    t0 = time.perf_counter()
    if segwork.exists():
        cmd = [str(segwork), "demo", "--out", str(folder), "--customers", str(n_customers)]
        subprocess.run([*cmd, "--seed", str(seed)], check=True)
    else:  # what `segwork demo` calls
        from segwork.demo import write_demo

        write_demo(folder, n_customers=n_customers, seed=seed)
    t = json.loads(truth.read_text(encoding="utf-8"))
    return {
        "sizes": t["sizes"],
        "generation_s": round(time.perf_counter() - t0, 1),
        "mb": round(dir_size_mb(folder), 1),
    }


def write_config(
    folder: Path, reports: Path, *, code: Path = ROOT, label: str = "bench-config"
) -> Path:
    """``code``'s configs/demo.yaml with its sources in folder, reports in reports, notebooks
    from ``code``, absolute paths."""
    import yaml

    demo_config = code / "configs" / "demo.yaml"
    cfg = yaml.safe_load(demo_config.read_text(encoding="utf-8"))
    cfg["name"] = f"{cfg.get('name', 'demo')} - benchmark {folder.name}"
    for table, spec in cfg["sources"].items():
        spec["path"] = str(folder / SOURCES[table])
    cfg["notebooks_dir"] = str(code / "notebooks")
    cfg["reports_dir"] = str(reports)
    rules = (cfg.get("notebooks") or {}).get("05_rule_segments") or {}
    if "rules_file" in rules:  # relative to the config's folder: make it absolute
        rules["rules_file"] = str((demo_config.parent / rules["rules_file"]).resolve())
    path = folder / f"{label}.yaml"
    path.write_text(
        f"# written by benchmarks/bench_run.py from {demo_config}\n"
        + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def baseline_tree(rev: str, data_root: Path) -> tuple[Path, str]:
    """A git worktree of ``rev`` (reused when it exists); its folder and the full commit."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = data_root / f"baseline-{commit[:10]}"
    if not (tree / "src" / "segwork").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
            check=True,
            capture_output=True,
        )
    return tree, commit


# ------------------------------------------------------------------------------------------
# inside the child: run the pipeline and watch the kernels
# ------------------------------------------------------------------------------------------
class KernelWatch(threading.Thread):
    """Samples the memory of the running notebook kernel (and its children) every poll_s."""

    def __init__(self, poll_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.poll_s = poll_s
        self.current: str | None = None  # the notebook stem being run
        self.kernel_hwm_mb: dict[str, float] = {}
        self.tree_rss_mb: dict[str, float] = {}
        self.total_peak_mb = 0.0  # runner + every kernel and child, summed per sample
        self._by_pid: dict[int, tuple[float, float, str]] = {}  # pid -> hwm, tree, stem at max
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.wait(self.poll_s):
            stem = self.current or "(validation)"
            try:
                children = me.children(recursive=True)
                total = me.memory_info().rss
            except psutil.Error:
                continue
            for c in children:
                with contextlib.suppress(psutil.Error):
                    total += c.memory_info().rss
            self.total_peak_mb = max(self.total_peak_mb, total / 2**20)
            kernels = []
            for p in children:
                with contextlib.suppress(psutil.Error):
                    if "ipykernel" in " ".join(p.cmdline()):
                        kernels.append(p)
            for k in kernels:
                try:
                    hwm = _vm_hwm_mb(k.pid)
                    tree = k.memory_info().rss + sum(
                        c.memory_info().rss for c in k.children(recursive=True)
                    )
                except (psutil.Error, OSError):
                    continue
                # a kernel belongs to its notebook: segwork run names it in the kernel's
                # environment (SEGWORK_NOTEBOOK); older code did not, and then it belongs to the
                # notebook that was running when its memory peaked
                old = self._by_pid.get(k.pid, (0.0, 0.0, stem))
                owner = _kernel_notebook(k.pid) or (stem if hwm > old[0] else old[2])
                self._by_pid[k.pid] = (max(hwm, old[0]), max(tree / 2**20, old[1]), owner)
        for hwm, tree, owner in self._by_pid.values():
            self.kernel_hwm_mb[owner] = max(self.kernel_hwm_mb.get(owner, 0.0), hwm)
            self.tree_rss_mb[owner] = max(self.tree_rss_mb.get(owner, 0.0), tree)


def _kernel_notebook(pid: int) -> str | None:
    """The notebook a kernel was started for (SEGWORK_NOTEBOOK in its environment), if named."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"SEGWORK_NOTEBOOK="):
            return item.split(b"=", 1)[1].decode()
    return None


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM in /proc/<pid>/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _StderrTee:
    """Passes stderr through and tells the watcher which notebook `segwork run` has started."""

    def __init__(self, inner: Any, watch: KernelWatch) -> None:
        self.inner, self.watch, self.partial = inner, watch, ""

    def write(self, text: str) -> int:
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            m = _NOTEBOOK_START.match(line.strip())
            if m:
                self.watch.current = m.group(3)
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:  # no papermill progress bar in the benchmark's output
        return False


def child_run(config: str) -> None:
    """Run the pipeline on config; print per-notebook durations and kernel memory as JSON."""
    os.environ.pop("MPLBACKEND", None)  # figures vanish with Agg (see docs)
    from segwork import pipeline

    watch = KernelWatch()
    watch.start()
    sys.stderr = _StderrTee(sys.stderr, watch)
    t0 = time.perf_counter()
    try:
        record = pipeline.run(config, progress=True)
    finally:
        watch.stop.set()
        watch.join()
        sys.stderr = sys.stderr.inner
    emit(
        {
            "status": record.status,
            "run_dir": str(record.run_dir),
            "duration_s": record.duration_s,
            "wall_s": time.perf_counter() - t0,
            "runner_peak_rss_mb": peak_rss_mb(),
            "run_peak_rss_mb": watch.total_peak_mb,
            "validation": getattr(record, "validation", None),  # older code: no such step
            "notebooks": [
                {
                    "stem": nb.stem,
                    "status": nb.status,
                    "seconds": nb.duration_s,
                    "timings": getattr(nb, "timings", {}),
                    "kernel_peak_rss_mb": watch.kernel_hwm_mb.get(nb.stem),
                    "kernel_tree_rss_mb": watch.tree_rss_mb.get(nb.stem),
                    "error": (nb.error or {}).get("evalue"),
                }
                for nb in record.notebooks
            ],
        }
    )


# ------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ram_mb = total_memory_mb()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, nargs="+", default=[20_000, 200_000])
    p.add_argument("--seed", type=int, default=42, help="demo seed (segwork demo's default)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the demo data is kept")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the result files")
    p.add_argument(
        "--rss-limit-gb",
        type=float,
        default=round(ram_mb * 0.85 / 1024, 1),
        help="kill the run if its processes together go above this (default 85%% of RAM)",
    )
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the code of this git revision first, on the same data, and print the ratio",
    )
    args = p.parse_args(argv)
    if any(n < 1 for n in args.customers):
        raise SystemExit("--customers: counts must be positive")

    info = machine_info()
    data_root = args.data_dir.resolve()
    runs: list[dict] = []
    started = time.perf_counter()
    for n in args.customers:
        folder = data_root / f"demo-{n}-seed{args.seed}"
        print(f"\n== {n:,} customers: demo data in {folder}", flush=True)
        data = ensure_demo(folder, n, args.seed)
        how = "reused" if data["generation_s"] is None else f"written in {data['generation_s']} s"
        print(
            f"   {data['sizes']['orders']:,} orders, {data['sizes']['interactions']:,} "
            f"interactions, {data['mb']:.0f} MB ({how})",
            flush=True,
        )
        codes: list[tuple[str, Path, dict[str, str] | None]] = []
        if args.baseline:
            tree, commit = baseline_tree(args.baseline, data_root)
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            codes.append((f"baseline {commit[:10]}", tree, env))
        codes.append(("this tree", ROOT, None))
        for code_label, code, env in codes:
            suffix = "-baseline" if code != ROOT else ""
            reports = data_root / f"reports-{n}{suffix}"
            shutil.rmtree(reports, ignore_errors=True)  # the previous benchmark's run
            config = write_config(folder, reports, code=code, label=f"bench-config{suffix}")
            print(f"   -- {code_label}", flush=True)
            res = run_child(
                [sys.executable, __file__, "--child-run", str(config)],
                rss_limit_mb=args.rss_limit_gb * 1024,
                show_stderr=True,
                env=env,
            )
            runs.append(
                {"customers": n, "code": code_label, "config": str(config), "data": data, **res}
            )
            if "error" in res:
                print(f"   run FAILED: {res['error']}", flush=True)
            elif res["status"] != "succeeded":
                print(f"   run {res['status']}: see {res['run_dir']}", flush=True)

    md = report(runs, info, time.perf_counter() - started)
    print("\n" + md.split("\n## Machine")[0])
    path = write_results("run", md, {"machine": info, "runs": runs}, args.out)
    print(f"written to {path} (and {path.with_suffix('.json').name}, run-latest.md)")
    if any("error" in r or r.get("status") != "succeeded" for r in runs):
        raise SystemExit(1)


def report(runs: list[dict], info: dict, total_s: float) -> str:
    """The markdown result file: per-notebook table, the data, the machine."""

    def mb(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    rows = []
    for r in runs:
        n = f"{r['customers']:,}" + (
            "" if r.get("code", "this tree") == "this tree" else f" ({r['code']})"
        )
        if "error" in r:
            rows.append([n, "(run)", "error", r["error"].splitlines()[0], *[""] * 8])
            continue
        check = r.get("validation") or {}
        rows.append(
            [n, "validation of the sources", check.get("status", "-"), sec(check.get("duration_s"))]
            + ["-"] * 5
            + [sec(check.get("duration_s")), "-", "-"]
        )
        for nb in r["notebooks"]:
            t = nb.get("timings") or {}
            cells = t.get("cells")
            frame = None if nb["seconds"] is None or cells is None else nb["seconds"] - cells
            status = nb["status"] + (f": {nb['error']}" if nb.get("error") else "")
            rows.append(
                [
                    n,
                    nb["stem"],
                    status,
                    sec(nb["seconds"]),
                    sec(t.get("kernel_wait")),
                    sec(t.get("kernel_boot")),
                    sec(t.get("execute")),
                    sec(cells),
                    sec(t.get("render")),
                    sec(frame),
                    mb(nb["kernel_peak_rss_mb"]),
                    mb(nb["kernel_tree_rss_mb"]),
                ]
            )
        rows.append(
            [
                n,
                "whole run (runner + kernels)",
                r["status"],
                f"{r['duration_s']:.1f}",
                *["-"] * 5,
                f"notebooks summed {sec(sum(nb['seconds'] or 0 for nb in r['notebooks']))}",
                f"runner {mb(r['runner_peak_rss_mb'])}",
                f"all {mb(r.get('run_peak_rss_mb'))}",
            ]
        )
    compare = _comparison(runs)
    data_rows = [
        [
            f"{r['customers']:,}",
            f"{r['data']['sizes']['orders']:,}",
            f"{r['data']['sizes']['interactions']:,}",
            f"{r['data']['mb']:.0f}",
            "reused" if r["data"]["generation_s"] is None else f"{r['data']['generation_s']}",
        ]
        for r in runs
    ]
    header = [
        "customers",
        "notebook",
        "status",
        "seconds",
        "kernel wait",
        "kernel boot (overlapped)",
        "papermill",
        "cells",
        "render",
        "frame (seconds - cells)",
        "peak RSS MB",
        "kernel + children MB (sampled)",
    ]
    return "\n".join(
        [
            "# segwork run benchmark",
            "",
            "`segwork.pipeline.run` on the demo CRM (configs/demo.yaml with paths to the benchmark "
            "data). Seconds per notebook are the RunRecord's: waiting for the kernel (kernel wait; "
            "it was started with the notebook's imports while the previous notebook ran: kernel "
            "boot), papermill's execution (papermill) of which the notebook's own cells (cells), "
            "and the HTML rendering (render); frame = seconds - cells, the orchestration's part. "
            "Peak RSS is the notebook kernel's VmHWM, sampled every 0.2 s; the whole-run row gives "
            "the runner process's own peak (validation, papermill, nbconvert) and the peak of the "
            "runner and all kernels with their children summed per sample. "
            "Notebooks that do not depend on each other run side by side, so the whole run can "
            "take less than its notebooks summed. "
            f"Total wall time {total_s / 60:.1f} min.",
            "",
            *compare,
            markdown_table(header, rows),
            "",
            "## Data (`segwork demo`)",
            "",
            markdown_table(
                ["customers", "orders", "interactions", "MB on disk", "generation s"], data_rows
            ),
            "",
            "## Machine",
            "",
            *machine_lines(info),
            "",
        ]
    )


def _comparison(runs: list[dict]) -> list[str]:
    """The whole-run seconds of the baseline and of this tree per size, with the ratio."""
    table = []
    for n in dict.fromkeys(r["customers"] for r in runs):
        base = next(
            (r for r in runs if r["customers"] == n and r.get("code", "").startswith("baseline")),
            None,
        )
        this = next(
            (r for r in runs if r["customers"] == n and r.get("code", "this tree") == "this tree"),
            None,
        )
        if base is None or this is None or "error" in base or "error" in this:
            continue
        ratio = this["duration_s"] / base["duration_s"]
        table.append(
            [
                f"{n:,}",
                base["code"].removeprefix("baseline "),
                f"{base['duration_s']:.1f}",
                f"{this['duration_s']:.1f}",
                f"{ratio:.2f}",
                f"{1 / ratio:.2f}x",
            ]
        )
    if not table:
        return []
    header = ["customers", "baseline commit", "baseline s", "this tree s", "ratio", "speed-up"]
    return [
        "## Against the baseline (same data, same machine, same session)",
        "",
        markdown_table(header, table),
        "",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-run":
        child_run(sys.argv[2])
    else:
        main()

"""``segwork run``: execute the notebooks with papermill into a run folder and publish the reports.

One run, in order:

1. Load and validate the config, find ``notebooks/NN_*.ipynb`` (sorted by name) and check every
   ``notebooks.<stem>`` section of the config against that notebook's parameters cell
   (``papermill.inspect_notebook``; papermill itself would only warn about unknown parameters):
   unknown or reserved keys, values of the wrong type, files named in the config that do not
   exist (:mod:`segwork.preflight`). Any problem here is an error and nothing is written.
   Then decide which notebooks apply to the configured tables (their ``segwork.requires``
   metadata); one that does not is recorded as "not applicable" with the reason.
2. Take the lock ``reports/.lock`` (created atomically; a second run refuses with
   ``RunLockedError``; a lock left by a dead process on this host is taken over with a warning).
   Holding it, mark earlier runs whose run.json still says "running" as "interrupted": their
   process died without writing its end (``kill -9``).
3. Read and validate every source **once** (in a forked child process with DuckDB, so its
   memory goes back when it ends) and write the validated tables and the validation report
   through the run's catalog (``tables/<name>.parquet``, ``artifacts/validation.json``); every
   notebook opens them from there (``ctx.tables``). A source that does not validate stops the
   run here: ``run.json`` and the run page say why (table, column, rows, fix), no notebook runs
   and ``latest`` does not move.
4. Execute each applicable notebook with papermill (kernel ``python3``, working directory = the
   notebooks folder, ``MPLBACKEND`` removed so the inline backend draws the figures; each kernel
   is started, with the notebook's imports, while earlier notebooks run) into
   ``reports/runs/<run-id>/notebooks/<stem>.ipynb`` and render its stakeholder HTML
   ``reports/runs/<run-id>/<stem>.html``, also when it failed. Notebooks that do not depend on
   each other (their ``segwork.requires`` metadata: :func:`segwork.preflight.dependencies`) run
   side by side, two at a time by default. A notebook whose required artifact an earlier
   notebook did not write is "not applicable" too. The first failure starts no further
   notebook (one already running beside it finishes); those left are recorded as "not run".
5. Write ``run.json`` (with each notebook's ``timings``) and the run's ``index.html``, rebuild
   ``reports/index.html`` (and ``reports/runs/index.html``) from all ``run.json`` files, and, only if no notebook failed
   ("not applicable" is not a failure), point ``reports/latest`` at the run (a new symlink moved
   over the old one with ``os.replace``, so readers never see it missing). Release the lock.

A failed notebook does not raise: ``run`` returns the ``RunRecord`` with ``status == "failed"``
(``record.raise_for_status()`` raises ``RunFailed`` for callers that prefer an exception). Errors
that stop a run before it starts raise ``ConfigError`` (bad config), ``PipelineError`` (notebooks,
parameters, run id) or ``RunLockedError`` (another run holds the lock); all are
``SegworkError`` and ``ValueError``.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import socket
import sys
import time
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat

import segwork
from segwork import pdf, preflight
from segwork import progress as progress_lines
from segwork.catalog import DATASETS, Catalog
from segwork.config import ConfigError, RunConfig, load_config, redact_url
from segwork.errors import SegworkError
from segwork.files import atomic_write_text, file_sha256, redact, redact_tree
from segwork.pages import summary
from segwork.report import (
    download_links,
    notebook_title,
    preload_renderer,
    render_notebook_html,
    render_reports_index,
    render_run_index,
    strip_ansi,
)
from segwork.schema import ValidationReport

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
RESERVED_PARAMETERS = preflight.RESERVED_PARAMETERS
LOCK_NAME = ".lock"
RUN_JSON = "run.json"


class PipelineError(SegworkError, ValueError):
    """A run that cannot start (or finish publishing); the message says why and what to do."""


class RunLockedError(PipelineError):
    """Another ``segwork run`` holds the lock on the reports folder."""


class RunFailed(PipelineError):  # noqa: N818 - the name reads as what happened
    """A notebook of the run failed; ``.record`` is the run's record (status "failed")."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        nb = record.failed_notebook
        check = record.validation or {}
        where = (
            f" validating the sources (no notebook ran): {check['error'].get('evalue')}"
            if check.get("status") == "failed" and check.get("error")
            else f" in notebook {nb.stem}: {nb.error.get('ename')}: {nb.error.get('evalue')}"
            if nb and nb.error
            else "".join(
                f" writing {o['output']} to {o['target']}: {o.get('error')}"
                for o in record.outputs
                if o.get("status") == "failed"
            )
        )
        text = f"run {record.run_id} failed{where}".rstrip(".")
        super().__init__(f"{text}. See {record.run_dir / 'index.html'}")


_INTERRUPTED = {
    "ename": "Interrupted",
    "evalue": "the run was interrupted",
    "cell_source": "",
    "cell_index": None,
    "traceback": "",
}


class StaleLockWarning(UserWarning):
    """A lock left behind by a run that is no longer alive was taken over."""


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class NotebookRecord:
    """What happened to one notebook of a run."""

    stem: str
    title: str
    status: str = "not run"  # "succeeded", "failed", "not run", "not applicable", "interrupted"
    duration_s: float | None = None
    html: Path | None = None
    ipynb: Path | None = None
    error: dict[str, Any] | None = (
        None  # ename, evalue, cell_source, cell_index, traceback (no ANSI)
    )
    parameters: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why the notebook does not apply (status "not applicable")
    # where duration_s went (seconds): kernel_wait (waiting for the kernel to be ready; it was
    # started, with the notebook's imports, while the previous notebook ran: kernel_boot),
    # execute (papermill) of which cells (the notebook's own cells), render (the HTML page)
    timings: dict[str, float] = field(default_factory=dict)
    # the report's headline, key numbers, segment sizes, decisions and alerts, collected from
    # the executed notebook (segwork.pages.summary.collect) for the run's summary page
    digest: dict[str, Any] | None = None
    pdf: Path | None = None  # the report as a PDF (config ``pdf: true``)
    pdf_pages: int | None = None
    pdf_error: str | None = None  # why the PDF could not be written (the HTML report stands)


@dataclass
class RunRecord:
    """A run: what ran with which inputs and parameters, how it went, where its files are."""

    run_id: str
    name: str
    status: str  # "running", "succeeded", "failed", "interrupted"
    started: datetime
    run_dir: Path
    config_path: Path
    finished: datetime | None = None
    duration_s: float | None = None
    analysis_date: str | None = None
    notebooks: list[NotebookRecord] = field(default_factory=list)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)  # database tables written
    interrupted: dict[str, Any] | None = None  # noticed_by (run id), noticed_at (ISO time)
    # the run's one reading and validation of the sources, before any notebook: status,
    # duration_s, rows per table; on failure error (ename, evalue, table, column, fix)
    validation: dict[str, Any] | None = None
    package_version: str = segwork.__version__
    python_version: str = sys.version.split()[0]
    host: str = field(default_factory=socket.gethostname)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def failed_notebook(self) -> NotebookRecord | None:
        return next((nb for nb in self.notebooks if nb.status == "failed"), None)

    def raise_for_status(self) -> RunRecord:
        """Raise ``RunFailed`` unless the run succeeded; return the record otherwise."""
        if not self.succeeded:
            raise RunFailed(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``run.json``): times in ISO 8601, file paths relative to the run folder."""

        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            try:
                return Path(p).relative_to(self.run_dir).as_posix()
            except ValueError:
                return str(p)

        notebooks = []
        for nb in self.notebooks:
            d = asdict(nb)
            d["html"], d["ipynb"], d["pdf"] = rel(nb.html), rel(nb.ipynb), rel(nb.pdf)
            notebooks.append(d)
        return {
            "schema_version": 1,
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "duration_s": self.duration_s,
            "run_dir": str(self.run_dir),
            "config_path": str(self.config_path),
            "analysis_date": self.analysis_date,
            "package_version": self.package_version,
            "python_version": self.python_version,
            "host": self.host,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "interrupted": self.interrupted,
            "validation": self.validation,
            "notebooks": notebooks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], run_dir: Path | None = None) -> RunRecord:
        """Read back ``to_dict()``; relative paths resolve against ``run_dir`` (default: as recorded)."""
        run_dir = Path(run_dir) if run_dir is not None else Path(data["run_dir"])

        def path(p: str | None) -> Path | None:
            return None if p is None else run_dir / p

        notebooks = [
            NotebookRecord(
                **{
                    **nb,
                    "html": path(nb.get("html")),
                    "ipynb": path(nb.get("ipynb")),
                    "pdf": path(nb.get("pdf")),
                }
            )
            for nb in data.get("notebooks", [])
        ]
        return cls(
            run_id=data["run_id"],
            name=data.get("name", data["run_id"]),
            status=data.get("status", "running"),
            started=datetime.fromisoformat(data["started"]),
            finished=datetime.fromisoformat(data["finished"]) if data.get("finished") else None,
            duration_s=data.get("duration_s"),
            run_dir=run_dir,
            config_path=Path(data.get("config_path", "")),
            analysis_date=data.get("analysis_date"),
            notebooks=notebooks,
            parameters=data.get("parameters", {}),
            inputs=data.get("inputs", []),
            outputs=data.get("outputs", []),
            interrupted=data.get("interrupted"),
            validation=data.get("validation"),
            package_version=data.get("package_version", ""),
            python_version=data.get("python_version", ""),
            host=data.get("host", ""),
        )


# --------------------------------------------------------------------------------------------
# Checks before anything runs


def find_notebooks(notebooks_dir: Path) -> list[Path]:
    """The run's notebooks: ``NN_*.ipynb`` in ``notebooks_dir``, sorted by name."""
    if not notebooks_dir.is_dir():
        raise PipelineError(
            f"notebooks folder not found: {notebooks_dir}. Fix: set 'notebooks_dir' in the run config "
            "(relative to the config file's folder)."
        )
    found = sorted(notebooks_dir.glob(NOTEBOOK_GLOB))
    if not found:
        raise PipelineError(
            f"no notebooks named NN_*.ipynb (e.g. 01_data_collection.ipynb) in {notebooks_dir}"
        )
    return found


def check_notebook_parameters(
    cfg: RunConfig, notebooks: Sequence[Path]
) -> dict[str, dict[str, Any]]:
    """Check the config's ``notebooks:`` sections against the notebooks' parameters cells.

    Returns the allowed parameters per notebook stem (name -> papermill's inspection). Raises
    ``PipelineError`` naming the notebook and key for an unknown parameter (with a did-you-mean),
    a reserved one (``config_path``, ``run_dir``: set by segwork), a value whose type does not fit
    the parameter, a file the config names that does not exist, or a section for a notebook that
    does not exist (see :mod:`segwork.preflight`).
    """
    specs, findings = preflight.read_specs(cfg, notebooks)
    _raise_config_findings(findings)
    return {s.stem: dict(s.parameters) for s in specs}


def _raise_config_findings(
    findings: Sequence[preflight.Finding], what: str = "does not fit the notebooks"
) -> None:
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise PipelineError(
            f"the run config {what}:\n"
            + "\n".join(f"  - {str(f).replace(chr(10), chr(10) + '    ')}" for f in errors)
        )


def slugify(text: str, max_len: int = 40) -> str:
    """``"Demo CRM (synthetic)"`` -> ``"demo-crm-synthetic"``; accents dropped; ``"run"`` if empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "run"


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def new_run_id(runs_dir: Path, name: str, now: datetime) -> str:
    """``20261123-031500-demo-crm-synthetic`` (UTC); ``-2``, ``-3``, ... if that folder exists."""
    base = f"{now:%Y%m%d-%H%M%S}-{slugify(name)}"
    run_id, n = base, 1
    while (runs_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


# --------------------------------------------------------------------------------------------
# The lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to someone else
        return True
    except OSError:
        return False
    return True


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "an unknown process (the lock file cannot be read)"
    started = info.get("started", "?")
    return f"process {info.get('pid', '?')} on host {info.get('host', '?')}, started {started}" + (
        f" (run {info['run_id']})" if info.get("run_id") else ""
    )


@contextlib.contextmanager
def run_lock(reports_dir: Path, run_id: str) -> Iterator[Path]:
    """Hold ``reports_dir/.lock`` for the duration of a run.

    The file is created with O_CREAT|O_EXCL, so of two runs starting together exactly one gets
    it. It holds pid, host, start time and run id. If it exists and names a process on this host
    that is no longer alive, it is taken over with a ``StaleLockWarning``; otherwise
    ``RunLockedError`` names the holder. The lock is removed on exit if it is still ours.
    """
    path = reports_dir / LOCK_NAME
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            stale = (
                holder is not None
                and holder.get("host") == info["host"]
                and isinstance(holder.get("pid"), int)
                and not _pid_alive(holder["pid"])
            )
            if stale and attempt == 0:
                warnings.warn(
                    f"taking over the lock {path} left by a run that is no longer running "
                    f"({_describe_holder(holder)})",
                    StaleLockWarning,
                    stacklevel=3,
                )
                path.unlink(missing_ok=True)
                continue
            raise RunLockedError(
                f"another segwork run is using the reports folder {reports_dir}: {_describe_holder(holder)}. "
                f"Wait for it to finish. If no run is in progress (the process is gone), delete {path} "
                "and try again."
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        break
    try:
        yield path
    finally:
        current = _read_lock(path)
        if current is None or (
            current.get("pid") == info["pid"] and current.get("run_id") == info["run_id"]
        ):
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Inputs


def describe_inputs(cfg: RunConfig) -> list[dict[str, Any]]:
    """Each source: table, safe description, kind, and for files size and SHA-256."""
    inputs = []
    for table, src in cfg.sources.items():
        entry: dict[str, Any] = {
            "table": table,
            "source": src.describe(),
            "kind": src.kind,
            "size_bytes": None,
            "sha256": None,
            "note": None,
        }
        path = cfg.source_path(table)
        if path is not None:
            entry["path"] = str(path)
            entry["size_bytes"] = path.stat().st_size
            entry["sha256"] = file_sha256(path)
        else:
            entry["note"] = "database table (not hashed)"
        inputs.append(entry)
    return inputs


# --------------------------------------------------------------------------------------------
# Running


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Start kernels without MPLBACKEND: with it set (e.g. Agg) the inline backend is never
    installed and the reports silently lose every figure. The kernel inherits os.environ.

    OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE``, unless set): the next
    notebook's kernel starts while one runs, and spinning threads would take its cores. Progress
    is written as lines (no Jupyter session, no bar), which the run relays."""
    saved = os.environ.pop("MPLBACKEND", None)
    # nobody watches a run's kernels: progress as lines, which the run relays (also when the run
    # itself was started from a JupyterLab kernel, whose session its children would inherit)
    saved_session = os.environ.pop("JPY_SESSION_NAME", None)
    saved_progress = os.environ.get("SEGWORK_PROGRESS")
    if (saved_progress or "").strip().lower() == "bar":
        os.environ["SEGWORK_PROGRESS"] = "lines"
    set_policy = "OMP_WAIT_POLICY" not in os.environ
    if set_policy:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
        if saved_session is not None:
            os.environ["JPY_SESSION_NAME"] = saved_session
        if saved_progress is not None:
            os.environ["SEGWORK_PROGRESS"] = saved_progress
        if set_policy:
            os.environ.pop("OMP_WAIT_POLICY", None)


def _kernel_config() -> Any:
    """Ask jupyter_client to encrypt the kernel's sockets (CurveZMQ) when it can.

    Without it ipykernel 7 prints a warning about unencrypted TCP into every run's output. Older
    jupyter_client versions do not know the option and ignore it.
    """
    import zmq
    from traitlets.config import Config

    if not zmq.has("curve"):
        return Config()
    return Config({"KernelManager": {"transport_encryption": "auto"}})


class _Kernel:
    """A notebook's kernel, started ahead of the notebook with its imports done at start-up.

    The kernel runs the notebook's own top-level ``import`` statements (as ``__import__``
    calls: no name is bound) before it answers, so a kernel started while the previous
    notebook runs has its start-up and imports behind it when its notebook begins.
    """

    def __init__(self, notebook: Path, kernel_name: str) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.notebook = notebook
        self.km = AsyncKernelManager(kernel_name=kernel_name, config=_kernel_config())
        self.launched = time.perf_counter()
        warm = _warm_up_code(notebook)
        with _kernel_environment():
            run_sync(self.km.start_kernel)(
                cwd=str(notebook.parent),
                env={**os.environ, "SEGWORK_NOTEBOOK": notebook.stem},  # whose kernel this is
                extra_arguments=[f"--IPKernelApp.exec_lines={warm}"] if warm else [],
            )

    def wait_ready(self, timeout: float = 120) -> dict[str, float]:
        """Wait until the kernel answers; the seconds waited and since its launch."""
        t = time.perf_counter()
        kc = self.km.blocking_client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=timeout)
        finally:
            kc.stop_channels()
        now = time.perf_counter()
        return {"kernel_wait": round(now - t, 3), "kernel_boot": round(now - self.launched, 3)}


class _Kernels:
    """The kernels of a run: those started ahead of their notebooks, and those asked to stop."""

    def __init__(self, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.ahead: dict[Path, _Kernel] = {}
        self.stopping: list[_Kernel] = []

    def prestart(self, notebook: Path) -> None:
        """Start the kernel of ``notebook`` now unless it is started (a failure to start shows
        when it is taken)."""
        if notebook in self.ahead:
            return
        with contextlib.suppress(Exception):
            self.ahead[notebook] = _Kernel(notebook, self.kernel_name)

    def take(self, notebook: Path) -> _Kernel:
        """The kernel started ahead for ``notebook``, or one started now."""
        kernel = self.ahead.pop(notebook, None)
        return kernel if kernel is not None else _Kernel(notebook, self.kernel_name)

    def stop(self, kernel: _Kernel) -> None:
        """Ask the kernel to shut down without waiting for it (see :meth:`close`)."""
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):
            run_sync(kernel.km.request_shutdown)()
        self.stopping.append(kernel)
        for done in [k for k in self.stopping if k is not kernel and not _alive(k)]:
            self.stopping.remove(done)  # exited: reap it now rather than at the end
            with contextlib.suppress(Exception):
                run_sync(done.km.finish_shutdown)()
            with contextlib.suppress(Exception):
                run_sync(done.km.cleanup_resources)()

    def close(self, also: Sequence[_Kernel] = ()) -> None:
        """Shut down every kernel of the run (and ``also``, kernels in use) and wait for them
        (killed if they do not exit)."""
        from jupyter_core.utils import run_sync

        for kernel in [*self.ahead.values(), *also]:
            self.stop(kernel)
        self.ahead = {}
        for kernel in self.stopping:
            with contextlib.suppress(Exception):
                run_sync(kernel.km.finish_shutdown)()
            with contextlib.suppress(Exception):
                run_sync(kernel.km.cleanup_resources)()
        self.stopping = []


def _alive(kernel: _Kernel) -> bool:
    from jupyter_core.utils import run_sync

    try:
        return bool(run_sync(kernel.km.is_alive)())
    except Exception:  # noqa: BLE001
        return False


def _warm_up_code(notebook: Path) -> str:
    """Code that imports what the notebook's code cells import at their top level, binding no
    name and ignoring failures (the notebook's own import then reports them)."""
    import ast

    imports: list[tuple[str, list[str]]] = []
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001 - papermill reports an unreadable notebook
        return ""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: the cell's imports are left to the cell
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                imports += [(a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imports.append((node.module, [a.name for a in node.names]))
    if not imports:
        return ""
    return (
        f"def _segwork_warm_up():\n    for name, names in {imports!r}:\n        try:\n"
        "            __import__(name, fromlist=names)\n        except Exception:\n"
        "            pass\n_segwork_warm_up()\ndel _segwork_warm_up"
    )


def _cell_seconds(executed: Path) -> float | None:
    """The time the notebook's own cells took (papermill records each cell's duration)."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001
        return None
    return round(
        sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in nb.cells), 3
    )


def _error_from_exception(exc: BaseException) -> dict[str, Any]:
    tb = getattr(exc, "traceback", None)
    if isinstance(tb, list):
        traceback_text = strip_ansi("\n".join(tb))
    else:
        import traceback

        traceback_text = strip_ansi("".join(traceback.format_exception(exc)))
    # papermill's error carries the cell's own ename/evalue/source; other errors are themselves
    evalue = exc.evalue if hasattr(exc, "evalue") else exc
    return {
        "ename": getattr(exc, "ename", None) or type(exc).__name__,
        "evalue": strip_ansi(str(evalue)),
        "cell_source": getattr(exc, "source", None) or "",
        "cell_index": getattr(exc, "cell_index", None),
        "traceback": traceback_text,
    }


class _ProgressRelay:
    """Receives a kernel's stderr from papermill and passes on segwork's progress lines."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self._partial = ""
        self._secrets = secrets

    def write(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith(progress_lines.PREFIX):
                print("    " + redact(line, self._secrets), file=sys.stderr, flush=True)

    def flush(self) -> None:
        pass


def _say(enabled: bool, text: str, end: str = "\n", secrets: Sequence[str] = ()) -> None:
    if enabled:
        print(redact(text, secrets), end=end, file=sys.stderr, flush=True)


def _write_run_files(record: RunRecord, secrets: Sequence[str] = ()) -> None:
    """run.json and the run's index page, both from the record redacted by value (the inputs'
    SHA-256 digests are kept: a digest reveals nothing, and a short secret such as a port
    number could otherwise break one)."""
    plain = json.loads(json.dumps(record.to_dict(), default=str))
    data = redact_tree(plain, secrets)
    for entry, original in zip(data["inputs"], plain["inputs"], strict=True):
        if "sha256" in original:
            entry["sha256"] = original["sha256"]
    atomic_write_text(record.run_dir / RUN_JSON, json.dumps(data, indent=2) + "\n")
    previous = _previous_success(record.run_dir.parent.parent, record.run_id, data["started"])
    atomic_write_text(
        record.run_dir / "index.html",
        render_run_index(data, redact_tree(previous, secrets) if previous else None),
    )


def _previous_success(reports_dir: Path, run_id: str, started: str) -> dict[str, Any] | None:
    """The record of the newest successful run that started before this one (its summary page
    shows what changed since), or None."""
    runs = [
        r
        for r in load_run_records(reports_dir)
        if r.get("status") == "succeeded"
        and r["run_id"] != run_id
        and str(r.get("started", "")) < started
    ]
    return max(runs, key=lambda r: str(r.get("started", "")), default=None)


def load_run_records(reports_dir: Path) -> list[dict[str, Any]]:
    """The ``run.json`` of every run folder (a folder without one is listed as incomplete)."""
    runs = []
    runs_dir = reports_dir / "runs"
    if not runs_dir.is_dir():
        return runs
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        try:
            data = json.loads((d / RUN_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            started = datetime.fromtimestamp(d.stat().st_mtime, UTC).isoformat()
            data = {
                "run_id": d.name,
                "name": d.name,
                "status": "incomplete",
                "started": started,
                "notebooks": [],
            }
        data["run_id"] = d.name  # the folder is what the links point at
        runs.append(data)
    return runs


def update_reports_index(
    reports_dir: Path, *, latest_run_id: str | None = None, secrets: Sequence[str] = ()
) -> Path:
    """Rebuild ``reports/index.html`` (and ``reports/runs/index.html``) from the runs' records.

    The run marked "latest" is ``latest_run_id`` or else the one ``reports/latest`` points at.
    Every record is redacted by ``secrets`` (also those written before redaction existed).
    """
    runs = redact_tree(load_run_records(reports_dir), secrets)
    latest = reports_dir / "latest"
    latest_id = latest_run_id or (Path(os.readlink(latest)).name if latest.is_symlink() else None)
    atomic_write_text(
        reports_dir / "runs" / "index.html",
        render_reports_index(runs, prefix="", latest_run_id=latest_id),
    )
    return atomic_write_text(
        reports_dir / "index.html",
        render_reports_index(runs, prefix="runs/", latest_run_id=latest_id),
    )


def point_latest(reports_dir: Path, run_id: str) -> Path:
    """Point ``reports/latest`` at ``runs/<run_id>`` atomically (new symlink, then os.replace)."""
    latest = reports_dir / "latest"
    tmp = reports_dir / f"latest.tmp-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(f"runs/{run_id}", tmp, target_is_directory=True)
    os.replace(tmp, latest)
    return latest


def run(
    config_path: str | os.PathLike[str],
    *,
    reports_dir: str | os.PathLike[str] | None = None,
    notebooks: Sequence[str] | None = None,
    run_id: str | None = None,
    progress: bool = True,
    kernel_name: str = "python3",
    parallel: int | None = None,
) -> RunRecord:
    """Run the notebooks of a config into a new run folder and publish the reports.

    ``reports_dir`` overrides the config's; ``notebooks`` runs only these stems (in folder order);
    ``run_id`` names the run folder (default: UTC time and the config name). ``progress`` prints
    one line per notebook to stderr (and papermill's cell progress bar when stderr is a terminal
    and notebooks run one at a time). ``parallel`` is how many notebooks may run side by side
    when their dependencies allow it (:func:`segwork.preflight.dependencies`; default: 2 on a
    machine with 2 or more cores, else 1).
    Returns the ``RunRecord``; a failed notebook gives ``status == "failed"`` (see the module doc).
    """
    import papermill  # noqa: F401 - imported once here, before the notebook threads use it

    cfg = load_config(config_path)
    secrets = cfg.secrets()  # redacted by value from every record, page, notebook and line
    if cfg.pdf:
        pdf.find_chromium()  # PDFs asked for and no Chromium: say so before anything runs
    config_path = Path(config_path).resolve()
    all_notebooks = find_notebooks(cfg.notebooks_path)
    all_specs, findings = preflight.read_specs(cfg, all_notebooks)
    _raise_config_findings(findings)
    if notebooks:
        stems = [p.stem for p in all_notebooks]
        unknown = [s for s in notebooks if s not in stems]
        if unknown:
            raise PipelineError(
                f"no notebook named {', '.join(unknown)} in {cfg.notebooks_path}; "
                f"the notebooks are: {', '.join(stems)}"
            )
        selected = [p for p in all_notebooks if p.stem in set(notebooks)]
    else:
        selected = list(all_notebooks)
    specs = [s for s in all_specs if s.stem in {p.stem for p in selected}]
    decisions = preflight.decide(specs, preflight.configured_tables(cfg))

    reports = Path(reports_dir).resolve() if reports_dir is not None else cfg.reports_path
    _raise_config_findings(preflight.reports_dir_findings(reports), "cannot write its reports")
    latest = reports / "latest"
    if latest.exists() and not latest.is_symlink():
        raise PipelineError(
            f"{latest} is a folder or file, not a link; segwork points it at the newest good run. "
            "Fix: move it away and run again."
        )
    runs_dir = reports / "runs"
    started = datetime.now(UTC)
    if run_id is not None:
        if not _RUN_ID.fullmatch(run_id):
            raise PipelineError(
                f"run id {run_id!r} must be letters, digits, '.', '_' and '-' (no slashes)"
            )
        if (runs_dir / run_id).exists():
            raise PipelineError(
                f"a run named {run_id} already exists in {runs_dir}; choose another run id"
            )
    else:
        run_id = new_run_id(runs_dir, cfg.name, started)

    reports.mkdir(parents=True, exist_ok=True)
    with run_lock(reports, run_id):
        mark_interrupted_runs(reports, by_run_id=run_id, secrets=secrets)
        t0 = time.perf_counter()
        run_dir = runs_dir / run_id
        record = RunRecord(
            run_id=run_id,
            name=cfg.name,
            status="running",
            started=started,
            run_dir=run_dir,
            config_path=config_path,
            analysis_date=cfg.analysis_date.isoformat(),
        )
        for path, decision in zip(selected, decisions, strict=True):
            own = dict(cfg.notebooks.get(path.stem) or {})
            title = notebook_title(nbformat.read(path, as_version=4), path.stem)
            nb_rec = NotebookRecord(stem=path.stem, title=title, parameters=own)
            if not decision.applicable:
                nb_rec.status, nb_rec.reason = "not applicable", decision.reason
            record.notebooks.append(nb_rec)
            if own:
                record.parameters[path.stem] = own
        # Hash the inputs before the run folder exists: a vanished file then writes nothing.
        record.inputs = describe_inputs(cfg)
        runs_dir.mkdir(exist_ok=True)
        run_dir.mkdir()  # under the lock; new_run_id checked that it is free
        (run_dir / "notebooks").mkdir()
        _write_run_files(record, secrets)
        catalog = Catalog(run_dir, reports)
        kernels = _Kernels(kernel_name)
        upcoming = [
            p for p, nb in zip(selected, record.notebooks, strict=True) if nb.status == "not run"
        ]
        if upcoming:  # its start-up and imports overlap the validation
            kernels.prestart(upcoming[0])
        try:
            validated = _validate_sources(cfg, record, catalog, progress, secrets)
        except BaseException:  # interrupted (Ctrl-C): record it, publish nothing, re-raise
            record.validation = {"status": "failed", "error": _INTERRUPTED}
            validated = False
            raise
        finally:
            if not validated:
                kernels.close()
                _finish(record, t0, "failed", secrets)
                update_reports_index(reports, secrets=secrets)
        if not validated:
            return record

        try:
            with _kernel_environment():
                _run_notebooks(
                    selected,
                    specs,
                    record,
                    catalog,
                    kernels,
                    run_name=cfg.name,
                    config_path=config_path,
                    kernel_name=kernel_name,
                    parallel=_parallel_notebooks() if parallel is None else parallel,
                    progress=progress,
                    secrets=secrets,
                    write_pdfs=cfg.pdf,
                )
        except BaseException:  # interrupted (Ctrl-C): record it, publish nothing, re-raise
            kernels.close()
            _finish(record, t0, "failed", secrets)
            update_reports_index(reports, secrets=secrets)
            raise
        kernels.close()

        status = "failed" if any(nb.status == "failed" for nb in record.notebooks) else "succeeded"
        if status == "succeeded" and cfg.outputs.memberships is not None:
            status = _write_outputs(cfg, record, progress, secrets)
        _finish(record, t0, status, secrets)
        if cfg.pdf:
            try:
                pdf.write_pdf(run_dir / "index.html", run_dir / "index.pdf")
            except pdf.PdfError as exc:
                _say(progress, f"[segwork] no PDF of the run summary: {exc}", secrets=secrets)
        if status == "succeeded":
            update_reports_index(reports, latest_run_id=run_id, secrets=secrets)
            point_latest(reports, run_id)
        else:
            update_reports_index(reports, secrets=secrets)
    return record


def _parallel_notebooks() -> int:
    """How many notebooks run side by side by default: 2 when the machine has 2 cores or more.

    Only notebooks that do not depend on each other share the time (on the built-in notebooks:
    02 beside 03, then 04 beside 05); more than two would only split the same cores further.
    """
    return 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass
class _Outcome:
    """What a worker thread found running one notebook; the main thread applies it to the record."""

    status: str
    error: dict[str, Any] | None = None
    ipynb: Path | None = None
    html: Path | None = None
    duration_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    digest: dict[str, Any] | None = None
    pdf: Path | None = None
    pdf_pages: int | None = None
    pdf_error: str | None = None


def _execute_notebook(
    path: Path,
    kernel: _Kernel,
    *,
    title: str,
    params: dict[str, Any],
    run_dir: Path,
    run_name: str,
    run_id: str,
    run_started: datetime,
    reports: Sequence[tuple[str, str]],
    kernel_name: str,
    show_bar: bool,
    progress: bool,
    secrets: Sequence[str],
    write_pdfs: bool = False,
) -> _Outcome:
    """Execute one notebook with its (pre-started) kernel and render its page (a worker thread).

    Touches nothing shared: the outcome is returned, and the main thread records it and stops
    the kernel.
    """
    import papermill

    t_nb = time.perf_counter()
    out = run_dir / "notebooks" / path.name
    outcome = _Outcome(status="succeeded")
    timings = outcome.timings
    t_exec = None
    try:
        timings.update(kernel.wait_ready())
        t_exec = time.perf_counter()
        papermill.execute_notebook(
            str(path),
            str(out),
            parameters=params,
            kernel_name=kernel_name,
            cwd=str(path.parent),
            progress_bar=show_bar,
            log_output=False,
            stderr_file=_ProgressRelay(secrets) if progress else None,
            config=_kernel_config(),
            km=kernel.km,
        )
    except Exception as exc:  # PapermillExecutionError, dead kernel, no kernel, ...
        outcome.status = "failed"
        outcome.error = redact_tree(_error_from_exception(exc), secrets)
    finally:
        if t_exec is not None:
            timings["execute"] = round(time.perf_counter() - t_exec, 3)
    t_render = time.perf_counter()
    if out.exists():
        outcome.ipynb = out
        redact_notebook(out, secrets)  # before the page is rendered from it
        try:
            outcome.digest = summary.collect(nbformat.read(out, as_version=4))
        except Exception:  # noqa: BLE001 - a run never fails for its summary
            outcome.digest = None
        html = run_dir / f"{path.stem}.html"
        try:
            render_notebook_html(
                out,
                html,
                title=title,
                run_name=run_name,
                run_id=run_id,
                run_started=run_started,
                index_href="index.html",
                reports=reports,
                downloads=download_links([stem for _, stem in reports]),
            )
            outcome.html = html
        except Exception as exc:
            if outcome.status == "succeeded":
                outcome.status = "failed"
                outcome.error = redact_tree(_error_from_exception(exc), secrets)
                outcome.error["evalue"] = (
                    f"the HTML report could not be rendered: {outcome.error['evalue']}"
                )
        timings["render"] = round(time.perf_counter() - t_render, 3)
        timings["cells"] = _cell_seconds(out)
        if write_pdfs and outcome.html is not None:
            t_pdf = time.perf_counter()
            target = outcome.html.with_suffix(".pdf")
            try:
                outcome.pdf_pages = pdf.write_pdf(outcome.html, target)
                outcome.pdf = target
            except pdf.PdfError as exc:  # the report stands; its summary says why
                outcome.pdf_error = redact(str(exc), secrets)
            timings["pdf"] = round(time.perf_counter() - t_pdf, 3)
    outcome.duration_s = round(time.perf_counter() - t_nb, 3)
    return outcome


def _run_notebooks(
    selected: Sequence[Path],
    specs: Sequence[preflight.NotebookSpec],
    record: RunRecord,
    catalog: Catalog,
    kernels: _Kernels,
    *,
    run_name: str,
    config_path: Path,
    kernel_name: str,
    parallel: int,
    progress: bool,
    secrets: Sequence[str],
    write_pdfs: bool = False,
) -> None:
    """Execute the run's applicable notebooks, side by side where their dependencies allow.

    A notebook starts when every earlier notebook it depends on has finished
    (:func:`segwork.preflight.dependencies`) and a slot of ``parallel`` is free; notebooks start
    in folder order. The first failure starts nothing new: notebooks already running finish,
    the rest stay "not run". Kernels for the next notebooks are started (with their imports)
    while others run. Records and run files are written by this (the main) thread only.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    parallel = max(1, parallel)
    n = len(selected)
    after = preflight.dependencies(specs)
    position = {p.stem: i for i, p in enumerate(selected, start=1)}
    by_stem = dict(
        zip(
            (p.stem for p in selected),
            zip(selected, record.notebooks, specs, strict=True),
            strict=True,
        )
    )
    pending = []
    for path, nb_rec in zip(selected, record.notebooks, strict=True):
        if nb_rec.status == "not applicable":
            _say(
                progress,
                f"[{position[path.stem]}/{n}] {path.stem} not applicable: {nb_rec.reason}",
                secrets=secrets,
            )
        else:
            pending.append(path.stem)
    finished = {
        p.stem
        for p, nb in zip(selected, record.notebooks, strict=True)
        if nb.status == "not applicable"
    }
    show_bar = progress and sys.stderr.isatty() and parallel == 1
    # the header of each page links the run's other reports: (title, page) of those that apply
    reports = [
        (nb.title, f"{nb.stem}.html") for nb in record.notebooks if nb.status != "not applicable"
    ]
    running: dict[Any, tuple[str, _Kernel]] = {}
    failed = False
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="segwork-notebook")
    try:
        while pending or running:
            while not failed and len(running) < parallel:
                ready = next((s for s in pending if set(after[s]) <= finished), None)
                if ready is None:
                    break
                pending.remove(ready)
                path, nb_rec, spec = by_stem[ready]
                i = position[ready]
                earlier = list(specs[: i - 1])
                reason = preflight.missing_artifact_reason(
                    spec, _written_artifacts(catalog), earlier
                )
                if reason is not None:
                    nb_rec.status, nb_rec.reason = "not applicable", reason
                    _say(progress, f"[{i}/{n}] {ready} not applicable: {reason}", secrets=secrets)
                    _write_run_files(record, secrets)
                    finished.add(ready)
                    continue
                kernel = kernels.take(path)
                for later in pending[:parallel]:  # their start-up and imports overlap this run
                    kernels.prestart(by_stem[later][0])
                _say(progress, f"[{i}/{n}] {ready} ...", secrets=secrets)
                future = pool.submit(
                    _execute_notebook,
                    path,
                    kernel,
                    title=nb_rec.title,
                    params={
                        "config_path": str(config_path),
                        "run_dir": str(record.run_dir),
                        **nb_rec.parameters,
                    },
                    run_dir=record.run_dir,
                    run_name=run_name,
                    run_id=record.run_id,
                    run_started=record.started,
                    reports=reports,
                    write_pdfs=write_pdfs,
                    kernel_name=kernel_name,
                    show_bar=show_bar,
                    progress=progress,
                    secrets=secrets,
                )
                running[future] = (ready, kernel)
            if not running:
                break  # a failure left the rest "not run"
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                stem, kernel = running.pop(future)
                kernels.stop(kernel)
                outcome: _Outcome = future.result()
                nb_rec = by_stem[stem][1]
                nb_rec.status, nb_rec.error = outcome.status, outcome.error
                nb_rec.ipynb, nb_rec.html = outcome.ipynb, outcome.html
                nb_rec.duration_s = outcome.duration_s
                nb_rec.timings.update(outcome.timings)
                nb_rec.digest = outcome.digest
                nb_rec.pdf, nb_rec.pdf_pages = outcome.pdf, outcome.pdf_pages
                nb_rec.pdf_error = outcome.pdf_error
                finished.add(stem)
                i = position[stem]
                if outcome.status == "failed":
                    failed = True
                    _say(
                        progress,
                        f"[{i}/{n}] {stem} FAILED after {nb_rec.duration_s:.1f} s: "
                        f"{nb_rec.error['ename']}: {nb_rec.error['evalue']}",
                        secrets=secrets,
                    )
                else:
                    _say(
                        progress,
                        f"[{i}/{n}] {stem} done in {nb_rec.duration_s:.1f} s",
                        secrets=secrets,
                    )
                _write_run_files(record, secrets)
    except BaseException:  # interrupted (Ctrl-C): the notebooks running now were interrupted
        for stem, _kernel in running.values():
            nb_rec = by_stem[stem][1]
            nb_rec.status, nb_rec.error = "failed", dict(_INTERRUPTED)
        kernels.close(also=[k for _, k in running.values()])
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _validate_sources(
    cfg: RunConfig, record: RunRecord, catalog: Catalog, progress: bool, secrets: Sequence[str]
) -> bool:
    """Read and validate every source once and write the validated tables through the catalog.

    Every notebook then reads them from the run folder (``ctx.tables``) instead of reading and
    validating the sources again. A source that does not validate stops the run before any
    notebook: ``record.validation`` holds the message (table, column, rows, fix); returns False.

    With DuckDB the work is done in a forked child process, so the memory it needs (at a million
    customers several GB) is returned when it ends instead of staying with the runner while the
    kernels run; meanwhile the runner loads the HTML renderer. Spark validates in this process
    (its session belongs to it).
    """
    t = time.perf_counter()
    _say(progress, "validating the sources ...", secrets=secrets)
    entry: dict[str, Any] = {"status": "running"}
    record.validation = entry
    with _progress_lines(progress):
        if cfg.engine == "pyspark" or "fork" not in multiprocessing.get_all_start_methods():
            result = _validation_result(cfg, catalog)
        else:
            result = _validate_in_child(cfg, catalog)
    entry["duration_s"] = round(time.perf_counter() - t, 3)
    if "error" in result:
        entry["status"] = "failed"
        entry["error"] = redact_tree(
            {**result["error"], "evalue": redact_url(result["error"]["evalue"])}, secrets
        )
        _say(
            progress,
            f"validation FAILED after {entry['duration_s']:.1f} s: {entry['error']['evalue']}",
            secrets=secrets,
        )
        return False
    report = ValidationReport.from_dict(result["report"])
    entry["status"] = "succeeded"
    entry["tables"] = {s.table: s.table_rows for s in report.tables.values()}
    entry["rows_dropped"] = report.dropped
    _say(progress, f"sources validated in {entry['duration_s']:.1f} s", secrets=secrets)
    _write_run_files(record, secrets)
    return True


def _validation_result(cfg: RunConfig, catalog: Catalog) -> dict[str, Any]:
    """``{"report": ...}`` after validating into the catalog, or ``{"error": ...}`` saying why
    not: a segwork error's table, column and fix, or any other error with its traceback."""
    try:
        from segwork.context import validate_into

        return {"report": validate_into(cfg, catalog).to_dict()}
    except SegworkError as exc:  # SchemaError, ConfigError (a ${VAR} not set), ...
        error = {
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "table": getattr(exc, "table", None),
            "column": getattr(exc, "column", None),
            "fix": getattr(exc, "fix", None),
        }
    except Exception as exc:  # noqa: BLE001 - a bug: recorded with its traceback, run failed
        error = _error_from_exception(exc)
    return {"error": error}


def _validation_child(cfg: RunConfig, catalog: Catalog, conn: Any) -> None:
    try:
        conn.send(_validation_result(cfg, catalog))
    finally:
        conn.close()


def _validate_in_child(cfg: RunConfig, catalog: Catalog) -> dict[str, Any]:
    """:func:`_validation_result` in a forked child; the renderer loads here meanwhile."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_validation_child, args=(cfg, catalog, send), daemon=True)
    child.start()
    send.close()
    try:
        with contextlib.suppress(Exception):
            preload_renderer()
        try:
            result = receive.recv()
        except EOFError:
            child.join()
            result = {
                "error": {
                    "ename": "ValidationProcessDied",
                    "evalue": f"the validation of the sources ended without a result (exit code "
                    f"{child.exitcode}; -9 means the system stopped it, usually for lack of "
                    "memory). Fix: set a DuckDB memory_limit under duckdb: in the run config, or "
                    "run on a machine with more memory.",
                    "table": None,
                    "column": None,
                    "fix": None,
                }
            }
    finally:
        if child.is_alive():
            child.join(timeout=30)
        if child.is_alive():  # interrupted: do not leave it behind
            child.terminate()
            child.join()
        receive.close()
    return result


@contextlib.contextmanager
def _progress_lines(enabled: bool) -> Iterator[None]:
    """segwork's progress lines of work done in this process, silenced (``SEGWORK_PROGRESS=0``)
    when the run prints no progress."""
    saved = os.environ.get("SEGWORK_PROGRESS")
    if not enabled:
        os.environ["SEGWORK_PROGRESS"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SEGWORK_PROGRESS", None)
        else:
            os.environ["SEGWORK_PROGRESS"] = saved


def _write_outputs(
    cfg: RunConfig, record: RunRecord, progress: bool, secrets: Sequence[str] = ()
) -> str:
    """Write the run's segment memberships to the configured table; the run's status after it.

    Runs only after every notebook succeeded. A run without the ``segment_membership``
    artifact (notebook 05 not selected) writes nothing and says so in ``run.json``; a failed
    write fails the run, so ``reports/latest`` stays on the last run whose outputs were written.
    """
    from segwork import actions, warehouse

    sink = cfg.outputs.memberships
    assert sink is not None
    entry: dict[str, Any] = {"output": "memberships", "target": sink.describe(), "rows": None}
    record.outputs.append(entry)
    catalog = Catalog(record.run_dir, record.run_dir.parent.parent)
    if not catalog.exists("segment_membership"):
        entry["status"] = "skipped"
        entry["note"] = (
            "no segment_membership artifact (the rule segments notebook did not run or did not apply)"
        )
        return "succeeded"
    t = time.perf_counter()
    _say(progress, f"writing segment memberships to {sink.describe()} ...", secrets=secrets)
    try:
        wide = catalog.load("segment_membership").set_index("customer_id")
        rows = warehouse.membership_rows(
            actions.membership_long(wide),
            run_id=record.run_id,
            analysis_date=cfg.analysis_date,
        )
        entry["rows"] = warehouse.write_memberships(sink, rows)
    except Exception as exc:  # WarehouseError, ConfigError (a ${VAR} not set), ...
        entry["status"] = "failed"
        entry["error"] = redact(redact_url(str(exc)), secrets)
        _say(progress, f"writing segment memberships FAILED: {entry['error']}", secrets=secrets)
        return "failed"
    entry["status"] = "written"
    _say(
        progress,
        f"{entry['rows']:,} memberships written in {time.perf_counter() - t:.1f} s",
        secrets=secrets,
    )
    return "succeeded"


def _written_artifacts(catalog: Catalog) -> set[str]:
    """The datasets written so far: every declared one that exists, and any other Parquet or
    JSON file in the artifacts folder (by its stem)."""
    folder = catalog.artifacts_dir
    extra = (
        {p.stem for p in folder.iterdir() if p.suffix in (".parquet", ".json")}
        if folder.is_dir()
        else set()
    )
    return {name for name in DATASETS if catalog.exists(name)} | extra


def mark_interrupted_runs(
    reports_dir: Path, *, by_run_id: str, secrets: Sequence[str] = ()
) -> list[str]:
    """Mark runs whose run.json still says "running" as "interrupted"; return their ids.

    Called by a run that holds the lock, so no other run of this reports folder is alive: a
    record that still says "running" belongs to a run that was killed (``kill -9``, a reboot)
    before it could write its end. Its run.json and index page are rewritten to say so.
    """
    marked = []
    for data in load_run_records(reports_dir):
        if data.get("status") != "running" or data["run_id"] == by_run_id:
            continue
        run_dir = reports_dir / "runs" / data["run_id"]
        try:
            record = RunRecord.from_dict(data, run_dir=run_dir)
        except (KeyError, TypeError, ValueError):
            continue  # not a record segwork can read back; listed as it is
        record.status = "interrupted"
        for nb in record.notebooks:  # the one it was in has a partial executed copy
            partial = run_dir / "notebooks" / f"{nb.stem}.ipynb"
            if nb.status == "not run" and partial.is_file():
                nb.status, nb.ipynb = "interrupted", partial
                with contextlib.suppress(OSError, ValueError):  # papermill saved it mid-cell
                    redact_notebook(partial, secrets)
        record.interrupted = {
            "noticed_by": by_run_id,
            "noticed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write_run_files(record, secrets)
        marked.append(record.run_id)
    return marked


def _finish(record: RunRecord, t0: float, status: str, secrets: Sequence[str] = ()) -> None:
    record.status = status
    record.finished = datetime.now(UTC)
    record.duration_s = round(time.perf_counter() - t0, 3)
    _write_run_files(record, secrets)


def redact_notebook(path: Path, secrets: Sequence[str]) -> None:
    """Rewrite an executed notebook with every secret replaced by ``***`` (outputs, printed
    text, error values and tracebacks, sources, metadata); a notebook without any is left as is."""
    if not secrets:
        return
    nb = nbformat.read(path, as_version=4)
    clean = redact_tree(nb, secrets)
    if clean != nb:
        atomic_write_text(path, nbformat.writes(clean))


__all__ = [
    "ConfigError",
    "NotebookRecord",
    "PipelineError",
    "RunFailed",
    "RunLockedError",
    "RunRecord",
    "StaleLockWarning",
    "check_notebook_parameters",
    "find_notebooks",
    "run",
]

"""Progress lines for long steps, for a person watching a run in a terminal or a notebook.

A step prints one line when it starts and one when it ends, with its duration::

    [segwork] reading orders ...
    [segwork] reading orders: 100,000,000 rows in 41.2 s

Steps that take longer than ``heartbeat_s`` print a line every ``heartbeat_s`` seconds while they
run, with DuckDB's own estimate of how far the running query has got when there is one::

    [segwork] aggregating orders per customer: 35% after 20 s

Loops over known items (the k of a cluster sweep, the chunks of a database read) use
:func:`items`. Lines go to stderr: ``segwork run`` passes them on to its own stderr (its
notebooks run in kernels nobody watches), and stakeholder reports leave stderr out.

In a notebook someone is watching (a kernel started by a Jupyter server for a notebook, which
sets ``JPY_SESSION_NAME``) the same news goes to one progress bar per cell instead: the bar
shows how far the current step or loop has got (DuckDB's estimate, or item i of n) and the
latest line beside it, updated in place, instead of dozens of stderr lines.

``SEGWORK_PROGRESS`` in the environment: ``0`` silences progress, ``lines`` forces lines,
``bar`` forces the bar (in an IPython kernel), anything else (or unset) chooses as above.
"""

from __future__ import annotations

import html
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
PREFIX = "[segwork] "
HEARTBEAT_S = 10.0


def enabled() -> bool:
    """Whether progress is shown (``SEGWORK_PROGRESS=0`` turns it off)."""
    return os.environ.get("SEGWORK_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "")


def mode() -> str:
    """How progress is shown: 'off', 'lines' (stderr) or 'bar' (a progress bar under the
    cell of a notebook someone is watching; see the module docstring)."""
    if not enabled():
        return "off"
    choice = os.environ.get("SEGWORK_PROGRESS", "").strip().lower()
    shell = _kernel_shell()
    if shell is None or choice == "lines":
        return "lines"
    if choice == "bar" or os.environ.get("JPY_SESSION_NAME"):
        return "bar"
    return "lines"


def say(text: str, *, done: float | None = None, failed: bool = False) -> None:
    """Tell one piece of progress: a line on stderr, or the bar's text (``done``: the share
    of the work done, when known; ``failed`` colours the bar)."""
    how = mode()
    if how == "bar":
        _cell_bar().show(text, done, failed)
    elif how == "lines":
        print(PREFIX + text, file=sys.stderr, flush=True)


def _kernel_shell() -> Any:
    """The IPython shell of the kernel this runs in (None outside a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:  # IPython half-imported or shutting down
        return None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _cell() -> Any:
    """Which cell is running (its execution count): one bar per cell."""
    shell = _kernel_shell()
    return getattr(shell, "execution_count", None)


class Bar:
    """One progress bar under a cell: a bar for the share done and the latest line beside it
    (ipywidgets, which the notebooks use anyway), updated in place."""

    def __init__(self, cell: Any) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.cell = cell
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="240px"))
        self.text = w.HTML()
        self.widget = w.HBox([self.bar, self.text])
        self.updates = 0
        display(self.widget)

    def show(self, text: str, done: float | None, failed: bool = False) -> None:
        """Show ``text``; move the bar to ``done`` (0..1) when given."""
        self.updates += 1
        self.text.value = f"<code>{html.escape(text)}</code>"
        if done is not None:
            self.bar.value = min(1.0, max(0.0, float(done)))
        self.bar.bar_style = "danger" if failed else "success" if done == 1.0 else ""


_bar: Bar | None = None
_bar_lock = threading.Lock()


def _cell_bar() -> Bar:
    """The bar of the running cell (made and displayed on its first progress)."""
    global _bar
    cell = _cell()
    with _bar_lock:
        if _bar is None or _bar.cell != cell:
            _bar = Bar(cell)
        return _bar


def format_seconds(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min; an en dash for no duration. The one duration text of
    segwork: progress lines, run pages and the reports index."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Step:
    """What a running step can tell its end line: ``step.rows = n`` or ``step.note = "..."``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.rows: int | None = None
        self.note: str | None = None


def _duckdb_of(con: Any) -> Any:
    """The raw DuckDB connection behind an Ibis DuckDB backend (or the connection itself)."""
    raw = getattr(con, "con", con)
    return raw if hasattr(raw, "query_progress") else None


@contextmanager
def step(label: str, *, con: Any = None, heartbeat_s: float | None = None) -> Iterator[Step]:
    """Announce a step, print a heartbeat while it runs, and its duration when it ends.

    ``con`` (an Ibis DuckDB backend or a DuckDB connection) adds the running query's percentage
    to heartbeat lines. A step that raises prints ``failed after ...`` and re-raises.
    """
    info = Step(label)
    if not enabled():
        yield info
        return
    every = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
    say(f"{label} ...", done=0.0)
    t0 = time.perf_counter()
    stop = threading.Event()
    duck = _duckdb_of(con) if con is not None else None

    def beat() -> None:
        while not stop.wait(every):
            pct, done = "", None
            if duck is not None:
                try:
                    p = float(duck.query_progress())
                    if 0 <= p <= 100:
                        pct, done = f"{p:.0f}% ", p / 100
                except Exception:  # no query running, or the connection is busy closing
                    pct = ""
            say(f"{label}: {pct}after {format_seconds(time.perf_counter() - t0)}", done=done)

    thread = threading.Thread(target=beat, name="segwork-progress", daemon=True)
    thread.start()
    try:
        yield info
    except BaseException:
        stop.set()
        say(f"{label}: failed after {format_seconds(time.perf_counter() - t0)}", failed=True)
        raise
    finally:
        stop.set()
        thread.join(timeout=1)
    took = format_seconds(time.perf_counter() - t0)
    rows = f"{info.rows:,} rows in " if info.rows is not None else ""
    note = f" ({info.note})" if info.note else ""
    say(f"{label}: {rows}{took}{note}", done=1.0)


def items(iterable: Iterable[T], label: str, *, total: int | None = None) -> Iterator[T]:
    """Yield from ``iterable``, printing ``label: i/total (elapsed)`` as each item starts."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    of = f"/{total}" if total is not None else ""
    i = 0
    for i, item in enumerate(iterable, start=1):
        done = (i - 1) / total if total else None
        say(f"{label}: {i}{of} (after {format_seconds(time.perf_counter() - t0)})", done=done)
        yield item
    say(f"{label}: {i} done in {format_seconds(time.perf_counter() - t0)}", done=1.0)


def to_pandas(expr: Any, label: str) -> Any:
    """A per-customer (or smaller) result in pandas, as a step: announced, with heartbeats (and
    DuckDB's percentage). Through Arrow: the same dtypes as Ibis's ``to_pandas`` for these
    aggregates, without its per-column pass (about 1 s per 150,000 rows)."""
    try:
        backend = expr.get_backend()
    except Exception:  # an unbound expression: no percentage, the lines still print
        backend = None
    with step(label, con=backend) as s:
        df = expr.to_pyarrow().to_pandas()
        s.note = f"{len(df):,} result rows"
    return df

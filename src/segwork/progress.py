"""Progress lines for long steps, for a person watching a run in a terminal or a notebook.

A step prints one line when it starts and one when it ends, with its duration::

    [segwork] reading orders ...
    [segwork] reading orders: 100,000,000 rows in 41.2 s

Steps that take longer than ``heartbeat_s`` print a line every ``heartbeat_s`` seconds while they
run, with DuckDB's own estimate of how far the running query has got when there is one::

    [segwork] aggregating orders per customer: 35% after 20 s

Loops over known items (the k of a cluster sweep, the chunks of a database read) use
:func:`items`. Lines go to stderr: in a notebook they show under the cell, ``segwork run`` passes
them on to its own stderr, and stakeholder reports leave stderr out. ``SEGWORK_PROGRESS=0`` in
the environment silences them.
"""

from __future__ import annotations

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
    """Whether progress lines are printed (``SEGWORK_PROGRESS=0`` turns them off)."""
    return os.environ.get("SEGWORK_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "")


def say(text: str) -> None:
    """Print one progress line to stderr (when enabled)."""
    if enabled():
        print(PREFIX + text, file=sys.stderr, flush=True)


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
    say(f"{label} ...")
    t0 = time.perf_counter()
    stop = threading.Event()
    duck = _duckdb_of(con) if con is not None else None

    def beat() -> None:
        while not stop.wait(every):
            pct = ""
            if duck is not None:
                try:
                    p = float(duck.query_progress())
                    pct = f"{p:.0f}% " if 0 <= p <= 100 else ""
                except Exception:  # no query running, or the connection is busy closing
                    pct = ""
            say(f"{label}: {pct}after {format_seconds(time.perf_counter() - t0)}")

    thread = threading.Thread(target=beat, name="segwork-progress", daemon=True)
    thread.start()
    try:
        yield info
    except BaseException:
        stop.set()
        say(f"{label}: failed after {format_seconds(time.perf_counter() - t0)}")
        raise
    finally:
        stop.set()
        thread.join(timeout=1)
    took = format_seconds(time.perf_counter() - t0)
    rows = f"{info.rows:,} rows in " if info.rows is not None else ""
    note = f" ({info.note})" if info.note else ""
    say(f"{label}: {rows}{took}{note}")


def items(iterable: Iterable[T], label: str, *, total: int | None = None) -> Iterator[T]:
    """Yield from ``iterable``, printing ``label: i/total (elapsed)`` as each item starts."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    of = f"/{total}" if total is not None else ""
    i = 0
    for i, item in enumerate(iterable, start=1):
        say(f"{label}: {i}{of} (after {format_seconds(time.perf_counter() - t0)})")
        yield item
    say(f"{label}: {i} done in {format_seconds(time.perf_counter() - t0)}")


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

"""segwork.progress: the lines a person watching a long run sees."""

from __future__ import annotations

import re
import time

import duckdb
import pytest

from segwork import progress


def test_step_prints_start_and_end_with_rows(capsys) -> None:
    with progress.step("reading orders") as s:
        s.rows = 1_234_567
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[segwork] reading orders ..."
    assert re.fullmatch(r"\[segwork\] reading orders: 1,234,567 rows in \d+\.\d s", err[1])


def test_step_heartbeat_while_a_duckdb_query_runs(capsys) -> None:
    con = duckdb.connect()
    with progress.step("slow query", con=con, heartbeat_s=0.2):
        # ~1 s of work on one thread, so the heartbeat fires while DuckDB is busy
        con.execute("SET threads=1")
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.7:
            con.execute("SELECT sum(i * i) FROM range(3000000) t(i)").fetchall()
    err = capsys.readouterr().err.splitlines()
    beats = [
        ln for ln in err if re.fullmatch(r"\[segwork\] slow query: (\d+% )?after \d+\.\d s", ln)
    ]
    assert len(beats) >= 2
    assert err[-1].startswith("[segwork] slow query: ") and " s" in err[-1]


def test_failed_step_says_so_and_reraises(capsys) -> None:
    with pytest.raises(ZeroDivisionError), progress.step("dividing"):
        1 / 0  # noqa: B018
    err = capsys.readouterr().err
    assert "[segwork] dividing: failed after" in err


def test_items_counts_and_silence(capsys, monkeypatch) -> None:
    assert list(progress.items([3, 4, 5], "k")) == [3, 4, 5]
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in err[:3]] == [
        "[segwork] k: 1/3",
        "[segwork] k: 2/3",
        "[segwork] k: 3/3",
    ]
    assert err[3].startswith("[segwork] k: 3 done in")
    monkeypatch.setenv("SEGWORK_PROGRESS", "0")
    with progress.step("quiet"):
        pass
    assert list(progress.items(range(2), "quiet")) == [0, 1]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("seconds", "text"), [(3.21, "3.2 s"), (65, "1 min 05 s"), (3725, "1 h 02 min")]
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert progress.format_seconds(seconds) == text


class _Shell:
    """What progress looks at in an IPython kernel: a kernel and the cell's execution count."""

    kernel = object()
    execution_count = 7


@pytest.fixture
def kernel(monkeypatch):
    """A simulated IPython kernel; widgets displayed under its cells are collected."""
    import IPython.display

    shell = _Shell()
    shown: list = []
    monkeypatch.setattr(progress, "_kernel_shell", lambda: shell)
    monkeypatch.setattr(progress, "_bar", None)
    monkeypatch.setattr(IPython.display, "display", shown.append)
    monkeypatch.delenv("SEGWORK_PROGRESS", raising=False)
    return shell, shown


def test_notebook_with_a_frontend_gets_one_updating_bar(kernel, capsys, monkeypatch) -> None:
    shell, shown = kernel
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/analyst/notebooks/03_personas.ipynb")
    assert progress.mode() == "bar"
    assert list(progress.items(range(12), "k")) == list(range(12))
    with progress.step("reading orders") as s:
        s.rows = 5
    assert capsys.readouterr().err == ""  # no stderr lines at all
    assert len(shown) == 1  # one bar for the cell, updated in place
    bar = progress._bar
    assert shown[0] is bar.widget and bar.updates == 12 + 1 + 2
    assert bar.bar.value == 1.0 and bar.bar.bar_style == "success"
    assert "reading orders: 5 rows in" in bar.text.value
    shell.execution_count += 1  # the next cell gets its own bar
    with pytest.raises(ZeroDivisionError), progress.step("dividing"):
        1 / 0  # noqa: B018
    assert len(shown) == 2 and progress._bar.bar.bar_style == "danger"
    assert "dividing: failed after" in progress._bar.text.value


def test_items_move_the_bar_through_the_share_done(kernel, monkeypatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")
    seen = []
    for _ in progress.items(range(4), "chunks"):
        seen.append(progress._bar.bar.value)
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_kernel_without_a_frontend_keeps_the_lines_segwork_run_relays(
    kernel, capsys, monkeypatch
) -> None:
    _, shown = kernel
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)  # papermill's kernel under segwork run
    assert progress.mode() == "lines"
    list(progress.items(range(3), "k"))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(ln.startswith(progress.PREFIX) for ln in err)
    assert shown == []
    # a frontend, but lines asked for (SEGWORK_PROGRESS=lines), and silence
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")
    monkeypatch.setenv("SEGWORK_PROGRESS", "lines")
    progress.say("hello")
    assert capsys.readouterr().err == "[segwork] hello\n" and shown == []
    monkeypatch.setenv("SEGWORK_PROGRESS", "0")
    progress.say("quiet")
    assert capsys.readouterr().err == "" and shown == [] and progress.mode() == "off"


def test_outside_a_kernel_progress_is_lines(capsys, monkeypatch) -> None:
    monkeypatch.setenv("SEGWORK_PROGRESS", "bar")  # asked for, but nothing could show it
    monkeypatch.setattr(progress, "_kernel_shell", lambda: None)
    assert progress.mode() == "lines"
    progress.say("plain")
    assert capsys.readouterr().err == "[segwork] plain\n"

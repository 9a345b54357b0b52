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

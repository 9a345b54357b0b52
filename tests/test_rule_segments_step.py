"""Notebook 05's step through the action ledger: an action is never issued twice, also when a run
is retried after a failure or the data is corrected and the run repeated; rules are evaluated in
DuckDB and give the same members as the pandas evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segwork.context import RunContext
from segwork.exports import ActionFiles
from segwork.rules import load_rules
from segwork.steps import rule_segments

TODAY = pd.Timestamp("2025-06-30")

RULES = load_rules(
    """
rules:
  - name: vip
    rule: revenue_365d > 1000
    action: {type: task, template: "Thank $name", due_in_days: 7}
  - name: lapsed
    rule: last_order_date older than 6 months
    action: {type: email, template: "We miss you, $name", due_in_days: 1}
  - name: watch
    rule: region == "A" and revenue_365d is not missing
"""
)


def _customers() -> pd.DataFrame:
    ids = [f"c{k}" for k in range(1, 9)]
    return pd.DataFrame(
        {
            "name": [f"Customer {k}" for k in range(1, 9)],
            "region": ["A", "A", "B", "B", "A", None, "B", "A"],
            "revenue_365d": [5000.0, 200.0, 1500.0, np.nan, 3000.0, 10.0, 999.0, 1001.0],
            "last_order_date": pd.to_datetime(
                [
                    "2025-06-01",
                    "2024-01-01",
                    "2025-05-01",
                    "2023-06-30",
                    None,
                    "2024-12-29",
                    "2025-01-01",
                    "2024-12-30",
                ]
            ),  # fmt: skip
            "email": [f"c{k}@x.cz" for k in range(1, 9)],
            "email_opt_in": [True, True, True, True, False, True, True, True],
            "owner": ["Eva", None, "Jan", None, "Eva", None, None, "Jan"],
        },
        index=pd.Index(ids, name="customer_id", dtype="str"),
    )


def _issued(result: rule_segments.RuleSegmentsResult) -> set[tuple[str, str, str]]:
    return {
        (r.segment, r.customer_id, r.action_type)
        for df in result.lists.lists().values()
        for r in df.itertuples()
    }


def _run(customers, run_id, *, history=(), ledger=None, published=(), **kw):
    return rule_segments.run(
        customers,
        RULES,
        run_id=run_id,
        today=kw.pop("today", TODAY),
        history=list(history),
        ledger=ledger,
        published=published,
        **kw,
    )


def _record(run_id: str, result) -> tuple[dict, pd.DataFrame]:
    return {"run_id": run_id, "started": "2025-06-30T06:00:00+00:00"}, result.members.reset_index()


def test_members_are_evaluated_in_duckdb_and_match_pandas() -> None:
    customers = _customers()
    long = RULES.member_ids(customers, today=TODAY)
    assert list(long.columns) == ["customer_id", "segment"] and long.attrs["segments"] == [
        "vip",
        "lapsed",
        "watch",
    ]
    wide = rule_segments.evaluate(RULES, customers, TODAY)
    expected = RULES.memberships(customers, today=TODAY)
    pd.testing.assert_frame_equal(wide, expected, check_index_type=False, check_column_type=False)
    assert set(long.loc[long["segment"] == "vip", "customer_id"]) == {"c1", "c3", "c5", "c8"}
    # 'older than 6 months' on the day boundary, a missing date and a missing revenue
    assert set(long.loc[long["segment"] == "lapsed", "customer_id"]) == {"c2", "c4", "c6", "c8"}


def test_two_runs_over_the_same_data_issue_each_action_once() -> None:
    customers = _customers()
    first = _run(customers, "r1")
    issued = _issued(first)
    assert ("vip", "c1", "task") in issued and ("lapsed", "c2", "email") in issued
    # the second run compares with the first (published) run: nobody entered, nothing issued
    second = _run(
        customers,
        "r2",
        history=[_record("r1", first)],
        ledger=first.outputs()["action_ledger"],
        published=["r1"],
    )
    assert _issued(second) == set()
    # even when the previous membership is lost, the ledger holds back every action
    lost = _run(customers, "r3", ledger=second.outputs()["action_ledger"], published=["r1", "r2"])
    assert _issued(lost) == set()
    held = lost.lists.excluded.query("reason == 'already actioned in an earlier run'")
    assert int(held["customers"].sum()) == len(issued)
    ledger = lost.outputs()["action_ledger"]
    assert (ledger["event"] == "issued").sum() == len(issued)  # each action once in the ledger


def test_a_failed_run_burns_nothing_and_its_retry_issues_each_action_once() -> None:
    customers = _customers()
    failed = _run(customers, "r1")  # built its lists and ledger, then the run failed
    assert _issued(failed)
    events = failed.outputs()["action_ledger"]
    # the retry: r1 never published, so its events do not count and are dropped
    retry = _run(customers, "r2", ledger=events, published=[])
    assert _issued(retry) == _issued(failed)
    after = retry.outputs()["action_ledger"]
    assert set(after["run_id"]) == {"r2"}
    assert (after["event"] == "issued").sum() == len(_issued(failed))
    # the run after the retry issues nothing again
    third = _run(customers, "r3", history=[_record("r2", retry)], ledger=after, published=["r2"])
    assert _issued(third) == set()
    # rebuilding the same run id gives the same lists (nothing new in the ledger)
    again = _run(customers, "r2", ledger=after, published=[])
    assert _issued(again) == _issued(retry)
    assert len(again.outputs()["action_ledger"]) == len(after)


def test_a_corrected_row_changes_only_what_it_should() -> None:
    customers = _customers()
    first = _run(customers, "r1")
    fixed = customers.copy()
    fixed.loc["c1", "revenue_365d"] = 50.0  # was wrongly in vip
    fixed.loc["c7", "revenue_365d"] = 1999.0  # now belongs in vip
    second = _run(
        fixed,
        "r2",
        history=[_record("r1", first)],
        ledger=first.outputs()["action_ledger"],
        published=["r1"],
    )
    assert _issued(second) == {("vip", "c7", "task")}
    moved = set(
        second.moved[["segment", "customer_id", "change"]].itertuples(index=False, name=None)
    )
    assert moved == {("vip", "c7", "entered"), ("vip", "c1", "left")}
    ledger = second.outputs()["action_ledger"]
    assert ledger.query("event == 'left'")[["segment", "customer_id"]].values.tolist() == [
        ["vip", "c1"]
    ]


def test_formats_are_checked_and_csv_is_the_default(tmp_path: Path) -> None:
    result = _run(_customers(), "r1")
    files = result.outputs()["actions"]
    assert isinstance(files, ActionFiles) and files.formats == ("csv",)
    names = sorted(p.name for p in files.write(tmp_path / "a"))
    assert names == ["calls.csv", "emails.csv", "excluded.csv", "tasks.csv"]
    with_xlsx = _run(_customers(), "r1", action_formats=["csv", "xlsx", "jsonl"])
    assert len(with_xlsx.outputs()["actions"].write(tmp_path / "b")) == 10
    with pytest.raises(ValueError, match="did you mean 'xlsx'"):
        _run(_customers(), "r1", action_formats=["xls"])


def test_the_notebook_path_keeps_the_ledger_beside_the_runs(
    tmp_path: Path, tiny_config: Path
) -> None:
    """RunContext + catalog, as notebook 05 does it: the ledger lives in reports/state, and only
    runs whose record says "succeeded" count."""
    tiny_config.write_text(
        tiny_config.read_text() + f"reports_dir: {tmp_path / 'reports'}\n", encoding="utf-8"
    )
    runs = tmp_path / "reports" / "runs"
    customers = _customers()

    def notebook(run_id: str, status: str) -> rule_segments.RuleSegmentsResult:
        ctx = RunContext.open(tiny_config, runs / run_id)
        result = rule_segments.run(
            customers,
            RULES,
            run_id=ctx.run_id,
            today=TODAY,
            history=ctx.artifact_history("segment_membership"),
            ledger=ctx.load("action_ledger") if ctx.exists("action_ledger") else None,
            published=[run["run_id"] for run in ctx.earlier_runs()],
        )
        ctx.save(result)
        (runs / run_id / "run.json").write_text(
            json.dumps({"run_id": run_id, "status": status, "started": f"2025-06-30T0{len(list(runs.iterdir()))}:00"})
        )  # fmt: skip
        return result

    failed = notebook("r1", "failed")
    ledger_path = tmp_path / "reports" / "state" / "action_ledger.parquet"
    assert ledger_path.exists() and (runs / "r1" / "actions" / "tasks.csv").exists()
    retry = notebook("r2", "succeeded")
    assert _issued(retry) == _issued(failed)
    assert set(pd.read_parquet(ledger_path)["run_id"]) == {"r2"}
    assert _issued(notebook("r3", "succeeded")) == set()
    assert (runs / "r3" / "members").is_dir()

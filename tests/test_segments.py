"""Rule-segment reporting: KPIs, overlaps, exclusive sizes, history and member exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segwork import exports, segments
from segwork.context import RunContext
from segwork.pages import rule_segments as pages


@pytest.fixture
def members() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    idx = pd.Index([f"C{i:03d}" for i in range(200)], name="customer_id")
    return pd.DataFrame(
        {"a": rng.random(200) < 0.3, "b": rng.random(200) < 0.5, "empty": False}, index=idx
    )


def test_kpis_and_overlap_match_direct_counts(members: pd.DataFrame) -> None:
    customers = pd.DataFrame({"revenue_365d": np.arange(200.0)}, index=members.index)
    moved = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003"],
            "segment": ["a", "a", "b"],
            "change": ["entered", "left", "entered"],
        }
    )
    k = segments.segment_kpis(members, customers, moved).set_index("segment")
    assert k.loc["a", "members"] == members["a"].sum()
    assert k.loc["b", "revenue"] == customers.loc[members["b"], "revenue_365d"].sum()
    assert (k.loc["a", "entered"], k.loc["a", "left"], k.loc["b", "entered"]) == (1, 1, 1)
    assert k.loc["empty", "members"] == 0 and k.loc["empty", "revenue_per_member"] == 0.0
    both = segments.overlap(members)
    assert both.loc["a", "b"] == (members["a"] & members["b"]).sum() == both.loc["b", "a"]
    assert both.loc["a", "a"] == members["a"].sum()
    share = segments.overlap(members, share=True)
    assert share.loc["a", "b"] == pytest.approx(
        (members["a"] & members["b"]).sum() / members["a"].sum()
    )
    assert share.loc["empty"].isna().all()


def test_exclusive_sizes_count_every_customer_once(members: pd.DataFrame) -> None:
    assigned = pd.Series(
        np.where(members["a"], "a", np.where(members["b"], "b", None)), index=members.index
    )
    sizes = segments.exclusive_sizes(assigned, ["a", "b", "empty"]).set_index("segment")["members"]
    assert sizes.sum() == len(members)
    assert sizes["a"] == members["a"].sum() and sizes["empty"] == 0
    assert sizes["(no segment)"] == (~members["a"] & ~members["b"]).sum()


def test_size_history_and_headline(members: pd.DataFrame) -> None:
    hist = segments.size_history(
        [("r1", "2026-01-01", members), ("r2", "2026-02-01", members.assign(a=True))]
    )
    assert hist.set_index(["run_id", "segment"]).loc[("r2", "a"), "members"] == len(members)
    kpis = segments.segment_kpis(
        members,
        pd.DataFrame(index=members.index),
        pd.DataFrame({"customer_id": ["C001"], "segment": ["a"], "change": ["entered"]}),
    )
    text = pages.headline_text(
        kpis, members, previous_run="r1", tasks=3, emails=2, calls=1, no_consent=4
    )
    in_any = int((members["a"] | members["b"]).sum())
    assert (
        f"hold {in_any:,} customers" in text
        and "Since the last successful run (r1), 1 segment entries" in text
    )
    assert "3 tasks" in text and "4 customers were left off" in text


def test_member_exports_neutralise_formulas(tmp_path: Path, members: pd.DataFrame) -> None:
    customers = pd.DataFrame({"name": '=HYPERLINK("x")', "revenue_365d": -5.0}, index=members.index)
    paths = exports.export_segment_members(
        members[["a"]], customers, tmp_path, formats=("csv", "parquet")
    )
    assert {p.name for p in paths} == {"a.csv", "a.parquet"}
    back = pd.read_csv(tmp_path / "a.csv", encoding="utf-8-sig")
    assert len(back) == members["a"].sum()
    assert back["name"].str.startswith("'=").all() and (back["revenue_365d"] == -5.0).all()


def test_context_reads_only_successful_earlier_runs(tmp_path: Path, tiny_config: Path) -> None:
    cfg_text = tiny_config.read_text() + f"reports_dir: {tmp_path / 'reports'}\n"
    tiny_config.write_text(cfg_text)
    runs = tmp_path / "reports" / "runs"
    for rid, status, started, n in [
        ("r1", "succeeded", "2026-01-01T00:00:00", 1),
        ("r2", "failed", "2026-02-01T00:00:00", 2),
        ("r3", "succeeded", "2026-03-01T00:00:00", 3),
    ]:
        (runs / rid / "artifacts").mkdir(parents=True)
        (runs / rid / "run.json").write_text(
            json.dumps({"run_id": rid, "status": status, "started": started})
        )
        pd.DataFrame({"x": range(n)}).to_parquet(runs / rid / "artifacts" / "segment_kpis.parquet")
    (runs / "r4" / "artifacts").mkdir(parents=True)
    ctx = RunContext.open(tiny_config, runs / "r4")
    assert ctx.run_id == "r4"
    assert [r["run_id"] for r, _ in ctx.artifact_history("segment_kpis")] == ["r1", "r3"]
    assert len(ctx.previous_artifact("segment_kpis")) == 3
    assert ctx.previous_artifact("segment_changes") is None
    ctx.save(
        {
            "customer360": pd.DataFrame({"customer_id": ["1", "2"], "a": [1, 2]}),
            "rfm": pd.DataFrame({"customer_id": ["2", "1"], "a": [9, 9], "seg": ["x", "y"]}),
        }
    )
    table = ctx.customer_table()
    assert table.loc["1", "seg"] == "y" and table.loc["1", "a"] == 1  # the 360's own column wins


# ------------------------------------------------- rules on a customer table that lacks sources

_RULES = """
rules:
  - name: Region A
    description: Customers in region A.
    rule: region == "A"
  - name: Big spenders
    rule: revenue_365d > 100 and region == "A"
  - name: Loyal
    rule: rfm_segment == "Champions"
  - name: Likely
    rule: p_alive > 0.5
"""


def test_check_rules_leaves_out_rules_on_absent_sources_and_says_why() -> None:
    from segwork.rules import load_rules

    ids = pd.Index(["a", "b", "c"], name="customer_id")
    campaign_only = pd.DataFrame({"region": ["A", "B", "A"]}, index=ids)
    check = segments.check_rules(load_rules(_RULES), campaign_only, source="segs.yaml")
    assert check.runnable.names == ["Region A"]
    left = check.left_out.set_index("segment")
    assert list(left.index) == ["Big spenders", "Loyal", "Likely"]
    assert left.loc["Big spenders", "columns"] == "revenue_365d"
    assert "the orders table" in left.loc["Big spenders", "reason"]
    assert "notebook 02_rfm_clv" in left.loc["Loyal", "reason"]
    sentences = check.sentences()
    assert sentences[0] == (
        "The segment 'Big spenders' is left out of this run: revenue_365d comes from the orders "
        "table, which this run does not have."
    )
    members = check.runnable.memberships(campaign_only)
    assert members["Region A"].tolist() == [True, False, True]
    kpis = segments.segment_kpis(members, campaign_only)
    assert "revenue" not in kpis  # no orders: no column of zero revenue
    assert kpis["members"].tolist() == [2]
    # with orders and RFM but a CLV model that could not be fitted, only the CLV rule is out
    with_orders = campaign_only.assign(revenue_365d=[50.0, 500.0, 150.0], orders_total=1)
    with_orders["rfm_segment"] = "Champions"
    check = segments.check_rules(load_rules(_RULES), with_orders)
    assert check.runnable.names == ["Region A", "Big spenders", "Loyal"]
    assert check.left_out["segment"].tolist() == ["Likely"]


def test_check_rules_stops_on_a_typo_and_lists_the_columns() -> None:
    from segwork.rules import RuleSetError, load_rules

    ids = pd.Index(["a", "b"], name="customer_id")
    customers = pd.DataFrame({"region": ["A", "B"], "revenue_365d": [1.0, 2.0]}, index=ids)
    customers["orders_total"] = 1
    typo = _RULES.replace('region == "A"\n  - name: Big', 'regoin == "A"\n  - name: Big')
    with pytest.raises(RuleSetError) as info:
        segments.check_rules(load_rules(typo), customers, source="segs.yaml")
    err = info.value
    assert err.unknown_columns == ["regoin"]
    assert err.errors[0].startswith("rules file 'segs.yaml', rule 'Region A': unknown column")
    assert "did you mean region?" in err.errors[0]
    assert "orders_total, region, revenue_365d" in err.errors[0]
    # a near miss of a behaviour column present in this run is a typo, not a missing source
    with pytest.raises(RuleSetError, match="did you mean revenue_365d"):
        segments.check_rules(load_rules("- {name: x, rule: revenue_356d > 1}"), customers)


def test_describe_rules_and_empty_headline_come_from_the_rules() -> None:
    from segwork.rules import load_rules

    text = pages.describe_rules(load_rules(_RULES), source="segs.yaml")
    assert text.startswith("The rules file segs.yaml defines 4 saved segments: 'Region A' (")
    assert "(Customers in region A)" in text and "'Loyal' (rfm_segment == \"Champions\")" in text
    empty = segments.segment_kpis(
        pd.DataFrame(index=pd.Index([], name="customer_id")), pd.DataFrame()
    )
    assert empty.empty and list(empty.columns) == ["segment", "members", "share"]
    line = pages.headline_text(
        empty, pd.DataFrame(), previous_run=None, tasks=0, emails=0, calls=0, no_consent=0
    )
    assert line.startswith("No saved segment could be evaluated")

"""segwork.pages.summary: each report's digest (headline, key numbers, groups, decisions), the
tiles a notebook shows, the digest and alerts found in an executed notebook, and the run's
summary page built from them (changes since the previous successful run).

The five step results are computed once, on a small demo, the way the notebooks compute them
(RunContext by hand: validated tables in the scratch folder); every number is checked against
a computation of its own from the raw or the result tables.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from segwork import display, rules
from segwork.context import RunContext
from segwork.demo import write_demo
from segwork.pages import campaign_ab as page_ab
from segwork.pages import data_collection as page_dc
from segwork.pages import personas as page_personas
from segwork.pages import rfm_clv as page_rfm
from segwork.pages import summary
from segwork.pages.summary import Digest, KeyNumber
from segwork.report import external_references, render_run_index, run_headline
from segwork.steps import campaign_ab, data_collection, personas, rfm_clv, rule_segments
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
MALICIOUS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The raw demo tables and the five step results, as notebooks 01-05 compute them."""
    base = tmp_path_factory.mktemp("summary")
    data = Path(write_demo(base / "demo", n_customers=600, seed=5))
    ref = pd.Timestamp(pd.read_json(data / "truth" / "truth.json", typ="series")["analysis_date"])
    names = {
        "customers": "customers.csv",
        "orders": "orders.parquet",
        "interactions": "interactions.parquet",
        "survey_responses": "survey_responses.csv",
        "survey_items": "survey_items.csv",
        "campaign_exposures": "campaign_exposures.csv",
    }
    sources = {t: {"path": str(data / f)} for t, f in names.items()}
    shutil.copy(ROOT / "configs" / "demo_segments.yaml", base / "segments.yaml")
    cfg = write_config(
        base,
        sources,
        analysis_date=str(ref.date()),
        currency="CZK",
        reports_dir=str(base / "reports"),
    )
    ctx = RunContext.open(cfg, "")
    t = ctx.tables
    r1 = data_collection.run(t, analysis_date=ctx.analysis_date, currency="CZK")
    ctx.save(r1)
    r2 = rfm_clv.run(
        t.orders,
        t.customers,
        t.interactions,
        analysis_date=ctx.analysis_date,
        profile=ctx.load("customer360").set_index("customer_id"),
    )
    ctx.save(r2)
    r3 = personas.run(
        t.survey_responses,
        t.survey_items,
        ctx.customer_table(),
        consent=t.customers,
        k_range=(2, 5),
        n_bootstrap=2,
        currency="CZK",
    )
    ctx.save(r3)
    r4 = campaign_ab.run(
        t.campaign_exposures,
        ctx.customer_table(),
        segment_columns=["persona", "rfm_segment"],
        currency="CZK",
    )
    r5 = rule_segments.run(
        ctx.customer_table(),
        rules.read_rules(base / "segments.yaml", name="segments.yaml"),
        run_id="r1",
        today=ctx.analysis_date,
        source="segments.yaml",
    )
    raw = {
        "customers": pd.read_csv(data / "customers.csv", dtype={"customer_id": str}),
        "orders": pd.read_parquet(data / "orders.parquet"),
        "exposures": pd.read_csv(data / "campaign_exposures.csv", dtype={"customer_id": str}),
    }
    return {"ref": ref.normalize(), "raw": raw, "results": (r1, r2, r3, r4, r5)}


def _numbers(d: Digest) -> dict[str, KeyNumber]:
    return {n.key: n for n in d.numbers}


# --------------------------------------------------------------------------------------------
# The digest of each report
# --------------------------------------------------------------------------------------------
def test_data_collection_digest_counts_from_the_raw_tables(run) -> None:
    r1 = run["results"][0]
    orders, ref = run["raw"]["orders"], run["ref"]
    d = summary.digest(r1)
    n = _numbers(d)
    assert d.headline == page_dc.headline_text(r1)  # the page's own words
    assert n["customers"].value == run["raw"]["customers"]["customer_id"].nunique()
    assert n["orders"].value == len(orders)
    # net revenue of the last 365 days: every order dated in the 365 days up to the analysis
    # date (the whole day counts), returns subtracted
    end = ref + pd.Timedelta(days=1)
    inside = orders[(orders["order_date"] >= end - pd.Timedelta(days=365))]
    inside = inside[inside["order_date"] < end]
    assert n["revenue_365d"].value == pytest.approx(inside["amount"].sum())
    assert n["revenue_365d"].kind == "money" and n["revenue_365d"].unit == "CZK"
    buyers = inside[inside["amount"] >= 0]
    if "is_return" in buyers:
        buyers = buyers[~buyers["is_return"].fillna(False).astype(bool)]
    share = buyers["customer_id"].nunique() / run["raw"]["customers"]["customer_id"].nunique()
    assert n["active_share_365d"].value == pytest.approx(share)
    assert [k.kind for k in d.numbers] == ["count", "count", "pct", "money"]


def test_rfm_digest_from_the_rfm_table(run) -> None:
    r2 = run["results"][1]
    d = summary.digest(r2, currency="CZK")
    n = _numbers(d)
    assert d.headline == page_rfm.result_headline(r2)
    t = r2.table[r2.table["rfm_segment"].notna()]
    assert n["scored_customers"].value == len(t)
    at_risk = t["rfm_segment"].isin(["At Risk", "Can't Lose Them"]).sum()
    assert n["at_risk_share"].value == pytest.approx(at_risk / len(t))
    assert n["clv_12m"].value == pytest.approx(r2.table["clv_12m"].sum())
    assert n["revenue"].unit == "CZK"
    sizes = d.groups["RFM segment"]  # every segment of the map, also an empty one
    assert {k: v for k, v in sizes.items() if v} == t["rfm_segment"].astype(
        str
    ).value_counts().to_dict()
    assert 3 <= len(d.numbers) <= 4


def test_personas_digest_from_the_persona_of_each_respondent(run) -> None:
    step = run["results"][2]
    d = summary.digest(step)
    n = _numbers(d)
    assert d.headline == page_personas.headline(step.personas)
    counts = step.personas.personas.astype(str).value_counts()
    assert n["respondents"].value == len(step.personas.personas)
    assert n["personas"].value == len(counts)
    assert n["largest_persona_share"].value == pytest.approx(counts.max() / counts.sum())
    assert counts.idxmax() in n["largest_persona_share"].label
    assert d.groups["Persona"] == counts.to_dict()


def test_campaign_digest_from_the_exposures_and_decisions(run) -> None:
    r4 = run["results"][3]
    exposures = run["raw"]["exposures"]
    d = summary.digest(r4)
    n = _numbers(d)
    assert d.headline == page_ab.headline(r4.overall, r4.decisions)
    assert n["campaigns"].value == exposures["campaign_id"].nunique()
    assert n["customers_tested"].value == len(exposures.dropna(subset=["variant"]))
    decided = r4.decisions
    rolled = decided.loc[decided["decision"] == "roll out", "campaign_id"].nunique()
    assert n["campaigns_roll_out"].value == rolled
    whole = decided[decided["scope"] == "whole campaign"]
    for _, row in whole.iterrows():
        assert d.decisions[row["campaign_id"]] == f"{row['decision']} ({row['variant']})"
    assert len(d.decisions) == len(decided)


def test_rule_segments_digest_from_the_members_and_lists(run) -> None:
    r5 = run["results"][4]
    d = summary.digest(r5)
    n = _numbers(d)
    assert d.headline == summary.rule_segments_headline(r5)
    assert d.headline.startswith(f"{len(r5.kpis)} saved segment")
    members = r5.members.fillna(False).astype(bool)
    assert n["segments"].value == members.shape[1]
    assert n["customers_in_segments"].value == int(members.any(axis=1).sum())
    assert n["entries"].value == int((r5.moved["change"] == "entered").sum())
    assert n["actions"].value == sum(
        len(x) for x in (r5.lists.tasks, r5.lists.emails, r5.lists.calls)
    )
    assert d.groups["Rule segment"] == {c: int(members[c].sum()) for c in members.columns}


def test_round_trip_is_json_safe(run) -> None:
    for result in run["results"]:
        d = summary.digest(result, currency="CZK")
        text = json.dumps(d.to_dict(), allow_nan=False)
        assert Digest.from_dict(json.loads(text)) == d
    nan = Digest("h", [KeyNumber("x", "X", float("nan"), "count")])
    assert nan.to_dict()["numbers"][0]["value"] is None
    assert Digest.from_dict({}) == Digest("")
    with pytest.raises(TypeError, match="no digest for a str"):
        summary.digest("not a result")


def test_formatting_of_values_and_changes() -> None:
    assert summary.format_value(20000.0, "count") == "20,000"
    assert summary.format_value(171_386_351.0, "money", "CZK") == "171.4 M CZK"
    assert summary.format_value(0.58205, "pct") == "58.2%"
    assert summary.format_value(None, "money", "CZK") == "–"
    assert summary.format_change(21000, 20000, "count") == "+1,000 (+5.0%)"
    assert summary.format_change(19000, 20000, "count") == "-1,000 (-5.0%)"
    assert summary.format_change(2.2e6, 2.0e6, "money", "CZK") == "+200.0 k CZK (+10.0%)"
    assert summary.format_change(0.55, 0.5, "pct") == "+5.0 pp"
    assert summary.format_change(5, 5, "count") == "no change"
    assert summary.format_change(3, 0, "count") == "+3"


# --------------------------------------------------------------------------------------------
# In the notebook: show() and collect()
# --------------------------------------------------------------------------------------------
def test_show_displays_tiles_carrying_the_digest(run, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr(
        "IPython.display.display", lambda obj, metadata=None: shown.append((obj, metadata))
    )
    r2 = run["results"][1]
    assert summary.show(r2, currency="CZK") is None  # no second output in the notebook
    d = summary.digest(r2, currency="CZK")
    ((obj, metadata),) = shown
    assert metadata == {"segwork_digest": d.to_dict()}
    markup = obj.data
    for n in d.numbers:
        assert n.text() in markup and n.label.replace("'", "&#x27;") in markup
    assert markup.count("class='segwork-tile'") == len(d.numbers)
    assert "<script" not in markup and external_references(markup) == []
    evil = Digest("h", [KeyNumber("x", MALICIOUS, 1.0, "count")])
    assert MALICIOUS not in summary.tiles_html(evil)
    assert "&lt;script&gt;" in summary.tiles_html(evil)


def _executed(digest: dict | None, warnings: list[tuple[str, str, bool]]) -> nbformat.NotebookNode:
    """A hand-made executed notebook: a digest output, warning boxes (with H2's metadata or as
    HTML only), a finding box that is not an alert."""
    cells = [new_code_cell("page.headline(result)")]
    outputs = [
        new_output(
            "display_data", data={"text/html": display.box_html("All fine.", title="Finding")}
        )
    ]
    if digest is not None:
        outputs.append(
            new_output(
                "display_data",
                data={"text/html": "<div>tiles</div>", "text/plain": "<HTML>"},
                metadata={"segwork_digest": digest},
            )
        )
    for title, text, with_meta in warnings:
        meta = {"segwork": {"kind": "warning", "title": title, "text": text}} if with_meta else {}
        outputs.append(
            new_output(
                "display_data",
                data={"text/html": display.box_html(text, title=title, kind="warning")},
                metadata=meta,
            )
        )
    cells[0].outputs = outputs
    cells.append(new_code_cell("x = 1"))
    return new_notebook(cells=cells)


def test_collect_finds_the_digest_and_the_warnings_once_each() -> None:
    d = Digest("Headline.", [KeyNumber("customers", "Customers", 10.0, "count")], alerts=["Own"])
    nb = _executed(
        d.to_dict(),
        [
            ("Note on the scores", "Few buyers & <b>returns</b>.\n\nSecond paragraph.", True),
            ("Note on the scores", "Few buyers & <b>returns</b>.\n\nSecond paragraph.", False),
            ("Analysis date long after the last order", "The last order is old.", False),
        ],
    )
    # written and read back as a file, as the pipeline reads the executed notebook
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    got = summary.collect(nb)
    assert got["headline"] == "Headline." and got["numbers"] == d.to_dict()["numbers"]
    assert got["alerts"] == [
        "Own",
        "Note on the scores: Few buyers & <b>returns</b>. Second paragraph.",
        "Analysis date long after the last order: The last order is old.",
    ]
    # no digest and no warning: nothing to say; warnings only: a digest without headline
    assert summary.collect(_executed(None, [])) is None
    only = summary.collect(_executed(None, [("Watch out", "x", True)]))
    assert only["headline"] == "" and only["alerts"] == ["Watch out: x"]


# --------------------------------------------------------------------------------------------
# The run's summary page
# --------------------------------------------------------------------------------------------
def _record(run_id: str, started: str, digests: dict[str, dict], **overrides) -> dict:
    notebooks = [
        {
            "stem": stem,
            "title": title,
            "status": "succeeded",
            "duration_s": 10.0,
            "html": f"{stem}.html",
            "ipynb": f"notebooks/{stem}.ipynb",
            "error": None,
            "digest": digests.get(stem),
        }
        for stem, title in (
            ("01_data_collection", "Data collection"),
            ("02_rfm_clv", "RFM"),
            ("04_campaign_ab", "Campaigns"),
        )
    ]
    run = {
        "run_id": run_id,
        "name": "Demo CRM",
        "status": "succeeded",
        "started": started,
        "finished": started,
        "duration_s": 72.0,
        "analysis_date": "2026-09-30",
        "config_path": "/very/secret/home/alice/configs/demo.yaml",
        "run_dir": f"/nonexistent/{run_id}",
        "package_version": "1.0",
        "python_version": "3.11",
        "parameters": {},
        "inputs": [],
        "notebooks": notebooks,
    }
    run.update(overrides)
    return run


def _digests(customers, revenue, share, groups, decisions, alerts=()):
    return {
        "01_data_collection": Digest(
            "The customer table holds many customers.\n\nEvery table passed validation.",
            [
                KeyNumber("customers", "Customers", customers, "count"),
                KeyNumber("revenue_365d", "Net revenue, last 365 days", revenue, "money", "CZK"),
                KeyNumber("active_share_365d", "Bought in the last 365 days", share, "pct"),
            ],
            alerts=list(alerts),
        ).to_dict(),
        "02_rfm_clv": Digest("Champions bring most.", groups={"RFM segment": groups}).to_dict(),
        "04_campaign_ab": Digest("spring: Roll out.", decisions=decisions).to_dict(),
    }


def test_summary_page_shows_changes_since_the_previous_successful_run() -> None:
    before = _record(
        "20261101-000000-demo",
        "2026-11-01T00:00:00+00:00",
        _digests(
            19_000.0,
            150e6,
            0.5,
            {"Champions": 900, "Lost": 300, "Old": 5, MALICIOUS: 10},
            {"spring": "keep testing (offer)", "summer": "stop (offer)"},
        ),
    )
    now = _record(
        "20261201-000000-demo",
        "2026-12-01T00:00:00+00:00",
        _digests(
            20_000.0,
            171.4e6,
            0.55,
            {"Champions": 1000, "Lost": 250, "New one": 7, MALICIOUS: 12},
            {"spring": "roll out (offer)", "summer": "stop (offer)"},
            alerts=["Note: few <b>buyers</b>."],
        ),
    )
    html = render_run_index(now, previous=before)
    text = re.sub(r"\s+", " ", html)
    # a change on every key number, computed here on their own
    assert f"{20_000 - 19_000:+,} ({(20_000 - 19_000) / 19_000:+.1%})" in text
    assert "(was 19,000)" in text
    assert "+21.4 M CZK (+14.3%)" in text and "(was 150.0 M CZK)" in text  # 171.4 - 150
    assert f"+{(0.55 - 0.5) * 100:.1f} pp" in text and "(was 50.0%)" in text
    assert text.count('class="tile-change up"') == 3
    # segments that grew, shrank, appeared or went; decisions that changed (and only those)
    assert "grew: Champions 900 → 1,000 (+100)" in text
    assert "shrank: Lost 300 → 250 (-50)" in text
    assert "new: New one (7)" in text and "no longer present: Old (was 5)" in text
    assert (
        "grew: Champions 900 → 1,000 (+100); &lt;script&gt;alert(1)&lt;/script&gt; 10 → 12 (+2)."
        in text
    )
    assert "spring: keep testing (offer) → roll out (offer)" in text
    assert "summer:" not in text
    # compared with whom; alerts in one list; the headline finding as the lead of each report
    assert 'href="../20261101-000000-demo/index.html"' in html
    assert "Alerts (1)" in text and "few &lt;b&gt;buyers&lt;/b&gt;" in text
    assert '<p class="headline">The customer table holds many customers.</p>' in html
    # analysts' facts collapsed; the config file by name only
    assert '<details class="analysts">' in html
    assert "/very/secret" not in html and "<code>demo.yaml</code>" in html
    assert MALICIOUS not in html and "&lt;script&gt;" in html
    assert external_references(html) == []
    assert run_headline(now) == "The customer table holds many customers."


def test_summary_page_without_a_previous_run_or_digests() -> None:
    first = _record(
        "20261201-000000-demo",
        "2026-12-01T00:00:00+00:00",
        _digests(20_000.0, 171.4e6, 0.55, {"Champions": 1}, {}),
    )
    html = render_run_index(first)
    assert "There is no previous successful run to compare with" in html
    assert 'class="tile-change' not in html and "20,000" in html and "171.4 M CZK" in html
    assert "No report of this run shows a warning." in html
    # an old run.json (no digest anywhere) compared with: tiles, but no change to show
    old = _record("20261101-000000-demo", "2026-11-01T00:00:00+00:00", {})
    html = render_run_index(first, previous=old)
    assert (
        'class="tile-change' not in html
        and "Changes are against the previous successful run" in html
    )
    html = render_run_index(old)
    assert 'class="tile"' not in html and "Data collection" in html
    # the same figures in the previous run: no change on each, every size and decision the same
    same = copy.deepcopy(first) | {"run_id": "20261101-000000-demo"}
    html = re.sub(r"\s+", " ", render_run_index(first, previous=same))
    assert html.count('=</span> <span class="nowrap">no change</span></div>') == 3
    assert "(was" not in html and "every size is the same as in the previous run" in html
    # a digest this version cannot read: the page is still written, without its figures
    broken = copy.deepcopy(first)
    broken["notebooks"][0]["digest"] = {"headline": "x", "numbers": [{"value": "many"}]}
    assert 'class="tile"' not in render_run_index(broken).split("RFM</a>")[0]
    # the previous run is never the run itself
    assert "There is no previous" in render_run_index(first, previous=copy.deepcopy(first))


def test_the_run_index_lists_the_files_for_people_of_each_report(tmp_path) -> None:
    run_dir = tmp_path / "20261201-000000-demo"
    (run_dir / "rfm_segments").mkdir(parents=True)
    (run_dir / "rfm_segments" / "Can't Lose Them.csv").write_text("x")
    (run_dir / "artifacts").mkdir()
    (run_dir / "artifacts" / "ab_decisions.csv").write_text("x")
    record = _record(run_dir.name, "2026-12-01T00:00:00+00:00", {}, run_dir=str(run_dir))
    html = render_run_index(record)
    assert 'href="rfm_segments/Can%27t%20Lose%20Them.csv"' in html
    assert "Member lists per RFM segment" in html
    assert 'href="artifacts/ab_decisions.csv"' in html
    assert "Action lists" not in html  # notebook 05 wrote none here


def test_collect_reads_what_display_and_show_really_output(run, monkeypatch) -> None:
    """The outputs segwork.display.warning/finding and summary.show produce, as a kernel records
    them (data and metadata): warnings become alerts, findings do not."""
    outputs = []

    def record(obj, metadata=None):
        outputs.append(
            new_output("display_data", data={"text/html": obj.data}, metadata=metadata or {})
        )

    monkeypatch.setattr("IPython.display.display", record)
    display.finding("Champions bring most.", title="Finding")
    display.warning("Few buyers <b>here</b>.\n\nRead with care.", title="Small sample")
    display.warning("Few buyers <b>here</b>.\n\nRead with care.", title="Small sample")
    summary.show(run["results"][0])
    d = summary.digest(run["results"][0])
    nb = new_notebook(cells=[new_code_cell("page.headline(result)")])
    nb.cells[0].outputs = outputs
    got = summary.collect(nbformat.reads(nbformat.writes(nb), as_version=4))
    assert got["headline"] == d.headline and got["numbers"] == d.to_dict()["numbers"]
    assert got["alerts"] == ["Small sample: Few buyers <b>here</b>. Read with care."]


def test_reports_without_their_main_data_say_so_in_their_digest(tiny_crm: Path) -> None:
    """No orders: the data digest counts the customers only; no personas: the page's reason."""
    from segwork.config import load_config
    from segwork.sources import load_tables
    from tests.test_clusters import simulate_survey

    cfg = write_config(tiny_crm, {"customers": {"path": "customers.csv"}})
    result = data_collection.run(load_tables(load_config(cfg)), analysis_date="2025-06-30")
    d = summary.digest(result)
    assert [(n.key, n.value) for n in d.numbers] == [("customers", 4.0)]
    assert d.headline == page_dc.headline_text(result)
    resp, cat, _ = simulate_survey(3, n=15, seed=2)
    step = personas.run(resp, cat, k_range=(2, 4), n_bootstrap=2)
    d = summary.digest(step)
    assert d.headline == "No personas could be formed from this survey: " + step.not_fitted
    assert d.numbers == [] and d.groups == {}


def test_decisions_per_campaign_and_per_segment() -> None:
    decisions = pd.DataFrame(
        {
            "campaign_id": ["spring", "autumn", "autumn"],
            "scope": ["whole campaign", "segment", "segment"],
            "target": ["all customers", "persona = Thrifty", "persona = Loyal"],
            "variant": ["offer", "B", "B"],
            "decision": ["roll out", "stop", "keep testing"],
        }
    )
    assert summary.decision_texts(decisions) == {
        "spring": "roll out (offer)",
        "autumn · persona = Thrifty": "stop (B)",
        "autumn · persona = Loyal": "keep testing (B)",
    }

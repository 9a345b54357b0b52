"""Pages 01, 03 and 05 are tables for people (issue 15): rendered on real step results of a small
demo, every table has plain labels, counts without '.00', money with its currency, no
e-notation; every figure is an image whose alt text says what it shows with a value from the
data; statistical detail sits in collapsed "For analysts" sections."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from segwork.config import load_config
from segwork.demo import write_demo
from segwork.rules import load_rules
from segwork.sources import load_tables
from segwork.steps import data_collection, rule_segments
from segwork.steps import personas as personas_step
from tests.conftest import write_config

CURRENCY = "CZK"

#: Column names of the frames these pages show; none may be a table header as it is.
RAW_NAMES = {
    # page 01
    "table", "rows", "customers", "from", "to", "column", "problem", "count", "unit", "action",
    "examples", "missing", "share", "customer_share", "revenue_share", "revenue_per_customer",
    "active_share", "revenue",
    # page 03
    "persona", "compared", "test", "note", "construct", "items", "reason", "respondents",
    "silhouette", "stability", "stability_sd", "min_cluster_jaccard", "calinski_harabasz",
    "davies_bouldin", "n_refits", "min_share", "name", "size", "k", "p_alive", "n_members",
    "share_missing",
    # page 05
    "segment", "rule", "owner", "members", "entered", "left", "action_type", "channel", "actions",
    "run_id", "run_at",
}  # fmt: skip

#: Headers of columns that count something: their cells are whole numbers, never '1,234.00'.
COUNT_HEADERS = {
    "Rows", "Distinct customers", "Count", "Rows with no value", "Customers", "Respondents",
    "Members", "Entered", "Left", "Actions", "Personas (k)", "Repeats (bootstrap refits)", "Items",
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# fixtures: one small demo, the three steps on it
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 400-customer demo CRM: its validated tables and the result of step 01 on them."""
    base = tmp_path_factory.mktemp("people")
    data = Path(write_demo(base / "demo", n_customers=400, seed=3))
    ref = pd.Timestamp(
        pd.read_json(data / "truth" / "truth.json", typ="series")["analysis_date"]
    ).normalize()
    names = {
        "customers": "customers.csv",
        "orders": "orders.parquet",
        "interactions": "interactions.parquet",
        "survey_responses": "survey_responses.csv",
        "survey_items": "survey_items.csv",
    }
    sources = {t: {"path": str(data / f)} for t, f in names.items()}
    cfg = write_config(base, sources, analysis_date=str(ref.date()), currency=CURRENCY)
    tables = load_tables(load_config(cfg))
    result = data_collection.run(tables, analysis_date=ref, currency=CURRENCY)
    return ref, tables, result


@pytest.fixture
def shown(monkeypatch):
    """Everything the pages display, as HTML strings; figures drawn off screen."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from segwork import display

    out: list[str] = []
    monkeypatch.setattr(display, "_html", lambda markup: out.append(str(markup)))
    return out


def _render(sections, result, shown: list[str], **kw) -> BeautifulSoup:
    import matplotlib.pyplot as plt

    for section in sections:
        before = len(shown)
        section(result, **kw.get(section.__name__, {}))
        assert len(shown) > before, section.__name__
    assert not plt.get_fignums(), "every figure is shown and closed"
    return BeautifulSoup("\n".join(shown), "html.parser")


def _tables(soup: BeautifulSoup) -> list[tuple[list[str], list[list[str]]]]:
    out = []
    for t in soup.find_all("table"):
        heads = [th.get_text(strip=True) for th in t.find_all("th")]
        rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in t.find_all("tr")]
        out.append((heads, [r for r in rows if r]))
    return out


def _column(tables, header: str) -> list[str]:
    return [row[h.index(header)] for h, rows in tables if header in h for row in rows]


def _check_tables_for_people(soup: BeautifulSoup) -> list:
    """The rules every table of these pages keeps; returns the tables for further checks."""
    tables = _tables(soup)
    assert tables
    for heads, rows in tables:
        for h in heads:
            assert h not in RAW_NAMES, f"raw column name as header: {h!r} in {heads}"
            assert "_" not in h, f"snake_case header: {h!r}"
        for row in rows:
            for cell in row:
                assert not re.search(r"\d[eE][+-]?\d", cell), f"e-notation: {cell!r}"
                assert cell not in ("nan", "NaT", "None", "<NA>"), heads
        for h in set(heads) & COUNT_HEADERS:
            for cell in _column([(heads, rows)], h):
                assert re.fullmatch(r"(-?\d{1,3}(,\d{3})*)?", cell), f"{h}: {cell!r} is no count"
    return tables


def _check_figures(soup: BeautifulSoup, expected: int) -> list[str]:
    """Every figure is an inline image with an alt text that holds a number from the data."""
    imgs = soup.find_all("img")
    assert len(imgs) == expected
    alts = [img.get("alt", "") for img in imgs]
    for img, alt in zip(imgs, alts, strict=True):
        assert img["src"].startswith("data:image/png;base64,")
        assert len(alt) > 40 and re.search(r"\d", alt), alt
    return alts


def _analysts(soup: BeautifulSoup) -> dict[str, BeautifulSoup]:
    """The "For analysts" sections by title; each is a collapsed <details>."""
    out = {}
    for summary in soup.find_all("summary"):
        title = summary.get_text(strip=True)
        if title.startswith("For analysts: "):
            details = summary.find_parent("details")
            assert details is not None and not details.has_attr("open")
            out[title.removeprefix("For analysts: ")] = details
    text = soup.get_text(" ")
    assert text.count("For analysts:") == len(out), "every analyst section is a <details>"
    return out


# --------------------------------------------------------------------------------------------
# page 01
# --------------------------------------------------------------------------------------------
def test_page_01_tables_and_figures_are_for_people(demo, shown) -> None:
    from segwork.display import pct
    from segwork.pages import data_collection as page

    _, _, result = demo
    sections = (
        page.headline,
        page.tables_read,
        page.validation,
        page.missing_values,
        page.orders_over_time,
        page.revenue_by_order_columns,
        page.customer360,
        page.customers_by_attribute,
        page.consent,
    )
    soup = _render(sections, result, shown)
    tables = _check_tables_for_people(soup)
    # the overview: table names in words, rows as counts matching the step's overview
    assert _column(tables, "Table")[: len(result.overview)] == [
        t.replace("_", " ") for t in result.overview["table"]
    ]
    assert _column(tables, "Rows")[: len(result.overview)] == [
        f"{int(n):,}" for n in result.overview["rows"]
    ]
    # figures: missing, monthly, one per order column, buyers, one per breakdown, consent
    n = 1 + 1 + len(result.order_breakdowns) + 1 + len(result.breakdowns) + 1
    alts = _check_figures(soup, n)
    worst = result.missing.iloc[0]
    assert pct(float(worst["share"])) in alts[0]
    assert f"{len(result.monthly)} months" in alts[1]
    consent = result.consent.iloc[0]
    assert f"{consent['channel']} {pct(float(consent['share']))}" in alts[-1]
    buyers = int(result.customer360["has_ordered"].sum())
    assert any(f"histograms of the {buyers:,} buyers" in a for a in alts)
    # the numbers behind the charts are for analysts, money with the currency
    analysts = _analysts(soup)
    assert set(analysts) == {
        "every column with missing values",
        "the numbers of the monthly charts",
        "net revenue by every value of the order columns",
        "the numbers of the charts by attribute",
    }
    months = _tables(analysts["the numbers of the monthly charts"])
    assert _column(months, "Orders") == [f"{int(n):,}" for n in result.monthly["orders"]]
    assert all(c.endswith(f" {CURRENCY}") for c in _column(months, "Net revenue"))
    by_column = _tables(analysts["net revenue by every value of the order columns"])
    assert len(by_column) == len(result.order_breakdowns)
    for (heads, rows), (column, by_value) in zip(
        by_column, result.order_breakdowns.items(), strict=True
    ):
        assert [r[0] for r in rows] == by_value[column].astype(str).tolist()[:100]
        assert all(r[heads.index("Net revenue")].endswith(f" {CURRENCY}") for r in rows)
    behind = _tables(analysts["the numbers of the charts by attribute"])
    revenue = _column(behind, "Net revenue")
    assert revenue and all(c.endswith(f" {CURRENCY}") for c in revenue if c)
    assert all(c.endswith("%") for c in _column(behind, "Share of customers"))
    missing = _tables(analysts["every column with missing values"])
    assert len(_column(missing, "Share of rows")) == len(result.missing)


def test_page_01_alt_texts_say_what_the_data_says() -> None:
    from segwork.pages import data_collection as page

    groups = pd.DataFrame(
        {
            "region": ["North", "South"],
            "customers": [30, 10],
            "customer_share": [0.75, 0.25],
            "revenue_share": [0.4, 0.6],
        }
    )
    assert page.breakdown_alt(groups, "region") == (
        "Bar chart of share of customers and of net revenue by region, 2 groups: North 75.0% "
        "of customers, 40.0% of revenue; South 25.0% of customers, 60.0% of revenue."
    )
    consent = pd.DataFrame({"channel": ["email", "SMS"], "customers": [5, 1], "share": [0.5, 0.1]})
    assert page.consent_alt(consent).endswith("email 50.0%; SMS 10.0%.")
    by_value = pd.DataFrame({"channel": ["web", "shop", "phone"], "revenue": [5000.0, 3e6, 20]})
    alt = page.revenue_by_alt(by_value, "channel", currency="EUR", shown=2)
    assert alt.startswith("Bar chart of net revenue by channel (3 values, the 2 largest shown)")
    assert "web 5,000 EUR; shop 3.0 M EUR" in alt and "phone" not in alt


# --------------------------------------------------------------------------------------------
# page 03
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def personas_result(demo):
    _, tables, dc = demo
    return personas_step.run(
        tables.survey_responses,
        tables.survey_items,
        dc.customer360,
        consent=tables.customers,
        k_range=(2, 4),
        n_bootstrap=3,
        currency=CURRENCY,
    )


def test_page_03_statistics_are_for_analysts(personas_result, shown) -> None:
    from segwork.pages import personas as page

    step = personas_result
    assert step.fitted and step.behaviour is not None and step.behaviour.available
    res = step.personas
    sections = (
        page.overview,
        page.k_choice,
        page.profiles,
        page.behaviour,
        page.projection,
        page.survey_quality,
    )
    soup = _render(sections, step, shown)
    tables = _check_tables_for_people(soup)
    alts = _check_figures(soup, 3)
    assert f"{res.k} is marked as chosen" in alts[0]
    assert f"silhouette {float(res.sweep.loc[res.k, 'silhouette']):.2f}" in alts[0]
    assert alts[1].startswith(f"Heatmap of {res.k} personas")
    assert all(name in alts[1] for name in res.profiles["name"])
    assert f"Scatter map of {len(res.projection):,} respondents" in alts[2]
    # money with the currency in the behaviour table, which stays in the page's main text
    heads = [h for h, _ in tables if any(x.startswith("Revenue, last") for x in h)]
    assert len(heads) == 1
    revenue = [h for h in heads[0] if h.startswith("Revenue, last") and h.endswith("(mean)")]
    cells = _column(tables, revenue[0])
    assert len(cells) == res.k + 1  # the personas and "all"
    assert all(c.endswith(f" {CURRENCY}") for c in cells)
    analysts = _analysts(soup)
    assert set(analysts) == {
        "every number of personas tried",
        "the numbers of the chart",
        "the tests",
        "reliability, missing answers and the saved model",
    }
    # the k sweep: one row per k tried, the chosen one marked
    sweep = _tables(analysts["every number of personas tried"])
    assert _column(sweep, "Personas (k)") == [str(k) for k in res.sweep.index]
    assert _column(sweep, "Chosen") == ["yes" if k == res.k else "" for k in res.sweep.index]
    # tests, reliability and the model note are inside the collapsed sections, not outside
    tests = analysts["the tests"]
    assert "Kruskal-Wallis test of the personas' distributions" in tests.get_text()
    assert "p (Holm-adjusted)" in [th.get_text() for th in tests.find_all("th")]
    quality = analysts["reliability, missing answers and the saved model"].get_text()
    assert "Cronbach's alpha" in quality and "persona_model.skops" in quality
    for details in analysts.values():
        details.decompose()
    main = soup.get_text(" ")
    assert "Holm-adjusted)" not in main.split("What the tests show")[0]
    assert "persona_model.skops" not in main
    assert "Reliability of each construct" not in main


def test_page_03_sweep_and_reliability_words() -> None:
    from segwork.pages import personas as page

    sweep = pd.DataFrame(
        {
            "silhouette": [0.31, 0.37, 0.2],
            "stability": [0.99, 0.97, 0.6],
            "min_cluster_jaccard": [1.0, 0.95, 0.5],
            "calinski_harabasz": [1234.5, 1500.25, 1000.0],
            "n_refits": [10, 10, 2],
        },
        index=pd.Index([2, 3, 4], name="k"),
    )
    sweep.attrs["chosen_k"] = 3
    assert page.k_choice_alt(sweep, 3) == (
        "Line chart of separation (silhouette) and reproducibility for 2 to 4 personas; 3 is "
        "marked as chosen (silhouette 0.37, agreement of the repeats 0.97, least reproducible "
        "persona 0.95)."
    )
    table = page.sweep_table(sweep)
    assert table.frame["chosen"].tolist() == ["", "yes", ""]
    assert "bic" not in table.frame  # only the indices the sweep filled
    rel = pd.DataFrame({"alpha": [0.81, 0.9], "weak": [False, False]}, index=["price", "quality"])
    assert page.reliability_text(rel) == (
        "All 2 constructs are measured reliably: Cronbach's alpha from 0.81 to 0.90 (0.7 or more "
        "is the usual bar)."
    )
    assert page.reliability_text(rel.assign(weak=[True, False])) == ""


# --------------------------------------------------------------------------------------------
# page 05
# --------------------------------------------------------------------------------------------
RULES = """
rules:
  - name: Big spenders
    description: Bought for more than 20,000 in the last year
    rule: revenue_365d > 20000
    owner: Sales
    action: {type: task, template: "Thank $name", due_in_days: 7}
  - name: Lapsed
    rule: last_order_date older than 6 months
    action: {type: email, template: "We miss you, $name", due_in_days: 1}
  - name: Active buyers
    rule: orders_365d >= 2
"""


def test_page_05_tables_and_figures_are_for_people(demo, shown) -> None:
    from segwork.pages import rule_segments as page

    ref, _, dc = demo
    customers = dc.customer360
    first = rule_segments.run(
        customers, load_rules(RULES), run_id="run-1", today=ref, history=[], published=[]
    )
    record = {"run_id": "run-1", "started": f"{(ref - pd.Timedelta(days=7)).isoformat()}"}
    result = rule_segments.run(
        customers,
        load_rules(RULES),
        run_id="run-2",
        today=ref,
        history=[(record, first.members.reset_index())],
        ledger=first.ledger.events(),
        published=["run-1"],
        first_run="entered",
    )
    # the first run issues actions: render its lists, then the second run's page in full
    page.actions(first)
    sections = (
        page.headline,
        page.segments,
        page.overlap,
        page.exclusive,
        page.sizes,
        page.actions,
    )
    soup = _render(sections, result, shown, segments={"currency": CURRENCY})
    tables = _check_tables_for_people(soup)
    # actions of the first run: counts per segment and type
    counts = first.counts
    assert len(counts) and _column(tables, "Actions")[: len(counts)] == [
        f"{n:,}" for n in counts["actions"]
    ]
    # the segments: members as counts, shares in per cent, revenue in full with the currency
    seg = [(h, rows) for h, rows in tables if "What it selects" in h]
    assert len(seg) == 1
    heads = seg[0][0]
    money_header = [h for h in heads if h.startswith("Net revenue, last")][0]
    fmt = page.kpi_formats(result.kpis, currency=CURRENCY)["revenue"]
    assert fmt.endswith(f"}} {CURRENCY}")
    kpis = result.kpis.set_index("segment")
    assert _column(seg, money_header) == [
        fmt.format(kpis.loc[s, "revenue"]) for s in _column(seg, "Segment")
    ]
    assert _column(seg, "Members") == [
        f"{int(kpis.loc[s, 'members']):,}" for s in _column(seg, "Segment")
    ]
    assert all(c.endswith("%") for c in _column(seg, "Share"))
    # what each segment selects in words (the rule itself where the file gives no description)
    assert _column(seg, "What it selects") == [
        "Bought for more than 20,000 in the last year",
        "last_order_date older than 6 months",
        "orders_365d >= 2",
    ]
    alts = _check_figures(soup, 2)
    overlap = result.overlap()
    assert alts[0].startswith("Heatmap of how 3 segments overlap")
    assert re.search(r"the largest: \d+% of '", alts[0])
    last = result.sizes.sort_values("run_at").groupby("segment")["members"].last()
    assert alts[1].startswith("Line chart of members per segment at 2 runs")
    assert all(f"{s} {int(n):,}" in alts[1] for s, n in last.items())
    analysts = _analysts(soup)
    assert set(analysts) == {
        "the rules as written",
        "the numbers of the heatmap",
        "members per segment at each run",
    }
    written = _tables(analysts["the rules as written"])
    assert _column(written, "Rule") == [str(r.rule) for r in result.ruleset]
    assert _column(written, "Columns it reads")[0] == "revenue_365d"
    heat = _tables(analysts["the numbers of the heatmap"])
    assert heat[0][0] == ["Segment", *map(str, overlap.columns)]
    assert all(c.endswith("%") for c in _column(heat, str(overlap.columns[0])))


def test_page_05_alt_texts() -> None:
    from segwork.pages import rule_segments as page

    overlap = pd.DataFrame([[1.0, 0.2], [0.5, 1.0]], index=["A", "B"], columns=["A", "B"])
    assert page.overlap_alt(overlap).endswith("the largest: 50% of 'B' are also in 'A'.")
    table = page.overlap_table(overlap.assign(B=[0.004, 1.0]))
    assert table.to_dict("list") == {
        "segment": ["A", "B"],
        "A": ["100.00%", "50.00%"],
        "B": ["0.40%", "100.00%"],
    }
    assert page.overlap_table(overlap)["B"].tolist() == ["20.0%", "100.0%"]
    none = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], index=["A", "B"], columns=["A", "B"])
    assert page.overlap_alt(none).endswith(": no two segments share a customer.")
    sizes = pd.DataFrame(
        {
            "run_id": ["r1", "r1", "r2", "r2"],
            "run_at": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01", "2025-02-01"]),
            "segment": ["A", "B", "A", "B"],
            "members": [10, 2000, 12, 1500],
        }
    )
    assert page.sizes_alt(sizes) == (
        "Line chart of members per segment at 2 runs; members at the latest run: A 12 (first "
        "10); B 1,500 (first 2,000)."
    )
    formats = page.kpi_formats(pd.DataFrame({"revenue": [1e6, 2e6]}), currency="EUR")
    assert formats["revenue"].format(1234567.0) == "1,234,567 EUR"
    assert formats["members"] == "count" and formats["share"] == "pct"


def test_page_03_without_consent_or_customers_names_the_column_only_for_analysts(shown) -> None:
    from segwork.pages import personas as page
    from tests.test_clusters import simulate_survey

    resp, cat, _ = simulate_survey(3, n=300, seed=4)
    step = personas_step.run(resp, cat, k_range=(2, 4), n_bootstrap=2)
    assert step.fitted and step.consent_source == "none"
    soup = _render((page.behaviour, page.survey_quality), step, shown)
    _check_tables_for_people(soup)
    analysts = _analysts(soup)
    quality = analysts["reliability, missing answers and the saved model"]
    assert "no respondent was left out for consent" in quality.get_text()
    quality.decompose()
    assert "profiling_consent" not in soup.get_text()
    assert "No customer data was given." in soup.get_text()


def test_alt_texts_of_empty_or_incomplete_data() -> None:
    from segwork.pages import data_collection as p01
    from segwork.pages import personas as p03
    from segwork.pages import rule_segments as p05

    overlap = pd.DataFrame([[1.0, float("nan")], [0.0, 1.0]], index=["A", "B"], columns=["A", "B"])
    assert p05.overlap_table(overlap)["B"].tolist() == ["", "100.0%"]
    assert p05.overlap_alt(overlap).endswith(": no two segments share a customer.")
    empty = pd.DataFrame(columns=["month", "orders", "returns", "revenue", "partial"])
    assert p01.monthly_alt(empty, currency="EUR").startswith("Two empty line charts")
    sweep = pd.DataFrame({"silhouette": [0.3, float("nan")]}, index=pd.Index([2, 3], name="k"))
    assert p03.k_choice_alt(sweep, 3).endswith("3 is marked as chosen.")
    assert p03.k_choice_alt(sweep, 2).endswith("(silhouette 0.30).")

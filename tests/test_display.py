"""segwork.display: tables for people (kinds, labels, sorting and search), analyst sections,
figures with alt text, and the metadata of findings and warnings."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from segwork import display


class _Cells(HTMLParser):
    """Header texts, cell texts and cell data-sort values of the first table in some markup."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[str] = []
        self.rows: list[list[str]] = []
        self.sorts: list[list[str | None]] = []
        self._where: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "th":
            self._where = "th"
            self.heads.append("")
        elif tag == "tr" and self.heads:
            self.rows.append([])
            self.sorts.append([])
        elif tag == "td":
            self._where = "td"
            self.rows[-1].append("")
            self.sorts[-1].append(dict(attrs).get("data-sort"))

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._where = None

    def handle_data(self, data):
        if self._where == "th":
            self.heads[-1] += data
        elif self._where == "td":
            self.rows[-1][-1] += data


def _parse(markup: str) -> _Cells:
    p = _Cells()
    p.feed(markup)
    p.rows = [r for r in p.rows if r]
    p.sorts = [s for s in p.sorts if s]
    return p


def _column(markup: str, i: int = 0) -> list[str]:
    return [r[i] for r in _parse(markup).rows]


def test_each_kind_writes_numbers_for_people() -> None:
    df = pd.DataFrame(
        {
            "n": [12.0, 1234567.0],
            "share": [0.1234, 0.5],
            "tiny": [6.5e-08, 0.25],
            "p": [1e-9, 0.0432],
            "paid": [2016.0, 12_345_678.0],
            "when": [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-04 10:30")],
        }
    )
    markup = display.table_html(
        df,
        formats={
            "n": "count",
            "share": "pct",
            "tiny": "number",
            "p": "p_value",
            "paid": "money",
            "when": "date",
        },
        currency="EUR",
    )
    assert _column(markup, 0) == ["12", "1,234,567"]
    assert _column(markup, 1) == ["12.3%", "50.0%"]
    shares = display.table_html(pd.DataFrame({"s": [0.203, 0.0003, 0.0]}), formats={"s": "pct"})
    assert _column(shares) == ["20.3%", "< 0.1%", "0.0%"]  # one decimal; tiny said so
    small = display.table_html(pd.DataFrame({"s": [0.0012, 0.0051]}), formats={"s": "pct"})
    assert _column(small) == ["0.12%", "0.51%"]  # all below 1%: the decimals they need
    tiny = _column(markup, 2)
    assert tiny[0] == "< 0.0001" and tiny[1] == "0.2500"  # fixed decimals, never 6.5e-08
    assert _column(markup, 3) == ["< 0.001", "0.043"]
    assert _column(markup, 4) == ["2,016 EUR", "12.3 M EUR"]
    assert _column(markup, 5) == ["2024-01-02", "2024-03-04 10:30"]
    assert not re.search(r"\d[eE][+-]?\d", "".join(sum(_parse(markup).rows, [])))


def test_whole_floats_are_counts_and_no_float_anywhere_in_e_notation() -> None:
    df = pd.DataFrame(
        {
            "orders": [3.0, 1200.0, np.nan],
            "small": [6.5e-08, 1e-12, 3.0],
            "mixed": pd.Series([2.5e-07, "text", 4], dtype=object),
            "old": [1e-20, 2.0, 3.0],
        }
    )
    markup = display.table_html(df, formats={"old": "{:.3g}"})
    cells = sum(_parse(markup).rows, [])
    assert _column(markup, 0) == ["3", "1,200", ""]  # no ".00" on counts, no "nan"
    assert not any(re.search(r"\d[eE][+-]?\d", c) for c in cells), cells
    assert _column(markup, 1)[0].startswith("< 0.")
    assert _column(markup, 2)[1:] == ["text", "4"]
    assert _column(markup, 3)[1:] == ["2", "3"]  # the old format string still applies


def test_old_format_strings_and_defaults_keep_working() -> None:
    df = pd.DataFrame({"x": [1234.5678, 2.5], "k": [1, 22]})
    markup = display.table_html(df, formats={"x": "{:,.1f}"})
    assert _column(markup, 0) == ["1,234.6", "2.5"]
    assert _column(markup, 1) == ["1", "22"]
    assert _column(display.table_html(pd.DataFrame({"y": [1.234, 5.0]}))) == ["1.23", "5.00"]


def test_plain_labels_and_de_snaked_unknown_columns() -> None:
    df = pd.DataFrame(
        {
            "p_alive": [0.5],
            "clv_12m": [10.0],
            "brier_baseline": [0.2],
            "n_per_arm_needed": [100],
            "propensity_90d": [0.1],
            "days_since_signup_x": [3],
            "mine": [1],
        }
    )
    heads = _parse(display.table_html(df, labels={"mine": "My own words"})).heads
    assert heads == [
        "Chance still active",
        "Value, next 12 months",
        "Error of the simple baseline (Brier)",
        "Customers needed per group",
        "Chance of a purchase, next 90 days",
        "Days since signup x",
        "My own words",
    ]
    assert not any("_" in h for h in heads)


def test_data_is_escaped_in_cells_captions_labels_and_alt_text() -> None:
    evil = "<script>alert(1)</script>"
    df = pd.DataFrame({evil: [evil], "b": [1]})
    markup = display.table_html(df, caption=evil, labels={"b": evil})
    assert "<script>alert" not in markup
    assert (
        markup.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5
    )  # 2 headers, cell, its data-sort, caption
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    img = display.figure_html(fig, alt=f"chart of {evil} 'quoted'")
    assert "<script>" not in img and "&lt;script&gt;" in img and "&#x27;quoted&#x27;" in img
    assert "<script>" not in display.for_analysts_html(evil, display.text_html(evil))
    assert "<script>" not in display.box_html(evil, title=evil)


def test_long_tables_are_sortable_and_searchable_offline_short_ones_plain() -> None:
    long = pd.DataFrame({"customers": np.arange(20) * 1000.0, "name": [f"c{i}" for i in range(20)]})
    markup = display.table_html(long)
    assert "<script>" in markup and "Search this table" in markup and "aria-sort" in markup
    assert "http" not in markup and "src=" not in markup  # nothing fetched from a network
    short = display.table_html(long.head(15))
    assert "<script" not in short and "Search this table" not in short
    assert "<script>" in display.table_html(long.head(3), interactive=True)
    assert "<script" not in display.table_html(long, interactive=False)
    # the table itself is complete HTML before the script (readable with JavaScript off)
    assert markup.index("</table>") < markup.index("<script>")


def test_data_sort_holds_the_raw_value() -> None:
    df = pd.DataFrame(
        {
            "paid": [12_345_678.0, 7.5],
            "share": [0.1234, np.nan],
            "text": ["+1.2 pp [0.1, 2.3]", "b"],
        }
    )
    p = _parse(display.table_html(df, formats={"paid": "money", "share": "pct"}, currency="CZK"))
    assert p.rows[0][:2] == ["12.3 M CZK", "12.3%"]
    assert [float(s[0]) for s in p.sorts] == [12_345_678.0, 7.5]
    assert float(p.sorts[0][1]) == pytest.approx(0.1234) and p.sorts[1][1] == ""
    assert float(p.sorts[0][2]) == pytest.approx(1.2) and p.sorts[1][2] == "b"


def test_max_rows_says_how_many_are_shown() -> None:
    df = pd.DataFrame({"x": range(50)})
    markup = display.table_html(df, max_rows=20)
    assert len(_parse(markup).rows) == 20 and "Showing 20 of 50 rows." in markup


def test_for_analysts_is_one_collapsed_section_with_its_parts() -> None:
    table = display.table_html(pd.DataFrame({"auc": [0.71]}))
    markup = display.for_analysts_html("model check", table, display.text_html("a < b"))
    assert markup.startswith("<details") and markup.endswith("</details>")
    assert markup.count("<details") == 1
    assert "<summary" in markup and "For analysts: model check</summary>" in markup
    assert table in markup and "a &lt; b" in markup
    shown = []
    import segwork.display as d

    orig = d._html
    try:
        d._html = shown.append
        display.for_analysts("x", "<p>one</p>", "<p>two</p>")
    finally:
        d._html = orig
    assert len(shown) == 1 and "<p>one</p><p>two</p>" in shown[0]


def test_figure_html_is_an_inline_png_with_alt_text_and_closes_the_figure() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    markup = display.figure_html(fig, alt="Bar chart of two groups; largest: b, 2")
    assert "src='data:image/png;base64," in markup
    assert "alt='Bar chart of two groups; largest: b, 2'" in markup
    assert not plt.fignum_exists(fig.number)


def test_finding_and_warning_carry_metadata_for_the_run_summary(monkeypatch) -> None:
    import IPython.display

    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **k: calls.append((obj, k)))
    display.warning("Few <customers>", title="Small sample")
    display.finding("It worked")
    display.explain("plain")
    (w, wk), (f, fk), (e, ek) = calls
    assert wk["metadata"] == {
        "segwork": {"kind": "warning", "title": "Small sample", "text": "Few <customers>"}
    }
    assert (
        fk["metadata"]["segwork"]["kind"] == "finding"
        and fk["metadata"]["segwork"]["title"] == "Finding"
    )
    assert "Few &lt;customers&gt;" in w.data and "metadata" not in ek


def test_page_table_carries_labels_and_currency() -> None:
    t = display.PageTable(
        pd.DataFrame({"revenue": [2016.0]}), {"revenue": "money"}, "A note.", currency="USD"
    )
    markup = display.page_table_html(t, caption="Money")
    assert "2,016 USD" in markup and "Net revenue" in markup and "A note." in markup


@pytest.mark.browser
def test_sorting_and_search_work_from_a_file_without_console_errors(tmp_path) -> None:
    """Chromium, offline, file://: a header click sorts numbers numerically (by data-sort, not
    by the text '12.3 M CZK'), the search box filters rows, and nothing logs an error."""
    import shutil

    from tests import browser

    if not shutil.which(browser.CHROMIUM) or not pytest.importorskip("playwright"):
        pytest.skip("no Chromium")
    df = pd.DataFrame(
        {
            "name": [f"customer {i}" for i in range(20)],
            "revenue": [9.0, 12_345_678.0, 150.0, np.nan] + [1000.0 + i for i in range(16)],
        }
    )
    page_file = tmp_path / "t.html"
    page_file.write_text(
        "<!doctype html><html><body>"
        + display.table_html(df, formats={"revenue": "money"}, currency="CZK")
        + display.table_html(df.head(3), caption="short")
        + "</body></html>",
        encoding="utf-8",
    )
    with browser.chromium(tmp_path) as context:
        rec, page = browser.load(context, page_file)
        assert rec.problems == []
        assert page.locator("input[type=search]").count() == 1  # only the long table has one
        col = "els => els.map(e => e.cells[1].textContent)"
        page.locator("th").nth(1).click()
        up = page.eval_on_selector_all(
            "#" + page.locator(".segwork-table-box").first.get_attribute("id") + " tbody tr", col
        )
        assert up[:3] == ["9.00 CZK", "150 CZK", "1,000 CZK"] and up[-1] == ""  # empty last
        assert up[-2] == "12.3 M CZK"
        page.locator("th").nth(1).click()
        down = page.eval_on_selector_all(".segwork-table-box tbody tr", col)
        assert down[0] == "12.3 M CZK"
        page.fill("input[type=search]", "customer 1")
        visible = page.eval_on_selector_all(
            ".segwork-table-box:first-child tbody tr",
            "els => els.filter(e => e.style.display !== 'none').length",
        )
        assert visible == 11  # customer 1 and customer 10..19
        assert rec.console_errors == [] and rec.page_errors == []


def test_words_read_inside_a_sentence_and_money_keeps_its_exact_amount_on_hover() -> None:
    assert display.words("rfm_segment") == "RFM segment"
    assert display.words("customer_type") == "customer type" and display.words("tier") == "tier"
    assert display.label("z_price_sensitivity") == "Price sensitivity (standardised)"
    markup = display.table_html(
        pd.DataFrame({"revenue": [109_791_656.0]}), formats={"revenue": "money"}, currency="CZK"
    )
    assert ">109.8 M CZK<" in markup and "title='109,791,656 CZK'" in markup

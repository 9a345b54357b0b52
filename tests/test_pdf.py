"""PDFs printed by headless Chromium (segwork.pdf), the PDF customer lists (segwork.exports), and
the report template's table of contents and print stylesheet (templates/segwork_report)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from segwork import exports, pdf
from segwork.actions import ActionLedger, build_actions, write_actions
from segwork.exports import MemberFiles
from segwork.pdf import PdfError, find_chromium, page_count, write_pdf
from segwork.report import external_references, render_notebook_html


@pytest.fixture
def chromium_installed() -> str:
    """The Chromium segwork prints with; its absence is a failure, not a skip (as in the
    browser tests of test_end_to_end)."""
    try:
        return find_chromium()
    except PdfError as exc:
        pytest.fail(
            f"{exc}. Or leave these tests out with make test PYTEST_ARGS='-m \"not browser\"'"
        )


def needs_chromium(test):
    """Mark a test that prints with Chromium (marker ``browser``)."""
    return pytest.mark.browser(pytest.mark.usefixtures("chromium_installed")(test))


def _pages_html(n: int, extra: str = "") -> str:
    """A page that prints as exactly ``n`` A4 pages: one short section per page."""
    sections = "".join(
        f'<section style="break-after: page">Page {i + 1}</section>' for i in range(n - 1)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>@page { size: A4; }</style>"
        f"</head><body>{sections}<section>Page {n}</section>{extra}</body></html>"
    )


def _root_count(data: bytes) -> int:
    """Pages as the root page tree counts them (its /Count is the largest): an independent count
    from the one write_pdf returns (page objects)."""
    return max(int(n) for n in re.findall(rb"/Count (\d+)", data))


# ------------------------------------------------------------------------------- write_pdf


@needs_chromium
def test_write_pdf_prints_a_valid_pdf_and_counts_its_pages(tmp_path: Path) -> None:
    page = tmp_path / "three.html"
    page.write_text(_pages_html(3), encoding="utf-8")
    out = tmp_path / "out" / "three.pdf"
    n = write_pdf(page, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert n == 3 == _root_count(data) == page_count(data)
    # A4 portrait: 595 x 842 points
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box and round(float(box[1])) == 595 and round(float(box[2])) == 842
    # written atomically: no temporary file is left beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["three.pdf"]


@needs_chromium
def test_the_same_page_gives_the_same_pdf(tmp_path: Path) -> None:
    page = tmp_path / "one.html"
    page.write_text(_pages_html(1), encoding="utf-8")
    assert write_pdf(page, tmp_path / "a.pdf") == 1
    assert write_pdf(page, tmp_path / "b.pdf") == 1
    a, b = (tmp_path / "a.pdf").read_bytes(), (tmp_path / "b.pdf").read_bytes()
    assert a == b
    assert b"/CreationDate (D:20000101000000" in a  # the time of printing is not recorded


@needs_chromium
def test_printing_needs_no_network(tmp_path: Path) -> None:
    """A page that refers to the internet still prints, at once: nothing is fetched."""
    page = tmp_path / "net.html"
    page.write_text(
        _pages_html(2, '<img src="https://example.com/logo.png" alt="logo">'), encoding="utf-8"
    )
    assert write_pdf(page, tmp_path / "net.pdf", timeout_s=60) == 2


@needs_chromium
def test_a_page_that_never_finishes_is_stopped(tmp_path: Path) -> None:
    page = tmp_path / "busy.html"
    page.write_text("<html><body><script>for(;;){}</script></body></html>", encoding="utf-8")
    with pytest.raises(PdfError, match=r"took longer than 3 s .*pdf: false"):
        write_pdf(page, tmp_path / "busy.pdf", timeout_s=3)
    assert not (tmp_path / "busy.pdf").exists()


def test_missing_chromium_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pdf.CHROMIUM_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    monkeypatch.setattr(pdf, "CHROMIUM_DEFAULT", str(tmp_path / "no-chromium"))
    with pytest.raises(PdfError, match=r"install Chromium.*set pdf: false in the config"):
        find_chromium()
    page = tmp_path / "p.html"
    page.write_text(_pages_html(1), encoding="utf-8")
    with pytest.raises(PdfError, match="Chromium is needed to write PDFs"):
        write_pdf(page, tmp_path / "p.pdf")
    assert not (tmp_path / "p.pdf").exists()


def test_the_chromium_named_by_the_environment_is_used_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(PdfError, match=r"SEGWORK_CHROMIUM=.*nowhere.*pdf: false"):
        find_chromium()
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(fake))
    assert find_chromium() == str(fake)
    page = tmp_path / "p.html"
    page.write_text(_pages_html(1), encoding="utf-8")
    with pytest.raises(PdfError, match=r"exit code 3\): cannot open display"):
        write_pdf(page, tmp_path / "p.pdf")


def test_a_missing_page_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="no such file"):
        write_pdf(tmp_path / "absent.html", tmp_path / "absent.pdf")


# ------------------------------------------------------------------------ customer lists


def _customers(n: int) -> pd.DataFrame:
    ids = [f"C{i:06d}" for i in range(n)]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "name": [
                "<script>alert(1)</script> Nováková" if i == 0 else f"Zákazník {i}"
                for i in range(n)
            ],
            "email": [f"c{i}@example.cz" for i in range(n)],
            "phone": ["=1+1" if i == 1 else f"+420 600 {i:06d}" for i in range(n)],
            "revenue_365d": [1000.0 + i / 3 for i in range(n)],
            "orders_total": list(range(n)),
            "email_opt_in": [i % 2 == 0 for i in range(n)],
            "internal_score": [0.5] * n,  # not one of the PDF's columns
        }
    ).set_index("customer_id")


def _tbody_rows(page: str) -> int:
    return page.split("<tbody>", 1)[1].count("<tr>")


def test_the_pdf_list_page_is_capped_escaped_and_says_where_the_full_list_is() -> None:
    customers = _customers(exports.PDF_MAX_ROWS + 150).reset_index()
    page = exports.pdf_list_html(
        customers,
        title="VIP <b>",
        what="customers",
        full_list="vip.csv",
        columns=exports.PDF_MEMBER_COLUMNS,
    )
    body = page.split("<body>", 1)[1]
    n = exports.PDF_MAX_ROWS
    first = re.match(r'<p class="note">([^<]*)</p>', body)
    assert first, body[:200]  # the note is the first line of the page
    assert first[1] == (
        f"{n + 150:,} customers; this PDF lists the first {n:,}. "
        "The full list (every row and all columns) is in vip.csv."
    )
    assert _tbody_rows(page) == n
    assert "<h1>VIP &lt;b&gt;</h1>" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Nováková" in body and "<script>" not in page
    assert "<td>=1+1</td>" in body  # not neutralised in print (nothing executes a PDF's text)
    heads = re.findall(r"<th>([^<]*)</th>", body)
    assert heads == ["customer_id", "name", "email", "phone", "revenue_365d"]
    assert "<td>1000.33</td>" in body and "internal_score" not in body


def test_a_short_list_is_whole_and_a_list_without_csv_says_how_to_get_one() -> None:
    customers = _customers(3).reset_index()
    page = exports.pdf_list_html(customers, title="Few", what="customers", full_list=None)
    assert _tbody_rows(page) == 3
    assert (
        "3 customers. The full list (every row) is in the CSV export: add csv to the formats "
        "to write it." in page
    )
    assert "<td>yes</td>" in page and "<td>no</td>" in page


@needs_chromium
def test_member_files_write_a_capped_pdf_beside_the_csv(tmp_path: Path) -> None:
    n = exports.PDF_MAX_ROWS + 100
    customers = _customers(n)
    members = pd.DataFrame({"VIP buyers": [True] * n, "Nobody": [False] * n}, index=customers.index)
    files = MemberFiles(members, customers, formats=("csv", "pdf")).write(tmp_path)
    assert sorted(p.name for p in files) == [
        "nobody.csv",
        "nobody.pdf",
        "vip_buyers.csv",
        "vip_buyers.pdf",
    ]
    data = (tmp_path / "vip_buyers.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    pages = page_count(data)
    assert pages == _root_count(data)
    # 2,000 rows, not 2,100 and not a handful: between 25 and 80 rows a page
    assert exports.PDF_MAX_ROWS / 80 < pages < exports.PDF_MAX_ROWS / 25, pages
    csv = pd.read_csv(tmp_path / "vip_buyers.csv", encoding="utf-8-sig")
    assert len(csv) == n  # the CSV keeps every row
    assert page_count((tmp_path / "nobody.pdf").read_bytes()) == 1  # "0 customers." and a header


@needs_chromium
def test_action_lists_as_pdf(tmp_path: Path) -> None:
    customers = _customers(40)
    customers["owner"] = "Eva"
    customers["phone_opt_in"] = True
    entered = pd.DataFrame(
        {"customer_id": customers.index[:30], "segment": "VIP", "change": "entered"}
    )
    acts = {"VIP": [{"type": "task", "template": "Call $name", "due_in_days": 7}]}
    lists = build_actions(
        entered,
        customers,
        acts,
        run_id="r-42",
        today=pd.Timestamp("2025-06-30"),
        ledger=ActionLedger(),
    )
    out = write_actions(lists, tmp_path, ("csv", "pdf"))
    assert {"tasks.pdf", "emails.pdf", "calls.pdf", "tasks.csv"} <= set(out)
    assert page_count(out["tasks.pdf"].read_bytes()) >= 1
    page = exports.pdf_list_html(
        lists.tasks, **exports._action_pdf_args(lists.tasks, "tasks", full_list="tasks.csv")
    )
    assert "<h1>Tasks, run r-42</h1>" in page and "<th>run_id</th>" not in page
    assert "30 tasks. The full list (every row and all columns) is in tasks.csv." in page
    assert _tbody_rows(page) == 30


def test_pdf_is_an_export_format_and_a_wrong_one_is_named() -> None:
    assert "pdf" in exports.FORMATS
    assert exports.check_formats(["csv", "pdf", "csv"]) == ("csv", "pdf")
    with pytest.raises(exports.ExportError, match=r"'pfd'.*did you mean 'pdf'"):
        exports.check_formats(["pfd"])


# ------------------------------------------------------------- table of contents, print CSS


def _notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# The report\n\nWhat it answers."),
        nbformat.v4.new_markdown_cell("## Sales & returns: 5 < 7\n\ntext\n\n### By region"),
        nbformat.v4.new_code_cell("x = 1"),  # no output: dropped
        nbformat.v4.new_markdown_cell("## Hidden section", metadata={"tags": ["remove"]}),
        nbformat.v4.new_markdown_cell("```\n## not a heading\n```\n\n## Who *buys* `again`"),
    ]
    path = tmp_path / "07_test.ipynb"
    nbformat.write(nb, path)
    return path


def test_each_report_page_has_a_table_of_contents_of_in_page_links(tmp_path: Path) -> None:
    html = render_notebook_html(_notebook(tmp_path), tmp_path / "07_test.html").read_text(
        encoding="utf-8"
    )
    nav = re.search(r'<nav aria-label="On this page" class="segwork-toc">(.*?)</nav>', html, re.S)
    assert nav, "no table of contents"
    links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', nav[1])
    assert [text for _, text in links] == [
        "Sales &amp; returns: 5 &lt; 7",
        "By region",
        "Who buys again",
    ]
    ids = set(re.findall(r'<h[23] id="([^"]*)"', html))
    for href, _ in links:
        assert href.startswith("#") and href[1:] in ids, href  # in-page anchors only
    assert "Hidden section" not in html and "not a heading</a>" not in html
    # the h3 is nested under its h2
    assert re.search(r"7</a><ol>\s*<li><a href=\"#By-region\">", nav[1])
    # placed after the run header, before the first cell
    assert html.index('class="segwork-header"') < nav.start() < html.index('class="jp-Cell ')


def test_report_pages_carry_the_print_stylesheet_inline(tmp_path: Path) -> None:
    html = render_notebook_html(_notebook(tmp_path), tmp_path / "07_test.html").read_text(
        encoding="utf-8"
    )
    style = re.search(r'<style id="segwork-print">(.*?)</style>', html, re.S)
    assert style, "no print stylesheet"
    css = style[1]
    assert "size: A4 portrait" in css and "@media print" in css
    assert "max-width: 100% !important" in css and ".segwork-table-tools" in css
    assert external_references(html) == []

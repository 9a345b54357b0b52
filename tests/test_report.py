"""segwork.report: stakeholder HTML (no code, offline, figures inline) and the index pages.

The notebooks here are written with their outputs already in place (no kernel), so these tests
are fast; tests/test_pipeline.py checks the same pages after real papermill runs.
"""

from __future__ import annotations

import base64
import io
import re
import stat
from pathlib import Path

import matplotlib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from segwork import report
from segwork.progress import format_seconds
from segwork.report import (
    external_references,
    format_size,
    format_when,
    render_notebook_html,
    render_reports_index,
    render_run_index,
)

matplotlib.use("Agg")  # only to draw a PNG for a hand-made output; the tests do not run kernels

MALICIOUS = "<script>alert(1)</script>"


def _png() -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.plot([0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture
def executed(tmp_path: Path) -> tuple[Path, str]:
    """An 'executed' notebook: markdown with math, prints, a figure, a widget, removed cells, an error."""
    png = _png()
    nb = new_notebook(
        cells=[
            new_markdown_cell(
                "# Customer overview\n\nRevenue grows like $x^2$. See [below](#details)."
            ),
            _tagged(new_code_cell('config_path = ""\nrun_dir = ""'), "parameters"),
            new_code_cell(
                "SECRET_SOURCE_MARKER = 1\nprint('hello stakeholders')",
                outputs=[new_output("stream", name="stdout", text="hello stakeholders\n")],
            ),
            new_code_cell(
                "plot()",
                outputs=[
                    new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
                ],
            ),
            new_code_cell(
                "slider",
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "application/vnd.jupyter.widget-view+json": {
                                "model_id": "abc123",
                                "version_major": 2,
                                "version_minor": 0,
                            },
                            "text/plain": "IntSlider(value=3)",
                        },
                    )
                ],
            ),
            new_code_cell(
                "js()",
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "application/javascript": "require(['https://cdn.example.com/x.js'])",
                            "text/plain": "JS_FALLBACK_TEXT",
                        },
                    )
                ],
            ),
            _tagged(
                new_code_cell(
                    "print('x')",
                    outputs=[new_output("stream", name="stdout", text="REMOVED_OUTPUT\n")],
                ),
                "remove",
            ),
            _tagged(
                new_code_cell(
                    "print('y')",
                    outputs=[new_output("stream", name="stdout", text="HIDDEN_OUTPUT\n")],
                ),
                "hide",
            ),
            _tagged(new_markdown_cell("PAPERMILL_BANNER"), "papermill-error-cell-tag"),
            new_code_cell(
                "total = 1 / 0  # FAILING_CELL_MARKER",
                outputs=[
                    new_output(
                        "error",
                        ename="ZeroDivisionError",
                        evalue="division by zero",
                        traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"],
                    )
                ],
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    path = tmp_path / "01_overview.ipynb"
    nbformat.write(nb, path)
    return path, png


def test_external_references_finds_what_loads_from_the_internet() -> None:
    html = """
    <script src="https://cdn.example.com/require.js"></script>
    <link rel="stylesheet" href='http://fonts.example.com/a.css'>
    <img src=//cdn.example.com/pic.png>
    <div style="background: url( 'https://img.example.com/bg.png' )"></div>
    <style>@import "https://example.com/more.css";</style>
    <a href="#anchor">ok</a> <a href="01_overview.html">ok</a> <img src="data:image/png;base64,AAAA">
    <svg xmlns="http://www.w3.org/2000/svg"></svg> <p>see http://example.com in plain text</p>
    <a data-href="x" href = "HTTPS://Example.com/UPPER">x</a>
    """
    assert external_references(html) == [
        "https://cdn.example.com/require.js",
        "http://fonts.example.com/a.css",
        "//cdn.example.com/pic.png",
        "https://img.example.com/bg.png",
        "https://example.com/more.css",
        "HTTPS://Example.com/UPPER",
    ]


def test_lab_template_is_not_offline_but_ours_is(executed, tmp_path: Path) -> None:
    """The oracle: nbconvert's own lab template does reference CDNs (the pitfall); ours does not."""
    from nbconvert import HTMLExporter

    path, _ = executed
    lab_html, _ = HTMLExporter(template_name="lab").from_filename(str(path))
    assert any("require" in u or "mathjax" in u.lower() for u in external_references(lab_html))
    out = render_notebook_html(path, tmp_path / "out.html")
    assert external_references(out.read_text(encoding="utf-8")) == []


def test_stakeholder_html_has_no_code_and_keeps_outputs(executed, tmp_path: Path) -> None:
    path, png = executed
    out = render_notebook_html(
        path,
        tmp_path / "site" / "01_overview.html",
        run_name="Demo CRM",
        run_id="20261123-031500-demo",
        run_started="2026-11-23T03:15:00+00:00",
    )
    html = out.read_text(encoding="utf-8")
    # no code: neither its text nor the editor/input boxes of code cells; no prompts
    assert "SECRET_SOURCE_MARKER" not in html and "config_path" not in html
    assert 'class="jp-CodeMirrorEditor' not in html and "In&nbsp;[" not in html
    assert html.count('class="jp-InputArea jp-Cell-inputArea"') == 1  # the one markdown cell
    assert "Customer overview" in html and "<title>Customer overview</title>" in html
    assert "hello stakeholders" in html
    assert f'src="data:image/png;base64,{png[:60]}' in html  # the figure, inline
    # removed cells and papermill's banner are gone; the error is shown, with the failing cell on top
    assert (
        "REMOVED_OUTPUT" not in html
        and "HIDDEN_OUTPUT" not in html
        and "PAPERMILL_BANNER" not in html
    )
    assert "ZeroDivisionError" in html and "division by zero" in html
    assert html.count("FAILING_CELL_MARKER") == 1 and "stopped with an error" in html
    # widgets: the text fallback, no widget state, no renderer
    assert "IntSlider(value=3)" in html
    assert "widget-view+json" not in html and "widget-state+json" not in html
    # JavaScript output replaced by its fallback (it needs require.js from a CDN)
    assert "JS_FALLBACK_TEXT" in html and "cdn.example.com" not in html
    # header: run name, date, link back to the run index
    assert (
        'href="index.html"' in html and "Demo CRM" in html and "23 November 2026, 03:15 UTC" in html
    )
    assert external_references(html) == []
    # written atomically: no temporary files left, readable by others
    assert [p.name for p in out.parent.iterdir()] == ["01_overview.html"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_successful_notebook_has_no_error_box_and_header_is_escaped(tmp_path: Path) -> None:
    nb = new_notebook(
        cells=[
            new_markdown_cell("Plain text, no heading"),
            new_code_cell(
                "1",
                outputs=[new_output("execute_result", data={"text/plain": "1"}, execution_count=1)],
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "02_plain.ipynb"
    nbformat.write(nb, path)
    html = render_notebook_html(
        path, tmp_path / "02_plain.html", run_name=MALICIOUS, title=MALICIOUS
    ).read_text(encoding="utf-8")
    assert "stopped with an error" not in html
    assert MALICIOUS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert external_references(html) == []


def test_report_header_links_the_runs_reports_and_lists(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# RFM")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "02_rfm_clv.ipynb"
    nbformat.write(nb, path)
    reports = [
        ("Data collection", "01_data_collection.html"),
        ("RFM", "02_rfm_clv.html"),
        (MALICIOUS, "05_rule_segments.html"),
    ]
    downloads = report.download_links(["02_rfm_clv", "04_campaign_ab", "05_rule_segments"])
    assert downloads == [
        ("Member lists per RFM segment", "rfm_segments/"),
        ("Campaign decisions (CSV)", "artifacts/ab_decisions.csv"),
        ("Action lists (tasks, emails, calls)", "actions/"),
        ("Member lists per saved segment", "members/"),
    ]
    assert report.download_links(["01_data_collection"]) == []
    html = render_notebook_html(
        path, tmp_path / "02_rfm_clv.html", reports=reports, downloads=downloads
    ).read_text(encoding="utf-8")
    header = html[html.index('<header class="segwork-header">') : html.index("</header>")]
    assert '<a href="index.html">← Run summary</a>' in header
    assert '<a href="01_data_collection.html">Data collection</a>' in header
    # the page itself is named, not linked
    assert '<strong aria-current="page">RFM</strong>' in header
    assert 'href="02_rfm_clv.html"' not in header
    assert '<a href="actions/">Action lists (tasks, emails, calls)</a>' in header
    assert '<a href="artifacts/ab_decisions.csv">' in header
    assert MALICIOUS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;</a>" in header
    assert external_references(html) == []
    # without them (the callers of before), no navigation lines
    plain = render_notebook_html(path, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "segwork-reports" not in plain.split("</style>")[-1]
    assert "Lists for download" not in plain


def _record(**overrides) -> dict:
    run = {
        "run_id": "20261123-031500-demo",
        "name": "Demo CRM",
        "status": "succeeded",
        "started": "2026-11-23T03:15:00+00:00",
        "finished": "2026-11-23T03:16:12+00:00",
        "duration_s": 72.0,
        "analysis_date": "2026-09-30",
        "config_path": "/work/configs/demo.yaml",
        "package_version": "9.8.7",
        "python_version": "3.11.7",
        "parameters": {"01_data_collection": {"windows_days": [30, 90]}},
        "inputs": [
            {
                "table": "customers",
                "source": "data/customers.csv",
                "size_bytes": 1_234_567,
                "sha256": "ab" * 32,
            },
            {
                "table": "orders",
                "source": "postgresql://crm:***@db/crm (table orders)",
                "size_bytes": None,
                "sha256": None,
                "note": "database table (not hashed)",
            },
        ],
        "notebooks": [
            {
                "stem": "01_data_collection",
                "title": "Data collection",
                "status": "succeeded",
                "duration_s": 12.3,
                "html": "01_data_collection.html",
                "ipynb": "notebooks/01_data_collection.ipynb",
                "error": None,
            },
            {
                "stem": "02_rfm",
                "title": "RFM",
                "status": "succeeded",
                "duration_s": 59.7,
                "html": "02_rfm.html",
                "ipynb": "notebooks/02_rfm.ipynb",
                "error": None,
            },
        ],
    }
    run.update(overrides)
    return run


def test_run_index_success_in_plain_words() -> None:
    html = render_run_index(_record())
    assert (
        "This run succeeded on 23 November 2026, 03:15 UTC and produced 2 reports in 1 min 12 s."
        in html
    )
    assert 'class="badge succeeded"' in html
    assert 'href="01_data_collection.html"' in html and 'href="notebooks/02_rfm.ipynb"' in html
    assert "12.3 s" in html and "59.7 s" in html
    assert "1.2 MB" in html and 'title="1234567 bytes"' in html and "ab" * 32 in html
    assert "database table (not hashed)" in html and "***" in html
    assert "9.8.7" in html and "windows_days" in html and "[30, 90]" in html
    assert 'href="../index.html"' in html
    assert external_references(html) == []


def test_run_index_failure_shows_cell_and_error_escaped() -> None:
    error = {
        "ename": "KeyError",
        "evalue": "'<img src=x onerror=alert(2)>'",
        "cell_source": 'df["<b>col</b>"] > 1 & True',
        "traceback": "Traceback...\nKeyError: '<img>'",
    }
    run = _record(
        status="failed",
        name=MALICIOUS,
        parameters={"01_data_collection": {"q": "<i>x</i>"}},
        notebooks=[
            {
                "stem": "01_data_collection",
                "title": "Data collection",
                "status": "failed",
                "duration_s": 3.0,
                "html": "01_data_collection.html",
                "ipynb": "notebooks/01_data_collection.ipynb",
                "error": error,
            },
            {
                "stem": "02_rfm",
                "title": "RFM",
                "status": "not run",
                "duration_s": None,
                "html": None,
                "ipynb": None,
                "error": None,
            },
        ],
    )
    html = render_run_index(run)
    assert "This run failed on 23 November 2026, 03:15 UTC" in html
    assert "1 later report was not run" in html and "“latest” are unchanged" in html
    assert 'class="badge failed"' in html and 'class="badge not-run"' in html
    assert "KeyError" in html
    # the failing cell, escaped
    assert "df[&#34;&lt;b&gt;col&lt;/b&gt;&#34;] &gt; 1 &amp; True" in html
    for raw in (MALICIOUS, "<img src=x", "<b>col</b>", "<i>x</i>", "<img>"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_reports_index_newest_first_and_escaped() -> None:
    old = _record(run_id="20261101-000000-demo", started="2026-11-01T00:00:00+00:00")
    failed = _record(
        run_id="20261123-031500-demo",
        status="failed",
        name=MALICIOUS,
        notebooks=[
            {
                "stem": "01_x",
                "title": "X",
                "status": "failed",
                "duration_s": 1.0,
                "html": "01_x.html",
                "ipynb": None,
                "error": {"ename": "ValueError", "evalue": "", "cell_source": "", "traceback": ""},
            }
        ],
    )
    middle = _record(run_id="20261110-120000-demo", started="2026-11-10T12:00:00+00:00")
    html = render_reports_index([old, failed, middle])
    rows = re.findall(r'<tr class="run">.*?</tr>', html, flags=re.S)
    assert [re.search(r"<code>(.*?)</code>", r).group(1) for r in rows] == [
        "20261123-031500-demo",
        "20261110-120000-demo",
        "20261101-000000-demo",
    ]
    assert "3 runs so far: 2 succeeded, 1 failed." in html
    # without a latest link given, the newest successful run is the one to open
    assert 'href="runs/20261110-120000-demo/index.html"><strong>' in html
    assert "stopped at <code>01_x</code>" in html
    assert MALICIOUS not in html and "&lt;script&gt;" in html
    assert external_references(html) == []
    assert 'href="20261101-000000-demo/index.html"' in render_reports_index([old], prefix="")
    assert "No runs yet" in render_reports_index([])


def test_index_pages_accept_a_run_record_object() -> None:
    class Rec:
        def to_dict(self) -> dict:
            return _record(name="From an object")

    assert "From an object" in render_run_index(Rec())
    with pytest.raises(TypeError, match="run record"):
        render_run_index(42)


def test_plain_words_formatting() -> None:
    assert format_seconds(None) == "–"
    assert format_seconds(12.34) == "12.3 s"
    assert format_seconds(72) == "1 min 12 s"
    assert format_seconds(65) == "1 min 05 s"  # one duration text: the progress lines' too
    assert format_seconds(3725) == "1 h 02 min"
    assert format_size(999) == "999 bytes"
    assert format_size(1_234_567) == "1.2 MB"
    assert format_size(None) == "–"
    assert format_when("2026-11-23T03:15:00+00:00") == "23 November 2026, 03:15 UTC"
    assert report.strip_ansi("\x1b[0;31mError\x1b[0m: x") == "Error: x"


def test_notebook_template_is_shipped_with_the_package() -> None:
    folder = report.TEMPLATES_DIR
    for name in (
        "segwork_report/conf.json",
        "segwork_report/index.html.j2",
        "run_index.html.j2",
        "reports_index.html.j2",
        "notebook_header.html.j2",
        "_page.html.j2",
    ):
        assert (folder / name).is_file(), name


def _not_applicable(stem: str, reason: str) -> dict:
    return {
        "stem": stem,
        "title": stem.split("_", 1)[1].title(),
        "status": "not applicable",
        "duration_s": None,
        "html": None,
        "ipynb": None,
        "error": None,
        "reason": reason,
    }


def test_run_index_names_the_notebooks_that_did_not_apply_and_why() -> None:
    record = _record()
    record["notebooks"] = record["notebooks"] + [
        _not_applicable("03_personas", "no survey_responses table in the config <sources>"),
        _not_applicable("04_campaign_ab", "no campaign_exposures table in the config"),
    ]
    html = render_run_index(record)
    assert (
        "produced 2 reports in 1 min 12 s. 2 analyses did not apply to this data "
        "(the reasons are below)." in html
    )
    assert "no survey_responses table in the config &lt;sources&gt;" in html  # escaped
    assert html.count('class="badge not-applicable"') == 2
    assert 'href="03_personas.html"' not in html
    one = _record()
    one["notebooks"] = one["notebooks"] + [_not_applicable("05_rules", "x")]
    assert "1 analysis did not apply" in render_run_index(one)
    assert "did not apply" not in render_run_index(_record())
    listing = render_reports_index([record], prefix="runs/")
    assert "did not apply" in listing and "<code>03_personas</code>" in listing
    assert "no campaign_exposures table in the config" in listing


def test_an_interrupted_run_says_so_in_plain_words() -> None:
    record = _record(
        status="interrupted",
        finished=None,
        duration_s=None,
        interrupted={
            "noticed_by": "20261124-080000-demo",
            "noticed_at": "2026-11-24T08:00:00+00:00",
        },
    )
    html = render_run_index(record)
    assert "This run started on 23 November 2026, 03:15 UTC and was interrupted" in html
    assert "Run 20261124-080000-demo found it so on 24 November 2026, 08:00 UTC." in html
    assert "“latest” are unchanged" in html
    listing = render_reports_index(
        [record, _record(run_id="ok", started="2026-11-25T00:00:00+00:00")]
    )
    assert "2 runs so far: 1 succeeded, 0 failed, 1 interrupted." in listing
    assert 'class="badge interrupted"' in listing
    assert "interrupted before it finished" in listing
    # an older record without the note still renders
    old = _record(status="interrupted")
    assert "was interrupted" in render_run_index(old)
    assert "1 run so far: 1 succeeded, 0 failed.</p>" in render_reports_index([_record()])


def test_run_headline_is_the_first_reports_finding_or_the_status_summary() -> None:
    ok = _record()
    ok["notebooks"][0]["digest"] = {"headline": "First  finding.\n\nSecond paragraph."}
    ok["notebooks"][1]["digest"] = {"headline": "RFM finding."}
    assert report.run_headline(ok) == "First finding."
    listing = render_reports_index([ok, _record(run_id="x", name=MALICIOUS)])
    assert '<td class="headline-cell">First finding.</td>' in listing
    assert '<td class="headline-cell">This run succeeded on 23 November 2026' in listing
    # a run recorded before digests existed, and a failed run: the plain status summary
    assert report.run_headline(_record()).startswith("This run succeeded on 23 November 2026")
    failed = _record(status="failed")
    failed["notebooks"][0]["digest"] = {"headline": "First finding."}
    failed["notebooks"][1].update(status="failed", error=None)
    assert report.run_headline(failed).startswith("This run failed on 23 November 2026")

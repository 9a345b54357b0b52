"""HTML for stakeholders: executed notebooks without code, the run's index page, the reports index.

Everything written here opens offline as one file: nbconvert's lab template normally loads
require.js, MathJax, mermaid and the widget renderer from CDNs, so notebooks are rendered with
the ``segwork_report`` template (``templates/segwork_report``) that empties those blocks while
keeping the lab CSS (inlined). Figures are inline PNGs. ``external_references`` finds anything
that would still load from (or link to) the internet; the tests and the end-to-end run use it.

The index pages are rendered with Jinja2 (autoescape on) from the run record as written to
``run.json`` (a mapping) or from a ``segwork.pipeline.RunRecord`` (anything with ``to_dict()``),
so the reports index can be rebuilt from the ``run.json`` files alone.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import nbformat

from segwork.files import atomic_write_text
from segwork.progress import format_seconds

TEMPLATES_DIR = Path(__file__).parent / "templates"
NOTEBOOK_TEMPLATE = "segwork_report"

#: Cells with one of these tags are left out of the stakeholder view entirely.
REMOVE_TAGS = frozenset({"remove", "hide", "papermill-error-cell-tag"})

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_EXTERNAL = re.compile(
    r"""(?ix)
    (?:(?<![\w-])(?:src|href|xlink:href|action|formaction|poster|data|background|srcset)\s*=\s*["']?\s*
       |url\(\s*["']?\s*
       |@import\s+["']\s*
    )
    ((?:https?:)?//[^"'\s)>]+)
    """
)


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython tracebacks carry them)."""
    return _ANSI.sub("", text)


def external_references(html: str) -> list[str]:
    """URLs that an HTML page would load from or link to on another host.

    Looks at ``src=``, ``href=`` (and the other URL attributes), CSS ``url(...)`` and
    ``@import``; finds ``http://``, ``https://`` and protocol-relative ``//host`` URLs.
    ``data:`` URIs, relative links and ``#anchors`` are fine. An empty list means the page is
    self-contained.
    """
    return [m.group(1) for m in _EXTERNAL.finditer(html)]


# --------------------------------------------------------------------------------------------
# Notebook -> stakeholder HTML


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """The notebook's title: metadata ``title``, else its first markdown heading, else ``default``."""
    title = nb.metadata.get("title")
    if title:
        return str(title)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1)
    return default


def notebook_error(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The first error in an executed notebook: ename, evalue, failing cell source, traceback.

    ``SystemExit`` with code 0 is not an error (papermill treats it the same way).
    """
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "SystemExit" and str(out.get("evalue", "")) in ("", "0"):
                continue
            return {
                "ename": str(out.get("ename", "")),
                "evalue": strip_ansi(str(out.get("evalue", ""))),
                "cell_source": cell.source,
                "cell_index": index,
                "traceback": strip_ansi("\n".join(out.get("traceback", []))),
            }
    return None


def _stakeholder_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` trimmed for stakeholders (see ``render_notebook_html``)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # widget state: only useful to the (CDN) widget renderer
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVE_TAGS:
            continue
        if cell.cell_type == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    continue  # progress lines and warnings are for the analyst, not the reader
                data = out.get("data")
                if data is not None:
                    data.pop(_WIDGET_VIEW, None)  # show the text/plain fallback instead
                    if len(data) > 1:
                        data.pop("application/javascript", None)  # needs require.js; prefer others
                    if not data:
                        continue
                outputs.append(out)
            cell.outputs = outputs
            if not outputs:  # without its code an output-less cell is an empty box
                continue
        cells.append(cell)
    nb.cells = cells
    return nb


def _page_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_when
    env.filters["duration"] = format_seconds
    env.filters["size"] = format_size
    return env


def preload_renderer() -> None:
    """Import nbconvert and load the page template now (a run does it while it validates), so
    the first page does not pay for it."""
    _exporter()


def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name=NOTEBOOK_TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        # The template empties these blocks; empty URLs as well in case a block is reused.
        require_js_url="",
        mathjax_url="",
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
        jupyter_widgets_base_url="",
        widget_renderer_url="",
    )


def render_notebook_html(
    ipynb_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    run_name: str | None = None,
    run_id: str | None = None,
    run_started: str | datetime | None = None,
    index_href: str | None = "index.html",
) -> Path:
    """Render an executed notebook as the stakeholder HTML page; return ``html_path``.

    No code and no prompts; figures inline (PNG as base64); nothing loaded from the internet.
    Cells tagged ``remove`` or ``hide`` (and papermill's error banners) are dropped, and so is
    stderr (progress lines and warnings, which are for the analyst); code cells
    without output are dropped; widget outputs show their text fallback; error outputs are kept
    and, when the notebook failed, a box at the top names the error and shows the failing cell's
    source. A header names the run and links back to the run's index page (``index_href``,
    relative to the HTML file; ``None`` for no link). Written atomically.
    """
    ipynb_path = Path(ipynb_path)
    nb = nbformat.read(ipynb_path, as_version=4)
    error = notebook_error(nb)
    page_title = title or notebook_title(nb, ipynb_path.stem)
    view = _stakeholder_cells(nb)
    view.metadata["title"] = page_title

    header = (
        _page_env()
        .get_template("notebook_header.html.j2")
        .render(
            run_name=run_name,
            run_id=run_id,
            run_started=format_when(run_started) if run_started else None,
            index_href=index_href,
            error=error,
        )
    )
    exporter = _exporter()
    resources = {
        "metadata": {"name": ipynb_path.stem, "path": str(ipynb_path.parent)},
        "segwork_header_html": header,
    }
    body, _ = exporter.from_notebook_node(view, resources=resources)
    return atomic_write_text(html_path, body)


# --------------------------------------------------------------------------------------------
# Index pages


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "to_dict"):
        return record.to_dict()
    raise TypeError(
        f"expected a run record (RunRecord or the mapping of run.json), got {type(record).__name__}"
    )


STATUS_LABELS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "running": "running",
    "interrupted": "interrupted",
    "incomplete": "incomplete",
}


def _run_view(record: Any) -> dict[str, Any]:
    """The run record plus the plain-words fields the pages show."""
    run = _as_dict(record)
    run.setdefault("name", run.get("run_id", "run"))
    run.setdefault("status", "incomplete")
    for key in (
        "started",
        "finished",
        "duration_s",
        "analysis_date",
        "config_path",
        "package_version",
        "python_version",
    ):
        run.setdefault(key, None)
    run.setdefault("inputs", [])
    run.setdefault("parameters", {})
    notebooks = []
    for nb in run.get("notebooks", []):
        nb = dict(nb)
        nb.setdefault("title", nb.get("stem", ""))
        nb.setdefault("html", None)
        nb.setdefault("ipynb", None)
        nb.setdefault("duration_s", None)
        nb.setdefault("error", None)
        nb.setdefault("reason", None)
        notebooks.append(nb)
    run["notebooks"] = notebooks
    inputs = []
    for inp in run["inputs"]:
        inp = dict(inp)
        inp.setdefault("size_bytes", None)
        inp.setdefault("sha256", None)
        inp.setdefault("note", None)
        inputs.append(inp)
    run["inputs"] = inputs
    failed = [nb for nb in notebooks if nb["status"] == "failed"]
    run["failed_notebook"] = failed[0] if failed else None
    run["not_applicable"] = [nb for nb in notebooks if nb["status"] == "not applicable"]
    run.setdefault("interrupted", None)
    check = run.get("validation") or {}
    error = check.get("error") if check.get("status") == "failed" else None
    run["validation_error"] = (
        {"table": None, "column": None, "fix": None, "evalue": "", **error} if error else None
    )
    if failed and not failed[0]["error"]:
        failed[0]["error"] = {"ename": "Error", "evalue": "", "cell_source": "", "traceback": ""}
    run["n_reports"] = sum(1 for nb in notebooks if nb["html"])
    run["status_label"] = STATUS_LABELS.get(run["status"], str(run["status"]))
    run["summary"] = _summary(run)
    return run


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _summary(run: dict[str, Any]) -> str:
    when = format_when(run["started"]) if run["started"] else "an unknown date"
    n = run["n_reports"]
    took = format_seconds(run["duration_s"])
    skipped = len(run["not_applicable"])
    did_not_apply = (
        f" {skipped} {'analysis' if skipped == 1 else 'analyses'} did not apply to this data "
        "(the reasons are below)."
        if skipped
        else ""
    )
    if run["status"] == "succeeded":
        return (
            f"This run succeeded on {when} and produced {_plural(n, 'report')} in {took}."
            + did_not_apply
        )
    if run["status"] == "failed" and run["validation_error"]:
        error = run["validation_error"]
        where = f" (table {error['table']})" if error.get("table") else ""
        return (
            f"This run failed on {when}: the data did not pass validation{where}, so no "
            "analysis ran. The message below says what is wrong and how to fix it. The reports "
            "published as “latest” are unchanged."
        )
    if run["status"] == "failed":
        nb = run["failed_notebook"]
        out = next((o for o in run.get("outputs") or [] if o.get("status") == "failed"), None)
        if nb is None and out is not None:  # every notebook succeeded; the write-back did not
            return (
                f"This run failed on {when}: its {_plural(n, 'report')} {'was' if n == 1 else 'were'} "
                f"written, but writing the segment {out['output']} to {out['target']} failed: "
                f"{out.get('error', '')} The reports published as “latest” are unchanged."
            )
        not_run = sum(1 for x in run["notebooks"] if x["status"] == "not run")
        where = f" in “{nb['title']}” ({nb['error']['ename']})" if nb else ""
        text = f"This run failed on {when}: the analysis stopped with an error{where}."
        if n:
            text += f" {_plural(n, 'report')} {'was' if n == 1 else 'were'} written, the last one up to the error."
        if not_run:
            text += f" {not_run} later report{' was' if not_run == 1 else 's were'} not run."
        return text + " The reports published as “latest” are unchanged."
    if run["status"] == "interrupted":
        seen = run["interrupted"] or {}
        noticed = ""
        if seen.get("noticed_by"):
            noticed = (
                f" Run {seen['noticed_by']} found it so on "
                f"{format_when(seen.get('noticed_at')) if seen.get('noticed_at') else 'its start'}."
            )
        where = next((nb for nb in run["notebooks"] if nb["status"] == "interrupted"), None)
        during = f" during “{where['title']}”" if where else ""
        return (
            f"This run started on {when} and was interrupted{during}: its process stopped before "
            f"the run finished (it was killed, or the machine went down), so its reports are "
            f"incomplete.{noticed} The reports published as “latest” are unchanged."
        )
    if run["status"] == "running":
        return f"This run started on {when} and has not finished (it is running, or it was interrupted)."
    return f"This run started on {when} and did not finish; it left no complete record."


def run_headline(run: Any) -> str:
    """The run's one-line headline: what the all-runs page and a notification say about it.

    For a successful run, the first paragraph of the first report's headline finding (the
    ``digest`` each notebook record carries, see ``segwork.pages.summary``); for a failed,
    interrupted or unfinished run, and for a run recorded before reports carried a digest, the
    plain status summary of its index page (``_summary``). ``run`` is a run.json mapping or a
    ``RunRecord``.
    """
    view = _run_view(run)
    if view["status"] == "succeeded":
        for nb in view["notebooks"]:
            text = str((nb.get("digest") or {}).get("headline") or "").strip()
            if nb.get("status") == "succeeded" and text:
                return " ".join(text.split("\n\n")[0].split())
    return view["summary"]


def render_run_index(record: Any) -> str:
    """The run's index page: status, plain-words summary, reports, inputs, parameters, versions.

    Links are relative to the run folder (``<stem>.html``, ``notebooks/<stem>.ipynb``) and the
    "All runs" link is ``../index.html``, which works both from ``runs/<id>/`` (next to
    ``runs/index.html``) and through the ``latest`` link (``reports/index.html``).
    """
    return _page_env().get_template("run_index.html.j2").render(run=_run_view(record))


def _started_key(run: dict[str, Any]) -> str:
    return str(run.get("started") or "")


def render_reports_index(
    records: Iterable[Any], *, prefix: str = "runs/", latest_run_id: str | None = None
) -> str:
    """The index of all runs, newest first, from their run records.

    ``prefix`` is the path from the page to the run folders (``runs/`` for ``reports/index.html``,
    empty for ``reports/runs/index.html``). ``latest_run_id`` marks the run that ``latest`` points
    at (default: the newest successful run).
    """
    runs = sorted(
        (_run_view(r) for r in records),
        key=lambda r: (_started_key(r), r.get("run_id", "")),
        reverse=True,
    )
    latest = None
    if latest_run_id is not None:
        latest = next((r for r in runs if r.get("run_id") == latest_run_id), None)
    else:
        latest = next((r for r in runs if r["status"] == "succeeded"), None)
    n_ok = sum(1 for r in runs if r["status"] == "succeeded")
    n_failed = sum(1 for r in runs if r["status"] == "failed")
    n_interrupted = sum(1 for r in runs if r["status"] == "interrupted")
    if runs:
        summary = f"{_plural(len(runs), 'run')} so far: {n_ok} succeeded, {n_failed} failed"
        summary += f", {n_interrupted} interrupted." if n_interrupted else "."
    else:
        summary = "No runs yet."
    return (
        _page_env()
        .get_template("reports_index.html.j2")
        .render(runs=runs, latest=latest, summary=summary, prefix=prefix)
    )


# --------------------------------------------------------------------------------------------
# Plain-words formatting


def format_when(value: str | datetime | None) -> str:
    """``2026-11-23T03:15:00+00:00`` -> ``23 November 2026, 03:15 UTC``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    tz = value.tzname() or ""
    if tz in ("UTC", "UTC+00:00"):
        tz = "UTC"
    return f"{value.day} {value:%B %Y, %H:%M}" + (f" {tz}" if tz else "")


def format_size(n: int | None) -> str:
    """Bytes in decimal units: 1234567 -> ``1.2 MB``."""
    if n is None:
        return "–"
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover

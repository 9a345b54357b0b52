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
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import nbformat

from segwork.catalog import DATASETS
from segwork.files import atomic_write_text
from segwork.pages.summary import Digest, format_change, format_value
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
    env.filters["thousands"] = lambda n: f"{n:,}"
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
    reports: Sequence[tuple[str, str]] = (),
    downloads: Sequence[tuple[str, str]] = (),
) -> Path:
    """Render an executed notebook as the stakeholder HTML page; return ``html_path``.

    No code and no prompts; figures inline (PNG as base64); nothing loaded from the internet.
    Cells tagged ``remove`` or ``hide`` (and papermill's error banners) are dropped, and so is
    stderr (progress lines and warnings, which are for the analyst); code cells
    without output are dropped; widget outputs show their text fallback; error outputs are kept
    and, when the notebook failed, a box at the top names the error and shows the failing cell's
    source. A header names the run and links back to the run's summary page (``index_href``,
    relative to the HTML file; ``None`` for no link), to the run's other reports (``reports``:
    (title, href) in order; the page itself is marked, not linked) and to the files for people
    the run writes (``downloads``: (label, href), see :func:`download_links`). Written
    atomically.
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
            reports=[
                {"title": t, "href": h, "current": h == Path(html_path).name} for t, h in reports
            ],
            downloads=[{"label": label, "href": h} for label, h in downloads],
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
# Files for people: the lists a run writes (member lists, action lists, decisions)

#: The catalog datasets a reader downloads, with the words a page links them by.
DOWNLOADS = {
    "rfm_members": "Member lists per RFM segment",
    "ab_decisions_csv": "Campaign decisions (CSV)",
    "actions": "Action lists (tasks, emails, calls)",
    "segment_members": "Member lists per saved segment",
}


def _href(place: str) -> str:
    return "/".join(quote(part) for part in place.split("/"))


def download_links(stems: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(label, href) of the files for people that the notebooks ``stems`` write (all when None),
    relative to the run folder, from the catalog's declarations; a folder's href ends in ``/``.

    For a report page's header (``render_notebook_html(downloads=...)``): pass the stems of the
    notebooks that apply to the run, so a page links to the lists of later reports too.
    """
    wanted = None if stems is None else set(stems)
    out = []
    for name, label in DOWNLOADS.items():
        d = DATASETS[name]
        if wanted is None or d.producer in wanted:
            out.append((label, _href(d.place) + ("/" if d.format == "folder" else "")))
    return out


def _run_files(run_dir: Path | None, stem: str) -> list[dict[str, Any]]:
    """The files for people that notebook ``stem`` wrote into ``run_dir``: label, href of the
    folder or file, and each file (name, href) in a folder; only what exists."""
    out = []
    if run_dir is None or not run_dir.is_dir():
        return out
    for name, label in DOWNLOADS.items():
        d = DATASETS[name]
        path = run_dir / d.place
        if d.producer != stem or d.scope != "run" or not path.exists():
            continue
        files = []
        if path.is_dir():
            files = [
                {"name": f.name, "href": _href(f.relative_to(run_dir).as_posix())}
                for f in sorted(path.rglob("*"))
                if f.is_file()
            ]
        suffix = "/" if path.is_dir() else ""
        out.append({"label": label, "href": _href(d.place) + suffix, "files": files})
    return out


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
        nb.setdefault("pdf", None)
        nb.setdefault("pdf_pages", None)
        nb.setdefault("pdf_error", None)
        nb.setdefault("ipynb", None)
        nb.setdefault("duration_s", None)
        nb.setdefault("error", None)
        nb.setdefault("reason", None)
        nb["digest"] = _digest(nb.get("digest"))
        nb["paragraphs"] = (
            [p.strip() for p in nb["digest"].headline.split("\n\n") if p.strip()]
            if nb["digest"]
            else []
        )
        nb["tiles"] = [
            {"key": n.key, "label": n.label, "text": n.text(), "change": None}
            for n in (nb["digest"].numbers if nb["digest"] else [])
        ]
        nb["changes"] = None
        notebooks.append(nb)
    run["notebooks"] = notebooks
    run["config_name"] = Path(str(run["config_path"])).name if run["config_path"] else None
    run["alerts"] = [
        {"title": nb["title"], "html": nb["html"], "text": text}
        for nb in notebooks
        if nb["digest"]
        for text in nb["digest"].alerts
    ]
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
    run["headline"] = _headline(run)
    return run


def _headline(run: dict[str, Any]) -> str:
    """See :func:`run_headline`."""
    if run["status"] == "succeeded":
        for nb in run["notebooks"]:
            if nb["status"] == "succeeded" and nb["paragraphs"]:
                return " ".join(nb["paragraphs"][0].split())
    return run["summary"]


def _digest(data: Any) -> Digest | None:
    """A notebook record's digest, or None when it has none (a run recorded before digests) or
    one this version cannot read: the page is still written, without that report's figures."""
    if not isinstance(data, Mapping):
        return None
    try:
        return Digest.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


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
    return _run_view(run)["headline"]


def render_run_index(record: Any, previous: Any | None = None) -> str:
    """The run's summary page: each report's headline finding and key numbers, what changed
    since ``previous`` (the previous successful run's record, or None), the alerts of every
    page in one list, the lists for download; checksums, parameters, inputs and versions in a
    collapsed part for analysts.

    ``record`` and ``previous`` are run.json mappings or ``RunRecord``s; a notebook without a
    ``digest`` (a run recorded before digests existed) shows its status only. Links are
    relative to the run folder (``<stem>.html``, ``notebooks/<stem>.ipynb``) and the "All runs"
    link is ``../index.html``, which works both from ``runs/<id>/`` (next to
    ``runs/index.html``) and through the ``latest`` link (``reports/index.html``).
    """
    run = _run_view(record)
    before = _run_view(previous) if previous is not None else None
    if before is not None and before.get("run_id") == run.get("run_id"):
        before = None
    run["previous"] = before
    if before is not None:
        earlier = {nb["stem"]: nb for nb in before["notebooks"] if nb["digest"]}
        for nb in run["notebooks"]:
            if nb["digest"] and nb["stem"] in earlier:
                _compare(nb, earlier[nb["stem"]]["digest"])
    run_dir = Path(run["run_dir"]) if run.get("run_dir") else None
    for nb in run["notebooks"]:
        nb["files"] = _run_files(run_dir, nb["stem"])
    return _page_env().get_template("run_index.html.j2").render(run=run)


def _compare(nb: dict[str, Any], old: Digest) -> None:
    """Fill the notebook view's changes against ``old``: a change on every key number with a
    value in both, the groups that grew, shrank, appeared or went, the decisions that changed."""
    new = nb["digest"]
    before = {n.key: n for n in old.numbers}
    for tile, n in zip(nb["tiles"], new.numbers, strict=True):
        o = before.get(n.key)
        if o is None or o.value is None or n.value is None:
            continue
        diff = n.value - o.value
        arrow = "▲" if diff > 0 else "▼" if diff < 0 else "="
        tile["change"] = {
            "arrow": arrow,
            "direction": "up" if diff > 0 else "down" if diff < 0 else "same",
            "text": format_change(n.value, o.value, n.kind, n.unit),
            "was": format_value(o.value, o.kind, o.unit),
        }
    groups = []
    for kind, sizes in new.groups.items():
        if kind not in old.groups:
            continue
        was = old.groups[kind]
        grew = [(g, was[g], n) for g, n in sizes.items() if g in was and n > was[g]]
        shrank = [(g, was[g], n) for g, n in sizes.items() if g in was and n < was[g]]
        grew.sort(key=lambda x: x[1] - x[2])
        shrank.sort(key=lambda x: x[2] - x[1])
        groups.append(
            {
                "kind": kind,
                "grew": [
                    {"name": g, "old": a, "new": b, "change": f"{b - a:+,}"} for g, a, b in grew
                ],
                "shrank": [
                    {"name": g, "old": a, "new": b, "change": f"{b - a:+,}"} for g, a, b in shrank
                ],
                "added": [{"name": g, "new": n} for g, n in sizes.items() if g not in was],
                "gone": [{"name": g, "old": n} for g, n in was.items() if g not in sizes],
                "unchanged": sum(1 for g, n in sizes.items() if was.get(g) == n),
            }
        )
    decisions = [
        {"key": k, "old": old.decisions.get(k), "new": v}
        for k, v in new.decisions.items()
        if old.decisions.get(k) != v
    ] + [
        {"key": k, "old": v, "new": None}
        for k, v in old.decisions.items()
        if k not in new.decisions
    ]
    nb["changes"] = {
        "groups": groups,
        "decisions": decisions,
        "same_decisions": sum(1 for k, v in new.decisions.items() if old.decisions.get(k) == v),
    }


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

"""segwork.pipeline: papermill runs into run folders, the lock, `latest`, run.json, checks before a run.

Tiny throwaway notebooks and a tiny CRM are written to a temporary project, so these tests do not
depend on the real notebooks or the demo data. Kernels start slowly, so the pipeline executes
only twice (one good run, one failing run) in a module fixture; the tests read what they left.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import segwork
from segwork import files, pipeline
from segwork.config import ConfigError
from segwork.report import external_references

MALICIOUS = "<script>alert(1)</script>"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _params_cell(source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def write_project(root: Path) -> Path:
    """notebooks/ (three tiny notebooks), data/ (customers.csv, orders.csv); returns root."""
    nbdir = root / "notebooks"
    nbdir.mkdir(parents=True)
    (nbdir / "helper.txt").write_text("helper says hi", encoding="utf-8")
    removed = new_code_cell('print("REMOVED_OUTPUT")')
    removed.metadata["tags"] = ["remove"]
    nb1 = _notebook(
        [
            new_markdown_cell("# Overview of the tiny CRM\n\nThis report counts customers."),
            _params_cell('config_path = "../config.yaml"\nrun_dir = ""\nx = 1'),
            new_code_cell(
                "import os\n"
                "SOURCE_MARKER_01 = 'code must not reach the stakeholder HTML'\n"
                "print(f'x is {x}')\n"
                "print('config is absolute and exists:', os.path.isabs(config_path) and os.path.exists(config_path))\n"
                "print('run_dir is absolute and exists:', os.path.isabs(run_dir) and os.path.isdir(run_dir))\n"
                "print('MPLBACKEND is', os.environ.get('MPLBACKEND'))\n"
                "print(open('helper.txt').read())"
            ),
            new_code_cell(
                "import matplotlib.pyplot as plt\n"
                "fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)\n"
                "ax.plot([1, 2, 3])\n"
                "plt.show()"
            ),
            removed,
        ]
    )
    nb2 = _notebook(
        [
            new_markdown_cell("# Second step"),
            _params_cell('config_path = ""\nrun_dir = ""\nfail = False'),
            new_code_cell(
                "if fail:\n    raise ValueError('planted failure <b>bold</b>')\nprint('second ran')"
            ),
        ]
    )
    nb3 = _notebook(
        [
            new_markdown_cell("# Third step"),
            _params_cell('config_path = ""\nrun_dir = ""'),
            new_code_cell("print('third ran')"),
        ]
    )
    for name, nb in [("01_overview", nb1), ("02_second", nb2), ("03_third", nb3)]:
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    data = root / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2", "c3"]}).to_csv(data / "customers.csv", index=False)
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c1", "c2"],
            "order_date": ["2025-01-05", "2025-02-10", "2025-03-01"],
            "amount": [10.0, 25.5, -5.0],
        }
    ).to_csv(data / "orders.csv", index=False)
    return root


def write_config(root: Path, filename: str = "config.yaml", **overrides) -> Path:
    cfg = {
        "name": "Tiny CRM",
        "analysis_date": "2025-06-30",
        "sources": {
            "customers": {"path": "data/customers.csv"},
            "orders": {"path": "data/orders.csv"},
        },
        "notebooks_dir": "notebooks",
        "reports_dir": "reports",
        "notebooks": {"01_overview": {"x": 7}},
        **overrides,
    }
    path = root / filename
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A good run (taking over a stale lock, with MPLBACKEND=Agg set) and then a failing run."""
    root = write_project(tmp_path_factory.mktemp("project"))
    good_cfg = write_config(root)
    bad_cfg = write_config(
        root,
        "bad.yaml",
        name=MALICIOUS,
        notebooks={"01_overview": {"x": 7}, "02_second": {"fail": True}},
    )
    reports = root / "reports"
    reports.mkdir()
    stale = {
        "pid": _dead_pid(),
        "host": socket.gethostname(),
        "started": "2020-01-01T00:00:00+00:00",
        "run_id": "old-run",
    }
    (reports / ".lock").write_text(json.dumps(stale), encoding="utf-8")

    stderr = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stderr(stderr),
    ):
        warnings.simplefilter("always")
        mp.setenv("MPLBACKEND", "Agg")
        good = pipeline.run(good_cfg, progress=True)
        env_after = os.environ.get("MPLBACKEND")
    good_files = _tree_digest(good.run_dir)
    lock_after_good = (reports / ".lock").exists()
    bad = pipeline.run(bad_cfg, progress=False)
    return {
        "root": root,
        "reports": reports,
        "good": good,
        "bad": bad,
        "stderr": stderr.getvalue(),
        "warnings": [w for w in caught if issubclass(w.category, pipeline.StaleLockWarning)],
        "env_after": env_after,
        "good_files_before_bad": good_files,
        "lock_after_good": lock_after_good,
    }


def test_good_run_layout_record_and_latest(runs) -> None:
    good, reports = runs["good"], runs["reports"]
    assert good.status == "succeeded"
    assert [(n.stem, n.status) for n in good.notebooks] == [
        ("01_overview", "succeeded"),
        ("02_second", "succeeded"),
        ("03_third", "succeeded"),
    ]
    assert re.fullmatch(r"\d{8}-\d{6}-tiny-crm", good.run_id)
    assert good.run_dir == reports / "runs" / good.run_id
    for nb in good.notebooks:
        assert nb.ipynb == good.run_dir / "notebooks" / f"{nb.stem}.ipynb" and nb.ipynb.is_file()
        assert nb.html == good.run_dir / f"{nb.stem}.html" and nb.html.is_file()
        assert nb.duration_s > 0
    # latest is a relative link to the run, moved there only now; the lock is gone
    assert os.readlink(reports / "latest") == f"runs/{good.run_id}"
    assert (reports / "latest").resolve() == good.run_dir.resolve()
    assert not runs["lock_after_good"]
    assert not list(reports.glob("latest.tmp-*"))
    # the stale lock (dead pid, this host) was taken over with a warning naming it
    assert len(runs["warnings"]) == 1 and "old-run" in str(runs["warnings"][0].message)
    # a start and an end line per notebook on stderr
    lines = [ln for ln in runs["stderr"].splitlines() if re.match(r"\[\d/3\]", ln)]
    stems = ["01_overview", "02_second", "03_third"]
    assert lines[0::2] == [f"[{i}/3] {s} ..." for i, s in enumerate(stems, start=1)]
    assert [ln.split(" done in")[0] for ln in lines[1::2]] == [
        f"[{i}/3] {s}" for i, s in enumerate(stems, start=1)
    ]
    assert all(re.search(r" done in \d+\.\d s$", ln) for ln in lines[1::2])
    # the parent's environment is restored after the run
    assert runs["env_after"] == "Agg"


def test_good_run_executed_notebook_got_parameters(runs) -> None:
    good = runs["good"]
    nb = nbformat.read(good.notebooks[0].ipynb, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "x = 7" in injected[0].source
    assert f'run_dir = "{good.run_dir}"' in injected[0].source
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "x is 7" in text
    assert "config is absolute and exists: True" in text
    assert "run_dir is absolute and exists: True" in text
    # the parent's MPLBACKEND=Agg did not reach the kernel (ipykernel sets its inline backend itself)
    assert "MPLBACKEND is Agg" not in text and "MPLBACKEND is " in text
    assert "helper says hi" in text  # cwd is the notebooks folder


def test_good_run_stakeholder_html(runs) -> None:
    good = runs["good"]
    html = (good.run_dir / "01_overview.html").read_text(encoding="utf-8")
    assert "Overview of the tiny CRM" in html and "x is 7" in html
    assert "SOURCE_MARKER_01" not in html and "plt.subplots" not in html
    assert 'class="jp-CodeMirrorEditor' not in html
    # the only input areas left are the markdown cells' (one here)
    assert html.count('class="jp-InputArea jp-Cell-inputArea"') == 1
    # the figure, inline
    assert re.search(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{100,}', html)
    assert "REMOVED_OUTPUT" not in html
    assert 'href="index.html"' in html and "Tiny CRM" in html  # header: back to the run index
    for path in good.run_dir.glob("*.html"):
        assert external_references(path.read_text(encoding="utf-8")) == [], path.name
    assert external_references((runs["reports"] / "index.html").read_text(encoding="utf-8")) == []


def test_good_run_json_records_inputs_params_versions(runs) -> None:
    good, root = runs["good"], runs["root"]
    data = json.loads((good.run_dir / "run.json").read_text(encoding="utf-8"))
    assert data["run_id"] == good.run_id and data["status"] == "succeeded"
    assert data["name"] == "Tiny CRM" and data["analysis_date"] == "2025-06-30"
    assert data["package_version"] == segwork.__version__
    assert data["python_version"] == sys.version.split()[0]
    assert data["parameters"] == {"01_overview": {"x": 7}}
    assert data["config_path"] == str((root / "config.yaml").resolve())
    assert data["duration_s"] >= sum(nb["duration_s"] for nb in data["notebooks"])
    by_table = {i["table"]: i for i in data["inputs"]}
    assert set(by_table) == {"customers", "orders"}
    for table in ("customers", "orders"):
        raw = (root / "data" / f"{table}.csv").read_bytes()
        assert by_table[table]["sha256"] == hashlib.sha256(raw).hexdigest()
        assert by_table[table]["size_bytes"] == len(raw)
        assert by_table[table]["source"] == f"data/{table}.csv"
    assert [(n["stem"], n["status"], n["html"], n["ipynb"]) for n in data["notebooks"]][0] == (
        "01_overview",
        "succeeded",
        "01_overview.html",
        "notebooks/01_overview.ipynb",
    )
    back = pipeline.RunRecord.from_dict(data, good.run_dir)
    assert back.notebooks[0].html == good.notebooks[0].html and back.started == good.started
    index = (good.run_dir / "index.html").read_text(encoding="utf-8")
    assert "This run succeeded on" in index and "produced 3 reports" in index
    assert 'href="01_overview.html"' in index and 'href="notebooks/01_overview.ipynb"' in index
    assert by_table["orders"]["sha256"] in index and segwork.__version__ in index


def test_failed_run_records_error_and_leaves_latest(runs) -> None:
    good, bad, reports = runs["good"], runs["bad"], runs["reports"]
    assert bad.status == "failed"
    assert [(n.stem, n.status) for n in bad.notebooks] == [
        ("01_overview", "succeeded"),
        ("02_second", "failed"),
        ("03_third", "not run"),
    ]
    failed = bad.notebooks[1]
    assert failed.error["ename"] == "ValueError"
    assert "planted failure" in failed.error["evalue"]
    assert "raise ValueError('planted failure" in failed.error["cell_source"]
    assert "\x1b[" not in failed.error["traceback"] and "ValueError" in failed.error["traceback"]
    assert bad.notebooks[2].html is None and not (bad.run_dir / "03_third.html").exists()
    assert not (bad.run_dir / "notebooks" / "03_third.ipynb").exists()
    with pytest.raises(pipeline.RunFailed, match="02_second"):
        bad.raise_for_status()
    # latest still points at the good run, whose files are untouched
    assert os.readlink(reports / "latest") == f"runs/{good.run_id}"
    assert _tree_digest(good.run_dir) == runs["good_files_before_bad"]
    assert not (reports / ".lock").exists()
    assert json.loads((bad.run_dir / "run.json").read_text())["status"] == "failed"


def test_failed_run_shows_cell_and_error_in_index_and_html(runs) -> None:
    bad = runs["bad"]
    index = (bad.run_dir / "index.html").read_text(encoding="utf-8")
    assert "This run failed on" in index and "ValueError" in index
    assert "raise ValueError(" in index  # the failing cell's source
    assert "&lt;b&gt;bold&lt;/b&gt;" in index and "<b>bold</b>" not in index
    html = (bad.run_dir / "02_second.html").read_text(encoding="utf-8")
    assert "ValueError" in html and "planted failure" in html
    assert "raise ValueError(" in html  # in the error box at the top
    assert external_references(html) == []


def test_reports_index_newest_first_and_names_escaped(runs) -> None:
    good, bad, reports = runs["good"], runs["bad"], runs["reports"]
    assert bad.run_id.endswith("-script-alert-1-script")
    index = (reports / "index.html").read_text(encoding="utf-8")
    table = index[index.index("All runs, newest first") :]
    assert table.index(bad.run_id) < table.index(good.run_id)
    assert f'href="runs/{good.run_id}/index.html"' in index
    # the "All runs" link of a run page (../index.html) exists from runs/<id>/ too
    assert f'href="{good.run_id}/index.html"' in (reports / "runs" / "index.html").read_text(
        encoding="utf-8"
    )
    for page in (
        index,
        (bad.run_dir / "index.html").read_text(encoding="utf-8"),
        (bad.run_dir / "02_second.html").read_text(encoding="utf-8"),
    ):
        assert MALICIOUS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---- checks before anything runs (no kernel needed) --------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.mark.parametrize(
    ("notebooks", "expected"),
    [
        (
            {"02_second": {"fial": True}},
            r"notebooks\.02_second\.fial: notebook 02_second has no parameter 'fial'; did you mean 'fail'\?; "
            r"its parameters are: fail",
        ),
        (
            {"99_missing": {"a": 1}},
            r"notebooks\.99_missing: there is no notebook 99_missing\.ipynb",
        ),
        (
            {"01_overview": {"run_dir": "/tmp/x"}},
            r"notebooks\.01_overview\.run_dir: 'run_dir' is set by segwork run",
        ),
    ],
)
def test_config_that_does_not_fit_the_notebooks_is_refused_before_running(
    project, notebooks, expected
) -> None:
    cfg = write_config(project, notebooks=notebooks)
    with pytest.raises(pipeline.PipelineError, match=expected):
        pipeline.run(cfg, progress=False)
    assert not (project / "reports").exists()


def test_other_errors_before_a_run_write_nothing(project) -> None:
    with pytest.raises(pipeline.PipelineError, match="notebooks folder not found"):
        pipeline.run(write_config(project, notebooks_dir="nope"), progress=False)
    with pytest.raises(ConfigError, match="colour"):
        pipeline.run(write_config(project, colour="red"), progress=False)
    with pytest.raises(pipeline.PipelineError, match="no notebook named 07_x"):
        pipeline.run(write_config(project), notebooks=["07_x"], progress=False)
    with pytest.raises(pipeline.PipelineError, match="run id"):
        pipeline.run(write_config(project), run_id="../escape", progress=False)
    assert not (project / "reports").exists()
    (project / "reports" / "latest").mkdir(parents=True)
    with pytest.raises(pipeline.PipelineError, match="not a link"):
        pipeline.run(write_config(project), progress=False)
    assert not (project / "reports" / "runs").exists()


def test_second_run_while_lock_is_held_refuses(project) -> None:
    reports = project / "reports"
    reports.mkdir()
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": "2026-11-23T03:15:00+00:00",
        "run_id": "20261123-031500-demo",
    }
    (reports / ".lock").write_text(json.dumps(holder), encoding="utf-8")
    with pytest.raises(pipeline.RunLockedError) as err:
        pipeline.run(write_config(project), progress=False)
    msg = str(err.value)
    assert (
        f"process {os.getpid()}" in msg
        and "2026-11-23T03:15:00" in msg
        and "20261123-031500-demo" in msg
    )
    assert str(reports / ".lock") in msg  # says what to delete if that run is gone
    assert json.loads((reports / ".lock").read_text()) == holder  # the holder's lock is left alone
    assert not (reports / "runs").exists()
    # a lock from another host cannot be checked, so it is respected even with a dead pid
    (reports / ".lock").write_text(json.dumps({**holder, "pid": _dead_pid(), "host": "elsewhere"}))
    with pytest.raises(pipeline.RunLockedError, match="host elsewhere"):
        pipeline.run(write_config(project), progress=False)


def test_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with pipeline.run_lock(tmp_path, "first") as lock:
        info = json.loads(lock.read_text())
        assert (
            info["pid"] == os.getpid()
            and info["run_id"] == "first"
            and info["host"] == socket.gethostname()
        )
        with (
            pytest.raises(pipeline.RunLockedError, match="run first"),
            pipeline.run_lock(tmp_path, "second"),
        ):
            pass
        assert lock.exists()  # the refused attempt did not remove it
    assert not lock.exists()
    (tmp_path / ".lock").write_text(
        json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "run_id": "x"})
    )
    with (
        pytest.warns(pipeline.StaleLockWarning, match="no longer running"),
        pipeline.run_lock(tmp_path, "third") as lock,
    ):
        assert json.loads(lock.read_text())["run_id"] == "third"
    assert not lock.exists()


def test_run_ids_and_hashing(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    assert pipeline.slugify("Demo CRM (synthetic)") == "demo-crm-synthetic"
    assert pipeline.slugify("Jihomoravský kraj – Q3") == "jihomoravsky-kraj-q3"
    assert pipeline.slugify("???") == "run"
    now = datetime(2026, 11, 23, 3, 15, 0, tzinfo=UTC)
    assert pipeline.new_run_id(tmp_path, "Demo", now) == "20261123-031500-demo"
    (tmp_path / "20261123-031500-demo").mkdir()
    assert pipeline.new_run_id(tmp_path, "Demo", now) == "20261123-031500-demo-2"
    blob = os.urandom((5 << 20) // 2 + 17)  # 2.5 MiB + 17 bytes: crosses chunk boundaries
    (tmp_path / "big.bin").write_bytes(blob)
    assert files.file_sha256(tmp_path / "big.bin") == hashlib.sha256(blob).hexdigest()


def test_progress_relay_passes_on_segwork_lines_only(capsys) -> None:
    relay = pipeline._ProgressRelay()
    # papermill hands over kernel stderr in arbitrary pieces: lines may be split anywhere
    relay.write("[segwork] reading orders ...\nsome warning\n[segw")
    relay.write("ork] reading orders: 10 rows in 0.1 s\n")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "    [segwork] reading orders ...",
        "    [segwork] reading orders: 10 rows in 0.1 s",
    ]


# ---- a run that adapts to the tables it is given; a killed run is marked interrupted ----------


def _declaring(nb: nbformat.NotebookNode, **segwork_meta) -> nbformat.NotebookNode:
    nb.metadata["segwork"] = segwork_meta
    return nb


def write_adaptive_project(root: Path) -> Path:
    """Five tiny notebooks with requirements, over the tiny CRM of write_project (no survey)."""
    write_project(root)
    nbdir = root / "notebooks"
    for p in nbdir.glob("*.ipynb"):
        p.unlink()
    write_artifact = (
        "import json, os, time\n"
        "if sleep_s:\n    time.sleep(sleep_s)\n"
        "os.makedirs(os.path.join(run_dir, 'artifacts'), exist_ok=True)\n"
        "json.dump({'n': 3}, open(os.path.join(run_dir, 'artifacts', 'base.json'), 'w'))\n"
        "print('first ran')"
    )
    notebooks = {
        # writes base but not extra, although it declares both
        "01_first": _declaring(
            _notebook(
                [
                    new_markdown_cell("# First"),
                    _params_cell('config_path = ""\nrun_dir = ""\nsleep_s = 0'),
                    new_code_cell(write_artifact),
                ]
            ),
            requires={"tables": ["customers"], "artifacts": [], "files": []},
            provides=["base", "extra"],
        ),
        "02_survey": _declaring(
            _notebook(
                [
                    new_markdown_cell("# Survey"),
                    _params_cell('config_path = ""\nrun_dir = ""'),
                    new_code_cell("raise RuntimeError('must not run without a survey')"),
                ]
            ),
            requires={"tables": ["survey_responses"], "artifacts": ["base"], "files": []},
            provides=["personas"],
        ),
        "03_extra": _declaring(
            _notebook(
                [
                    new_markdown_cell("# Extra"),
                    _params_cell('config_path = ""\nrun_dir = ""'),
                    new_code_cell("raise RuntimeError('must not run without extra')"),
                ]
            ),
            requires={"tables": [], "artifacts": ["extra"], "files": []},
        ),
        "04_rules": _declaring(
            _notebook(
                [
                    new_markdown_cell("# Rules"),
                    _params_cell('config_path = ""\nrun_dir = ""\nrules_file = "my_rules.yaml"'),
                    new_code_cell("raise RuntimeError('must not run without rules')"),
                ]
            ),
            requires={"tables": ["customers"], "artifacts": ["base"], "files": ["rules_file"]},
        ),
        "05_plain": _notebook(
            [
                new_markdown_cell("# Plain"),
                _params_cell('config_path = ""\nrun_dir = ""'),
                new_code_cell("print('plain ran')"),
            ]
        ),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    return root


def _wait_for(predicate, timeout: float = 60.0) -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory):
    """A run killed with kill -9 during its first notebook, then a full run that adapts."""
    import signal

    root = write_adaptive_project(tmp_path_factory.mktemp("adaptive"))
    slow_cfg = write_config(root, "slow.yaml", notebooks={"01_first": {"sleep_s": 120}})
    cfg = write_config(root, notebooks={})
    reports = root / "reports"
    code = (
        "import sys; from segwork import pipeline; "
        "pipeline.run(sys.argv[1], run_id='killed-run', progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(slow_cfg)], start_new_session=True)
    killed_json = reports / "runs" / "killed-run" / "run.json"
    try:
        _wait_for(
            lambda: (reports / "runs" / "killed-run" / "notebooks" / "01_first.ipynb").exists()
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
        proc.wait()
    killed_before = json.loads(killed_json.read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pipeline.StaleLockWarning)
        record = pipeline.run(cfg, run_id="adaptive-run", progress=False)
    return {
        "root": root,
        "reports": reports,
        "record": record,
        "killed_before": killed_before,
        "killed_after": json.loads(killed_json.read_text(encoding="utf-8")),
    }


def test_notebooks_without_their_inputs_are_not_applicable_and_the_run_succeeds(adaptive) -> None:
    record, reports = adaptive["record"], adaptive["reports"]
    assert record.status == "succeeded"
    assert [(n.stem, n.status) for n in record.notebooks] == [
        ("01_first", "succeeded"),
        ("02_survey", "not applicable"),
        ("03_extra", "not applicable"),
        ("04_rules", "not applicable"),
        ("05_plain", "succeeded"),
    ]
    reasons = {n.stem: n.reason for n in record.notebooks}
    assert reasons["02_survey"] == (
        "no survey_responses table in the config (sources.survey_responses)"
    )
    assert reasons["03_extra"] == "needs extra, which 01_first did not write"
    rules_path = (adaptive["root"] / "my_rules.yaml").resolve()
    assert reasons["04_rules"].startswith("rules file ") and reasons["04_rules"].endswith(
        "my_rules.yaml not found (notebooks.04_rules.rules_file)"
    )
    assert str(rules_path).endswith(reasons["04_rules"].split()[2])
    assert reasons["01_first"] is None and reasons["05_plain"] is None
    for nb in record.notebooks[1:4]:  # nothing executed, nothing rendered
        assert nb.html is None and nb.ipynb is None
        assert not (record.run_dir / f"{nb.stem}.html").exists()
    assert os.readlink(reports / "latest") == "runs/adaptive-run"
    data = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert {n["stem"]: (n["status"], n["reason"]) for n in data["notebooks"]}["02_survey"] == (
        "not applicable",
        reasons["02_survey"],
    )
    back = pipeline.RunRecord.from_dict(data, record.run_dir)
    assert [n.reason for n in back.notebooks] == [n.reason for n in record.notebooks]


def test_index_pages_say_which_notebooks_did_not_apply_and_why(adaptive) -> None:
    record, reports = adaptive["record"], adaptive["reports"]
    run_page = (record.run_dir / "index.html").read_text(encoding="utf-8")
    assert "This run succeeded on" in run_page
    assert "3 analyses did not apply to this data" in run_page
    assert "no survey_responses table in the config (sources.survey_responses)" in run_page
    assert "needs extra, which 01_first did not write" in run_page
    all_runs = (reports / "index.html").read_text(encoding="utf-8")
    table = all_runs[all_runs.index("All runs, newest first") :]
    row = table[table.index("runs/adaptive-run/index.html") :]
    row = row[: row.index("</tr>")]
    assert "did not apply" in row and "<code>02_survey</code>" in row
    assert "no survey_responses table in the config" in row


def test_a_run_killed_with_kill_9_is_marked_interrupted_by_the_next_run(adaptive) -> None:
    before, after = adaptive["killed_before"], adaptive["killed_after"]
    assert before["status"] == "running"  # what kill -9 leaves behind
    assert after["status"] == "interrupted"
    assert after["interrupted"]["noticed_by"] == "adaptive-run"
    assert after["finished"] is None
    assert [(n["stem"], n["status"]) for n in after["notebooks"]][:2] == [
        ("01_first", "interrupted"),  # the notebook it was in (its partial copy is linked)
        ("02_survey", "not applicable"),
    ]
    assert after["notebooks"][0]["ipynb"] == "notebooks/01_first.ipynb"
    page = (adaptive["reports"] / "runs" / "killed-run" / "index.html").read_text(encoding="utf-8")
    assert "was interrupted during “First”" in page and "Run adaptive-run found it so" in page
    all_runs = (adaptive["reports"] / "index.html").read_text(encoding="utf-8")
    assert "2 runs so far: 1 succeeded, 0 failed, 1 interrupted." in all_runs
    table = all_runs[all_runs.index("All runs, newest first") :]
    row = table[table.index("runs/killed-run/index.html") :]
    row = row[: row.index("</tr>")]
    assert "interrupted" in row and "its process was stopped" in row


def test_mark_interrupted_runs_leaves_other_records_alone(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    runs_dir = tmp_path / "runs"
    for run_id, status in [
        ("a", "running"),
        ("b", "succeeded"),
        ("c", "failed"),
        ("me", "running"),
    ]:
        rec = pipeline.RunRecord(
            run_id=run_id,
            name=run_id,
            status=status,
            started=datetime(2026, 1, 1, tzinfo=UTC),
            run_dir=runs_dir / run_id,
            config_path=tmp_path / "c.yaml",
        )
        rec.run_dir.mkdir(parents=True)
        pipeline._write_run_files(rec)
    (runs_dir / "junk").mkdir()  # a folder without run.json is listed as incomplete, not touched
    assert pipeline.mark_interrupted_runs(tmp_path, by_run_id="me") == ["a"]
    status = {
        d.name: json.loads((d / "run.json").read_text())["status"]
        for d in runs_dir.iterdir()
        if (d / "run.json").exists()
    }
    assert status == {"a": "interrupted", "b": "succeeded", "c": "failed", "me": "running"}
    assert not (runs_dir / "junk" / "run.json").exists()


def test_explicit_missing_file_and_wrong_type_refuse_the_run_before_anything_is_written(
    tmp_path: Path,
) -> None:
    root = write_adaptive_project(tmp_path)
    cfg = write_config(root, notebooks={"04_rules": {"rules_file": "nope.yaml"}})
    with pytest.raises(
        pipeline.PipelineError, match=r"notebooks\.04_rules\.rules_file: rules file not found"
    ):
        pipeline.run(cfg, progress=False)
    cfg = write_config(root, notebooks={"01_first": {"sleep_s": "long"}})
    with pytest.raises(
        pipeline.PipelineError,
        match=r'notebooks\.01_first\.sleep_s: expected a whole number \(the default is 0\), got text "long"',
    ):
        pipeline.run(cfg, progress=False)
    assert not (root / "reports").exists()


def test_records_pages_notebooks_and_lines_are_redacted_by_value(tmp_path: Path, capsys) -> None:
    """Redaction by value: also in records written before it existed (the reports index), in a
    killed run's partial notebook, in JSON- and HTML-escaped forms, and in progress lines."""
    from datetime import UTC, datetime

    secret = (
        'pa"ss<w>@#/:Ž'  # characters JSON and HTML escape, so only a by-value search finds them
    )
    runs_dir = tmp_path / "runs"
    old = pipeline.RunRecord(
        run_id="old",
        name="old",
        status="failed",
        started=datetime(2026, 1, 1, tzinfo=UTC),
        run_dir=runs_dir / "old",
        config_path=tmp_path / "c.yaml",
    )
    old.notebooks.append(
        pipeline.NotebookRecord(
            stem="01_x",
            title="X",
            status="failed",
            error={
                "ename": "E",
                "evalue": secret,
                "cell_source": f"connect('{secret}')",
                "cell_index": 1,
                "traceback": f"E: {secret}",
            },
        )
    )
    old.run_dir.mkdir(parents=True)
    pipeline._write_run_files(old)  # as before redaction: the secret is in its run.json
    assert (
        json.loads((old.run_dir / "run.json").read_text())["notebooks"][0]["error"]["evalue"]
        == secret
    )

    killed = pipeline.RunRecord(
        run_id="killed",
        name="killed",
        status="running",
        started=datetime(2026, 1, 2, tzinfo=UTC),
        run_dir=runs_dir / "killed",
        config_path=tmp_path / "c.yaml",
    )
    killed.notebooks.append(pipeline.NotebookRecord(stem="01_x", title="X"))
    (killed.run_dir / "notebooks").mkdir(parents=True)
    pipeline._write_run_files(killed)
    partial = _notebook([new_code_cell("print(url)")])
    partial.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"postgresql://u:{secret}@h/db\n")
    ]
    nbformat.write(partial, killed.run_dir / "notebooks" / "01_x.ipynb")

    assert pipeline.mark_interrupted_runs(tmp_path, by_run_id="new", secrets=[secret]) == ["killed"]
    pipeline.update_reports_index(tmp_path, secrets=[secret])
    pipeline._say(True, f"connecting with {secret} ...", secrets=[secret])
    relay = pipeline._ProgressRelay([secret])
    relay.write(f"[segwork] reading orders from u:{secret}@h\n")

    err = capsys.readouterr().err
    assert "connecting with *** ..." in err and "u:***@h" in err and secret not in err
    for page in (tmp_path / "index.html", tmp_path / "runs" / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert "old" in text and "killed" in text
        for form in (secret, html.escape(secret), json.dumps(secret)[1:-1]):
            assert form not in text, (page, form)
    for path in killed.run_dir.rglob("*"):
        if path.is_file():
            data = path.read_text(encoding="utf-8")
            assert secret not in data and json.dumps(secret)[1:-1] not in data, path
    text = (killed.run_dir / "notebooks" / "01_x.ipynb").read_text(encoding="utf-8")
    assert "postgresql://u:***@h/db" in text


def test_redaction_keeps_input_digests(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    digest = "5432" + "0" * 60  # a digest that happens to contain a short ${VAR} (a port)
    rec = pipeline.RunRecord(
        run_id="r",
        name="r",
        status="succeeded",
        started=datetime(2026, 1, 1, tzinfo=UTC),
        run_dir=tmp_path / "r",
        config_path=tmp_path / "c.yaml",
        inputs=[{"table": "orders", "source": "db 5432", "sha256": digest}],
    )
    rec.run_dir.mkdir()
    pipeline._write_run_files(rec, ["5432"])
    written = json.loads((rec.run_dir / "run.json").read_text())["inputs"][0]
    assert written == {"table": "orders", "source": "db ***", "sha256": digest}

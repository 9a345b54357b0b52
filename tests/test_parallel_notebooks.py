"""segwork.pipeline runs notebooks side by side when their declared dependencies allow it.

Four tiny notebooks: 01 writes ``customer360``; 02 and 03 need it and declare ``uses: []`` (they
read nothing else), so they may run together; 04 declares no ``uses`` and so waits for all
three. The notebooks meet through files in the run folder: 03 writes ``right_started`` when it
starts and 02 waits (up to two minutes) for that file before it ends, so 02 can only see it if
both ran at the same time -- an ordering check, not a timing check.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from segwork import pipeline, preflight
from tests.test_pipeline import _notebook, _params_cell, write_config, write_project

PARAMS = 'config_path = ""\nrun_dir = ""\nfail = False\nwait_s = 120'


def _meta(nb: nbformat.NotebookNode, *, requires=(), provides=(), uses=None) -> None:
    req: dict = {"artifacts": list(requires)}
    if uses is not None:
        req["uses"] = list(uses)
    nb.metadata["segwork"] = {"requires": req, "provides": list(provides)}


def write_parallel_project(root: Path) -> Path:
    write_project(root)
    nbdir = root / "notebooks"
    for old in nbdir.glob("*.ipynb"):
        old.unlink()
    first = _notebook(
        [
            _params_cell(PARAMS),
            new_code_cell(
                "import pandas as pd\nfrom pathlib import Path\n"
                "out = Path(run_dir) / 'artifacts' / 'customer360.parquet'\n"
                "out.parent.mkdir(parents=True, exist_ok=True)\n"
                "pd.DataFrame({'customer_id': ['c1']}).to_parquet(out)"
            ),
        ]
    )
    _meta(first, provides=["customer360"])
    left = _notebook(
        [
            _params_cell(PARAMS),
            new_code_cell(
                "import time\nfrom pathlib import Path\n"
                "flag = Path(run_dir) / 'right_started'\n"
                "for _ in range(int(wait_s * 10)):\n"
                "    if flag.exists():\n        break\n"
                "    time.sleep(0.1)\n"
                "(Path(run_dir) / 'left_saw_right').write_text(str(flag.exists()))\n"
                "if fail:\n    raise ValueError('planted failure in 02')"
            ),
        ]
    )
    _meta(left, requires=["customer360"], provides=["rfm"], uses=[])
    right = _notebook(
        [
            _params_cell(PARAMS),
            new_code_cell(
                "from pathlib import Path\n(Path(run_dir) / 'right_started').write_text('yes')"
            ),
        ]
    )
    _meta(right, requires=["customer360"], provides=["personas"], uses=[])
    join = _notebook(
        [
            _params_cell(PARAMS),
            new_code_cell(
                "from pathlib import Path\n"
                "seen = sorted(p.name for p in Path(run_dir).iterdir() if p.suffix == '' and p.is_file())\n"
                "(Path(run_dir) / 'join_saw.txt').write_text(','.join(seen))"
            ),
        ]
    )
    _meta(join, requires=["customer360"])
    for name, nb in [
        ("01_first", first),
        ("02_left", left),
        ("03_right", right),
        ("04_join", join),
    ]:
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    return root


def test_dependencies_follow_uses_and_provides():
    def spec(stem, requires=(), provides=(), uses=None):
        return preflight.NotebookSpec(
            stem,
            preflight.Requirements(
                artifacts=tuple(requires),
                provides=tuple(provides),
                uses=None if uses is None else tuple(uses),
            ),
        )

    specs = [
        spec("01", provides=["customer360"]),
        spec("02", requires=["customer360"], provides=["rfm"], uses=[]),
        spec("03", requires=["customer360"], provides=["personas"], uses=[]),
        spec("04", requires=["customer360"], uses=["rfm", "personas"]),
        spec("05", requires=["customer360"]),  # no `uses`: after everything before it
    ]
    assert preflight.dependencies(specs) == {
        "01": (),
        "02": ("01",),
        "03": ("01",),
        "04": ("01", "02", "03"),
        "05": ("01", "02", "03", "04"),
    }


def test_uses_is_read_from_notebook_metadata():
    req, problems = preflight.requirements(
        {"segwork": {"requires": {"artifacts": ["customer360"], "uses": ["rfm"]}}}, "nb"
    )
    assert problems == [] and req.uses == ("rfm",)
    req, _ = preflight.requirements({"segwork": {"requires": {}}}, "nb")
    assert req.uses is None
    _, problems = preflight.requirements({"segwork": {"requires": {"uses": "rfm"}}}, "nb")
    assert any("segwork.requires.uses" in str(p) for p in problems)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_parallel_project(tmp_path_factory.mktemp("parallel"))


def test_independent_notebooks_run_side_by_side_and_the_join_waits(project):
    record = pipeline.run(write_config(project, notebooks={}), progress=False, parallel=2)
    assert record.status == "succeeded", [nb.error for nb in record.notebooks]
    run_dir = record.run_dir
    assert (run_dir / "left_saw_right").read_text() == "True"  # 02 was running when 03 started
    assert (run_dir / "join_saw.txt").read_text() == "left_saw_right,right_started"
    saved = json.loads((run_dir / "run.json").read_text())
    assert [nb["status"] for nb in saved["notebooks"]] == ["succeeded"] * 4


def test_one_at_a_time_when_parallel_is_one(project):
    cfg = write_config(project, "serial.yaml", notebooks={"02_left": {"wait_s": 2}})
    record = pipeline.run(cfg, progress=False, parallel=1)
    assert record.status == "succeeded"
    # 02 ran alone: it waited for 03 in vain, and 03 ran after it
    assert (record.run_dir / "left_saw_right").read_text() == "False"


def test_a_failure_lets_the_sibling_finish_and_starts_nothing_new(project):
    cfg = write_config(project, "fail.yaml", notebooks={"02_left": {"fail": True}})
    record = pipeline.run(cfg, progress=False, parallel=2)
    status = {nb.stem: nb.status for nb in record.notebooks}
    assert status == {
        "01_first": "succeeded",
        "02_left": "failed",
        "03_right": "succeeded",
        "04_join": "not run",
    }
    assert record.status == "failed"
    assert "planted failure in 02" in record.failed_notebook.error["evalue"]
    assert not (record.run_dir / "join_saw.txt").exists()


# ------------------------------------------------------------------------------------------
# A notebook that runs beside a provider waits for it before reading (RunContext.wait_for)


def _wait_project(root: Path, statuses: dict[str, str], run_status: str = "running") -> Path:
    """notebooks/ with 02 providing rfm and 03 reading it; a run folder whose run.json says
    ``statuses``; the config; returns the run folder."""
    from tests.conftest import write_config as write_run_config

    nbdir = root / "notebooks"
    nbdir.mkdir()
    provider = _notebook([_params_cell(PARAMS)])
    _meta(provider, requires=["customer360"], provides=["rfm"], uses=[])
    reader = _notebook([_params_cell(PARAMS)])
    _meta(reader, requires=["customer360"], uses=[])
    nbformat.write(provider, nbdir / "02_provider.ipynb")
    nbformat.write(reader, nbdir / "03_reader.ipynb")
    run_dir = root / "reports" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    _write_record(run_dir, statuses, run_status)
    (root / "customers.csv").write_text("customer_id\nc1\n", encoding="utf-8")
    write_run_config(root, {"customers": {"path": "customers.csv"}}, notebooks_dir="notebooks")
    return run_dir


def _write_record(run_dir: Path, statuses: dict[str, str], run_status: str) -> None:
    record = {
        "run_id": "r1",
        "status": run_status,
        "notebooks": [{"stem": s, "status": v} for s, v in statuses.items()],
    }
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(run_dir / "run.json")


def test_the_reader_waits_until_the_provider_beside_it_has_finished(tmp_path, monkeypatch):
    import threading

    from segwork.context import RunContext

    run_dir = _wait_project(tmp_path, {"02_provider": "not run", "03_reader": "not run"})
    monkeypatch.setenv("SEGWORK_NOTEBOOK", "03_reader")
    ctx = RunContext.open(tmp_path / "config.yaml", run_dir)
    release = threading.Event()
    seen_when_done = {}

    def finish_provider():
        release.wait(30)
        _write_record(run_dir, {"02_provider": "succeeded", "03_reader": "not run"}, "running")

    t = threading.Thread(target=finish_provider)
    t.start()
    polls = []

    import time

    real_sleep = time.sleep

    def sleep_and_release(seconds):  # the first poll lets the provider finish
        polls.append(seconds)
        release.set()
        real_sleep(0.05)

    monkeypatch.setattr("segwork.context.time.sleep", sleep_and_release)
    waited = ctx.wait_for(("rfm", "personas"))
    t.join()
    seen_when_done["status"] = json.loads((run_dir / "run.json").read_text())["notebooks"][0]
    assert waited == ["02_provider"]
    assert polls  # it did wait
    assert seen_when_done["status"]["status"] == "succeeded"  # and returned only after the end


def test_no_wait_by_hand_after_the_run_ended_or_for_what_nobody_writes(tmp_path, monkeypatch):
    from segwork.context import RunContext

    run_dir = _wait_project(tmp_path, {"02_provider": "not run", "03_reader": "not run"}, "failed")
    cfg = tmp_path / "config.yaml"

    def no_sleep(_):
        raise AssertionError("must not wait")

    monkeypatch.setattr("segwork.context.time.sleep", no_sleep)
    monkeypatch.setenv("SEGWORK_NOTEBOOK", "03_reader")
    # the run has ended (failed): the provider will never finish, so no wait
    assert RunContext.open(cfg, run_dir).wait_for(("rfm",)) == ["02_provider"]
    # nobody in the run writes personas
    _write_record(run_dir, {"02_provider": "not run", "03_reader": "not run"}, "running")
    assert RunContext.open(cfg, run_dir).wait_for(("personas",)) == []
    # by hand (no run folder) nothing is waited for
    assert RunContext.open(cfg).wait_for(("rfm",)) == []
    # a kernel the run did not start
    monkeypatch.delenv("SEGWORK_NOTEBOOK")
    assert RunContext.open(cfg, run_dir).wait_for(("rfm",)) == []

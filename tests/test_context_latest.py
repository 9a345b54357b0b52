"""A notebook run by hand before its predecessors reads their datasets from reports/latest.

RunContext in a scratch session (empty run_dir) falls back to the latest successful run for a
dataset the scratch folder lacks, says once which run it read, and names the notebook to run
first when neither has it. Under `segwork run` (a run folder) nothing falls back.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from segwork.catalog import CatalogError
from segwork.context import RunContext

RUN_ID = "20261130-071756-demo"


def _latest(reports, run_id: str = RUN_ID, **datasets: pd.DataFrame):
    """A fake successful run holding ``datasets`` and reports/latest pointing at it."""
    run = reports / "runs" / run_id
    (run / "artifacts").mkdir(parents=True)
    for name, df in datasets.items():
        df.to_parquet(run / "artifacts" / f"{name}.parquet")
    (run / "tables").mkdir()
    pd.DataFrame({"customer_id": ["zzz"]}).to_parquet(run / "tables" / "customers.parquet")
    os.symlink(os.path.join("runs", run_id), reports / "latest")
    return run


def _rfm(ids=("001", "002")) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(ids), "rfm_segment": ["Champions", "At Risk"]})


def test_scratch_reads_a_missing_dataset_from_the_latest_run_and_says_once(
    tiny_config, capsys
) -> None:
    ctx = RunContext.open(tiny_config)
    reports = ctx.config.reports_path
    _latest(reports, rfm=_rfm())
    assert ctx.run_dir is None and not ctx.catalog.exists("rfm")
    assert ctx.exists("rfm")
    pd.testing.assert_frame_equal(ctx.load("rfm"), _rfm())
    out = capsys.readouterr().out
    assert out.startswith(f"read rfm from run {RUN_ID}, the latest successful run")
    assert "run notebook 02_rfm_clv here" in out
    ctx.load("rfm")
    assert capsys.readouterr().out == ""  # said once
    assert ctx.read_from == {"rfm": RUN_ID}
    # the customer table joins it too
    ctx.save({"customer360": pd.DataFrame({"customer_id": ["001", "002", "003"], "x": [1, 2, 3]})})
    table = ctx.customer_table()
    assert table.loc["001", "rfm_segment"] == "Champions" and pd.isna(
        table.loc["003", "rfm_segment"]
    )
    # what the notebook saves goes to scratch, and then scratch's own is read
    ctx.save({"rfm": _rfm(["003", "004"])})
    assert ctx.load("rfm")["customer_id"].tolist() == ["003", "004"]


def test_neither_scratch_nor_latest_has_it_names_the_notebook_to_run_first(tiny_config) -> None:
    ctx = RunContext.open(tiny_config)
    with pytest.raises(CatalogError, match="there is no successful run to read it from") as e:
        ctx.load("rfm")
    assert "run notebook 02_rfm_clv first" in str(e.value)
    assert not ctx.exists("rfm")
    _latest(ctx.config.reports_path, rfm=_rfm())
    with pytest.raises(CatalogError) as e:
        ctx.load("personas")
    message = str(e.value)
    assert "not in the scratch folder" in message and "nor in the latest successful run" in message
    assert "run notebook 03_personas first" in message


def test_validated_tables_and_runs_do_not_fall_back(tiny_config) -> None:
    ctx = RunContext.open(tiny_config)
    reports = ctx.config.reports_path
    _latest(reports, rfm=_rfm())
    # the validated tables are scratch's own: validated here, never the latest run's
    assert not ctx.exists("customers")
    assert "zzz" not in ctx.tables.customers["customer_id"].tolist()
    # under segwork run (a run folder) a missing dataset is missing
    run = RunContext.open(tiny_config, reports / "runs" / "20261201-000000-next")
    assert not run.exists("rfm")
    with pytest.raises(CatalogError, match="is written by notebook 02_rfm_clv"):
        run.load("rfm")


def test_a_run_folder_outside_the_configs_reports_dir_reads_its_own_reports(
    tiny_config, tmp_path
) -> None:
    """`pipeline.run(reports_dir=X)` puts the run in X/runs/<id>: its notebooks read the earlier
    runs, the membership history and the action ledger of X, never of the config's folder."""
    other = tmp_path / "elsewhere"
    earlier = other / "runs" / "20261001-000000-earlier"
    earlier.mkdir(parents=True)
    (earlier / "run.json").write_text(
        '{"run_id": "20261001-000000-earlier", "status": "succeeded", '
        '"started": "2026-10-01T00:00:00+00:00", "notebooks": []}',
        encoding="utf-8",
    )
    run_dir = other / "runs" / "20261130-000000-now"
    run_dir.mkdir()
    ctx = RunContext.open(tiny_config, run_dir)
    assert ctx.config.reports_path != other.resolve()
    assert ctx.reports_path == other.resolve()
    assert ctx.catalog.path("action_ledger").is_relative_to(other.resolve())
    assert [r["run_id"] for r in ctx.earlier_runs()] == ["20261001-000000-earlier"]

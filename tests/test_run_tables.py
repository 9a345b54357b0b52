"""The run validates each source once and every notebook reads the validated tables from the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pandas as pd
import pytest
from typer.testing import CliRunner

from segwork import catalog as catalog_module
from segwork import pipeline, preflight, sources
from segwork.catalog import RUN_DATASETS, Catalog
from segwork.cli import app
from segwork.config import load_config
from segwork.context import RunContext, validate_into
from segwork.errors import SegworkError
from segwork.schema import DerivedTable, Issue, TableStats, ValidationReport
from tests.test_pipeline import write_config, write_project


def test_validation_report_round_trips_through_json() -> None:
    report = ValidationReport()
    report.tables["orders"] = TableStats(
        "orders", "orders.csv", 10, 8, ["order_id", "amount"], table_rows=5, unit="order lines"
    )
    report.add(Issue("orders", "amount", "not a number", 2, "'x', 'y'", "dropped"))
    report.add(Issue("orders", "amount", "returns", 1, "", "kept", unit="orders"))
    report.derive(DerivedTable("customers", 3, {"orders": 3}))
    back = ValidationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back == report
    assert back.summary() == report.summary()
    assert back.to_dict()["rows_dropped"] == 2


def test_catalog_writes_the_validated_tables_and_reads_them_back(tiny_config: Path) -> None:
    cfg = load_config(tiny_config)
    reference = sources.load_tables(cfg)
    cat = Catalog(tiny_config.parent / "run")
    validate_into(cfg, cat)
    assert cat.path("orders") == tiny_config.parent / "run" / "tables" / "orders.parquet"
    assert cat.exists("validation") and not cat.exists("survey_responses")
    back = cat.load_tables(ibis.duckdb.connect())
    assert back.report == reference.report
    pd.testing.assert_frame_equal(back.customers, reference.customers)
    for name in ("orders", "interactions"):  # history tables stay Ibis tables (Parquet views)
        assert isinstance(getattr(back, name), ibis.Table)
        pd.testing.assert_frame_equal(
            getattr(back, name).to_pandas(), getattr(reference, name).to_pandas()
        )
    assert back.survey_responses is None and back.campaign_exposures is None


def test_a_table_the_config_no_longer_has_is_removed(tiny_config: Path, tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "run")
    validate_into(load_config(tiny_config), cat)
    assert cat.exists("interactions")
    cfg = load_config(tiny_config)
    cfg = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"interactions": None})})
    validate_into(cfg, cat)
    assert not cat.exists("interactions")
    assert cat.load_tables(ibis.duckdb.connect()).interactions is None


def test_a_notebook_of_a_run_reads_the_tables_without_validating_again(
    tiny_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "runs" / "r1"
    validate_into(load_config(tiny_config), Catalog(run_dir))

    def no_second_validation(*args, **kwargs):
        raise AssertionError("the sources were read and validated again")

    monkeypatch.setattr(sources, "load_tables", no_second_validation)
    ctx = RunContext.open(tiny_config, run_dir)
    assert len(ctx.tables.customers) == 4
    assert ctx.tables.orders.count().to_pyarrow().as_py() == 6
    ctx.save({"validation": {"tables": []}})  # a notebook never replaces it
    assert ctx.load("validation")["tables"]


def test_by_hand_the_tables_are_validated_into_the_scratch_folder(tiny_config: Path) -> None:
    ctx = RunContext.open(tiny_config)
    assert ctx.tables.report.tables["orders"].rows_kept == 6
    scratch = load_config(tiny_config).reports_path / "scratch"
    assert (scratch / "tables" / "orders.parquet").is_file()
    assert (scratch / "artifacts" / "validation.json").is_file()


def test_the_run_provides_validation_to_the_notebooks() -> None:
    assert set(RUN_DATASETS) == {
        "customers",
        "orders",
        "interactions",
        "survey_responses",
        "survey_items",
        "campaign_exposures",
        "contracts",
        "validation",
    }
    assert set(RUN_DATASETS) <= set(catalog_module.DATASETS)
    spec = preflight.NotebookSpec(
        "01_overview",
        preflight.Requirements(tables=("customers",), artifacts=("validation",)),
    )
    assert preflight.decide([spec], ["customers"])[0].applicable
    assert preflight.missing_artifact_reason(spec, set(), []) is None


@pytest.fixture
def bad_project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "project")
    orders = pd.read_csv(root / "data" / "orders.csv", dtype=str)
    orders.loc[1, "order_date"] = "not a date"
    orders.to_csv(root / "data" / "orders.csv", index=False)
    return write_config(root)


def test_a_validation_error_stops_the_run_before_any_notebook(bad_project: Path) -> None:
    record = pipeline.run(bad_project, progress=False)
    assert record.status == "failed"
    assert [nb.status for nb in record.notebooks] == ["not run"] * 3
    assert not any((record.run_dir / "notebooks").iterdir())  # no kernel started
    check = record.validation
    assert check["status"] == "failed" and check["error"]["table"] == "orders"
    message = check["error"]["evalue"]  # table, column, row and fix
    assert "column 'order_date'" in message and "row 2: 'not a date'" in message
    assert "Fix:" in message
    saved = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert saved["validation"]["error"]["table"] == "orders"
    page = (record.run_dir / "index.html").read_text(encoding="utf-8")
    assert "did not pass validation" in page and "order_date" in page and "not a date" in page
    reports = record.run_dir.parent.parent
    assert not (reports / "latest").exists()
    with pytest.raises(pipeline.RunFailed, match="(?s)validating the sources.*order_date"):
        record.raise_for_status()


def test_the_cli_says_why_validation_stopped_the_run(bad_project: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--config", str(bad_project)])
    assert result.exit_code == 1
    assert "order_date" in result.output and "not a date" in result.output


def test_the_cli_catches_every_segwork_error(
    tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class SomeNewError(SegworkError, RuntimeError):
        pass

    def fails(*args, **kwargs):
        raise SomeNewError("a clear message with the fix")

    monkeypatch.setattr(pipeline, "run", fails)
    result = CliRunner().invoke(app, ["run", "--config", str(tiny_config)])
    assert result.exit_code == 2
    assert "error: a clear message with the fix" in result.output
    assert "Traceback" not in result.output


def test_an_unexpected_validation_error_fails_the_run_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segwork.context

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in validation")

    monkeypatch.setattr(segwork.context, "validate_into", broken)
    config = write_config(write_project(tmp_path / "project"))
    record = pipeline.run(config, progress=False)
    assert record.status == "failed"
    assert record.validation["error"]["ename"] == "RuntimeError"
    assert "a bug in validation" in record.validation["error"]["traceback"]
    assert json.loads((record.run_dir / "run.json").read_text())["status"] == "failed"


def test_a_kernel_imports_what_its_notebook_imports_without_binding_names(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell("import json\nfrom os import path as p, sep\nx = 1"),
            new_code_cell("%matplotlib inline\nimport colorsys"),  # not Python: left to the cell
            new_code_cell("from segwork import no_such_module\nimport textwrap"),
        ]
    )
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    code = pipeline._warm_up_code(path)
    assert "'json'" in code and "'textwrap'" in code and "colorsys" not in code
    namespace: dict = {}
    exec(code, namespace)  # a failing import is ignored: the notebook's own cell reports it
    assert set(namespace) == {"__builtins__"}


def test_run_json_says_where_each_notebooks_time_went(tmp_path: Path) -> None:
    config = write_config(write_project(tmp_path / "project"))
    record = pipeline.run(config, progress=False)
    assert record.status == "succeeded", record.failed_notebook
    check = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))["validation"]
    assert check["status"] == "succeeded" and check["tables"] == {"customers": 3, "orders": 3}
    for nb in record.notebooks:
        t = nb.timings
        assert {"kernel_wait", "kernel_boot", "execute", "cells", "render"} <= set(t), nb.stem
        assert t["cells"] <= t["execute"] <= nb.duration_s
        assert t["kernel_wait"] <= t["kernel_boot"]

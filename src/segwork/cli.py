"""The command line: `segwork demo`, `segwork validate`, `segwork run`, `segwork assign`.

Errors a user can fix (a bad config, a broken table, a run already in progress, a setting that a
run would trip on) are printed as one clear message and exit with status 2; a run whose notebook
failed exits with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from segwork.config import ConfigError
from segwork.schema import SchemaError

app = typer.Typer(
    help="segwork: customer segmentation workbench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEFAULT_CONFIG = Path("configs/demo.yaml")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder to write the demo CRM into.")] = Path(
        "data/demo"
    ),
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    years: Annotated[float, typer.Option(help="Years of order history.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
) -> None:
    """Write the synthetic demo CRM (customers, orders, interactions, survey, campaigns, planted truth)."""
    from segwork.demo import write_demo

    path = write_demo(out, n_customers=customers, years=years, seed=seed)
    typer.echo(f"demo data written to {path}")


@app.command()
def validate(
    config: Annotated[Path, typer.Option(help="Run config (YAML).")] = DEFAULT_CONFIG,
) -> None:
    """Read and validate every source of a config; say what a run would trip on and what applies.

    Exits with status 2 when a run would fail or refuse (a table that does not validate, a
    notebook setting that does not fit, a control variant not in the data, ...).
    """
    from segwork import pipeline, preflight
    from segwork.config import load_config
    from segwork.sources import load_tables

    try:
        cfg = load_config(config)
        specs, findings = preflight.read_specs(cfg, pipeline.find_notebooks(cfg.notebooks_path))
    except (ConfigError, pipeline.PipelineError) as e:
        _fail(str(e))
    findings += preflight.reports_dir_findings(cfg.reports_path)
    decisions = preflight.decide(specs, preflight.configured_tables(cfg))
    try:
        tables = load_tables(cfg)
    except (ConfigError, SchemaError) as e:
        typer.echo(preflight.Preflight(findings, decisions).summary())
        _fail(str(e))
    typer.echo(tables.report.summary())
    found, notes = preflight.check_data(cfg, specs, decisions, tables)
    result = preflight.Preflight(findings + found, decisions, notes)
    typer.echo("")
    typer.echo(result.summary())
    if result.errors:
        raise typer.Exit(2)


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="Run config (YAML).")] = DEFAULT_CONFIG,
    notebook: Annotated[
        list[str] | None, typer.Option(help="Run only these notebooks (file stems).")
    ] = None,
) -> None:
    """Run every notebook with papermill into reports/runs/<run-id>/ and publish the HTML reports."""
    from segwork import pipeline

    try:
        record = pipeline.run(config, notebooks=notebook or None)
    except (ConfigError, SchemaError, pipeline.RunLockedError, pipeline.PipelineError) as e:
        _fail(str(e))
    if record.status != "succeeded":
        typer.secho(
            f"run {record.run_id} failed; see {record.run_dir / 'index.html'}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    typer.secho(
        f"run {record.run_id} succeeded in {record.duration_s:.1f} s: {record.run_dir / 'index.html'}",
        fg=typer.colors.GREEN,
    )
    for nb in record.notebooks:
        if nb.status == "not applicable":
            typer.echo(f"  {nb.stem} did not apply: {nb.reason}")


@app.command()
def assign(
    model: Annotated[Path, typer.Option(help="A persona model saved by notebook 03 (.skops).")],
    input: Annotated[Path, typer.Option(help="Survey answers of new customers (CSV or Parquet).")],  # noqa: A002
    output: Annotated[
        Path, typer.Option(help="Where to write customer_id, cluster, persona (CSV/Parquet).")
    ] = Path("assignments.csv"),
) -> None:
    """Place new customers into the existing persona clusters."""
    from segwork import clusters

    try:
        path = clusters.assign_file(model, input, output)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"assignments written to {path}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()

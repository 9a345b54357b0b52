"""A notebook's handle on one run: the config, the validated tables and the run's catalog.

Every notebook starts with ``ctx = RunContext.open(config_path, run_dir)``, computes with a
step function and saves the step's named outputs with ``ctx.save(result)``; every dataset is
read and written through :class:`segwork.catalog.Catalog`. Under ``segwork run`` the run folder
is ``<run_dir>``; by hand in JupyterLab (empty run_dir) it is ``<reports>/scratch`` so notebooks
can be run in order without a pipeline.

The validated tables (``ctx.tables``) are read from the run's catalog: ``segwork run`` reads and
validates each source once, before any notebook, and writes them there (history tables as
Parquet, read back as DuckDB or Spark views; per-customer tables as pandas; the validation
report as JSON). A notebook opened by hand (no run folder, or one without them) validates once
in its own kernel and writes them to the scratch folder the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segwork.catalog import ARTIFACTS_FOLDER, CUSTOMER_TABLE, RUN_DATASETS, Catalog, dataset
from segwork.config import RunConfig, load_config
from segwork.schema import Tables, ValidationReport


@dataclass
class RunContext:
    config: RunConfig
    artifacts_dir: Path
    run_dir: Path | None = None
    _tables: Tables | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls, config_path: str | os.PathLike[str], run_dir: str | os.PathLike[str] = ""
    ) -> RunContext:
        """Load and validate the config; set the figure style; find the artifacts folder."""
        from segwork.plots import set_theme

        cfg = load_config(config_path)
        base = Path(run_dir) if str(run_dir) else cfg.reports_path / "scratch"
        artifacts = base / ARTIFACTS_FOLDER
        artifacts.mkdir(parents=True, exist_ok=True)
        set_theme()
        return cls(
            config=cfg, artifacts_dir=artifacts, run_dir=Path(run_dir) if str(run_dir) else None
        )

    @property
    def analysis_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.config.analysis_date)

    @property
    def tables(self) -> Tables:
        """The validated tables of this run, read from its catalog on first use.

        Under ``segwork run`` the run validated every source once and wrote them; here they are
        only opened (no source is read or validated again). By hand (scratch folder) the sources
        are validated once in this kernel and written to the scratch folder first.
        """
        if self._tables is None:
            from segwork import engines

            catalog = self.catalog
            if self.run_dir is None or not catalog.exists("validation"):
                validate_into(self.config, catalog)
            self._tables = catalog.load_tables(engines.connect(self.config))
        return self._tables

    def has_table(self, name: str) -> bool:
        """Whether this run has the table ``name``, without reading any data.

        True when the config has a source for it; for ``customers`` also when they are derived
        from the ids of another table (always, in a valid config). ``ctx.tables.<name>`` is
        None exactly when this is False (``customers`` is always a DataFrame when it is True).
        """
        from segwork.config import TABLES
        from segwork.preflight import available_tables, configured_tables

        if name not in TABLES:
            raise ValueError(f"no table named {name!r}; the tables are: {', '.join(TABLES)}")
        return name in available_tables(configured_tables(self.config))

    @property
    def catalog(self) -> Catalog:
        """The datasets of this run folder (see :mod:`segwork.catalog`)."""
        return Catalog(self.artifacts_dir.parent, self.config.reports_path)

    def save(self, result: Any) -> None:
        """Write the named outputs of a step result (its ``outputs()``) or of a mapping.

        The datasets the run itself writes (the validated tables and ``validation``) are
        skipped: a notebook never replaces what validation recorded.
        """
        outputs = result.outputs() if hasattr(result, "outputs") else result
        self.catalog.save_all({k: v for k, v in outputs.items() if k not in RUN_DATASETS})

    def load(self, name: str) -> Any:
        """Read the dataset ``name`` of this run through the catalog."""
        return self.catalog.load(name)

    def exists(self, name: str) -> bool:
        """Whether this run has the dataset ``name`` (see :mod:`segwork.catalog`)."""
        return self.catalog.exists(name)

    @property
    def run_id(self) -> str:
        """This run's id (the run folder's name), or 'scratch' when run by hand."""
        return self.run_dir.name if self.run_dir is not None else "scratch"

    def earlier_runs(self) -> list[dict[str, Any]]:
        """run.json of every earlier *successful* run in this reports folder, oldest first."""
        from segwork.pipeline import load_run_records

        runs = [
            r
            for r in load_run_records(self.config.reports_path)
            if r.get("status") == "succeeded" and r["run_id"] != self.run_id
        ]
        return sorted(runs, key=lambda r: r.get("started", ""))

    def artifact_history(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(run.json, dataset) of each earlier successful run that recorded it, oldest first."""
        dataset(name)
        out = []
        for run in self.earlier_runs():
            catalog = Catalog(
                self.config.reports_path / "runs" / run["run_id"], self.config.reports_path
            )
            if catalog.exists(name):
                out.append((run, catalog.load(name)))
        return out

    def previous_artifact(self, name: str) -> Any | None:
        """The artifact as the last successful run recorded it, or None if no run did."""
        history = self.artifact_history(name)
        return history[-1][1] if history else None

    def customer_table(self, artifacts: tuple[str, ...] = CUSTOMER_TABLE) -> pd.DataFrame:
        """The customer 360 joined with the per-customer results of earlier notebooks.

        One row per customer, indexed by customer_id: profile and behaviour (notebook 01), RFM
        scores, segments, CLV and propensity (02), persona cluster (03), whichever exist.
        """
        base = self.load(artifacts[0]).set_index("customer_id")
        for name in artifacts[1:]:
            if self.exists(name):
                extra = self.load(name).set_index("customer_id")
                base = base.join(
                    extra[[c for c in extra.columns if c not in base.columns]], how="left"
                )
        return base


def validate_into(cfg: RunConfig, catalog: Catalog) -> ValidationReport:
    """Read and validate every source of ``cfg`` once and write the tables through ``catalog``.

    Raises what validation raises (:class:`segwork.schema.SchemaError`, a ``ConfigError``):
    nothing is written then. The engine's connection is closed afterwards, so the tables it
    held in memory are freed. Returns the validation report.
    """
    from segwork.sources import load_tables

    tables = load_tables(cfg)
    try:
        catalog.save_tables(tables)
    finally:
        disconnect = getattr(tables.con, "disconnect", None)
        if disconnect is not None and tables.con.name != "pyspark":  # Spark's session is shared
            disconnect()
    return tables.report

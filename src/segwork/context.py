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

By hand, a notebook may run before the notebooks that write what it reads (say 04 before 02
in a fresh session). :meth:`RunContext.load` then reads the dataset from the latest successful
run (``reports/latest``) when the scratch folder lacks it, and says once which run that was;
when neither has it, the error names the notebook to run first. What a notebook saves still
goes to the scratch folder, and the validated tables are always the scratch folder's own.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segwork.catalog import (
    ARTIFACTS_FOLDER,
    CUSTOMER_TABLE,
    RUN_DATASETS,
    Catalog,
    CatalogError,
    dataset,
)
from segwork.config import RunConfig, load_config
from segwork.schema import Tables, ValidationReport


@dataclass
class RunContext:
    config: RunConfig
    artifacts_dir: Path
    run_dir: Path | None = None
    _tables: Tables | None = field(default=None, repr=False)
    #: datasets a notebook run by hand read from the latest successful run: {name: run id}
    read_from: dict[str, str] = field(default_factory=dict, repr=False)

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
        return Catalog(self.artifacts_dir.parent, self.reports_path)

    def save(self, result: Any) -> None:
        """Write the named outputs of a step result (its ``outputs()``) or of a mapping.

        The datasets the run itself writes (the validated tables and ``validation``) are
        skipped: a notebook never replaces what validation recorded.
        """
        outputs = result.outputs() if hasattr(result, "outputs") else result
        self.catalog.save_all({k: v for k, v in outputs.items() if k not in RUN_DATASETS})

    def load(self, name: str) -> Any:
        """Read the dataset ``name`` of this run through the catalog.

        By hand (scratch folder) a dataset the scratch folder lacks is read from the latest
        successful run, saying so once; when that run lacks it too, a :class:`CatalogError`
        names the notebook that writes it.
        """
        fallback = self._fallback(name)
        if fallback is not None:
            self._say_read_from(name, fallback)
            return fallback.load(name)
        if self._scratch_may_fall_back(name) and not self.catalog.exists(name):
            raise CatalogError(self._missing_message(name))
        return self.catalog.load(name)

    def exists(self, name: str) -> bool:
        """Whether this run has the dataset ``name`` (see :mod:`segwork.catalog`); by hand,
        also when the latest successful run has it (what :meth:`load` would read)."""
        return self.catalog.exists(name) or self._fallback(name) is not None

    @property
    def reports_path(self) -> Path:
        """The reports folder of this run: the one holding its run folder under ``segwork run``
        (which may override the config's ``reports_dir``), else the config's."""
        if self.run_dir is not None:
            return Path(self.run_dir).resolve().parent.parent
        return self.config.reports_path

    def latest_run_dir(self) -> Path | None:
        """The run folder ``reports/latest`` points at (the latest successful run), if any."""
        link = self.reports_path / "latest"
        if not link.exists():
            return None
        target = link.resolve()
        return target if target.is_dir() else None

    def _scratch_may_fall_back(self, name: str) -> bool:
        """Datasets a notebook writes, read by hand: the ones the latest run may stand in for
        (not the validated tables, not state kept across runs)."""
        d = dataset(name)
        return self.run_dir is None and d.scope == "run" and name not in RUN_DATASETS

    def _fallback(self, name: str) -> Catalog | None:
        """The latest successful run's catalog, when it stands in for the scratch folder."""
        if not self._scratch_may_fall_back(name) or self.catalog.exists(name):
            return None
        latest = self.latest_run_dir()
        if latest is None:
            return None
        catalog = Catalog(latest, self.reports_path)
        return catalog if catalog.exists(name) else None

    def _say_read_from(self, name: str, catalog: Catalog) -> None:
        run_id = catalog.run_dir.name
        if self.read_from.get(name) == run_id:
            return
        self.read_from[name] = run_id
        producer = dataset(name).producer
        print(
            f"read {name} from run {run_id}, the latest successful run: the scratch folder has "
            f"none yet (run notebook {producer} here to use this session's own)",
            file=sys.stdout,
            flush=True,
        )

    def _missing_message(self, name: str) -> str:
        d = dataset(name)
        latest = self.latest_run_dir()
        where = (
            f"nor in the latest successful run ({latest})"
            if latest is not None
            else f"and there is no successful run to read it from ({self.reports_path / 'latest'} does not exist)"
        )
        return (
            f"dataset {name!r} ({d.description}) is not in the scratch folder "
            f"{self.catalog.run_dir} {where}: run notebook {d.producer} first (it writes "
            f"{name}), or `segwork run` once."
        )

    @property
    def run_id(self) -> str:
        """This run's id (the run folder's name), or 'scratch' when run by hand."""
        return self.run_dir.name if self.run_dir is not None else "scratch"

    def earlier_runs(self) -> list[dict[str, Any]]:
        """run.json of every earlier *successful* run in this reports folder, oldest first."""
        from segwork.pipeline import load_run_records

        runs = [
            r
            for r in load_run_records(self.reports_path)
            if r.get("status") == "succeeded" and r["run_id"] != self.run_id
        ]
        return sorted(runs, key=lambda r: r.get("started", ""))

    def artifact_history(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(run.json, dataset) of each earlier successful run that recorded it, oldest first."""
        dataset(name)
        out = []
        for run in self.earlier_runs():
            catalog = Catalog(self.reports_path / "runs" / run["run_id"], self.reports_path)
            if catalog.exists(name):
                out.append((run, catalog.load(name)))
        return out

    def previous_artifact(self, name: str) -> Any | None:
        """The artifact as the last successful run recorded it, or None if no run did."""
        history = self.artifact_history(name)
        return history[-1][1] if history else None

    def customer_table(
        self, artifacts: tuple[str, ...] = CUSTOMER_TABLE, *, wait: bool = False
    ) -> pd.DataFrame:
        """The customer 360 joined with the per-customer results of earlier notebooks.

        One row per customer, indexed by customer_id: profile and behaviour (notebook 01), RFM
        scores, segments, CLV and propensity (02), persona cluster (03), whichever exist.
        ``wait``: first wait for the earlier notebooks of this run that write one of them and
        run beside this one (:meth:`wait_for`).
        """
        if wait:
            self.wait_for(artifacts[1:])
        base = self.load(artifacts[0]).set_index("customer_id")
        for name in artifacts[1:]:
            if self.exists(name):
                extra = self.load(name).set_index("customer_id")
                base = base.join(
                    extra[[c for c in extra.columns if c not in base.columns]], how="left"
                )
        return base

    def wait_for(self, names: tuple[str, ...], *, poll_s: float = 0.2) -> list[str]:
        """Under ``segwork run``, wait until the earlier notebooks of this run that write one of
        ``names`` have finished; return the notebooks waited for.

        Notebooks run side by side when their metadata allows it (``segwork.requires.uses``):
        notebook 03 fits its personas beside notebook 02 and reads 02's RFM table only for the
        comparison at the end. The run's ``run.json`` says which notebooks have finished; the
        notebooks' metadata which of them write what. By hand (no run folder), in a kernel the
        run did not start (no ``SEGWORK_NOTEBOOK``), or when no earlier notebook of the run
        writes these datasets, it returns at once; it also stops waiting when the run has ended.
        """
        me = os.environ.get("SEGWORK_NOTEBOOK")
        if self.run_dir is None or not me:
            return []
        providers = [s for s in self._run_notebooks() if s < me and self._provides(s) & set(names)]
        said = False
        while providers:
            record = self._run_record()
            status = {nb.get("stem"): nb.get("status") for nb in record.get("notebooks", [])}
            open_ = [s for s in providers if status.get(s) == "not run"]
            if not open_ or record.get("status") != "running":
                break
            if not said:
                print(
                    f"waiting for {', '.join(open_)}, which runs beside this notebook and writes "
                    f"what it reads ({', '.join(n for n in names if n in self._written_by(open_))})",
                    file=sys.stderr,
                    flush=True,
                )
                said = True
            time.sleep(poll_s)
        return providers

    def _run_record(self) -> dict[str, Any]:
        try:
            return json.loads((Path(self.run_dir) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being replaced: read again on the next poll
            return {"status": "running", "notebooks": []}

    def _run_notebooks(self) -> list[str]:
        return [nb.get("stem", "") for nb in self._run_record().get("notebooks", [])]

    def _provides(self, stem: str) -> set[str]:
        import nbformat

        from segwork.preflight import requirements

        path = self.config.notebooks_path / f"{stem}.ipynb"
        try:
            req, _ = requirements(nbformat.read(path, as_version=4).metadata, stem)
        except (OSError, ValueError):
            return set()
        return set(req.provides)

    def _written_by(self, stems: list[str]) -> set[str]:
        return set().union(*(self._provides(s) for s in stems))


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

"""A notebook's handle on one run: the config, the validated tables and the run's artifacts.

Every notebook starts with ``ctx = RunContext.open(config_path, run_dir)``. Under
``segwork run`` artifacts go to ``<run_dir>/artifacts``; by hand in JupyterLab (empty run_dir)
they go to ``<reports>/scratch/artifacts`` so notebooks can be run in order without a pipeline.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segwork.config import RunConfig, load_config
from segwork.files import atomic_write_bytes
from segwork.preflight import CUSTOMER_TABLE_ARTIFACTS
from segwork.sources import Tables, load_tables


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
        artifacts = base / "artifacts"
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
        """The validated tables (read on first use)."""
        if self._tables is None:
            self._tables = load_tables(self.config)
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

    def artifact_path(self, name: str) -> Path:
        for suffix in (".parquet", ".json"):
            p = self.artifacts_dir / f"{name}{suffix}"
            if p.exists():
                return p
        raise FileNotFoundError(
            f"artifact '{name}' not found in {self.artifacts_dir}. It is written by an earlier notebook: "
            "run the notebooks in order (or `segwork run`)."
        )

    def write_artifact(self, name: str, obj: pd.DataFrame | dict[str, Any] | list[Any]) -> None:
        """Write a DataFrame as Parquet or a dict/list as JSON, atomically (see :meth:`artifact_path`)."""
        if isinstance(obj, pd.DataFrame):
            atomic_write_bytes(self.artifacts_dir / f"{name}.parquet", obj.to_parquet())
        else:
            text = json.dumps(obj, indent=2, default=_json_default, allow_nan=False)
            atomic_write_bytes(self.artifacts_dir / f"{name}.json", text.encode("utf-8"))

    def read_artifact(self, name: str) -> Any:
        return _read(self.artifact_path(name))

    def has_artifact(self, name: str) -> bool:
        return any((self.artifacts_dir / f"{name}{s}").exists() for s in (".parquet", ".json"))

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
        """(run.json, artifact) of each earlier successful run that recorded the artifact, oldest first."""
        out = []
        for run in self.earlier_runs():
            folder = self.config.reports_path / "runs" / run["run_id"] / "artifacts"
            for suffix in (".parquet", ".json"):
                if (folder / f"{name}{suffix}").exists():
                    out.append((run, _read(folder / f"{name}{suffix}")))
                    break
        return out

    def previous_artifact(self, name: str) -> Any | None:
        """The artifact as the last successful run recorded it, or None if no run did."""
        history = self.artifact_history(name)
        return history[-1][1] if history else None

    def customer_table(self, artifacts: tuple[str, ...] = CUSTOMER_TABLE_ARTIFACTS) -> pd.DataFrame:
        """The customer 360 joined with the per-customer results of earlier notebooks.

        One row per customer, indexed by customer_id: profile and behaviour (notebook 01), RFM
        scores, segments, CLV and propensity (02), persona cluster (03), whichever exist.
        """
        base = self.read_artifact(artifacts[0]).set_index("customer_id")
        for name in artifacts[1:]:
            if self.has_artifact(name):
                extra = self.read_artifact(name).set_index("customer_id")
                base = base.join(
                    extra[[c for c in extra.columns if c not in base.columns]], how="left"
                )
        return base


def _read(path: Path) -> Any:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return json.loads(path.read_text(encoding="utf-8"))


def _json_default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")

"""A notebook's handle on one run: the config, the validated tables and the run's artifacts.

Every notebook starts with ``ctx = RunContext.open(config_path, run_dir)``. Under
``segwork run`` artifacts go to ``<run_dir>/artifacts``; by hand in JupyterLab (empty run_dir)
they go to ``<reports>/scratch/artifacts`` so notebooks can be run in order without a pipeline.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segwork.config import RunConfig, load_config
from segwork.sources import Tables, load_tables


@dataclass
class RunContext:
    config: RunConfig
    artifacts_dir: Path
    run_dir: Path | None = None
    _tables: Tables | None = field(default=None, repr=False)

    @classmethod
    def open(cls, config_path: str | os.PathLike[str], run_dir: str | os.PathLike[str] = "") -> RunContext:
        """Load and validate the config; set the figure style; find the artifacts folder."""
        from segwork.plots import set_theme

        cfg = load_config(config_path)
        base = Path(run_dir) if str(run_dir) else cfg.reports_path / "scratch"
        artifacts = base / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        set_theme()
        return cls(config=cfg, artifacts_dir=artifacts, run_dir=Path(run_dir) if str(run_dir) else None)

    @property
    def analysis_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.config.analysis_date)

    @property
    def tables(self) -> Tables:
        """The validated tables (read on first use)."""
        if self._tables is None:
            self._tables = load_tables(self.config)
        return self._tables

    def artifact_path(self, name: str) -> Path:
        for suffix in (".parquet", ".json"):
            p = self.artifacts_dir / f"{name}{suffix}"
            if p.exists():
                return p
        raise FileNotFoundError(
            f"artifact '{name}' not found in {self.artifacts_dir}. It is written by an earlier notebook: "
            "run the notebooks in order (or `segwork run`)."
        )

    def write_artifact(self, name: str, obj: pd.DataFrame | dict[str, Any] | list[Any]) -> Path:
        """Write a DataFrame as Parquet or a dict/list as JSON, atomically."""
        if isinstance(obj, pd.DataFrame):
            path = self.artifacts_dir / f"{name}.parquet"
            fd, tmp = tempfile.mkstemp(dir=self.artifacts_dir, suffix=".tmp")
            os.close(fd)
            obj.to_parquet(tmp)
        else:
            path = self.artifacts_dir / f"{name}.json"
            fd, tmp = tempfile.mkstemp(dir=self.artifacts_dir, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent=2, default=_json_default, allow_nan=False)
        os.replace(tmp, path)
        return path

    def read_artifact(self, name: str) -> Any:
        path = self.artifact_path(name)
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

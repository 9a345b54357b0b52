"""The catalog: every dataset of a run, declared once with its format and its place.

A run folder (``reports/runs/<run-id>/``) holds the validated tables (written once, by the run,
before any notebook starts), the artifacts each notebook step produces, and the exports for
people. Notebooks and steps never build a path: they ask the catalog by name::

    catalog = Catalog(run_dir, reports_dir)
    catalog.save("rfm", table)          # artifacts/rfm.parquet, atomically
    catalog.load("rfm")                 # the DataFrame back
    catalog.save_all(result.outputs())  # every named output of a step

Datasets whose ``scope`` is ``"reports"`` live beside the runs (``reports/state/...``) and carry
state from run to run (the action ledger, segment memberships).

Formats: ``parquet`` (a DataFrame), ``json`` (a dict or list), ``csv`` (a DataFrame for people:
cells neutralised, UTF-8 with BOM), ``model`` (an object with ``save(path)``; loaded by the
dataset's ``loader``), ``folder`` (an object with ``write(folder) -> list[Path]``).
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

from segwork.errors import SegworkError
from segwork.exports import csv_bytes
from segwork.files import atomic_write_bytes
from segwork.schema import CONTRACTS, Tables, ValidationReport

Format = Literal["parquet", "json", "csv", "model", "folder"]


class CatalogError(SegworkError, KeyError):
    """A dataset name the catalog does not declare, or a dataset that was not written."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Export(Protocol):
    """Something that writes its files into a folder (member lists, action lists)."""

    def write(self, folder: Path) -> list[Path]: ...


@dataclass(frozen=True)
class Dataset:
    """One dataset of a run: its name, format, place and who writes it."""

    name: str
    format: Format
    place: str  # relative to the run folder (scope "run") or the reports folder ("reports")
    producer: str  # "validate" (the run, before the notebooks) or a notebook stem
    description: str
    scope: Literal["run", "reports"] = "run"
    loader: str = ""  # "module:function" reading a "model" file (never pickle)


def _table(name: str, what: str) -> Dataset:
    return Dataset(name, "parquet", f"tables/{name}.parquet", "validate", what)


def _artifact(name: str, producer: str, what: str, fmt: Format = "parquet") -> Dataset:
    suffix = {"parquet": ".parquet", "json": ".json"}[fmt]
    return Dataset(name, fmt, f"artifacts/{name}{suffix}", producer, what)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        # validated sources, written once per run (segwork.pipeline) before any notebook
        _table("customers", "customers: configured, or derived from the ids of the other tables"),
        _table("orders", "orders after validation (order lines summed to orders)"),
        _table("interactions", "interactions after validation"),
        _table("survey_responses", "survey answers after validation"),
        _table("survey_items", "the survey catalogue: items, constructs, scales"),
        _table("campaign_exposures", "campaign exposures and outcomes after validation"),
        _table("contracts", "contracts and subscriptions after validation"),
        _artifact(
            "validation", "validate", "what validation counted, dropped and repaired", "json"
        ),
        # 01 data collection
        _artifact("customer360", "01_data_collection", "one row per customer: profile, behaviour"),
        # 02 RFM and CLV
        _artifact("rfm", "02_rfm_clv", "RFM scores, segments, CLV and propensity per customer"),
        _artifact(
            "clv_models",
            "02_rfm_clv",
            "fitted CLV model parameters, holdout checks and the lifetime model choice",
            "json",
        ),
        Dataset(
            "rfm_members", "folder", "rfm_segments", "02_rfm_clv", "member list per RFM segment"
        ),
        # 03 personas
        _artifact("personas", "03_personas", "persona per respondent"),
        _artifact("persona_profiles", "03_personas", "mean answers and size per persona"),
        Dataset(
            "persona_model",
            "model",
            "artifacts/persona_model.skops",
            "03_personas",
            "the fitted persona model (skops with a sha256 sidecar; assigns new customers)",
            loader="segwork.personas.model_file:load",
        ),
        # 04 campaign A/B
        _artifact("ab_overall", "04_campaign_ab", "whole-campaign results per variant and metric"),
        _artifact("ab_results", "04_campaign_ab", "results per segment, variant and metric"),
        _artifact("ab_decisions", "04_campaign_ab", "the decision per campaign (and segment)"),
        Dataset(
            "ab_decisions_csv",
            "csv",
            "artifacts/ab_decisions.csv",
            "04_campaign_ab",
            "the decision table for people",
        ),  # fmt: skip
        _artifact(
            "uplift_scores",
            "04_campaign_ab",
            "expected extra response per customer from the uplift model, with its rank",
        ),
        _artifact(
            "uplift_evaluation",
            "04_campaign_ab",
            "held-out Qini scores of the uplift models, random targeting and the segments that won",
        ),
        Dataset(
            "uplift_actions",
            "folder",
            "uplift_actions",
            "04_campaign_ab",
            "target list of the next campaign (action lists, consent applied)",
        ),
        _artifact(
            "ab_running",
            "04_campaign_ab",
            "running campaigns: sequential decisions, carried to the next run",
        ),
        # 05 rule segments
        _artifact("segment_membership", "05_rule_segments", "members of each rule segment"),
        _artifact("segment_changes", "05_rule_segments", "customers who entered or left"),
        _artifact("segment_kpis", "05_rule_segments", "size and value per rule segment"),
        Dataset("actions", "folder", "actions", "05_rule_segments", "action lists (tasks, ...)"),
        Dataset("segment_members", "folder", "members", "05_rule_segments", "members per segment"),
        Dataset(
            "action_ledger",
            "parquet",
            "state/action_ledger.parquet",
            "05_rule_segments",
            "every action issued, kept across runs so none is issued twice",
            scope="reports",
        ),
        # 06 contracts and subscriptions
        _artifact(
            "contract_fits", "06_contracts", "sBG fit per plan: parameters, lifetimes, value"
        ),
        _artifact("contract_retention", "06_contracts", "observed and model retention per plan"),
    ]
}


#: The validated tables, in reading order (customers first), and the datasets the run writes
#: before any notebook starts (a notebook never provides them).
TABLES: tuple[str, ...] = tuple(CONTRACTS)
RUN_DATASETS: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if d.producer == "validate")
ARTIFACTS_FOLDER = "artifacts"
#: The per-customer datasets the customer table joins, in order (``RunContext.customer_table``;
#: rules and segment columns are checked against it): profile and behaviour, RFM/CLV, persona.
CUSTOMER_TABLE: tuple[str, ...] = ("customer360", "rfm", "personas")


def dataset(name: str) -> Dataset:
    """The declaration of ``name``, or a :class:`CatalogError` with the closest names."""
    try:
        return DATASETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise CatalogError(
            f"no dataset named {name!r} in the catalog.{hint} "
            f"Declared: {', '.join(sorted(DATASETS))} (segwork.catalog.DATASETS)."
        ) from None


class Catalog:
    """The datasets of one run folder (and the state kept in its reports folder)."""

    def __init__(
        self, run_dir: str | os.PathLike[str], reports_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.reports_dir = Path(reports_dir) if reports_dir is not None else self.run_dir.parent

    def __repr__(self) -> str:
        return f"Catalog({str(self.run_dir)!r})"

    def path(self, name: str) -> Path:
        """Where ``name`` lives (it need not exist yet)."""
        d = dataset(name)
        return (self.reports_dir if d.scope == "reports" else self.run_dir) / d.place

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    @property
    def artifacts_dir(self) -> Path:
        """The folder of the run's artifacts (Parquet and JSON datasets of the notebooks)."""
        return self.run_dir / ARTIFACTS_FOLDER

    def save_tables(self, tables: Tables) -> dict[str, Path]:
        """Write the validated tables of a run and its validation report, once, before any notebook.

        History tables (Ibis tables: orders, interactions, campaign exposures) are written by
        the engine that holds them (DuckDB's ``COPY ... TO`` streams them; Spark writes a
        folder of parts), so they never pass through pandas; per-customer tables are pandas
        DataFrames written as Parquet. A table this run does not have is removed, so a scratch
        folder never keeps one from an earlier config. Each file is written to a temporary
        name and moved into place.
        """
        written: dict[str, Path] = {}
        for name in TABLES:
            data, path = getattr(tables, name), self.path(name)
            if data is None:
                _remove(path)
            elif isinstance(data, pd.DataFrame):
                written[name] = self.save(name, data)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
                _remove(tmp)
                data.to_parquet(tmp)  # the table's own backend: streamed, never pandas
                _remove(path)
                os.replace(tmp, path)
                written[name] = path
        written["validation"] = self.save("validation", tables.report.to_dict())
        return written

    def load_tables(self, con: Any) -> Tables:
        """The validated tables :meth:`save_tables` wrote, without validating them again.

        History tables become Parquet views of ``con`` (an Ibis backend: DuckDB or Spark), so
        nothing is read until a query needs it; the others are pandas DataFrames; the report
        is read from the ``validation`` dataset.
        """
        report = ValidationReport.from_dict(self.load("validation"))
        loaded: dict[str, Any] = {}
        for name in TABLES:
            if name not in report.tables:
                continue
            if not self.exists(name):
                self.load(name)  # the CatalogError that says who writes it
            if CONTRACTS[name].history:
                # Spark's temporary views are shared by the session: a name of their own
                spark = getattr(con, "name", "") == "pyspark"
                table_name = f"segwork_validated_{name}" if spark else name
                loaded[name] = con.read_parquet(str(self.path(name)), table_name=table_name)
            else:
                loaded[name] = self.load(name)
        return Tables(con=con, report=report, **loaded)

    def load(self, name: str) -> Any:
        """Read ``name``: a DataFrame (parquet, csv), a dict/list (json), a model, or the folder."""
        d, path = dataset(name), self.path(name)
        if not path.exists():
            raise CatalogError(
                f"dataset {name!r} ({d.description}) is not in {self.run_dir}: it is written by "
                f"{_producer(d)}. Run the notebooks in order, or `segwork run`."
            )
        if d.format == "parquet":
            return pd.read_parquet(path)
        if d.format == "json":
            return json.loads(path.read_text(encoding="utf-8"))
        if d.format == "csv":
            return pd.read_csv(path, encoding="utf-8-sig")
        if d.format == "model":
            module, func = d.loader.split(":")
            return getattr(importlib.import_module(module), func)(path)
        return path

    def save(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as dataset ``name`` in its declared format, atomically; its path."""
        d, path = dataset(name), self.path(name)
        if d.format == "parquet":
            _expect(name, obj, pd.DataFrame)
            atomic_write_bytes(path, obj.to_parquet())
        elif d.format == "json":
            _expect(name, obj, (dict, list))
            text = json.dumps(obj, indent=2, default=_json_default, allow_nan=False)
            atomic_write_bytes(path, text.encode("utf-8"))
        elif d.format == "csv":
            _expect(name, obj, pd.DataFrame)
            atomic_write_bytes(path, csv_bytes(obj))
        elif d.format == "model":
            path.parent.mkdir(parents=True, exist_ok=True)
            obj.save(path)
        else:
            path.mkdir(parents=True, exist_ok=True)
            obj.write(path)
        return path

    def save_all(self, outputs: Mapping[str, Any]) -> dict[str, Path]:
        """Write every named output of a step (None values are skipped: not produced)."""
        for name in outputs:
            dataset(name)  # every name is declared before anything is written
        return {name: self.save(name, obj) for name, obj in outputs.items() if obj is not None}


def _remove(path: Path) -> None:
    """Remove a file or a folder (Spark writes Parquet as a folder of parts), if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _producer(d: Dataset) -> str:
    if d.producer == "validate":
        return "the run's validation of the sources"
    return f"notebook {d.producer}"


def _expect(name: str, obj: Any, kind: type | tuple[type, ...]) -> None:
    if not isinstance(obj, kind):
        want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise CatalogError(f"dataset {name!r} takes a {want}, got {type(obj).__name__}")


def _json_default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")

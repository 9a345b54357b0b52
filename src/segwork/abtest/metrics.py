"""Outcome metrics of the exposures: which columns are tested, as which kind (binary, numeric,
money), resolved from the notebook setting or from the data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from segwork.abtest.conventions import PARAMS, TABLE, ABTestError
from segwork.schema import require_columns

METRIC_COLUMNS = {"conversion": "converted", "revenue": "revenue"}


METRIC_KINDS = {"conversion": "binary", "revenue": "money"}


KIND_ALIASES = {
    "binary": "binary",
    "proportion": "binary",
    "rate": "binary",
    "0/1": "binary",
    "numeric": "numeric",
    "mean": "numeric",
    "number": "numeric",
    "money": "money",
    "amount": "money",
    "currency": "money",
}


# A numeric outcome whose name says it is an amount of money is shown with the currency.
_MONEY_NAME = re.compile(
    r"revenue|spend|sales|amount|value|margin|profit|price|turnover|basket|income|tr[zž]ba|obrat",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Metric:
    """One outcome of a campaign: its name in results, its column in the exposures and its kind.

    ``binary`` (0/1 per customer: a proportion, tested as conversion is), ``numeric`` (a mean
    per customer, tested as revenue is) or ``money`` (numeric, shown with the currency)."""

    name: str
    column: str
    kind: str

    @property
    def binary(self) -> bool:
        return self.kind == "binary"


MetricsArg = Sequence[str] | Mapping[str, str | None] | str | Sequence[Metric] | None


def resolve_metrics(
    metrics: MetricsArg, exposures: pd.DataFrame | ibis.Table
) -> tuple[Metric, ...]:
    """The outcomes to evaluate, from the notebook parameter ``metrics``.

    * a mapping column -> kind (``binary`` = 0/1 per customer, ``numeric`` = a mean per customer,
      ``money`` = numeric shown with the currency; ``auto`` or null = inferred);
    * a list of columns (kinds inferred: a column holding only 0 and 1 is binary, any other
      numeric column is numeric, or money when its name says so: revenue, spend, sales, amount...);
    * the contract's names ``conversion`` (column ``converted``) and ``revenue``, the default.
    A name that is a column of the exposures always means that column."""
    if metrics is None:
        metrics = ("conversion", "revenue")
    if isinstance(metrics, str):
        metrics = (metrics,)
    if isinstance(metrics, Mapping):
        items: list[Any] = [(str(k), v) for k, v in metrics.items()]
    else:
        items = [m if isinstance(m, Metric) else (str(m), None) for m in metrics]
    if items and all(isinstance(m, Metric) for m in items):  # already resolved
        return tuple(items)
    if not items:
        raise ABTestError(
            f"{PARAMS}.metrics is empty: name at least one outcome column of {TABLE}, "
            "e.g. metrics: {converted: binary, revenue: money}"
        )
    columns = [str(c) for c in exposures.columns]
    rows: list[list[Any]] = []
    for item in items:
        if isinstance(item, Metric):
            rows.append([item.name, item.column, item.kind])
            continue
        name, kind = item
        col = name if name in columns or name not in METRIC_COLUMNS else METRIC_COLUMNS[name]
        if col not in columns:
            if name in METRIC_COLUMNS:
                require_columns(columns, [col], TABLE)  # the contract column: a SchemaError
            raise ABTestError(
                f"{PARAMS}.metrics: '{name}' is not a column of {TABLE}; its numeric columns are "
                f"{', '.join(_outcome_candidates(exposures)) or '(none)'}. Fix: list outcome "
                "columns that exist"
            )
        if kind is None or str(kind).strip().lower() == "auto":
            kind = METRIC_KINDS.get(name) if col == METRIC_COLUMNS.get(name) else None
        else:
            k = KIND_ALIASES.get(str(kind).strip().lower())
            if k is None:
                raise ABTestError(
                    f"{PARAMS}.metrics.{name}: unknown type '{kind}'; use binary (0/1 per customer), "
                    "numeric (a mean per customer) or money (numeric, shown with the currency)"
                )
            kind = k
        rows.append([name, col, kind])
    names = [r[0] for r in rows]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ABTestError(f"{PARAMS}.metrics: '{dup[0]}' is listed twice; list each outcome once")
    if "pre" in names:
        raise ABTestError(
            f"{PARAMS}.metrics: 'pre' is reserved for the pre-period metric; rename that column "
            f"in sources.{TABLE}.columns"
        )
    kinds = _column_kinds(exposures, [r[1] for r in rows])
    for r in rows:
        found = kinds[r[1]]
        if found == "text":
            raise ABTestError(
                f"table '{TABLE}', column '{r[1]}': outcome '{r[0]}' must hold numbers (0/1 for a "
                f"binary outcome), but the column holds text. Fix: convert it in sources.{TABLE} or "
                f"leave it out of {PARAMS}.metrics"
            )
        if r[2] is None:
            r[2] = (
                "binary"
                if found == "binary"
                else "money"
                if _MONEY_NAME.search(r[0])
                else "numeric"
            )
    return tuple(Metric(*r) for r in rows)


def _column_kinds(t: pd.DataFrame | ibis.Table, cols: Sequence[str]) -> dict[str, str]:
    """'binary' (only 0/1 or booleans, ignoring missing), 'numeric' or 'text' per column."""
    out: dict[str, str] = {}
    if isinstance(t, ibis.Table):
        schema = t.schema()
        num = []
        for c in dict.fromkeys(cols):
            dt = schema[c]
            if dt.is_boolean():
                out[c] = "binary"
            elif dt.is_numeric():
                num.append(c)
            else:
                out[c] = "text"
        if num:
            aggs = {
                f"b{i}": ((t[c].cast("float64") != 0) & (t[c].cast("float64") != 1)).sum()
                for i, c in enumerate(num)
            }
            res = t.aggregate(**aggs).to_pandas().iloc[0]
            for i, c in enumerate(num):
                out[c] = "numeric" if int(res[f"b{i}"] or 0) else "binary"
        return out
    for c in dict.fromkeys(cols):
        s = t[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = "binary"
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            v = v[~np.isnan(v)]
            out[c] = "binary" if np.isin(v, (0.0, 1.0)).all() else "numeric"
        else:
            out[c] = "text"
    return out


def _outcome_candidates(t: pd.DataFrame | ibis.Table) -> list[str]:
    """Numeric or boolean columns of the exposures that are not keys: possible outcomes."""
    keys = {"customer_id", "campaign_id", "variant", "assigned_at"}
    if isinstance(t, ibis.Table):
        sch = t.schema()
        return [
            c for c in t.columns if c not in keys and (sch[c].is_numeric() or sch[c].is_boolean())
        ]
    return [
        c
        for c in t.columns
        if c not in keys
        and (pd.api.types.is_numeric_dtype(t[c]) or pd.api.types.is_bool_dtype(t[c]))
    ]


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    try:
        values = df[col].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ABTestError(
            f"table '{TABLE}', column '{col}': values must be numbers (got {df[col].dtype}); "
            f"convert the column in sources.{TABLE}"
        ) from err
    bad = np.isnan(values)
    if bad.any():
        rows = ", ".join(map(str, df.index[bad][:5]))
        raise ABTestError(
            f"table '{TABLE}', column '{col}': {int(bad.sum())} missing values (e.g. rows {rows}); "
            f"fill them in the export (0 = no conversion / no revenue) or drop those rows"
        )
    return values


def _check_binary(values: np.ndarray, col: str = "converted") -> None:
    bad = (values != 0) & (values != 1)
    if np.any(bad):
        raise ABTestError(
            f"table '{TABLE}', column '{col}': a binary outcome must be 0/1 (or booleans); found "
            f"{int(np.sum(bad))} other values, e.g. {np.unique(values[bad])[:5].tolist()}. Fix: "
            f"declare it as numeric in {PARAMS}.metrics, or recode it to 0/1"
        )


def default_metrics(exposures: pd.DataFrame | ibis.Table) -> tuple[str, ...]:
    """The contract's outcomes the exposures have (conversion from 'converted', 'revenue')."""
    found = tuple(m for m, col in METRIC_COLUMNS.items() if col in exposures.columns)
    if not found:
        raise ABTestError(_no_metrics_message(exposures))
    return found


def _no_metrics_message(exposures) -> str:
    cand = _outcome_candidates(exposures)
    return (
        f"{PARAMS}.metrics is not set and {TABLE} has neither 'converted' nor 'revenue'. Fix: set "
        f"{PARAMS}.metrics to its outcome columns with their types, e.g. metrics: "
        "{<0/1 column>: binary, <amount column>: money}"
        + (f"; numeric columns of {TABLE}: {', '.join(cand)}" if cand else "")
    )

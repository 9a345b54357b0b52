"""What kind of values a column holds (number, text, bool, date), for pandas, Ibis or a
{column: dtype} mapping: the types a rule is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as idt
import pandas as pd

# ------------------------------------------------------------------------------- column types


@dataclass(frozen=True)
class _ColType:
    kind: str  # number, string, bool, date, empty (all missing), other, duplicate
    dtype: str  # as shown in messages


_KIND_WORDS = {
    "number": "a number column",
    "string": "a text column",
    "bool": "a boolean (true/false) column",
    "date": "a date column",
    "other": "a column of a type rules cannot test",
    "duplicate": "a duplicated column",
}
_INFERRED = {
    "string": "string",
    "empty": "empty",
    "boolean": "bool",
    "integer": "number",
    "floating": "number",
    "mixed-integer-float": "number",
    "decimal": "number",
    "datetime": "date",
    "datetime64": "date",
    "date": "date",
}
_KIND_NAMES = {
    "number": "number",
    "numeric": "number",
    "text": "string",
    "string": "string",
    "str": "string",
    "bool": "bool",
    "boolean": "bool",
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
}


def _kind_of_values(values: Any) -> str:
    return _INFERRED.get(pd.api.types.infer_dtype(values, skipna=True), "other")


def _kind_of_pandas(dtype: Any, values: Any = None) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        if dtype.categories is None:
            return "string"
        cats = dtype.categories
        return (
            _kind_of_values(cats)
            if pd.api.types.is_object_dtype(cats.dtype)
            else _kind_of_pandas(cats.dtype)
        )
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "other" if getattr(dtype, "kind", "") == "c" else "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_object_dtype(dtype) and values is not None:
        return _kind_of_values(values)
    if pd.api.types.is_string_dtype(dtype):
        return "string"  # StringDtype, or object without values to look at
    return "other"


def _kind_of_ibis(dtype: idt.DataType) -> str:
    if dtype.is_boolean():
        return "bool"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "string"
    if dtype.is_timestamp() or dtype.is_date():
        return "date"
    return "empty" if dtype.is_null() else "other"


def _schema_types(schema: Any) -> dict[str, _ColType]:
    """{column: type} of a DataFrame, an Ibis table or schema, or a {column: dtype} mapping."""
    if isinstance(schema, ibis.Table):
        schema = schema.schema()
    if isinstance(schema, pd.DataFrame):
        out: dict[str, _ColType] = {}
        for pos, name in enumerate(schema.columns):
            if not isinstance(name, str):
                continue
            if name in out:
                out[name] = _ColType("duplicate", "duplicate column")
                continue
            s = schema.iloc[:, pos]
            kind = _kind_of_pandas(s.dtype, s)
            label = str(s.dtype)
            if pd.api.types.is_object_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
                label += f" ({pd.api.types.infer_dtype(s, skipna=True)} values)"
            out[name] = _ColType(kind, label)
        return out
    if isinstance(schema, ibis.Schema):
        return {name: _ColType(_kind_of_ibis(t), str(t)) for name, t in schema.items()}
    if isinstance(schema, Mapping):
        out = {}
        for name, dtype in schema.items():
            if isinstance(dtype, idt.DataType):
                out[str(name)] = _ColType(_kind_of_ibis(dtype), str(dtype))
            elif isinstance(dtype, str) and dtype.lower() in _KIND_NAMES:
                out[str(name)] = _ColType(_KIND_NAMES[dtype.lower()], dtype)
            else:
                try:
                    pd_dtype = pd.api.types.pandas_dtype(dtype)
                except TypeError as exc:
                    raise ValueError(
                        f"schema: column '{name}' has an unrecognised dtype {dtype!r}; use a "
                        "pandas or Ibis dtype or one of number, string, bool, date"
                    ) from exc
                out[str(name)] = _ColType(_kind_of_pandas(pd_dtype), str(pd_dtype))
        return out
    raise TypeError(
        "a schema is a pandas DataFrame, an Ibis table or schema, or a {column: dtype} "
        f"mapping; got {type(schema).__name__}"
    )

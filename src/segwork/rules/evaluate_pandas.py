"""Evaluate a rule tree on a pandas DataFrame with nullable booleans (NA = unknown)."""

from __future__ import annotations

import operator
from typing import Any

import pandas as pd

from segwork.rules.column_types import (
    _ColType,
)
from segwork.rules.tree import (
    _OPS,
    And,
    Between,
    Column,
    Compare,
    InList,
    IsMissing,
    Literal,
    Node,
    Not,
    Or,
    TextMatch,
    Within,
    _balanced,
    _column_of,
    _window_start,
)

# ------------------------------------------------------------------------------- pandas backend


class PandasEvaluator:
    """Evaluate a rule tree on a DataFrame with nullable booleans (NA = unknown)."""

    def __init__(self, df: pd.DataFrame, types: dict[str, _ColType], today: pd.Timestamp) -> None:
        self.df, self.types, self.today = df, types, today
        self._cache: dict[str, tuple[pd.Series, pd.Series]] = {}

    def column(self, name: str) -> tuple[pd.Series, pd.Series]:
        """(values converted for their kind, missing mask) of a column."""
        if name not in self._cache:
            raw = self.df[name]
            missing = raw.isna()
            kind = self.types[name].kind
            s = raw.astype(object) if isinstance(raw.dtype, pd.CategoricalDtype) else raw
            if kind == "number" and not pd.api.types.is_numeric_dtype(s.dtype):
                s = pd.to_numeric(s, errors="coerce")
            elif kind == "string":
                s = s.astype("string")
            elif kind == "bool":
                s = s.astype("boolean")
            elif kind == "date":
                if not pd.api.types.is_datetime64_any_dtype(s.dtype):
                    s = pd.to_datetime(s, errors="coerce")
                if getattr(s.dt, "tz", None) is not None:
                    s = s.dt.tz_convert("UTC").dt.tz_localize(None)
                s = s.dt.normalize()
            self._cache[name] = (s, missing)
        return self._cache[name]

    def unknown_where(self, result: Any, missing: pd.Series) -> pd.Series:
        out = result if isinstance(result, pd.Series) else pd.Series(result, index=self.df.index)
        return out.astype("boolean").mask(missing)

    @staticmethod
    def value(lit: Literal) -> Any:
        return pd.Timestamp(lit.value) if lit.kind == "date" else lit.value

    def eval(self, node: Node) -> pd.Series:
        match node:
            case Not(operand=operand):
                return ~self.eval(operand)
            case And(items=items):
                return _balanced([self.eval(i) for i in items], operator.and_)
            case Or(items=items):
                return _balanced([self.eval(i) for i in items], operator.or_)
        col = _column_of(node)
        assert col is not None
        s, missing = self.column(col.name)
        if isinstance(node, IsMissing):
            return (~missing if node.negated else missing).astype("boolean")
        if self.types[col.name].kind == "empty":
            return pd.Series(pd.NA, index=self.df.index, dtype="boolean")
        match node:
            case Column():
                result: Any = s
            case Compare(op=op, value=v):
                result = _OPS[op](s, self.value(v))
            case InList(values=values, negated=neg):
                result = s.isin([self.value(v) for v in values])
                result = ~result if neg else result
            case Between(low=lo, high=hi, negated=neg):
                result = (s >= self.value(lo)) & (s <= self.value(hi))
                result = ~result if neg else result
            case TextMatch(op=op, value=v, ignore_case=ic):
                needle = v.value.lower() if ic else v.value
                text = s.str.lower() if ic else s
                result = (
                    text.str.contains(needle, regex=False)
                    if op == "contains"
                    else text.str.startswith(needle)
                    if op == "starts"
                    else text.str.endswith(needle)
                )
            case Within(amount=n, unit=unit, older=older):
                start = _window_start(self.today, n, unit)
                result = (s <= start) if older else (s > start) & (s <= self.today)
            case _:
                raise TypeError(f"not a rule node: {node!r}")
        return self.unknown_where(result, missing)

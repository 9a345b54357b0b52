"""Compile a rule tree to an Ibis boolean expression (SQL three-valued logic), so a rule runs
in the engine that holds the data (DuckDB, Spark, PostgreSQL)."""

from __future__ import annotations

import operator
from typing import Any

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
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

# --------------------------------------------------------------------------------- Ibis backend


class IbisEvaluator:
    """Compile a rule tree to an Ibis boolean expression (SQL three-valued logic)."""

    def __init__(self, table: ir.Table, types: dict[str, _ColType], today: pd.Timestamp) -> None:
        self.table, self.types, self.today = table, types, today

    def column(self, name: str) -> ir.Value:
        col = self.table[name]
        dtype = col.type()
        if dtype.is_floating():  # NaN counts as missing, as in pandas
            col = ibis.cases((col.isnan(), ibis.null(dtype)), else_=col)
        elif dtype.is_timestamp():
            col = col.date()  # dates compare as calendar days
        return col

    @staticmethod
    def value(lit: Literal) -> Any:
        return ibis.date(lit.value) if lit.kind == "date" else lit.value

    def eval(self, node: Node) -> ir.BooleanValue:
        match node:
            case Not(operand=operand):
                return ~self.eval(operand)
            case And(items=items):
                return _balanced([self.eval(i) for i in items], operator.and_)
            case Or(items=items):
                return _balanced([self.eval(i) for i in items], operator.or_)
        col_node = _column_of(node)
        assert col_node is not None
        if isinstance(node, IsMissing):
            c = self.column(col_node.name)
            return c.notnull() if node.negated else c.isnull()
        if self.types[col_node.name].kind == "empty":
            return ibis.null(idt.boolean)
        c = self.column(col_node.name)
        match node:
            case Column():
                return c
            case Compare(op=op, value=v):
                return _OPS[op](c, self.value(v))
            case InList(values=values, negated=neg):
                vals = [self.value(v) for v in values]
                return c.notin(vals) if neg else c.isin(vals)
            case Between(low=lo, high=hi, negated=neg):
                inside = c.between(self.value(lo), self.value(hi))
                return ~inside if neg else inside
            case TextMatch(op=op, value=v, ignore_case=ic):
                needle = v.value.lower() if ic else v.value
                text = c.lower() if ic else c
                return (
                    text.contains(needle)
                    if op == "contains"
                    else text.startswith(needle)
                    if op == "starts"
                    else text.endswith(needle)
                )
            case Within(amount=n, unit=unit, older=older):
                start = ibis.date(_window_start(self.today, n, unit).date())
                if older:
                    return c <= start
                return (c > start) & (c <= ibis.date(self.today.date()))
        raise TypeError(f"not a rule node: {node!r}")

"""A parsed rule (:class:`Rule`): its columns, canonical text, checks against a schema, and
its evaluation in pandas (:meth:`Rule.mask`) or Ibis (:meth:`Rule.to_ibis`)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from segwork.rules.column_types import (
    _KIND_WORDS,
    _ColType,
    _schema_types,
)
from segwork.rules.errors import (
    RuleError,
    _short,
)
from segwork.rules.evaluate_ibis import IbisEvaluator
from segwork.rules.evaluate_pandas import PandasEvaluator
from segwork.rules.tree import (
    _TEXT_OPS,
    Between,
    Column,
    Compare,
    InList,
    IsMissing,
    Literal,
    Node,
    TextMatch,
    Within,
    _column_of,
    _format,
    _format_column,
    _format_literal,
    _walk,
)
from segwork.schema import to_day

# -------------------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """A parsed rule: immutable and hashable; equal rules have equal trees (whatever the
    spelling of their text). ``str(rule)`` is the canonical text."""

    expr: Node
    text: str = field(default="", compare=False, repr=False)

    @property
    def columns(self) -> list[str]:
        """The columns the rule reads, sorted and unique."""
        names = {c.name for n in _walk(self.expr) if (c := _column_of(n)) is not None}
        return sorted(names)

    def __str__(self) -> str:
        return _format(self.expr)

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"

    # -- checking
    def _error(self, reason: str, node: Node, *, column: str | None = None) -> RuleError:
        if self.text:
            return RuleError(reason, self.text, node.span[0], node.span[1], column=column)
        return RuleError(f"{reason} (in rule: {_short(str(self), 200)})", column=column)

    def problems(self, schema: Any) -> list[RuleError]:
        """Every unknown column and type mismatch of the rule against ``schema`` (may be empty)."""
        types = _schema_types(schema)
        errors: list[RuleError] = []
        reported: set[str] = set()
        for node in _walk(self.expr):
            col = _column_of(node)
            if col is None:
                continue
            if col.name not in types:
                if col.name not in reported:
                    reported.add(col.name)
                    err = self._error(_unknown_column(col.name, list(types)), col, column=col.name)
                    err.kind = "unknown_column"
                    errors.append(err)
                continue
            problem = _type_problem(node, col, types[col.name])
            if problem:
                err = self._error(problem, node, column=col.name)
                err.kind = "type"
                errors.append(err)
        return errors

    def validate(self, schema: Any) -> Rule:
        """Check the rule's columns and types against a DataFrame, an Ibis table/schema or a
        {column: dtype} mapping; raise one RuleError listing every problem. Returns the rule."""
        errors = self.problems(schema)
        if errors:
            raise RuleError.combine(errors)
        return self

    # -- running
    def mask(self, customers: pd.DataFrame, *, today: Any = None) -> pd.Series:
        """Which customers meet the rule: a bool Series aligned to ``customers.index``.

        Unknown (missing values, see the module docstring) counts as not meeting it. ``today``
        anchors ``within``/``older than``: pass the analysis date; default is the current date.
        """
        if not isinstance(customers, pd.DataFrame):
            raise TypeError(f"mask() needs a pandas DataFrame, got {type(customers).__name__}")
        self.validate(customers)
        types = _schema_types(customers)
        result = PandasEvaluator(customers, types, _as_today(today)).eval(self.expr)
        return result.fillna(False).astype(bool).rename(None)

    def to_ibis(self, table: ir.Table, *, today: Any = None) -> ir.BooleanValue:
        """The rule as an Ibis boolean expression on ``table`` (unknown -> False), e.g. for
        ``table.filter(rule.to_ibis(table, today=analysis_date))``."""
        if not isinstance(table, ibis.Table):
            raise TypeError(f"to_ibis() needs an Ibis table, got {type(table).__name__}")
        self.validate(table)
        types = _schema_types(table)
        expr = IbisEvaluator(table, types, _as_today(today)).eval(self.expr)
        return expr.fill_null(False)


def describe_columns(columns: Sequence[str], *, limit: int = 40) -> str:
    """The columns a table has, for an error message: 'a, b, c' (and how many more)."""
    shown = [_format_column(str(c)) for c in list(columns)[:limit]]
    more = len(columns) - len(shown)
    return (", ".join(shown) or "(none)") + (f" and {more} more" if more > 0 else "")


def _unknown_column(name: str, columns: list[str]) -> str:
    suggestions: list[str] = []
    if len(name) <= 200:
        folded = [c for c in columns if c.lower() == name.lower() and c != name]
        close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
        suggestions = list(dict.fromkeys(folded + close))[:3]
    present = describe_columns(sorted(columns))
    if suggestions:
        return (
            f"unknown column '{_short(name)}'; did you mean "
            f"{' or '.join(_format_column(s) for s in suggestions)}? (the table's columns: "
            f"{present})"
        )
    return (
        f"unknown column '{_short(name)}'; the table has {len(columns)} columns and none is "
        f"close: {present}"
    )


def _type_problem(node: Node, col: Column, ctype: _ColType) -> str | None:
    """Why ``node`` cannot apply to a column of type ``ctype`` (None if it can)."""
    kind = ctype.kind
    if kind == "duplicate":
        return f"column '{col.name}' appears more than once in the table; rename one of them"
    if isinstance(node, IsMissing) or kind == "empty":
        return None
    name = _format_column(col.name)
    if isinstance(node, Compare | InList | Between):
        lit = (
            node.value
            if isinstance(node, Compare)
            else node.values[0]
            if isinstance(node, InList)
            else node.low
        )
        needed = lit.kind
        if isinstance(node, Compare):
            what = {
                "number": f"comparing with the number {_format_literal(lit)}",
                "string": f"comparing with the text {_short(_format_literal(lit))}",
                "bool": f"comparing with {_format_literal(lit)}",
                "date": f"comparing with {_format_literal(lit)}",
            }[needed]
        elif isinstance(node, InList):
            what = f"'{'not in' if node.negated else 'in'}' with a list of {needed} values"
        else:
            what = f"'between' with {needed} bounds"
    elif isinstance(node, TextMatch):
        lit, needed = node.value, "string"
        what = f"'{'i' if node.ignore_case else ''}{_TEXT_OPS[node.op]}'"
    elif isinstance(node, Within):
        lit, needed, what = None, "date", "'older than'" if node.older else "'within'"
    else:  # a bare column
        lit, needed, what = None, "bool", "a column used on its own as a condition"
    if kind == needed:
        return None
    message = (
        f"{what} needs {_KIND_WORDS[needed]}, but column '{col.name}' is {_KIND_WORDS[kind]} "
        f"(dtype {ctype.dtype})"
    )
    return message + _type_hint(name, kind, lit)


def _type_hint(name: str, kind: str, lit: Literal | None) -> str:
    if lit is None:
        if kind == "number":
            return f"; write a comparison such as {name} > 0"
        if kind == "string":
            return f'; write a comparison such as {name} == "..." or {name} is not missing'
        if kind == "bool":
            return f"; use {name} on its own or {name} == true"
        return ""
    if kind == "string" and lit.kind == "number":
        return f'; write the value in quotes ("{_format_literal(lit)}") to compare as text'
    if kind == "date" and lit.kind == "string":
        shown = (
            lit.value if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", lit.value) else "YYYY-MM-DD"
        )
        return f'; write the date as date("{shown}")'
    if (
        kind == "number"
        and lit.kind == "string"
        and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", lit.value)
    ):
        return "; remove the quotes to compare as a number"
    if kind == "bool" and lit.kind == "number":
        return "; write true or false"
    if kind == "other":
        return "; only 'is missing' / 'is not missing' work on it"
    return ""


def _as_today(today: Any) -> pd.Timestamp:
    """The analysis date as a timezone-naive midnight (default: today), by segwork's one
    time-zone rule (:func:`segwork.schema.to_day`: aware values -> UTC, then naive)."""
    if today is None:
        return pd.Timestamp.today().normalize()
    return to_day(today, "today", error=RuleError)

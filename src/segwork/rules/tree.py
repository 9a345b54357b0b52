"""The rule tree: the words of the language, the node dataclasses, their canonical text,
and the helpers both evaluators share."""

from __future__ import annotations

import datetime as dt
import operator
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

MAX_RULE_LENGTH = 10_000  # characters of rule text
MAX_DEPTH = 100  # nesting of parentheses and `not`

# Words that cannot be bare column names (backquote a column named like one of them).
# fmt: off
KEYWORDS = frozenset({
    "and", "or", "not", "in", "between", "is", "missing", "null", "true", "false",
    "contains", "icontains", "starts", "istarts", "ends", "iends", "with",
    "within", "before", "after", "older", "than",
})
# fmt: on
_NEEDS_QUOTES = KEYWORDS | {"lambda"}
UNITS = {word: unit for unit in ("day", "week", "month", "year") for word in (unit, unit + "s")}
_MAX_AMOUNT = {"day": 73_000, "week": 10_400, "month": 2_400, "year": 200}  # ~200 years back
_MIN_DATE, _MAX_DATE = dt.date(1678, 1, 1), dt.date(2261, 12, 31)  # inside pandas' datetime range
_MAX_INT = 2**63 - 1
_ORDERING = ("<", "<=", ">", ">=")
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TEXT_OPS = {"contains": "contains", "starts": "starts with", "ends": "ends with"}
_OPERATOR_HINTS = {
    "startswith": "starts with",
    "endswith": "ends with",
    "like": "contains",
    "ilike": "icontains",
    "has": "contains",
    "isnull": "is missing",
    "notnull": "is not missing",
    "equals": "==",
}


# ------------------------------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Node:
    """Base of the rule tree. ``span`` (start, end) locates the node in the text; it is not part
    of equality, so ``parse(str(rule)) == rule``."""

    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Column(Node):
    """A column of the customer table; used on its own as a condition it must be boolean."""

    name: str


@dataclass(frozen=True)
class Literal(Node):
    """A constant: ``kind`` is 'number', 'string', 'bool' or 'date' (part of equality, so
    ``true`` never equals ``1``)."""

    value: Any
    kind: str


@dataclass(frozen=True)
class Compare(Node):
    """``column op value`` with op one of == != < <= > >=."""

    column: Column
    op: str
    value: Literal


@dataclass(frozen=True)
class InList(Node):
    """``column in [values]`` (``negated``: ``not in``)."""

    column: Column
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between(Node):
    """``column between low and high`` (inclusive; ``negated``: ``not between``)."""

    column: Column
    low: Literal
    high: Literal
    negated: bool = False


@dataclass(frozen=True)
class IsMissing(Node):
    """``column is missing`` (``negated``: ``is not missing``); never unknown."""

    column: Column
    negated: bool = False


@dataclass(frozen=True)
class TextMatch(Node):
    """``column contains|starts with|ends with "text"`` (op: 'contains', 'starts', 'ends')."""

    column: Column
    op: str
    value: Literal
    ignore_case: bool = False


@dataclass(frozen=True)
class Within(Node):
    """``column within N units`` or (``older``) ``column older than N units``; unit is
    'day', 'week', 'month' or 'year'."""

    column: Column
    amount: int
    unit: str
    older: bool = False


@dataclass(frozen=True)
class Not(Node):
    """``not operand`` (Kleene: unknown stays unknown)."""

    operand: Node


@dataclass(frozen=True)
class And(Node):
    """All items hold (Kleene: false if any is false, else unknown if any is unknown)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    """Any item holds (Kleene: true if any is true, else unknown if any is unknown)."""

    items: tuple[Node, ...]


_LEAVES = (Compare, InList, Between, IsMissing, TextMatch, Within)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from _walk(node.operand)
    elif isinstance(node, And | Or):
        for item in node.items:
            yield from _walk(item)


def _column_of(node: Node) -> Column | None:
    if isinstance(node, Column):
        return node
    return node.column if isinstance(node, _LEAVES) else None


def _joined(cls: type[And] | type[Or], items: list[Node]) -> Node:
    """``And``/``Or`` of items, flattened (Kleene and/or are associative)."""
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, cls) else [item])
    return cls(tuple(flat), span=(items[0].span[0], items[-1].span[1]))


# -------------------------------------------------------------------------------- canonical text


def _is_plain_name(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(ch.isalnum() or ch == "_" for ch in name)
        and name.lower() not in _NEEDS_QUOTES
    )


def _format_column(name: str) -> str:
    return name if _is_plain_name(name) else "`" + name.replace("`", "``") + "`"


def _format_float(x: float) -> str:
    text = repr(x)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def _quote(s: str) -> str:
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _format_literal(lit: Literal) -> str:
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    if lit.kind == "string":
        return _quote(lit.value)
    if lit.kind == "date":
        return f'date("{lit.value.isoformat()}")'
    return _format_float(lit.value) if isinstance(lit.value, float) else str(lit.value)


def _precedence(node: Node) -> int:
    return (
        1
        if isinstance(node, Or)
        else 2
        if isinstance(node, And)
        else 3
        if isinstance(node, Not)
        else 4
    )


def _format(node: Node) -> str:
    """Canonical text: lower-case keywords, single spaces, only the parentheses needed."""

    def wrap(child: Node, at_least: int) -> str:
        text = _format(child)
        return f"({text})" if _precedence(child) < at_least else text

    match node:
        case Or(items=items):
            return " or ".join(wrap(i, 2) for i in items)
        case And(items=items):
            return " and ".join(wrap(i, 3) for i in items)
        case Not(operand=operand):
            # `not (x > 5)` reads unambiguously; `not flag` and `not not x` need no parentheses
            return "not " + (
                wrap(operand, 3) if isinstance(operand, Column | Not) else f"({_format(operand)})"
            )
        case Column(name=name):
            return _format_column(name)
        case Compare(column=c, op=op, value=v):
            return f"{_format_column(c.name)} {op} {_format_literal(v)}"
        case InList(column=c, values=values, negated=neg):
            items = ", ".join(_format_literal(v) for v in values)
            return f"{_format_column(c.name)} {'not in' if neg else 'in'} [{items}]"
        case Between(column=c, low=lo, high=hi, negated=neg):
            word = "not between" if neg else "between"
            return (
                f"{_format_column(c.name)} {word} {_format_literal(lo)} and {_format_literal(hi)}"
            )
        case IsMissing(column=c, negated=neg):
            return f"{_format_column(c.name)} is {'not ' if neg else ''}missing"
        case TextMatch(column=c, op=op, value=v, ignore_case=ic):
            return (
                f"{_format_column(c.name)} {'i' if ic else ''}{_TEXT_OPS[op]} {_format_literal(v)}"
            )
        case Within(column=c, amount=n, unit=unit, older=older):
            units = unit if n == 1 else unit + "s"
            word = "older than" if older else "within"
            return f"{_format_column(c.name)} {word} {n} {units}"
    raise TypeError(f"not a rule node: {node!r}")


def _window_start(today: pd.Timestamp, amount: int, unit: str) -> pd.Timestamp:
    return today - pd.DateOffset(**{unit + "s": amount})


def _balanced(items: Sequence[Any], op: Callable[[Any, Any], Any]) -> Any:
    """Combine items pairwise into a balanced tree (keeps SQL/Ibis expressions shallow)."""
    level = list(items)
    while len(level) > 1:
        level = [
            op(level[k], level[k + 1]) if k + 1 < len(level) else level[k]
            for k in range(0, len(level), 2)
        ]
    return level[0]

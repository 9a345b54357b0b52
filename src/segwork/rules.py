"""The segment rule language: saved segment definitions as text, parsed (never evaluated as code).

A rule reads like the saved views sales and marketing keep in a CRM::

    region == "Jihomoravský kraj" and revenue_365d > 50000 and not has_service_contract
    last_order_date within 6 months and rfm_segment in ["Champions", "Loyal"]

:func:`parse` turns the text into a :class:`Rule`, an immutable tree of small dataclasses
(``Compare``, ``InList``, ``Between``, ``IsMissing``, ``TextMatch``, ``Within``, ``Not``,
``And``, ``Or``, ``Column``, ``Literal``). The same tree runs on a pandas customer table
(:meth:`Rule.mask`) and compiles to an Ibis expression (:meth:`Rule.to_ibis`), so a rule runs
where the data is. The text goes through a hand-written tokenizer and recursive-descent parser
only: nothing in it is ever passed to ``eval``/``exec``, and the only things a rule can name are
columns of the table it is applied to.

The language
------------
* Comparisons ``== != < <= > >=`` between a column and a literal (the literal may also come
  first: ``50000 < revenue_365d``). Literals: numbers (``50_000``, ``-3``, ``0.75``; no
  exponents), text in double or single quotes (the JSON escapes
  ``\\\\ \\" \\/ \\n \\t \\r \\b \\f \\uXXXX`` and ``\\'``), ``true``/``false``, and dates
  ``date("2025-01-31")``. Text is compared with ``==``/``!=``
  only; ordering (``<`` ...) is for numbers and dates.
* ``and``, ``or``, ``not`` (precedence ``not`` > ``and`` > ``or``) and parentheses.
* ``x in [..]``, ``x not in [..]`` (parentheses work as brackets too), ``x between 1 and 5``
  (inclusive), ``x not between 1 and 5``.
* Missing values: ``x is missing``, ``x is not missing`` (``null`` is accepted for ``missing``).
* Text: ``x contains "abc"``, ``x starts with "ab"``, ``x ends with "z"`` are case-sensitive;
  ``icontains``, ``istarts with``, ``iends with`` ignore case (both sides lower-cased).
* A boolean column on its own is a condition: ``has_service_contract``, ``not email_opt_in``.
* Dates compare as calendar days (time of day is ignored), so ``x == date("2025-06-30")``
  matches any time that day and ``x after date(...)`` means a later day. ``x before d`` is
  ``x < d``; ``x after d`` is ``x > d``.
* Relative dates count back from ``today`` (the analysis date passed to ``mask``/``to_ibis``;
  by default the current date): ``x within N days|weeks|months|years`` (also ``within the last
  6 months``) holds when ``today - N units < day(x) <= today``: the analysis date and the N-1
  days before it, the same window as the customer table's ``orders_<N>d`` columns.
  ``x older than N units`` holds when ``day(x) <= today - N units``; for past dates the two
  are complements. Months and years are calendar months (clipped to the month's end).
* Column names are identifiers (letters, digits, ``_``; case-sensitive) or backquoted:
  ``\\`account manager\\```. Keywords (``and``, ``in``, ``missing``, ...) are case-insensitive;
  a column named like a keyword must be backquoted.

Missing values: three-valued logic, as in SQL
---------------------------------------------
A comparison, ``in``, ``between``, text match, date test or a bare boolean column is *unknown*
(not true, not false) for a customer whose value is missing. ``not`` keeps unknown unknown,
``and``/``or`` follow Kleene logic (``false and unknown`` is false, ``true or unknown`` is true),
and in the final mask unknown counts as "not a member". So ``not (x > 5)`` does *not* select
customers with a missing ``x``, exactly like ``NOT (x > 5)`` in SQL; use ``x is missing`` to
select them. Internally the pandas evaluator uses nullable booleans; the Ibis expression is the
same logic in SQL with a final ``COALESCE(..., FALSE)``. NaN counts as missing.

Rule sets
---------
:func:`load_rules` reads a YAML list of ``{name, description, rule, priority, owner, action}``
(validated with pydantic; all problems of all rules are reported at once) into a
:class:`RuleSet` with :meth:`RuleSet.memberships` and :meth:`RuleSet.exclusive`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from typing import Literal as TypingLiteral

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from segwork.errors import SegworkError

__all__ = [
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "ActionSpec",
    "And",
    "Between",
    "Column",
    "Compare",
    "InList",
    "IsMissing",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Rule",
    "RuleError",
    "RuleProblem",
    "RuleSet",
    "RuleSetError",
    "RuleSpec",
    "SegmentRule",
    "TextMatch",
    "Within",
    "describe_columns",
    "load_rules",
    "parse",
]

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


# --------------------------------------------------------------------------------------- errors


class RuleError(SegworkError, ValueError):
    """A problem with a rule: what is wrong and where (with a caret line under the rule text).

    Attributes: ``reason`` (the message without the excerpt), ``text`` (the rule text),
    ``position`` (0-based offset into ``text``, or None), ``column`` (the table column involved,
    if any) and ``problems`` (every problem found, when several are reported at once).
    """

    def __init__(
        self,
        reason: str,
        text: str | None = None,
        start: int | None = None,
        end: int | None = None,
        *,
        column: str | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.position = start
        self.end = end
        self.column = column
        self.kind = "syntax"  # or "unknown_column", "type" (set by Rule.problems)
        self.problems: list[RuleError] = [self]
        super().__init__(_render(reason, text, start, end))

    @classmethod
    def combine(cls, errors: Sequence[RuleError]) -> RuleError:
        """One error reporting all of ``errors`` (attributes of the first)."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        combined = cls(first.reason, first.text, first.position, first.end, column=first.column)
        combined.args = (
            f"{len(errors)} problems in the rule:\n"
            + "\n".join(f"- {_indent(str(e))}" for e in errors),
        )
        combined.problems = list(errors)
        return combined


@dataclass(frozen=True)
class RuleProblem:
    """One problem of a rule set, for callers that report it in their own words.

    ``rule`` is the rule's name (None when the problem is not one rule's), ``column`` the
    customer column involved (unknown or of the wrong type), ``kind`` one of ``file`` (YAML,
    shape), ``spec`` (keys, names), ``syntax`` (rule text), ``unknown_column``, ``type``;
    ``message`` is the full line as in :attr:`RuleSetError.errors`.
    """

    message: str
    rule: str | None = None
    column: str | None = None
    kind: str = "spec"


class RuleSetError(RuleError):
    """Problems in a set of rules (YAML): every problem, each naming its rule.

    ``errors`` holds one line per problem; ``details`` the same problems as
    :class:`RuleProblem` objects (rule, column, kind); ``source`` the rules file, if named.
    """

    def __init__(
        self,
        errors: Sequence[str],
        *,
        details: Sequence[RuleProblem] | None = None,
        source: str | None = None,
    ) -> None:
        prefix = f"rules file '{source}', " if source else ""
        self.errors = [prefix + e for e in errors]
        self.source = source
        self.details = [
            dataclasses.replace(d, message=prefix + d.message)
            for d in (details if details is not None else [RuleProblem(e) for e in errors])
        ]
        n = len(self.errors)
        where = f"the rules file '{source}'" if source else "the rule set"
        message = f"{n} problem{'s' if n > 1 else ''} in {where}:\n" + "\n".join(
            f"- {_indent(e[len(prefix) :])}" for e in self.errors
        )
        super().__init__(message)

    @property
    def unknown_columns(self) -> list[str]:
        """The customer columns the rules name that the table does not have (sorted)."""
        return sorted({d.column for d in self.details if d.kind == "unknown_column" and d.column})


def _indent(text: str, prefix: str = "  ") -> str:
    return text.replace("\n", "\n" + prefix)


def _render(reason: str, text: str | None, start: int | None, end: int | None) -> str:
    """The message: reason, where (line/character, 1-based) and the line with a caret under it."""
    if text is None or start is None:
        return reason
    start = max(0, min(start, len(text)))
    end = start + 1 if end is None or end <= start else min(end, len(text) + 1)
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end == -1 else line_end
    line, col = text[line_start:line_end], start - line_start
    where = (
        f"line {text.count(chr(10), 0, start) + 1}, character {col + 1}"
        if "\n" in text
        else f"character {col + 1}"
    )
    lo = max(0, col - 50) if len(line) > 100 else 0
    hi = min(len(line), lo + 100)
    shown = "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in line[lo:hi])
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(line) else ""
    pad = "".join("\t" if ch == "\t" else " " for ch in shown[: col - lo])
    width = max(1, min(end, line_end + 1) - start)
    width = min(width, max(1, len(shown) - (col - lo)))
    return (
        f"{reason} (at {where}):\n    {prefix}{shown}{suffix}\n"
        f"    {' ' * len(prefix)}{pad}{'^' * width}"
    )


def _short(s: str, limit: int = 40) -> str:
    return s if len(s) <= limit else s[: limit - 3] + "..."


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


# ------------------------------------------------------------------------------------ tokenizer


@dataclass(frozen=True, slots=True)
class Token:
    """kind: 'name', 'qname' (backquoted), 'number', 'string', 'op', '(', ')', '[', ']', ',',
    '-' or 'end'."""

    kind: str
    text: str
    value: Any
    start: int
    end: int

    @property
    def word(self) -> str | None:
        """The lower-cased word of a bare name (keywords are case-insensitive), else None."""
        return self.text.lower() if self.kind == "name" else None


_NUMBER = re.compile(r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
# JSON's escapes (so json.dumps output is valid rule text) plus \'
_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
}
_BAD_CHARS = {
    "=": "a single '=' is not an operator: use '==' to compare",
    "!": "'!' is not an operator: use '!=' or 'not'",
    "&": "use 'and' instead of '&'",
    "|": "use 'or' instead of '|'",
    ":": "unexpected ':' (slices, lambdas and dictionaries are not part of the rule language)",
    "{": "sets and dictionaries are not part of the rule language",
    "}": "sets and dictionaries are not part of the rule language",
    ";": "unexpected ';': a rule is a single condition",
    "#": "comments are not part of the rule language",
    "@": "unexpected '@'",
}


def _tokenize(text: str) -> list[Token]:
    """Split rule text into tokens; any character outside the language is a RuleError."""
    tokens: list[Token] = []
    i, n = 0, len(text)

    def fail(reason: str, start: int, end: int | None = None) -> RuleError:
        return RuleError(reason, text, start, end)

    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "0123456789":
            m = _NUMBER.match(text, i)
            assert m is not None
            j = m.end()
            if j < n and (text[j].isalnum() or text[j] in "_."):
                k = j
                while k < n and (text[k].isalnum() or text[k] in "_."):
                    k += 1
                raise fail(
                    f"malformed number '{_short(text[i:k])}': write digits with optional _ "
                    "separators and a decimal point, like 50_000 or 0.75 (no exponents; put a "
                    "space between a number and a word)",
                    i,
                    k,
                )
            raw = m.group().replace("_", "")
            if "." in raw:
                value: int | float = float(raw)
                if value == float("inf"):
                    raise fail("number too large", i, j)
            else:
                if len(raw.lstrip("0")) > 19 or int(raw) > _MAX_INT:
                    raise fail(f"number too large (at most {_MAX_INT})", i, j)
                value = int(raw)
            tokens.append(Token("number", m.group(), value, i, j))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(Token("name", text[i:j], text[i:j], i, j))
            i = j
        elif ch in "\"'":
            value_s, j = _read_string(text, i, fail)
            tokens.append(Token("string", text[i:j], value_s, i, j))
            i = j
        elif ch == "`":
            j, parts = i + 1, []
            while True:
                if j >= n:
                    raise fail("unterminated column name: the backquote is never closed", i, n)
                if text[j] == "`":
                    if j + 1 < n and text[j + 1] == "`":  # `` inside a quoted name is one backquote
                        parts.append("`")
                        j += 2
                        continue
                    break
                parts.append(text[j])
                j += 1
            if not parts:
                raise fail("empty column name between backquotes", i, j + 1)
            tokens.append(Token("qname", text[i : j + 1], "".join(parts), i, j + 1))
            i = j + 1
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tokens.append(Token("op", text[i : i + 2], text[i : i + 2], i, i + 2))
            i += 2
        elif ch in "<>":
            tokens.append(Token("op", ch, ch, i, i + 1))
            i += 1
        elif ch in "()[],-":
            tokens.append(Token(ch, ch, ch, i, i + 1))
            i += 1
        elif ch == ".":
            if i + 1 < n and text[i + 1] in "0123456789":
                raise fail("write numbers with a leading digit, like 0.5", i)
            raise fail("attribute access ('.') is not part of the rule language", i)
        elif ch in "+*/%^~":
            raise fail(
                f"arithmetic ('{ch}') is not part of the rule language: compare a column "
                "with a literal value",
                i,
            )
        elif ch in _BAD_CHARS:
            raise fail(_BAD_CHARS[ch], i, i + 2 if text.startswith(ch * 2, i) else i + 1)
        elif "\ud800" <= ch <= "\udfff":
            raise fail("the text contains an invalid character (a lone surrogate)", i)
        else:
            raise fail(f"unexpected character {ch!r}", i)
    tokens.append(Token("end", "", None, n, n))
    return tokens


def _read_string(text: str, start: int, fail: Callable[..., RuleError]) -> tuple[str, int]:
    """Read a quoted string starting at ``start``; returns (value, end offset)."""
    quote, n, j, out = text[start], len(text), start + 1, []
    while True:
        if j >= n:
            raise fail(f"unterminated string: the {quote} is never closed", start, n)
        c = text[j]
        if c == quote:
            return "".join(out), j + 1
        if c == "\\":
            if j + 1 >= n:
                raise fail(f"unterminated string: the {quote} is never closed", start, n)
            e = text[j + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                j += 2
                continue
            if e == "u" and _HEX4.fullmatch(text, j + 2, j + 6):
                code = int(text[j + 2 : j + 6], 16)
                if 0xD800 <= code <= 0xDFFF:
                    raise fail("\\u escape of a surrogate is not a valid character", j, j + 6)
                out.append(chr(code))
                j += 6
                continue
            raise fail(
                f"unknown escape '\\{e}' in a string (use \\\\, \\\", \\', \\n, \\t, \\r, \\b, \\f, \\/ or "
                "\\uXXXX)",
                j,
                j + 2,
            )
        out.append(c)
        j += 1


# --------------------------------------------------------------------------------------- parser


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the rule"
    if tok.kind == "name":
        return f"keyword '{tok.text}'" if tok.word in KEYWORDS else f"'{_short(tok.text)}'"
    if tok.kind == "qname":
        return f"column {_short(tok.text)}"
    if tok.kind == "number":
        return f"the number {_short(tok.text)}"
    if tok.kind == "string":
        return f"the text {_short(tok.text)}"
    return f"'{tok.text}'"


class _Parser:
    """Recursive descent over the token list (grammar in the module docstring).

    rule      := or EOF
    or        := and ("or" and)*
    and       := not ("and" not)*
    not       := "not" not | predicate
    predicate := "(" or ")" | literal OP column | column [condition]
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    @property
    def last_end(self) -> int:
        return self.tokens[self.i - 1].end if self.i > 0 else 0

    def error(
        self,
        reason: str,
        tok: Token | None = None,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> RuleError:
        tok = tok or self.peek()
        return RuleError(
            reason,
            self.text,
            tok.start if start is None else start,
            tok.end if end is None else end,
        )

    def accept(self, word: str) -> Token | None:
        if self.peek().word == word:
            return self.take()
        return None

    def expect(self, word: str, context: str) -> Token:
        tok = self.peek()
        if tok.word != word:
            raise self.error(f"expected '{word}' {context}, found {_describe(tok)}", tok)
        return self.take()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the rule nests deeper than {MAX_DEPTH} levels of parentheses and "
                "'not'; simplify it",
                tok,
            )

    # -- grammar
    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise RuleError(
                "empty rule: write a condition such as revenue_365d > 50000",
                self.text,
                0,
                max(1, len(self.text)),
            )
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == ")":
                raise self.error("unexpected ')' without a matching '('", tok)
            raise self.error(
                f"unexpected {_describe(tok)}: expected 'and', 'or' or the end of the rule", tok
            )
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.accept("or"):
            items.append(self.parse_and())
        return _joined(Or, items)

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.accept("and"):
            items.append(self.parse_not())
        return _joined(And, items)

    def parse_not(self) -> Node:
        tok = self.peek()
        if tok.word == "not":
            self.take()
            self.enter(tok)
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand, span=(tok.start, operand.span[1]))
        return self.parse_predicate()

    def _starts_literal(self) -> bool:
        tok = self.peek()
        return (
            tok.kind in ("number", "string", "-")
            or tok.word in ("true", "false")
            or (tok.word == "date" and self.peek(1).kind == "(")
        )

    def parse_predicate(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            self.enter(tok)
            node = self.parse_or()
            close = self.peek()
            if close.kind != ")":
                if close.kind == "end":
                    raise self.error("'(' is never closed", tok)
                raise self.error(
                    f"expected ')' to close the '(' at character {tok.start + 1}, found "
                    f"{_describe(close)}",
                    close,
                )
            self.take()
            self.depth -= 1
            return node
        if self._starts_literal():
            value = self.parse_literal("at the start of a condition")
            op = self.peek()
            if op.kind != "op":
                raise self.error(
                    f"a value on its own is not a condition; compare a column with it, "
                    f"e.g. revenue_365d > 50000 (found {_describe(op)} after the value)",
                    op,
                )
            self.take()
            column = self.parse_column(f"after '{op.text}'")
            return self._compare(
                column, _FLIP[op.value], value, op, span=(tok.start, self.last_end)
            )
        if tok.kind in ("[", "]"):
            raise self.error(
                "a list can only follow 'in' (x in [1, 2]); list expressions and "
                "subscripts are not part of the rule language",
                tok,
            )
        column = self.parse_column("at the start of a condition")
        return self.parse_condition(column)

    def parse_column(self, context: str) -> Column:
        tok = self.peek()
        if tok.kind == "qname":
            self.take()
            return Column(tok.value, span=(tok.start, tok.end))
        if tok.kind == "name":
            if tok.word == "lambda":
                raise self.error("lambda is not part of the rule language", tok)
            if tok.word in KEYWORDS:
                raise self.error(
                    f"expected a column name {context}, found keyword '{tok.text}' "
                    f"(a column of that name must be written in backquotes: `{tok.text}`)",
                    tok,
                )
            nxt = self.peek(1)
            if nxt.kind == "(":
                raise self.error(
                    f"function calls are not part of the rule language ('{_short(tok.text)}"
                    '(...)\'); the only call-like form is the literal date("YYYY-MM-DD")',
                    tok,
                    end=nxt.end,
                )
            if nxt.kind == "[":
                raise self.error("subscripts (x[...]) are not part of the rule language", nxt)
            self.take()
            return Column(tok.text, span=(tok.start, tok.end))
        raise self.error(f"expected a column name {context}, found {_describe(tok)}", tok)

    def parse_condition(self, column: Column) -> Node:
        start = column.span[0]
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            value = self.parse_literal(f"after '{tok.text}'")
            return self._compare(column, tok.value, value, tok, span=(start, self.last_end))
        negated = False
        if tok.word == "not":
            if self.peek(1).word not in ("in", "between"):
                raise self.error(
                    "after a column, 'not' can only start 'not in' or 'not between'; to "
                    "negate another condition put 'not' in front of it: "
                    f"not ({_format_column(column.name)} ...)",
                    tok,
                )
            self.take()
            negated = True
            tok = self.peek()
        word = tok.word
        if word == "in":
            self.take()
            return InList(column, self.parse_list(), negated, span=(start, self.last_end))
        if word == "between":
            self.take()
            low = self.parse_literal("after 'between'")
            self.expect("and", "between the two bounds of 'between'")
            high = self.parse_literal("after 'between ... and'")
            self._check_between(low, high, tok)
            return Between(column, low, high, negated, span=(start, self.last_end))
        if word == "is":
            self.take()
            neg = self.accept("not") is not None
            what = self.peek()
            if what.word not in ("missing", "null"):
                hint = (
                    " (for booleans write x == true or x == false)"
                    if what.word in ("true", "false")
                    else ""
                )
                raise self.error(
                    f"expected 'missing' or 'null' after 'is{' not' if neg else ''}', "
                    f"found {_describe(what)}{hint}",
                    what,
                )
            self.take()
            return IsMissing(column, neg, span=(start, self.last_end))
        if word in ("contains", "icontains", "starts", "istarts", "ends", "iends"):
            self.take()
            ignore_case = word.startswith("i")
            op = word[1:] if ignore_case else word
            if op != "contains":
                self.expect("with", f"after '{tok.text}'")
            value = self.parse_literal(f"after '{_TEXT_OPS[op]}'")
            if value.kind != "string":
                raise self.error(
                    f"'{_TEXT_OPS[op]}' needs a text in quotes, like \"abc\"",
                    start=value.span[0],
                    end=value.span[1],
                )
            return TextMatch(column, op, value, ignore_case, span=(start, self.last_end))
        if word in ("before", "after"):
            self.take()
            value = self.parse_literal(f"after '{word}'")
            if value.kind != "date":
                raise self.error(
                    f"'{word}' needs a date, like date(\"2025-01-31\")",
                    start=value.span[0],
                    end=value.span[1],
                )
            return Compare(
                column, "<" if word == "before" else ">", value, span=(start, self.last_end)
            )
        if word in ("within", "older"):
            self.take()
            if word == "older":
                self.expect("than", "after 'older'")
            else:
                self.accept("the")
                self.accept("last")
            amount, unit = self.parse_amount(f"'{word}{' than' if word == 'older' else ''}'")
            return Within(column, amount, unit, word == "older", span=(start, self.last_end))
        # a bare (boolean) column: only 'and', 'or', ')' or the end may follow
        if tok.kind not in (")", "end") and word not in ("and", "or"):
            hint = f"; did you mean '{_OPERATOR_HINTS[word]}'?" if word in _OPERATOR_HINTS else ""
            raise self.error(
                f"expected a condition after column '{_short(column.name)}' (==, !=, <, "
                "<=, >, >=, in, between, is missing, contains, starts with, ends with, "
                f"within, older than, before, after), found {_describe(tok)}{hint}",
                tok,
            )
        return column

    def _compare(
        self, column: Column, op: str, value: Literal, op_tok: Token, span: tuple[int, int]
    ) -> Compare:
        if op in _ORDERING and value.kind in ("string", "bool"):
            what = "text" if value.kind == "string" else "true/false"
            raise self.error(
                f"'{op_tok.text}' orders numbers and dates, not {what}; for text use ==, "
                "!=, in [...], contains or starts with",
                op_tok,
            )
        return Compare(column, op, value, span=span)

    def _check_between(self, low: Literal, high: Literal, tok: Token) -> None:
        span_end = high.span[1]
        if low.kind not in ("number", "date") or high.kind not in ("number", "date"):
            raise self.error(
                "'between' needs two numbers or two dates; for text use in [...]", tok, end=span_end
            )
        if low.kind != high.kind:
            raise self.error(
                "the bounds of 'between' must both be numbers or both be dates", tok, end=span_end
            )
        if low.value > high.value:
            raise self.error(
                f"the lower bound {_format_literal(low)} of 'between' is greater than "
                f"the upper bound {_format_literal(high)}; swap them",
                tok,
                end=span_end,
            )

    def parse_amount(self, context: str) -> tuple[int, str]:
        tok = self.peek()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 1:
            raise self.error(
                f"{context} needs a whole number of days, weeks, months or years, like "
                f"within 180 days; found {_describe(tok)}",
                tok,
            )
        self.take()
        unit_tok = self.peek()
        unit = UNITS.get(unit_tok.word or "")
        if unit is None:
            raise self.error(
                "expected a unit (days, weeks, months or years) after the number, "
                f"found {_describe(unit_tok)}",
                unit_tok,
            )
        self.take()
        if tok.value > _MAX_AMOUNT[unit]:
            raise self.error(
                f"{context} reaches back at most {_MAX_AMOUNT[unit]:,} {unit}s (about 200 years)",
                tok,
                end=unit_tok.end,
            )
        return tok.value, unit

    def parse_literal(self, context: str) -> Literal:
        tok = self.peek()
        if tok.kind == "-":
            self.take()
            num = self.peek()
            if num.kind != "number":
                raise self.error(f"expected a number after '-', found {_describe(num)}", num)
            self.take()
            return Literal(-num.value, "number", span=(tok.start, num.end))
        if tok.kind == "number":
            self.take()
            return Literal(tok.value, "number", span=(tok.start, tok.end))
        if tok.kind == "string":
            self.take()
            return Literal(tok.value, "string", span=(tok.start, tok.end))
        if tok.word in ("true", "false"):
            self.take()
            return Literal(tok.word == "true", "bool", span=(tok.start, tok.end))
        if tok.word == "date" and self.peek(1).kind == "(":
            return self.parse_date()
        if tok.kind == "name" and self.peek(1).kind == "(":
            raise self.error(
                f"function calls are not part of the rule language ('{_short(tok.text)}"
                '(...)\'); the only call-like form is the literal date("YYYY-MM-DD")',
                tok,
                end=self.peek(1).end,
            )
        if tok.kind in ("name", "qname") and tok.word not in KEYWORDS:
            raise self.error(
                f"expected a value {context}, found column {_short(tok.text)}: compare a "
                'column with a literal value (a number, "text", true/false or '
                'date("YYYY-MM-DD")); comparing two columns is not supported',
                tok,
            )
        if tok.kind == "[":
            raise self.error(
                f"expected a value {context}, found '[' (to test membership write x in [1, 2])", tok
            )
        raise self.error(f"expected a value {context}, found {_describe(tok)}", tok)

    def parse_date(self) -> Literal:
        start = self.take()  # 'date'
        self.take()  # '('
        tok = self.peek()
        if tok.kind != "string":
            raise self.error(
                f'date(...) needs a date in quotes, like date("2025-01-31"); found '
                f"{_describe(tok)}",
                tok,
            )
        self.take()
        close = self.peek()
        if close.kind != ")":
            raise self.error(f"expected ')' to close date(...), found {_describe(close)}", close)
        self.take()
        value = None
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", tok.value):
            try:
                value = dt.date.fromisoformat(tok.value)
            except ValueError:
                value = None
        if value is None:
            raise self.error(
                f"{_short(tok.text)} is not a valid date: write it as YYYY-MM-DD, like "
                'date("2025-01-31")',
                tok,
            )
        if not _MIN_DATE <= value <= _MAX_DATE:
            raise self.error(f"dates must lie between {_MIN_DATE} and {_MAX_DATE}", tok)
        return Literal(value, "date", span=(start.start, close.end))

    def parse_list(self) -> tuple[Literal, ...]:
        open_tok = self.peek()
        if open_tok.kind not in ("[", "("):
            raise self.error(
                f'expected a list after \'in\', like ["a", "b"]; found {_describe(open_tok)}',
                open_tok,
            )
        self.take()
        closing = "]" if open_tok.kind == "[" else ")"
        values: list[Literal] = []
        while self.peek().kind != closing:
            tok = self.peek()
            if tok.kind == "end":
                raise self.error(f"the list is never closed (missing '{closing}')", open_tok)
            if tok.kind in ("name", "qname") and not self._starts_literal():
                raise self.error(
                    'a list holds literal values (numbers, "text", true/false, '
                    f"date(...)), found {_describe(tok)}; column names and "
                    "comprehensions are not part of the rule language",
                    tok,
                )
            value = self.parse_literal("in the list")
            if values and value.kind != values[0].kind:
                raise self.error(
                    f"the list mixes {values[0].kind} and {value.kind} values; use one kind",
                    start=value.span[0],
                    end=value.span[1],
                )
            values.append(value)
            sep = self.peek()
            if sep.kind == ",":
                self.take()
            elif sep.kind == "end":
                raise self.error(f"the list is never closed (missing '{closing}')", open_tok)
            elif sep.kind != closing:
                raise self.error(
                    f"expected ',' or '{closing}' in the list, found {_describe(sep)}", sep
                )
        self.take()
        if not values:
            raise self.error(
                "an empty list matches nothing; remove the condition or add values",
                open_tok,
                end=self.last_end,
            )
        return tuple(values)


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
        result = _PandasEvaluator(customers, types, _as_today(today)).eval(self.expr)
        return result.fillna(False).astype(bool).rename(None)

    def to_ibis(self, table: ir.Table, *, today: Any = None) -> ir.BooleanValue:
        """The rule as an Ibis boolean expression on ``table`` (unknown -> False), e.g. for
        ``table.filter(rule.to_ibis(table, today=analysis_date))``."""
        if not isinstance(table, ibis.Table):
            raise TypeError(f"to_ibis() needs an Ibis table, got {type(table).__name__}")
        self.validate(table)
        types = _schema_types(table)
        expr = _IbisEvaluator(table, types, _as_today(today)).eval(self.expr)
        return expr.fill_null(False)


def parse(text: str | Rule) -> Rule:
    """Parse rule text into a :class:`Rule`; any problem raises :class:`RuleError`."""
    if isinstance(text, Rule):
        return text
    if not isinstance(text, str):
        raise RuleError(f"a rule is text, got {type(text).__name__}")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(
            f"the rule is too long ({len(text):,} characters; at most "
            f"{MAX_RULE_LENGTH:,}); split it into several rules"
        )
    return Rule(_Parser(text).parse(), text)


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
    """The analysis date as a timezone-naive midnight Timestamp (default: today)."""
    if today is None:
        return pd.Timestamp.today().normalize()
    try:
        ts = pd.Timestamp(today)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"today: cannot read {today!r} as a date; pass e.g. '2025-06-30'") from exc
    if pd.isna(ts):
        raise ValueError("today: got a missing date; pass the analysis date, e.g. '2025-06-30'")
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


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


# ------------------------------------------------------------------------------- pandas backend


class _PandasEvaluator:
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
                    s = s.dt.tz_localize(None)
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


# --------------------------------------------------------------------------------- Ibis backend


class _IbisEvaluator:
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


# ------------------------------------------------------------------------------------ rule sets


class ActionSpec(BaseModel):
    """What happens when a customer enters the segment (carried out by ``segwork.actions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: TypingLiteral["task", "email", "call"]
    template: str = Field(min_length=1)
    due_in_days: int = Field(ge=0, le=3650)
    assignee: str | None = None
    channel: str | None = None


class RuleSpec(BaseModel):
    """One saved segment as written in YAML (before its rule text is parsed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    rule: str
    description: str = ""
    priority: int = 100
    owner: str | None = None
    action: ActionSpec | None = None


@dataclass(frozen=True)
class SegmentRule:
    """A saved segment: its parsed rule and what the YAML says about it."""

    name: str
    rule: Rule
    description: str = ""
    priority: int = 100
    owner: str | None = None
    action: ActionSpec | None = None


@dataclass(frozen=True)
class RuleSet:
    """Saved segments in file order. Lower ``priority`` number = higher priority."""

    rules: tuple[SegmentRule, ...]

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RuleSetError([f"rule name '{n}' is used more than once" for n in dupes])

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[SegmentRule]:
        return iter(self.rules)

    def __getitem__(self, name: str) -> SegmentRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(f"no rule named {name!r}; rules: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def columns(self) -> list[str]:
        """Columns read by any rule, sorted."""
        return sorted({c for r in self.rules for c in r.rule.columns})

    def validate(self, schema: Any) -> RuleSet:
        """Check every rule against a schema (see :meth:`Rule.validate`); report all problems."""
        details = [
            RuleProblem(f"rule '{r.name}': {e}", r.name, e.column, e.kind)
            for r in self.rules
            for e in r.rule.problems(schema)
        ]
        if details:
            raise RuleSetError([d.message for d in details], details=details)
        return self

    def memberships(self, customers: pd.DataFrame, today: Any = None) -> pd.DataFrame:
        """Boolean DataFrame, one column per rule (file order), aligned to ``customers.index``."""
        self.validate(customers)
        return pd.DataFrame(
            {r.name: r.rule.mask(customers, today=today) for r in self.rules},
            index=customers.index,
            columns=self.names,
        )

    def exclusive(self, memberships: pd.DataFrame) -> pd.Series:
        """Each customer's highest-priority segment (lowest priority number; ties go to the rule
        earlier in the file), or <NA> if it meets none. Series named 'segment'."""
        unknown = [c for c in memberships.columns if c not in self.names]
        if unknown:
            raise ValueError(
                f"memberships: columns {unknown} are not rules of this set "
                f"({', '.join(self.names)})"
            )
        order = sorted(range(len(self.rules)), key=lambda k: (self.rules[k].priority, k))
        out = pd.Series(pd.NA, index=memberships.index, dtype="string", name="segment")
        for k in order:
            name = self.rules[k].name
            if name in memberships.columns:
                hit = memberships[name].fillna(False).astype(bool) & out.isna()
                out = out.mask(hit, name)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: name, description, canonical rule, priority, owner, action, columns."""
        return pd.DataFrame(
            {
                "name": pd.Series(self.names, dtype="str"),
                "description": [r.description for r in self.rules],
                "rule": [str(r.rule) for r in self.rules],
                "priority": [r.priority for r in self.rules],
                "owner": [r.owner for r in self.rules],
                "action": [r.action.type if r.action else None for r in self.rules],
                "columns": [", ".join(r.rule.columns) for r in self.rules],
            }
        )


def _pydantic_problem(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        model = ActionSpec if err["loc"][:1] == ("action",) else RuleSpec
        return f"unknown key '{loc}' (allowed: {', '.join(model.model_fields)})"
    if err["type"] == "missing":
        return f"missing key '{loc}'"
    return f"'{loc}': {err['msg']}"


def load_rules(
    source: str | Mapping[str, Any] | Sequence[Any] | RuleSet,
    *,
    schema: Any = None,
    name: str | None = None,
) -> RuleSet:
    """Read saved segments from YAML text (or the already-loaded list/mapping) into a RuleSet.

    The YAML is a list of rules, or a mapping with a ``rules:`` list. Every rule is validated
    (unknown keys are errors) and parsed up front, and with ``schema`` (a DataFrame, Ibis table
    or {column: dtype}) also checked against the columns; all problems of all rules are reported
    together in one :class:`RuleSetError`, each naming its rule (and, with ``name``, the rules
    file, e.g. ``name="segments.yaml"``). The error's ``details`` say which rule and column each
    problem is about, for callers such as ``segwork validate``.
    """
    try:
        return _load_rules(source, schema)
    except RuleSetError as exc:
        if name is None:
            raise
        raise RuleSetError(
            [d.message for d in exc.details], details=exc.details, source=name
        ) from None


def _load_rules(source: Any, schema: Any) -> RuleSet:
    if isinstance(source, RuleSet):
        return source.validate(schema) if schema is not None else source
    data: Any = source
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise RuleSetError([f"the rules are not valid YAML: {exc}"]) from exc
    if isinstance(data, Mapping):
        extra = [k for k in data if k != "rules"]
        if extra or "rules" not in data:
            raise RuleSetError(
                [
                    f"expected a list of rules or a mapping with the key 'rules'; found "
                    f"keys {list(data)}"
                ]
            )
        data = data["rules"]
    if data is None:
        data = []
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise RuleSetError([f"expected a list of rules, got {type(data).__name__}"])

    problems: list[RuleProblem] = []
    rules: list[SegmentRule] = []
    seen: dict[str, int] = {}
    for k, item in enumerate(data, start=1):
        label = f"rule #{k}"
        name = item.get("name") if isinstance(item, Mapping) else None
        rule_name = name if isinstance(name, str) else None
        if rule_name is not None:
            label = f"rule '{rule_name}' (#{k})"
        if not isinstance(item, Mapping):
            problems.append(
                RuleProblem(
                    f"{label}: expected a mapping with name, rule, ...; got {type(item).__name__}"
                )
            )
            continue
        try:
            spec = RuleSpec.model_validate(dict(item))
        except ValidationError as exc:
            problems.extend(
                RuleProblem(f"{label}: {_pydantic_problem(e)}", rule_name) for e in exc.errors()
            )
            spec = None
        if rule_name is not None and rule_name in seen:
            problems.append(
                RuleProblem(
                    f"{label}: the name '{rule_name}' is already used by rule #{seen[rule_name]}",
                    rule_name,
                )
            )
        elif rule_name is not None:
            seen[rule_name] = k
        text = item.get("rule")
        if not isinstance(text, str):
            continue  # already reported by pydantic
        try:
            rule = parse(text)
        except RuleError as exc:
            problems.append(RuleProblem(f"{label}: {exc}", rule_name, exc.column, "syntax"))
            continue
        if schema is not None:
            problems.extend(
                RuleProblem(f"{label}: {e}", rule_name, e.column, e.kind)
                for e in rule.problems(schema)
            )
        if spec is not None:
            rules.append(
                SegmentRule(
                    spec.name, rule, spec.description, spec.priority, spec.owner, spec.action
                )
            )
    if problems:
        raise RuleSetError([p.message for p in problems], details=problems)
    return RuleSet(tuple(rules))

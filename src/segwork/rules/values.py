"""A rule's values checked against the values a customer table holds, and a saved segment as
YAML for the rules file.

:func:`check_values` finds what the column checks (:meth:`Rule.problems`) cannot: a text
value no customer has (``region == "Praha"``: an error, with the close values as suggestions:
'did you mean "Hlavní město Praha"?'; matching ignores case and diacritics) and a number
outside the range a column holds (a warning: the rule is valid, it just selects nobody or
everybody). :class:`ColumnValues` holds a table's values per column (counted once), also for
the rule builder's list of a column's most frequent values. :func:`rule_yaml` writes a
segment as the rules file writes it (``yaml.safe_dump``, so quoting is right).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pandas as pd
import yaml

from segwork.rules.column_types import _schema_types
from segwork.rules.errors import RuleError, RuleSetError
from segwork.rules.parser import parse
from segwork.rules.rule import Rule
from segwork.rules.ruleset import RuleSpec
from segwork.rules.tree import (
    Between,
    Compare,
    InList,
    Literal,
    Node,
    _format_column,
    _format_literal,
    _walk,
)

MAX_SUGGESTIONS = 3
CLOSE_CUTOFF = 0.6  # difflib's similarity a suggestion needs (its default)
WORD_CUTOFF = 0.8  # ... and a word of a longer value
MAX_FOLDED = 50_000  # the most frequent values suggestions come from (folding costs ~1 s/100k)
MAX_FUZZY = 2_000  # the most frequent values difflib compares with (each costs a comparison)


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")  # after NFKD, which turns other spaces into these


def fold(text: str) -> str:
    """Text as matching compares it: lower case, diacritics dropped, spaces collapsed
    ('Hlavní  Město ' -> 'hlavni mesto')."""
    plain = _COMBINING.sub("", unicodedata.normalize("NFKD", str(text)))
    return _SPACES.sub(" ", plain.lower()).strip()


def _fold_all(values: pd.Series) -> pd.Series:
    """:func:`fold` of many values at once (pandas' string methods; patterns as text so Arrow
    strings run them natively: 200,000 values in a fraction of a second)."""
    s = values.astype("string").str.normalize("NFKD")
    s = s.str.replace(_COMBINING.pattern, "", regex=True).str.lower()
    return s.str.replace(_SPACES.pattern, " ", regex=True).str.strip()


def literal_text(value: Any) -> str:
    """A value as rule text: text quoted and escaped (``"Hlavní město Praha"``), numbers as
    numbers, ``true``/``false``, dates as ``date("YYYY-MM-DD")``."""
    if isinstance(value, bool):
        return _format_literal(Literal(value, "bool"))
    if isinstance(value, int | float):
        return _format_literal(Literal(value, "number"))
    if isinstance(value, pd.Timestamp):
        return _format_literal(Literal(value.date(), "date"))
    return _format_literal(Literal(str(value), "string"))


class ColumnValues:
    """The values of a pandas table's columns, counted once per column on first use."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.types = _schema_types(table)
        self._counts: dict[str, pd.Series] = {}
        self._folded: dict[str, dict[str, list[str]]] = {}
        self._suggested: dict[tuple[str, str, str], list[str]] = {}

    def kind(self, column: str) -> str | None:
        """'number', 'string', 'bool', 'date', ... (None for a column the table lacks)."""
        t = self.types.get(column)
        return t.kind if t is not None else None

    def counts(self, column: str) -> pd.Series:
        """Customers per value of ``column``, most frequent first (missing values left out)."""
        if column not in self._counts:
            s = self.table[column]
            if self.kind(column) == "string":
                s = s.astype("string")
            self._counts[column] = s.value_counts(dropna=True, sort=True)
        return self._counts[column]

    def top(self, column: str, n: int = 20) -> pd.Series:
        """The ``n`` most frequent values of ``column`` with their counts."""
        return self.counts(column).head(n)

    def value_range(self, column: str) -> tuple[float, float] | None:
        """(smallest, largest) value of a number column; None when it has no values."""
        s = pd.to_numeric(self.table[column], errors="coerce")
        if s.notna().sum() == 0:
            return None
        return float(s.min()), float(s.max())

    def has(self, column: str, value: str) -> bool:
        return value in self.counts(column).index

    def suggest(self, column: str, value: str, n: int = MAX_SUGGESTIONS) -> list[str]:
        """Values of a text column close to ``value``: those equal but for case and diacritics
        (only those, when there are any), else values containing it ('Praha' -> 'Hlavní město Praha'), then difflib's close
        matches; most frequent first within each group."""
        key = fold(value)
        if not key:
            return []
        cached = self._suggested.get((column, key, value))
        if cached is None:
            cached = self._suggest(column, key, value, n)
            self._suggested[(column, key, value)] = cached
        return cached[:n]

    def _suggest(self, column: str, key: str, value: str, n: int) -> list[str]:
        folded = self._folded_values(column)
        same = [v for v in folded.get(key, []) if v != value]
        if same:  # differs only in case or diacritics: that is the one meant
            return same
        contains = (
            list(islice((v for f, vs in folded.items() if key in f for v in vs), n))
            if len(key) >= 3
            else []
        )
        # fuzzy matching costs a string comparison per value: the most frequent values only
        pool = list(islice(folded, MAX_FUZZY))
        close = difflib.get_close_matches(key, pool, n=n, cutoff=CLOSE_CUTOFF)
        similar = [v for f in close for v in folded[f]]
        found = [v for v in dict.fromkeys([*contains, *similar]) if v != value]
        if len(found) < n:
            words = (v for f in pool if _word_close(key, f) for v in folded[f])
            found = [v for v in dict.fromkeys([*found, *islice(words, n)]) if v != value]
        return found[:n]

    def _folded_values(self, column: str) -> dict[str, list[str]]:
        """{folded text: the values that fold to it}, in frequency order."""
        if column not in self._folded:
            out: dict[str, list[str]] = {}
            top = self.counts(column).index[:MAX_FOLDED]
            originals = pd.Series(top.astype(str))
            for f, v in zip(_fold_all(originals), originals, strict=True):
                out.setdefault(f, []).append(v)
            self._folded[column] = out
        return self._folded[column]


def _word_close(key: str, folded_value: str) -> bool:
    """Whether a word (or run of words) of the value is close to the typed text."""
    words = folded_value.split()
    if len(words) < 2:
        return False
    k = len(key.split())
    runs = [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
    return bool(difflib.get_close_matches(key, runs, n=1, cutoff=WORD_CUTOFF))


@dataclass(frozen=True)
class ValueReport:
    """What :func:`check_values` found: ``errors`` (values no customer has, in a test that
    needs one) and ``warnings`` (numbers outside a column's values; values no customer has
    in ``!=`` / ``not in``, which then exclude nobody). Each is a :class:`RuleError` with a
    caret under the value; ``kind`` is 'unknown_value' or 'out_of_range'; for unknown values
    ``suggestions`` holds the close values."""

    errors: list[RuleError] = field(default_factory=list)
    warnings: list[RuleError] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.errors or self.warnings)


def check_values(rule: Rule, values: ColumnValues | pd.DataFrame) -> ValueReport:
    """Check the values ``rule`` compares with against the values of a pandas table (see the
    module docstring). Columns the table lacks or of another type are left to
    :meth:`Rule.problems`."""
    if isinstance(values, pd.DataFrame):
        values = ColumnValues(values)
    report = ValueReport()
    for node in _walk(rule.expr):
        if isinstance(node, Compare | InList | Between):
            _check_node(rule, node, values, report)
    return report


def _check_node(
    rule: Rule, node: Compare | InList | Between, values: ColumnValues, report: ValueReport
) -> None:
    col = node.column.name
    kind = values.kind(col)
    if isinstance(node, Compare):
        lits, negated = [node.value], node.op == "!="
    elif isinstance(node, InList):
        lits, negated = list(node.values), node.negated
    else:
        lits, negated = [node.low, node.high], node.negated
    if kind == "string" and not isinstance(node, Between):
        if isinstance(node, Compare) and node.op not in ("==", "!="):
            return  # ordering text is a type problem, reported by Rule.problems
        for lit in lits:
            if lit.kind == "string" and not values.has(col, lit.value):
                err = _unknown_value(rule, lit, col, values, negated)
                (report.warnings if negated else report.errors).append(err)
    elif kind == "number":
        bounds = values.value_range(col)
        if bounds is None:
            return
        lo, hi = bounds
        for lit in lits:
            if lit.kind == "number" and not lo <= lit.value <= hi:
                reason = (
                    f"{_format_literal(lit)} is outside the values {_format_column(col)} holds "
                    f"({_number(lo)} to {_number(hi)})"
                )
                err = _error(rule, reason, lit, col)
                err.kind = "out_of_range"
                report.warnings.append(err)


def _unknown_value(
    rule: Rule, lit: Literal, col: str, values: ColumnValues, negated: bool
) -> RuleError:
    name = _format_column(col)
    suggestions = values.suggest(col, lit.value)
    if suggestions:
        reason = (
            f"no such value in {name}; did you mean "
            f"{' or '.join(literal_text(s) for s in suggestions)}?"
        )
    else:
        top = [literal_text(v) for v in values.top(col, 5).index]
        reason = f"no such value in {name}: no customer has {_format_literal(lit)}" + (
            f" (its most frequent values: {', '.join(top)})" if top else " (it has no values)"
        )
    if negated:
        reason += "; so this test excludes nobody"
    err = _error(rule, reason, lit, col)
    err.kind = "unknown_value"
    err.suggestions = suggestions
    return err


def _error(rule: Rule, reason: str, node: Node, col: str) -> RuleError:
    return rule._error(reason, node, column=col)


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.2f}"


# ---------------------------------------------------------------------------- YAML for the file


def rule_yaml(
    name: str,
    rule: str | Rule,
    *,
    description: str = "",
    priority: int | None = None,
    owner: str | None = None,
    indent: int = 2,
) -> str:
    """One saved segment as an item of the rules file's ``rules:`` list, indented by
    ``indent`` spaces to paste under that key (the shape of ``configs/demo_segments.yaml``).

    The rule text is kept as written (it must parse); the keys are checked as the rules file
    checks them. Written with ``yaml.safe_dump``, so quotes, colons and ``#`` in names and
    rules come back unchanged when the file is read (:func:`segwork.rules.read_rules`).
    """
    text = (rule.text or str(rule)) if isinstance(rule, Rule) else str(rule)
    parse(text)  # raises a RuleError with the caret when the rule does not parse
    item: dict[str, Any] = {"name": name, "description": description, "rule": text.strip()}
    if priority is not None:
        item["priority"] = priority
    if owner:
        item["owner"] = owner
    if not description:
        del item["description"]
    try:
        RuleSpec.model_validate(item)
    except Exception as exc:  # pydantic's ValidationError: say it as the rules file would
        raise RuleSetError([f"the segment cannot be saved: {exc}"]) from None
    dumped = yaml.safe_dump(
        [item], allow_unicode=True, sort_keys=False, default_flow_style=False, width=10**6
    )
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in dumped.splitlines(True))

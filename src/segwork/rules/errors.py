"""Rule errors: what is wrong, where (a caret line under the rule text) and the fix."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from segwork.errors import SegworkError

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
        self.kind = "syntax"  # or "unknown_column", "type" (Rule.problems), "unknown_value",
        # "out_of_range" (segwork.rules.values.check_values)
        self.suggestions: list[str] = []  # close values of an unknown value, best first
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

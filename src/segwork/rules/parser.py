"""Rule text -> rule tree: a hand-written tokenizer and recursive-descent parser.

Nothing in a rule is ever passed to ``eval``/``exec``; see the package docstring."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segwork.rules.errors import (
    RuleError,
    _short,
)
from segwork.rules.rule import Rule
from segwork.rules.tree import (
    _FLIP,
    _MAX_AMOUNT,
    _MAX_DATE,
    _MAX_INT,
    _MIN_DATE,
    _OPERATOR_HINTS,
    _ORDERING,
    _TEXT_OPS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    UNITS,
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
    _format_column,
    _format_literal,
    _joined,
)

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

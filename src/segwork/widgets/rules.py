"""The rule builder (JupyterLab): type a segment rule, see its live member count, a sample of
members and any error, pick a column's values from a list, and copy the finished segment as
YAML for the rules file.

Errors wait for a pause in typing (:class:`Debouncer`, 0.5 s by default), so a half-typed
rule is not shouted at; the member count follows every keystroke that gives a valid rule.
The rule text is parsed by the rules package's hand-written parser, never evaluated as code.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from segwork import rules
from segwork.display import table_html

DEBOUNCE_S = 0.5
TOP_VALUES = 20
_NAME = re.compile(r"`((?:[^`]|``)+)`|([A-Za-z_][A-Za-z0-9_]*)")
# text that ends where a value comes next: an operator, an opening bracket or a list comma
_WANTS_VALUE = re.compile(
    r"(==|!=|<=|>=|<|>|\[|\(|,|\b(?:in|between|and|contains|with|icontains)\b)\s*$", re.I
)


class Debouncer:
    """Call ``action`` once changes have paused for ``delay`` seconds.

    :meth:`poke` marks a change; a timer (``timer``, :class:`threading.Timer` by default)
    calls :meth:`poll`, which runs ``action`` when ``clock`` says ``delay`` has passed since
    the last change. ``delay=0`` runs ``action`` at once; ``timer=None`` leaves the polling
    to the caller (tests drive it with their own clock)."""

    def __init__(
        self,
        action: Callable[[], None],
        delay: float = DEBOUNCE_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[..., Any] | None = threading.Timer,
    ) -> None:
        self.action, self.delay, self.clock, self.timer = action, delay, clock, timer
        self.last_change: float | None = None
        self._pending: Any = None

    def poke(self) -> None:
        """A change: restart the wait."""
        if self.delay <= 0:
            self.last_change = None
            self.action()
            return
        self.last_change = self.clock()
        self._schedule(self.delay)

    def poll(self) -> bool:
        """Run the action if the pause is long enough (True when it ran)."""
        if self.last_change is None:
            return False
        wait = self.delay - (self.clock() - self.last_change)
        if wait > 0:
            self._schedule(wait)
            return False
        self.last_change = None
        self.action()
        return True

    def _schedule(self, seconds: float) -> None:
        if self.timer is None:
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.timer(seconds, self.poll)
        self._pending.daemon = True
        self._pending.start()


def last_column(text: str, columns: list[str]) -> str | None:
    """The last column of ``columns`` the text names (plain or backquoted), if any: the
    column the value list follows while a rule is typed."""
    known = set(columns)
    found = None
    for m in _NAME.finditer(_without_strings(text)):
        name = m.group(1).replace("``", "`") if m.group(1) is not None else m.group(2)
        if name in known:
            found = name
    return found


def _without_strings(text: str) -> str:
    """The text with quoted strings blanked (a value's words are not column names)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?', lambda m: " " * len(m.group()), text)


def _open_quote(text: str) -> int | None:
    """Where a quoted value still open at the end of ``text`` starts (None: none is open)."""
    quote, start, i = None, None, 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote, start = ch, i
        i += 1
    return start if quote is not None else None


def insert_value(text: str, column: str, value: Any) -> str:
    """The rule text with ``value`` (quoted as the language needs) put where a value is due:
    replacing a value being typed (an open quote), after an operator or list comma, or as
    ``and <column> == value`` after a finished condition."""
    literal = rules.literal_text(value)
    start = _open_quote(text)
    if start is not None:
        return text[:start] + literal
    stripped = text.rstrip()
    name = column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else f"`{column}`"
    if not stripped:
        return f"{name} == {literal}"
    if _WANTS_VALUE.search(stripped):
        sep = "" if stripped.endswith(("[", "(")) else " "
        return f"{stripped}{sep}{literal}"
    return f"{stripped} and {name} == {literal}"


class RuleBuilder:
    """Type a segment rule, see the live member count, a sample of members and any error.

    ``RuleBuilder(customers).widget`` is the box to display; ``builder.rule.value = "..."``
    updates it as typing does. Errors and warnings (unknown columns, types, values no customer
    has, numbers outside a column's range) are shown after ``delay`` seconds without typing
    (``delay=0``: at once; ``clock``/``timer`` as in :class:`Debouncer`). ``builder.yaml``
    holds the finished segment as an item of the rules file (None while the rule has errors).
    """

    def __init__(
        self,
        customers: pd.DataFrame,
        *,
        today=None,
        sample_columns: list[str] | None = None,
        sample_size: int = 10,
        initial: str = "",
        name: str = "",
        delay: float = DEBOUNCE_S,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[..., Any] | None = threading.Timer,
    ):
        self.customers = customers
        self.today = today
        self.sample_size = sample_size
        self.sample_columns = sample_columns or [
            c
            for c in ("name", "region", "revenue_365d", "last_order_date", "rfm_segment", "persona")
            if c in customers
        ]
        self.values = rules.ColumnValues(customers)
        self.rule = w.Textarea(
            value=initial,
            placeholder='e.g. region == "Jihomoravský kraj" and revenue_365d > 50000',
            layout=w.Layout(width="100%", height="70px"),
            continuous_update=True,
        )
        self.count = w.HTML()
        self.message = w.HTML()
        self.sample = w.HTML()
        self.members: pd.Series | None = None
        self.error: str | None = None
        self.warnings: list[str] = []
        self.yaml: str | None = None
        self._pending = ""
        self.debounce = Debouncer(self.show_messages, delay, clock=clock, timer=timer)

        columns = [str(c) for c in customers.columns]
        self.column = w.Dropdown(
            options=columns,
            value=columns[0] if columns else None,
            description="values of",
            layout=w.Layout(width="320px"),
        )
        self.value_list = w.Select(options=[], rows=8, layout=w.Layout(width="420px"))
        self.insert = w.Button(description="insert value", tooltip="put the value into the rule")
        self.value_note = w.HTML()
        self.name = w.Text(value=name, placeholder="segment name", description="name")
        self.description = w.Text(placeholder="what the segment is", description="description")
        self.yaml_box = w.HTML()

        self.rule.observe(lambda _change: self._typed(), names="value")
        self.column.observe(lambda _change: self.show_values(), names="value")
        self.insert.on_click(lambda _button: self.insert_selected())
        for box in (self.name, self.description):
            box.observe(lambda _change: self.update_yaml(), names="value")
        values_box = w.VBox([w.HBox([self.column, self.insert]), self.value_list, self.value_note])
        yaml_part = w.VBox(
            [w.HTML("<b>For the segments file</b>"), self.name, self.description, self.yaml_box]
        )
        self.widget = w.VBox(
            [
                w.HTML("<b>Segment rule</b>"),
                self.rule,
                self.count,
                self.message,
                values_box,
                self.sample,
                yaml_part,
            ]
        )
        self.update()
        self.show_messages()
        self.follow_column()

    # -- typing
    def _typed(self) -> None:
        self.update()
        self.follow_column()
        self.debounce.poke()

    def update(self) -> None:
        """Parse the current text and refresh count and sample at once; errors and warnings
        are kept for :meth:`show_messages` (after the pause) and the message line is cleared."""
        text = self.rule.value
        self.members, self.error, self.warnings = None, None, []
        self.message.value = ""
        if not text.strip():
            self.count.value, self.sample.value, self._pending = (
                "Type a rule to see its members.",
                "",
                "",
            )
            self.update_yaml()
            return
        try:
            parsed = rules.parse(text)
            parsed.validate(self.customers)
            report = rules.check_values(parsed, self.values)
            if report.errors:
                raise rules.RuleError.combine(report.errors)
            mask = parsed.mask(self.customers, today=self.today)
        except rules.RuleError as e:
            self.error = str(e)
            self.count.value = "<span style='color:#718096'>…</span>"
            self._pending = (
                f"<pre style='color:#c53030;white-space:pre-wrap'>{html.escape(self.error)}</pre>"
            )
            self.sample.value = ""
            self.update_yaml()
            return
        self.members = mask
        self.warnings = [str(e) for e in report.warnings]
        self._pending = "".join(
            f"<pre style='color:#c05621;white-space:pre-wrap'>{html.escape(m)}</pre>"
            for m in self.warnings
        )
        n, total = int(mask.sum()), len(mask)
        self.count.value = (
            f"<b>{n:,}</b> of {total:,} customers ({n / max(total, 1):.1%}) meet the rule."
        )
        shown = self.customers.loc[mask, self.sample_columns].head(self.sample_size)
        self.sample.value = (
            table_html(shown.reset_index(), caption="A sample of members") if n else ""
        )
        self.update_yaml()

    def show_messages(self) -> None:
        """Show the errors and warnings of the current text (called after the pause)."""
        self.message.value = self._pending

    # -- values of a column
    def follow_column(self) -> None:
        """Point the value list at the last column the rule names."""
        col = last_column(self.rule.value, list(self.column.options))
        if col is not None and col != self.column.value:
            self.column.value = col  # show_values runs on the change
        elif not self.value_list.options:
            self.show_values()

    def show_values(self) -> None:
        """The column's most frequent values with their counts (numbers: also their range)."""
        col = self.column.value
        if col is None:
            return
        kind = self.values.kind(col)
        if kind in ("number", "string", "bool"):
            top = self.values.top(col, TOP_VALUES)
            self.value_list.options = [(f"{v} ({n:,})", v) for v, n in top.items()]
        else:
            self.value_list.options = []
        note = f"{len(self.values.counts(col)):,} different values" if kind != "other" else ""
        if kind == "number" and (bounds := self.values.value_range(col)) is not None:
            note += f", from {bounds[0]:,g} to {bounds[1]:,g}"
        elif kind == "date":
            note = 'a date column: write date("YYYY-MM-DD") or within 6 months'
        self.value_note.value = f"<small>{html.escape(note)}</small>"

    def insert_selected(self) -> None:
        """Put the selected value into the rule (:func:`insert_value`)."""
        value = self.value_list.value
        if value is None:
            return
        self.rule.value = insert_value(self.rule.value, self.column.value, value)

    # -- YAML
    def update_yaml(self) -> None:
        """The finished segment as an item of the rules file's ``rules:`` list (only when the
        rule has no errors)."""
        text = self.rule.value
        if self.error is not None or not text.strip():
            self.yaml = None
            self.yaml_box.value = (
                "<small>The YAML to paste appears when the rule has no errors.</small>"
            )
            return
        try:
            self.yaml = rules.rule_yaml(
                self.name.value.strip() or "New segment",
                text,
                description=self.description.value.strip(),
            )
        except rules.RuleError as e:
            self.yaml = None
            self.yaml_box.value = f"<pre style='color:#c53030'>{html.escape(str(e))}</pre>"
            return
        self.yaml_box.value = (
            "<small>Paste under <code>rules:</code> in the segments file:</small>"
            f"<pre>{html.escape(self.yaml)}</pre>"
        )

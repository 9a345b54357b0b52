"""A fitted model's or a test's summary, with a text form and an HTML form.

As in statsmodels, ``result.summary()`` returns an object rather than a string: ``print`` shows
the text (``as_text``), a notebook shows the HTML (``_repr_html_``), and both come from the same
title, tables and notes. Every value in the HTML is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Summary:
    """Title, header facts, tables and notes of one result."""

    title: str
    facts: dict[str, str] = field(default_factory=dict)  # "customers": "2,357", ...
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table)
    notes: list[str] = field(default_factory=list)

    def add_table(self, caption: str, table: pd.DataFrame) -> Summary:
        self.tables.append((caption, table))
        return self

    def as_text(self) -> str:
        width = max([len(self.title), 64])
        lines = [self.title, "=" * width]
        if self.facts:
            lines.append("   ".join(f"{k}: {v}" for k, v in self.facts.items()))
        for caption, table in self.tables:
            lines += ["", caption, "-" * min(width, max(len(caption), 1))] if caption else [""]
            lines.append(table.to_string())
        if self.notes:
            lines.append("")
            lines += self.notes
        return "\n".join(lines)

    def as_html(self) -> str:
        esc = html.escape
        parts = [f'<div class="segwork-summary"><h4>{esc(self.title)}</h4>']
        if self.facts:
            items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in self.facts.items())
            parts.append(f"<dl>{items}</dl>")
        for caption, table in self.tables:
            parts.append(table.to_html(escape=True, border=0))
            if caption:
                parts[-1] = parts[-1].replace(">", f"><caption>{esc(caption)}</caption>", 1)
        parts += [f"<p>{esc(n)}</p>" for n in self.notes]
        parts.append("</div>")
        return "".join(parts)

    def __str__(self) -> str:
        return self.as_text()

    def __contains__(self, text: str) -> bool:
        return text in self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()

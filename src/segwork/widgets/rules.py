"""The rule builder (JupyterLab): type a segment rule, see its live member count, a sample of
members and any error, before saving it in the rules file."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from segwork import rules
from segwork.display import table_html


class RuleBuilder:
    """Type a segment rule, see the live member count, a sample of members and any error.

    ``RuleBuilder(customers).widget`` is the box to display; ``builder.rule.value = "..."``
    updates it as typing does.
    """

    def __init__(
        self,
        customers: pd.DataFrame,
        *,
        today=None,
        sample_columns: list[str] | None = None,
        sample_size: int = 10,
        initial: str = "",
    ):
        self.customers = customers
        self.today = today
        self.sample_size = sample_size
        self.sample_columns = sample_columns or [
            c
            for c in ("name", "region", "revenue_365d", "last_order_date", "rfm_segment", "persona")
            if c in customers
        ]
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
        self.rule.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox(
            [w.HTML("<b>Segment rule</b>"), self.rule, self.count, self.message, self.sample]
        )
        self.update()

    def update(self) -> None:
        """Parse the current text and refresh count, sample and message."""
        text = self.rule.value
        self.members, self.error = None, None
        if not text.strip():
            self.count.value, self.message.value, self.sample.value = (
                "Type a rule to see its members.",
                "",
                "",
            )
            return
        try:
            parsed = rules.parse(text)
            parsed.validate(self.customers)
            mask = parsed.mask(self.customers, today=self.today)
        except rules.RuleError as e:
            self.error = str(e)
            self.count.value = ""
            self.message.value = (
                f"<pre style='color:#c53030;white-space:pre-wrap'>{html.escape(self.error)}</pre>"
            )
            self.sample.value = ""
            return
        self.members = mask
        n, total = int(mask.sum()), len(mask)
        self.count.value = (
            f"<b>{n:,}</b> of {total:,} customers ({n / max(total, 1):.1%}) meet the rule."
        )
        self.message.value = ""
        shown = self.customers.loc[mask, self.sample_columns].head(self.sample_size)
        self.sample.value = (
            table_html(shown.reset_index(), caption="A sample of members") if n else ""
        )

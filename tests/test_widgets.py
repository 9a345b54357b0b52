"""The rule builder is constructed and driven as a user would: type, read count, sample and errors."""

from __future__ import annotations

import pandas as pd

from segwork.widgets import RuleBuilder


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Eva <b>Nová</b>", "Jan", "Petr", "Ida"],
            "region": ["Jihomoravský kraj", "Jihomoravský kraj", "Zlínský kraj", None],
            "revenue_365d": [60_000.0, 10_000.0, 90_000.0, 70_000.0],
        },
        index=pd.Index(["C1", "C2", "C3", "C4"], name="customer_id"),
    )


def test_typing_updates_count_sample_and_errors() -> None:
    b = RuleBuilder(_customers())
    assert "Type a rule" in b.count.value and b.members is None
    b.rule.value = 'region == "Jihomoravský kraj" and revenue_365d > 50000'
    assert b.error is None and b.members.tolist() == [True, False, False, False]
    assert "<b>1</b> of 4 customers" in b.count.value
    assert "Eva &lt;b&gt;Nová&lt;/b&gt;" in b.sample.value and "<b>Nová</b>" not in b.sample.value
    b.rule.value = "revenue_365d > 50000"
    assert b.members.sum() == 3 and "<b>3</b> of 4" in b.count.value
    b.rule.value = "revenu_365d > 5"
    assert b.members is None and "revenue_365d" in b.error  # suggests the closest column
    assert "color:#c53030" in b.message.value and b.sample.value == ""
    b.rule.value = "__import__('os').system('x')"
    assert b.error is not None and b.members is None

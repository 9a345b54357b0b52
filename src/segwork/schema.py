"""The table contracts, and the record of what validation found, dropped or repaired.

Every source is mapped to one of these tables. A contract lists the required columns with their
kind (id, date, number, ...), the optional columns segwork knows how to type, and the key that
must be unique. Extra columns pass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Kind = Literal["id", "string", "date", "number", "int", "bool"]


@dataclass(frozen=True)
class Contract:
    """What one table must and may contain."""

    table: str
    required: dict[str, Kind]
    optional: dict[str, Kind] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    history: bool = False  # grows with history: read and aggregated through Ibis, never pandas

    def kind(self, column: str) -> Kind | None:
        return self.required.get(column) or self.optional.get(column)


CONTRACTS: dict[str, Contract] = {
    c.table: c
    for c in [
        Contract(
            "customers",
            required={"customer_id": "id"},
            optional={
                "birth_date": "date",
                "created_at": "date",
                "age": "number",
                "employees": "number",
                "annual_revenue": "number",
                "email_opt_in": "bool",
                "sms_opt_in": "bool",
                "phone_opt_in": "bool",
                "profiling_consent": "bool",
            },
            key=("customer_id",),
        ),
        Contract(
            "orders",
            required={
                "order_id": "id",
                "customer_id": "id",
                "order_date": "date",
                "amount": "number",
            },
            optional={"quantity": "number", "unit_price": "number", "is_return": "bool"},
            key=("order_id",),
            history=True,
        ),
        Contract(
            "interactions",
            required={"customer_id": "id", "occurred_at": "date", "kind": "string"},
            history=True,
        ),
        Contract(
            "survey_responses",
            required={"customer_id": "id"},
            optional={"answered_at": "date"},
            key=("customer_id",),
        ),
        Contract(
            "survey_items",
            required={
                "item": "string",
                "construct": "string",
                "text": "string",
                "reverse_coded": "bool",
            },
            key=("item",),
        ),
        Contract(
            "campaign_exposures",
            required={
                "customer_id": "id",
                "campaign_id": "id",
                "variant": "string",
            },
            optional={
                "assigned_at": "date",  # not used by the A/B evaluation; exports often lack it
                "converted": "int",
                "revenue": "number",
                "pre_revenue": "number",
            },
            key=("campaign_id", "customer_id"),
            history=True,
        ),
    ]
}


class SchemaError(ValueError):
    """A table that breaks its contract. The message names the table, column, rows and the fix."""

    def __init__(
        self, table: str, message: str, *, column: str | None = None, fix: str | None = None
    ):
        self.table, self.column, self.fix = table, column, fix
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}" + (f"\nFix: {fix}" if fix else ""))


@dataclass(frozen=True)
class Issue:
    """One finding of validation: what, where, how many, examples, and what was done about it."""

    table: str
    column: str
    problem: str
    count: int
    examples: str = ""
    action: Literal["dropped", "repaired", "kept", "error"] = "kept"
    unit: str = "rows"  # what count counts: rows of the source, "order lines", "orders", "values"


@dataclass
class TableStats:
    """Rows of one source: read, kept after validation, and the rows of the table built from them.

    ``rows_read`` and ``rows_kept`` count the source's own rows (order *lines* for
    ``shape: lines``), so ``rows_read - rows_kept`` is always what was dropped; ``table_rows`` is
    the size of the table handed on (the orders the kept lines were summed into).
    """

    table: str
    source: str
    rows_read: int
    rows_kept: int
    columns: list[str]
    table_rows: int | None = None
    unit: str = "rows"  # what a source row is: "rows", or "order lines"

    def __post_init__(self) -> None:
        if self.table_rows is None:
            self.table_rows = self.rows_kept


@dataclass(frozen=True)
class DerivedTable:
    """A table segwork built because no source was configured for it (customers from ids)."""

    table: str
    rows: int
    from_tables: dict[str, int]  # source table -> its distinct customer ids

    def describe(self) -> str:
        parts = ", ".join(f"{t} ({n:,} ids)" for t, n in self.from_tables.items())
        return f"derived from the customer ids of {parts}"


@dataclass
class ValidationReport:
    """Everything validation counted: rows per table and every issue with its action."""

    tables: dict[str, TableStats] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    derived: dict[str, DerivedTable] = field(default_factory=dict)

    def add(self, issue: Issue) -> None:
        if issue.count:
            self.issues.append(issue)

    def tables_frame(self) -> pd.DataFrame:
        rows = [
            {
                "table": s.table,
                "source": s.source,
                "rows read": s.rows_read,
                "rows kept": s.rows_kept,
                "rows dropped": s.rows_read - s.rows_kept,
                "table rows": s.table_rows,
                "columns": len(s.columns),
            }
            for s in self.tables.values()
        ]
        return pd.DataFrame(rows)

    def derive(self, derived: DerivedTable) -> None:
        """Record a table built from the others (it counts as read and kept in full)."""
        self.derived[derived.table] = derived
        self.tables[derived.table] = TableStats(
            derived.table, derived.describe(), derived.rows, derived.rows, ["customer_id"]
        )

    def issues_frame(self) -> pd.DataFrame:
        cols = ["table", "column", "problem", "count", "unit", "action", "examples"]
        return pd.DataFrame([{c: getattr(i, c) for c in cols} for i in self.issues], columns=cols)

    @property
    def dropped(self) -> int:
        return sum(s.rows_read - s.rows_kept for s in self.tables.values())

    def summary(self) -> str:
        lines = ["Validation report", "=" * 17]
        for s in self.tables.values():
            unit = "rows" if s.unit == "rows" else s.unit
            line = f"{s.table:<20} {s.rows_read:>12,} {unit} read, {s.rows_kept:>12,} kept"
            if s.table_rows != s.rows_kept:
                line += f" -> {s.table_rows:,} {s.table}"
            lines.append(f"{line}  ({s.source})")
        if self.issues:
            lines.append("")
            for i in self.issues:
                lines.append(
                    f"- {i.table}.{i.column}: {i.problem}: {i.count:,} {i.unit}, {i.action}"
                    + (f" (e.g. {i.examples})" if i.examples else "")
                )
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


def is_purchase(orders: Any) -> Any:
    """The one rule for what an order row is, as an Ibis boolean: a purchase when its amount is
    >= 0 (free items and full discounts are purchases, as in the buy-till-you-die literature) and
    it is not flagged ``is_return`` (a cancelled invoice of free items has amount 0 but is no
    purchase)."""
    purchase = orders.amount >= 0
    if "is_return" in orders.columns:
        purchase = purchase & ~orders.is_return.fill_null(False)
    return purchase


def is_return(orders: Any) -> Any:
    """A return: a negative amount, or a row flagged ``is_return`` (the complement of
    :func:`is_purchase`, except for rows without an amount)."""
    returned = orders.amount < 0
    if "is_return" in orders.columns:
        returned = returned | orders.is_return.fill_null(False)
    return returned

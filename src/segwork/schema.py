"""The table contracts, the helpers every analysis uses on them, and what validation found.

One module holds the rules that would otherwise be written many times: the contracts, the
columns a function needs (:func:`require_columns`), the "as of the analysis date" cut-off
(:func:`as_of`, :func:`day_end`), one date parser with one time-zone rule (:func:`to_timestamp`,
:func:`to_day`: aware values are converted to UTC, then the zone is dropped), the words read as
true and false, and the purchase rule (:func:`is_purchase`, :func:`is_return`). It imports no
I/O and no presentation, so analysis modules can depend on it alone.

Every source is mapped to one of these tables. A contract lists the required columns with their
kind (id, date, number, ...), the optional columns segwork knows how to type, and the key that
must be unique. Extra columns pass through untouched.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import ibis
import pandas as pd

from segwork.errors import DateValueError, SegworkError

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
        Contract(
            "contracts",
            required={"contract_id": "id", "customer_id": "id"},
            optional={
                "start_date": "date",
                "end_date": "date",  # missing: still active
                "plan": "string",  # contract type or tier: the groups fitted apart
                "period_value": "number",  # money per renewal period
                "tenure_periods": "number",  # completed periods, for exports without dates
                "churned": "bool",  # with tenure_periods: ended in its last period
            },
            key=("contract_id",),
        ),
    ]
}


class SchemaError(SegworkError, ValueError):
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

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the run's ``validation`` dataset); :meth:`from_dict` reads it back."""
        return {
            "tables": [asdict(s) for s in self.tables.values()],
            "issues": [asdict(i) for i in self.issues],
            "derived": [asdict(d) for d in self.derived.values()],
            "rows_dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """The report :meth:`to_dict` wrote (``rows_dropped`` is derived, so it is not read)."""
        report = cls()
        for s in data.get("tables", []):
            report.tables[s["table"]] = TableStats(**s)
        report.issues = [Issue(**i) for i in data.get("issues", [])]
        for d in data.get("derived", []):
            report.derived[d["table"]] = DerivedTable(**d)
        return report

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


@dataclass
class Tables:
    """The validated tables of one run and what validation found."""

    con: Any  # the Ibis backend the history tables live in
    customers: pd.DataFrame  # always there: derived from the other tables' ids if not configured
    report: ValidationReport
    orders: ibis.Table | None = None
    interactions: ibis.Table | None = None
    survey_responses: pd.DataFrame | None = None
    survey_items: pd.DataFrame | None = None
    campaign_exposures: ibis.Table | None = None
    contracts: pd.DataFrame | None = None


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


# --------------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------------
TRUE_WORDS = ("true", "t", "yes", "y", "1", "ano")
FALSE_WORDS = ("false", "f", "no", "n", "0", "ne")


def as_ibis(data: pd.DataFrame | ibis.Table) -> ibis.Table:
    """An Ibis table for a pandas DataFrame (a DuckDB memtable) or the table itself."""
    if isinstance(data, ibis.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(data)
    raise TypeError(f"expected a pandas DataFrame or an Ibis table, got {type(data).__name__}")


def require_columns(
    columns: list[str] | pd.Index, needed: list[str] | tuple[str, ...], table: str
) -> None:
    """Raise a :class:`SchemaError` naming the missing columns and those present."""
    present = list(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        hints = [
            f"'{m}' (closest: {', '.join(difflib.get_close_matches(m, present, n=2))})"
            if difflib.get_close_matches(m, present, n=2)
            else f"'{m}'"
            for m in missing
        ]
        raise SchemaError(
            table,
            f"required column{'s' if len(missing) > 1 else ''} {', '.join(hints)} missing; "
            f"columns present: {', '.join(present) or '(none)'}",
            column=missing[0],
            fix=f"rename the column in the data, or map it in the config under sources.{table}.columns "
            f"(contract name: your column name).",
        )


def to_timestamp(
    value: Any, what: str = "analysis_date", *, error: type[Exception] = DateValueError
) -> pd.Timestamp:
    """A timezone-naive Timestamp from a date-like value, or ``error`` naming ``what``.

    The one time-zone rule of segwork: an aware value is converted to UTC and the zone dropped,
    so ``"2025-06-30T23:00-05:00"`` is 2025-07-01 04:00 everywhere.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise error(
            f"{what}: {value!r} is not a date ({exc}); pass e.g. '2025-06-30' or a pandas Timestamp"
        ) from None
    if pd.isna(ts):
        raise error(f"{what} is missing ({value!r}); pass e.g. '2025-06-30' or a pandas Timestamp")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def to_day(
    value: Any, what: str = "analysis_date", *, error: type[Exception] = DateValueError
) -> pd.Timestamp:
    """The day (midnight, timezone-naive) of a date-like value; see :func:`to_timestamp`."""
    return to_timestamp(value, what, error=error).normalize()


def day_end(analysis_date: Any) -> pd.Timestamp:
    """The first instant after the analysis date: the analysis date is a whole day."""
    return to_day(analysis_date) + pd.Timedelta(days=1)


def as_of(table: ibis.Table, analysis_date: Any, column: str = "order_date") -> ibis.Table:
    """The rows of ``table`` on or before the analysis date (the whole day counts as before it)."""
    return table.filter(table[column] < day_end(analysis_date))


def after(table: ibis.Table, analysis_date: Any, column: str = "order_date") -> ibis.Table:
    """The rows of ``table`` after the analysis date (the complement of :func:`as_of`)."""
    return table.filter(table[column] >= day_end(analysis_date))


# --------------------------------------------------------------------------------------------
# Contracts: how long a contract lasted is read from its dates or from its tenure
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowProblem:
    """Rows of a table that break one of its rules: which column, what, which rows, the fix."""

    column: str
    problem: str
    rows: pd.Series  # boolean, aligned with the table
    fix: str


def contract_columns(columns: list[str] | pd.Index) -> None:
    """The contracts table needs dates (start_date, end_date when it ended) or a tenure
    (tenure_periods with churned); raise a :class:`SchemaError` naming what is missing."""
    present = list(columns)
    if "start_date" not in present and "tenure_periods" not in present:
        raise SchemaError(
            "contracts",
            "neither 'start_date' nor 'tenure_periods' is there, so the length of a contract "
            f"cannot be known; columns present: {', '.join(present) or '(none)'}",
            column="start_date",
            fix="map the start date (sources.contracts.columns.start_date, with end_date for "
            "contracts that ended), or the completed periods and the churn flag "
            "(sources.contracts.columns.tenure_periods and churned).",
        )
    if "start_date" not in present and "churned" not in present:
        raise SchemaError(
            "contracts",
            "'tenure_periods' without 'churned': a tenure alone does not say whether the "
            f"contract ended; columns present: {', '.join(present)}",
            column="churned",
            fix="map the churn flag (sources.contracts.columns.churned: a column of Yes/No, "
            "true/false or 1/0).",
        )


def contract_problems(contracts: pd.DataFrame) -> list[RowProblem]:
    """Rows of a contracts table whose length cannot be read: no start date and no tenure, an
    end before the start, a tenure that is not a whole number >= 0, a tenure without its churn
    flag. The one rule of what a readable contract is (sources and the contracts step use it)."""
    contract_columns(contracts.columns)
    cols = contracts.columns
    none = pd.Series(False, index=contracts.index)
    start = (
        contracts["start_date"]
        if "start_date" in cols
        else pd.Series(pd.NaT, index=contracts.index)
    )
    end = contracts["end_date"] if "end_date" in cols else pd.Series(pd.NaT, index=contracts.index)
    tenure = (
        pd.to_numeric(contracts["tenure_periods"], errors="coerce")
        if "tenure_periods" in cols
        else pd.Series(float("nan"), index=contracts.index)
    )
    by_tenure = start.isna() & tenure.notna()
    out = [
        RowProblem(
            "start_date",
            "neither a start date nor a tenure",
            start.isna() & tenure.isna(),
            "give the start date of these contracts"
            + (" or their completed periods (tenure_periods)" if "tenure_periods" in cols else ""),
        ),
        RowProblem(
            "end_date",
            "an end date before the start date",
            (end < start).fillna(False).astype(bool) if "end_date" in cols else none,
            "correct the dates of these contracts (end_date is the day a contract ended; leave it "
            "empty for a contract still active)",
        ),
        RowProblem(
            "tenure_periods",
            "a tenure that is not a whole number of periods >= 0",
            by_tenure & ((tenure < 0) | (tenure != tenure.round())),
            "give the completed renewal periods (0, 1, 2, ...) of these contracts",
        ),
    ]
    flag = contracts["churned"].isna() if "churned" in cols else ~none
    out.append(
        RowProblem(
            "churned",
            "a tenure without the churn flag",
            by_tenure & flag,
            "say for these contracts whether they ended (churned true/false)",
        )
    )
    return [p for p in out if bool(p.rows.any())]

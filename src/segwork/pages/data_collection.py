"""Page 01, data collection and customer 360: its headline and every sentence it says.

The text functions take the facts they describe (or a step result) and return plain text; the
section functions (:func:`headline`, :func:`tables_read`, :func:`validation`,
:func:`missing_values`, :func:`orders_over_time`, :func:`revenue_by_order_columns`,
:func:`customer360`, :func:`customers_by_attribute`, :func:`consent`) show one section of the
page from a :class:`segwork.steps.data_collection.DataCollectionResult`, with
:mod:`segwork.display` and :mod:`segwork.plots`.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd

from segwork import display as show
from segwork import plots
from segwork.display import money, pct
from segwork.plots import data_collection as figures
from segwork.quality import (
    CONSENT_COLUMNS,
    ValueSpread,
    customers_derived,
    stale_analysis_date_text,
)
from segwork.schema import TableStats, ValidationReport
from segwork.steps.data_collection import TOP_GROUPS, DataCollectionResult


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------
def headline_text(result: DataCollectionResult) -> str:
    """The finding page 01 leads with: how much data, how active, what validation did."""
    c360, ref, report = result.customer360, result.analysis_date, result.report
    stats = report.tables
    present = [n for n in result.tables if n != "customers"]
    numbered = next(
        (i for i in report.issues if i.column == "customer_id" and "row number" in i.problem),
        None,
    )
    if numbered is not None:
        source = (
            f"There is no customer table and {numbered.table.replace('_', ' ')} has no customer "
            "id: each of its rows is one customer, numbered by its row:"
        )
    elif customers_derived(report):
        origin = " and ".join(n.replace("_", " ") for n in present) or "the data"
        source = f"There is no customer table; the customers are the distinct ids in {origin}:"
    else:
        source = "The customer table holds"
    text = f"{source} {len(c360):,} customers"
    if result.has_orders:
        first = pd.to_datetime(c360["first_order_date"]).min()
        text += f" and {orders_count_text(stats['orders'])}" if "orders" in stats else ""
        if pd.notna(first):
            text += f", from {first:%d %b %Y} to the analysis date {ref:%d %b %Y}"
        days = result.longest_window
        active = int(c360[f"active_{days}d"].sum())
        revenue = float(c360[f"revenue_{days}d"].sum())
        text += (
            f". {active:,} customers ({pct(active / max(len(c360), 1))}) bought in the {days} "
            f"days up to the analysis date, bringing {money(revenue, result.currency)} of net "
            "revenue."
        )
    else:
        others = ", ".join(n.replace("_", " ") for n in present)
        text += (
            f" (analysis date {ref:%d %b %Y}). This run has no order history, so nothing on this "
            "page describes purchases"
            + (f"; the other tables read are: {others}." if others else ".")
        )
    return text + "\n\n" + validation_text(report)


def no_breakdown_text(result: DataCollectionResult) -> str:
    """Why the page has no breakdown of the customers."""
    if result.customers_derived:
        return (
            "There is no customer table, so there are no attributes to break the customers down by"
            + (
                " (and no text column of the orders holds one value per customer)."
                if "orders" in result.tables
                else "."
            )
        )
    return "The customer table has no attribute with categories to break the customers down by."


def no_consent_text(result: DataCollectionResult) -> str:
    """Why the page has no consent shares."""
    if result.customers_derived:
        return "There is no customer table, so this run cannot say who may be contacted."
    return "The customer table has no consent columns, so this run cannot say who may be contacted."


def absent_sections(result: DataCollectionResult) -> list[str]:
    """One plain sentence per section of page 01 that this run's data leaves out."""
    out = []
    if "orders" not in result.tables:
        out.append(
            "There is no order table in this run, so orders over time and order behaviour "
            "(orders, revenue, recency) are left out."
        )
    if "interactions" not in result.tables:
        out.append("There is no interactions table, so the customer 360 has no interaction counts.")
    if "survey_responses" not in result.tables:
        out.append("There are no survey answers, so the customer 360 does not mark who answered.")
    return out


def partial_months_text(monthly: pd.DataFrame) -> str:
    """One sentence naming the months the data covers only in part ("" when there are none)."""
    part = monthly.loc[monthly["partial"].astype(bool)] if "partial" in monthly else monthly[:0]
    if part.empty:
        return ""
    items = [
        f"{r.month:%B %Y} (only {r.from_day:%-d}–{r.to_day:%-d} {r.to_day:%b})"
        for r in part.itertuples()
    ]
    one = len(items) == 1
    return (
        f"{' and '.join(items)} {'is' if one else 'are'} covered only in part by the data, so "
        f"{'its' if one else 'their'} totals are not comparable with full months; the chart "
        f"marks {'it' if one else 'them'} as partial (hollow point{'' if one else 's'})."
    )


def strongest_month(monthly: pd.DataFrame, *, currency: str) -> str:
    """The month with the highest net revenue among full months (partial ones when none is full)."""
    full = monthly.loc[~monthly["partial"].astype(bool)] if "partial" in monthly else monthly
    pool = full if len(full) else monthly
    if pool.empty:
        return ""
    best = pool.loc[pool["revenue"].idxmax()]
    scope = "full month" if len(full) and len(full) < len(monthly) else "month"
    return (
        f"The strongest {scope} was {best['month']:%B %Y} with "
        f"{money(float(best['revenue']), currency)}."
    )


def order_breakdown_text(by_value: pd.DataFrame, column: str, *, shown: int) -> str:
    """What a revenue-by-value chart shows, in words from the data."""
    total = float(by_value["revenue"].sum())
    top = by_value.iloc[0]
    name = column.replace("_", " ")
    text = f"Net revenue of the orders by {name}: {top[column]} leads"
    if total > 0:
        text += f" with {float(top['revenue']) / total:.0%} of net revenue"
    text += f" ({len(by_value):,} values in all"
    rest = len(by_value) - shown
    return text + (f"; the other {rest:,} are one grey bar)." if rest > 1 else ").")


def orders_after_text(n_after: int, *, analysis_date: pd.Timestamp | str) -> str:
    """The sentence about orders dated after the analysis date ("" when there are none)."""
    if not n_after:
        return ""
    many = n_after != 1
    return (
        f"{n_after:,} order{'s' if many else ''} dated after the analysis date "
        f"({pd.Timestamp(analysis_date):%d %b %Y}) {'are' if many else 'is'} in the data but left "
        "out of every analysis, so the reports describe what was known on that date."
    )


def returns_text(report: ValidationReport) -> str:
    """How returns are treated, said only when the orders have any ("" otherwise)."""
    n = sum(
        i.count
        for i in report.issues
        if i.table == "orders" and i.column == "amount" and i.problem.startswith("returns")
    )
    if not n:
        return ""
    return (
        f"The orders include {n:,} return{'s' if n != 1 else ''} (negative amounts). Returns are "
        "kept: they reduce revenue on the day they happen."
    )


def monthly_counts_text(monthly: pd.DataFrame) -> str:
    """What the right-hand chart of orders over time shows: orders, and returns if any."""
    if "returns" in monthly and int(monthly["returns"].sum()) > 0:
        return "Right: number of orders and of returns per month."
    return "Right: number of orders per month."


def orders_count_text(stats: TableStats) -> str:
    """The orders a run has, and the source rows they were built from when those differ:
    "67,591 orders (69,659 rows)" for a purchase log, "756 orders (2,517 lines)" for lines."""
    orders = int(stats.table_rows if stats.table_rows is not None else stats.rows_kept)
    text = f"{orders:,} order{'s' if orders != 1 else ''}"
    if stats.rows_kept != orders:
        unit = "lines" if stats.unit == "order lines" else "rows"
        text += f" ({stats.rows_kept:,} {unit})"
    return text


def rows_counted_text(report: ValidationReport) -> str:
    """What the "rows" of the overview table count, naming every table whose rows are not the
    source's own (a purchase log's rows summed into orders), so it matches the headline."""
    text = "Rows are counted after validation."
    for s in report.tables.values():
        if s.table_rows is not None and s.table_rows != s.rows_kept:
            unit = "order lines" if s.unit == "order lines" else "source rows"
            text += (
                f" The {s.table.replace('_', ' ')} table has one row per order: its "
                f"{s.table_rows:,} rows were built from {s.rows_kept:,} {unit}."
            )
    return text


def validation_text(report: ValidationReport) -> str:
    """What validation did, in one sentence without clauses about nothing."""
    dropped = []
    for s in report.tables.values():
        n = s.rows_read - s.rows_kept
        if n > 0:
            unit = "order line" if s.unit == "order lines" else "row"
            dropped.append(f"{n:,} {unit}{'s' if n != 1 else ''} of {s.table.replace('_', ' ')}")
    repaired = sum(i.count for i in report.issues if i.action == "repaired")
    done = []
    if dropped:
        done.append("dropped " + _and(dropped))
    if repaired:
        done.append(f"set {repaired:,} value{'s' if repaired != 1 else ''} to missing")
    if not done:
        return "Every table passed validation: no rows were dropped and no values repaired."
    return f"Validation {' and '.join(done)}; the table below lists each case."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def missing_labels(missing: pd.DataFrame) -> pd.Series:
    """How the page names a column of :func:`missing_values`: "education (survey responses)"."""
    column = missing["column"].astype(str).str.replace("_", " ")
    return column + " (" + missing["table"].astype(str).str.replace("_", " ") + ")"


def missing_text(missing: pd.DataFrame, *, shown: int) -> str:
    """What the missing-value chart shows, in words taken from the data."""
    if missing.empty:
        return "No column has missing values."
    worst = missing.iloc[0]
    text = (
        "Each bar is one column of one table (the table in brackets); the longer the bar, the "
        "more rows have no value. "
        f"The column with most gaps is {missing_labels(missing.head(1)).iloc[0]}: "
        f"{worst['missing']:,} rows ({100 * worst['share']:.1f}%) have no value."
    )
    full = missing.loc[missing["share"] >= 0.5]
    if len(full):
        many = len(full) > 1
        text += (
            f" {len(full)} column{'s are' if many else ' is'} missing in at least half of the "
            f"rows and cannot carry a breakdown on {'their' if many else 'its'} own."
        )
    if len(missing) > shown:
        text += f" The {shown} columns with most gaps are shown, of {len(missing)} with any."
    return text


def c360_contents(c360: pd.DataFrame, profile: list[str]) -> str:
    """What the customer 360 of this run combines, from its columns (never from a fixed list)."""
    parts = []
    attrs = [c for c in profile if c != "customer_id"]
    if attrs:
        words = [a.replace("_", " ") for a in attrs]
        shown = ", ".join(words[:8]) + (f" and {len(words) - 8} more" if len(words) > 8 else "")
        parts.append(f"the profile columns of the customer table ({shown})")
    else:
        parts.append("the customer id (there is no profile table)")
    if "orders_total" in c360:
        days = [c[len("orders_") : -1] for c in c360.columns if re.fullmatch(r"orders_\d+d", c)]
        windows = ", ".join(days[:-1]) + " and " + days[-1] if len(days) > 1 else "".join(days)
        parts.append(
            f"their orders (counts and net revenue in the last {windows} days, first and last "
            "order, average order value)"
        )
    kinds = [
        c[: -len("_365d")]
        for c in c360.columns
        if c.endswith("_365d") and not c.startswith(("orders_", "revenue_", "active_"))
    ]
    if kinds:
        parts.append("their interactions (" + ", ".join(k.replace("_", " ") for k in kinds) + ")")
    consent = [label for col, label in CONSENT_COLUMNS.items() if col in c360]
    if consent:
        parts.append("their consent (" + ", ".join(consent) + ")")
    if "survey_answered" in c360:
        parts.append("whether they answered the survey")
    if c360.shape[1] == 0:
        return (
            f"The customer 360 holds only the {len(c360):,} customer ids: this run's tables add no "
            "profile, orders, interactions, consent or survey answers to them."
        )
    text = "One row per customer, combining " + (
        ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    )
    # The customer id is the index of ``c360`` but a column of the table later reports read.
    k = c360.shape[1] + (0 if "customer_id" in c360.columns else 1)
    return text + f": {len(c360):,} rows and {k} columns. Later reports read this table."


def spread_text(spread: ValueSpread, currency: str) -> str:
    """The spread of the buyers' average order values in words (median, 98% range, log axis)."""
    if pd.isna(spread.median):
        return "no order has a positive amount"
    whom = "buyers"
    if spread.not_positive:
        whom = f"the {spread.positive:,} buyers with a positive average"
    text = (
        f"median {money(spread.median, currency)}; 98% of {whom} between "
        f"{money(spread.low, currency)} and {money(spread.high, currency)}"
    )
    if spread.not_positive:
        text += (
            f"; {spread.not_positive:,} buyer{'s' if spread.not_positive != 1 else ''} with an "
            "average of 0 (only orders of amount 0) are left out of these figures"
        )
    return text + (", so the axis is on a log scale" if spread.log_scale else "")


def c360_charts_text(c360: pd.DataFrame, *, days: int, spread: ValueSpread, currency: str) -> str:
    """What the three histograms of the customer 360 show, with the counts behind them."""
    buyers = c360.loc[c360["has_ordered"]]
    active = int(c360[f"active_{days}d"].sum())
    idle = int((buyers[f"orders_{days}d"] == 0).sum())
    ordered = (
        f"all {len(c360):,} customers have ordered at least once"
        if len(buyers) == len(c360)
        else f"of {len(c360):,} customers, {len(buyers):,} have ordered at least once"
    )
    text = f"{ordered[:1].upper()}{ordered[1:]}, {active:,} of them in the last {days} days. "
    text += f"Left: how many orders each buyer placed in those {days} days"
    text += f" ({idle:,} buyers placed none, the bar at 0)." if idle else "."
    return text + (
        f" Middle: each buyer's average order value ({spread_text(spread, currency)}). Right: how "
        "long ago each buyer last ordered."
    )


def breakdown_text(
    *, with_orders: bool, days: int | None = None, not_shown: list[str] | None = None
) -> str:
    """How to read the breakdown charts of notebook 01 (``days``: the revenue window;
    ``not_shown``: attributes left out of the charts for their many distinct values)."""
    if with_orders:
        text = (
            "Blue bars: share of customers in the group. Orange bars: share of the net revenue of "
            f"the {days or 365} days up to the analysis date. '(unknown)' gathers customers for "
            "whom the attribute is missing."
        )
    else:
        text = (
            "Share of customers in each group ('(unknown)': the attribute is missing). This run "
            "has no orders, so the groups cannot be compared by revenue."
        )
    if not_shown:
        names = _and([c.replace("_", " ") for c in not_shown])
        text += f" Not charted, as they have the most distinct values: {names}."
    return text


def other_groups_text(column: str, *, shown: int, other_values: int) -> str:
    """The sentence under a breakdown chart whose smaller groups are pooled as 'other'."""
    name = column.replace("_", " ")
    return (
        f"{name[:1].upper()}{name[1:]}: the {shown} largest groups are shown; 'other' gathers the "
        f"remaining {other_values:,} value{'s' if other_values != 1 else ''}."
    )


def from_orders_text(columns: list[str]) -> str:
    """Says which breakdowns come from the orders rather than from a customer table."""
    names = _and([c.replace("_", " ") for c in columns])
    many = len(columns) > 1
    return (
        f"{names[0].upper() + names[1:]} {'are' if many else 'is'} taken from the orders: every "
        f"customer's orders carry one value of {'each' if many else 'it'}, so it describes the "
        "customer."
    )


# --------------------------------------------------------------------------------------------
# Alt text of the figures: what each one shows, in words from the data
# --------------------------------------------------------------------------------------------
def _words(name: str) -> str:
    return str(name).replace("_", " ")


def missing_alt(top: pd.DataFrame) -> str:
    """The alt text of the missing-value bars (``top``: the rows charted, with their labels)."""
    first, last = top.iloc[0], top.iloc[-1]
    text = (
        f"Bar chart of the share of rows with no value, for the {len(top)} column"
        f"{'s' if len(top) != 1 else ''} with most gaps: {first['label']} "
        f"{pct(float(first['share']))}"
    )
    if len(top) > 1:
        text += f" down to {last['label']} {pct(float(last['share']))}"
    return text + "."


def monthly_alt(monthly: pd.DataFrame, *, currency: str) -> str:
    """The alt text of the two monthly charts: the period, and the range of each line."""
    if monthly.empty:
        return "Two empty line charts: no order is dated on or before the analysis date."
    first, last = monthly["month"].min(), monthly["month"].max()
    low, high = monthly.loc[monthly["revenue"].idxmin()], monthly.loc[monthly["revenue"].idxmax()]
    orders = monthly["orders"]
    text = (
        f"Two line charts of {len(monthly)} months, {first:%B %Y} to {last:%B %Y}. Left: net "
        f"revenue per month, from {money(float(low['revenue']), currency)} in {low['month']:%B %Y} "
        f"to {money(float(high['revenue']), currency)} in {high['month']:%B %Y}. Right: orders per "
        f"month, from {int(orders.min()):,} to {int(orders.max()):,}"
    )
    if "returns" in monthly and int(monthly["returns"].sum()) > 0:
        text += (
            f", and returns, from {int(monthly['returns'].min()):,} to "
            f"{int(monthly['returns'].max()):,}"
        )
    n_partial = int(monthly["partial"].astype(bool).sum()) if "partial" in monthly else 0
    if n_partial:
        text += f"; {n_partial} partial month{'s' if n_partial != 1 else ''} drawn hollow"
    return text + "."


def revenue_by_alt(by_value: pd.DataFrame, column: str, *, currency: str, shown: int) -> str:
    """The alt text of a revenue-by-value bar chart: the largest bars with their revenue."""
    top = by_value.head(min(shown, 5))
    bars = "; ".join(
        f"{r[column]} {money(float(r['revenue']), currency)}" for _, r in top.iterrows()
    )
    return (
        f"Bar chart of net revenue by {_words(column)} ({len(by_value):,} values, the "
        f"{min(shown, len(by_value))} largest shown): {bars}."
    )


def buyers_alt(c360: pd.DataFrame, *, days: int, spread: ValueSpread, currency: str) -> str:
    """The alt text of the three histograms of the buyers."""
    buyers = c360.loc[c360["has_ordered"]]
    if buyers.empty:
        return "Three empty histograms: no customer has ordered."
    orders = buyers[f"orders_{days}d"]
    since = pd.to_numeric(buyers["days_since_last_order"], errors="coerce")
    text = (
        f"Three histograms of the {len(buyers):,} buyers. Orders in the last {days} days: from "
        f"{int(orders.min()):,} to {int(orders.max()):,}, median {orders.median():,.0f}. "
        f"Average order value: median {money(spread.median, currency)}"
        + (" (log axis)" if spread.log_scale else "")
        + ". Days since the last order: "
    )
    if since.notna().any():
        text += f"from {since.min():,.0f} to {since.max():,.0f}, median {since.median():,.0f}."
    else:
        text += "no value."
    return text


def breakdown_alt(groups: pd.DataFrame, column: str, *, most: int = 6) -> str:
    """The alt text of a breakdown chart: each group's share of customers (and of revenue)."""
    with_revenue = "revenue_share" in groups
    parts = []
    for _, r in groups.head(most).iterrows():
        part = f"{r[column]} {pct(float(r['customer_share']))}"
        if with_revenue and pd.notna(r["revenue_share"]):
            part += f" of customers, {pct(float(r['revenue_share']))} of revenue"
        parts.append(part)
    rest = len(groups) - len(parts)
    what = "share of customers and of net revenue" if with_revenue else "share of customers"
    return (
        f"Bar chart of {what} by {_words(column)}, {len(groups)} groups: "
        + "; ".join(parts)
        + (f"; and {rest} more." if rest > 0 else ".")
    )


def consent_alt(consent: pd.DataFrame) -> str:
    """The alt text of the consent bars: each channel's share of customers."""
    parts = [f"{r['channel']} {pct(float(r['share']))}" for _, r in consent.iterrows()]
    return (
        "Bar chart of the share of customers with consent, per channel: " + "; ".join(parts) + "."
    )


# --------------------------------------------------------------------------------------------
# Tables as the page shows them
# --------------------------------------------------------------------------------------------
def overview_table(overview: pd.DataFrame) -> show.PageTable:
    """The tables read: names in words, rows and distinct customers as counts."""
    frame = overview.assign(table=overview["table"].map(_words))
    return show.PageTable(
        frame,
        formats={"rows": "count", "customers": "count"},
        labels={"customers": "Distinct customers"},
    )


def issues_table(issues: pd.DataFrame) -> show.PageTable:
    """Validation findings: tables and columns in words, the count as a count."""
    frame = issues.assign(table=issues["table"].map(_words), column=issues["column"].map(_words))
    return show.PageTable(frame, formats={"count": "count"})


def missing_table(missing: pd.DataFrame) -> show.PageTable:
    """Every column with missing values: rows without a value (count) and their share (%)."""
    frame = missing.assign(table=missing["table"].map(_words), column=missing["column"].map(_words))
    return show.PageTable(
        frame,
        formats={"missing": "count", "share": "pct"},
        labels={"missing": "Rows with no value", "share": "Share of rows"},
    )


def monthly_table(monthly: pd.DataFrame, *, currency: str) -> show.PageTable:
    """The numbers of the monthly charts: orders, returns, net revenue and buyers per month,
    partial months with the days the data covers."""
    frame = pd.DataFrame(
        {
            "month": [f"{m:%B %Y}" for m in monthly["month"]],
            "orders": monthly["orders"].to_numpy(),
            "returns": monthly["returns"].to_numpy(),
            "revenue": monthly["revenue"].to_numpy(dtype=float),
            "customers": monthly["customers"].to_numpy(),
            "partial": [
                f"only {r.from_day:%-d}–{r.to_day:%-d} {r.to_day:%b}" if r.partial else ""
                for r in monthly.itertuples()
            ],
        }
    )
    return show.PageTable(
        frame,
        formats={"orders": "count", "returns": "count", "customers": "count", "revenue": "money"},
        labels={"customers": "Customers who ordered", "partial": "Partial month"},
        currency=currency,
    )


def revenue_by_table(by_value: pd.DataFrame, column: str, *, currency: str) -> show.PageTable:
    """The numbers of one revenue-by-value chart: every value with its orders and net revenue."""
    total = float(by_value["revenue"].sum())
    frame = by_value.assign(revenue_share=by_value["revenue"] / total if total else float("nan"))
    return show.PageTable(
        frame,
        formats={
            c: k
            for c, k in (("orders", "count"), ("revenue", "money"), ("revenue_share", "pct"))
            if c in frame
        },
        labels={"revenue_share": "Share of net revenue"},
        currency=currency,
    )


def breakdown_table(groups: pd.DataFrame, column: str, *, currency: str) -> show.PageTable:
    """The numbers behind one breakdown chart, with the currency on money."""
    pcts = ("customer_share", "revenue_share", "active_share")
    money_cols = [c for c in ("revenue", "revenue_per_customer") if c in groups]
    return show.PageTable(
        groups,
        formats={
            "customers": "count",
            **{c: "pct" for c in pcts if c in groups},
            **{c: "money" for c in money_cols},
        },
        labels={
            "revenue_per_customer": "Net revenue per customer",
            "active_share": "Share who bought",
        },
        currency=currency,
    )


# --------------------------------------------------------------------------------------------
# Sections: one call per section of the notebook
# --------------------------------------------------------------------------------------------
def headline(result: DataCollectionResult) -> None:
    """The finding, and a warning when the analysis date lies long after the last order."""
    show.finding(headline_text(result))
    stale = stale_analysis_date_text(result.last_order, analysis_date=result.analysis_date)
    if result.has_orders and stale:
        show.warning(stale, title="Analysis date long after the last order")


def tables_read(result: DataCollectionResult) -> None:
    """The tables, their size and period; what the rows count; sections the data leaves out."""
    show.show_page_table(
        overview_table(result.overview), caption="Tables, their size and the period they cover"
    )
    after = result.orders_after or 0
    sentences = [
        rows_counted_text(result.report),
        orders_after_text(after, analysis_date=result.analysis_date) if result.has_orders else "",
    ]
    show.explain(" ".join(s for s in sentences if s))
    for sentence in absent_sections(result):
        show.explain(sentence)


def validation(result: DataCollectionResult) -> None:
    """How returns are treated, and every finding of validation with what was done about it."""
    issues = result.report.issues_frame()
    returns = returns_text(result.report)
    if returns:
        show.explain(returns)
    if issues.empty:
        show.explain("No problems were found in any table.")
    else:
        show.show_page_table(
            issues_table(issues),
            caption="Validation findings (action: kept, repaired = set to missing, dropped)",
        )


def missing_values(result: DataCollectionResult, *, shown: int = 12) -> None:
    """The ``shown`` columns with most missing values, as bars, and what they say."""
    top = result.missing.head(shown).assign(label=missing_labels)
    if len(top):
        ax = figures.missing_bars(top)
        show.figure(ax.figure, alt=missing_alt(top))
    show.explain(missing_text(result.missing, shown=len(top)))
    if len(result.missing):
        show.for_analysts(
            "every column with missing values",
            show.page_table_html(
                missing_table(result.missing),
                caption="Missing values per column of each table, most first",
                max_rows=len(result.missing),
            ),
        )


def orders_over_time(result: DataCollectionResult) -> None:
    """Net revenue and orders (and returns) per month, partial months marked."""
    monthly = result.monthly
    if monthly is None:
        show.explain("This run has no order table, so there is nothing to show over time.")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    figures.monthly_revenue(monthly, currency=result.currency, ax=left)
    figures.monthly_counts(monthly, ax=right)
    fig.autofmt_xdate()
    show.figure(fig, alt=monthly_alt(monthly, currency=result.currency))
    numbers = show.page_table_html(
        monthly_table(monthly, currency=result.currency),
        caption="Orders, returns and net revenue per month",
        max_rows=len(monthly),
    )
    with_returns = int(monthly["returns"].sum()) > 0
    sentences = [
        "Left: net revenue per calendar month"
        + (" (purchases minus returns)." if with_returns else "."),
        monthly_counts_text(monthly),
        strongest_month(monthly, currency=result.currency),
        partial_months_text(monthly),
    ]
    show.explain(" ".join(s for s in sentences if s))
    show.for_analysts("the numbers of the monthly charts", numbers)


def revenue_by_order_columns(result: DataCollectionResult) -> None:
    """Net revenue by each text column of the orders (country, category, channel)."""
    if not result.has_orders:
        return
    for column, by_value in result.order_breakdowns.items():
        ax = figures.revenue_by(by_value, column, currency=result.currency, n=TOP_GROUPS)
        alt = revenue_by_alt(by_value, column, currency=result.currency, shown=TOP_GROUPS)
        show.figure(ax.figure, alt=alt)
        show.explain(order_breakdown_text(by_value, column, shown=TOP_GROUPS))
    if result.order_breakdowns:
        show.for_analysts(
            "net revenue by every value of the order columns",
            *(
                show.page_table_html(
                    revenue_by_table(by_value, column, currency=result.currency),
                    caption=f"Net revenue by {_words(column)}",
                    max_rows=100,
                )
                for column, by_value in result.order_breakdowns.items()
            ),
        )
    if not result.order_breakdowns:
        show.explain(
            "The orders have no text column (such as a country, channel or product category) "
            "to break revenue down by."
        )


def customer360(result: DataCollectionResult) -> None:
    """What the customer 360 combines; orders, order value and recency of the buyers."""
    c360 = result.customer360
    show.explain(c360_contents(c360, result.profile))
    if not result.has_orders or result.spread is None:
        return
    days = result.longest_window
    axes = figures.buyer_histograms(c360, days=days, spread=result.spread, currency=result.currency)
    alt = buyers_alt(c360, days=days, spread=result.spread, currency=result.currency)
    show.figure(axes[0].figure, alt=alt)
    show.explain(c360_charts_text(c360, days=days, spread=result.spread, currency=result.currency))


def customers_by_attribute(result: DataCollectionResult) -> None:
    """One chart per attribute: share of customers (and of net revenue) per group."""
    for column, groups in result.breakdowns.items():
        ax = figures.breakdown_bars(groups, column, title=column.replace("_", " ").capitalize())
        show.figure(ax.figure, alt=breakdown_alt(groups, column))
        if groups.attrs.get("other_values"):
            show.explain(
                other_groups_text(
                    column, shown=TOP_GROUPS, other_values=groups.attrs["other_values"]
                )
            )
    if result.from_orders:
        show.explain(from_orders_text(result.from_orders))
    if not result.breakdowns:
        show.explain(no_breakdown_text(result))
        return
    not_shown = [c for c in result.breakdown_candidates if c not in result.breakdowns]
    days = result.longest_window if result.has_orders else None
    show.explain(breakdown_text(with_orders=result.has_orders, days=days, not_shown=not_shown))
    show.for_analysts(
        "the numbers of the charts by attribute",
        *(
            show.page_table_html(
                breakdown_table(groups, column, currency=result.currency),
                caption=f"Customers by {_words(column)}",
            )
            for column, groups in result.breakdowns.items()
        ),
    )


def consent(result: DataCollectionResult) -> None:
    """The share of customers who may be contacted through each channel."""
    if not len(result.consent):
        show.explain(no_consent_text(result))
        return
    ax = plots.share_bars(
        result.consent, category="channel", value="share", title="Customers with consent"
    )
    show.figure(ax.figure, alt=consent_alt(result.consent))
    show.explain(
        "Share of all customers who agreed to be contacted through each channel (or, for "
        "profiling, to have their answers used for segmentation)."
    )

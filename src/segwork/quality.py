"""Data-quality summaries of validated tables: sizes, date ranges, missing values, monthly volume.

History tables are summarised with one aggregate query each in the Ibis backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import pandas as pd

from segwork.customers import longest_window
from segwork.schema import Tables, TableStats, ValidationReport, as_ibis, is_purchase, is_return

DATE_COLUMNS = {
    "orders": "order_date",
    "interactions": "occurred_at",
    "campaign_exposures": "assigned_at",
    "survey_responses": "answered_at",
    "customers": "created_at",
}
TABLE_ORDER = ("customers", "orders", "interactions", "survey_responses", "campaign_exposures")


def _present(tables: Tables) -> dict[str, ibis.Table]:
    return {
        name: as_ibis(getattr(tables, name))
        for name in TABLE_ORDER
        if getattr(tables, name) is not None
    }


def table_overview(tables: Tables) -> pd.DataFrame:
    """Rows, distinct customers and the date range of every table."""
    rows = []
    for name, t in _present(tables).items():
        aggs = {"rows": t.count(), "customers": t.customer_id.nunique()}
        date_col = DATE_COLUMNS.get(name)
        if date_col in t.columns:
            aggs["first"] = t[date_col].min()
            aggs["last"] = t[date_col].max()
        r = t.aggregate(**aggs).to_pandas().iloc[0].to_dict()
        rows.append(
            {
                "table": name,
                "rows": int(r["rows"]),
                "customers": int(r["customers"]),
                "from": r.get("first"),
                "to": r.get("last"),
            }
        )
    out = pd.DataFrame(rows, columns=["table", "rows", "customers", "from", "to"])
    for c in ("from", "to"):  # a table without dates shows a dash, never NaT
        days = pd.to_datetime(out[c])
        out[c] = days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), "–")
    return out


def missing_values(tables: Tables, *, min_share: float = 0.0) -> pd.DataFrame:
    """Missing values per column of every table, largest share first (columns with none left out)."""
    rows = []
    for name, t in _present(tables).items():
        r = (
            t.aggregate(__n=t.count(), **{c: t[c].isnull().sum() for c in t.columns})
            .to_pandas()
            .iloc[0]
        )
        n = int(r["__n"])
        for c in t.columns:
            if r[c] > 0 and r[c] / n >= min_share:
                rows.append({"table": name, "column": c, "missing": int(r[c]), "share": r[c] / n})
    return pd.DataFrame(rows, columns=["table", "column", "missing", "share"]).sort_values(
        "share", ascending=False, ignore_index=True
    )


def monthly_orders(
    orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str
) -> pd.DataFrame:
    """Orders, returns and net revenue per calendar month up to the analysis date.

    The data covers the days from the first order to the last order on or before the analysis
    date. A month that period covers only in part (an export starting on 5 December, or ending
    on 9 December) is flagged ``partial``, with ``from_day``/``to_day`` the days it covers, so
    a short month is not read as a drop in business.
    """
    t = as_ibis(orders)
    t = t.filter(t.order_date < pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
    month = t.order_date.truncate("M").name("month")
    out = (
        t.group_by(month)
        .aggregate(
            orders=is_purchase(t).ifelse(1, 0).sum(),  # a free order is a purchase
            returns=is_return(t).ifelse(1, 0).sum(),
            revenue=t.amount.sum(),
            customers=t.customer_id.nunique(),
            first=t.order_date.min(),
            last=t.order_date.max(),
        )
        .order_by("month")
        .to_pandas()
    )
    out["month"] = pd.to_datetime(out["month"])
    out["from_day"] = out["month"]
    out["to_day"] = out["month"] + pd.offsets.MonthEnd(0)
    out["partial"] = False
    if len(out):
        start = pd.Timestamp(pd.to_datetime(out["first"]).min()).normalize()
        end = pd.Timestamp(pd.to_datetime(out["last"]).max()).normalize()
        out.loc[out.index[0], "from_day"] = start
        out.loc[out.index[-1], "to_day"] = end
        out["partial"] = (out["from_day"] > out["month"]) | (
            out["to_day"] < out["month"] + pd.offsets.MonthEnd(0)
        )
    return out.drop(columns=["first", "last"])


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
    from segwork.display import money

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


def order_categories(orders: pd.DataFrame | ibis.Table, *, limit: int = 3) -> list[str]:
    """Text columns of the orders table worth a revenue breakdown (country, category, channel).

    Ids (``*_id``) are left out, and so are columns with fewer than two values; of the rest the
    ``limit`` with the fewest distinct values are kept, in table order. One query in the backend.
    """
    t = as_ibis(orders)
    cols = [
        c
        for c, dtype in t.schema().items()
        if dtype.is_string() and not c.endswith("_id") and c not in ("order_id", "customer_id")
    ]
    if not cols:
        return []
    counts = t.aggregate(**{c: t[c].nunique() for c in cols}).to_pandas().iloc[0]
    ok = [c for c in cols if int(counts[c]) >= 2]
    keep = set(sorted(ok, key=lambda c: int(counts[c]))[:limit])
    return [c for c in ok if c in keep]


def customer_columns_from_orders(orders: pd.DataFrame | ibis.Table | None) -> pd.DataFrame:
    """Text columns of the orders that are one value per customer (the country of an invoice
    export), as customer attributes: one row per customer (index customer_id) who has a value.

    A column qualifies when no customer's orders carry two different values of it; its value is
    then a fact about the customer, so it can break the customers down as a profile column
    would. Computed in the backend; only one row per customer comes into pandas. Without
    orders: an empty frame.
    """
    if orders is None:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    t = as_ibis(orders)
    cols = [
        c
        for c, dtype in t.schema().items()
        if dtype.is_string() and not c.endswith("_id") and c not in ("order_id", "customer_id")
    ]
    if not cols:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    per = t.group_by("customer_id").aggregate(**{c: t[c].nunique() for c in cols})
    most = per.aggregate(**{c: per[c].max() for c in cols}).to_pandas().iloc[0]
    keep = [c for c in cols if pd.notna(most[c]) and int(most[c]) <= 1]
    if not keep:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    out = t.group_by("customer_id").aggregate(**{c: t[c].max() for c in keep}).to_pandas()
    return out.set_index("customer_id")


def order_breakdown(
    orders: pd.DataFrame | ibis.Table, by: str, *, analysis_date: pd.Timestamp | str
) -> pd.DataFrame:
    """Orders and net revenue per value of an orders column, up to the analysis date.

    Aggregated in the backend; a missing value is its own group, "(unknown)". Largest revenue
    first. Feed it to :func:`segwork.plots.top_n_bars` for many values.
    """
    t = as_ibis(orders)
    t = t.filter(t.order_date < pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
    key = t[by].cast("string").fill_null("(unknown)").name(by)
    out = (
        t.group_by(key)
        .aggregate(orders=t.order_id.nunique(), revenue=t.amount.sum())
        .order_by(ibis.desc("revenue"))
        .to_pandas()
    )
    out["revenue"] = out["revenue"].astype("float64")
    return out


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


def orders_after(orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str) -> int:
    """How many orders are dated after the analysis date (they are left out of every analysis)."""
    t = as_ibis(orders)
    return int(
        t.filter(t.order_date >= pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
        .count()
        .to_pyarrow()
        .as_py()
    )


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


STALE_AFTER_DAYS = 90  # an analysis date further than this after the last order is said


def last_order_date(
    orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str
) -> pd.Timestamp | None:
    """The date of the last order on or before the analysis date (None without such orders)."""
    t = as_ibis(orders)
    last = (
        t.filter(t.order_date < pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
        .order_date.max()
        .to_pandas()
    )
    return None if pd.isna(last) else pd.Timestamp(last).normalize()


def stale_analysis_date_text(
    last_order: pd.Timestamp | None,
    *,
    analysis_date: pd.Timestamp | str,
    max_days: int = STALE_AFTER_DAYS,
) -> str:
    """The sentence saying the analysis date lies long after the last order ("" when it does
    not): every customer then looks lapsed, because recency and 'active' counts are measured
    from the analysis date."""
    ref = pd.Timestamp(analysis_date).normalize()
    if last_order is None or pd.isna(last_order):
        return ""
    gap = (ref - pd.Timestamp(last_order).normalize()).days
    if gap <= max_days:
        return ""
    return (
        f"The last order is on {last_order:%d %b %Y}, {gap:,} days before the analysis date "
        f"{ref:%d %b %Y}: recency and 'active' counts are measured from the analysis date; set "
        f"analysis_date to the end of the export ({last_order:%Y-%m-%d}) if that is not intended."
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


def customers_derived(tables: Tables) -> bool:
    """Whether the run's customers come from the ids of other tables (no customers source)."""
    stats = tables.report.tables.get("customers")
    return stats is None or str(getattr(stats, "source", "")).startswith("derived")


def headline(
    tables: Tables, c360: pd.DataFrame, *, analysis_date: pd.Timestamp | str, currency: str = "CZK"
) -> str:
    """The finding notebook 01 leads with: how much data, how active, what validation did."""
    from segwork.display import money, pct

    ref = pd.Timestamp(analysis_date)
    stats = tables.report.tables
    present = [n for n in TABLE_ORDER[1:] if getattr(tables, n, None) is not None]
    numbered = next(
        (
            i
            for i in tables.report.issues
            if i.column == "customer_id" and "row number" in i.problem
        ),
        None,
    )
    if numbered is not None:
        source = (
            f"There is no customer table and {numbered.table.replace('_', ' ')} has no customer "
            "id: each of its rows is one customer, numbered by its row:"
        )
    elif customers_derived(tables):
        origin = " and ".join(n.replace("_", " ") for n in present) or "the data"
        source = f"There is no customer table; the customers are the distinct ids in {origin}:"
    else:
        source = "The customer table holds"
    text = f"{source} {len(c360):,} customers"
    if tables.orders is not None and "orders_total" in c360:
        first = pd.to_datetime(c360["first_order_date"]).min()
        text += f" and {orders_count_text(stats['orders'])}" if "orders" in stats else ""
        if pd.notna(first):
            text += f", from {first:%d %b %Y} to the analysis date {ref:%d %b %Y}"
        days = longest_window(c360)
        active = int(c360[f"active_{days}d"].sum())
        revenue = float(c360[f"revenue_{days}d"].sum())
        text += (
            f". {active:,} customers ({pct(active / max(len(c360), 1))}) bought in the {days} "
            f"days up to the analysis date, bringing {money(revenue, currency)} of net revenue."
        )
    else:
        others = ", ".join(n.replace("_", " ") for n in present)
        text += (
            f" (analysis date {ref:%d %b %Y}). This run has no order history, so nothing on this "
            "page describes purchases"
            + (f"; the other tables read are: {others}." if others else ".")
        )
    return text + "\n\n" + validation_text(tables.report)


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
        f"{worst['missing']:,} rows ({100 * worst['share']:.1f} %) have no value."
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


@dataclass(frozen=True)
class ValueSpread:
    """How widely a money column spreads, and whether a chart of it needs a log scale."""

    low: float  # 1st percentile of the positive values
    median: float
    high: float  # 99th percentile
    log_scale: bool  # the 99th percentile is more than 50 times the 1st
    positive: int = 0  # how many values are positive (the percentiles are of these)
    not_positive: int = 0  # how many are zero or negative (left out of the percentiles)

    def describe(self, currency: str) -> str:
        from segwork.display import money

        if pd.isna(self.median):
            return "no order has a positive amount"
        whom = "buyers"
        if self.not_positive:
            whom = f"the {self.positive:,} buyers with a positive average"
        text = (
            f"median {money(self.median, currency)}; 98 % of {whom} between "
            f"{money(self.low, currency)} and {money(self.high, currency)}"
        )
        if self.not_positive:
            text += (
                f"; {self.not_positive:,} buyer{'s' if self.not_positive != 1 else ''} with an "
                "average of 0 (only orders of amount 0) are left out of these figures"
            )
        return text + (", so the axis is on a log scale" if self.log_scale else "")


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
        f" Middle: each buyer's average order value ({spread.describe(currency)}). Right: how "
        "long ago each buyer last ordered."
    )


def value_spread(values: pd.Series) -> ValueSpread:
    """Percentiles of the positive values of ``values``; a log scale when they span > 50x."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    pos = numbers[numbers > 0]
    rest = len(numbers) - len(pos)
    if pos.empty:
        return ValueSpread(float("nan"), float("nan"), float("nan"), False, 0, rest)
    low, median, high = (float(pos.quantile(q)) for q in (0.01, 0.5, 0.99))
    return ValueSpread(low, median, high, high > 50 * low, len(pos), rest)


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


def no_breakdown_text(tables: Tables) -> str:
    """Why the page has no breakdown of the customers."""
    if customers_derived(tables):
        return (
            "There is no customer table, so there are no attributes to break the customers down by"
            + (
                " (and no text column of the orders holds one value per customer)."
                if tables.orders is not None
                else "."
            )
        )
    return "The customer table has no attribute with categories to break the customers down by."


def no_consent_text(tables: Tables) -> str:
    """Why the page has no consent shares."""
    if customers_derived(tables):
        return "There is no customer table, so this run cannot say who may be contacted."
    return "The customer table has no consent columns, so this run cannot say who may be contacted."


def absent_sections(tables: Tables, c360: pd.DataFrame) -> list[str]:
    """One plain sentence per section of notebook 01 that this run's data leaves out."""
    out = []
    if tables.orders is None:
        out.append(
            "There is no order table in this run, so orders over time and order behaviour "
            "(orders, revenue, recency) are left out."
        )
    if getattr(tables, "interactions", None) is None:
        out.append("There is no interactions table, so the customer 360 has no interaction counts.")
    if getattr(tables, "survey_responses", None) is None:
        out.append("There are no survey answers, so the customer 360 does not mark who answered.")
    return out


CONSENT_COLUMNS = {
    "email_opt_in": "email",
    "sms_opt_in": "SMS",
    "phone_opt_in": "phone",
    "profiling_consent": "profiling",
}


def consent_shares(c360: pd.DataFrame) -> pd.DataFrame:
    """Share of customers who gave each consent (missing counts as no consent)."""
    rows = [
        {
            "channel": label,
            "customers": int(c360[col].fillna(False).astype(bool).sum()),
            "share": float(c360[col].fillna(False).astype(bool).mean()),
        }
        for col, label in CONSENT_COLUMNS.items()
        if col in c360
    ]
    return pd.DataFrame(rows, columns=["channel", "customers", "share"])

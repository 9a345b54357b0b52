"""Data-quality facts of validated tables: sizes, date ranges, missing values, monthly volume.

History tables are summarised in the Ibis backend, with as few scans as the facts allow: one
aggregate per table gives its size, period, missing values and (for orders) the text columns'
distinct values, the orders after the analysis date and the last order before it
(:func:`scan_tables`). This module computes; the sentences of page 01 are in
:mod:`segwork.pages.data_collection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis
import pandas as pd

from segwork.schema import (
    CONTRACTS,
    Tables,
    ValidationReport,
    after,
    as_ibis,
    as_of,
    day_end,
    is_purchase,
    is_return,
    to_day,
)

DATE_COLUMNS = {
    "orders": "order_date",
    "interactions": "occurred_at",
    "campaign_exposures": "assigned_at",
    "survey_responses": "answered_at",
    "customers": "created_at",
    "contracts": "start_date",
}
#: the tables that carry customer ids, in the contracts' order (the survey catalogue has none)
TABLE_ORDER = tuple(t for t, c in CONTRACTS.items() if "customer_id" in c.required)
CONSENT_COLUMNS = {
    "email_opt_in": "email",
    "sms_opt_in": "SMS",
    "phone_opt_in": "phone",
    "profiling_consent": "profiling",
}
STALE_AFTER_DAYS = 90  # an analysis date further than this after the last order is said


def present_tables(tables: Tables) -> list[str]:
    """The names of the run's tables (of :data:`TABLE_ORDER`) that are there, in that order."""
    return [name for name in TABLE_ORDER if getattr(tables, name, None) is not None]


def customers_derived(report: ValidationReport) -> bool:
    """Whether the run's customers come from the ids of other tables (no customers source)."""
    stats = report.tables.get("customers")
    return stats is None or str(getattr(stats, "source", "")).startswith("derived")


def _text_columns(t: ibis.Table) -> list[str]:
    """Text columns of an orders table that may be categories (no ids)."""
    return [
        c
        for c, dtype in t.schema().items()
        if dtype.is_string() and not c.endswith("_id") and c not in ("order_id", "customer_id")
    ]


@dataclass(frozen=True)
class TableScan:
    """What one aggregate over a table says: size, period, gaps (and, for orders, more)."""

    table: str
    rows: int
    customers: int
    first: pd.Timestamp | None = None  # the first and last value of its date column
    last: pd.Timestamp | None = None
    missing: dict[str, int] = field(default_factory=dict)  # column -> rows without a value
    distinct: dict[str, int] = field(default_factory=dict)  # orders: text column -> values
    after: int | None = None  # orders dated after the analysis date
    last_as_of: pd.Timestamp | None = None  # the last order on or before the analysis date


def _ts(value) -> pd.Timestamp | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def scan_tables(
    tables: Tables, *, analysis_date: pd.Timestamp | str | None = None
) -> dict[str, TableScan]:
    """One aggregate query per table of the run (see :class:`TableScan`), in table order.

    With ``analysis_date`` the orders scan also counts the orders after it and finds the last
    order on or before it (the same cut-off as :func:`segwork.schema.as_of`).
    """
    out = {}
    for name in present_tables(tables):
        data, date_col = getattr(tables, name), DATE_COLUMNS.get(name)
        if isinstance(data, pd.DataFrame):  # one row per customer: counted where it is
            out[name] = _scan_frame(name, data, date_col)
            continue
        t = as_ibis(data)
        aggs = {"__rows": t.count(), "__customers": t.customer_id.nunique()}
        dated = date_col in t.columns
        if dated:
            aggs["__first"], aggs["__last"] = t[date_col].min(), t[date_col].max()
        for i, c in enumerate(t.columns):
            aggs[f"__na{i}"] = t[c].isnull().sum()
        text = _text_columns(t) if name == "orders" else []
        for i, c in enumerate(text):
            aggs[f"__nu{i}"] = t[c].nunique()
        cut = name == "orders" and analysis_date is not None
        if cut:
            late = t.order_date >= day_end(analysis_date)  # the complement of as_of
            aggs["__after"] = t.count(where=late)
            aggs["__last_as_of"] = t.order_date.max(where=~late)
        r = t.aggregate(**aggs).to_pandas().iloc[0]
        last_as_of = _ts(r["__last_as_of"]) if cut else None
        out[name] = TableScan(
            table=name,
            rows=int(r["__rows"]),
            customers=int(r["__customers"]),
            first=_ts(r["__first"]) if dated else None,
            last=_ts(r["__last"]) if dated else None,
            missing={c: int(r[f"__na{i}"]) for i, c in enumerate(t.columns)},
            distinct={c: int(r[f"__nu{i}"]) for i, c in enumerate(text)},
            after=int(r["__after"] or 0) if cut else None,
            last_as_of=last_as_of.normalize() if last_as_of is not None else None,
        )
    return out


def _scan_frame(name: str, df: pd.DataFrame, date_col: str | None) -> TableScan:
    """:class:`TableScan` of a pandas table (customers, survey answers), without a query."""
    dates = pd.to_datetime(df[date_col]) if date_col in df else None
    return TableScan(
        table=name,
        rows=len(df),
        customers=int(df["customer_id"].nunique()),
        first=_ts(dates.min()) if dates is not None else None,
        last=_ts(dates.max()) if dates is not None else None,
        missing={str(c): int(n) for c, n in df.isna().sum().items()},
    )


def table_overview(tables: Tables, *, scans: Mapping[str, TableScan] | None = None) -> pd.DataFrame:
    """Rows, distinct customers and the date range of every table (``scans``: from
    :func:`scan_tables`, to not query the tables again)."""
    scans = scans if scans is not None else scan_tables(tables)
    rows = [
        {"table": s.table, "rows": s.rows, "customers": s.customers, "from": s.first, "to": s.last}
        for s in scans.values()
    ]
    out = pd.DataFrame(rows, columns=["table", "rows", "customers", "from", "to"])
    for c in ("from", "to"):  # a table without dates shows a dash, never NaT
        days = pd.to_datetime(out[c])
        out[c] = days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), "–")
    return out


def missing_values(
    tables: Tables, *, min_share: float = 0.0, scans: Mapping[str, TableScan] | None = None
) -> pd.DataFrame:
    """Missing values per column of every table, largest share first (columns with none left out)."""
    scans = scans if scans is not None else scan_tables(tables)
    rows = [
        {"table": s.table, "column": c, "missing": n, "share": n / s.rows}
        for s in scans.values()
        for c, n in s.missing.items()
        if n > 0 and n / s.rows >= min_share
    ]
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
    t = as_of(t, analysis_date, "order_date")
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


def order_categories(
    orders: pd.DataFrame | ibis.Table,
    *,
    limit: int = 3,
    distinct: Mapping[str, int] | None = None,
) -> list[str]:
    """Text columns of the orders table worth a revenue breakdown (country, category, channel).

    Ids (``*_id``) are left out, and so are columns with fewer than two values; of the rest the
    ``limit`` with the fewest distinct values are kept, in table order. One query in the backend,
    or none with ``distinct`` (text column -> distinct values, as :class:`TableScan` has them).
    """
    t = as_ibis(orders)
    cols = _text_columns(t)
    if not cols:
        return []
    if distinct is None:
        counts = t.aggregate(**{c: t[c].nunique() for c in cols}).to_pandas().iloc[0]
        distinct = {c: int(counts[c]) for c in cols}
    ok = [c for c in cols if int(distinct[c]) >= 2]
    keep = set(sorted(ok, key=lambda c: int(distinct[c]))[:limit])
    return [c for c in ok if c in keep]


def customer_columns_from_orders(orders: pd.DataFrame | ibis.Table | None) -> pd.DataFrame:
    """Text columns of the orders that are one value per customer (the country of an invoice
    export), as customer attributes: one row per customer (index customer_id) with orders.

    A column qualifies when no customer's orders carry two different values of it; its value is
    then a fact about the customer, so it can break the customers down as a profile column
    would. One query in the backend; only one row per customer comes into pandas. Without
    orders: an empty frame.
    """
    empty = pd.DataFrame(index=pd.Index([], name="customer_id"))
    if orders is None:
        return empty
    t = as_ibis(orders)
    cols = _text_columns(t)
    if not cols:
        return empty
    aggs = {}
    for i, c in enumerate(cols):  # one value per customer: its smallest is its largest
        aggs[f"__lo{i}"] = t[c].min()  # (cheaper than counting distinct values per customer)
        aggs[c] = t[c].max()
    per = t.group_by("customer_id").aggregate(**aggs).to_pyarrow().to_pandas()
    per = per.set_index("customer_id")
    keep = [
        c
        for i, c in enumerate(cols)
        if len(per) and ((per[f"__lo{i}"] == per[c]) | per[c].isna()).all()
    ]
    if not keep:
        return empty
    return per[keep]


def order_breakdown(
    orders: pd.DataFrame | ibis.Table, by: str, *, analysis_date: pd.Timestamp | str
) -> pd.DataFrame:
    """Orders and net revenue per value of an orders column, up to the analysis date.

    Aggregated in the backend; a missing value is its own group, "(unknown)". Largest revenue
    first. Feed it to :func:`segwork.plots.top_n_bars` for many values.
    """
    return order_breakdowns(orders, [by], analysis_date=analysis_date)[by]


def order_breakdowns(
    orders: pd.DataFrame | ibis.Table,
    columns: list[str],
    *,
    analysis_date: pd.Timestamp | str,
    distinct: Mapping[str, int] | None = None,
    max_groups: int = 100_000,
) -> dict[str, pd.DataFrame]:
    """:func:`order_breakdown` of several columns, in one query when that stays small.

    The orders are grouped by every combination of the columns' values and each column's table
    is summed from those groups; an order is one row (order_id is the key of the orders table).
    When the combinations could exceed ``max_groups`` (``distinct``: the columns' distinct
    values, as :class:`TableScan` has them; unknown counts as too many), each column gets a
    query of its own.
    """
    if not columns:
        return {}
    t = as_of(as_ibis(orders), analysis_date, "order_date")
    combos = 1
    for c in columns:
        combos *= (distinct or {}).get(c, max_groups + 1) + 1  # + 1: the missing value
    together = len(columns) == 1 or combos <= max_groups
    sets = [columns] if together else [[c] for c in columns]
    out = {}
    for keys in sets:
        grouped = (
            t.group_by([t[c].cast("string").fill_null("(unknown)").name(c) for c in keys])
            .aggregate(orders=t.order_id.count(), revenue=t.amount.sum())
            .to_pyarrow()
            .to_pandas()
        )
        for c in keys:
            one = grouped.groupby(c, sort=False)[["orders", "revenue"]].sum().reset_index()
            one["orders"] = one["orders"].astype("int64")
            one["revenue"] = one["revenue"].astype("float64")
            out[c] = one.sort_values("revenue", ascending=False, kind="stable", ignore_index=True)
    return {c: out[c] for c in columns}


def orders_after(orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str) -> int:
    """How many orders are dated after the analysis date (they are left out of every analysis)."""
    return int(after(as_ibis(orders), analysis_date, "order_date").count().to_pyarrow().as_py())


def last_order_date(
    orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str
) -> pd.Timestamp | None:
    """The date of the last order on or before the analysis date (None without such orders)."""
    last = as_of(as_ibis(orders), analysis_date, "order_date").order_date.max().to_pandas()
    return None if pd.isna(last) else pd.Timestamp(last).normalize()


def stale_analysis_date_text(
    last_order: pd.Timestamp | None,
    *,
    analysis_date: pd.Timestamp | str,
    max_days: int = STALE_AFTER_DAYS,
) -> str:
    """The sentence saying the analysis date lies long after the last order ("" when it does
    not): every customer then looks lapsed, because recency and 'active' counts are measured
    from the analysis date. Said by ``segwork validate`` and by page 01 alike (plain text)."""
    ref = to_day(analysis_date)
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


@dataclass(frozen=True)
class ValueSpread:
    """How widely a money column spreads, and whether a chart of it needs a log scale."""

    low: float  # 1st percentile of the positive values
    median: float
    high: float  # 99th percentile
    log_scale: bool  # the 99th percentile is more than 50 times the 1st
    positive: int = 0  # how many values are positive (the percentiles are of these)
    not_positive: int = 0  # how many are zero or negative (left out of the percentiles)


def value_spread(values: pd.Series) -> ValueSpread:
    """Percentiles of the positive values of ``values``; a log scale when they span > 50x."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    pos = numbers[numbers > 0]
    rest = len(numbers) - len(pos)
    if pos.empty:
        return ValueSpread(float("nan"), float("nan"), float("nan"), False, 0, rest)
    low, median, high = (float(pos.quantile(q)) for q in (0.01, 0.5, 0.99))
    return ValueSpread(low, median, high, high > 50 * low, len(pos), rest)


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

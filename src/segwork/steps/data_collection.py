"""Notebook 01's computation: the customer 360 and the facts page 01 shows about the data.

``run(tables, analysis_date=..., windows_days=...)`` takes the validated tables of a run (the
validation report rides along in ``tables.report``: the run validated the sources once, before
any notebook) and returns a :class:`DataCollectionResult`. Its only dataset is the customer 360;
everything else it holds (table overview, missing values, monthly orders, breakdowns, consent)
is what the page presents. No file is read or written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segwork import quality
from segwork.customers import breakdown, breakdown_columns, build_customer360, has_orders
from segwork.schema import Tables, ValidationReport, to_day
from segwork.summary import Summary

TOP_GROUPS = 10  # groups per breakdown chart; the rest are one "other" bar
MAX_BREAKDOWNS = 10  # attributes charted at most (those with the fewest distinct values)
ORDER_COLUMNS = 3  # text columns of the orders whose revenue is broken down at most


@dataclass
class DataCollectionResult:
    """What notebook 01 computed: the customer 360 and the facts of its page."""

    analysis_date: pd.Timestamp
    windows_days: tuple[int, ...]
    currency: str
    customer360: pd.DataFrame  # one row per customer, index customer_id
    report: ValidationReport  # what the run's validation counted, dropped and repaired
    tables: tuple[str, ...]  # the run's tables (quality.TABLE_ORDER order)
    profile: list[str]  # the customer table's own attributes
    overview: pd.DataFrame  # rows, distinct customers and period per table
    missing: pd.DataFrame  # missing values per column, largest share first
    orders_after: int | None = None  # orders dated after the analysis date (None: no orders)
    last_order: pd.Timestamp | None = None  # the day of the last order on or before it
    monthly: pd.DataFrame | None = None  # orders, returns, revenue per month (None: no orders)
    order_breakdowns: dict[str, pd.DataFrame] = field(default_factory=dict)  # column -> revenue
    breakdowns: dict[str, pd.DataFrame] = field(default_factory=dict)  # attribute -> groups
    breakdown_candidates: list[str] = field(default_factory=list)  # every attribute that could
    from_orders: list[str] = field(default_factory=list)  # charted attributes from the orders
    consent: pd.DataFrame = field(default_factory=pd.DataFrame)  # share per consent channel
    spread: quality.ValueSpread | None = None  # spread of the buyers' average order values

    @property
    def has_orders(self) -> bool:
        """Whether the run has orders (and the customer 360 order behaviour)."""
        return has_orders(self.customer360)

    @property
    def longest_window(self) -> int:
        return max(self.windows_days)

    @property
    def customers_derived(self) -> bool:
        """Whether the customers come from the ids of other tables (no customer table)."""
        return quality.customers_derived(self.report)

    def outputs(self) -> dict[str, Any]:
        """The datasets of this step (catalog names): the customer 360 with customer_id a column."""
        return {"customer360": self.customer360.reset_index()}

    def summary(self) -> Summary:
        c360 = self.customer360
        facts = {
            "analysis date": f"{self.analysis_date:%Y-%m-%d}",
            "customers": f"{len(c360):,}",
            "tables": ", ".join(self.tables),
        }
        if self.has_orders:
            days = self.longest_window
            facts[f"active in {days} days"] = f"{int(c360[f'active_{days}d'].sum()):,}"
            facts["orders after the analysis date"] = f"{self.orders_after or 0:,}"
        out = Summary("Data collection and customer 360", facts)
        out.add_table("Tables", self.overview)
        if len(self.missing):
            out.add_table("Most missing values", self.missing.head(10))
        return out


def run(
    tables: Tables,
    *,
    analysis_date: pd.Timestamp | str,
    windows_days: Sequence[int] = (30, 90, 365),
    currency: str = "CZK",
) -> DataCollectionResult:
    """Build the customer 360 of ``tables`` as of ``analysis_date`` and the facts of page 01.

    The history tables are aggregated in their backend: one query per table for its size,
    period and missing values, one per-customer aggregate each for the orders and the
    interactions, one for the months and one per text column of the orders.
    """
    ref = to_day(analysis_date)
    windows = tuple(int(w) for w in windows_days)
    orders = tables.orders
    c360 = build_customer360(
        tables.customers,
        orders,
        analysis_date=ref,
        interactions=tables.interactions,
        survey_responses=tables.survey_responses,
        windows=windows,
    )
    scans = quality.scan_tables(tables, analysis_date=ref)
    profile = [c for c in tables.customers.columns if c != "customer_id"]
    result = DataCollectionResult(
        analysis_date=ref,
        windows_days=windows,
        currency=currency,
        customer360=c360,
        report=tables.report,
        tables=tuple(scans),
        profile=profile,
        overview=quality.table_overview(tables, scans=scans),
        missing=quality.missing_values(tables, scans=scans),
        consent=quality.consent_shares(c360),
    )
    if orders is not None and has_orders(c360):
        scan = scans["orders"]
        result.orders_after, result.last_order = scan.after, scan.last_as_of
        result.monthly = quality.monthly_orders(orders, analysis_date=ref)
        columns = quality.order_categories(orders, limit=ORDER_COLUMNS, distinct=scan.distinct)
        result.order_breakdowns = quality.order_breakdowns(
            orders, columns, analysis_date=ref, distinct=scan.distinct
        )
        result.spread = quality.value_spread(c360.loc[c360["has_ordered"], "aov"])
    # Text columns of the orders with one value per customer (an invoice export's country)
    # describe the customer too: they are broken down, not added to the customer 360.
    extra = quality.customer_columns_from_orders(orders).drop(columns=profile, errors="ignore")
    by_customer = c360.join(extra) if len(extra.columns) else c360
    attributes = profile + list(extra.columns)
    consent = list(quality.CONSENT_COLUMNS)
    result.breakdown_candidates = breakdown_columns(by_customer, attributes, exclude=consent)
    charted = breakdown_columns(by_customer, attributes, exclude=consent, limit=MAX_BREAKDOWNS)
    result.breakdowns = {c: breakdown(by_customer, c, top=TOP_GROUPS) for c in charted}
    result.from_orders = [c for c in charted if c not in profile]
    return result

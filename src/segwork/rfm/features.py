"""Per-customer RFM features from the orders, aggregated through Ibis (DuckDB by default).

Two conventions, chosen by one switch (see :func:`features`):

* ``classic`` - for RFM scoring and marketing segments: recency = days since the last purchase,
  frequency = purchases in the window, monetary = net revenue in the window.
* ``clv`` - the Buy-Till-You-Die convention of the CLV literature and of lifetimes /
  PyMC-Marketing (``summary_data_from_transaction_data`` / ``rfm_summary``): frequency = repeat
  purchase periods, recency = first to last purchase, T = first purchase to the analysis date,
  monetary = mean spend per repeat period. These are the inputs of BG/NBD and Gamma-Gamma.

A row with amount >= 0 is a purchase (free items and full discounts are purchases, as in the
buy-till-you-die literature); returns (amount < 0) reduce revenue on their own day; in the clv
convention a period with returns counts as a purchase only if its net revenue is > 0. Only the
per-customer result comes into pandas. The analysis date and its cut-off are those of
:mod:`segwork.schema` (``to_day``, ``day_end``).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from segwork import progress
from segwork.rfm.errors import RFMError, RFMWarning
from segwork.schema import SchemaError, as_ibis, day_end, is_return, require_columns, to_day

ORDER_COLUMNS = ("order_id", "customer_id", "order_date", "amount")


UNIT_DAYS = {"D": 1, "W": 7}


def _orders_table(orders: pd.DataFrame | ibis.Table) -> ibis.Table:
    """The four contract columns of the orders, with order_date as a timestamp."""
    t = as_ibis(orders)
    require_columns(t.columns, ORDER_COLUMNS, "orders")
    od = t.order_date
    if not od.type().is_timestamp():
        if od.type().is_date() or od.type().is_string():
            od = od.cast("timestamp")
        else:
            raise SchemaError(
                "orders",
                f"order_date has type {od.type()}, expected a date or timestamp",
                column="order_date",
                fix="parse the column as dates before calling rfm.features",
            )
    if not t.amount.type().is_numeric():
        raise SchemaError(
            "orders",
            f"amount has type {t.amount.type()}, expected a number",
            column="amount",
            fix="cast the amount column to float (money is float64)",
        )
    # a zero-amount return (a cancelled free order) changes no revenue and is no purchase
    t = t.filter(~is_return(t) | (t.amount < 0)) if "is_return" in t.columns else t
    return t.select(
        customer_id=t.customer_id, order_id=t.order_id, ts=od, amount=t.amount.cast("float64")
    )


def _check_orders(
    t: ibis.Table, in_window: ibis.BooleanValue, after: ibis.BooleanValue, where: str
) -> dict[str, int]:
    """One scan for what would otherwise be dropped silently: null keys, rows in/after the window."""
    stats = (
        t.aggregate(
            rows=t.count(),
            null_customer_id=t.customer_id.isnull().sum(),
            null_order_date=t.ts.isnull().sum(),
            null_amount=t.amount.isnull().sum(),
            in_window=in_window.sum(),
            after=after.sum(),
            customers_to_date=t.customer_id.nunique(where=~after),
            customers_in_window=t.customer_id.nunique(where=in_window),
        )
        .to_pandas()
        .iloc[0]
    )
    out = {k: int(0 if pd.isna(v) else v) for k, v in stats.items()}
    for col in ("customer_id", "order_date", "amount"):
        if out[f"null_{col}"]:
            raise SchemaError(
                "orders",
                f"{out[f'null_{col}']:,} rows have no {col}",
                column=col,
                fix="validate the orders with segwork.sources (or drop those rows) first",
            )
    if out["in_window"] == 0:
        raise RFMError(
            f"table 'orders': no orders {where} (the table has {out['rows']:,} rows); "
            "check analysis_date / window_days against the order dates"
        )
    return out


def features(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: Any,
    convention: Literal["classic", "clv"] = "classic",
    time_unit: Literal["D", "W"] = "D",
    window_days: int | None = None,
    frequency_unit: Literal["orders", "days"] = "orders",
    monetary: Literal["sum", "mean"] = "sum",
) -> pd.DataFrame:
    """Per-customer RFM features as of ``analysis_date``, indexed by customer_id.

    ``orders`` is a pandas DataFrame (wrapped as an Ibis memtable) or an Ibis table with order_id,
    customer_id, order_date and amount; the aggregation runs in the Ibis backend (DuckDB).

    Common rules. The analysis date is a whole day: orders up to its end count, later orders are
    excluded (their count is in ``attrs["orders_after_analysis_date"]``). ``window_days=w`` keeps
    only the last w days up to and including the analysis date; the default is all history.
    A purchase is a row with amount >= 0: a free item or a fully discounted order is a purchase,
    as in the buy-till-you-die literature (CDNOW has 80 such orders). Returns are rows with a
    negative amount; they reduce revenue on the day they are booked (not on the day of the
    original order).

    ``convention="classic"`` (RFM scoring).

    * recency: days from the last purchase to the analysis date (0 = bought that day); in weeks
      (days / 7, a float) with ``time_unit="W"``.
    * frequency: distinct order_ids with a purchase row in the window, or with
      ``frequency_unit="days"`` distinct calendar days with a purchase row. A day with purchases
      counts even if returns booked that day make its net revenue zero or negative.
    * monetary: net revenue in the window (purchases minus returns, so it can be <= 0 when
      returns of older orders fall in the window); ``monetary="mean"`` divides it by frequency.

    ``convention="clv"`` (BG/NBD, Gamma-Gamma), as lifetimes ``summary_data_from_transaction_data``
    and PyMC-Marketing ``rfm_summary``: order dates are floored to periods of ``time_unit`` (days,
    or ISO weeks starting Monday as pandas' ``to_period("W")``), all rows of a customer in one
    period are summed (same-day orders are one purchase), and

    * frequency: purchase periods minus one (repeat purchases),
    * recency: periods from the first to the last purchase period,
    * T: periods from the first purchase period to the analysis date's period,
    * monetary: mean net spend of the repeat purchase periods (first period excluded; 0 when
      frequency is 0).

    A period without returns is a purchase period (also when its orders are all free: amount 0);
    a period with returns is a purchase period only when its net revenue is > 0. lifetimes and
    PyMC-Marketing count every row, so a return-only day would be a "repeat purchase" with negative
    spend; the BTYD models describe purchases, so here a period with returns and net revenue <= 0
    (returns only, or purchases fully returned the same period) is not a purchase and its revenue
    is not in monetary. Without returns the two agree exactly (tested on CDNOW against lifetimes).
    Unlike lifetimes with ``freq="W"``, orders after the analysis date in its own week are excluded.

    Customers with orders in the window but no purchase (classic) or no purchase period (clv) are
    left out; their number is in ``attrs["customers_excluded"]`` and an :class:`RFMWarning` says so.
    ``attrs["coverage"]`` counts, for the page (see :func:`segwork.pages.rfm_clv.coverage_text`):
    customers with orders up to the analysis date, those scored, those whose orders all fall
    before the window, and those left out for returns only.

    Raises :class:`~segwork.schema.SchemaError` for missing columns (naming those present) and
    :class:`RFMError` for an unparsable analysis date or an empty window.
    """
    if convention not in ("classic", "clv"):
        raise RFMError(f"convention must be 'classic' or 'clv', got {convention!r}")
    if time_unit not in UNIT_DAYS:
        raise RFMError(f"time_unit must be 'D' (days) or 'W' (weeks), got {time_unit!r}")
    if frequency_unit not in ("orders", "days"):
        raise RFMError(f"frequency_unit must be 'orders' or 'days', got {frequency_unit!r}")
    if monetary not in ("sum", "mean"):
        raise RFMError(f"monetary must be 'sum' or 'mean', got {monetary!r}")
    if convention == "clv" and (frequency_unit != "orders" or monetary != "sum"):
        raise RFMError(
            "frequency_unit and monetary apply to the classic convention only; the clv convention "
            "always counts purchase periods and uses the mean spend per repeat period"
        )
    if window_days is not None and (
        not isinstance(window_days, int | np.integer) or window_days < 1
    ):
        raise RFMError(
            f"window_days must be a positive whole number of days or None, got {window_days!r}"
        )
    ref = to_day(analysis_date, "analysis_date", error=RFMError)
    end = day_end(ref)  # the analysis date is a whole day
    start = None if window_days is None else end - pd.Timedelta(days=int(window_days))

    t = _orders_table(orders)
    in_window = t.ts < end
    if start is not None:
        in_window = in_window & (t.ts >= start)
    where = f"on or before {ref.date()}" + (
        "" if start is None else f" in the {window_days} days up to it"
    )
    stats = _check_orders(t, in_window, t.ts >= end, where)
    t = t.filter(in_window)

    if convention == "classic":
        df = _classic(t, ref, time_unit, frequency_unit, monetary)
    else:
        df = _clv(t, ref, time_unit)
    excluded = int(df.attrs.pop("excluded"))
    if df.empty:
        raise RFMError(
            f"table 'orders': no purchases (amount >= 0) {where}; "
            f"{stats['in_window']:,} rows in the window are all returns"
            + (" or purchases returned in full" if convention == "clv" else "")
        )
    if excluded:
        warnings.warn(
            f"{excluded:,} customers with orders {where} have only returns"
            f"{' (or purchases returned in full)' if convention == 'clv' else ''} there and are "
            "left out of the RFM features",
            RFMWarning,
            stacklevel=2,
        )
    df.attrs = {
        "convention": convention,
        "analysis_date": str(ref.date()),
        "time_unit": time_unit,
        "window_days": None if window_days is None else int(window_days),
        "frequency_unit": frequency_unit if convention == "classic" else "periods",
        "monetary": monetary if convention == "classic" else "mean_repeat",
        "customers_excluded": excluded,
        "orders_after_analysis_date": stats["after"],
        "coverage": {
            "customers_with_orders": stats["customers_to_date"],
            "scored": len(df),
            "before_window": stats["customers_to_date"] - stats["customers_in_window"],
            "only_returns": excluded,
        },
    }
    return df


def _classic(
    t: ibis.Table, ref: pd.Timestamp, time_unit: str, frequency_unit: str, monetary: str
) -> pd.DataFrame:
    purchase = t.amount >= 0
    aggs: dict[str, Any] = {"last_purchase": t.ts.max(where=purchase), "revenue": t.amount.sum()}
    if frequency_unit == "orders":
        aggs["n"] = t.order_id.nunique(where=purchase)
    else:
        aggs["n"] = t.ts.truncate("D").nunique(where=purchase)
    raw = (
        progress.to_pandas(
            t.group_by("customer_id").aggregate(**aggs), "RFM features: aggregating orders"
        )
        .set_index("customer_id")
        .sort_index()
    )
    keep = raw["last_purchase"].notna()
    raw = raw.loc[keep]
    days = (ref - pd.to_datetime(raw["last_purchase"]).dt.normalize()).dt.days.astype("int64")
    recency = days if time_unit == "D" else days / UNIT_DAYS[time_unit]
    freq = raw["n"].astype("int64")
    revenue = raw["revenue"].astype("float64")
    out = pd.DataFrame(
        {
            "recency": recency,
            "frequency": freq,
            "monetary": revenue if monetary == "sum" else revenue / freq,
        }
    )
    out.index.name = "customer_id"
    out.attrs["excluded"] = int((~keep).sum())
    return out


def _clv(t: ibis.Table, ref: pd.Timestamp, time_unit: str) -> pd.DataFrame:
    per = (
        t.mutate(period=t.ts.truncate(time_unit))
        .group_by(["customer_id", "period"])
        .aggregate(net=t.amount.sum(), lowest=t.amount.min())
    )
    buy = (per.net > 0) | (per.lowest >= 0)  # no returns, or more bought than returned
    summary = per.group_by("customer_id").aggregate(
        first=per.period.min(where=buy),
        last=per.period.max(where=buy),
        n=buy.sum(),
        total=per.net.sum(where=buy),
        first_net=per.net.argmin(per.period, where=buy),
    )
    raw = (
        progress.to_pandas(summary, "CLV features: aggregating purchase periods")
        .set_index("customer_id")
        .sort_index()
    )
    keep = raw["n"].fillna(0) > 0
    raw = raw.loc[keep]
    unit = pd.Timedelta(days=UNIT_DAYS[time_unit])
    ref_period = (
        ref if time_unit == "D" else ref - pd.Timedelta(days=ref.weekday())
    )  # Monday, as to_period("W")
    first, last = pd.to_datetime(raw["first"]), pd.to_datetime(raw["last"])
    n = raw["n"].astype("int64")
    repeat = n - 1
    spend = (raw["total"] - raw["first_net"]) / repeat.where(repeat > 0)
    out = pd.DataFrame(
        {
            "frequency": repeat,
            "recency": ((last - first) / unit).astype("float64"),
            "T": ((ref_period - first) / unit).astype("float64"),
            "monetary": spend.fillna(0.0).astype("float64"),
        }
    )
    out.index.name = "customer_id"
    out.attrs["excluded"] = int((~keep).sum())
    return out

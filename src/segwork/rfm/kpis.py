"""Key figures per segment and the per-customer RFM columns later notebooks read."""

from __future__ import annotations

from typing import Any

import ibis
import numpy as np
import pandas as pd

from segwork.rfm.errors import RFMError
from segwork.rfm.features import _orders_table
from segwork.rfm.segments import _segment_rank
from segwork.schema import day_end, to_day


def _check_scored(scored: pd.DataFrame) -> None:
    if "segment" not in scored:
        raise RFMError(
            "expected scored features (a 'segment' column): pass the output of rfm.score; columns present: "
            + ", ".join(map(str, scored.columns))
        )


def _order_totals(
    orders: pd.DataFrame | ibis.Table, analysis_date: Any, window_days: int | None
) -> pd.DataFrame:
    """Net revenue and purchase orders per customer in the feature window (aggregated in Ibis)."""
    end = day_end(to_day(analysis_date, "analysis_date", error=RFMError))
    t = _orders_table(orders)
    keep = t.ts < end
    if window_days is not None:
        keep = keep & (t.ts >= end - pd.Timedelta(days=int(window_days)))
    t = t.filter(keep)
    agg = t.group_by("customer_id").aggregate(
        revenue=t.amount.sum(), orders=t.order_id.nunique(where=t.amount >= 0)
    )
    return agg.to_pyarrow().to_pandas().set_index("customer_id")


def segment_kpis(
    scored: pd.DataFrame,
    orders: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any = None,
) -> pd.DataFrame:
    """Per segment: customers, customer_share, revenue, revenue_share, orders, avg_order_value,
    orders_per_customer and mean_recency, in display order (best segment first).

    Revenue is net revenue (returns subtracted) in the feature window and orders are purchase
    orders (distinct order_ids with amount >= 0); avg_order_value = revenue / orders of the segment.
    Without ``orders`` they come from classic features (monetary="sum", frequency_unit="orders");
    otherwise ``orders`` is aggregated (through Ibis) for the analysis date and window recorded in
    the features (or ``analysis_date``). mean_recency is the mean time since the last purchase in
    the features' time unit. Segments of the map without customers are kept with zeros.
    """
    _check_scored(scored)
    attrs = scored.attrs
    if orders is not None:
        date = analysis_date if analysis_date is not None else attrs.get("analysis_date")
        if date is None:
            raise RFMError("segment_kpis with orders needs the analysis date: pass analysis_date=")
        tot = _order_totals(orders, date, attrs.get("window_days")).reindex(scored.index)
        revenue, n_orders = tot["revenue"].fillna(0.0), tot["orders"].fillna(0).astype("int64")
    elif (
        attrs.get("convention", "classic") == "classic"
        and attrs.get("frequency_unit", "orders") == "orders"
        and attrs.get("monetary", "sum") == "sum"
        and "T" not in scored
    ):
        revenue, n_orders = (
            scored["monetary"].astype("float64"),
            scored["frequency"].astype("int64"),
        )
    else:
        raise RFMError(
            "these features do not carry revenue and order counts (clv convention, mean monetary or "
            "frequency in days): pass orders= to segment_kpis"
        )
    since_last = scored["T"] - scored["recency"] if "T" in scored else scored["recency"]
    frame = pd.DataFrame(
        {
            "segment": scored["segment"],
            "revenue": revenue,
            "orders": n_orders,
            "recency": since_last.astype("float64"),
        }
    )
    g = frame.groupby("segment", observed=False, sort=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "orders": g["orders"].sum(),
            "mean_recency": g["recency"].mean(),
        }
    )
    if isinstance(scored["segment"].dtype, pd.CategoricalDtype):
        out = out.reindex(list(scored["segment"].cat.categories))
    else:
        out = out.reindex(sorted(out.index, key=_segment_rank))
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0)
    out["customer_share"] = out["customers"] / out["customers"].sum()
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    out["avg_order_value"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    out["orders_per_customer"] = out["orders"] / out["customers"].where(out["customers"] > 0)
    out.index.name = "segment"
    out = out.reset_index()
    out["segment"] = out["segment"].astype(str)
    out.attrs = {"recency_unit": attrs.get("time_unit", "D")}
    return out[
        [
            "segment",
            "customers",
            "customer_share",
            "revenue",
            "revenue_share",
            "orders",
            "avg_order_value",
            "orders_per_customer",
            "mean_recency",
        ]
    ]


def customer_table(scored: pd.DataFrame) -> pd.DataFrame:
    """The per-customer RFM columns later notebooks and rules read, with unambiguous names.

    recency/frequency/monetary become rfm_recency/rfm_frequency/rfm_monetary and segment becomes
    rfm_segment, so they cannot be confused with the customer 360's own behaviour columns.
    """
    renames = {
        "recency": "rfm_recency",
        "frequency": "rfm_frequency",
        "monetary": "rfm_monetary",
        "segment": "rfm_segment",
    }
    cols = [
        c
        for c in ("recency", "frequency", "monetary", "R", "F", "M", "rfm_code", "segment")
        if c in scored
    ]
    return scored[cols].rename(columns=renames)


def segment_members(table: pd.DataFrame, *, column: str = "rfm_segment") -> pd.DataFrame:
    """One boolean column per segment (customers in rows), the membership form exports take."""
    labels = table[column].dropna().astype(str)
    return pd.get_dummies(labels).astype(bool).reindex(table.index, fill_value=False)

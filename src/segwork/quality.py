"""Data-quality summaries of validated tables: sizes, date ranges, missing values, monthly volume.

History tables are summarised with one aggregate query each in the Ibis backend.
"""

from __future__ import annotations

import ibis
import pandas as pd

from segwork.sources import Tables, as_ibis

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
    for c in ("from", "to"):
        out[c] = pd.to_datetime(out[c]).dt.date
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
    """Orders, returns and net revenue per calendar month up to the analysis date."""
    t = as_ibis(orders)
    t = t.filter(t.order_date < pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
    month = t.order_date.truncate("M").name("month")
    out = (
        t.group_by(month)
        .aggregate(
            orders=(t.amount > 0).ifelse(1, 0).sum(),
            returns=(t.amount < 0).ifelse(1, 0).sum(),
            revenue=t.amount.sum(),
            customers=t.customer_id.nunique(),
        )
        .order_by("month")
        .to_pandas()
    )
    out["month"] = pd.to_datetime(out["month"])
    return out


def orders_after(orders: pd.DataFrame | ibis.Table, *, analysis_date: pd.Timestamp | str) -> int:
    """How many orders are dated after the analysis date (they are left out of every analysis)."""
    t = as_ibis(orders)
    return int(
        t.filter(t.order_date >= pd.Timestamp(analysis_date) + pd.Timedelta(days=1))
        .count()
        .to_pyarrow()
        .as_py()
    )


def headline(
    tables: Tables, c360: pd.DataFrame, *, analysis_date: pd.Timestamp | str, currency: str = "CZK"
) -> str:
    """The finding notebook 01 leads with: how much data, how active, what validation did."""
    from segwork.display import money, pct

    ref = pd.Timestamp(analysis_date)
    stats = tables.report.tables
    orders = stats["orders"].rows_kept if "orders" in stats else 0
    first = pd.to_datetime(c360["first_order_date"]).min()
    active = int(c360["active_365d"].sum())
    revenue = float(c360["revenue_365d"].sum())
    text = (
        f"The CRM holds {len(c360):,} customers and {orders:,} order rows, from {first:%d %b %Y} to the "
        f"analysis date {ref:%d %b %Y}. {active:,} customers ({pct(active / max(len(c360), 1))}) bought in the "
        f"last 12 months, bringing {money(revenue, currency)} of net revenue."
    )
    dropped = tables.report.dropped
    repaired = sum(i.count for i in tables.report.issues if i.action == "repaired")
    if dropped or repaired:
        text += (
            f"\n\nValidation dropped {dropped:,} rows and set {repaired:,} unreadable values to missing; "
            "the table below lists each case."
        )
    else:
        text += "\n\nEvery table passed validation: no rows were dropped and no values repaired."
    return text


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

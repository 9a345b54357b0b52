"""The customer 360 table: one row per customer with profile and behaviour.

Behaviour is aggregated from the history tables through Ibis (in DuckDB by default); only the
per-customer results come into pandas. Every behaviour column is computed "as of" the analysis
date: orders and interactions after it are ignored, so a re-run for an earlier date reproduces
what was known then.

Column conventions: ``orders_<w>d`` counts purchase orders (amount >= 0: a free item or a fully
discounted order is a purchase, as in segwork.rfm and the buy-till-you-die literature) placed in
the last w days before the analysis date (inclusive of the date itself); ``revenue_<w>d`` is net
revenue (purchases minus returns, i.e. negative amounts) booked in that window; ``aov`` is the
mean amount of purchase orders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd

from segwork import progress
from segwork.schema import as_ibis, as_of, day_end, is_purchase, is_return, require_columns, to_day

AGE_BANDS = [(18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 200)]
SIZE_BANDS = [
    (1, 9, "micro (1-9)"),
    (10, 49, "small (10-49)"),
    (50, 249, "medium (50-249)"),
    (250, 10**12, "large (250+)"),
]  # the EU SME size classes by employees


def age_band(birth_date: pd.Series, analysis_date: pd.Timestamp | str) -> pd.Series:
    """Age in whole years at the analysis date, as a band ('25-34', '65+'); missing stays missing."""
    ref = to_day(analysis_date)
    bd = pd.to_datetime(birth_date, errors="coerce")
    before_birthday = (bd.dt.month > ref.month) | (
        (bd.dt.month == ref.month) & (bd.dt.day > ref.day)
    )
    age = ref.year - bd.dt.year - before_birthday.astype("Int64")
    labels = [f"{lo}-{hi}" if hi < 200 else f"{lo}+" for lo, hi in AGE_BANDS]
    bins = [lo for lo, _ in AGE_BANDS] + [np.inf]
    out = pd.cut(age.astype("Float64"), bins=bins, right=False, labels=labels)
    return out.astype(pd.CategoricalDtype(labels, ordered=True))


def company_size_band(employees: pd.Series) -> pd.Series:
    """EU size class by number of employees: micro, small, medium, large."""
    labels = [lab for *_, lab in SIZE_BANDS]
    emp = pd.to_numeric(employees, errors="coerce")
    out = pd.cut(emp, bins=[0.5, 9.5, 49.5, 249.5, np.inf], labels=labels)
    return out.astype(pd.CategoricalDtype(labels, ordered=True))


def order_behaviour(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: pd.Timestamp | str,
    windows: Sequence[int] = (30, 90, 365),
) -> pd.DataFrame:
    """Per-customer order behaviour as of the analysis date (aggregated in the Ibis backend)."""
    t = as_ibis(orders)
    require_columns(t.columns, ("order_id", "customer_id", "order_date", "amount"), "orders")
    ref, end = to_day(analysis_date), day_end(analysis_date)  # the analysis date is a whole day
    t = as_of(t, ref, "order_date")
    purchase = is_purchase(t)
    aggs = {
        "first_order_date": t.order_date.min(),
        "last_order_date": t.order_date.max(),
        "orders_total": purchase.ifelse(1, 0).sum(),
        "returns_total": is_return(t).ifelse(1, 0).sum(),
        "revenue_total": t.amount.sum(),
        "gross_revenue_total": purchase.ifelse(t.amount, 0).sum(),
    }
    for w in windows:
        inside = t.order_date >= end - pd.Timedelta(days=w)
        aggs[f"orders_{w}d"] = (inside & purchase).ifelse(1, 0).sum()
        aggs[f"revenue_{w}d"] = inside.ifelse(t.amount, 0).sum()
    df = progress.to_pandas(
        t.group_by("customer_id").aggregate(**aggs), "aggregating orders per customer"
    ).set_index("customer_id")
    df["aov"] = (
        df["gross_revenue_total"] / df["orders_total"].where(df["orders_total"] > 0)
    ).astype("float64")
    # whole days between calendar days: an order on the analysis day (at any hour) is 0 days ago
    df["days_since_last_order"] = (
        ref - pd.to_datetime(df["last_order_date"]).dt.normalize()
    ).dt.days
    df["tenure_days"] = (ref - pd.to_datetime(df["first_order_date"]).dt.normalize()).dt.days
    return df.drop(columns="gross_revenue_total")


def interaction_counts(
    interactions: pd.DataFrame | ibis.Table,
    *,
    analysis_date: pd.Timestamp | str,
    window_days: int = 365,
) -> pd.DataFrame:
    """Interactions per customer and kind in the last ``window_days``, plus service contract flag.

    One row per customer with an interaction on or before the analysis date: a ``<kind>_<w>d``
    count per kind seen by then (kinds in alphabetical order), ``has_service_contract`` and
    ``complaints_total`` (ever, up to the analysis date) and ``last_interaction_at``. The counts
    are pivoted in the backend, so only one row per customer comes into pandas.
    """
    t = as_ibis(interactions)
    require_columns(t.columns, ("customer_id", "occurred_at", "kind"), "interactions")
    t = as_of(t, analysis_date, "occurred_at")
    kinds = sorted(
        str(k)
        for k in t.select("kind").distinct().to_pyarrow()["kind"].to_pylist()
        if k is not None
    )
    recent = t.occurred_at >= day_end(analysis_date) - pd.Timedelta(days=window_days)
    aggs = {f"{k}_{window_days}d": t.count(where=(t.kind == k) & recent) for k in kinds}
    aggs["has_service_contract"] = t.count(where=t.kind == "service_contract") > 0
    aggs["complaints_total"] = t.count(where=t.kind == "complaint")
    aggs["last_interaction_at"] = t.occurred_at.max()
    out = progress.to_pandas(
        t.group_by("customer_id").aggregate(**aggs), "aggregating interactions per customer"
    ).set_index("customer_id")
    ints = [c for c in out.columns if c not in ("has_service_contract", "last_interaction_at")]
    out[ints] = out[ints].astype("int64")
    out["has_service_contract"] = out["has_service_contract"].astype(bool)
    return out


def build_customer360(
    customers: pd.DataFrame,
    orders: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: pd.Timestamp | str,
    interactions: pd.DataFrame | ibis.Table | None = None,
    survey_responses: pd.DataFrame | None = None,
    windows: Sequence[int] = (30, 90, 365),
) -> pd.DataFrame:
    """One row per customer: profile attributes, order behaviour, interactions, consent, survey.

    Every customer of the customers table is kept (customers without orders get zero counts and
    missing dates); the index is customer_id. A history table that is None adds no columns: a
    run without orders has no behaviour columns (rather than columns of zeros that would claim
    nobody ever bought), and the same holds for interactions and survey answers.
    """
    require_columns(customers.columns, ("customer_id",), "customers")
    ref = to_day(analysis_date)
    c360 = customers.set_index("customer_id")
    if c360.index.has_duplicates:
        raise ValueError(
            "table 'customers': customer_id is not unique; validate the table with segwork.sources first"
        )
    if orders is not None:
        beh = order_behaviour(orders, analysis_date=ref, windows=windows)
        c360 = c360.join(beh, how="left")
        counts = [c for c in beh.columns if c.startswith(("orders_", "returns_"))]
        c360[counts] = c360[counts].fillna(0).astype("int64")
        money = [c for c in beh.columns if c.startswith("revenue_")]
        c360[money] = c360[money].fillna(0.0)
        c360["has_ordered"] = c360["orders_total"] > 0
        c360[f"active_{max(windows)}d"] = c360[f"orders_{max(windows)}d"] > 0
    if interactions is not None:
        inter = interaction_counts(interactions, analysis_date=ref)
        c360 = c360.join(inter, how="left")
        ints = [c for c in inter.columns if c.endswith("d") or c == "complaints_total"]
        c360[ints] = c360[ints].fillna(0).astype("int64")
        c360["has_service_contract"] = c360["has_service_contract"].fillna(False).astype(bool)
    if survey_responses is not None:  # a hash lookup: Index.isin on text ids is slow in pandas 3
        answered = pd.Index(survey_responses["customer_id"].dropna().unique())
        c360["survey_answered"] = answered.get_indexer(c360.index) >= 0
    if "birth_date" in c360:
        c360["age_band"] = age_band(c360["birth_date"], ref)
    if "employees" in c360:
        c360["company_size"] = company_size_band(c360["employees"])
    return c360


def longest_window(c360: pd.DataFrame) -> int | None:
    """The longest behaviour window of a customer 360 in days (365 by default), or None when it
    has no order behaviour. Texts and KPIs use it rather than assuming 365."""
    days = [int(m.group(1)) for c in c360.columns if (m := re.fullmatch(r"active_(\d+)d", str(c)))]
    return max(days) if days else None


def has_orders(c360: pd.DataFrame) -> bool:
    """Whether the customer 360 carries order behaviour (False when the run has no orders)."""
    return "orders_total" in c360


IDENTIFYING = ("name", "first_name", "last_name", "email", "phone", "street", "address")
_DERIVED_PROFILE = ("age_band", "company_size")
_RAW_BANDED = ("birth_date", "employees")


def breakdown_columns(
    c360: pd.DataFrame,
    profile: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    limit: int | None = None,
) -> list[str]:
    """The profile attributes worth a breakdown, read from the data rather than from a list.

    A column qualifies when it holds categories (text, category or true/false) with at least two
    distinct values and is not nearly unique per customer (an identifier, a name, an e-mail);
    ``age_band`` and ``company_size`` stand in for birth dates and employee counts. Columns in
    ``exclude`` (e.g. consent flags shown elsewhere) are left out. With ``limit``, the ``limit``
    columns with the fewest distinct values are kept (in their table order): a postal code is
    dropped before a region.
    """
    out: list[str] = []
    skip = set(exclude) | set(IDENTIFYING) | set(_RAW_BANDED) | {"customer_id"}
    for col in [*_DERIVED_PROFILE, *profile]:
        if col in skip or col in out or col not in c360:
            continue
        s = c360[col]
        categorical = (
            isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(s.dtype)
            or pd.api.types.is_string_dtype(s.dtype)
        )
        if not categorical or pd.api.types.is_datetime64_any_dtype(s.dtype):
            continue
        known = s.dropna()
        distinct = known.nunique()
        if distinct < 2 or (col not in _DERIVED_PROFILE and distinct > 0.5 * len(known)):
            continue
        out.append(col)
    if limit is not None and len(out) > limit:
        keep = set(sorted(out, key=lambda c: c360[c].nunique())[:limit])
        out = [c for c in out if c in keep]
    return out


def breakdown(
    c360: pd.DataFrame,
    by: str,
    *,
    revenue: str | None = None,
    active: str | None = None,
    missing_label: str = "(unknown)",
    top: int | None = None,
    other_label: str = "other",
) -> pd.DataFrame:
    """Customers, share, revenue and activity per value of a profile attribute.

    ``top`` keeps the ``top`` largest groups (by customers) and gathers the rest in one
    "other (k more)" row (``other_label``), computed from the customers themselves so every
    ratio stays exact; "(unknown)" is never lumped.
    Revenue and activity columns are left out when the customer 360 has no order behaviour;
    by default they are those of the longest window (``revenue_365d``, ``active_365d``).
    """
    days = longest_window(c360)
    revenue = revenue or (f"revenue_{days}d" if days else "revenue_365d")
    active = active or (f"active_{days}d" if days else "active_365d")
    if by not in c360:
        raise KeyError(
            f"customer 360 has no column '{by}'; columns: {', '.join(map(str, c360.columns))}"
        )
    key = c360[by].astype("string").fillna(missing_label)
    ordered = isinstance(c360[by].dtype, pd.CategoricalDtype) and c360[by].cat.ordered
    lumped: list[str] = []
    if top is not None and key[key != missing_label].nunique() > top + 1:
        sizes = key[key != missing_label].value_counts()  # "(unknown)" is never lumped
        keep = set(sizes.index[:top]) | {missing_label}
        lumped = [v for v in sizes.index if v not in keep]
        other_label = f"{other_label} ({len(lumped)} more)"
        key = key.where(key.isin(keep), other_label)
    with_money = revenue in c360 and active in c360
    g = c360.groupby(key, observed=True, sort=False)
    out = pd.DataFrame({"customers": g.size()})
    if with_money:
        out["revenue"] = g[revenue].sum()
        out["active_share"] = g[active].mean()
    out["customer_share"] = out["customers"] / out["customers"].sum()
    if with_money:
        total = out["revenue"].sum()
        out["revenue_share"] = out["revenue"] / total if total else np.nan
        out["revenue_per_customer"] = out["revenue"] / out["customers"]
    out.index.name = by
    if ordered:
        order = [str(c) for c in c360[by].cat.categories] + [other_label, missing_label]
        out = out.reindex([o for o in order if o in out.index])
    else:
        out = out.sort_values("customers", ascending=False)
        if lumped:  # "other" and "(unknown)" go last, whatever their size
            tail = [i for i in (other_label, missing_label) if i in out.index]
            out = out.reindex([i for i in out.index if i not in tail] + tail)
    cols = [by, "customers", "customer_share"]
    if with_money:
        cols += ["revenue", "revenue_share", "revenue_per_customer", "active_share"]
    out = out.reset_index()[cols]
    out.attrs["other_values"] = len(lumped)
    return out

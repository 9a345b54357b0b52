"""Segment mix by a profile attribute (age band, region, industry, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segwork.customers import age_band, company_size_band  # noqa: F401  (re-exported)
from segwork.rfm.errors import RFMError
from segwork.rfm.kpis import _check_scored
from segwork.rfm.segments import _segment_rank

UNKNOWN = "(unknown)"


def breakdown(
    scored: pd.DataFrame,
    customers: pd.DataFrame,
    by: str,
    *,
    missing_label: str = UNKNOWN,
    top: int | None = None,
    other_label: str = "other",
) -> pd.DataFrame:
    """Segment shares by a profile attribute (age band, region, industry, company size band, ...).

    ``customers`` has one row per customer (customer_id as a column or the index) and the column
    ``by``; build bands with :func:`age_band` / :func:`company_size_band` first. Returns a tidy
    frame with one row per (``by`` value, segment): customers, group_customers, share (of the
    group's customers in the segment; sums to 1 per group) and lift (share / the segment's share
    of all customers; > 1 = over-represented). Scored customers without a profile row or value are
    counted under ``missing_label``. With ``top=n`` an unordered attribute keeps its n largest
    groups and pools the rest under ``other_label`` (shown last), so a chart of 40 countries stays
    readable.
    """
    _check_scored(scored)
    prof = customers.set_index("customer_id") if "customer_id" in customers.columns else customers
    if by not in prof.columns:
        hint = (
            " (build it with rfm.age_band(customers['birth_date'], analysis_date))"
            if by == "age_band"
            else " (build it with rfm.company_size_band(customers['employees']))"
            if "size" in by
            else ""
        )
        raise RFMError(
            f"table 'customers' has no column '{by}'{hint}; columns present: "
            + ", ".join(map(str, prof.columns))
        )
    if prof.index.has_duplicates:
        raise RFMError("table 'customers': customer_id is not unique")
    attr = prof[by].reindex(scored.index)
    ordered = isinstance(prof[by].dtype, pd.CategoricalDtype) and prof[by].cat.ordered
    key = attr.astype("string").fillna(missing_label)
    seg = scored["segment"]
    names = (
        list(seg.cat.categories)
        if isinstance(seg.dtype, pd.CategoricalDtype)
        else sorted(seg.dropna().unique(), key=_segment_rank)
    )
    counts = pd.crosstab(key, seg.astype(object)).reindex(columns=names, fill_value=0)
    if ordered:
        order = [str(c) for c in prof[by].cat.categories] + [missing_label]
        counts = counts.reindex([o for o in order if o in counts.index])
    else:
        counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
        if top is not None and len(counts) > top + 1:
            rest = counts.iloc[top:].sum(axis=0).rename(other_label)
            counts = pd.concat([counts.iloc[:top], rest.to_frame().T])
    overall = counts.sum(axis=0) / counts.to_numpy().sum()
    long = counts.stack().rename("customers").reset_index()
    long.columns = [by, "segment", "customers"]
    long["group_customers"] = long.groupby(by, sort=False)["customers"].transform("sum")
    long["share"] = long["customers"] / long["group_customers"]
    long["lift"] = long["share"] / long["segment"].map(overall).replace(0, np.nan)
    return long


def with_group_counts(b: pd.DataFrame, by: str) -> pd.DataFrame:
    """:func:`breakdown` with each group labelled by its customer count: "Praha (1,234)"."""
    counts = b["group_customers"].map(lambda n: f"{int(n):,}")
    return b.assign(**{by: b[by].astype(str) + " (" + counts + ")"})

"""Segment migration: each customer's segment at an earlier snapshot against now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from segwork.rfm.errors import RFMError, RFMNotApplicable
from segwork.rfm.features import _orders_table, features
from segwork.rfm.scoring import score
from segwork.schema import as_ibis, day_end, to_day
from segwork.summary import Summary

NEW = "new"  # migration: customer whose first purchase ever falls after the earlier snapshot


INACTIVE = "inactive"  # migration: bought before the earlier snapshot, but was not scored then


GONE = "gone"  # migration: customer who left the feature window (only with window_days)


@dataclass
class MigrationResult:
    """Segment of each customer at an earlier snapshot and now, and the transition matrix.

    ``customers``: index customer_id, columns segment_before, segment_now ("new" before = first
    purchase ever after the earlier date; "inactive" before = bought earlier but not scored at the
    earlier date, e.g. no purchase in its window; "gone" now = no purchase in the current window,
    only with window_days). ``counts``: customers per (segment_before row, segment_now column), every
    segment of the map included even when empty. ``shares``: counts divided by their row total
    (NaN for an empty row).
    """

    customers: pd.DataFrame
    counts: pd.DataFrame
    shares: pd.DataFrame
    analysis_date: pd.Timestamp
    earlier_date: pd.Timestamp

    def summary(self) -> Summary:
        """Snapshot dates, how many stayed in their segment and the largest moves."""
        c = self.customers
        old = c[~c["segment_before"].isin([NEW, INACTIVE])]
        same = (
            (old["segment_before"].astype(str) == old["segment_now"].astype(str)).mean()
            if len(old)
            else np.nan
        )
        moves = self.counts.stack()
        moves = moves[[a != b for a, b in moves.index]].sort_values(ascending=False).head(5)
        moves = moves[moves > 0]
        largest = pd.DataFrame(
            {
                "from": [a for a, _ in moves.index],
                "to": [b for _, b in moves.index],
                "customers": moves.astype("int64").to_numpy(),
            }
        )
        return Summary(
            "RFM segment migration",
            facts={
                "earlier snapshot": str(self.earlier_date.date()),
                "now": str(self.analysis_date.date()),
                "customers": f"{len(c):,} ({(c['segment_before'] == NEW).sum():,} first purchases "
                f"since the earlier snapshot, {(c['segment_before'] == INACTIVE).sum():,} "
                "inactive then)",
                "stayed in segment": f"{same:.1%} of customers who existed before"
                if len(old)
                else "n/a",
            },
            tables=[("largest moves between segments", largest)] if len(largest) else [],
        )

    def __repr__(self) -> str:
        return str(self.summary())


def migration(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: Any,
    earlier_days: int = 90,
    feature_kwargs: Mapping[str, Any] | None = None,
    current: pd.DataFrame | None = None,
    **score_kwargs: Any,
) -> MigrationResult:
    """Each customer's segment ``earlier_days`` before the analysis date against now.

    Both snapshots are computed the same way (``features(**feature_kwargs)`` then
    ``score(**score_kwargs)``) from the orders up to each date only, so the earlier scores are
    relative to the customer base of that time (quantiles are re-estimated; pass ``cut_points`` to
    score both against fixed values). Customers whose first purchase ever (amount >= 0) falls after
    the earlier date are "new"; customers not scored at the earlier date who had bought before it
    (outside its window, or only returns in it) are "inactive" there; with ``window_days``
    customers whose purchases left the window are "gone" now. So a closed cohort (every first
    purchase long ago) shows no new customers.

    ``current``: the scores at the analysis date computed with the same ``feature_kwargs`` and
    ``score_kwargs`` (the output of :func:`score`), when the caller has them already; they are
    not computed again.

    Raises :class:`RFMNotApplicable` when there is no purchase on or before the earlier date (the
    history is shorter than ``earlier_days``): there is nothing to compare with.
    """
    if not isinstance(earlier_days, int | np.integer) or earlier_days < 1:
        raise RFMError(f"earlier_days must be a positive whole number, got {earlier_days!r}")
    ref = to_day(analysis_date, "analysis_date", error=RFMError)
    earlier = ref - pd.Timedelta(days=int(earlier_days))
    fk = dict(feature_kwargs or {})
    t = as_ibis(orders)
    first = _first_purchases(t, ref)
    if first.empty or first.min() >= day_end(earlier):
        start = (
            "no purchases" if first.empty else f"the first purchase is on {first.min():%d %b %Y}"
        )
        raise RFMNotApplicable(
            f"Segment migration is left out: it compares segments {int(earlier_days)} days "
            f"before the analysis date ({earlier:%d %b %Y}) with now, and {start}, so there is "
            "no earlier period to compare with."
        )
    now = (
        current
        if current is not None
        else score(features(t, analysis_date=ref, **fk), **score_kwargs)
    )
    try:
        before = score(features(t, analysis_date=earlier, **fk), **score_kwargs)["segment"]
    except RFMError as e:
        if "no orders" not in str(e) and "no purchases" not in str(e):
            raise
        before = pd.Series(dtype=object)
    segments = list(now["segment"].cat.categories)
    ids = now.index.union(before.index)
    never = first.reindex(ids) >= day_end(earlier)  # first purchase after then
    seg_before = before.astype(object).reindex(ids)
    seg_before = seg_before.where(seg_before.notna(), np.where(never, NEW, INACTIVE))
    seg_now = now["segment"].astype(object).reindex(ids).fillna(GONE)
    rows = [NEW, INACTIVE, *segments]
    cols = segments + ([GONE] if (seg_now == GONE).any() else [])
    table = pd.DataFrame(
        {
            "segment_before": pd.Categorical(seg_before, categories=rows),
            "segment_now": pd.Categorical(seg_now, categories=cols),
        },
        index=ids,
    )
    table.index.name = "customer_id"
    counts = (
        pd.crosstab(table["segment_before"], table["segment_now"], dropna=False)
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype("int64")
    )
    counts.index.name, counts.columns.name = "segment_before", "segment_now"
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    return MigrationResult(
        customers=table, counts=counts, shares=shares, analysis_date=ref, earlier_date=earlier
    )


def _first_purchases(t: ibis.Table, ref: pd.Timestamp) -> pd.Series:
    """Each customer's first purchase (amount >= 0) on or before ``ref``, aggregated in Ibis."""
    o = _orders_table(t)
    o = o.filter((o.ts < day_end(ref)) & (o.amount >= 0))
    df = o.group_by("customer_id").aggregate(first=o.ts.min()).to_pyarrow().to_pandas()
    return pd.to_datetime(df.set_index("customer_id")["first"]).dt.normalize()

"""Rule segments as a report sees them: sizes, KPIs, overlaps, movements and size over time.

Inputs are plain tables: a boolean membership table (one row per customer, one column per
segment, as :meth:`segwork.rules.RuleSet.memberships` returns it), the customer table and the
entries/exits of :func:`segwork.actions.changes`. Nothing here reads or writes files.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def segment_kpis(
    memberships: pd.DataFrame,
    customers: pd.DataFrame,
    moved: pd.DataFrame | None = None,
    *,
    revenue: str = "revenue_365d",
) -> pd.DataFrame:
    """Members, share of customers, revenue and movements per segment (customers indexed alike)."""
    rows = []
    n = len(memberships)
    for seg in memberships.columns:
        members = memberships[seg].fillna(False).astype(bool)
        rev = (
            customers.loc[members[members].index, revenue]
            if revenue in customers
            else pd.Series(dtype=float)
        )
        row = {
            "segment": seg,
            "members": int(members.sum()),
            "share": members.mean() if n else 0.0,
            "revenue": float(rev.sum()),
            "revenue_per_member": float(rev.mean()) if len(rev) else 0.0,
        }
        if moved is not None:
            mine = moved[moved["segment"] == seg]
            row["entered"] = int((mine["change"] == "entered").sum())
            row["left"] = int((mine["change"] == "left").sum())
        rows.append(row)
    return pd.DataFrame(rows)


def overlap(memberships: pd.DataFrame, *, share: bool = False) -> pd.DataFrame:
    """Customers in both segments (or, with ``share``, the share of the row segment also in the column one)."""
    m = memberships.fillna(False).astype(int)
    both = m.T @ m
    if share:
        sizes = pd.Series(both.values.diagonal(), index=both.index)
        both = both.div(sizes.where(sizes > 0), axis=0)
    both.index.name, both.columns.name = "segment", "also in"
    return both


def exclusive_sizes(assigned: pd.Series, order: Sequence[str]) -> pd.DataFrame:
    """Customers per segment when each customer counts once, in its highest-priority segment."""
    counts = assigned.value_counts().reindex(list(order), fill_value=0)
    out = counts.rename("members").rename_axis("segment").reset_index()
    out["unassigned"] = False
    none = int(assigned.isna().sum())
    return pd.concat(
        [out, pd.DataFrame([{"segment": "(no segment)", "members": none, "unassigned": True}])],
        ignore_index=True,
    )


def size_history(history: Sequence[tuple[str, pd.Timestamp, pd.DataFrame]]) -> pd.DataFrame:
    """Long table run_id, run_at, segment, members from (run id, time, membership table) triples."""
    rows = [
        {
            "run_id": rid,
            "run_at": pd.Timestamp(at),
            "segment": seg,
            "members": int(m[seg].fillna(False).astype(bool).sum()),
        }
        for rid, at, m in history
        for seg in m.columns
    ]
    return pd.DataFrame(rows, columns=["run_id", "run_at", "segment", "members"])


def headline(
    kpis: pd.DataFrame,
    memberships: pd.DataFrame,
    *,
    previous_run: str | None,
    tasks: int,
    emails: int,
    calls: int,
    no_consent: int,
) -> str:
    """The finding notebook 05 leads with, in words a sales manager reads."""
    in_any = int(memberships.fillna(False).astype(bool).any(axis=1).sum())
    text = (
        f"{len(kpis)} saved segments hold {in_any:,} customers ({in_any / max(len(memberships), 1):.0%} of all "
        f"customers) in at least one segment."
    )
    if "entered" in kpis:
        since = (
            f"since the last successful run ({previous_run})"
            if previous_run
            else "on this first run"
        )
        text += (
            f" {since[0].upper()}{since[1:]}, {int(kpis['entered'].sum()):,} segment entries and "
            f"{int(kpis['left'].sum()):,} exits were recorded."
        )
    text += (
        f"\n\nThe entries produced {tasks:,} tasks for account managers, {emails:,} emails and {calls:,} calls."
        + (
            f" {no_consent:,} customers were left off a contact list because they have not given consent for "
            "that channel or lack contact details."
            if no_consent
            else ""
        )
    )
    return text

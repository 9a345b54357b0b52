"""Rule segments as a report sees them: sizes, KPIs, overlaps, movements and size over time.

Inputs are plain tables: a boolean membership table (one row per customer, one column per
segment, as :meth:`segwork.rules.RuleSet.memberships` returns it), the customer table and the
entries/exits of :func:`segwork.actions.changes`. Nothing here reads or writes files; the
page text (headline, rule descriptions, number formats) is in :mod:`segwork.pages.rule_segments`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from segwork.rules import RuleProblem, RuleSet, RuleSetError

#: Where customer-table columns come from, when a run may not have them: (origin, marker column
#: present whenever the origin is, pattern of the columns it adds). Checked in order.
COLUMN_ORIGINS: tuple[tuple[str, str, str], ...] = (
    (
        "the orders table",
        "orders_total",
        r"first_order_date|last_order_date|orders_total|returns_total|revenue_total|aov"
        r"|days_since_last_order|tenure_days|has_ordered|(orders|revenue|active)_\d+d",
    ),
    (
        "the lifetime-value model of notebook 02_rfm_clv",
        "p_alive",
        r"p_alive|expected_spend|expected_purchases_\d+d|clv_\d+m|propensity_\d+d",
    ),
    ("the RFM scores of notebook 02_rfm_clv", "rfm_segment", r"rfm_\w+|R|F|M"),
    ("the personas of notebook 03_personas", "persona", r"persona|cluster"),
    (
        "the interactions table",
        "has_service_contract",
        r"has_service_contract|complaints_total|last_interaction_at|\w+_\d+d",
    ),
    ("the survey answers", "survey_answered", r"survey_answered"),
)


def column_origin(name: str) -> tuple[str, str] | None:
    """(origin in words, marker column) of a column the customer table gets from a source or an
    earlier notebook, or None for a column of the customer table itself (or a typo)."""
    for origin, marker, pattern in COLUMN_ORIGINS:
        if re.fullmatch(pattern, name):
            return origin, marker
    return None


@dataclass(frozen=True)
class RuleCheck:
    """The rules that can run on this run's customer table, and those left out and why."""

    runnable: RuleSet
    left_out: pd.DataFrame  # segment, columns, reason

    def sentences(self) -> list[str]:
        """One plain sentence per rule left out."""
        return [
            f"The segment '{r.segment}' is left out of this run: {r.reason}."
            for r in self.left_out.itertuples()
        ]


def check_rules(
    ruleset: RuleSet, customers: pd.DataFrame, *, source: str | None = None
) -> RuleCheck:
    """Split saved segments into those this run can evaluate and those it cannot.

    A rule reading a column that a missing source would have added (``revenue_365d`` in a run
    without orders, ``rfm_segment`` when notebook 02 did not apply) is left out, with a sentence
    naming the column and its source. Any other unknown column (a typo) or a type mismatch
    raises :class:`RuleSetError` naming the rules file, the rule and the column, and listing the
    columns that exist.
    """
    columns = [str(c) for c in customers.columns]
    have = set(columns)
    runnable, left, problems = [], [], []
    for r in ruleset:
        missing = [c for c in r.rule.columns if c not in have]
        absent = {c: column_origin(c) for c in missing}
        explained = {
            c: o
            for c, o in absent.items()
            if o is not None
            and o[1] not in have
            and not difflib.get_close_matches(c, columns, n=1, cutoff=0.8)  # a typo, not a gap
        }
        errors = [e for e in r.rule.problems(customers) if e.column not in explained]
        if errors:
            problems += [
                RuleProblem(f"rule '{r.name}': {e}", r.name, e.column, e.kind) for e in errors
            ]
            continue
        if explained:
            by_origin: dict[str, list[str]] = {}
            for c, (origin, _) in explained.items():
                by_origin.setdefault(origin, []).append(c)
            reason = "; ".join(
                f"{', '.join(cols)} come{'s' if len(cols) == 1 else ''} from {origin}, which "
                "this run does not have"
                for origin, cols in by_origin.items()
            )
            left.append(
                {"segment": r.name, "columns": ", ".join(sorted(explained)), "reason": reason}
            )
            continue
        runnable.append(r)
    if problems:
        raise RuleSetError([p.message for p in problems], details=problems, source=source)
    return RuleCheck(
        RuleSet(tuple(runnable)), pd.DataFrame(left, columns=["segment", "columns", "reason"])
    )


def segment_kpis(
    memberships: pd.DataFrame,
    customers: pd.DataFrame,
    moved: pd.DataFrame | None = None,
    *,
    revenue: str | None = None,
) -> pd.DataFrame:
    """Members, share of customers, revenue and movements per segment (customers indexed alike).

    The revenue columns are present only when the customer table has the ``revenue`` column
    (by default the net revenue of the customer 360's longest window, ``revenue_365d``).
    """
    from segwork.customers import longest_window

    days = longest_window(customers)
    revenue = revenue or (f"revenue_{days}d" if days else "revenue_365d")
    rows = []
    n = len(memberships)
    for seg in memberships.columns:
        members = memberships[seg].fillna(False).astype(bool)
        row = {
            "segment": seg,
            "members": int(members.sum()),
            "share": members.mean() if n else 0.0,
        }
        if revenue in customers:  # a run without orders has no revenue: no column of zeros
            rev = customers.loc[members[members].index, revenue]
            row["revenue"] = float(rev.sum())
            row["revenue_per_member"] = float(rev.mean()) if len(rev) else 0.0
        if moved is not None:
            mine = moved[moved["segment"] == seg]
            row["entered"] = int((mine["change"] == "entered").sum())
            row["left"] = int((mine["change"] == "left").sum())
        rows.append(row)
    cols = ["segment", "members", "share"]
    cols += ["revenue", "revenue_per_member"] if revenue in customers else []
    cols += ["entered", "left"] if moved is not None else []
    return pd.DataFrame(rows, columns=cols).astype({"segment": "str"})


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

"""Page 05, saved segments and actions: its headline and every sentence it says.

The text functions (:func:`describe_rules`, :func:`headline_text`, :func:`kpi_formats`) take
the facts they describe; the section functions (:func:`headline`, :func:`segments`,
:func:`overlap`, :func:`exclusive`, :func:`sizes`, :func:`actions`) show one section of the
page from a :class:`segwork.steps.rule_segments.RuleSegmentsResult`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segwork import display as show
from segwork.customers import longest_window
from segwork.plots import rule_segments as figures
from segwork.rules import RuleSet
from segwork.steps.rule_segments import RuleSegmentsResult

_LISTS = ("tasks", "emails", "calls")


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------
def describe_rules(ruleset: RuleSet, *, source: str) -> str:
    """What the saved segments of this run are, in the rules file's own words."""
    if not len(ruleset):
        return f"The rules file {source} defines no segments."
    items = [
        f"'{r.name}' ({r.description.rstrip('.') if r.description else str(r.rule)})"
        for r in ruleset
    ]
    n = len(ruleset)
    text = f"The rules file {source} defines {n} saved segment{'s' if n > 1 else ''}: "
    return text + "; ".join(items) + "."


def kpi_formats(kpis: pd.DataFrame, *, currency: str = "") -> dict[str, str]:
    """Number formats for the KPI table: counts, shares in per cent, and amounts in full with
    the currency (cents when the segments' revenues are small), so no digit is lost."""
    formats = {"share": "pct", "members": "count", "entered": "count", "left": "count"}
    unit = currency.replace("{", "{{").replace("}", "}}")
    for col in ("revenue", "revenue_per_member"):
        if col in kpis:
            formats[col] = f"{show.money_format(kpis[col])} {unit}".strip()
    return formats


# --------------------------------------------------------------------------------------------
# Alt text of the figures: what each one shows, in words from the data
# --------------------------------------------------------------------------------------------
def overlap_alt(overlap: pd.DataFrame) -> str:
    """The alt text of the overlap heatmap: its size and the largest overlap off the diagonal."""
    n = len(overlap)
    text = f"Heatmap of how {n} segments overlap (share of each row's members also in the column)"
    pairs = [
        (float(overlap.iloc[i, j]), overlap.index[i], overlap.columns[j])
        for i in range(n)
        for j in range(overlap.shape[1])
        if overlap.index[i] != overlap.columns[j] and pd.notna(overlap.iloc[i, j])
    ]
    if not pairs:
        return text + "."
    share, row, col = max(pairs, key=lambda p: p[0])
    if share == 0:
        return text + ": no two segments share a customer."
    return text + f"; the largest: {share:.0%} of '{row}' are also in '{col}'."


def overlap_table(overlap: pd.DataFrame) -> pd.DataFrame:
    """The overlap shares in per cent, every cell with the same decimals (one, two when the
    smallest non-zero share needs them), one row per segment."""
    values = overlap.to_numpy(dtype=float).ravel()
    digits = min(max(show.decimals_for(100 * values), 1), 2)
    cells = overlap.apply(
        lambda col: [show.pct(float(v), digits) if np.isfinite(v) else "" for v in col]
    )
    return cells.rename_axis("segment").reset_index()


def sizes_alt(sizes: pd.DataFrame) -> str:
    """The alt text of the size lines: how many runs, and each segment's members now and first."""
    runs = sizes["run_id"].nunique()
    order = sizes.sort_values("run_at")
    parts = []
    for seg, g in order.groupby("segment", sort=False):
        now = int(g["members"].iloc[-1])
        part = f"{seg} {now:,}"
        if len(g) > 1:
            part += f" (first {int(g['members'].iloc[0]):,})"
        parts.append(part)
    return (
        f"Line chart of members per segment at {runs} run{'s' if runs != 1 else ''}; members at "
        "the latest run: " + "; ".join(parts) + "."
    )


def headline_text(
    kpis: pd.DataFrame,
    memberships: pd.DataFrame,
    *,
    previous_run: str | None,
    tasks: int,
    emails: int,
    calls: int,
    no_consent: int,
) -> str:
    """The finding page 05 leads with, in words a sales manager reads."""
    if kpis.empty:
        return (
            "No saved segment could be evaluated on this run's data, so there are no members, "
            "entries, exits or actions."
        )
    in_any = int(memberships.fillna(False).astype(bool).any(axis=1).sum())
    n = len(kpis)
    text = (
        f"{n} saved segment{'s' if n != 1 else ''} hold{'' if n != 1 else 's'} {in_any:,} "
        f"customers ({in_any / max(len(memberships), 1):.0%} of all customers) in at least one "
        "segment."
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
        f"\n\nThe entries produced {tasks:,} tasks for account managers, {emails:,} emails and "
        f"{calls:,} calls."
    )
    if no_consent:
        text += (
            f" {no_consent:,} customers were left off a contact list because they have not given "
            "consent for that channel or lack contact details."
        )
    return text


def _files_text(result: RuleSegmentsResult) -> str:
    files = sorted(
        [f"{name}.{fmt}" for name in _LISTS for fmt in result.action_formats] + ["excluded.csv"]
    )
    n = len(result.ruleset) * len(result.member_formats)
    return (
        "The lists are in the run folder under actions/: " + ", ".join(files) + ". The member "
        f"list of each segment is under members/ ({n} file{'s' if n != 1 else ''}). CSV and "
        "Excel files are safe to open: cells that would start a formula are neutralised."
    )


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def headline(result: RuleSegmentsResult) -> None:
    """The rules of this run, those left out, and the finding."""
    show.explain(describe_rules(result.all_rules, source=result.source))
    for sentence in result.check.sentences():
        show.explain(sentence)
    show.finding(result_headline(result))


def result_headline(result: RuleSegmentsResult) -> str:
    """The page's finding (:func:`headline_text`) for a step result."""
    lists = result.lists
    return headline_text(
        result.kpis,
        result.members,
        previous_run=result.previous_run,
        tasks=len(lists.tasks),
        emails=len(lists.emails),
        calls=len(lists.calls),
        no_consent=int(lists.excluded["customers"].sum()) if len(lists.excluded) else 0,
    )


def segments(result: RuleSegmentsResult, *, currency: str = "") -> None:
    """The segments: what each selects, owner, members, share, revenue (in ``currency``),
    entries and exits; the rules as written (column names, thresholds) for analysts."""
    kpis = result.kpis
    rules = result.ruleset.to_frame()
    table = (
        kpis.merge(
            rules[["name", "description", "rule", "owner"]], left_on="segment", right_on="name"
        )
        .drop(columns="name")
        .assign(
            owner=lambda d: d["owner"].fillna("–"),
            description=lambda d: (
                d["description"]
                .fillna("")
                .astype(str)
                .str.strip()
                .where(lambda t: t != "", d["rule"])
            ),
        )
    )
    money_cols = ["revenue"] if "revenue" in table else []
    window = longest_window(result.customers)
    show.show_table(
        table[
            ["segment", "description", "owner", "members", "share", *money_cols, "entered", "left"]
        ],
        formats=kpi_formats(kpis, currency=currency),
        labels={"description": "What it selects"}
        | ({"revenue": f"Net revenue, last {window} days"} if money_cols else {}),
        caption="Saved segments: members now, entries and exits"
        + (f", net revenue of the {window} days up to the analysis date" if money_cols else ""),
    )
    show.explain(
        "members: customers who meet the rule on the analysis date; share: of all customers; "
        + (
            f"revenue: their net revenue in the {window} days up to the analysis date; "
            if money_cols
            else ""
        )
        + "entered/left: customers who joined or dropped out since the last successful run."
    )
    show.for_analysts(
        "the rules as written",
        show.table_html(
            rules[["name", "rule", "priority", "columns"]],
            caption="Each saved segment's rule, as the rules file states it",
            formats={"priority": "count"},
            labels={"name": "Segment", "columns": "Columns it reads"},
        ),
    )


def overlap(result: RuleSegmentsResult) -> None:
    """How much the segments overlap (a heatmap of shares)."""
    if len(result.ruleset) > 1:
        overlap = result.overlap()
        ax = figures.overlap_heatmap(overlap)
        show.figure(ax.figure, alt=overlap_alt(overlap))
        show.explain(
            "Read across a row: of the customers in the row's segment, the share who are also in "
            "the column's segment. The diagonal is 100%. Large off-diagonal shares mean two "
            "teams may contact the same customers."
        )
        show.for_analysts(
            "the numbers of the heatmap",
            show.table_html(
                overlap_table(overlap),
                caption="Share of each row segment's members also in the column segment",
                labels={str(c): str(c) for c in overlap.columns},
            ),
        )
    else:
        show.explain("With fewer than two segments in this run there is no overlap to show.")


def exclusive(result: RuleSegmentsResult) -> None:
    """Each customer counted once, in the segment with the highest priority."""
    show.show_table(
        result.exclusive_sizes()[["segment", "members"]],
        caption="Each customer counted once, in the segment with the highest priority",
        formats={"members": "count"},
    )
    show.explain(
        "When one customer should get only one treatment, the segment with the highest priority "
        "(lowest number in the rules file) wins."
    )


def sizes(result: RuleSegmentsResult) -> None:
    """Members per segment at each published run and now."""
    sizes = result.sizes
    if sizes.empty:
        show.explain("No segment was evaluated in this run, so there are no sizes to follow.")
        return
    ax = figures.size_lines(sizes)
    show.figure(ax.figure, alt=sizes_alt(sizes))
    show.explain(
        f"One point per run ({sizes['run_id'].nunique()} so far). A segment that grows or "
        "shrinks quickly is worth a look: either customers changed or the rule needs adjusting."
    )
    show.for_analysts(
        "members per segment at each run",
        show.table_html(
            sizes.sort_values(["run_at", "segment"])[["run_id", "run_at", "segment", "members"]],
            caption="Members per segment at each run",
            max_rows=len(sizes),
            formats={"members": "count"},
            labels={"run_id": "Run", "run_at": "Run at"},
        ),
    )


def actions(result: RuleSegmentsResult) -> None:
    """The actions produced, who was left off a list and why, and where the files are."""
    counts, lists = result.counts, result.lists
    if len(counts):
        show.show_table(
            counts, caption="Actions produced in this run", formats={"actions": "count"}
        )
    else:
        show.explain(
            "No customer entered a segment since the last run, so no actions were produced."
        )
    if len(lists.excluded):
        show.show_table(
            lists.excluded,
            caption="Customers left off a list, and why",
            formats={"customers": "count"},
        )
    show.explain(lists.summary())
    show.explain(_files_text(result))

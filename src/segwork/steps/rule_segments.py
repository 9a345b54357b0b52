"""Notebook 05's computation: rule segments, who entered and left, and the actions that follow.

``run(customers, ruleset, ...)`` keeps the rules this run's customer table can evaluate,
evaluates them in DuckDB (:meth:`segwork.rules.RuleSet.member_ids`: one query, ids back),
compares the members with the last published run's, builds the task/email/call lists for the
customers who entered, through the action ledger (:class:`segwork.actions.ActionLedger`), and
computes the KPIs, overlaps and sizes the page shows. No file is read or written:
``outputs()`` hands the datasets to ``RunContext.save``.

Never the same action twice
---------------------------
The ledger (catalog dataset ``action_ledger``, kept beside the runs) is passed in with the ids
of the runs that published (``published``: the earlier runs whose record says "succeeded").
Only their events block an action, so:

* a second run over the same data issues nothing new (nobody entered; and an entry that only
  looks new, e.g. after a lost membership, is blocked by the ledger);
* a run that failed after building its lists burned nothing: it never published, its events
  are ignored (and dropped), and the retry issues each action once;
* a corrected row moves only its customer: they leave a segment they no longer meet (an exit
  in the ledger) or enter one they now meet (one new action).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from segwork import actions, segments
from segwork.rules import RuleSet
from segwork.schema import to_day, to_timestamp

ACTION_FORMATS = ("csv", "xlsx", "parquet", "jsonl", "pdf")
MEMBER_FORMATS = ("csv", "parquet", "xlsx", "pdf")


@dataclass
class RuleSegmentsResult:
    """Everything page 05 shows and everything the run saves."""

    all_rules: RuleSet  # every saved segment in the rules file
    check: segments.RuleCheck  # the runnable ones, and those left out and why
    members: pd.DataFrame  # wide: one boolean column per runnable rule, index customer_id
    customers: pd.DataFrame = field(repr=False)
    moved: pd.DataFrame  # customer_id, segment, change (entered / left)
    lists: actions.ActionLists
    ledger: actions.ActionLedger
    kpis: pd.DataFrame
    sizes: pd.DataFrame  # run_id, run_at, segment, members: earlier published runs and this one
    previous_run: str | None  # the published run compared with (None: first run)
    source: str = ""  # the rules file's name, as the page says it
    action_formats: tuple[str, ...] = ("csv",)
    member_formats: tuple[str, ...] = ("csv", "parquet")
    pseudonymize: bool = False

    @property
    def ruleset(self) -> RuleSet:
        return self.check.runnable

    @property
    def counts(self) -> pd.DataFrame:
        """Actions produced per segment and type (rows with at least one action)."""
        return self.lists.counts().query("actions > 0")

    def overlap(self) -> pd.DataFrame:
        """Share of each row segment's members also in the column segment."""
        return segments.overlap(self.members, share=True)

    def exclusive_sizes(self) -> pd.DataFrame:
        """Members per segment when each customer counts once, in its highest-priority one."""
        return segments.exclusive_sizes(self.ruleset.exclusive(self.members), self.ruleset.names)

    def outputs(self) -> dict[str, Any]:
        """The run's datasets (see :mod:`segwork.catalog`)."""
        from segwork.exports import ActionFiles, MemberFiles

        return {
            "segment_membership": self.members.reset_index(),
            "segment_changes": self.moved,
            "segment_kpis": self.kpis,
            "actions": ActionFiles(self.lists, self.action_formats),
            "segment_members": MemberFiles(
                self.members, self.customers, self.member_formats, self.pseudonymize
            ),
            "action_ledger": self.ledger.events(),
        }


def _formats(values: Sequence[str], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    values = [values] if isinstance(values, str) else list(values)
    bad = [v for v in values if v not in allowed]
    if bad:
        import difflib

        close = difflib.get_close_matches(str(bad[0]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise actions.ActionError(
            f"{what}: {bad[0]!r} is not a format{hint}; choose from {', '.join(allowed)}"
        )
    return tuple(dict.fromkeys(values))


def evaluate(ruleset: RuleSet, customers: pd.DataFrame, today: Any) -> pd.DataFrame:
    """Wide boolean memberships (one column per rule, every customer), evaluated in DuckDB."""
    long = ruleset.member_ids(customers, today=today)
    return actions.membership_wide(long, segments=ruleset.names, index=customers.index)


def run(
    customers: pd.DataFrame,
    ruleset: RuleSet,
    *,
    run_id: str,
    today: Any,
    history: Sequence[tuple[dict[str, Any], pd.DataFrame]] = (),
    ledger: pd.DataFrame | None = None,
    published: Iterable[str] = (),
    first_run: Literal["entered", "baseline"] = "entered",
    default_assignee: str = "unassigned",
    action_formats: Sequence[str] = ("csv",),
    member_formats: Sequence[str] = ("csv", "parquet"),
    pseudonymize: bool = False,
    source: str = "",
    run_at: Any = None,
) -> RuleSegmentsResult:
    """Notebook 05's computation.

    ``customers``: the customer table indexed by customer_id (``ctx.customer_table()``);
    ``ruleset``: the saved segments (:func:`segwork.rules.read_rules`); ``history``: (run
    record, segment_membership) of each earlier published run, oldest first
    (``ctx.artifact_history("segment_membership")``); ``ledger``: the action ledger's events
    (``ctx.load("action_ledger")``, None on the first run); ``published``: ids of the earlier
    runs that published; ``source``: the rules file's name for messages.
    """
    today = to_day(today, "today", error=actions.ActionError)
    action_formats = _formats(action_formats, ACTION_FORMATS, "action_formats")
    member_formats = _formats(member_formats, MEMBER_FORMATS, "member_formats")
    check = segments.check_rules(ruleset, customers, source=source or None)
    runnable = check.runnable
    members = evaluate(runnable, customers, today)
    previous = history[-1][1].set_index("customer_id") if history else None
    moved = actions.changes(members, previous, first_run=first_run)
    book = actions.ActionLedger(ledger, published=published)
    lists = actions.build_actions(
        moved[moved["change"] == "entered"],
        customers,
        {r.name: r.action for r in runnable.rules if r.action is not None},
        run_id=run_id,
        today=today,
        default_assignee=default_assignee,
        ledger=book,
    )
    book.record(lists, left=moved)
    kpis = segments.segment_kpis(members, customers, moved)
    now = to_timestamp(run_at if run_at is not None else pd.Timestamp.now(tz="UTC"), "run_at")
    sizes = segments.size_history(
        [
            (run["run_id"], to_timestamp(run["started"], "started"), m.set_index("customer_id"))
            for run, m in history
        ]
        + [(run_id, now, members)]
    )
    return RuleSegmentsResult(
        all_rules=ruleset,
        check=check,
        members=members,
        customers=customers,
        moved=moved,
        lists=lists,
        ledger=book,
        kpis=kpis,
        sizes=sizes,
        previous_run=str(history[-1][0]["run_id"]) if history else None,
        source=source,
        action_formats=action_formats,
        member_formats=member_formats,
        pseudonymize=pseudonymize,
    )

"""Entries and exits of rule segments, the actions they trigger, and the ledger that keeps an
action from being issued twice. Pure: DataFrames in, DataFrames and small objects out; the files
for people are written by :mod:`segwork.exports` and the run's datasets by the catalog. One run
(:func:`segwork.steps.rule_segments.run`) goes::

    long = ruleset.member_ids(c360, today=analysis_date)             # evaluated in DuckDB
    current = membership_wide(long, index=c360.index)
    moved = changes(current, previous)          # previous: the last published run's membership
    ledger = ActionLedger(events, published=published_run_ids)       # catalog: action_ledger
    lists = build_actions(moved, c360, {r.name: r.action for r in ruleset},
                          run_id=run_id, today=analysis_date, ledger=ledger)
    ledger.record(lists, left=moved)            # the run saves ledger.events() atomically
    print(lists.summary())

Modules: ``membership`` (wide/long tables, :func:`changes`), ``config`` (action settings and
their checks), ``build`` (:func:`build_actions`, :class:`ActionLists`), ``ledger``
(:class:`ActionLedger`), ``pseudonymize`` (member lists for sharing), ``checks``
(:class:`ActionError` and shared checks).

Membership tables come in two shapes: *wide* (boolean, indexed by customer_id, one column per
segment; what :meth:`segwork.rules.RuleSet.memberships` returns) and *long* (columns
customer_id, segment: one row per membership). :func:`membership_long` and
:func:`membership_wide` convert between them. Prefer wide tables for :func:`changes`: their
columns say which segments exist even when a segment is empty; a long table only knows the
segments that have members (or those listed in ``df.attrs["segments"]``, which
:func:`membership_long` sets).

Entries and exits (:func:`changes`)
-----------------------------------
* A customer *entered* a segment if they are a member now and were not in the previous run;
  they *left* if they were a member then and are not now.
* First run (``previous=None``): by default everyone currently in a segment has *entered*
  (``first_run="entered"``), so the first run produces actions for all current members. Pass
  ``first_run="baseline"`` to treat the first run as the starting point: no entries, no
  actions, only later movements count.
* A segment that is new in this run (a rule was added): all its members have entered. A segment
  that existed before but not now (a rule was deleted or renamed): nobody *left* it - its
  members did not move, the rule went away - so no exits are reported for it. A renamed rule
  is a deleted rule plus a new one: its members enter the new name.

Actions (:func:`build_actions`)
-------------------------------
Each entry into a segment whose rule has an action becomes one row of the tasks, emails or calls
list. Templates are :class:`string.Template` text (``$name``, ``${revenue_365d}``, ``$$`` for a
literal dollar sign) filled with the customer's fields and ``rule``, ``run_id``, ``due_date``,
``assignee`` (a customer column of the same name wins). Templates are checked against the
customer columns when the actions are configured (:func:`validate_actions`); an unknown field
is an :class:`ActionError` naming the field and the rule. Substitution only ever inserts the
*text* of a value: nothing in a template is evaluated (``str.format`` is never used, so
``{0.__class__}`` stays literal text and ``${__class__}`` is an unknown field).

* Assignee: the customer's ``owner`` (account manager); if the customer has none, the action's
  ``assignee``; otherwise ``default_assignee``. The list's ``assigned_by`` column says which.
* Due date: the entry date (``today``) plus ``due_in_days``.
* Consent: an email goes only to customers with ``email_opt_in`` true *and* a non-empty
  ``email``; a call only to ``phone_opt_in`` true and a non-empty ``phone``. Missing consent is
  no consent. A task is internal (for the account manager) and needs no consent, unless its
  action names a ``channel`` (``email``, ``sms`` or ``phone``): then the task is about
  contacting the customer that way and the same consent and contact checks apply. Everyone left
  out is counted per segment, action and reason in ``ActionLists.excluded``.
* ``action_id`` is a hash of (segment, customer_id, action type, channel, entry date): the same
  entry on the same day always gets the same id, so re-running a run reproduces the same rows.

Not issuing the same action twice (:class:`ActionLedger`)
---------------------------------------------------------
The ledger records every action issued and every exit, in the order runs were recorded; the run
keeps it beside its runs (catalog dataset ``action_ledger``, ``reports/state/``, written
atomically). An action is left out of a run (reason ``already actioned in an earlier run``)
when an earlier run already issued the same action (segment, customer, type, channel) to this
customer and the ledger has no exit of the customer from the segment since - e.g. when the
previous run's membership was lost and the customer appears to "enter" again.

Only runs that *published* count: the ledger is given the ids of the runs whose record says
"succeeded", and the events of any other run (one that failed after building its lists) are
ignored and dropped at the next record. So a failed run burns no action and its retry issues
each action once. Events of the run being built, and everything recorded after it was first
recorded, are ignored, so re-running the same ``run_id`` rebuilds exactly the same lists (and
:meth:`ActionLedger.record` adds nothing new). Pass every run's exits to
:meth:`ActionLedger.record` (``left=`` the :func:`changes` output): without them the ledger
cannot tell that a customer left, and a re-entry would be held back. A customer who left the
segment and re-enters later gets a new action (a new entry date gives a new ``action_id``;
re-entering on the day of the earlier action gives the same id, which is not issued twice).
When the data is corrected and the run repeated, only what the correction changes moves: a
customer who no longer meets a rule leaves it (an exit in the ledger), one who now meets it
enters (one new action); everyone else keeps the action already issued. Customers left out
for lack of consent were not issued anything; they get no action while they stay in the
segment (only entries trigger actions).

Exports
-------
Action lists and member lists are written by :mod:`segwork.exports` (CSV by default; XLSX,
Parquet and JSON Lines when the run asks for them), atomically and with formula cells
neutralised in CSV and XLSX. ``write_actions``, ``export_members``,
``export_segment_members``, ``neutralise_cell`` and ``neutralise_frame`` are still importable
from here (loaded from :mod:`segwork.exports` on first use, so importing this package loads no
I/O module).
"""

from typing import Any

from segwork.actions.build import ActionLists, action_id, build_actions
from segwork.actions.checks import ActionError
from segwork.actions.config import (
    ACTION_TYPES,
    CHANNELS,
    ActionConfig,
    action_problems,
    validate_actions,
)
from segwork.actions.ledger import ActionLedger
from segwork.actions.membership import changes, membership_long, membership_wide
from segwork.actions.pseudonymize import (
    COARSENED_IDENTIFIERS,
    DIRECT_IDENTIFIERS,
    PSEUDONYM_SALT_ENV,
    pseudonymize_members,
)

__all__ = [
    "ACTION_TYPES",
    "CHANNELS",
    "COARSENED_IDENTIFIERS",
    "DIRECT_IDENTIFIERS",
    "FORMULA_TRIGGERS",
    "PSEUDONYM_SALT_ENV",
    "ActionConfig",
    "ActionError",
    "ActionLedger",
    "ActionLists",
    "action_id",
    "action_problems",
    "build_actions",
    "changes",
    "export_members",
    "export_segment_members",
    "membership_long",
    "membership_wide",
    "neutralise_cell",
    "neutralise_frame",
    "pseudonymize_members",
    "validate_actions",
    "write_actions",
]

#: Names that live in segwork.exports (the I/O layer), importable from here for old callers.
_FROM_EXPORTS = frozenset(
    {
        "FORMULA_TRIGGERS",
        "export_members",
        "export_segment_members",
        "neutralise_cell",
        "neutralise_frame",
        "write_actions",
    }
)


def __getattr__(name: str) -> Any:
    if name in _FROM_EXPORTS:
        import importlib

        return getattr(importlib.import_module("segwork.exports"), name)
    raise AttributeError(f"module 'segwork.actions' has no attribute {name!r}")

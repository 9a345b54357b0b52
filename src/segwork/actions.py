"""Entries and exits of rule segments, the actions they trigger, and exports for people.

This module does I/O (it writes files); the computations are plain functions on DataFrames so a
notebook can call them without touching disk. One run of the pipeline goes::

    current = ruleset.memberships(c360, today=analysis_date)        # wide, bool (segwork.rules)
    store = MembershipStore("reports/segments")
    moved = changes(current, store.previous(run_id))                 # who entered / left
    lists = build_actions(moved, c360, {r.name: r.action for r in ruleset},
                          run_id=run_id, today=analysis_date, ledger=ledger)
    write_actions(lists, run_dir / "actions")                         # CSV + XLSX + JSONL
    ledger.record(lists, left=moved)                                  # remember what was issued
    store.save(run_id, run_at, current)                               # only after success
    print(lists.summary())

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
The ledger (a Parquet file) records every action issued and every exit, in the order runs were
recorded. An action is left out of a run (reason ``already actioned in an earlier run``) when an
earlier run already issued the same action (segment, customer, type, channel) to this customer
and the ledger has no exit of the customer from the segment since - e.g. when the previous
run's membership was lost and the customer appears to "enter" again. Events of the run being
built, and everything recorded after it was first recorded, are ignored, so re-running the same
``run_id`` rebuilds exactly the same lists (and :meth:`ActionLedger.record` adds nothing new).
Pass every run's exits to :meth:`ActionLedger.record` (``left=`` the :func:`changes` output):
without them the ledger cannot tell that a customer left, and a re-entry would be held back. A customer who left the segment and re-enters
later gets a new action (a new entry date gives a new ``action_id``; re-entering on the day of
the earlier action gives the same id, which is not issued twice). Customers left out for
lack of consent were not issued anything; they get no action while they stay in the segment
(only entries trigger actions).

Exports
-------
Files are written atomically (a temporary file in the same folder, then ``os.replace``), so a
reader never sees half a file. In CSV and XLSX files every *string* cell (and header) that
starts with ``= + - @``, tab, carriage return, line feed or NUL is prefixed with a single quote
(:func:`neutralise_cell`; OWASP "CSV Injection" and ASVS 1.2.10): a spreadsheet would otherwise
run it as a formula. Numbers stay numbers (``-5`` is not a formula). JSON Lines and Parquet
files are for programs and keep the values as they are. :func:`export_members` can
pseudonymize a member list for sharing outside the CRM team (see :data:`DIRECT_IDENTIFIERS`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import hmac
import io
import json
import math
import os
import re
import string
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segwork import progress
from segwork.errors import SegworkError
from segwork.exports import FORMULA_TRIGGERS, csv_bytes, neutralise_cell, neutralise_frame
from segwork.files import atomic_write_bytes

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
    "MembershipStore",
    "action_id",
    "action_problems",
    "build_actions",
    "changes",
    "export_members",
    "membership_long",
    "membership_wide",
    "neutralise_cell",
    "neutralise_frame",
    "pseudonymize_members",
    "validate_actions",
    "write_actions",
]

ACTION_TYPES = ("task", "email", "call")

#: channel -> (consent column, contact column, words for the summary)
CHANNELS: dict[str, tuple[str, str, str]] = {
    "email": ("email_opt_in", "email", "email"),
    "sms": ("sms_opt_in", "phone", "SMS"),
    "phone": ("phone_opt_in", "phone", "phone"),
}
_DEFAULT_CHANNEL = {"task": None, "email": "email", "call": "phone"}
_ALLOWED_CHANNELS = {
    "task": (None, "email", "sms", "phone"),
    "email": (None, "email"),
    "call": (None, "phone"),
}
_ACTION_KEYS = ("type", "template", "due_in_days", "assignee", "channel")
#: fields a template may use besides the customer's columns
_CONTEXT_FIELDS = ("rule", "run_id", "due_date", "assignee")

#: Columns dropped from a pseudonymized export: they identify a person directly.
DIRECT_IDENTIFIERS = (
    "customer_id", "name", "first_name", "last_name", "full_name", "company_name",
    "contact_name", "email", "phone", "mobile", "fax", "street", "address", "address_line1",
    "address_line2", "house_number", "birth_number", "national_id", "personal_id", "tax_id",
    "vat_id", "ip_address", "iban", "bank_account", "website",
)  # fmt: skip
#: Columns coarsened in a pseudonymized export: birth_date -> birth_year (the year only),
#: postal_code -> its first 3 characters (spaces removed), e.g. "602 00" -> "602".
COARSENED_IDENTIFIERS = ("birth_date", "postal_code")
#: Environment variable holding the pseudonymization key when the caller passes no ``salt``.
PSEUDONYM_SALT_ENV = "SEGWORK_PSEUDONYM_SALT"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
_XLSX_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")  # not allowed in XML 1.0 text
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_LISTS = ("tasks", "emails", "calls")
_LIST_OF_TYPE = {"task": "tasks", "email": "emails", "call": "calls"}
_LIST_HEAD = ["action_id", "run_id", "segment", "customer_id", "name"]
_LIST_TAIL = ["assignee", "assigned_by", "due_date", "text", "entry_date", "action_type", "channel"]
#: columns of each list (fixed, whatever the configuration, so integrations can rely on them)
_LIST_COLUMNS = {
    "tasks": [*_LIST_HEAD, *_LIST_TAIL],
    "emails": [*_LIST_HEAD, "email", *_LIST_TAIL],
    "calls": [*_LIST_HEAD, "phone", *_LIST_TAIL],
}
_EXCLUDED_COLUMNS = ["segment", "action_type", "channel", "reason", "customers"]
_REASON_OPEN = "already actioned in an earlier run"
_REASON_UNKNOWN = "not in the customer table"


class ActionError(SegworkError, ValueError):
    """A problem with membership tables, action settings or an export: what, where and the fix."""


# ------------------------------------------------------------------------------- file helpers


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, np.datetime64) and np.isnat(value)


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    """A tz-naive Timestamp (tz-aware values are converted to UTC) or a clear error."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"{what}: {value!r} is not a date or timestamp ({exc})") from None
    if ts is pd.NaT:
        raise ActionError(f"{what}: a date is required, got a missing value")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ActionError(
            f"run_id {run_id!r} is not usable as a file name: use letters, digits, '.', '_', '+' "
            "and '-' (starting with a letter or digit), e.g. '2025-06-30T0600'"
        )
    return run_id


# --------------------------------------------------------------------------- membership shapes


def _ids(values: Iterable[Any], what: str) -> list[str]:
    out: list[str] = []
    for v in values:
        if _is_missing(v):
            raise ActionError(f"{what}: a customer_id is missing; every row needs a customer_id")
        out.append(str(v))
    return out


def _bool_column(col: pd.Series, name: str) -> np.ndarray:
    """Membership flags of one wide column as numpy bool (missing = not a member)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.fillna(False).to_numpy(dtype=bool)
    values = col.dropna()
    if all(isinstance(v, bool | np.bool_) for v in values):
        return col.fillna(False).astype(bool).to_numpy()
    raise ActionError(
        f"memberships: column '{name}' holds {col.dtype} values, not true/false; a wide "
        "membership table has one boolean column per segment (segwork.rules.RuleSet.memberships)"
    )


def _is_long(table: pd.DataFrame) -> bool:
    return {"customer_id", "segment"} <= set(
        map(str, table.columns)
    ) and not pd.api.types.is_bool_dtype(table["segment"].dtype)


def _wide_ids(table: pd.DataFrame, customer_ids: Any, what: str) -> tuple[list[str], pd.DataFrame]:
    """Customer ids of a wide table's rows and the table without an id column."""
    if customer_ids is not None:
        ids = customer_ids
        if isinstance(ids, pd.Series) and not ids.index.equals(table.index):
            ids = ids.reindex(table.index)
        if len(ids) != len(table):
            raise ActionError(f"{what}: customer_ids has {len(ids)} values for {len(table)} rows")
        return _ids(ids, what), table
    if "customer_id" in table.columns:
        return _ids(table["customer_id"], what), table.drop(columns="customer_id")
    index = table.index
    if index.name != "customer_id" and isinstance(index, pd.RangeIndex):
        raise ActionError(
            f"{what}: rows are numbered 0..n-1, not customer ids; index the table by customer_id "
            "(the customer 360 is) or pass customer_ids=customers['customer_id']"
        )
    return _ids(index, what), table


def membership_long(
    memberships: pd.DataFrame, *, customer_ids: Sequence[Any] | pd.Series | None = None
) -> pd.DataFrame:
    """Wide boolean memberships -> long table (customer_id, segment), one row per membership.

    Rows come in segment (column) order, then customer order. ``attrs["segments"]`` lists every
    segment, including empty ones. A long table passes through (cleaned and de-duplicated).
    """
    if not isinstance(memberships, pd.DataFrame):
        raise ActionError(f"memberships: expected a DataFrame, got {type(memberships).__name__}")
    if _is_long(memberships):
        seg = memberships["segment"]
        if seg.isna().any():
            raise ActionError("memberships: a row has no segment name")
        ids = _ids(memberships["customer_id"], "memberships")
        out = pd.DataFrame(
            {"customer_id": ids, "segment": seg.astype(str).tolist()}, dtype="str"
        ).drop_duplicates(ignore_index=True)
        listed = [str(x) for x in memberships.attrs.get("segments") or []]
        out.attrs["segments"] = list(dict.fromkeys([*listed, *out["segment"]]))
        return out
    ids, table = _wide_ids(memberships, customer_ids, "memberships")
    id_arr = np.asarray(ids, dtype=object)
    if len(set(ids)) != len(ids):
        dupes = sorted(pd.Series(ids)[pd.Series(ids).duplicated()].unique())[:5]
        raise ActionError(f"memberships: customer_id is not unique (e.g. {dupes})")
    parts_c: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    segments = [str(c) for c in table.columns]
    if len(set(segments)) != len(segments):
        raise ActionError(f"memberships: a segment name appears twice in {segments}")
    for name, column in zip(segments, table.columns, strict=True):
        flags = _bool_column(table[column], name)
        parts_c.append(id_arr[flags])
        parts_s.append(np.full(int(flags.sum()), name, dtype=object))
    out = pd.DataFrame(
        {
            "customer_id": np.concatenate(parts_c) if parts_c else np.array([], dtype=object),
            "segment": np.concatenate(parts_s) if parts_s else np.array([], dtype=object),
        },
        dtype="str",
    )
    out.attrs["segments"] = segments
    return out


def membership_wide(
    long: pd.DataFrame, *, segments: Sequence[str] | None = None, index: Iterable[Any] | None = None
) -> pd.DataFrame:
    """Long memberships (customer_id, segment) -> wide boolean table indexed by customer_id.

    ``segments`` fixes the columns (default: ``attrs["segments"]`` or order of appearance);
    ``index`` fixes the rows (default: every customer with a membership, in order of appearance).
    """
    long = membership_long(long)
    if segments is None:
        segments = long.attrs.get("segments") or list(dict.fromkeys(long["segment"]))
    segments = [str(s) for s in segments]
    unknown = sorted(set(long["segment"]) - set(segments))
    if unknown:
        raise ActionError(f"memberships: segments {unknown} are not among segments={segments}")
    rows = (
        pd.Index(_ids(index, "index"), dtype="str")
        if index is not None
        else pd.Index(list(dict.fromkeys(long["customer_id"])), dtype="str")
    )
    rows.name = "customer_id"
    out = pd.DataFrame(False, index=rows, columns=pd.Index(segments, dtype="str"))
    pos_r = rows.get_indexer(long["customer_id"])
    if (pos_r < 0).any():
        missing = long.loc[pos_r < 0, "customer_id"].head(5).tolist()
        raise ActionError(f"memberships: customers {missing} are not in the given index")
    pos_c = out.columns.get_indexer(long["segment"])
    values = np.zeros(out.shape, dtype=bool)
    values[pos_r, pos_c] = True
    return pd.DataFrame(values, index=rows, columns=out.columns)


def _segments_of(long: pd.DataFrame) -> list[str]:
    return list(long.attrs.get("segments") or dict.fromkeys(long["segment"]))


def changes(
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    first_run: Literal["entered", "baseline"] = "entered",
) -> pd.DataFrame:
    """Who entered and who left each segment between two runs: customer_id, segment, change.

    ``current``/``previous`` are membership tables (wide or long). ``previous=None`` is the
    first run: everyone in a segment "entered" (``first_run="entered"``) or nobody did
    (``first_run="baseline"``). Segments new in ``current``: all members entered; segments
    gone from ``current`` (deleted rules): no exits. Sorted by segment, change, customer_id.
    """
    if first_run not in ("entered", "baseline"):
        raise ActionError(f"first_run must be 'entered' or 'baseline', not {first_run!r}")
    cur = membership_long(current)
    cur_segments = _segments_of(cur)
    if previous is None:
        if first_run == "baseline":
            cur = cur.iloc[0:0]
        moved = cur.assign(change="entered")
    else:
        prev = membership_long(previous)
        key_cur = pd.MultiIndex.from_frame(cur[["segment", "customer_id"]])
        key_prev = pd.MultiIndex.from_frame(prev[["segment", "customer_id"]])
        entered = cur[~key_cur.isin(key_prev)].assign(change="entered")
        still_defined = prev["segment"].isin(cur_segments)
        left = prev[still_defined & ~key_prev.isin(key_cur)].assign(change="left")
        moved = pd.concat([entered, left], ignore_index=True)
    order = {s: i for i, s in enumerate(cur_segments)}
    moved = moved.assign(
        _seg=moved["segment"].map(order).astype("int64"),
        _chg=(moved["change"] == "left").astype("int64"),
    ).sort_values(["_seg", "_chg", "customer_id"], kind="stable")
    out = moved[["customer_id", "segment", "change"]].reset_index(drop=True).astype("str")
    out.attrs["segments"] = cur_segments
    return out


# ----------------------------------------------------------------------------- run history


class MembershipStore:
    """Each successful run's membership as ``<folder>/<run_id>.parquet`` (long format).

    A file holds columns run_id, run_at, segment, customer_id, and in its Parquet metadata the
    run's timestamp and the full list of segments (so empty segments are remembered). Call
    :meth:`save` only after a run succeeded: :meth:`previous` trusts every file it finds.
    """

    _META_KEY = b"segwork.membership"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, run_id: str) -> Path:
        return self.folder / f"{_check_run_id(run_id)}.parquet"

    def save(
        self,
        run_id: str,
        run_at: Any,
        memberships: pd.DataFrame,
        *,
        customer_ids: Sequence[Any] | pd.Series | None = None,
    ) -> Path:
        """Store a run's membership (wide or long) atomically; saving a run_id again replaces it."""
        path = self.path(run_id)
        ts = _timestamp(run_at, f"run {run_id}: run_at")
        long = membership_long(memberships, customer_ids=customer_ids)
        segments = _segments_of(long)
        n = len(long)
        table = pa.table(
            {
                "run_id": pa.array([run_id] * n, pa.string()),
                "run_at": pa.array([ts.to_pydatetime()] * n, pa.timestamp("us")),
                "segment": pa.array(long["segment"].tolist(), pa.string()),
                "customer_id": pa.array(long["customer_id"].tolist(), pa.string()),
            }
        )
        meta = {"run_id": run_id, "run_at": ts.isoformat(), "segments": segments}
        table = table.replace_schema_metadata({self._META_KEY: json.dumps(meta).encode()})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return atomic_write_bytes(path, buf.getvalue())

    def _meta(self, path: Path) -> dict[str, Any]:
        try:
            raw = (pq.read_schema(path).metadata or {}).get(self._META_KEY)
        except (OSError, pa.ArrowException) as exc:
            raise ActionError(f"membership store: cannot read {path} ({exc})") from None
        if raw is None:
            raise ActionError(f"membership store: {path} was not written by MembershipStore.save")
        return json.loads(raw)

    def runs(self) -> pd.DataFrame:
        """Stored runs (run_id, run_at), oldest first."""
        rows = []
        if self.folder.is_dir():
            for path in self.folder.glob("*.parquet"):
                if path.name.startswith("."):
                    continue  # a temporary file of a write in progress
                meta = self._meta(path)
                rows.append((meta["run_id"], pd.Timestamp(meta["run_at"])))
        out = pd.DataFrame(rows, columns=["run_id", "run_at"])
        out["run_id"] = out["run_id"].astype("str")
        out["run_at"] = pd.to_datetime(out["run_at"])
        return out.sort_values(["run_at", "run_id"], ignore_index=True)

    def load(self, run_id: str) -> pd.DataFrame:
        """A stored run's membership as a wide boolean table (index customer_id)."""
        path = self.path(run_id)
        if not path.exists():
            known = self.runs()["run_id"].tolist()
            raise ActionError(
                f"membership store: no run {run_id!r} in {self.folder}; runs: {known}"
            )
        meta = self._meta(path)
        long = pd.read_parquet(path, columns=["customer_id", "segment"])
        long.attrs["segments"] = meta["segments"]
        return membership_wide(long, segments=meta["segments"])

    def previous_run_id(self, run_id: str, *, run_at: Any = None) -> str | None:
        """The latest stored run before ``run_id`` (by run_at), or None.

        If ``run_id`` is stored, "before" means before its run_at; otherwise before ``run_at``
        if given, else the latest stored run.
        """
        runs = self.runs()
        others = runs[runs["run_id"] != run_id]
        mine = runs[runs["run_id"] == run_id]
        if len(mine):
            cutoff = mine["run_at"].iloc[0]
        elif run_at is not None:
            cutoff = _timestamp(run_at, "run_at")
        else:
            cutoff = None
        if cutoff is not None:
            others = others[others["run_at"] < cutoff]
        return None if others.empty else str(others["run_id"].iloc[-1])

    def previous(self, run_id: str, *, run_at: Any = None) -> pd.DataFrame | None:
        """Membership of the latest successful run before ``run_id`` (None on the first run)."""
        prev = self.previous_run_id(run_id, run_at=run_at)
        return None if prev is None else self.load(prev)

    def history(self) -> pd.DataFrame:
        """Segment sizes over time: run_id, run_at, segment, members (0 for empty segments)."""
        frames = []
        for run_id, run_at in self.runs().itertuples(index=False):
            path = self.path(run_id)
            segments = self._meta(path)["segments"]
            counts = pd.read_parquet(path, columns=["segment"])["segment"].value_counts()
            frames.append(
                pd.DataFrame(
                    {
                        "run_id": run_id,
                        "run_at": run_at,
                        "segment": segments,
                        "members": [int(counts.get(s, 0)) for s in segments],
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                {
                    "run_id": pd.Series(dtype="str"),
                    "run_at": pd.Series(dtype="datetime64[us]"),
                    "segment": pd.Series(dtype="str"),
                    "members": pd.Series(dtype="int64"),
                }
            )
        out = pd.concat(frames, ignore_index=True)
        return out.astype({"run_id": "str", "segment": "str", "members": "int64"})


# --------------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class ActionConfig:
    """One validated action of one rule."""

    segment: str
    type: str
    template: str
    due_in_days: int
    assignee: str | None = None
    channel: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def effective_channel(self) -> str | None:
        """The contact channel whose consent this action needs (None: no consent check)."""
        return self.channel or _DEFAULT_CHANNEL[self.type]


def _action_dict(action: Any) -> dict[str, Any]:
    if isinstance(action, Mapping):
        return dict(action)
    if hasattr(action, "model_dump"):  # pydantic (segwork.rules.ActionSpec)
        return dict(action.model_dump())
    if dataclasses.is_dataclass(action) and not isinstance(action, type):
        return dataclasses.asdict(action)
    raise ActionError(f"an action must be a mapping, got {type(action).__name__}")


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _check_template(segment: str, template: Any, columns: Sequence[str]) -> tuple[str, ...]:
    where = f"rule '{segment}': action template"
    if not isinstance(template, str) or not template.strip():
        raise ActionError(f"{where} must be non-empty text, got {template!r}")
    tpl = string.Template(template)
    if not tpl.is_valid():
        m = next(m for m in tpl.pattern.finditer(template) if m.group("invalid") is not None)
        pos = m.start("invalid")
        raise ActionError(
            f"{where} has a '$' that starts no field name at position {pos} "
            f"(...{template[max(0, pos - 10) : pos + 10]!r}...): write $name or ${{name}} for a "
            "customer field and $$ for a literal dollar sign"
        )
    known = set(map(str, columns)) | set(_CONTEXT_FIELDS) | {"customer_id"}
    fields = tuple(dict.fromkeys(tpl.get_identifiers()))
    for f in fields:
        if f not in known:
            raise ActionError(
                f"{where} uses unknown field '{f}'{_suggest(f, known)}; a template can use the "
                f"customer table's columns and {', '.join(_CONTEXT_FIELDS)}"
            )
    return fields


def validate_actions(
    actions: Mapping[str, Any], columns: Iterable[str]
) -> dict[str, tuple[ActionConfig, ...]]:
    """Check every rule's action settings against the customer columns, before any run.

    ``actions`` maps a rule name to an action (mapping, pydantic model or dataclass with type,
    template, due_in_days, assignee?, channel?), a list of them, or None (no action). Raises
    :class:`ActionError` naming the rule and the problem (unknown template field, bad type ...).
    """
    columns = [str(c) for c in columns]
    out: dict[str, tuple[ActionConfig, ...]] = {}
    for segment, spec in actions.items():
        segment = str(segment)
        specs = [] if spec is None else list(spec) if isinstance(spec, list | tuple) else [spec]
        configs: list[ActionConfig] = []
        for raw in specs:
            d = {k: v for k, v in _action_dict(raw).items() if v is not None}
            where = f"rule '{segment}': action"
            unknown = sorted(set(d) - set(_ACTION_KEYS))
            if unknown:
                raise ActionError(
                    f"{where} has unknown settings {unknown}{_suggest(unknown[0], _ACTION_KEYS)}; "
                    f"allowed: {', '.join(_ACTION_KEYS)}"
                )
            kind = d.get("type")
            if kind not in ACTION_TYPES:
                raise ActionError(
                    f"{where} type must be one of {', '.join(ACTION_TYPES)}, got {kind!r}"
                )
            days = d.get("due_in_days", 0)
            if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 0:
                raise ActionError(f"{where} due_in_days must be a whole number >= 0, got {days!r}")
            channel = d.get("channel")
            if channel not in _ALLOWED_CHANNELS[kind]:
                allowed = [c for c in _ALLOWED_CHANNELS[kind] if c]
                raise ActionError(
                    f"{where} of type {kind} cannot use channel {channel!r}; allowed: {allowed}"
                )
            assignee = d.get("assignee")
            if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()):
                raise ActionError(f"{where} assignee must be a name, got {assignee!r}")
            fields = _check_template(segment, d.get("template"), columns)
            cfg = ActionConfig(segment, kind, d["template"], int(days), assignee, channel, fields)
            eff = cfg.effective_channel
            if eff is not None and CHANNELS[eff][1] not in columns:
                raise ActionError(
                    f"{where} {kind} needs a '{CHANNELS[eff][1]}' column in the customer table "
                    "to contact the customer; map one in the config or change the action"
                )
            if any((c.type, c.effective_channel) == (kind, eff) for c in configs):
                raise ActionError(f"{where}: two {kind} actions on channel {eff}; keep one")
            configs.append(cfg)
        out[segment] = tuple(configs)
    return out


def action_problems(
    ruleset: Iterable[Any], columns: Sequence[str], *, source: str | None = None
) -> list[str]:
    """What the actions of a rule set need that the customer table lacks, before any run.

    ``ruleset`` is a :class:`segwork.rules.RuleSet` (or any rules with ``name`` and ``action``),
    ``columns`` the customer table's columns as the run will have them, ``source`` the rules
    file's name for the messages. One line per problem, naming the file, the rule and the
    column: an email action without an ``email`` column (or without ``email_opt_in``: missing
    consent is no consent, so the list would always be empty), a call or SMS without ``phone``
    or its consent column, a template field that is not a column, a task with no assignee and
    no ``owner`` column. Settings that are wrong whatever the data (a call on the email
    channel) are listed too. An empty list means the actions can run on this table.
    """
    from segwork.rules import describe_columns

    columns = [str(c) for c in columns]
    have = set(columns)
    prefix = f"rules file '{source}', " if source else ""
    present = describe_columns(sorted(columns))
    out: list[str] = []
    for rule in ruleset:
        action = getattr(rule, "action", None)
        if action is None:
            continue
        where = f"{prefix}rule '{rule.name}'"
        d = {k: v for k, v in _action_dict(action).items() if v is not None}
        kind = d.get("type")
        fields: tuple[str, ...] = ()
        template = d.get("template")
        if isinstance(template, str) and string.Template(template).is_valid():
            known = have | set(_CONTEXT_FIELDS) | {"customer_id"}
            fields = tuple(dict.fromkeys(string.Template(template).get_identifiers()))
            for f in fields:
                if f not in known:
                    out.append(
                        f"{where}: the {kind} action's template uses ${f}, which is not a column "
                        f"of the customer table{_suggest(f, known)}; a template can use the "
                        f"columns ({present}) and {', '.join(_CONTEXT_FIELDS)}"
                    )
        channel = d.get("channel") or (_DEFAULT_CHANNEL.get(kind) if kind in ACTION_TYPES else None)
        if kind in ACTION_TYPES and channel in CHANNELS:
            consent_col, contact_col, words = CHANNELS[channel]
            if contact_col not in have:
                out.append(
                    f"{where}: the {kind} action needs the column '{contact_col}' (the customer's "
                    f"{_contact_words(channel)}), which the customer table does not have"
                    f"{_suggest(contact_col, columns)}; map one under sources.customers.columns, "
                    f"or change the action (columns: {present})"
                )
            if consent_col not in have:
                out.append(
                    f"{where}: the {kind} action needs the consent column '{consent_col}', which "
                    f"the customer table does not have{_suggest(consent_col, columns)}; missing "
                    f"consent counts as no {words} consent, so nobody would be contacted. Map "
                    "the consent column under sources.customers.columns, or change the action"
                )
        if kind == "task" and not d.get("assignee") and "owner" not in have:
            out.append(
                f"{where}: the task action has no assignee and the customer table has no "
                "'owner' column (account manager), so every task would go to the default "
                "assignee (notebooks.05_rule_segments.default_assignee); set action.assignee "
                "in the rules file or map an owner column under sources.customers.columns"
            )
        try:  # what is wrong whatever the columns are (type, channel, due days ...)
            validate_actions({rule.name: action}, [*columns, *fields, "email", "phone"])
        except ActionError as exc:
            out.append(f"{prefix}{exc}")
    return out


def _text(value: Any) -> str:
    """The text of one field value for a template (missing -> empty)."""
    if _is_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, float | np.floating):
        if float(value).is_integer():
            return str(int(value))
        return f"{float(value):.2f}"
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


# ------------------------------------------------------------------------------------ actions


def action_id(
    segment: str, customer_id: str, action_type: str, channel: str | None, entry_date: Any
) -> str:
    """Deterministic id of one action: the same entry on the same day gets the same id."""
    day = _timestamp(entry_date, "entry_date").date().isoformat()
    return _action_id(str(segment), str(customer_id), action_type, channel, day)


def _action_id(
    segment: str, customer_id: str, action_type: str, channel: str | None, day: str
) -> str:
    key = "\x1f".join([segment, customer_id, action_type, channel or "", day])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass
class ActionLists:
    """The action lists of one run (tasks, emails, calls) and who was left out and why."""

    run_id: str
    today: pd.Timestamp
    tasks: pd.DataFrame
    emails: pd.DataFrame
    calls: pd.DataFrame
    excluded: pd.DataFrame
    entered: dict[str, int] = field(default_factory=dict)
    configured: dict[str, tuple[ActionConfig, ...]] = field(default_factory=dict)

    def lists(self) -> dict[str, pd.DataFrame]:
        return {"tasks": self.tasks, "emails": self.emails, "calls": self.calls}

    def counts(self) -> pd.DataFrame:
        """Actions per segment and type: segment, action_type, actions."""
        rows = [
            (seg, kind, int((df["segment"] == seg).sum()))
            for kind, df in zip(ACTION_TYPES, (self.tasks, self.emails, self.calls), strict=True)
            for seg in self.entered
        ]
        return pd.DataFrame(rows, columns=["segment", "action_type", "actions"]).astype(
            {"segment": "str", "action_type": "str"}
        )

    def summary(self) -> str:
        """What the run produced, in words a sales manager reads."""
        n_actions = sum(len(df) for df in self.lists().values())
        n_entered = sum(self.entered.values())
        lines = [
            f"Run {self.run_id} ({self.today.date().isoformat()}): {n_entered} "
            f"{'entry' if n_entered == 1 else 'entries'} into segments; "
            f"{_n(n_actions, 'action')} to do "
            f"({_n(len(self.tasks), 'task')}, {_n(len(self.emails), 'email')}, "
            f"{_n(len(self.calls), 'call')})."
        ]
        for seg, n in self.entered.items():
            configs = self.configured.get(seg, ())
            if n == 0:
                lines.append(f"- No customers entered '{seg}'.")
                continue
            head = f"- {_n(n, 'customer')} entered '{seg}'"
            if not configs:
                lines.append(f"{head}: no action is configured for this segment.")
                continue
            parts = [self._describe(seg, cfg) for cfg in configs]
            lines.append(f"{head}: " + "; ".join(p for p, _ in parts) + ".")
            lines.extend(f"  {note}" for _, notes in parts for note in notes)
        return "\n".join(lines)

    def _describe(self, seg: str, cfg: ActionConfig) -> tuple[str, list[str]]:
        df = self.lists()[_LIST_OF_TYPE[cfg.type]]
        rows = df[
            (df["segment"] == seg) & (df["channel"].fillna("") == (cfg.effective_channel or ""))
        ]
        by_owner = int((rows["assigned_by"] == "owner").sum())
        text = _n(len(rows), cfg.type)
        if cfg.type in ("task", "call") and len(rows):
            others = rows.loc[rows["assigned_by"] != "owner", "assignee"].value_counts()
            who = [f"{by_owner} for account managers"] if by_owner else []
            who += [f"{k} for '{name}'" for name, k in others.items()]
            text += f" ({', '.join(who)})"
        ex = self.excluded
        ex = ex[
            (ex["segment"] == seg)
            & (ex["action_type"] == cfg.type)
            & (ex["channel"].fillna("") == (cfg.effective_channel or ""))
        ]
        notes = [_reason_words(int(r.customers), cfg, str(r.reason)) for r in ex.itertuples()]
        return text, notes


def _n(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _reason_words(k: int, cfg: ActionConfig, reason: str) -> str:
    ch = cfg.effective_channel
    verb = {"email": "be emailed", "call": "be called"}.get(cfg.type, "get the task")
    if cfg.type == "task" and ch is not None:
        verb = "get the task (it needs contact by " + CHANNELS[ch][2] + ")"
    who = f"{k} of them"
    if reason == _REASON_OPEN:
        return (
            f"{who} did not get another {cfg.type}: an earlier run already issued one for "
            "this stay in the segment."
        )
    if reason == _REASON_UNKNOWN:
        return f"{who} could not {verb}: they are missing from the customer table."
    if ch is not None and reason == f"no {CHANNELS[ch][2]} consent":
        they = "they" if k != 1 else "the customer"
        return f"{who} could not {verb} because {they} did not give {CHANNELS[ch][2]} consent."
    if ch is not None and reason == f"no {_contact_words(ch)}":
        return f"{who} could not {verb} because there is no {_contact_words(ch)} on file."
    return f"{who} could not {verb}: {reason}."


def _contact_words(channel: str) -> str:
    return "email address" if CHANNELS[channel][1] == "email" else "phone number"


def _consent(values: pd.Series) -> np.ndarray:
    """Consent flags: true only for an explicit yes (missing or unreadable = no consent)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return (values.fillna(0) == 1).to_numpy(dtype=bool)
    words = {"true", "t", "yes", "y", "1", "ano"}
    return np.array(
        [
            (
                v is True
                or v is np.True_
                or (isinstance(v, str) and v.strip().lower() in words)
                or (isinstance(v, int | float | np.number) and not isinstance(v, bool) and v == 1)
            )
            for v in values
        ],
        dtype=bool,
    )


def _has_contact(values: pd.Series) -> np.ndarray:
    return np.array([not _is_missing(v) and bool(str(v).strip()) for v in values], dtype=bool)


def _entered_long(entered: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(entered, pd.DataFrame) or not {"customer_id", "segment"} <= set(
        entered.columns
    ):
        raise ActionError(
            "entered: expected a DataFrame with columns customer_id and segment (the output of "
            "changes(), or its rows with change == 'entered')"
        )
    if "change" in entered.columns:
        entered = entered[entered["change"] == "entered"]
    out = pd.DataFrame(
        {
            "customer_id": _ids(entered["customer_id"], "entered"),
            "segment": entered["segment"].astype(str).tolist(),
        },
        dtype="str",
    )
    return out.drop_duplicates(ignore_index=True)


def _customer_table(customers: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(customers, pd.DataFrame):
        raise ActionError(f"customers: expected a DataFrame, got {type(customers).__name__}")
    if "customer_id" in customers.columns:
        table = customers.set_index("customer_id")
    elif customers.index.name == "customer_id" or not isinstance(customers.index, pd.RangeIndex):
        table = customers
    else:
        raise ActionError("customers: no customer_id column or index; the customer table needs one")
    table = table.copy(deep=False)
    table.index = pd.Index(_ids(table.index, "customers"), dtype="str", name="customer_id")
    if table.index.has_duplicates:
        dupes = table.index[table.index.duplicated()].unique()[:5].tolist()
        raise ActionError(
            f"customers: customer_id is not unique (e.g. {dupes}); one row per customer"
        )
    return table


def build_actions(
    entered: pd.DataFrame,
    customers: pd.DataFrame,
    actions: Mapping[str, Any],
    *,
    run_id: str,
    today: Any,
    default_assignee: str = "unassigned",
    ledger: ActionLedger | None = None,
) -> ActionLists:
    """Turn entries into segments into task, email and call lists (see the module docstring).

    ``entered``: customer_id, segment (or the output of :func:`changes`); ``customers``: the
    customer table (customer_id as column or index); ``actions``: {rule name: action or list of
    actions or None}. With a ``ledger``, actions still open from earlier runs are left out.
    """
    _check_run_id(run_id)
    today = _timestamp(today, "today").normalize()
    table = _customer_table(customers)
    configured = validate_actions(actions, table.columns)
    ent = _entered_long(entered)
    seg_order = list(dict.fromkeys([*configured, *ent["segment"]]))
    entered_counts = {s: int((ent["segment"] == s).sum()) for s in seg_order}
    open_keys, issued_elsewhere = ledger.blocking(run_id) if ledger is not None else (set(), set())

    rows: dict[str, list[pd.DataFrame]] = {k: [] for k in _LISTS}
    excluded: list[tuple[str, str, str | None, str, int]] = []
    for seg, configs in configured.items():
        ids = ent.loc[ent["segment"] == seg, "customer_id"]
        if ids.empty or not configs:
            continue
        # get_indexer on the unique customer index: pandas' string isin is ~20x slower here
        known = table.index.get_indexer(ids.to_numpy()) >= 0
        sub = table.reindex(ids[known])
        for cfg in configs:
            ch = cfg.effective_channel
            ex_key = (seg, cfg.type, ch)
            if (~known).sum():
                excluded.append((*ex_key, _REASON_UNKNOWN, int((~known).sum())))
            cids = sub.index.to_numpy(dtype=object)
            day = today.date().isoformat()
            aids = np.array([_action_id(seg, c, cfg.type, ch, day) for c in cids], dtype=object)
            keep = np.array(
                [
                    (seg, c, cfg.type, ch or "") not in open_keys and a not in issued_elsewhere
                    for c, a in zip(cids, aids, strict=True)
                ],
                dtype=bool,
            )
            if (~keep).sum():
                excluded.append((*ex_key, _REASON_OPEN, int((~keep).sum())))
            if ch is not None:
                consent_col, contact_col, words = CHANNELS[ch]
                consent = (
                    _consent(sub[consent_col])
                    if consent_col in sub.columns
                    else np.zeros(len(sub), dtype=bool)
                )
                no_consent = keep & ~consent
                if no_consent.sum():
                    excluded.append((*ex_key, f"no {words} consent", int(no_consent.sum())))
                keep &= consent
                no_contact = keep & ~_has_contact(sub[contact_col])
                if no_contact.sum():
                    excluded.append((*ex_key, f"no {_contact_words(ch)}", int(no_contact.sum())))
                keep &= ~no_contact
            rows[_LIST_OF_TYPE[cfg.type]].append(
                _action_rows(cfg, sub[keep], aids[keep], run_id, today, default_assignee)
            )

    lists = {name: _list_frame(name, parts) for name, parts in rows.items()}
    ex = pd.DataFrame(excluded, columns=_EXCLUDED_COLUMNS).astype(
        {
            "segment": "str",
            "action_type": "str",
            "channel": "str",
            "reason": "str",
            "customers": "int64",
        }
    )
    return ActionLists(
        run_id,
        today,
        lists["tasks"],
        lists["emails"],
        lists["calls"],
        ex,
        entered_counts,
        configured,
    )


def _action_rows(
    cfg: ActionConfig,
    sub: pd.DataFrame,
    aids: np.ndarray,
    run_id: str,
    today: pd.Timestamp,
    default_assignee: str,
) -> pd.DataFrame:
    n = len(sub)
    due = today + pd.Timedelta(days=cfg.due_in_days)
    owners = sub["owner"] if "owner" in sub.columns else pd.Series([None] * n, index=sub.index)
    assignee, assigned_by = [], []
    for o in owners:
        if not _is_missing(o) and str(o).strip():
            assignee.append(str(o))
            assigned_by.append("owner")
        elif cfg.assignee:
            assignee.append(cfg.assignee)
            assigned_by.append("action")
        else:
            assignee.append(default_assignee)
            assigned_by.append("default")
    tpl = string.Template(cfg.template)
    records = sub[[f for f in cfg.fields if f in sub.columns]].to_dict("records")
    texts = []
    for rec, who, cid in zip(records, assignee, sub.index, strict=True):
        mapping = {"rule": cfg.segment, "run_id": run_id, "due_date": _text(due), "assignee": who}
        mapping["customer_id"] = cid
        mapping.update({k: _text(v) for k, v in rec.items()})
        texts.append(tpl.substitute(mapping))  # every field is checked: never a KeyError
    data = {
        "action_id": list(aids),
        "run_id": [run_id] * n,
        "segment": [cfg.segment] * n,
        "customer_id": sub.index.tolist(),
        "name": sub["name"].tolist() if "name" in sub.columns else [None] * n,
        "email": sub["email"].tolist() if "email" in sub.columns else [None] * n,
        "phone": sub["phone"].tolist() if "phone" in sub.columns else [None] * n,
        "assignee": assignee,
        "assigned_by": assigned_by,
        "due_date": [due] * n,
        "text": texts,
        "entry_date": [today] * n,
        "action_type": [cfg.type] * n,
        "channel": [cfg.effective_channel] * n,
    }
    return pd.DataFrame(data)


def _list_frame(name: str, parts: list[pd.DataFrame]) -> pd.DataFrame:
    cols = _LIST_COLUMNS[name]
    parts = [p for p in parts if len(p)]
    if parts:
        df = pd.concat(parts, ignore_index=True)[cols]
    else:
        df = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    for c in cols:
        if c in ("due_date", "entry_date"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
        else:
            df[c] = df[c].map(lambda v: None if _is_missing(v) else str(v)).astype("str")
    return df.sort_values(["segment", "customer_id", "action_id"], ignore_index=True)


# ------------------------------------------------------------------------------------ ledger


class ActionLedger:
    """Actions issued and exits seen, across runs (a Parquet file, rewritten atomically).

    Columns: seq (recording order), event ("issued" or "left"), action_id, run_id, date,
    segment, customer_id, action_type, channel.
    """

    _COLUMNS = [
        "seq",
        "event",
        "action_id",
        "run_id",
        "date",
        "segment",
        "customer_id",
        "action_type",
        "channel",
    ]

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def events(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame(
                {
                    "seq": pd.Series(dtype="int64"),
                    "event": pd.Series(dtype="str"),
                    "action_id": pd.Series(dtype="str"),
                    "run_id": pd.Series(dtype="str"),
                    "date": pd.Series(dtype="datetime64[us]"),
                    "segment": pd.Series(dtype="str"),
                    "customer_id": pd.Series(dtype="str"),
                    "action_type": pd.Series(dtype="str"),
                    "channel": pd.Series(dtype="str"),
                }
            )
        try:
            return pd.read_parquet(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise ActionError(f"action ledger: cannot read {self.path} ({exc})") from None

    def issued_ids(self) -> set[str]:
        ev = self.events()
        return set(ev.loc[ev["event"] == "issued", "action_id"])

    def blocking(self, run_id: str) -> tuple[set[tuple[str, str, str, str]], set[str]]:
        """What blocks actions of ``run_id``: open (segment, customer, type, channel) keys and
        action ids issued by other runs recorded before ``run_id`` first was."""
        ev = self.events()
        own = ev["run_id"] == run_id
        if own.any():
            ev = ev[ev["seq"] < ev.loc[own, "seq"].min()]
        ev = ev[ev["run_id"] != run_id]
        issued = ev[ev["event"] == "issued"]
        left = ev[ev["event"] == "left"]
        last_left = left.groupby(["segment", "customer_id"])["seq"].max().to_dict()
        last_issued = (
            issued.assign(channel=issued["channel"].fillna(""))
            .groupby(["segment", "customer_id", "action_type", "channel"])["seq"]
            .max()
        )
        open_keys = {
            key for key, seq in last_issued.items() if seq > last_left.get((key[0], key[1]), -1)
        }
        return open_keys, set(issued["action_id"])

    def record(self, lists: ActionLists, *, left: pd.DataFrame | None) -> int:
        """Add the run's issued actions and exits (``left``: the :func:`changes` output or a
        long table of exits; None if unknown). Events already recorded are not added again.
        Returns the number of new events."""
        ev = self.events()
        seq0 = int(ev["seq"].max()) + 1 if len(ev) else 0
        have_issued = set(zip(ev["action_id"], ev["run_id"], strict=True))
        have_left = set(
            zip(
                ev.loc[ev["event"] == "left", "segment"],
                ev.loc[ev["event"] == "left", "customer_id"],
                ev.loc[ev["event"] == "left", "run_id"],
                strict=True,
            )
        )
        new: list[dict[str, Any]] = []
        for df in lists.lists().values():
            for r in df.itertuples(index=False):
                if (r.action_id, lists.run_id) in have_issued:
                    continue
                new.append(
                    {
                        "event": "issued",
                        "action_id": r.action_id,
                        "run_id": lists.run_id,
                        "date": r.entry_date,
                        "segment": r.segment,
                        "customer_id": r.customer_id,
                        "action_type": r.action_type,
                        "channel": r.channel,
                    }
                )
        if left is not None:
            if "change" in left.columns:
                left = left[left["change"] == "left"]
            for seg, cid in zip(
                left["segment"].astype(str), _ids(left["customer_id"], "left"), strict=True
            ):
                if (seg, cid, lists.run_id) in have_left:
                    continue
                have_left.add((seg, cid, lists.run_id))
                new.append(
                    {
                        "event": "left",
                        "action_id": None,
                        "run_id": lists.run_id,
                        "date": lists.today,
                        "segment": seg,
                        "customer_id": cid,
                        "action_type": None,
                        "channel": None,
                    }
                )
        if not new:
            return 0
        add = pd.DataFrame(new)
        add.insert(0, "seq", np.arange(seq0, seq0 + len(add), dtype="int64"))
        out = pd.concat([ev, add], ignore_index=True) if len(ev) else add
        out = out[self._COLUMNS].astype(
            {
                "seq": "int64",
                "event": "str",
                "action_id": "str",
                "run_id": "str",
                "segment": "str",
                "customer_id": "str",
                "action_type": "str",
                "channel": "str",
            }
        )
        out["date"] = pd.to_datetime(out["date"]).astype("datetime64[us]")
        buf = io.BytesIO()
        out.to_parquet(buf, index=False)
        atomic_write_bytes(self.path, buf.getvalue())
        return len(new)


# ------------------------------------------------------------------------------------ writing


def _xlsx_value(v: Any) -> Any:
    if _is_missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str):
        return _XLSX_ILLEGAL.sub("", v)
    if isinstance(v, int | float | bool | dt.date | dt.datetime):
        return v
    return str(v)


def _xlsx_bytes(df: pd.DataFrame, sheet: str, stamp: dt.datetime) -> bytes:
    """An XLSX workbook of ``df`` (strings neutralised, written as text, never as formulas)
    whose bytes depend only on the data: fixed document and zip timestamps."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    safe = neutralise_frame(df)
    wb = Workbook(write_only=True)
    wb.properties.created = stamp
    ws = wb.create_sheet(sheet[:31] or "Sheet1")

    def cell(v: Any) -> Any:
        v = _xlsx_value(v)
        if not isinstance(v, str | dt.datetime):
            return v  # numbers, booleans, empty cells
        c = WriteOnlyCell(ws, value=v)
        if isinstance(c.value, str):
            c.data_type = "s"  # text, even if it looks like a formula
        elif isinstance(c.value, dt.datetime):
            c.number_format = (
                "yyyy-mm-dd"
                if c.value == dt.datetime.combine(c.value.date(), dt.time())
                else "yyyy-mm-dd hh:mm:ss"
            )
        return c

    ws.append([cell(str(c)) for c in safe.columns])
    for row in safe.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    raw = io.BytesIO()
    wb.save(raw)
    return _fixed_zip(raw.getvalue(), stamp)


def _fixed_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """Rewrite an XLSX zip with fixed timestamps (every zip entry; the document's "modified",
    which openpyxl sets to the clock on save), so equal content gives equal bytes."""
    modified = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = modified.sub(rb"\g<1>" + when + rb"\g<2>", body)
            dst.writestr(fixed, body)
    return out.getvalue()


def _json_value(v: Any) -> Any:
    if _is_missing(v):
        return None
    if isinstance(v, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _jsonl_bytes(df: pd.DataFrame) -> bytes:
    cols = [str(c) for c in df.columns]
    lines = [
        json.dumps(
            dict(zip(cols, map(_json_value, row), strict=True)),
            ensure_ascii=False,
            allow_nan=False,
            default=str,
        )
        for row in df.itertuples(index=False, name=None)
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def write_actions(lists: ActionLists, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write tasks, emails and calls as CSV and XLSX (for people; cells neutralised) and JSON
    Lines (for integrations), plus ``excluded.csv``. Atomic and deterministic: writing the same
    lists twice gives byte-identical files. Returns {file name: path}."""
    folder = Path(folder)
    stamp = lists.today.to_pydatetime()
    out: dict[str, Path] = {}
    for name, df in progress.items(list(lists.lists().items()), "writing action lists"):
        out[f"{name}.csv"] = atomic_write_bytes(folder / f"{name}.csv", csv_bytes(df))
        out[f"{name}.xlsx"] = atomic_write_bytes(
            folder / f"{name}.xlsx", _xlsx_bytes(df, name, stamp)
        )
        out[f"{name}.jsonl"] = atomic_write_bytes(folder / f"{name}.jsonl", _jsonl_bytes(df))
    out["excluded.csv"] = atomic_write_bytes(folder / "excluded.csv", csv_bytes(lists.excluded))
    return out


# ------------------------------------------------------------------------------------ exports


def _salt_bytes(salt: str | bytes | None) -> bytes:
    if salt is None:
        salt = os.environ.get(PSEUDONYM_SALT_ENV)
    if salt is None or len(salt) < 16:
        raise ActionError(
            f"pseudonymize: a secret salt of at least 16 characters is needed (pass salt=... or "
            f"set {PSEUDONYM_SALT_ENV}); keep it secret and the same across runs, e.g. "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)


def pseudonymize_members(members: pd.DataFrame, *, salt: str | bytes | None = None) -> pd.DataFrame:
    """A member table safe to share outside the CRM team.

    customer_id becomes ``pseudonym_id`` (HMAC-SHA256 of the id keyed with ``salt`` or
    ``$SEGWORK_PSEUDONYM_SALT``, first 16 hex digits: stable across runs with the same salt,
    not reversible without it); :data:`DIRECT_IDENTIFIERS` are dropped; birth_date becomes
    birth_year and postal_code its first 3 characters.
    """
    key = _salt_bytes(salt)
    table = members.reset_index() if members.index.name == "customer_id" else members
    if "customer_id" not in table.columns:
        raise ActionError("pseudonymize: the member table has no customer_id column or index")
    ids = _ids(table["customer_id"], "members")
    pseudo = [hmac.new(key, c.encode("utf-8"), hashlib.sha256).hexdigest()[:16] for c in ids]
    out = table.drop(columns=[c for c in table.columns if str(c) in DIRECT_IDENTIFIERS])
    if "birth_date" in out.columns:
        at = out.columns.get_loc("birth_date")
        years = pd.to_datetime(out["birth_date"], errors="coerce").dt.year.astype("Int64")
        out = out.drop(columns="birth_date")
        out.insert(at, "birth_year", years)
    if "postal_code" in out.columns:
        pc = out["postal_code"].map(
            lambda v: None if _is_missing(v) else re.sub(r"\s+", "", str(v))[:3] or None
        )
        out["postal_code"] = pc.astype("str")
    out.insert(0, "pseudonym_id", pd.Series(pseudo, index=out.index, dtype="str"))
    return out.reset_index(drop=True)


def export_members(
    members: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    pseudonymize: bool = False,
    salt: str | bytes | None = None,
    columns: Sequence[str] | None = None,
) -> Path:
    """Write a segment's member list to ``path`` (.csv, .xlsx or .parquet, by suffix).

    ``columns`` picks the columns (customer_id is always kept). CSV/XLSX cells are neutralised
    against formula injection; ``pseudonymize=True`` applies :func:`pseudonymize_members`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".parquet"):
        raise ActionError(f"export: {path.name} must end in .csv, .xlsx or .parquet")
    table = members.reset_index() if members.index.name == "customer_id" else members.copy()
    if "customer_id" not in table.columns:
        raise ActionError("export: the member table has no customer_id column or index")
    if columns is not None:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ActionError(
                f"export: columns {missing} are not in the member table"
                f"{_suggest(str(missing[0]), map(str, table.columns))}"
            )
        if pseudonymize:
            direct = [c for c in columns if c in DIRECT_IDENTIFIERS and c != "customer_id"]
            if direct:
                raise ActionError(
                    f"export: columns {direct} identify people directly and cannot "
                    "be exported with pseudonymize=True; leave them out"
                )
        table = table[["customer_id", *[c for c in columns if c != "customer_id"]]]
    if pseudonymize:
        table = pseudonymize_members(table, salt=salt)
    if suffix == ".csv":
        data = csv_bytes(table)
    elif suffix == ".xlsx":
        data = _xlsx_bytes(table, "members", dt.datetime(2000, 1, 1))
    else:
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        data = buf.getvalue()
    return atomic_write_bytes(path, data)


def export_segment_members(
    memberships: pd.DataFrame,
    customers: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("csv", "parquet"),
    pseudonymize: bool = False,
    columns: Sequence[str] | None = None,
) -> list[Path]:
    """Write each segment's members (with their customer columns) as one file per format.

    File names are the segment name made safe for a file system; each file is written by
    :func:`export_members` (formula cells neutralised, optional pseudonymization).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for seg in progress.items(list(memberships.columns), "exporting segment members"):
        ids = memberships.index[memberships[seg].fillna(False).astype(bool)]
        table = customers.loc[ids].reset_index()
        stem = re.sub(r"[^A-Za-z0-9]+", "_", seg).strip("_").lower() or "segment"
        for fmt in formats:
            written.append(
                export_members(
                    table, folder / f"{stem}.{fmt}", pseudonymize=pseudonymize, columns=columns
                )
            )
    return written

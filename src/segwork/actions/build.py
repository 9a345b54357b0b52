"""Entries into segments -> task, email and call lists (:func:`build_actions`), with consent
and contact checks and a deterministic :func:`action_id`."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segwork.actions.checks import (
    ActionError,
    _check_run_id,
    _ids,
    _is_missing,
    _timestamp,
)
from segwork.actions.config import (
    _EXCLUDED_COLUMNS,
    _LIST_COLUMNS,
    _LIST_OF_TYPE,
    _LISTS,
    _REASON_OPEN,
    _REASON_UNKNOWN,
    ACTION_TYPES,
    CHANNELS,
    ActionConfig,
    _contact_words,
    validate_actions,
)
from segwork.actions.ledger import (
    ActionLedger,
)
from segwork.schema import TRUE_WORDS


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


def _consent(values: pd.Series) -> np.ndarray:
    """Consent flags: true only for an explicit yes (missing or unreadable = no consent)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return (values.fillna(0) == 1).to_numpy(dtype=bool)
    words = set(TRUE_WORDS)
    return np.array(
        [
            (
                v is True
                or v is np.True_
                or (isinstance(v, str) and v.strip().lower() in words)
                or (isinstance(v, int | float | np.number) and not isinstance(v, bool) and v == 1)
            )
            for v in values.to_numpy(dtype=object, na_value=None)
        ],
        dtype=bool,
    )


def _has_contact(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(
        values.dtype
    ):
        return (values.str.strip().str.len() > 0).fillna(False).to_numpy(dtype=bool)
    return np.array(
        [
            not _is_missing(v) and bool(str(v).strip())
            for v in values.to_numpy(dtype=object, na_value=None)
        ],
        dtype=bool,
    )


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
            "segment": entered["segment"].astype(str).to_numpy(dtype=object),
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
    used = {"name", "email", "phone", "owner"}  # the lists' own columns
    for cfg in (c for configs in configured.values() for c in configs):
        used.update(cfg.fields)
        if cfg.effective_channel is not None:
            used.update(CHANNELS[cfg.effective_channel][:2])
    table = table[[c for c in table.columns if c in used]]  # only what the lists read
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


def _text_values(col: pd.Series) -> list[str]:
    """:func:`_text` of every value of a column (vectorised for text and number columns)."""
    if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
        return col.to_numpy(dtype=object, na_value="").tolist()
    if pd.api.types.is_float_dtype(col.dtype):
        return [
            "" if x != x else str(int(x)) if x.is_integer() else f"{x:.2f}"
            for x in col.to_numpy(dtype=float, na_value=np.nan).tolist()
        ]
    return [_text(v) for v in col.to_numpy(dtype=object)]


def _fill(template: str, n: int, values: Mapping[str, Any]) -> list[str]:
    """``string.Template(template).substitute`` for ``n`` rows at once: ``values`` maps each
    field to a list of n texts or one text for every row. Nothing is evaluated."""
    tpl = string.Template(template)
    pieces: list[Any] = []
    pos = 0
    for m in tpl.pattern.finditer(template):
        pieces.append(itertools.repeat(template[pos : m.start()], n))
        if m.group("escaped") is not None:
            pieces.append(itertools.repeat(tpl.delimiter, n))
        else:
            v = values[m.group("named") or m.group("braced")]
            pieces.append(itertools.repeat(v, n) if isinstance(v, str) else v)
        pos = m.end()
    pieces.append(itertools.repeat(template[pos:], n))
    return ["".join(row) for row in zip(*pieces, strict=False)]  # repeats are endless


def _column(sub: pd.DataFrame, name: str) -> list[Any]:
    if name not in sub.columns:
        return [None] * len(sub)
    return sub[name].to_numpy(dtype=object, na_value=None).tolist()


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
    assignee, assigned_by = [], []
    for o in _column(sub, "owner"):
        if not _is_missing(o) and str(o).strip():
            assignee.append(str(o))
            assigned_by.append("owner")
        elif cfg.assignee:
            assignee.append(cfg.assignee)
            assigned_by.append("action")
        else:
            assignee.append(default_assignee)
            assigned_by.append("default")
    ids = sub.index.to_numpy(dtype=object).tolist()
    values: dict[str, Any] = {
        "rule": cfg.segment,
        "run_id": run_id,
        "due_date": _text(due),
        "assignee": assignee,
        "customer_id": ids,
    }
    values.update({f: _text_values(sub[f]) for f in cfg.fields if f in sub.columns})
    texts = _fill(cfg.template, n, values)  # every field is checked: never a KeyError
    data = {
        "action_id": list(aids),
        "run_id": [run_id] * n,
        "segment": [cfg.segment] * n,
        "customer_id": ids,
        "name": _column(sub, "name"),
        "email": _column(sub, "email"),
        "phone": _column(sub, "phone"),
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
            df[c] = df[c].astype("str")
    return df.sort_values(["segment", "customer_id", "action_id"], ignore_index=True)

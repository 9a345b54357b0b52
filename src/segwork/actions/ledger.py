"""The action ledger: every action issued and every exit, across runs, so no action is issued
twice (see the package docstring).

The ledger is a table of events (one row each) that the run keeps beside its runs (catalog
dataset ``action_ledger``, scope "reports", written atomically by the catalog). This module
does no file I/O: :class:`ActionLedger` holds the events, says what blocks a new action and
adds a run's events; the step passes the table in and gets the new table out.

A run's events count only once the run has *published* (its run record says "succeeded"):
``ActionLedger(events, published=ids)`` ignores the events of every other run but the one
being built. So a run that fails after writing its action lists burns nothing, and the retry
issues the same actions once; the failed run's events are dropped when the retry records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segwork.actions.checks import ActionError, _ids

if TYPE_CHECKING:
    from segwork.actions.build import ActionLists

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
_TEXT = ("event", "action_id", "run_id", "segment", "customer_id", "action_type", "channel")


def empty_events() -> pd.DataFrame:
    """A ledger with no events (the columns and types of :attr:`ActionLedger.events`)."""
    out = pd.DataFrame({c: pd.Series(dtype="str") for c in _COLUMNS})
    out["seq"] = out["seq"].astype("int64")
    out["date"] = out["date"].astype("datetime64[us]")
    return out[_COLUMNS]


def _normalised(events: pd.DataFrame | None) -> pd.DataFrame:
    if events is None or len(events) == 0:
        return empty_events()
    missing = [c for c in _COLUMNS if c not in events.columns]
    if missing:
        raise ActionError(
            f"action ledger: columns {missing} are missing; the ledger has the columns "
            f"{', '.join(_COLUMNS)} (was it written by segwork?)"
        )
    out = events[_COLUMNS].astype({"seq": "int64", **dict.fromkeys(_TEXT, "str")})
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[us]")
    return out.sort_values("seq", ignore_index=True)


class ActionLedger:
    """Actions issued and exits seen, across runs.

    ``events``: the ledger table as the last run left it (None: no ledger yet). Columns: seq
    (recording order), event ("issued" or "left"), action_id, run_id, date, segment,
    customer_id, action_type, channel. ``published``: the ids of the runs that published (the
    run records with status "succeeded"); None trusts every event (a ledger used outside runs).
    """

    def __init__(
        self, events: pd.DataFrame | None = None, *, published: Iterable[str] | None = None
    ) -> None:
        self._events = _normalised(events)
        self.published = None if published is None else {str(r) for r in published}

    def __repr__(self) -> str:
        return f"ActionLedger({len(self._events)} events)"

    def events(self) -> pd.DataFrame:
        """Every event, in recording order (a copy)."""
        return self._events.copy()

    def _counted(self, run_id: str) -> pd.DataFrame:
        """Events that count for ``run_id``: published runs' and its own."""
        ev = self._events
        if self.published is None:
            return ev
        return ev[ev["run_id"].isin(self.published | {run_id})]

    def issued_ids(self) -> set[str]:
        ev = self._events if self.published is None else self._counted("")
        return set(ev.loc[ev["event"] == "issued", "action_id"])

    def blocking(self, run_id: str) -> tuple[set[tuple[str, str, str, str]], set[str]]:
        """What blocks actions of ``run_id``: open (segment, customer, type, channel) keys and
        action ids issued by other (published) runs recorded before ``run_id`` first was."""
        ev = self._counted(run_id)
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
        long table of exits; None if unknown). Events already recorded for this run are not
        added again; events of runs that never published are dropped (their actions were not
        issued). Returns the number of new events."""
        run_id = lists.run_id
        ev = self._counted(run_id)
        dropped = len(self._events) - len(ev)
        mine = ev[ev["run_id"] == run_id]
        have_issued = set(mine.loc[mine["event"] == "issued", "action_id"])
        gone = mine[mine["event"] == "left"]
        have_left = set(zip(gone["segment"], gone["customer_id"], strict=True))
        parts: list[pd.DataFrame] = []
        for df in lists.lists().values():
            new = df[~df["action_id"].isin(have_issued)]
            if len(new):
                parts.append(
                    pd.DataFrame(
                        {
                            "event": "issued",
                            "action_id": new["action_id"].to_numpy(),
                            "run_id": run_id,
                            "date": new["entry_date"].to_numpy(),
                            "segment": new["segment"].to_numpy(),
                            "customer_id": new["customer_id"].to_numpy(),
                            "action_type": new["action_type"].to_numpy(),
                            "channel": new["channel"].to_numpy(),
                        }
                    )
                )
        if left is not None:
            if "change" in left.columns:
                left = left[left["change"] == "left"]
            rows: list[dict[str, Any]] = []
            for seg, cid in zip(
                left["segment"].astype(str), _ids(left["customer_id"], "left"), strict=True
            ):
                if (seg, cid) in have_left:
                    continue
                have_left.add((seg, cid))
                rows.append({"segment": seg, "customer_id": cid})
            if rows:
                exits = pd.DataFrame(rows)
                parts.append(
                    exits.assign(
                        event="left",
                        action_id=None,
                        run_id=run_id,
                        date=lists.today,
                        action_type=None,
                        channel=None,
                    )
                )
        n_new = sum(len(p) for p in parts)
        if not n_new and not dropped:
            return 0
        seq0 = int(self._events["seq"].max()) + 1 if len(self._events) else 0
        add = pd.concat(parts, ignore_index=True) if parts else empty_events().drop(columns="seq")
        add.insert(0, "seq", np.arange(seq0, seq0 + len(add), dtype="int64"))
        add["date"] = pd.to_datetime(add["date"]).astype("datetime64[us]")
        add = add[_COLUMNS].astype({c: "str" for c in _TEXT})
        self._events = _normalised(pd.concat([ev, add], ignore_index=True) if len(ev) else add)
        return n_new

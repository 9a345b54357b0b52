"""Membership tables (wide boolean <-> long customer_id, segment) and who entered or left
each segment between two runs (:func:`changes`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from segwork.actions.checks import (
    ActionError,
    _ids,
)


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
            {"customer_id": ids, "segment": seg.astype(str).to_numpy(dtype=object)}, dtype="str"
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

"""ActionError and the checks every part of segwork.actions shares: customer ids, run ids,
missing values, did-you-mean."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from segwork.errors import SegworkError
from segwork.schema import to_timestamp

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


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
    """A tz-naive Timestamp by segwork's one time-zone rule (:func:`segwork.schema.to_timestamp`:
    aware values -> UTC, then naive), or an :class:`ActionError` naming ``what``."""
    return to_timestamp(value, what, error=ActionError)


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ActionError(
            f"run_id {run_id!r} is not usable as a file name: use letters, digits, '.', '_', '+' "
            "and '-' (starting with a letter or digit), e.g. '2025-06-30T0600'"
        )
    return run_id


def _ids(values: Iterable[Any], what: str) -> list[str]:
    """Customer ids as text (a missing one is an :class:`ActionError`); vectorised for arrays."""
    if isinstance(values, pd.Index | pd.Series | np.ndarray):
        arr = pd.Series(values).to_numpy(dtype=object, na_value=None)
        missing = pd.isna(arr)
        if missing.any():
            raise ActionError(f"{what}: a customer_id is missing; every row needs a customer_id")
        return [v if type(v) is str else str(v) for v in arr]
    out: list[str] = []
    for v in values:
        if _is_missing(v):
            raise ActionError(f"{what}: a customer_id is missing; every row needs a customer_id")
        out.append(str(v))
    return out


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""

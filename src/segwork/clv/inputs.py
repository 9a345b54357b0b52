"""Checked model inputs: (frequency, recency, T) histories from clv features, and their distinct
rows with counts (so a million customers cost as much as their distinct histories).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from segwork.clv.errors import CLVError


def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        if isinstance(values, pd.Series | pd.Index):
            arr = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            arr = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise CLVError(f"column {name!r} must be numeric: {exc}") from None
    return np.atleast_1d(arr)


def _reject(mask: np.ndarray, index: pd.Index | None, problem: str, fix: str) -> None:
    if not mask.any():
        return
    if index is not None:
        examples = ", ".join(map(str, index[mask][:3]))
        where = f"{index.name or 'row'} {examples}"
    else:
        where = "position " + ", ".join(map(str, np.flatnonzero(mask)[:3]))
    raise CLVError(f"clv features: {problem} in {int(mask.sum()):,} row(s) (e.g. {where}); {fix}")


def _histories(
    frequency: Any, recency: Any = None, T: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index | None]:
    """Validated (x, t_x, T) arrays from a clv features frame or three array-likes."""
    index = None
    if isinstance(frequency, pd.DataFrame):
        df = frequency
        missing = [c for c in ("frequency", "recency", "T") if c not in df.columns]
        if missing:
            raise CLVError(
                f"clv features need columns frequency, recency and T; missing {missing} "
                f"(columns present: {list(df.columns)}). Use "
                "segwork.rfm.features(orders, analysis_date=..., convention='clv')."
            )
        index = df.index
        frequency, recency, T = df["frequency"], df["recency"], df["T"]
    elif recency is None or T is None:
        raise CLVError("give a clv features frame, or all three of frequency, recency and T")
    x, tx, t = (
        _as_float(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"))
    )
    if not x.shape == tx.shape == t.shape:
        raise CLVError(
            f"frequency, recency and T must have the same length (got {len(x)}, {len(tx)}, {len(t)})"
        )
    if len(x) == 0:
        raise CLVError(
            "no customers: the clv features are empty (no purchase before the analysis date?)"
        )
    _reject(
        ~(np.isfinite(x) & np.isfinite(tx) & np.isfinite(t)),
        index,
        "missing or infinite frequency, recency or T",
        "drop or fix those customers",
    )
    _reject(
        (x < 0) | (x != np.round(x)),
        index,
        "frequency that is not a whole number >= 0",
        "frequency counts repeat purchase periods (the clv convention of segwork.rfm.features)",
    )
    _reject(
        (tx < 0) | (tx > t * (1 + 1e-12) + 1e-12),
        index,
        "recency outside [0, T]",
        "recency is the time from the first to the last purchase and cannot exceed T",
    )
    _reject(
        (x == 0) & (tx != 0),
        index,
        "recency > 0 with frequency 0",
        "customers without repeat purchases must have recency 0 (the lifetimes convention); "
        "check that frequency counts repeat purchases, not all purchases",
    )
    return x, tx, t, index


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of equal-length columns, the row of each input and the counts.

    Each column is coded by its distinct values and the codes are combined into one integer
    key, so a million customers cost a few 1-d sorts (np.unique with ``axis=0`` sorts rows as
    byte strings and is about ten times slower).
    """
    values, codes = zip(*(np.unique(c, return_inverse=True) for c in columns), strict=True)
    sizes = [len(v) for v in values]
    if math.prod(sizes) < 2**62:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for code, size in zip(codes, sizes, strict=True):
            key = key * size + code.ravel()
        ukey, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        out = []
        for vals, size in zip(values[::-1], sizes[::-1], strict=True):
            ukey, code = np.divmod(ukey, size)
            out.append(vals[code])
        return out[::-1], inverse.ravel(), counts
    uniq, inverse, counts = np.unique(  # pragma: no cover - over 2^62 value combinations
        np.column_stack(columns), axis=0, return_inverse=True, return_counts=True
    )
    return list(uniq.T), inverse.ravel(), counts


def _unique_histories(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows (n x 3), the row of each customer, counts and float weights."""
    cols, inverse, counts = _unique_rows(x, tx, T)
    return np.column_stack(cols), inverse, counts, counts.astype(float)

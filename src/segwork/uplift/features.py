"""The feature matrix of the uplift models, from the customer table and the exposures' columns.

:func:`feature_spec` decides once, on the training rows, which columns are features and how each is
encoded; :meth:`FeatureSpec.transform` applies the same to any rows (held-out customers, the
customers to rank), so training and scoring always see the same columns and categories.

* numbers and true/false: as they are (float; missing stays missing, the default model handles it);
* text with at most ``max_levels`` values: a pandas categorical (the default HistGradientBoosting
  model uses it natively) or, with ``one_hot=True``, 0/1 columns (for models that need numbers);
  text with more values keeps its ``max_levels - 1`` most frequent values, the rest are 'other';
* dropped, and named with the reason: ids (``customer_id``, ``campaign_id``, any ``*_id``), the
  variant, the outcomes, dates and times, direct identifiers (name, email, phone ...), text that is
  nearly unique per customer (an identifier in disguise), columns with a single value or no value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segwork.actions import DIRECT_IDENTIFIERS
from segwork.uplift.errors import UpliftError

__all__ = ["FeatureSpec", "OTHER", "feature_spec"]

OTHER = "(other)"
_KEYS = ("customer_id", "campaign_id", "variant", "assigned_at")


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns are features and how they are encoded; what was dropped and why."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]  # column -> its kept levels
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    one_hot: bool = False

    @property
    def columns(self) -> list[str]:
        """The source columns the features come from."""
        return [*self.numeric, *self.categorical]

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """The feature matrix of ``table`` (same columns and categories as at fit time)."""
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise UpliftError(
                f"the rows to score lack the feature column(s) {missing}; they must have the "
                "columns the model was trained on"
            )
        out = {c: _as_float(table[c], c) for c in self.numeric}
        for c, levels in self.categorical.items():
            s = table[c].astype("string")
            s = s.where(s.isin(levels) | s.isna(), OTHER)
            cats = [*levels, OTHER] if OTHER not in levels else list(levels)
            cat = pd.Categorical(s.astype(object).where(s.notna(), None), categories=cats)
            if self.one_hot:
                for level in cats:
                    out[f"{c}={level}"] = (cat == level).astype(float)
            else:  # integer labels: the models' category encoding is ~10x faster than on text
                out[c] = pd.Categorical.from_codes(cat.codes, categories=range(len(cats)))
        return pd.DataFrame(out, index=table.index)

    def describe(self) -> str:
        """One sentence: the features used and what was left out and why."""
        used = ", ".join(self.columns) or "none"
        text = f"Features used ({len(self.columns)}): {used}."
        if self.dropped:
            text += " Left out: " + "; ".join(f"{c} ({r})" for c, r in self.dropped.items()) + "."
        return text


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise UpliftError(
            f"feature column '{name}' should hold numbers, got e.g. {s.iloc[0]!r}"
        ) from None


def _is_id(name: str) -> bool:
    return name in _KEYS or name.endswith("_id") or name in DIRECT_IDENTIFIERS


def feature_spec(
    table: pd.DataFrame,
    *,
    outcomes: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_levels: int = 32,
    unique_share: float = 0.5,
    one_hot: bool = False,
) -> FeatureSpec:
    """Decide the features of ``table`` (training rows): see the module docstring.

    ``outcomes`` and ``exclude`` are dropped by name; text columns whose share of distinct values
    among the rows is above ``unique_share`` count as identifiers."""
    if max_levels < 2:
        raise UpliftError(f"max_levels must be at least 2, got {max_levels}")
    numeric: list[str] = []
    categorical: dict[str, tuple[str, ...]] = {}
    dropped: dict[str, str] = {}
    outcomes, exclude = set(map(str, outcomes)), set(map(str, exclude))
    n = max(len(table), 1)
    for col in map(str, table.columns):
        s = table[col]
        if col in outcomes:
            dropped[col] = "an outcome"
        elif col == "variant":
            dropped[col] = "the variant"
        elif col in exclude:
            dropped[col] = "excluded by the settings"
        elif _is_id(col):
            dropped[col] = "an identifier"
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            dropped[col] = "a date"
        elif s.notna().sum() == 0:
            dropped[col] = "no values"
        elif s.nunique(dropna=True) < 2:
            dropped[col] = "a single value"
        elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            numeric.append(col)
        else:
            counts = s.astype("string").value_counts(dropna=True)
            if _looks_like_dates(s):
                dropped[col] = "a date"
            elif len(counts) > max_levels and len(counts) / n > unique_share:
                dropped[col] = "text nearly unique per customer"
            else:
                categorical[col] = tuple(
                    counts.index[
                        : max_levels - 1 if len(counts) > max_levels else max_levels
                    ].astype(str)
                )
    if not numeric and not categorical:
        raise UpliftError(
            "no usable feature column: the uplift models need customer attributes (numbers or "
            "text with few values) besides ids, dates, the variant and the outcomes; left out: "
            + "; ".join(f"{c} ({r})" for c, r in dropped.items())
        )
    return FeatureSpec(tuple(numeric), categorical, dropped, one_hot)


def _looks_like_dates(s: pd.Series) -> bool:
    sample = s.dropna().astype(str).head(20)
    return not sample.empty and bool(sample.str.match(r"^\d{4}-\d{2}-\d{2}").all())

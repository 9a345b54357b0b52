"""Segments from wherever they are: segment columns of the customer table or the exposures
attached to the exposures, grouped when they have many values, and named in words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from segwork.abtest.conventions import MISSING_SEGMENT, ABTestError
from segwork.labels import label as column_label
from segwork.labels import words as column_words


def with_segments(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame,
    columns: Sequence[str],
    *,
    missing_label: str = "(unknown)",
) -> pd.DataFrame | ibis.Table:
    """Attach segment columns of the customer table (indexed by customer_id) to the exposures.

    The join runs where the exposures are (DuckDB for an Ibis table). Exposed customers without a
    label get ``missing_label`` so they stay in the evaluation instead of silently dropping out.
    """
    missing = [c for c in columns if c not in customers.columns]
    if missing:
        raise ABTestError(
            f"the customer table has no column(s) {missing} to segment by; "
            f"columns: {', '.join(map(str, customers.columns))}"
        )
    labels = customers[list(columns)].astype("string").fillna(missing_label)
    labels.index = labels.index.astype("string")
    labels = labels.rename_axis("customer_id").reset_index()
    if isinstance(exposures, ibis.Table):
        keep = [c for c in exposures.columns if c not in columns]
        joined = exposures.select(keep).left_join(ibis.memtable(labels), "customer_id")
        joined = joined.select(
            *keep, *[joined[c].fill_null(missing_label).name(c) for c in columns]
        )
        return joined
    out = exposures.drop(columns=[c for c in columns if c in exposures]).merge(
        labels, on="customer_id", how="left"
    )
    out[list(columns)] = out[list(columns)].fillna(missing_label)
    return out


def segment_sizes(
    customers: pd.DataFrame, column: str, *, missing_label: str = "(unknown)"
) -> pd.Series:
    """Customers per segment of the customer table, labelled as :func:`with_segments` labels them."""
    return customers[column].astype("string").fillna(missing_label).value_counts()


# Segments from wherever they are, and checks of the notebook's settings
UNKNOWN = "(unknown)"


def segment_name(label: str, column: str | None) -> str:
    """A segment label in words: the missing-value label becomes 'customers with no <column>',
    a bare number or true/false is named with its column ('newbie = 1')."""
    if label in (UNKNOWN, MISSING_SEGMENT):
        return f"customers with no {column_words(column)}" if column else "customers with no value"
    if column and re.fullmatch(r"-?\d+(\.\d+)?|true|false", str(label), flags=re.I):
        return (
            f"{column_words(column)} = {label}"  # a bare '0' or '1' says nothing without its column
        )
    return str(label)


@dataclass
class Segments:
    """Exposures with segment columns attached, and where each column came from.

    ``key``: column -> the column of ``exposures`` holding its segment labels (a new column for
    the exposures' own columns, so an outcome or pre-period column is never overwritten);
    ``sources``: column -> 'exposures' or 'customers'; ``missing``: asked-for columns found in
    neither table; ``grouped``: column -> how its many values were grouped (a sentence)."""

    exposures: pd.DataFrame | ibis.Table
    columns: list[str]
    key: dict[str, str]
    sources: dict[str, str]
    missing: list[str]
    grouped: dict[str, str]

    def note(self) -> str:
        """One plain sentence about segment columns that could not be used or were grouped."""
        parts = []
        if self.missing:
            names = ", ".join(self.missing)
            parts.append(
                f"Segment column(s) {names} are neither in the customer table nor in the campaign "
                "exposures, so they are left out."
            )
        if not self.columns:
            parts.append("Results are for whole campaigns only (no segment column to split by).")
        parts += [f"{column_label(col)}: {text}." for col, text in self.grouped.items()]
        return " ".join(parts)


def attach_segments(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None,
    columns: Sequence[str],
    *,
    max_segments: int = 8,
    missing_label: str = UNKNOWN,
) -> Segments:
    """Attach each segment column to the exposures, from the exposures' own columns first (values at
    the time of the campaign, e.g. an export's pre-period fields) and else from the customer table
    (indexed by customer_id). Missing values become ``missing_label``. A column with more than
    ``max_segments`` values is grouped so tables and charts stay readable: numbers into quartile
    ranges, text into its ``max_segments - 1`` largest values plus 'other'."""
    exp_cols = set(map(str, exposures.columns))
    cust_cols = set(map(str, customers.columns)) if customers is not None else set()
    keys = {"customer_id", "campaign_id", "variant"}
    sources: dict[str, str] = {}
    missing: list[str] = []
    for col in dict.fromkeys(columns):
        if col in keys:
            missing.append(col)
        elif col in exp_cols:
            sources[col] = "exposures"
        elif col in cust_cols:
            sources[col] = "customers"
        else:
            missing.append(col)
    from_customers = [c for c, s in sources.items() if s == "customers"]
    t = exposures
    grouped: dict[str, str] = {}
    if from_customers:
        labels = customers[from_customers]
        for col in from_customers:  # numbers with many values: quartiles of the customer table
            if pd.api.types.is_numeric_dtype(labels[col]) and not pd.api.types.is_bool_dtype(
                labels[col]
            ):
                labels, text = _group_values(
                    labels, col, max_segments, missing_label, relabel=True, name=col
                )
                if text:
                    grouped[col] = text.replace(
                        "different values", "different values among customers"
                    )
        t = with_segments(t, labels, from_customers, missing_label=missing_label)
    counts = _joint_counts(t, from_customers, labels if from_customers else None)
    key: dict[str, str] = {}
    for col, src in sources.items():
        key[col] = col if src == "customers" else f"_segment_{col}"
        if src == "exposures":
            t = (
                t.mutate(**{key[col]: t[col]})
                if isinstance(t, ibis.Table)
                else t.assign(**{key[col]: t[col]})
            )
        t, text = _group_values(
            t,
            key[col],
            max_segments,
            missing_label,
            relabel=src == "exposures",
            name=col,
            counts=counts.get(col),
        )
        if text:
            grouped[col] = text
    return Segments(t, list(sources), key, sources, missing, grouped)


_JOINT_COUNTS_MAX = 100_000  # value combinations up to which the columns are counted together


def _joint_counts(t, columns: list[str], labels: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Exposures per value of each of ``columns`` of an Ibis table, from one query that counts
    their combinations (when there are not too many), instead of one query per column."""
    if not isinstance(t, ibis.Table) or len(columns) < 2 or labels is None:
        return {}
    combos = np.prod([labels[c].nunique(dropna=False) + 1.0 for c in columns])
    if combos > _JOINT_COUNTS_MAX:
        return {}
    joint = t.group_by(columns).aggregate(_n=t.count()).to_pandas()
    return {
        c: joint.groupby(c, dropna=False, sort=False)["_n"].sum().reset_index() for c in columns
    }


def _group_values(
    t,
    col: str,
    top: int,
    missing_label: str,
    *,
    relabel: bool,
    name: str,
    counts: pd.DataFrame | None = None,
):
    """Cast a segment column to text labels; group many values (see :func:`attach_segments`).
    ``counts``: the column's value counts when already known (an Ibis table's column)."""
    is_ibis = isinstance(t, ibis.Table)
    if is_ibis:
        dt = t.schema()[col]
        numeric = dt.is_numeric() and not dt.is_boolean()
        if counts is None:
            counts = t.group_by(col).aggregate(_n=t.count()).to_pandas()
        values, n = counts[col], counts["_n"].to_numpy()
    else:
        numeric = pd.api.types.is_numeric_dtype(t[col]) and not pd.api.types.is_bool_dtype(t[col])
        vc = t[col].value_counts(dropna=False)
        values, n = vc.index.to_series(), vc.to_numpy()
    known = values.notna().to_numpy()
    if numeric and known.sum() > top:
        v = np.repeat(values[known].to_numpy(dtype=float), n[known])
        edges = np.unique(np.quantile(v, [0, 0.25, 0.5, 0.75, 1.0]))
        labels = [
            f"Q{i + 1}: {name} {lo:,.4g} to under {hi:,.4g}"
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
        ]
        if labels:
            labels[-1] = f"Q{len(labels)}: {name} {edges[-2]:,.4g} to {edges[-1]:,.4g}"
        if len(edges) < 2:
            return _as_labels(t, col, missing_label), ""
        text = f"{int(known.sum())} different values, grouped into {len(labels)} quartile ranges"
        if is_ibis:
            x = t[col].cast("float64")
            branches = [(x < hi, lab) for hi, lab in zip(edges[1:-1], labels[:-1], strict=True)]
            expr = ibis.cases(*branches, else_=labels[-1]) if branches else ibis.literal(labels[-1])
            expr = x.isnull().ifelse(missing_label, expr)
            return t.mutate(**{col: expr}), text
        x = t[col].to_numpy(dtype="float64", na_value=np.nan)
        idx = np.clip(np.searchsorted(edges[1:-1], x, side="right"), 0, len(labels) - 1)
        lab = np.asarray(labels, dtype=object)[idx]
        lab[np.isnan(x)] = missing_label
        return t.assign(**{col: pd.array(lab, dtype="str")}), text
    t = _as_labels(t, col, missing_label) if relabel or is_ibis else t
    labels_known = values[known].astype(str).to_numpy()
    labels_known = labels_known[labels_known != missing_label]
    if len(labels_known) <= top:
        return t, ""
    order = np.argsort(
        -n[known][values[known].astype(str).to_numpy() != missing_label], kind="stable"
    )
    keep = list(labels_known[order][: top - 1])
    other = f"other {column_words(name)} ({len(labels_known) - len(keep)} values)"
    text = (
        f"{len(labels_known)} different values; the {len(keep)} largest are shown and the other "
        f"{len(labels_known) - len(keep)} are grouped as '{other}'"
    )
    if is_ibis:
        c = t[col]
        return t.mutate(**{col: (c.isin(keep) | (c == missing_label)).ifelse(c, other)}), text
    s = t[col].astype("str")
    return t.assign(**{col: s.where(s.isin(keep) | (s == missing_label), other)}), text


def _as_labels(t, col: str, missing_label: str):
    if isinstance(t, ibis.Table):
        return t.mutate(**{col: t[col].cast("string").fill_null(missing_label)})
    return t.assign(**{col: t[col].astype("string").fillna(missing_label).astype("str")})

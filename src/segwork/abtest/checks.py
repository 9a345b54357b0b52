"""Checks of notebook 04's settings against the exposures before anything is computed: every
problem in one list, in the words of the run configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import pandas as pd

from segwork.abtest.cells import control_message
from segwork.abtest.conventions import CORRECTION_NAME, PARAMS, TABLE, ABTestError
from segwork.abtest.metrics import Metric, MetricsArg, default_metrics, resolve_metrics


def setup_problems(
    exposures: pd.DataFrame | ibis.Table,
    *,
    control: str,
    metrics: MetricsArg = None,
    segment_columns: Sequence[str] | None = None,
    customer_columns: Sequence[str] | None = None,
    pre_metric: str | None = None,
    decide_on: str | None = None,
    expected_shares: Mapping[str, Any] | None = None,
    correction: str | None = None,
    alpha: float | None = None,
    winsorize: float | None = None,
) -> list[str]:
    """What notebook 04 would trip on with these settings, as plain messages in the config's words
    (for ``segwork validate``): a control that is not a variant of a campaign, a campaign with
    nothing to compare, a metric column that is missing, not numeric, not 0/1 when declared binary
    or has missing values, a pre-period column that is missing, ``decide_on`` not among the metrics,
    a segment column that is neither in the exposures nor in ``customer_columns`` (the columns
    the customer table will have; the segment check is skipped when that is None), and
    ``expected_shares``, ``correction``, ``alpha`` and ``winsorize`` when they are given."""
    problems: list[str] = []
    control = str(control)
    cols = [str(c) for c in exposures.columns]
    lacking = [c for c in ("campaign_id", "variant") if c not in cols]
    if lacking:
        return [
            f"sources.{TABLE}: no column {' or '.join(map(repr, lacking))}; columns present: "
            f"{', '.join(cols)}. Fix: map them under sources.{TABLE}.columns"
        ]
    if isinstance(exposures, ibis.Table):
        pairs = exposures.select("campaign_id", "variant").distinct().to_pandas()
    else:
        pairs = exposures[["campaign_id", "variant"]].drop_duplicates()
    pairs = pairs.dropna().astype(str).sort_values(["campaign_id", "variant"])
    for camp, rows in pairs.groupby("campaign_id", sort=True):
        names = rows["variant"].tolist()
        if control not in names:
            problems.append(control_message(str(camp), control, names))
        elif len(names) < 2:
            problems.append(
                f"campaign '{camp}' of {TABLE} has only the control variant '{control}': there is "
                "nothing to compare it with. Fix: check the variant column mapping in "
                f"sources.{TABLE}.columns, or leave the campaign out of the export"
            )
    # Metrics, one at a time so that every problem is listed.
    spec: list[Metric] = []
    if metrics is None:
        try:
            items: list[Any] = list(default_metrics(exposures))
        except ABTestError as err:
            problems.append(str(err))
            items = []
    elif isinstance(metrics, str):
        items = [metrics]
    elif isinstance(metrics, Mapping):
        items = [{k: v} for k, v in metrics.items()]
    else:
        items = list(metrics)
    for item in items:
        try:
            spec += resolve_metrics([item] if not isinstance(item, Mapping) else item, exposures)
        except (ABTestError, ValueError) as err:
            problems.append(_config_words(str(err)))
    problems += _metric_value_problems(exposures, spec)
    if decide_on is not None and spec and decide_on not in [m.name for m in spec]:
        problems.append(
            f"{PARAMS}.decide_on: '{decide_on}' is not one of the metrics "
            f"({', '.join(m.name for m in spec)}). Fix: name one of them, or leave it unset"
        )
    if pre_metric is not None and pre_metric not in cols:
        problems.append(
            f"{PARAMS}.pre_metric: '{pre_metric}' is not a column of {TABLE}; its columns are "
            f"{', '.join(cols)}. Fix: name the pre-period column, or leave it unset"
        )
    variants = {str(k): g["variant"].tolist() for k, g in pairs.groupby("campaign_id")}
    problems += _shares_problems(expected_shares, variants)
    if correction is not None and correction not in CORRECTION_NAME:
        problems.append(
            f"{PARAMS}.correction: '{correction}' is not a correction. Fix: use holm, fdr_bh or none"
        )
    if alpha is not None and not 0 < float(alpha) < 1:
        problems.append(f"{PARAMS}.alpha: {alpha} must be between 0 and 1 (e.g. 0.05)")
    if winsorize is not None and not 0.5 < float(winsorize) < 1:
        problems.append(
            f"{PARAMS}.winsorize: {winsorize} is not a quantile to cap amounts at. Fix: give one "
            "between 0.5 and 1 (e.g. 0.99), or leave it unset"
        )
    if segment_columns and customer_columns is not None:
        have = set(cols) | {str(c) for c in customer_columns}
        for col in segment_columns:
            if col not in have or col in ("customer_id", "campaign_id", "variant"):
                existing = sorted(have - {"customer_id", "campaign_id", "variant", "assigned_at"})
                problems.append(
                    f"{PARAMS}.segment_columns: '{col}' is neither a column of the customer table "
                    f"nor of {TABLE}; columns that exist: {', '.join(existing) or '(none)'}. Fix: "
                    "remove it or name one of those"
                )
    return problems


def _shares_problems(expected_shares, variants: Mapping[str, list[str]]) -> list[str]:
    """expected_shares naming campaigns or variants the exposures do not have, or missing some."""
    if not expected_shares:
        return []
    out = []
    per_campaign = isinstance(expected_shares, Mapping) and all(
        isinstance(v, Mapping) for v in expected_shares.values()
    )
    plans = (
        {str(k): v for k, v in expected_shares.items()}
        if per_campaign
        else dict.fromkeys(variants, expected_shares)
    )
    for camp, shares in plans.items():
        if camp not in variants:
            out.append(
                f"{PARAMS}.expected_shares: campaign '{camp}' is not in {TABLE}; its campaigns are "
                f"{', '.join(map(repr, variants))}"
            )
            continue
        if not isinstance(shares, Mapping):
            continue
        names = variants[camp]
        unknown = [str(v) for v in shares if str(v) not in names]
        missing = [v for v in names if v not in {str(k) for k in shares}]
        bad = [str(k) for k, v in shares.items() if not _positive(v)]
        if unknown or missing or bad:
            parts = []
            if unknown:
                parts.append(f"has no variant(s) {', '.join(map(repr, unknown))}")
            if missing:
                parts.append(f"needs a share for {', '.join(map(repr, missing))}")
            if bad:
                parts.append(f"needs positive numbers for {', '.join(map(repr, bad))}")
            out.append(
                f"{PARAMS}.expected_shares: campaign '{camp}' "
                + " and ".join(parts)
                + f"; its variants are {', '.join(map(repr, names))}"
            )
    return out


def _positive(v) -> bool:
    try:
        return float(v) > 0
    except (TypeError, ValueError):
        return False


def _config_words(message: str) -> str:
    """A SchemaError about a contract metric column, pointed at the notebook setting too."""
    if message.startswith(PARAMS):
        return message
    first = message.split("\nFix:")[0]
    return (
        f"{PARAMS}.metrics: {first}. Fix: map the column under sources.{TABLE}.columns, or list "
        f"the outcome columns the export has in {PARAMS}.metrics"
    )


def _metric_value_problems(exposures, spec: Sequence[Metric]) -> list[str]:
    """Missing values in metric columns and binary metrics with values other than 0/1."""
    if not spec:
        return []
    aggs = {}
    t = exposures if isinstance(exposures, ibis.Table) else ibis.memtable(exposures)
    for i, m in enumerate(spec):
        x = t[m.column].cast("float64")
        aggs[f"null{i}"] = x.isnull().sum()
        aggs[f"bad{i}"] = ((x != 0) & (x != 1)).sum() if m.binary else ibis.literal(0)
    res = t.aggregate(**aggs).to_pandas().iloc[0]
    out = []
    for i, m in enumerate(spec):
        if int(res[f"null{i}"] or 0):
            out.append(
                f"table '{TABLE}', column '{m.column}': {int(res[f'null{i}'])} missing values of "
                f"outcome '{m.name}'. Fix: fill them in the export (0 = none) or drop those rows"
            )
        if int(res[f"bad{i}"] or 0):
            out.append(
                f"{PARAMS}.metrics.{m.name}: declared binary, but column '{m.column}' of {TABLE} has "
                f"{int(res[f'bad{i}'])} values other than 0/1. Fix: declare it numeric, or recode it to 0/1"
            )
    return out

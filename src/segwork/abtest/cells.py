"""Per-cell sufficient statistics (count, mean, centred sums of squares and cross-products per
campaign x segment x variant), aggregated once in pandas (``np.bincount``) or in the Ibis
backend, and the dense grid of cells the comparisons are computed on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd

from segwork.abtest.conventions import MISSING_SEGMENT, PARAMS, TABLE, ABTestError
from segwork.abtest.metrics import MetricsArg, _check_binary, _numeric, resolve_metrics
from segwork.schema import require_columns


# Sufficient statistics
def sufficient_stats(
    exposures: pd.DataFrame | ibis.Table,
    *,
    segment: str | None = None,
    metrics: MetricsArg = ("conversion", "revenue"),
    pre_metric: str | None = None,
    winsorize: float | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per campaign x segment x variant: n, mean and centred sum of squares (``m2``) of each metric
    (and of ``pre_metric`` with its centred cross-products ``cx_<metric>``); plus the winsorization
    caps per numeric metric and campaign. Everything downstream is computed from these (pandas or
    Ibis input). ``metrics`` as in :func:`resolve_metrics`."""
    if not isinstance(exposures, (pd.DataFrame, ibis.Table)):
        raise TypeError(
            f"exposures: expected a pandas DataFrame or an Ibis table, got {type(exposures).__name__}"
        )
    if winsorize is not None and not (0.5 < float(winsorize) < 1.0):
        raise ABTestError(
            f"{PARAMS}.winsorize: {winsorize!r} is not a quantile to cap amounts at; give one "
            "between 0.5 and 1 (e.g. 0.99), or null for no winsorization"
        )
    _check_segment(segment)
    require_columns(exposures.columns, ["campaign_id", "variant"], TABLE)
    resolved = resolve_metrics(metrics, exposures)
    needed = [m.column for m in resolved] + [c for c in (segment, pre_metric) if c]
    require_columns(exposures.columns, needed, TABLE)
    if isinstance(exposures, ibis.Table):
        return _stats_ibis(exposures, segment, resolved, pre_metric, winsorize)
    return _stats_pandas(exposures, segment, resolved, pre_metric, winsorize)


def _check_segment(segment: str | None) -> None:
    if segment in ("campaign_id", "variant"):
        raise ABTestError(
            f"{PARAMS}.segment_columns: '{segment}' is a key of {TABLE}, not a customer attribute; "
            "segment by a customer column such as a persona or an RFM segment"
        )


def _codes(series: pd.Series, name: str, *, allow_missing: bool) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(series, sort=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        if not allow_missing:
            raise ABTestError(
                f"table '{TABLE}', column '{name}': {int((codes < 0).sum())} missing values; "
                "every exposure needs a campaign_id and a variant"
            )
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_SEGMENT)
    return codes.astype(np.int64), labels


def _stats_pandas(df, segment, metrics, pre_metric, winsorize):
    cc, camps = _codes(df["campaign_id"], "campaign_id", allow_missing=False)
    vc, variants = _codes(df["variant"], "variant", allow_missing=False)
    if segment:
        sc, segs = _codes(df[segment], segment, allow_missing=True)
    else:
        sc, segs = np.zeros(len(df), dtype=np.int64), ["all"]
    C, S, V = len(camps), len(segs), len(variants)
    key = (cc * S + sc) * V + vc
    if C * S * V <= 20_000_000:
        counts = np.bincount(key, minlength=C * S * V)
        used = np.flatnonzero(counts)
        remap = np.cumsum(counts > 0) - 1
        inv = remap[key]
    else:  # pragma: no cover - huge key spaces
        used, inv = np.unique(key, return_inverse=True)
    k = len(used)
    n = np.bincount(inv, minlength=k).astype(float)
    out: dict[str, Any] = {}
    out["campaign_id"] = np.asarray(camps, dtype=object)[used // (S * V)]
    seg_idx = (used // V) % S
    out["segment"] = pd.Categorical.from_codes(seg_idx, categories=segs)
    out["variant"] = np.asarray(variants, dtype=object)[used % V]
    out["n"] = n
    caps: dict[str, dict[str, float]] = {}
    cols: dict[str, np.ndarray] = {}
    for m in metrics:
        y = _numeric(df, m.column)
        if m.binary:
            _check_binary(y, m.column)
        elif winsorize is not None:
            q = pd.Series(y).groupby(cc).quantile(float(winsorize)).to_numpy()
            caps[m.name] = {camps[i]: float(q[i]) for i in range(C)}
            y = np.minimum(y, q[cc])
        cols[m.name] = y
    if pre_metric:
        cols["pre"] = _numeric(df, pre_metric)
    centred = {}
    for name, y in cols.items():
        mean = np.bincount(inv, weights=y, minlength=k) / n
        d = y - mean[inv]
        out[f"mean_{name}"] = mean
        out[f"m2_{name}"] = np.bincount(inv, weights=d * d, minlength=k)
        centred[name] = d
    if pre_metric:
        for m in metrics:
            out[f"cx_{m.name}"] = np.bincount(
                inv, weights=centred["pre"] * centred[m.name], minlength=k
            )
    cells = pd.DataFrame(out)
    cells["campaign_id"] = cells["campaign_id"].astype("str")
    cells["variant"] = cells["variant"].astype("str")
    return cells, caps


def _stats_ibis(t: ibis.Table, segment, metrics, pre_metric, winsorize):
    seg = t[segment].cast("string").fill_null(MISSING_SEGMENT) if segment else ibis.literal("all")
    cols = {"_seg": seg}
    for m in metrics:
        cols[f"_{m.name}"] = t[m.column].cast("float64")
    if pre_metric:
        cols["_pre"] = t[pre_metric].cast("float64")
    t = t.mutate(**cols)
    names = [m.name for m in metrics] + (["pre"] if pre_metric else [])
    # checks of the keys and values, counted in the cell aggregation itself (one query) unless
    # winsorization needs them first (its per-campaign caps drop rows without a campaign)
    checks = {"_null_keys": (t.campaign_id.isnull() | t.variant.isnull()).sum()}
    for name in names:
        checks[f"_null_{name}"] = t[f"_{name}"].isnull().sum()
    binary = [m for m in metrics if m.binary]
    for m in binary:
        checks[f"_bad_{m.name}"] = ((t[f"_{m.name}"] != 0) & (t[f"_{m.name}"] != 1)).sum()
    column_of = {m.name: m.column for m in metrics} | {"pre": pre_metric}

    def check(chk) -> None:
        if chk["_null_keys"]:
            raise ABTestError(
                f"table '{TABLE}': {int(chk['_null_keys'])} rows without campaign_id or variant"
            )
        for name in names:
            if chk[f"_null_{name}"]:
                raise ABTestError(
                    f"table '{TABLE}', column '{column_of[name]}': {int(chk[f'_null_{name}'])} "
                    "missing values; fill them in the export (0 = no conversion / no revenue) or "
                    "drop those rows"
                )
        for m in binary:
            if chk[f"_bad_{m.name}"]:
                raise ABTestError(
                    f"table '{TABLE}', column '{m.column}': a binary outcome must be 0/1; found "
                    f"{int(chk[f'_bad_{m.name}'])} other values. Fix: declare it as numeric in "
                    f"{PARAMS}.metrics, or recode it to 0/1"
                )

    if winsorize is not None:
        check(t.aggregate(**checks).to_pandas().iloc[0])
    caps: dict[str, dict[str, float]] = {}
    if winsorize is not None:
        for m in metrics:
            if m.binary:
                continue
            col = f"_{m.name}"
            cap_t = t.group_by("campaign_id").aggregate(_cap=t[col].quantile(float(winsorize)))
            caps[m.name] = {
                str(k): float(v) for k, v in cap_t.to_pandas().itertuples(index=False, name=None)
            }
            t = t.join(cap_t, "campaign_id")
            t = t.mutate(**{col: ibis.least(t[col], t._cap)}).drop("_cap")
    aggs = {"n": t.count()}
    for name in names:
        aggs[f"mean_{name}"] = t[f"_{name}"].mean()
        aggs[f"var_{name}"] = t[f"_{name}"].var(how="pop")
    if pre_metric:
        for m in metrics:
            aggs[f"cov_{m.name}"] = t._pre.cov(t[f"_{m.name}"], how="pop")
    if winsorize is None:
        aggs.update(checks)
    g = t.group_by(["campaign_id", "_seg", "variant"]).aggregate(**aggs).to_pandas()
    if winsorize is None:
        check(g[list(checks)].sum())
    g = g.sort_values(["campaign_id", "_seg", "variant"], kind="stable").reset_index(drop=True)
    segs = sorted(g["_seg"].astype(str).unique())
    out = {
        "campaign_id": g["campaign_id"].astype("str"),
        "segment": pd.Categorical(g["_seg"].astype(str), categories=segs),
        "variant": g["variant"].astype("str"),
        "n": g["n"].astype(float),
    }
    for name in names:
        out[f"mean_{name}"] = g[f"mean_{name}"].astype(float)
        out[f"m2_{name}"] = g[f"var_{name}"].astype(float).fillna(0.0) * out["n"]
    if pre_metric:
        for m in metrics:
            out[f"cx_{m.name}"] = g[f"cov_{m.name}"].astype(float).fillna(0.0) * out["n"]
    cells = pd.DataFrame(out)
    return cells, caps


_SEP = "\x1f"  # joins the labels of several segment columns into one cell key


def segmentation_stats(
    exposures: pd.DataFrame | ibis.Table,
    columns: Sequence[str],
    *,
    metrics: MetricsArg = ("conversion", "revenue"),
    pre_metric: str | None = None,
    winsorize: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, float]]]:
    """:func:`sufficient_stats` of every combination of the segment ``columns`` in one
    aggregation (one query for an Ibis table), for :func:`combine_cells` to sum up to each column.

    Returns the cells (``segment`` is the combination's key), a frame with one column per
    segment column giving each cell's label in it, and the winsorization caps (the caps depend
    on the campaign only, so they are the same for every segmentation). Missing labels become
    ``(missing)`` as in :func:`sufficient_stats`.
    """
    columns = list(dict.fromkeys(columns))
    for c in columns:
        _check_segment(c)
    require_columns(exposures.columns, columns, TABLE)
    is_ibis = isinstance(exposures, ibis.Table)
    if not columns:
        t, segment = exposures, None
    elif is_ibis:
        parts = [exposures[c].cast("string").fill_null(MISSING_SEGMENT) for c in columns]
        combo = parts[0].concat(*[x for p in parts[1:] for x in (ibis.literal(_SEP), p)])
        t, segment = exposures.mutate(_segments=combo), "_segments"
    else:
        # one integer code per combination; each column's labels in its own order (sorted
        # values, missing last), as sufficient_stats orders a single column's segments
        codes = [_codes(exposures[c], c, allow_missing=True) for c in columns]
        combo = np.zeros(len(exposures), dtype=np.int64)
        for k, labs in codes:
            combo = combo * len(labs) + k
        t, segment = exposures.assign(_segments=combo), "_segments"
    cells, caps = sufficient_stats(
        t, segment=segment, metrics=metrics, pre_metric=pre_metric, winsorize=winsorize
    )
    labels: dict[str, Any] = {}
    if columns and is_ibis:
        split = cells["segment"].astype(str).str.split(_SEP, expand=True, regex=False)
        for i, c in enumerate(columns):
            labels[c] = pd.Categorical(split[i], categories=sorted(set(split[i])))
    elif columns:
        rest = cells["segment"].astype(str).astype(np.int64).to_numpy()
        for c, (_, labs) in reversed(list(zip(columns, codes, strict=True))):
            rest, k = np.divmod(rest, len(labs))
            labels[c] = pd.Categorical.from_codes(k, categories=labs)
    return cells, pd.DataFrame({c: labels[c] for c in columns}, index=cells.index), caps


def combine_cells(cells: pd.DataFrame, segment: pd.Series | None = None) -> pd.DataFrame:
    """Sum cells up to coarser ones: per campaign x ``segment`` (labels aligned with ``cells``;
    None: the whole campaign, segment 'all') x variant. Counts add; means are count-weighted;
    centred sums of squares and cross-products add their within-cell parts and the spread of the
    cell means (the parallel formula of Chan et al.), so the result equals
    :func:`sufficient_stats` of the coarser split up to rounding."""
    seg = pd.Series("all", index=cells.index) if segment is None else segment
    names = [c[len("mean_") :] for c in cells.columns if c.startswith("mean_")]
    crossed = [c[len("cx_") :] for c in cells.columns if c.startswith("cx_")]
    codes_c, camps = pd.factorize(cells["campaign_id"].astype(str), sort=True)
    codes_s, segs = pd.factorize(seg, sort=True)  # a Categorical keeps its category order
    codes_v, variants = pd.factorize(cells["variant"].astype(str), sort=True)
    S, V = len(segs), len(variants)
    key = (codes_c * S + codes_s) * V + codes_v
    used, inv = np.unique(key, return_inverse=True)
    k = len(used)
    n_i = cells["n"].to_numpy(dtype=float)
    n = np.bincount(inv, weights=n_i, minlength=k)
    out: dict[str, Any] = {
        "campaign_id": pd.array(np.asarray(camps, dtype=object)[used // (S * V)], dtype="str"),
        "segment": pd.Categorical.from_codes((used // V) % S, categories=[str(x) for x in segs]),
        "variant": pd.array(np.asarray(variants, dtype=object)[used % V], dtype="str"),
        "n": n,
    }
    dev = {}
    for name in names:
        m_i = cells[f"mean_{name}"].to_numpy(dtype=float)
        mean = np.bincount(inv, weights=n_i * m_i, minlength=k) / n
        dev[name] = m_i - mean[inv]
        out[f"mean_{name}"] = mean
        out[f"m2_{name}"] = np.bincount(
            inv,
            weights=cells[f"m2_{name}"].to_numpy(dtype=float) + n_i * dev[name] ** 2,
            minlength=k,
        )
    for name in crossed:
        out[f"cx_{name}"] = np.bincount(
            inv,
            weights=cells[f"cx_{name}"].to_numpy(dtype=float) + n_i * dev["pre"] * dev[name],
            minlength=k,
        )
    ordered = [c for c in cells.columns if c in out]
    return pd.DataFrame(out)[ordered]


# The dense grid of cells and the comparisons
_CONTROL_NAME = re.compile(
    r"control|ctrl|hold.?out|baseline|placebo|untreated|\bnone\b|^no\b|^no[ _-]|^without|kontrol",
    re.IGNORECASE,
)


def control_message(campaign: str, control: str, variants: Sequence[str]) -> str:
    """The message for a control variant that a campaign does not have, in the config's words,
    suggesting the variant whose name says it is a control group when exactly one does."""
    names = ", ".join(f"'{v}'" for v in variants)
    likely = [v for v in variants if _CONTROL_NAME.search(str(v))]
    fix = (
        f"set {PARAMS}.control: '{likely[0]}'"
        if len(likely) == 1
        else f"set {PARAMS}.control to the variant that got no treatment (one of {names})"
    )
    return (
        f"{PARAMS}.control: '{control}' is not a variant of campaign '{campaign}'; its variants "
        f"are {names}. Fix: {fix}"
    )


class _Grid:
    """Cell statistics as dense (campaign, segment, variant) arrays."""

    def __init__(self, cells: pd.DataFrame, control: str):
        self.cells = cells
        c, self.campaigns = pd.factorize(cells["campaign_id"], sort=True)
        s, segs = pd.factorize(cells["segment"], sort=True)
        v, self.variants = pd.factorize(cells["variant"], sort=True)
        self.segments = [str(x) for x in segs]
        self.idx = (c, s, v)
        self.shape = (len(self.campaigns), len(self.segments), len(self.variants))
        self.n = self.dense("n")
        self.control = control
        present = self.n.sum(1) > 0  # (C, V)
        for ci, camp in enumerate(self.campaigns):
            names = [str(self.variants[j]) for j in np.flatnonzero(present[ci])]
            if control not in names:
                raise ABTestError(control_message(str(camp), control, names))
            if len(names) < 2:
                raise ABTestError(
                    f"campaign '{camp}': only the control variant '{control}' is present; "
                    "nothing to compare it with"
                )
        self.ctrl = int(np.flatnonzero(np.asarray(self.variants) == control)[0])
        self.present = present
        self.seg_present = self.n.sum(2) > 0  # (C, S)

    def dense(self, col: str) -> np.ndarray:
        a = np.zeros(self.shape)
        a[self.idx] = self.cells[col].to_numpy(dtype=float)
        return a

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(campaign, segment, variant) of every comparison, in campaign/segment/variant order."""
        treat = self.present.copy()
        treat[:, self.ctrl] = False
        mask = self.seg_present[:, :, None] & treat[:, None, :]
        return np.nonzero(mask)


def _arm(grid: _Grid, col: str, c, s, v):
    a = grid.dense(col)
    return a[c, s, grid.ctrl], a[c, s, v]

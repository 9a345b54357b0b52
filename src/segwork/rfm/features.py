"""RFM features, scores, segment maps, segment KPIs, migration and breakdowns.

Two conventions for the features, chosen by one switch (see :func:`features`):

* ``classic`` - for RFM scoring and marketing segments: recency = days since the last purchase,
  frequency = purchases in the window, monetary = net revenue in the window.
* ``clv`` - the Buy-Till-You-Die convention of the CLV literature and of lifetimes /
  PyMC-Marketing (``summary_data_from_transaction_data`` / ``rfm_summary``): frequency = repeat
  purchase periods, recency = first to last purchase, T = first purchase to the analysis date,
  monetary = mean spend per repeat period. These are the inputs of BG/NBD and Gamma-Gamma.

Features are aggregated through Ibis (DuckDB by default); only the per-customer result comes into
pandas. Scores, segments, KPIs, migration and breakdowns work on the per-customer DataFrame.

Decisions (details in the docstrings): a row with amount >= 0 is a purchase (free items and
full discounts are purchases, as in the buy-till-you-die literature); returns (amount < 0) reduce
revenue on their own day; in the clv convention a period with returns counts as a purchase only
if its net revenue is > 0. Quantile scores keep bins
equal-sized by breaking ties with a fixed hash of customer_id. The default segment map is
Putler's R x FM table in its 5 x 5 grid form (a partition of the 125 codes); for bins != 5 the
built-in maps work on scores scaled to quintiles. The plots (rf_heatmap, segment_bars,
migration_heatmap) live here for now.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd
import yaml

from segwork import progress
from segwork.customers import age_band, company_size_band
from segwork.errors import SegworkError
from segwork.schema import SchemaError, as_ibis, is_return, require_columns

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "RF_GRID_SEGMENT_MAP",
    "INACTIVE",
    "NEW",
    "MigrationResult",
    "RFMError",
    "RFMNotApplicable",
    "RFMWarning",
    "SegmentMapError",
    "age_band",
    "breakdown",
    "company_size_band",
    "coverage_text",
    "features",
    "migration",
    "migration_heatmap",
    "rf_heatmap",
    "score",
    "segment_bars",
    "segment_kpis",
    "segment_lookup",
    "tie_break_order",
    "validate_segment_map",
]

ORDER_COLUMNS = ("order_id", "customer_id", "order_date", "amount")
UNIT_DAYS = {"D": 1, "W": 7}
NEW = "new"  # migration: customer whose first purchase ever falls after the earlier snapshot
INACTIVE = "inactive"  # migration: bought before the earlier snapshot, but was not scored then
GONE = "gone"  # migration: customer who left the feature window (only with window_days)
UNKNOWN = "(unknown)"


class RFMError(SegworkError, ValueError):
    """RFM input that cannot be computed (empty window, bad parameter); the message says why."""


class SegmentMapError(RFMError):
    """A segment map that is not a partition of all RFM codes.

    ``missing`` lists the codes no segment claims, ``duplicates`` maps codes claimed by more than
    one segment to those segments, ``unmatched`` lists entries that match no code.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        duplicates: Mapping[str, Sequence[str]] | None = None,
        unmatched: Sequence[str] = (),
    ):
        self.missing = list(missing)
        self.duplicates = {k: list(v) for k, v in (duplicates or {}).items()}
        self.unmatched = list(unmatched)
        super().__init__(message)


class RFMNotApplicable(RFMError):
    """A section that this data cannot support (e.g. migration without an earlier period); the
    message is the one plain sentence the page shows instead."""


class RFMWarning(UserWarning):
    """Something about the data the analyst should know (collapsed quantiles, customers left out)."""


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------
def _parse_date(value: Any, name: str = "analysis_date") -> pd.Timestamp:
    """A timezone-naive day (midnight) from a date-like value, or a clear error."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise RFMError(
            f"{name} {value!r} is not a date ({e}); pass e.g. '2025-06-30' or a pandas Timestamp"
        ) from None
    if pd.isna(ts):
        raise RFMError(
            f"{name} is missing ({value!r}); pass e.g. '2025-06-30' or a pandas Timestamp"
        )
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return ts.normalize()


def _orders_table(orders: pd.DataFrame | ibis.Table) -> ibis.Table:
    """The four contract columns of the orders, with order_date as a timestamp."""
    t = as_ibis(orders)
    require_columns(t.columns, ORDER_COLUMNS, "orders")
    od = t.order_date
    if not od.type().is_timestamp():
        if od.type().is_date() or od.type().is_string():
            od = od.cast("timestamp")
        else:
            raise SchemaError(
                "orders",
                f"order_date has type {od.type()}, expected a date or timestamp",
                column="order_date",
                fix="parse the column as dates before calling rfm.features",
            )
    if not t.amount.type().is_numeric():
        raise SchemaError(
            "orders",
            f"amount has type {t.amount.type()}, expected a number",
            column="amount",
            fix="cast the amount column to float (money is float64)",
        )
    # a zero-amount return (a cancelled free order) changes no revenue and is no purchase
    t = t.filter(~is_return(t) | (t.amount < 0)) if "is_return" in t.columns else t
    return t.select(
        customer_id=t.customer_id, order_id=t.order_id, ts=od, amount=t.amount.cast("float64")
    )


def _check_orders(
    t: ibis.Table, in_window: ibis.BooleanValue, after: ibis.BooleanValue, where: str
) -> dict[str, int]:
    """One scan for what would otherwise be dropped silently: null keys, rows in/after the window."""
    stats = (
        t.aggregate(
            rows=t.count(),
            null_customer_id=t.customer_id.isnull().sum(),
            null_order_date=t.ts.isnull().sum(),
            null_amount=t.amount.isnull().sum(),
            in_window=in_window.sum(),
            after=after.sum(),
            customers_to_date=t.customer_id.nunique(where=~after),
            customers_in_window=t.customer_id.nunique(where=in_window),
        )
        .to_pandas()
        .iloc[0]
    )
    out = {k: int(0 if pd.isna(v) else v) for k, v in stats.items()}
    for col in ("customer_id", "order_date", "amount"):
        if out[f"null_{col}"]:
            raise SchemaError(
                "orders",
                f"{out[f'null_{col}']:,} rows have no {col}",
                column=col,
                fix="validate the orders with segwork.sources (or drop those rows) first",
            )
    if out["in_window"] == 0:
        raise RFMError(
            f"table 'orders': no orders {where} (the table has {out['rows']:,} rows); "
            "check analysis_date / window_days against the order dates"
        )
    return out


def features(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: Any,
    convention: Literal["classic", "clv"] = "classic",
    time_unit: Literal["D", "W"] = "D",
    window_days: int | None = None,
    frequency_unit: Literal["orders", "days"] = "orders",
    monetary: Literal["sum", "mean"] = "sum",
) -> pd.DataFrame:
    """Per-customer RFM features as of ``analysis_date``, indexed by customer_id.

    ``orders`` is a pandas DataFrame (wrapped as an Ibis memtable) or an Ibis table with order_id,
    customer_id, order_date and amount; the aggregation runs in the Ibis backend (DuckDB).

    Common rules. The analysis date is a whole day: orders up to its end count, later orders are
    excluded (their count is in ``attrs["orders_after_analysis_date"]``). ``window_days=w`` keeps
    only the last w days up to and including the analysis date; the default is all history.
    A purchase is a row with amount >= 0: a free item or a fully discounted order is a purchase,
    as in the buy-till-you-die literature (CDNOW has 80 such orders). Returns are rows with a
    negative amount; they reduce revenue on the day they are booked (not on the day of the
    original order).

    ``convention="classic"`` (RFM scoring).

    * recency: days from the last purchase to the analysis date (0 = bought that day); in weeks
      (days / 7, a float) with ``time_unit="W"``.
    * frequency: distinct order_ids with a purchase row in the window, or with
      ``frequency_unit="days"`` distinct calendar days with a purchase row. A day with purchases
      counts even if returns booked that day make its net revenue zero or negative.
    * monetary: net revenue in the window (purchases minus returns, so it can be <= 0 when
      returns of older orders fall in the window); ``monetary="mean"`` divides it by frequency.

    ``convention="clv"`` (BG/NBD, Gamma-Gamma), as lifetimes ``summary_data_from_transaction_data``
    and PyMC-Marketing ``rfm_summary``: order dates are floored to periods of ``time_unit`` (days,
    or ISO weeks starting Monday as pandas' ``to_period("W")``), all rows of a customer in one
    period are summed (same-day orders are one purchase), and

    * frequency: purchase periods minus one (repeat purchases),
    * recency: periods from the first to the last purchase period,
    * T: periods from the first purchase period to the analysis date's period,
    * monetary: mean net spend of the repeat purchase periods (first period excluded; 0 when
      frequency is 0).

    A period without returns is a purchase period (also when its orders are all free: amount 0);
    a period with returns is a purchase period only when its net revenue is > 0. lifetimes and
    PyMC-Marketing count every row, so a return-only day would be a "repeat purchase" with negative
    spend; the BTYD models describe purchases, so here a period with returns and net revenue <= 0
    (returns only, or purchases fully returned the same period) is not a purchase and its revenue
    is not in monetary. Without returns the two agree exactly (tested on CDNOW against lifetimes).
    Unlike lifetimes with ``freq="W"``, orders after the analysis date in its own week are excluded.

    Customers with orders in the window but no purchase (classic) or no purchase period (clv) are
    left out; their number is in ``attrs["customers_excluded"]`` and an :class:`RFMWarning` says so.
    ``attrs["coverage"]`` counts, for the page (see :func:`coverage_text`): customers with orders up
    to the analysis date, those scored, those whose orders all fall before the window, and those
    left out for returns only.

    Raises :class:`~segwork.schema.SchemaError` for missing columns (naming those present) and
    :class:`RFMError` for an unparsable analysis date or an empty window.
    """
    if convention not in ("classic", "clv"):
        raise RFMError(f"convention must be 'classic' or 'clv', got {convention!r}")
    if time_unit not in UNIT_DAYS:
        raise RFMError(f"time_unit must be 'D' (days) or 'W' (weeks), got {time_unit!r}")
    if frequency_unit not in ("orders", "days"):
        raise RFMError(f"frequency_unit must be 'orders' or 'days', got {frequency_unit!r}")
    if monetary not in ("sum", "mean"):
        raise RFMError(f"monetary must be 'sum' or 'mean', got {monetary!r}")
    if convention == "clv" and (frequency_unit != "orders" or monetary != "sum"):
        raise RFMError(
            "frequency_unit and monetary apply to the classic convention only; the clv convention "
            "always counts purchase periods and uses the mean spend per repeat period"
        )
    if window_days is not None and (
        not isinstance(window_days, int | np.integer) or window_days < 1
    ):
        raise RFMError(
            f"window_days must be a positive whole number of days or None, got {window_days!r}"
        )
    ref = _parse_date(analysis_date)
    end = ref + pd.Timedelta(days=1)  # the analysis date is a whole day
    start = None if window_days is None else end - pd.Timedelta(days=int(window_days))

    t = _orders_table(orders)
    in_window = t.ts < end
    if start is not None:
        in_window = in_window & (t.ts >= start)
    where = f"on or before {ref.date()}" + (
        "" if start is None else f" in the {window_days} days up to it"
    )
    stats = _check_orders(t, in_window, t.ts >= end, where)
    t = t.filter(in_window)

    if convention == "classic":
        df = _classic(t, ref, time_unit, frequency_unit, monetary)
    else:
        df = _clv(t, ref, time_unit)
    excluded = int(df.attrs.pop("excluded"))
    if df.empty:
        raise RFMError(
            f"table 'orders': no purchases (amount >= 0) {where}; "
            f"{stats['in_window']:,} rows in the window are all returns"
            + (" or purchases returned in full" if convention == "clv" else "")
        )
    if excluded:
        warnings.warn(
            f"{excluded:,} customers with orders {where} have only returns"
            f"{' (or purchases returned in full)' if convention == 'clv' else ''} there and are "
            "left out of the RFM features",
            RFMWarning,
            stacklevel=2,
        )
    df.attrs = {
        "convention": convention,
        "analysis_date": str(ref.date()),
        "time_unit": time_unit,
        "window_days": None if window_days is None else int(window_days),
        "frequency_unit": frequency_unit if convention == "classic" else "periods",
        "monetary": monetary if convention == "classic" else "mean_repeat",
        "customers_excluded": excluded,
        "orders_after_analysis_date": stats["after"],
        "coverage": {
            "customers_with_orders": stats["customers_to_date"],
            "scored": len(df),
            "before_window": stats["customers_to_date"] - stats["customers_in_window"],
            "only_returns": excluded,
        },
    }
    return df


def coverage_text(features: pd.DataFrame, *, customers_total: int | None = None) -> str:
    """One paragraph for the page: how many customers were scored, how many left out and why.

    ``features`` is the output of :func:`features` (its ``attrs["coverage"]``);
    ``customers_total`` is the number of customers known to the run (e.g. the customer table),
    so that customers who never ordered are counted too.
    """
    a = features.attrs
    cov = a.get("coverage")
    if not cov:
        raise RFMError("coverage_text needs the output of rfm.features (attrs['coverage'])")
    date = pd.Timestamp(a["analysis_date"])
    window = a.get("window_days")
    where = (
        f"up to {date:%d %b %Y}"
        if window is None
        else (f"in the {window:,} days up to {date:%d %b %Y}")
    )
    reasons = []
    if cov["before_window"]:
        reasons.append(
            f"{cov['before_window']:,} whose orders all lie before those {window:,} days"
        )
    if cov["only_returns"]:
        reasons.append(
            f"{cov['only_returns']:,} with only returns there"
            + (" (or purchases returned in full)" if a.get("convention") == "clv" else "")
        )
    if customers_total is not None and customers_total > cov["customers_with_orders"]:
        reasons.append(
            f"{customers_total - cov['customers_with_orders']:,} known customers without any "
            f"order {f'up to {date:%d %b %Y}'}"
        )
    scored = cov["scored"]
    total = max(customers_total or 0, cov["customers_with_orders"])
    text = (
        f"{scored:,} of {total:,} customers ({scored / total:.0%}) are scored: "
        f"everyone with a purchase {where} (an order of amount 0 counts as a purchase)."
    )
    text += (" Left out: " + "; ".join(reasons) + ".") if reasons else " Nobody is left out."
    after = a.get("orders_after_analysis_date", 0)
    if after:
        text += f" {after:,} order rows dated after {date:%d %b %Y} are not counted."
    return text


def _classic(
    t: ibis.Table, ref: pd.Timestamp, time_unit: str, frequency_unit: str, monetary: str
) -> pd.DataFrame:
    purchase = t.amount >= 0
    aggs: dict[str, Any] = {"last_purchase": t.ts.max(where=purchase), "revenue": t.amount.sum()}
    if frequency_unit == "orders":
        aggs["n"] = t.order_id.nunique(where=purchase)
    else:
        aggs["n"] = t.ts.truncate("D").nunique(where=purchase)
    raw = (
        progress.to_pandas(
            t.group_by("customer_id").aggregate(**aggs), "RFM features: aggregating orders"
        )
        .set_index("customer_id")
        .sort_index()
    )
    keep = raw["last_purchase"].notna()
    raw = raw.loc[keep]
    days = (ref - pd.to_datetime(raw["last_purchase"]).dt.normalize()).dt.days.astype("int64")
    recency = days if time_unit == "D" else days / UNIT_DAYS[time_unit]
    freq = raw["n"].astype("int64")
    revenue = raw["revenue"].astype("float64")
    out = pd.DataFrame(
        {
            "recency": recency,
            "frequency": freq,
            "monetary": revenue if monetary == "sum" else revenue / freq,
        }
    )
    out.index.name = "customer_id"
    out.attrs["excluded"] = int((~keep).sum())
    return out


def _clv(t: ibis.Table, ref: pd.Timestamp, time_unit: str) -> pd.DataFrame:
    per = (
        t.mutate(period=t.ts.truncate(time_unit))
        .group_by(["customer_id", "period"])
        .aggregate(net=t.amount.sum(), lowest=t.amount.min())
    )
    buy = (per.net > 0) | (per.lowest >= 0)  # no returns, or more bought than returned
    summary = per.group_by("customer_id").aggregate(
        first=per.period.min(where=buy),
        last=per.period.max(where=buy),
        n=buy.sum(),
        total=per.net.sum(where=buy),
        first_net=per.net.argmin(per.period, where=buy),
    )
    raw = (
        progress.to_pandas(summary, "CLV features: aggregating purchase periods")
        .set_index("customer_id")
        .sort_index()
    )
    keep = raw["n"].fillna(0) > 0
    raw = raw.loc[keep]
    unit = pd.Timedelta(days=UNIT_DAYS[time_unit])
    ref_period = (
        ref if time_unit == "D" else ref - pd.Timedelta(days=ref.weekday())
    )  # Monday, as to_period("W")
    first, last = pd.to_datetime(raw["first"]), pd.to_datetime(raw["last"])
    n = raw["n"].astype("int64")
    repeat = n - 1
    spend = (raw["total"] - raw["first_net"]) / repeat.where(repeat > 0)
    out = pd.DataFrame(
        {
            "frequency": repeat,
            "recency": ((last - first) / unit).astype("float64"),
            "T": ((ref_period - first) / unit).astype("float64"),
            "monetary": spend.fillna(0.0).astype("float64"),
        }
    )
    out.index.name = "customer_id"
    out.attrs["excluded"] = int((~keep).sum())
    return out


# --------------------------------------------------------------------------------------------
# segment maps
# --------------------------------------------------------------------------------------------
SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "Recent Customers",
    "Promising",
    "Needs Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)

# The default map: Putler's R vs "F-M" table ("RFM Analysis For Successful Customer
# Segmentation", putler.com/rfm-analysis: Champions R 4-5 / FM 4-5, Loyal Customers R 2-5 /
# FM 3-5, ..., Lost R 0-2 / FM 0-2) overlaps and leaves gaps, so it is used in the discretised
# form that circulates in SQL RFM case studies: one segment per (R, FM) cell of a 5 x 5 grid with
# FM = ceil((F + M) / 2). Every (R, F, M) code lands in exactly one cell, so the 125 codes are
# partitioned by construction. Rows: R = 5 (top) .. 1; columns: FM = 1 .. 5.
_R_FM_GRID = {
    5: ("Recent Customers", "Potential Loyalist", "Loyal Customers", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal Customers", "Champions"),
    3: ("Promising", "Needs Attention", "Potential Loyalist", "Loyal Customers", "Loyal Customers"),
    2: ("About To Sleep", "Needs Attention", "Needs Attention", "At Risk", "At Risk"),
    1: ("Lost", "Hibernating", "At Risk", "Can't Lose Them", "Can't Lose Them"),
}


def _default_map() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in SEGMENTS}
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        out[_R_FM_GRID[r][math.ceil((f + m) / 2) - 1]].append(f"{r}{f}{m}")
    return out


DEFAULT_SEGMENT_MAP: dict[str, list[str]] = _default_map()

# The common 10-segment R x F grid (M ignored), in the regex form it circulates in (e.g.
# r'[1-2][1-2]': 'hibernating' ... r'5[4-5]': 'champions'); patterns of two digits apply to R, F.
RF_GRID_SEGMENT_MAP: dict[str, list[str]] = {
    "Champions": ["5[4-5]"],
    "Loyal Customers": ["[3-4][4-5]"],
    "Potential Loyalist": ["[4-5][2-3]"],
    "New Customers": ["51"],
    "Promising": ["41"],
    "Needs Attention": ["33"],
    "About To Sleep": ["3[1-2]"],
    "At Risk": ["[1-2][3-4]"],
    "Can't Lose Them": ["[1-2]5"],
    "Hibernating": ["[1-2][1-2]"],
}

# The order segments are listed in (best first), for tables and charts.
SEGMENT_ORDER = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "Recent Customers",
    "New Customers",
    "Promising",
    "Needs Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)


def _all_codes(bins: int) -> list[str]:
    return ["".join(map(str, c)) for c in itertools.product(range(1, bins + 1), repeat=3)]


def _load_map(segment_map: Mapping[str, Any] | str | Path) -> dict[str, list[str]]:
    """A user map from a dict, a YAML file path or YAML text, as segment -> list of entries."""
    data: Any = segment_map
    if isinstance(segment_map, Path) or (
        isinstance(segment_map, str)
        and "\n" not in segment_map
        and segment_map.lower().endswith((".yml", ".yaml"))
    ):
        path = Path(segment_map)
        if not path.is_file():
            raise SegmentMapError(f"segment map file {str(path)!r} does not exist")
        data = path.read_text(encoding="utf-8")
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as e:
            raise SegmentMapError(
                f"segment map is not valid YAML: {e}; quote patterns such as '[1-2]5'"
            ) from None
    if not isinstance(data, Mapping) or not data:
        raise SegmentMapError(
            "a segment map must be a non-empty mapping 'segment name: [codes or patterns]', "
            f"got {type(data).__name__}"
        )
    out: dict[str, list[str]] = {}
    for name, entries in data.items():
        items = entries if isinstance(entries, list | tuple) else [entries]
        out[str(name)] = [str(e) for e in items]
    return out


def _expand(entry: str, codes: list[str]) -> list[str]:
    """Codes an entry claims: an exact code, a regex on the 3-digit code, or a 2-digit R-F regex."""
    if entry in codes:
        return [entry]
    try:
        rx = re.compile(entry)
    except re.error:
        return []
    hits = [c for c in codes if rx.fullmatch(c)]
    return hits or [c for c in codes if rx.fullmatch(c[:2])]


def validate_segment_map(
    segment_map: Mapping[str, Any] | str | Path, bins: int = 5
) -> dict[str, str]:
    """Check that a user map is a partition of all ``bins**3`` RFM codes; return code -> segment.

    The map is segment name -> list of entries (a dict, a path to a .yml/.yaml file, or YAML
    text; quote patterns in YAML: '[1-2]5'). An entry is
    a code ("545"), a regular expression matched against the whole code ("5[4-5][1-5]"), or a
    two-digit pattern matched against R and F only ("[1-2]5", M free), as in the common R x F grid.
    Raises :class:`SegmentMapError` listing the codes left over, the codes claimed by more than one
    segment, and entries that match no code.
    """
    bins = _check_bins(bins)
    m = _load_map(segment_map)
    codes = _all_codes(bins)
    claims: dict[str, list[str]] = {}
    unmatched = []
    for name, entries in m.items():
        for entry in entries:
            hits = _expand(entry, codes)
            if not hits:
                unmatched.append(f"{name}: {entry!r}")
            for code in hits:
                owners = claims.setdefault(code, [])
                if name not in owners:
                    owners.append(name)
    missing = [c for c in codes if c not in claims]
    dups = {c: owners for c, owners in claims.items() if len(owners) > 1}
    if missing or dups or unmatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} codes left over: {_short(missing)}")
        if dups:
            parts.append(
                f"{len(dups)} codes claimed twice: "
                + _short([f"{c} ({' & '.join(o)})" for c, o in sorted(dups.items())])
            )
        if unmatched:
            parts.append(f"entries matching no code (scores are 1..{bins}): {_short(unmatched)}")
        raise SegmentMapError(
            "segment map is not a partition of the RFM codes: "
            + "; ".join(parts)
            + ". Every code must map to exactly one segment.",
            missing=missing,
            duplicates=dups,
            unmatched=unmatched,
        )
    return {c: owners[0] for c, owners in sorted(claims.items())}


def _short(items: Sequence[str], limit: int = 40) -> str:
    head = ", ".join(items[:limit])
    return head + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _check_bins(bins: Any) -> int:
    if not isinstance(bins, int | np.integer) or isinstance(bins, bool) or not 2 <= bins <= 9:
        raise RFMError(
            f"bins must be a whole number from 2 to 9 (codes are one digit per score), got {bins!r}"
        )
    return int(bins)


def _to_quintile(score: int, bins: int) -> int:
    """The quintile (1..5) that contains the middle of score's bin on a 1..bins scale."""
    return int(math.floor((score - 0.5) * 5 / bins)) + 1


def segment_lookup(
    segment_map: Mapping[str, Any] | str | Path = "default", bins: int = 5
) -> tuple[dict[str, str], list[str]]:
    """code -> segment for every code of ``bins`` scores, and the segment names in display order.

    ``"default"`` and ``"rf_grid"`` are defined on 1..5 scores; for other ``bins`` each score is
    first mapped to the quintile containing the middle of its bin (for bins=3: 1->1, 2->3, 3->5),
    so a 3-bin "3" (top third) is treated like a quintile "5". User maps are written for ``bins``.
    """
    bins = _check_bins(bins)
    if isinstance(segment_map, str) and segment_map in ("default", "rf_grid"):
        base = validate_segment_map(
            DEFAULT_SEGMENT_MAP if segment_map == "default" else RF_GRID_SEGMENT_MAP, 5
        )
        lookup = {
            c: base["".join(str(_to_quintile(int(d), bins)) for d in c)] for c in _all_codes(bins)
        }
        names = [s for s in SEGMENT_ORDER if s in set(lookup.values())]
        return lookup, names
    lookup = validate_segment_map(segment_map, bins)
    names = list(dict.fromkeys(_load_map(segment_map)))  # the user's order
    return lookup, [n for n in names if n in set(lookup.values())]


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------
def _score_inputs(features: pd.DataFrame) -> dict[str, pd.Series]:
    """Raw values per score, oriented so that larger = better (recency negated)."""
    need = ["recency", "frequency", "monetary"] + (["T"] if "T" in features else [])
    missing = [c for c in need if c not in features]
    if missing:
        raise RFMError(
            f"features lack column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(map(str, features.columns))}. Pass the output of rfm.features"
        )
    if features.index.has_duplicates:
        raise RFMError("features: customer_id (the index) is not unique")
    # clv convention: time since the last purchase is T - recency (as rfm_summary's RFM mode does)
    since_last = features["T"] - features["recency"] if "T" in features else features["recency"]
    out = {"R": since_last, "F": features["frequency"], "M": features["monetary"]}
    for k, s in out.items():
        if s.isna().any():
            raise RFMError(
                f"features: {int(s.isna().sum())} customers have no value for the {k} score; "
                f"e.g. {', '.join(map(str, s.index[s.isna()][:5]))}"
            )
    return out


def tie_break_order(ids: pd.Index) -> np.ndarray:
    """Position of each customer in the tie-break order: by a fixed hash of the id, then the id.

    The hash is ``pandas.util.hash_pandas_object`` of the ids as strings (SipHash with pandas'
    fixed key), so the order is the same on every run and machine, yet independent of how the ids
    were assigned.
    """
    text = pd.Series(ids.astype(str), dtype="string")
    h = pd.util.hash_pandas_object(text, index=False).to_numpy()
    order = np.argsort(h, kind="stable")
    if np.any(h[order][1:] == h[order][:-1]):  # a hash collision (rare): break it by the id text
        by_text = np.empty(len(text), dtype="int64")
        by_text[np.asarray(text.argsort())] = np.arange(len(text))
        order = np.lexsort((by_text, h))
    rank = np.empty(len(text), dtype="int64")
    rank[order] = np.arange(len(text))
    return rank


def _quantile_score(
    values: pd.Series, name: str, bins: int, higher_is_better: bool, tie_rank: np.ndarray
) -> np.ndarray:
    """Equal-sized quantile bins of values; ties broken by ``tie_rank`` (see :func:`score`)."""
    n = len(values)
    v = values.to_numpy(dtype="float64")
    edges = np.quantile(v, np.linspace(0, 1, bins + 1))
    if np.unique(edges).size == 1:
        warnings.warn(
            f"{name} score: all {n:,} customers have the same value ({v[0]:g}); every customer "
            f"gets the middle score {(bins + 1) // 2}",
            RFMWarning,
            stacklevel=3,
        )
        return np.full(n, (bins + 1) // 2, dtype="int64")
    if np.unique(edges).size < bins + 1:
        warnings.warn(
            f"{name} score: many customers share the same value, so the {bins} equal-sized groups "
            f"collapse ({np.unique(edges).size - 1} distinct value ranges for {bins} scores). To keep "
            f"the groups equal in size, customers with equal values are split between neighbouring "
            f"{name} scores in a fixed pseudo-random order (a hash of the customer id), so two customers with the same value "
            f"can get different {name} scores.",
            RFMWarning,
            stacklevel=3,
        )
    key = v if higher_is_better else -v
    order = np.lexsort((tie_rank, key))  # by value, then by the tie-break order
    rank = np.empty(n, dtype="float64")
    rank[order] = np.arange(1, n + 1)
    # bins of the ranks 1..n with right-closed edges at their quantiles, as pandas.qcut(rank)
    rank_edges = np.quantile(np.arange(1, n + 1, dtype="float64"), np.linspace(0, 1, bins + 1))
    return (np.searchsorted(rank_edges[1:-1], rank, side="left") + 1).astype("int64")


def _cut_score(
    values: pd.Series, name: str, edges: Sequence[float], bins: int, higher_is_better: bool
) -> np.ndarray:
    e = np.asarray(edges, dtype="float64")
    if e.ndim != 1 or e.size != bins - 1 or np.any(np.diff(e) <= 0) or np.isnan(e).any():
        raise RFMError(
            f"cut_points for {name} must be {bins - 1} strictly increasing numbers (bins={bins}), "
            f"got {list(edges)!r}"
        )
    idx = np.searchsorted(
        e, values.to_numpy(dtype="float64"), side="left"
    )  # bins (-inf, e1], (e1, e2], ...
    return (idx + 1 if higher_is_better else bins - idx).astype("int64")


def score(
    features: pd.DataFrame,
    *,
    bins: int = 5,
    segment_map: Mapping[str, Any] | str | Path = "default",
    cut_points: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """The features with R, F, M scores (1..bins), ``rfm_code`` (e.g. "545") and ``segment``.

    Quantile scoring with a stated tie policy: customers are ranked by value, ties broken by a
    fixed hash of customer_id (then customer_id; see :func:`tie_break_order`), and the ranks are
    cut into ``bins`` equal-sized groups (sizes differ by at most one; the same as
    ``pandas.qcut(values.rank(method="first"), bins)`` on a frame sorted in tie-break order). So
    equal values can straddle two scores; which customers of a tie land in the higher score is
    reproducible but unrelated to the id's order (ids usually grow with sign-up date, and breaking
    ties by the id itself would put every recent one-time buyer in F = 2, never F = 1, so "Recent
    Customers" would stay empty). When the quantile edges of
    the raw values collapse (many ties, typical for frequency) an :class:`RFMWarning` names the
    score; if all values of a score are equal every customer gets the middle score. Recency is
    inverted: the most recent customers get R = bins. For clv-convention features R uses the time
    since the last purchase, T - recency.

    ``cut_points`` = {"R": [...], "F": [...], "M": [...]} (or recency/frequency/monetary) gives
    ``bins - 1`` increasing raw-value edges for a score instead of quantiles; bins are right-closed
    ((-inf, e1], (e1, e2], ...), so for F [1, 2, 4, 8] means 1 / 2 / 3-4 / 5-8 / 9+ purchases and
    for R [30, 90, 180, 365] days gives R=5 up to 30 days.

    ``segment_map``: "default" (11 segments, Putler's R x FM rules, see DEFAULT_SEGMENT_MAP),
    "rf_grid" (the common 10-segment R x F grid), or a user map (dict, YAML file path or YAML
    text) checked by :func:`validate_segment_map`. The segment column is categorical with the
    segments in display order (best first), so empty segments still appear in KPIs and plots.
    """
    bins = _check_bins(bins)
    lookup, names = segment_lookup(segment_map, bins)
    raw = _score_inputs(features)
    cuts = _normalise_cut_points(cut_points)
    out = features.copy()
    tie_rank = tie_break_order(features.index)
    for name, values in raw.items():
        better = name != "R"
        if name in cuts:
            out[name] = _cut_score(values, name, cuts[name], bins, better)
        else:
            out[name] = _quantile_score(values, name, bins, better, tie_rank)
    if len(out) < bins:
        warnings.warn(
            f"only {len(out)} customers for {bins} bins: some scores are empty",
            RFMWarning,
            stacklevel=2,
        )
    out["rfm_code"] = (out["R"].astype(str) + out["F"].astype(str) + out["M"].astype(str)).astype(
        "string"
    )
    out["segment"] = pd.Categorical(out["rfm_code"].map(lookup).astype(object), categories=names)
    out.attrs = {
        **features.attrs,
        "bins": bins,
        "segment_map": segment_map
        if isinstance(segment_map, str) and "\n" not in segment_map
        else "custom",
    }
    return out


def _normalise_cut_points(
    cut_points: Mapping[str, Sequence[float]] | None,
) -> dict[str, Sequence[float]]:
    if not cut_points:
        return {}
    alias = {"R": "R", "F": "F", "M": "M", "recency": "R", "frequency": "F", "monetary": "M"}
    out = {}
    for k, v in cut_points.items():
        if k not in alias:
            raise RFMError(
                f"cut_points keys must be R, F, M (or recency, frequency, monetary), got {k!r}"
            )
        out[alias[k]] = v
    return out


# --------------------------------------------------------------------------------------------
# KPIs, migration, breakdowns
# --------------------------------------------------------------------------------------------
def _check_scored(scored: pd.DataFrame) -> None:
    if "segment" not in scored:
        raise RFMError(
            "expected scored features (a 'segment' column): pass the output of rfm.score; columns present: "
            + ", ".join(map(str, scored.columns))
        )


def _order_totals(
    orders: pd.DataFrame | ibis.Table, analysis_date: Any, window_days: int | None
) -> pd.DataFrame:
    """Net revenue and purchase orders per customer in the feature window (aggregated in Ibis)."""
    ref = _parse_date(analysis_date)
    end = ref + pd.Timedelta(days=1)
    t = _orders_table(orders)
    keep = t.ts < end
    if window_days is not None:
        keep = keep & (t.ts >= end - pd.Timedelta(days=int(window_days)))
    t = t.filter(keep)
    agg = t.group_by("customer_id").aggregate(
        revenue=t.amount.sum(), orders=t.order_id.nunique(where=t.amount >= 0)
    )
    return agg.to_pandas().set_index("customer_id")


def segment_kpis(
    scored: pd.DataFrame,
    orders: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any = None,
) -> pd.DataFrame:
    """Per segment: customers, customer_share, revenue, revenue_share, orders, avg_order_value,
    orders_per_customer and mean_recency, in display order (best segment first).

    Revenue is net revenue (returns subtracted) in the feature window and orders are purchase
    orders (distinct order_ids with amount >= 0); avg_order_value = revenue / orders of the segment.
    Without ``orders`` they come from classic features (monetary="sum", frequency_unit="orders");
    otherwise ``orders`` is aggregated (through Ibis) for the analysis date and window recorded in
    the features (or ``analysis_date``). mean_recency is the mean time since the last purchase in
    the features' time unit. Segments of the map without customers are kept with zeros.
    """
    _check_scored(scored)
    attrs = scored.attrs
    if orders is not None:
        date = analysis_date if analysis_date is not None else attrs.get("analysis_date")
        if date is None:
            raise RFMError("segment_kpis with orders needs the analysis date: pass analysis_date=")
        tot = _order_totals(orders, date, attrs.get("window_days")).reindex(scored.index)
        revenue, n_orders = tot["revenue"].fillna(0.0), tot["orders"].fillna(0).astype("int64")
    elif (
        attrs.get("convention", "classic") == "classic"
        and attrs.get("frequency_unit", "orders") == "orders"
        and attrs.get("monetary", "sum") == "sum"
        and "T" not in scored
    ):
        revenue, n_orders = (
            scored["monetary"].astype("float64"),
            scored["frequency"].astype("int64"),
        )
    else:
        raise RFMError(
            "these features do not carry revenue and order counts (clv convention, mean monetary or "
            "frequency in days): pass orders= to segment_kpis"
        )
    since_last = scored["T"] - scored["recency"] if "T" in scored else scored["recency"]
    frame = pd.DataFrame(
        {
            "segment": scored["segment"],
            "revenue": revenue,
            "orders": n_orders,
            "recency": since_last.astype("float64"),
        }
    )
    g = frame.groupby("segment", observed=False, sort=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "orders": g["orders"].sum(),
            "mean_recency": g["recency"].mean(),
        }
    )
    if isinstance(scored["segment"].dtype, pd.CategoricalDtype):
        out = out.reindex(list(scored["segment"].cat.categories))
    else:
        out = out.reindex(sorted(out.index, key=_segment_rank))
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0)
    out["customer_share"] = out["customers"] / out["customers"].sum()
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    out["avg_order_value"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    out["orders_per_customer"] = out["orders"] / out["customers"].where(out["customers"] > 0)
    out.index.name = "segment"
    out = out.reset_index()
    out["segment"] = out["segment"].astype(str)
    out.attrs = {"recency_unit": attrs.get("time_unit", "D")}
    return out[
        [
            "segment",
            "customers",
            "customer_share",
            "revenue",
            "revenue_share",
            "orders",
            "avg_order_value",
            "orders_per_customer",
            "mean_recency",
        ]
    ]


def _segment_rank(name: Any) -> tuple[int, str]:
    return (SEGMENT_ORDER.index(name) if name in SEGMENT_ORDER else len(SEGMENT_ORDER), str(name))


@dataclass
class MigrationResult:
    """Segment of each customer at an earlier snapshot and now, and the transition matrix.

    ``customers``: index customer_id, columns segment_before, segment_now ("new" before = first
    purchase ever after the earlier date; "inactive" before = bought earlier but not scored at the
    earlier date, e.g. no purchase in its window; "gone" now = no purchase in the current window,
    only with window_days). ``counts``: customers per (segment_before row, segment_now column), every
    segment of the map included even when empty. ``shares``: counts divided by their row total
    (NaN for an empty row).
    """

    customers: pd.DataFrame
    counts: pd.DataFrame
    shares: pd.DataFrame
    analysis_date: pd.Timestamp
    earlier_date: pd.Timestamp

    def summary(self) -> str:
        c = self.customers
        n = len(c)
        old = c[~c["segment_before"].isin([NEW, INACTIVE])]
        same = (
            (old["segment_before"].astype(str) == old["segment_now"].astype(str)).mean()
            if len(old)
            else np.nan
        )
        lines = [
            "RFM segment migration",
            "=" * 21,
            f"earlier snapshot : {self.earlier_date.date()}",
            f"now              : {self.analysis_date.date()}",
            f"customers        : {n:,} ({(c['segment_before'] == NEW).sum():,} first purchases "
            f"since the earlier snapshot, {(c['segment_before'] == INACTIVE).sum():,} inactive then)",
            f"stayed in segment: {same:.1%} of customers who existed before"
            if len(old)
            else "stayed in segment: n/a",
            "largest moves between segments:",
        ]
        moves = self.counts.stack()
        moves = moves[[a != b for a, b in moves.index]].sort_values(ascending=False).head(5)
        for (a, b), k in moves.items():
            if k:
                lines.append(f"  {a} -> {b}: {int(k):,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def migration(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: Any,
    earlier_days: int = 90,
    feature_kwargs: Mapping[str, Any] | None = None,
    **score_kwargs: Any,
) -> MigrationResult:
    """Each customer's segment ``earlier_days`` before the analysis date against now.

    Both snapshots are computed the same way (``features(**feature_kwargs)`` then
    ``score(**score_kwargs)``) from the orders up to each date only, so the earlier scores are
    relative to the customer base of that time (quantiles are re-estimated; pass ``cut_points`` to
    score both against fixed values). Customers whose first purchase ever (amount >= 0) falls after
    the earlier date are "new"; customers not scored at the earlier date who had bought before it
    (outside its window, or only returns in it) are "inactive" there; with ``window_days``
    customers whose purchases left the window are "gone" now. So a closed cohort (every first
    purchase long ago) shows no new customers.

    Raises :class:`RFMNotApplicable` when there is no purchase on or before the earlier date (the
    history is shorter than ``earlier_days``): there is nothing to compare with.
    """
    if not isinstance(earlier_days, int | np.integer) or earlier_days < 1:
        raise RFMError(f"earlier_days must be a positive whole number, got {earlier_days!r}")
    ref = _parse_date(analysis_date)
    earlier = ref - pd.Timedelta(days=int(earlier_days))
    fk = dict(feature_kwargs or {})
    t = as_ibis(orders)
    first = _first_purchases(t, ref)
    if first.empty or first.min() >= earlier + pd.Timedelta(days=1):
        start = (
            "no purchases" if first.empty else f"the first purchase is on {first.min():%d %b %Y}"
        )
        raise RFMNotApplicable(
            f"Segment migration is left out: it compares segments {int(earlier_days)} days "
            f"before the analysis date ({earlier:%d %b %Y}) with now, and {start}, so there is "
            "no earlier period to compare with."
        )
    now = score(features(t, analysis_date=ref, **fk), **score_kwargs)
    try:
        before = score(features(t, analysis_date=earlier, **fk), **score_kwargs)["segment"]
    except RFMError as e:
        if "no orders" not in str(e) and "no purchases" not in str(e):
            raise
        before = pd.Series(dtype=object)
    segments = list(now["segment"].cat.categories)
    ids = now.index.union(before.index)
    never = first.reindex(ids) >= earlier + pd.Timedelta(days=1)  # first purchase after then
    seg_before = before.astype(object).reindex(ids)
    seg_before = seg_before.where(seg_before.notna(), np.where(never, NEW, INACTIVE))
    seg_now = now["segment"].astype(object).reindex(ids).fillna(GONE)
    rows = [NEW, INACTIVE, *segments]
    cols = segments + ([GONE] if (seg_now == GONE).any() else [])
    table = pd.DataFrame(
        {
            "segment_before": pd.Categorical(seg_before, categories=rows),
            "segment_now": pd.Categorical(seg_now, categories=cols),
        },
        index=ids,
    )
    table.index.name = "customer_id"
    counts = (
        pd.crosstab(table["segment_before"], table["segment_now"], dropna=False)
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype("int64")
    )
    counts.index.name, counts.columns.name = "segment_before", "segment_now"
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    return MigrationResult(
        customers=table, counts=counts, shares=shares, analysis_date=ref, earlier_date=earlier
    )


def _first_purchases(t: ibis.Table, ref: pd.Timestamp) -> pd.Series:
    """Each customer's first purchase (amount >= 0) on or before ``ref``, aggregated in Ibis."""
    o = _orders_table(t)
    o = o.filter((o.ts < ref + pd.Timedelta(days=1)) & (o.amount >= 0))
    df = o.group_by("customer_id").aggregate(first=o.ts.min()).to_pandas()
    return pd.to_datetime(df.set_index("customer_id")["first"]).dt.normalize()


def breakdown(
    scored: pd.DataFrame,
    customers: pd.DataFrame,
    by: str,
    *,
    missing_label: str = UNKNOWN,
    top: int | None = None,
    other_label: str = "other",
) -> pd.DataFrame:
    """Segment shares by a profile attribute (age band, region, industry, company size band, ...).

    ``customers`` has one row per customer (customer_id as a column or the index) and the column
    ``by``; build bands with :func:`age_band` / :func:`company_size_band` first. Returns a tidy
    frame with one row per (``by`` value, segment): customers, group_customers, share (of the
    group's customers in the segment; sums to 1 per group) and lift (share / the segment's share
    of all customers; > 1 = over-represented). Scored customers without a profile row or value are
    counted under ``missing_label``. With ``top=n`` an unordered attribute keeps its n largest
    groups and pools the rest under ``other_label`` (shown last), so a chart of 40 countries stays
    readable.
    """
    _check_scored(scored)
    prof = customers.set_index("customer_id") if "customer_id" in customers.columns else customers
    if by not in prof.columns:
        hint = (
            " (build it with rfm.age_band(customers['birth_date'], analysis_date))"
            if by == "age_band"
            else " (build it with rfm.company_size_band(customers['employees']))"
            if "size" in by
            else ""
        )
        raise RFMError(
            f"table 'customers' has no column '{by}'{hint}; columns present: "
            + ", ".join(map(str, prof.columns))
        )
    if prof.index.has_duplicates:
        raise RFMError("table 'customers': customer_id is not unique")
    attr = prof[by].reindex(scored.index)
    ordered = isinstance(prof[by].dtype, pd.CategoricalDtype) and prof[by].cat.ordered
    key = attr.astype("string").fillna(missing_label)
    seg = scored["segment"]
    names = (
        list(seg.cat.categories)
        if isinstance(seg.dtype, pd.CategoricalDtype)
        else sorted(seg.dropna().unique(), key=_segment_rank)
    )
    counts = pd.crosstab(key, seg.astype(object)).reindex(columns=names, fill_value=0)
    if ordered:
        order = [str(c) for c in prof[by].cat.categories] + [missing_label]
        counts = counts.reindex([o for o in order if o in counts.index])
    else:
        counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
        if top is not None and len(counts) > top + 1:
            rest = counts.iloc[top:].sum(axis=0).rename(other_label)
            counts = pd.concat([counts.iloc[:top], rest.to_frame().T])
    overall = counts.sum(axis=0) / counts.to_numpy().sum()
    long = counts.stack().rename("customers").reset_index()
    long.columns = [by, "segment", "customers"]
    long["group_customers"] = long.groupby(by, sort=False)["customers"].transform("sum")
    long["share"] = long["customers"] / long["group_customers"]
    long["lift"] = long["share"] / long["segment"].map(overall).replace(0, np.nan)
    return long


# --------------------------------------------------------------------------------------------
# plots (seaborn style: DataFrame in, Axes out)
# --------------------------------------------------------------------------------------------
def _ax(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots()[1]


def rf_heatmap(
    scored: pd.DataFrame, *, value: Literal["customers", "monetary"] = "customers", ax=None
):
    """R x F grid (R = bins at the top) of customer counts or mean monetary value per cell."""
    import seaborn as sns

    _check_scored(scored)
    bins = int(scored.attrs.get("bins", max(scored["R"].max(), scored["F"].max())))
    levels = list(range(1, bins + 1))
    if value == "customers":
        grid = pd.crosstab(scored["R"], scored["F"]).reindex(
            index=levels, columns=levels, fill_value=0
        )
        fmt, label = ",d", "customers"
    elif value == "monetary":
        grid = scored.pivot_table(
            index="R", columns="F", values="monetary", aggfunc="mean"
        ).reindex(index=levels, columns=levels)
        fmt, label = ",.0f", "average monetary value"
    else:
        raise RFMError(f"value must be 'customers' or 'monetary', got {value!r}")
    ax = _ax(ax)
    sns.heatmap(
        grid.iloc[::-1], annot=True, fmt=fmt, cmap="crest", cbar_kws={"label": label}, ax=ax
    )
    ax.set_xlabel("F score (frequency)")
    ax.set_ylabel("R score (recency)")
    ax.set_title(
        "Customers per recency and frequency score"
        if value == "customers"
        else "Average monetary value per recency and frequency score"
    )
    return ax


def segment_bars(kpis: pd.DataFrame, *, ax=None):
    """Share of customers and share of revenue per segment, side by side (from segment_kpis)."""
    from segwork.plots import share_comparison

    need = ("segment", "customer_share", "revenue_share")
    missing = [c for c in need if c not in kpis]
    if missing:
        raise RFMError(
            f"segment_bars needs the output of segment_kpis; missing {', '.join(missing)}"
        )
    ax = share_comparison(
        kpis, category="segment", title="Segments: share of customers and of revenue", ax=_ax(ax)
    )
    return ax


def migration_heatmap(matrix: pd.DataFrame | MigrationResult, *, shares: bool = True, ax=None):
    """Transition matrix (rows: segment before, columns: segment now) as a heatmap.

    Accepts a :class:`MigrationResult` (its row shares, or counts with ``shares=False``) or a
    counts/shares DataFrame; shares are printed as percentages.
    """
    import seaborn as sns

    if isinstance(matrix, MigrationResult):
        # rows with no customer are left out (a closed cohort has no "new" row); each row label
        # carries how many customers the row's shares are of
        totals = matrix.counts.sum(axis=1)
        data = (matrix.shares if shares else matrix.counts).loc[totals > 0]
        data = data.rename(index=lambda s: f"{s} ({int(totals[s]):,})")
    else:
        data = matrix
    is_share = bool(np.nanmax(data.to_numpy(dtype="float64"), initial=0) <= 1.0) and shares
    ax = _ax(ax)
    sns.heatmap(
        data.astype("float64"),
        annot=True,
        fmt=".0%" if is_share else ",.0f",
        cmap="crest",
        vmin=0,
        vmax=1 if is_share else None,
        cbar=False,
        ax=ax,
    )
    ax.set_xlabel("segment now")
    ax.set_ylabel("segment before")
    ax.set_title(
        "Segment migration" + (" (share of each earlier segment)" if is_share else " (customers)")
    )
    return ax


def with_group_counts(b: pd.DataFrame, by: str) -> pd.DataFrame:
    """:func:`breakdown` with each group labelled by its customer count: "Praha (1,234)"."""
    counts = b["group_customers"].map(lambda n: f"{int(n):,}")
    return b.assign(**{by: b[by].astype(str) + " (" + counts + ")"})


def breakdowns_intro(columns: Sequence[str]) -> str:
    """The sentence before the segment-mix charts, naming the attributes in words."""
    names = [c.replace("_", " ") for c in columns]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"The segment mix by {listed}. A cell shows the share of that group's customers in the "
        "segment; under each chart, a test says whether the groups differ more than chance "
        "would explain."
    )


def breakdown_tests(
    breakdowns: Mapping[str, pd.DataFrame], *, alpha: float = 0.05
) -> dict[str, str]:
    """Whether the segment mix differs between the groups of each attribute, in one sentence each.

    A chi-square test of independence on the customer counts of :func:`breakdown` (groups x
    segments, empty rows and columns left out); the p-values are adjusted by Holm's method for
    the number of attributes tested, so a chart is not called different by chance alone.
    """
    from scipy.stats import chi2_contingency
    from statsmodels.stats.multitest import multipletests

    from segwork.abtest import _p_phrase

    tested: dict[str, tuple[float, int, int, int, float]] = {}
    out: dict[str, str] = {}
    for by, b in breakdowns.items():
        grid = b.pivot_table(
            index=by, columns="segment", values="customers", aggfunc="sum", observed=True
        )
        grid = grid.loc[grid.sum(axis=1) > 0, grid.sum(axis=0) > 0]
        name = by.replace("_", " ")
        if grid.shape[0] < 2 or grid.shape[1] < 2:
            out[by] = f"{name[:1].upper()}{name[1:]}: too few groups or segments to test."
            continue
        _, p, _, expected = chi2_contingency(grid.to_numpy())
        tested[by] = (
            float(p),
            int(grid.to_numpy().sum()),
            *grid.shape,
            float((expected < 5).mean()),
        )
    if tested:
        adjusted = multipletests([v[0] for v in tested.values()], method="holm")[1]
        k = len(tested)
        for (by, (_, n, groups, _segments, small)), p in zip(tested.items(), adjusted, strict=True):
            name = by.replace("_", " ")
            test = (
                f"chi-square test on {n:,} scored customers in {groups} groups, p "
                f"{_p_phrase(float(p))}"
                + (f", Holm-adjusted for the {k} attributes tested" if k > 1 else "")
            )
            if p < alpha:
                text = (
                    f"{name[:1].upper()}{name[1:]}: the segment mix differs between the groups "
                    f"more than chance would explain ({test})."
                )
            else:
                text = (
                    f"{name[:1].upper()}{name[1:]}: the segment mix does not differ between the "
                    f"groups beyond chance ({test}); the differences in this chart may be noise."
                )
            if small > 0.2:
                text += (
                    f" Many cells are small ({small:.0%} expect fewer than 5 customers), so the "
                    "test is approximate."
                )
            out[by] = text
    return {by: out[by] for by in breakdowns}


def scores_text(bins: int) -> str:
    """What a score means, for the run's number of score levels."""
    return (
        f"Each of the three scores runs from 1 (the customers lowest on it) to {bins} (the "
        f"highest): the scored customers are split into {bins} groups of about equal size per "
        "score, and the three scores together name the segment."
    )


def segment_table(kpis: pd.DataFrame, *, currency: str, window_days: int | None):
    """:func:`segment_kpis` as page 02 shows it: columns in words, cents only for small amounts,
    and a sentence saying what each column counts and over which days."""
    from segwork.display import PageTable, money_format

    names = {
        "segment": "segment",
        "customers": "customers",
        "customer_share": "share of customers",
        "revenue": f"net revenue ({currency})",
        "revenue_share": "share of revenue",
        "orders": "orders",
        "avg_order_value": f"average order value ({currency})",
        "orders_per_customer": "orders per customer",
        "mean_recency": "days since last purchase",
    }
    frame = kpis[[c for c in names if c in kpis]].rename(columns=names)
    formats = {
        "customers": "{:,}",
        "share of customers": "{:.1%}",
        names["revenue"]: money_format(kpis["revenue"]),
        "share of revenue": "{:.1%}",
        "orders": "{:,}",
        names["avg_order_value"]: money_format(kpis["avg_order_value"]),
        "orders per customer": "{:.1f}",
        "days since last purchase": "{:,.0f}",
    }
    window = (
        f"in the {window_days:,} days up to the analysis date"
        if window_days
        else "over the whole history"
    )
    note = (
        f"Net revenue, orders and orders per customer count purchases {window} (net revenue: "
        "purchases minus returns); average order value: net revenue per order; days since last "
        "purchase: the segment's average."
    )
    return PageTable(frame, {k: v for k, v in formats.items() if k in frame}, note)


def migration_text(moves: MigrationResult, *, window_days: int | None) -> str:
    """How to read :func:`migration_heatmap` of ``moves``: its rows, its special labels, and
    which of them are empty (left out of the chart)."""
    days = (moves.analysis_date - moves.earlier_date).days
    totals = moves.counts.sum(axis=1)
    columns = moves.counts.sum(axis=0)
    text = (
        f"Read across a row: of the customers who were in that segment {days} days ago (how many, "
        "in brackets), the share now in each segment."
    )
    labels = []
    if totals.get(NEW, 0) > 0:
        labels.append(f"'{NEW}': customers whose first purchase ever came after that date")
    if totals.get(INACTIVE, 0) > 0:
        labels.append(
            f"'{INACTIVE}': customers who had bought before but "
            + (
                f"had no purchase in the {window_days:,} days before that date"
                if window_days
                else "only returns up to that date"
            )
        )
    if columns.get(GONE, 0) > 0:
        labels.append(
            f"'{GONE}': customers with no purchase in the {window_days:,} days up to now, so they "
            "are no longer scored"
            if window_days
            else f"'{GONE}': customers no longer scored"
        )
    if labels:
        text += " " + "; ".join(labels) + "."
    if totals.get(NEW, 0) == 0:
        text += " No customer made a first purchase after that date, so there is no 'new' row."
    return text


def headline(kpis: pd.DataFrame, moves: MigrationResult | None = None) -> str:
    """The finding notebook 02 leads with: where the revenue is and which way customers move."""
    k = kpis.set_index("segment")
    top = k.sort_values("revenue_share", ascending=False).iloc[0]
    scored = int(k["customers"].sum())
    text = (
        f"{top.name} are {int(top['customers']):,} of the {scored:,} scored customers "
        f"({top['customer_share']:.0%}) but bring {top['revenue_share']:.0%} of these customers' "
        "net revenue."
    )
    risk = [s for s in ("At Risk", "Can't Lose Them") if s in k.index and k.loc[s, "customers"] > 0]
    if risk:
        n = int(k.loc[risk, "customers"].sum())
        share = float(k.loc[risk, "revenue_share"].sum())
        rec = k.loc[risk, "mean_recency"]
        since = (
            f"{rec.min():,.0f} days"
            if len(rec) == 1 or round(rec.min()) == round(rec.max())
            else f"{rec.min():,.0f} to {rec.max():,.0f} days"
        )
        text += (
            f" {n:,} customers who bought often or spent much have not bought for {since} on "
            f"average ({' and '.join(risk)}); they brought {share:.0%} of the revenue and are the "
            "first to win back."
        )
    if moves is not None:
        c = moves.customers
        old = c[~c["segment_before"].isin([NEW, INACTIVE])]
        if len(old):
            same = old["segment_before"].astype(str) == old["segment_now"].astype(str)
            gone = int((old["segment_now"] == GONE).sum())
            new = int((c["segment_before"] == NEW).sum())
            back = int(((c["segment_before"] == INACTIVE) & (c["segment_now"] != GONE)).sum())
            text += (
                f"\n\nOf the {len(old):,} customers scored on {moves.earlier_date:%d %b %Y}, "
                f"{int(same.sum()):,} ({same.mean():.0%}) are in the same segment now"
                + (
                    f" and {gone:,} ({gone / len(old):.0%}) are no longer scored (no purchase in "
                    "the current scoring window)"
                    if gone
                    else ""
                )
                + ". Since then "
                + (f"{new:,} first-time buyers arrived" if new else "no first-time buyers arrived")
                + (f" and {back:,} earlier customers came back." if back else ".")
            )
    return text


def customer_table(scored: pd.DataFrame) -> pd.DataFrame:
    """The per-customer RFM columns later notebooks and rules read, with unambiguous names.

    recency/frequency/monetary become rfm_recency/rfm_frequency/rfm_monetary and segment becomes
    rfm_segment, so they cannot be confused with the customer 360's own behaviour columns.
    """
    renames = {
        "recency": "rfm_recency",
        "frequency": "rfm_frequency",
        "monetary": "rfm_monetary",
        "segment": "rfm_segment",
    }
    cols = [
        c
        for c in ("recency", "frequency", "monetary", "R", "F", "M", "rfm_code", "segment")
        if c in scored
    ]
    return scored[cols].rename(columns=renames)


def segment_members(table: pd.DataFrame, *, column: str = "rfm_segment") -> pd.DataFrame:
    """One boolean column per segment (customers in rows), the membership form exports take."""
    labels = table[column].dropna().astype(str)
    return pd.get_dummies(labels).astype(bool).reindex(table.index, fill_value=False)

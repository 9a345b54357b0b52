"""Campaigns that are still running: a sequential decision at every scheduled run, carried forward.

A scheduled run that re-tests a running campaign with a fixed-horizon test is peeking. Here each
running campaign is judged on the always-valid confidence sequence of
:mod:`segwork.abtest.sequential` (GrowthBook's sequential option), per variant against the
control, on the decision metric:

* **stop - harm**: the interval lies entirely below 0 (the variant is worse than control);
* **stop - winner**: the interval lies entirely above the smallest useful effect
  (``min_lift x control mean``; above 0 when there is no minimum);
* **stop - futility**: with a smallest useful effect, the interval lies entirely below it (the
  variant cannot be worth rolling out, even if it is not worse); without one, the campaign's
  plan is used instead: the planned end date has passed or the expected number of customers
  has been reached while the interval still contains 0 (the test ran its course undecided).
  Without a minimum and without a plan there is no futility stop, and the page says so;
* **keep running** otherwise.

Several variants share ``alpha`` by Bonferroni (``alpha / variants`` per comparison), so the
chance that any variant of an A/A campaign is ever stopped stays at most ``alpha``.

**Tuning** (``n_expected``, gbstats' ``N``: total customers of control + variant where the
sequence is tightest; ``rho`` follows from it). It must not move with the outcomes, so it is
fixed at the campaign's first look and carried in the state: from the declared plan
(``expected_customers`` times the comparison's share of the campaign, or the customers expected
by ``planned_end`` at the first look's traffic) or, with no plan, ``max(5,000, 2 x customers at
the first look)`` (gbstats' default 5,000 is a total; twice the first look keeps the sequence
tight from the first look on for large campaigns). A changed plan re-tunes it.

**Carried decisions** (:func:`monitor`): once a comparison stops, later runs keep the stop (run,
date and figures at the stop) and never reverse it; when newer data disagree, a note says so.

**Expected decision date** (:func:`project_decision`): at the current traffic and with the
current estimate and variance unchanged, the first day the half-width (which shrinks roughly
like ``sqrt(log n / n)``) is small enough for the interval to clear 0 (or the minimum) on the
estimate's side, or to fall below the minimum (futility).

Pure: tables in, tables out; no file I/O.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd
from scipy import optimize

from segwork.abtest.conventions import PARAMS, TABLE, ABTestError
from segwork.abtest.sequential import (
    DEFAULT_N_EXPECTED,
    fixed_horizon_interval,
    sequential_halfwidth,
    sequential_interval,
    sequential_rho,
)
from segwork.schema import as_ibis, to_day

Decision = Literal["keep running", "winner", "harm", "futility"]
STOPS: tuple[str, ...] = ("winner", "harm", "futility")
#: The decisions as the page and the decision table write them.
DECISION_WORDS: dict[str, str] = {
    "keep running": "keep running",
    "winner": "stop — winner",
    "harm": "stop — harm",
    "futility": "stop — futility",
}
HORIZON_DAYS = 180
"""A decision expected later than this many days is 'not within 180 days at the current traffic'."""
TRAFFIC_WINDOW_DAYS = 7
"""Traffic is the customers assigned per day over the last 7 days (fewer for a younger campaign)."""

PLAN_KEYS = ("planned_end", "expected_customers", "started")

#: Columns of the state table (dataset ``ab_running``), one row per campaign and variant.
STATE_COLUMNS = [
    "campaign_id",
    "variant",
    "control",
    "metric",
    "declared",  # in this run's ``running`` parameter
    "decision",  # keep running / winner / harm / futility (carried once stopped)
    "run_id",
    "as_of",
    "started",
    "days_running",
    "n_control",
    "n_variant",
    "control_mean",
    "variant_mean",
    "diff",
    "low",
    "high",
    "fixed_low",
    "fixed_high",
    "alpha",
    "n_expected",
    "rho",
    "plan",
    "threshold",
    "per_day",
    "plan_reached",
    "expected_date",
    "expected_kind",
    "expected_text",
    "first_run",
    "first_date",
    "stop_run",
    "stop_date",
    "stop_n",
    "stop_diff",
    "stop_low",
    "stop_high",
    "note",
]


# --------------------------------------------------------------------------------------
# The running parameter
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunningPlan:
    """What the user declared about one running campaign (all optional)."""

    campaign_id: str
    planned_end: pd.Timestamp | None = None
    expected_customers: int | None = None
    started: pd.Timestamp | None = None

    @property
    def key(self) -> str:
        """The plan in one text (stored, so a changed plan re-tunes the sequence)."""
        parts = [
            f"planned_end={self.planned_end.date()}" if self.planned_end is not None else "",
            f"expected_customers={self.expected_customers}" if self.expected_customers else "",
        ]
        return "; ".join(p for p in parts if p)


def campaign_ids(exposures: pd.DataFrame | ibis.Table) -> list[str]:
    """The campaigns of the exposures, sorted (what ``running`` is checked against)."""
    if isinstance(exposures, ibis.Table):
        ids = exposures.select("campaign_id").distinct().to_pandas()["campaign_id"]
    else:
        ids = pd.Series(exposures["campaign_id"].unique())
    return sorted(str(x) for x in ids.dropna())


def running_plans(running: Any, campaigns: Sequence[str]) -> dict[str, RunningPlan]:
    """The ``running`` parameter of notebook 04 checked against the campaigns of the exposures.

    ``running``: None (no campaign is running), a campaign id, a list of ids, or a mapping
    ``{id: {"planned_end": "YYYY-MM-DD", "expected_customers": N, "started": "YYYY-MM-DD"}}``
    (each key optional; None or {} for none). Raises :class:`ABTestError` listing every problem,
    naming the unknown campaign ids with the closest existing ones.
    """
    if running is None:
        return {}
    where = f"{PARAMS}.running"
    if isinstance(running, str):
        running = [running]
    if isinstance(running, Mapping):
        items = list(running.items())
    elif isinstance(running, list | tuple):
        items = [(x, None) for x in running]
    else:
        raise ABTestError(
            f"{where}: expected a list of campaign ids or a mapping {{campaign id: {{planned_end, "
            f"expected_customers, started}}}}, got {type(running).__name__} {running!r}"
        )
    known = [str(c) for c in campaigns]
    problems: list[str] = []
    plans: dict[str, RunningPlan] = {}
    for camp, spec in items:
        cid = str(camp)
        if cid not in known:
            close = difflib.get_close_matches(cid, known, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            problems.append(
                f"{where}: no campaign {cid!r} in {TABLE}{hint} The campaigns are: "
                f"{', '.join(map(repr, sorted(known))) or 'none'}"
            )
            continue
        if cid in plans:
            problems.append(f"{where}: campaign {cid!r} is listed twice")
            continue
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            problems.append(
                f"{where}.{cid}: expected a mapping with planned_end, expected_customers or "
                f"started, got {spec!r}"
            )
            continue
        unknown = [str(k) for k in spec if k not in PLAN_KEYS]
        for k in unknown:
            close = difflib.get_close_matches(k, PLAN_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{where}.{cid}: unknown key {k!r}{hint} (allowed: {', '.join(PLAN_KEYS)})"
            )
        dates: dict[str, pd.Timestamp | None] = {}
        for k in ("planned_end", "started"):
            v = spec.get(k)
            try:
                dates[k] = None if v is None else to_day(v, f"{where}.{cid}.{k}", error=ABTestError)
            except ABTestError as err:
                problems.append(str(err))
        n = spec.get("expected_customers")
        ok_n = n is None or (
            isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n >= 2
        )
        if not ok_n:
            problems.append(
                f"{where}.{cid}.expected_customers: expected a whole number of at least 2 "
                f"(customers of all variants together), got {n!r}"
            )
        if unknown or not ok_n or len(dates) < 2:
            continue
        plans[cid] = RunningPlan(
            cid, dates["planned_end"], None if n is None else int(n), dates["started"]
        )
    if problems:
        raise ABTestError("\n".join(problems))
    return plans


# --------------------------------------------------------------------------------------
# Decisions and their projection
# --------------------------------------------------------------------------------------
def sequential_decision(
    low: float, high: float, threshold: float = 0.0, *, plan_reached: bool = False
) -> Decision:
    """The decision of one look (module docstring): harm, winner, futility or keep running."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "keep running"
    if high < 0:
        return "harm"
    if low > threshold:
        return "winner"
    if threshold > 0 and high < threshold:
        return "futility"
    if plan_reached:
        return "futility"
    return "keep running"


def customers_needed(s2: float, halfwidth: float, *, alpha: float, rho: float) -> float:
    """Customers (both arms) at which the confidence sequence's half-width falls to ``halfwidth``
    for per-observation variance ``s2`` (the half-width decreases in n; inf if never below
    1e15 customers)."""
    if halfwidth <= 0 or not np.isfinite(halfwidth):
        return math.inf
    if s2 <= 0:
        return 0.0

    def gap(log_n: float) -> float:
        return math.log(float(sequential_halfwidth(s2, math.exp(log_n), alpha, rho))) - math.log(
            halfwidth
        )

    lo, hi = math.log(1e-6), math.log(1e15)
    if gap(hi) > 0:
        return math.inf
    if gap(lo) <= 0:
        return 0.0
    return math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12))


@dataclass(frozen=True)
class Projection:
    """When a running comparison is expected to decide, at the current traffic."""

    days: int | None  # days after the look (None: not within the horizon, or unknown)
    kind: str | None  # "winner", "harm" or "futility" (what it would decide), else None
    n_needed: float  # customers (both arms) at which it would decide (inf: never)
    reason: str  # "" (a day is given), "no traffic", "beyond horizon"


def project_decision(
    estimate: float,
    s2: float,
    n: float,
    per_day: float,
    *,
    alpha: float,
    rho: float,
    threshold: float = 0.0,
    horizon_days: int = HORIZON_DAYS,
) -> Projection:
    """The first whole day on which the interval would decide if the estimate and the
    per-observation variance ``s2`` stayed as they are and ``per_day`` customers (both arms)
    kept arriving: the half-width must fall below ``estimate - threshold`` (winner; above the
    minimum), ``threshold - estimate`` (futility, with a minimum) or ``-estimate`` (harm, no
    minimum). An estimate exactly at the boundary never decides."""
    if estimate > threshold:
        target, kind = estimate - threshold, "winner"
    elif threshold > 0 and estimate < threshold:
        target, kind = threshold - estimate, "futility"
    elif estimate < 0:
        target, kind = -estimate, "harm"
    else:
        return Projection(None, None, math.inf, "beyond horizon")
    need = customers_needed(s2, target, alpha=alpha, rho=rho)
    if not per_day > 0:
        return Projection(None, kind, need, "no traffic")
    days = 0 if need <= n else math.ceil((need - n) / per_day)
    if not np.isfinite(need) or days > horizon_days:
        return Projection(None, kind, need, "beyond horizon")
    return Projection(int(days), kind, need, "")


# --------------------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------------------
def daily_assignments(
    exposures: pd.DataFrame | ibis.Table, campaigns: Sequence[str]
) -> pd.DataFrame:
    """Customers assigned per campaign, variant and day (``assigned_at``), one row each, for
    ``campaigns``; empty when the exposures have no ``assigned_at`` (aggregated by the engine)."""
    cols = ["campaign_id", "variant", "day", "n"]
    if "assigned_at" not in exposures.columns or not campaigns:
        return pd.DataFrame({c: [] for c in cols})
    t = as_ibis(exposures)
    t = t.filter(t.campaign_id.cast("string").isin([str(c) for c in campaigns]))
    t = t.filter(t.assigned_at.notnull())
    out = (
        t.group_by(
            campaign_id=t.campaign_id.cast("string"),
            variant=t.variant.cast("string"),
            day=t.assigned_at.cast("timestamp").truncate("D"),
        )
        .aggregate(n=t.count())
        .to_pandas()
    )
    out["day"] = pd.to_datetime(out["day"]).dt.tz_localize(None).astype("datetime64[us]")
    return out[cols].sort_values(cols[:3], ignore_index=True)


def traffic(daily: pd.DataFrame, as_of: Any, *, window: int = TRAFFIC_WINDOW_DAYS) -> pd.DataFrame:
    """Per campaign and variant: the first assignment day and customers assigned per day over
    the last ``window`` days up to ``as_of`` (over the days since the first assignment when the
    campaign is younger than the window). Columns campaign_id, variant, first_day, per_day."""
    as_of = to_day(as_of, "as_of", error=ABTestError)
    rows = []
    for (camp, var), g in daily.groupby(["campaign_id", "variant"], sort=False):
        first = pd.Timestamp(g["day"].min())
        start = max(first, as_of - pd.Timedelta(days=window - 1))
        days = (as_of - start).days + 1
        recent = g[(g["day"] >= start) & (g["day"] <= as_of)]["n"].sum()
        rows.append((str(camp), str(var), first, float(recent) / days if days > 0 else 0.0))
    return pd.DataFrame(rows, columns=["campaign_id", "variant", "first_day", "per_day"])


# --------------------------------------------------------------------------------------
# One run: the looks, the decisions carried forward
# --------------------------------------------------------------------------------------
def _n_expected(
    plan: RunningPlan, n_pair: float, n_campaign: float, per_day: float, as_of: pd.Timestamp
) -> float:
    """The tuning at a first look (module docstring)."""
    if plan.expected_customers:
        return max(float(plan.expected_customers) * n_pair / n_campaign, n_pair, 2.0)
    if plan.planned_end is not None and np.isfinite(per_day) and per_day > 0:
        return max(n_pair + per_day * max((plan.planned_end - as_of).days, 0), 2.0)
    return max(DEFAULT_N_EXPECTED, 2.0 * n_pair)


def _disagreement(prev: Mapping[str, Any], low: float, high: float, thr: float) -> str:
    """Why the newer interval no longer supports a carried stop ('' when it still does)."""
    d = prev["decision"]
    if d == "winner" and not low > thr:
        return "no longer lies entirely above " + (
            "0" if thr == 0 else "the smallest useful effect"
        )
    if d == "harm" and not high < 0:
        return "no longer lies entirely below 0"
    if d == "futility" and (low > thr or high < 0):
        return "now shows a clear effect"
    if d == "futility" and thr > 0 and not high < thr:
        return "no longer lies entirely below the smallest useful effect"
    return ""


def monitor(
    table: pd.DataFrame,
    plans: Mapping[str, RunningPlan],
    *,
    metric: str,
    control: str,
    as_of: Any,
    run_id: str,
    alpha: float = 0.05,
    min_lift: float = 0.0,
    daily: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> pd.DataFrame:
    """The state of the running campaigns after this run (columns :data:`STATE_COLUMNS`).

    ``table``: whole-campaign result rows (:class:`ABResult` ``.table``: n, mean and sd per arm)
    of ``metric``; ``plans``: :func:`running_plans`; ``daily``: :func:`daily_assignments` (None
    or empty: no assignment dates); ``previous``: this dataset as the last successful run wrote
    it. Rows of the previous state whose campaign is no longer declared are carried unchanged
    (``declared`` False), so a stop survives a campaign being left out for a while.
    """
    as_of = to_day(as_of, "as_of", error=ABTestError)
    prev = _previous(previous)
    flow = traffic(daily, as_of) if daily is not None and len(daily) else None
    rows = []
    tab = table[(table["metric"] == metric) & table["campaign_id"].astype(str).isin(list(plans))]
    for camp, g in tab.groupby("campaign_id", sort=False):
        camp = str(camp)
        plan = plans[camp]
        k = len(g)
        a = alpha / k
        n_campaign = float(g["n_control"].iat[0] + g["n_variant"].sum())
        f_camp = flow[flow["campaign_id"] == camp] if flow is not None else None
        started = (
            plan.started
            if plan.started is not None
            else (f_camp["first_day"].min() if f_camp is not None and len(f_camp) else None)
        )
        plan_reached = bool(
            (plan.planned_end is not None and as_of >= plan.planned_end)
            or (plan.expected_customers and n_campaign >= plan.expected_customers)
        )
        for _, r in g.iterrows():
            var = str(r["variant"])
            n_c, n_v = float(r["n_control"]), float(r["n_variant"])
            args = (
                r["control_mean"],
                r["control_sd"] ** 2,
                n_c,
                r["variant_mean"],
                r["variant_sd"] ** 2,
                n_v,
            )
            n_pair = n_c + n_v
            per_day = _per_day(f_camp, var, control, plan, started, n_pair, as_of)
            old = prev.get((camp, var))
            if old is not None and old["plan"] == plan.key and np.isfinite(old["n_expected"]):
                n_exp = float(old["n_expected"])
            else:
                n_exp = _n_expected(plan, n_pair, n_campaign, per_day, as_of)
            rho = sequential_rho(a, n_exp)
            valid = (
                n_c >= 2
                and n_v >= 2
                and np.isfinite(r["control_sd"])
                and np.isfinite(r["variant_sd"])
            )
            low, high = (
                (float(x) for x in sequential_interval(*args, alpha=a, n_expected=n_exp))
                if valid
                else (math.nan, math.nan)
            )
            f_low, f_high = (
                (float(x) for x in fixed_horizon_interval(*args, alpha=alpha))
                if valid
                else (math.nan, math.nan)
            )
            diff = float(r["variant_mean"] - r["control_mean"])
            thr = float(min_lift * r["control_mean"]) if min_lift else 0.0
            decision = sequential_decision(low, high, thr, plan_reached=plan_reached)
            # an arm without variation yet (no conversion, or all) understates its spread: no
            # stop then (as sequential_look and gbstats)
            flat = [
                arm
                for arm, sd in (("control", r["control_sd"]), ("variant", r["variant_sd"]))
                if valid and not sd > 0
            ]
            if flat:
                decision = "keep running"
            row: dict[str, Any] = dict(
                campaign_id=camp,
                variant=var,
                control=control,
                metric=metric,
                declared=True,
                decision=decision,
                run_id=run_id,
                as_of=as_of,
                started=started,
                days_running=float((as_of - started).days + 1) if started is not None else math.nan,
                n_control=n_c,
                n_variant=n_v,
                control_mean=float(r["control_mean"]),
                variant_mean=float(r["variant_mean"]),
                diff=diff,
                low=low,
                high=high,
                fixed_low=f_low,
                fixed_high=f_high,
                alpha=a,
                n_expected=n_exp,
                rho=rho,
                plan=plan.key,
                threshold=thr,
                per_day=per_day,
                plan_reached=plan_reached,
                first_run=old["first_run"] if old is not None else run_id,
                first_date=old["first_date"] if old is not None else as_of,
                note="",
            )
            if old is not None and old["decision"] in STOPS:
                row.update(
                    decision=old["decision"],
                    **{k: old[k] for k in ("stop_run", "stop_date", "stop_n")},
                    **{k: old[k] for k in ("stop_diff", "stop_low", "stop_high")},
                )
                why = _disagreement(old, low, high, thr) if valid else ""
                if old["metric"] != metric:
                    row["note"] = (
                        f"decided on {old['metric']} in run {old['stop_run']}; this run decides "
                        f"on {metric}. The stop stands."
                    )
                elif why:
                    row["note"] = (
                        f"This run disagrees: the always-valid interval now {why}. The stop of "
                        f"run {old['stop_run']} stands: a stopped test is not re-opened by later "
                        "looks (that would be peeking again)."
                    )
            elif decision in STOPS:
                row.update(
                    stop_run=run_id,
                    stop_date=as_of,
                    stop_n=n_pair,
                    stop_diff=diff,
                    stop_low=low,
                    stop_high=high,
                )
            if flat and row["decision"] == "keep running":
                row.update(
                    note=f"no decision yet: the outcome does not vary yet in the "
                    f"{' and the '.join(flat)} group",
                    expected_text="unknown: the outcome does not vary yet in the "
                    f"{' and the '.join(flat)} group",
                )
            elif row["decision"] == "keep running" and valid:
                s2 = (r["control_sd"] ** 2 / n_c + r["variant_sd"] ** 2 / n_v) * n_pair
                p = project_decision(
                    diff, s2, n_pair, per_day, alpha=a, rho=rho, threshold=thr,
                    horizon_days=horizon_days,
                )  # fmt: skip
                row.update(_expected(p, per_day, plan, as_of, thr, horizon_days))
            rows.append(row)
    out = pd.DataFrame(rows, columns=STATE_COLUMNS)
    done = {(r["campaign_id"], r["variant"]) for r in rows}
    carried = [
        dict(v, declared=False)
        for key, v in prev.items()
        if key not in done and key[0] not in plans
    ]
    if carried:
        out = pd.concat([out, pd.DataFrame(carried, columns=STATE_COLUMNS)], ignore_index=True)
    return _typed(out)


def _per_day(
    f_camp: pd.DataFrame | None,
    variant: str,
    control: str,
    plan: RunningPlan,
    started: pd.Timestamp | None,
    n_pair: float,
    as_of: pd.Timestamp,
) -> float:
    """Customers per day of one comparison (control + variant): from the assignment dates over
    the last days; else the average since the declared start; NaN when neither is known."""
    if f_camp is not None and len(f_camp):
        return float(f_camp.loc[f_camp["variant"].isin([variant, control]), "per_day"].sum())
    if plan.started is not None:
        return n_pair / max((as_of - plan.started).days + 1, 1)
    return math.nan


def _expected(
    p: Projection,
    per_day: float,
    plan: RunningPlan,
    as_of: pd.Timestamp,
    threshold: float,
    horizon_days: int,
) -> dict[str, Any]:
    """The expected decision date and its text; the planned end when it comes first and there is
    no smallest useful effect (then the test stops for futility at its end)."""
    date = as_of + pd.Timedelta(days=p.days) if p.days is not None else None
    kind = p.kind if p.days is not None else None
    if (
        plan.planned_end is not None
        and threshold == 0
        and (date is None or plan.planned_end < date)
    ):
        return dict(
            expected_date=plan.planned_end,
            expected_kind="planned end",
            expected_text=f"{plan.planned_end.date()} (the planned end: stop for futility if "
            "still undecided)",
        )
    if np.isnan(per_day):
        text = (
            "unknown: the exposures have no assignment dates (assigned_at) and no start date "
            "was declared, so the traffic per day is not known"
        )
    elif p.reason == "no traffic":
        text = f"unknown: no customers were assigned in the last {TRAFFIC_WINDOW_DAYS} days"
    elif p.reason == "beyond horizon":
        text = f"not within {horizon_days} days at the current traffic"
    else:
        word = {"winner": "winner", "harm": "harm", "futility": "futility"}[str(kind)]
        text = f"{date.date()} (at the current traffic and estimate: {word})"
    return dict(expected_date=date, expected_kind=kind, expected_text=text)


def _previous(previous: pd.DataFrame | None) -> dict[tuple[str, str], dict[str, Any]]:
    if previous is None or len(previous) == 0:
        return {}
    missing = [c for c in STATE_COLUMNS if c not in previous.columns]
    if missing:
        raise ABTestError(
            f"the running-campaign state of the previous run lacks columns {missing} (was it "
            "written by segwork?)"
        )
    prev = _typed(previous[STATE_COLUMNS])
    return {(str(r["campaign_id"]), str(r["variant"])): r.to_dict() for _, r in prev.iterrows()}


_DATES = ("as_of", "started", "expected_date", "first_date", "stop_date")
_TEXTS = (
    "campaign_id",
    "variant",
    "control",
    "metric",
    "decision",
    "run_id",
    "plan",
    "expected_kind",
    "expected_text",
    "first_run",
    "stop_run",
    "note",
)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """The state with fixed types (so runs write the same Parquet schema)."""
    out = df.copy()
    for c in _DATES:
        out[c] = pd.to_datetime(out[c]).astype("datetime64[us]")
    for c in _TEXTS:
        out[c] = out[c].astype(object).where(out[c].notna(), "").astype("str")
    out["declared"] = out["declared"].astype(bool)
    out["plan_reached"] = out["plan_reached"].astype(bool)
    rest = [c for c in STATE_COLUMNS if c not in (*_DATES, *_TEXTS, "declared", "plan_reached")]
    out[rest] = out[rest].astype(float)
    return out[STATE_COLUMNS].reset_index(drop=True)


def empty_state() -> pd.DataFrame:
    """A state with no campaign (the columns and types :func:`monitor` writes)."""
    return _typed(pd.DataFrame(columns=STATE_COLUMNS))


# --------------------------------------------------------------------------------------
# Per campaign, in words
# --------------------------------------------------------------------------------------
def campaign_decisions(state: pd.DataFrame) -> pd.DataFrame:
    """One row per declared running campaign: its decision and the variant it names (the row of
    ``state``). A winner stops the campaign (the variant whose interval has the highest lower
    end); while any variant is still undecided the campaign keeps running (the one with the
    largest estimate is named); when every variant stopped for harm, harm; else futility."""
    rows = []
    for _, g in state[state["declared"]].groupby("campaign_id", sort=False):
        win = g[g["decision"] == "winner"]
        run = g[g["decision"] == "keep running"]
        if len(win):
            pick, decision = win.loc[win["low"].fillna(-np.inf).idxmax()], "winner"
        elif len(run):
            pick, decision = run.loc[run["diff"].fillna(-np.inf).idxmax()], "keep running"
        else:
            decision = "harm" if (g["decision"] == "harm").all() else "futility"
            pick = g.loc[g["diff"].fillna(-np.inf).idxmax()]
        rows.append(dict(pick.to_dict(), campaign_decision=decision))
    cols = [*STATE_COLUMNS, "campaign_decision"]
    return pd.DataFrame(rows, columns=cols)


def reason_text(row: Mapping[str, Any], fmt: Any, *, level: str) -> str:
    """Why a running comparison has its decision, in words (``fmt``: the metric's
    :class:`~segwork.abtest.MetricFormat`; ``level``: '95%')."""
    d = row["decision"]
    thr = float(row["threshold"])
    bound = "0" if thr == 0 else f"the smallest useful effect ({fmt.diff(thr, math.nan, math.nan)})"
    if d in STOPS and row["stop_run"] != row["run_id"]:
        when = f"stopped in run {row['stop_run']} ({pd.Timestamp(row['stop_date']).date()})"
        at = fmt.diff(row["stop_diff"], row["stop_low"], row["stop_high"])
        text = f"{when} at {at}; carried, never re-opened"
        return text + (f". {row['note']}" if row["note"] else "")
    iv = fmt.diff(row["diff"], row["low"], row["high"])
    if not np.isfinite(row["low"]):
        return "not enough data for an interval yet (each group needs at least 2 customers)"
    what = f"the always-valid {level} interval of the difference, {iv},"
    if d == "harm":
        return f"{what} lies entirely below 0: the variant does worse than the control"
    if d == "winner":
        return f"{what} lies entirely above {bound}"
    if d == "futility" and thr > 0:
        return f"{what} lies entirely below {bound}: the variant cannot be worth rolling out"
    if d == "futility":
        return f"{what} still contains 0 and the campaign reached its plan ({row['plan']})"
    if row["low"] > 0:
        return f"{what} is above 0 but not yet entirely above {bound}: the data cannot tell yet"
    return f"{what} still contains 0: the data cannot tell yet"

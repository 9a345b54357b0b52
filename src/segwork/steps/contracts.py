"""Contracts and subscriptions: how long they last, how many renew, what an active one is worth.

``run(contracts, analysis_date=..., period="month", by="plan")`` takes the validated contracts
table (``segwork.schema`` contract ``contracts``) and returns a :class:`ContractsResult`:

* each contract's **duration** in whole renewal periods and whether it ended (churned) -- from
  its dates (completed periods between the start and the end, or the analysis date for one still
  active) or from an export's tenure and churn flag (IBM's Telco file: tenure in months, Churn
  Yes/No);
* the **observed** retention curve of each group (Kaplan-Meier: the share still active after t
  renewals, from the contracts at risk in each period), the evidence the model is judged by;
* one **shifted-beta-geometric** fit (:class:`segwork.clv.ShiftedBetaGeometric`, Fader & Hardie
  2007) for all contracts and one per plan (plans with too few contracts or churns are pooled as
  "other plans", or left out when even the pool is too small; the result says which);
* per fit: the model's retention curve next to the observed one (largest gap, and a chi-square
  of the churns per period against the model), expected lifetime (infinite when alpha <= 1),
  the lifetime within ten years, the discounted residual lifetime (DERL, Fader & Hardie 2010) and
  the value of the active contracts (period_value x DERL) with a delta-method 95% interval.

Some exports hold only the contracts active a few periods before their date, with churned =
ended since (IBM's Telco file: customers who left "within the last month"). Those who left
earlier are missing, so each contract is observed only in its last ``window_periods`` periods:
``window_periods=1`` fits the model to what was observed (left-truncated likelihood,
P(T = t | T > t - 1) and S(t)/S(t - 1)). Fitting such an export as full histories makes churn
look far rarer than it is.

No file is read or written here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from segwork.clv.errors import CLVError, CLVWarning
from segwork.clv.fitting import _at_edge, _converged, _fit_problems, _log_covariance, _minimise
from segwork.clv.inputs import _unique_rows
from segwork.clv.sbg import ShiftedBetaGeometric, _sbg_objective
from segwork.schema import SchemaError, contract_problems, require_columns, to_day
from segwork.summary import Summary

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
PERIOD_DAYS = {"day": 1, "week": 7}
PERIODS = (*PERIOD_DAYS, *PERIOD_MONTHS)
PERIODS_PER_YEAR = {"day": 365.25, "week": 365.25 / 7, "month": 12, "quarter": 4, "year": 1}
MIN_CONTRACTS = 50  # a plan is fitted on its own with at least this many contracts ...
MIN_CHURNED = 20  # ... and this many churns; fewer churns than this is a warning on any fit
MIN_AT_RISK = 20  # periods with fewer contracts at risk are left out of the observed-vs-model gap
GAP_WARNING = 0.05  # a gap of 5 percentage points between observed and model retention is a misfit
SAME_RATE = 0.1  # churn probabilities whose spread (CV) is below this are "one rate for all"
LIFETIME_YEARS = 10  # the horizon of the lifetime within reach when the expected one is infinite
ALL = "all contracts"
OTHER = "other plans"
NO_PLAN = "(no plan)"


@dataclass
class ContractFit:
    """One sBG fit: its contracts, parameters, lifetimes, value and how well it fits."""

    group: str  # ALL, a plan, or OTHER
    plans: list[str]  # the plans it covers
    contracts: int
    active: int
    churned: int
    model: ShiftedBetaGeometric | None = None
    reason: str = ""  # why there is no model
    retained: dict[int, float] = field(default_factory=dict)  # model S(t) at the marks
    observed_retained: dict[int, float] = field(default_factory=dict)  # observed S(t), if seen
    expected_lifetime: float = float("nan")  # periods; inf when alpha <= 1
    lifetime_within: float = float("nan")  # E[min(T, LIFETIME_YEARS in periods)]
    median_lifetime: float = float("nan")  # first t with S(t) <= 1/2 (inf: beyond 10,000)
    derl_new: float = float("nan")  # DERL of a new contract (after 0 renewals)
    value_per_active: float = float("nan")  # mean period_value x DERL of the active contracts
    value_low: float = float("nan")  # delta-method 95% interval of value_per_active
    value_high: float = float("nan")
    max_gap: float = float("nan")  # largest |observed - model| retention (periods >= MIN_AT_RISK)
    gap_at: int | None = None  # the period of that gap
    chi2: float = float("nan")  # Pearson chi-square of churns per period against the model
    chi2_df: int = 0
    chi2_p: float = float("nan")
    warnings: list[str] = field(default_factory=list)

    @property
    def alpha(self) -> float:
        return self.model.params_["alpha"] if self.model is not None else float("nan")

    @property
    def beta(self) -> float:
        return self.model.params_["beta"] if self.model is not None else float("nan")


@dataclass
class ContractsResult:
    """What the contracts step computed: durations, observed and model retention, the fits."""

    analysis_date: pd.Timestamp
    period: str
    by: str | None  # the column the fits are split by (None: one fit)
    discount_rate: float  # per period
    window_periods: int | None  # each contract observed in its last N periods only (None: all)
    durations: pd.DataFrame  # per contract: contract_id, group, plan, duration, churned, entered
    fits: dict[str, ContractFit]  # ALL first, then the plans by size, then OTHER
    curves: pd.DataFrame  # group, period, at_risk, churned, observed, model
    marks: tuple[int, ...]  # the periods retention is reported at (12, 24, 48 months)
    notes: list[str] = field(default_factory=list)  # what was pooled, skipped or left out

    @property
    def fitted(self) -> list[ContractFit]:
        """The fits that have a model, all contracts first."""
        return [f for f in self.fits.values() if f.model is not None]

    @property
    def plan_fits(self) -> list[ContractFit]:
        """The fitted plans (and "other plans"), largest first; empty without a plan column."""
        return [f for f in self.fitted if f.group != ALL]

    def fits_frame(self) -> pd.DataFrame:
        """One row per fit: counts, parameters with standard errors, lifetimes, value, misfit."""
        rows = []
        for f in self.fits.values():
            se = f.model.standard_errors_ if f.model is not None else {}
            rows.append(
                {
                    "group": f.group,
                    "plans": ", ".join(f.plans),
                    "contracts": f.contracts,
                    "active": f.active,
                    "churned": f.churned,
                    "alpha": f.alpha,
                    "alpha_se": se.get("alpha", float("nan")),
                    "beta": f.beta,
                    "beta_se": se.get("beta", float("nan")),
                    "expected_lifetime": f.expected_lifetime,
                    "lifetime_within": f.lifetime_within,
                    "median_lifetime": f.median_lifetime,
                    **{f"retained_{m}": f.retained.get(m, float("nan")) for m in self.marks},
                    **{
                        f"observed_{m}": f.observed_retained.get(m, float("nan"))
                        for m in self.marks
                    },
                    "derl_new": f.derl_new,
                    "value_per_active": f.value_per_active,
                    "value_low": f.value_low,
                    "value_high": f.value_high,
                    "max_gap": f.max_gap,
                    "chi2": f.chi2,
                    "chi2_df": f.chi2_df,
                    "chi2_p": f.chi2_p,
                    "reason": f.reason,
                    "warnings": " | ".join(f.warnings),
                }
            )
        return pd.DataFrame(rows)

    def outputs(self) -> dict[str, Any]:
        """The datasets of this step (catalog names): the fits and the retention curves."""
        return {"contract_fits": self.fits_frame(), "contract_retention": self.curves}

    def summary(self) -> Summary:
        facts = {
            "analysis date": f"{self.analysis_date:%Y-%m-%d}",
            "period": self.period,
            "contracts": f"{len(self.durations):,}",
            "churned": f"{int(self.durations['churned'].sum()):,}",
            "fits": ", ".join(self.fits),
        }
        frame = self.fits_frame()
        shown = ["group", "contracts", "churned", "alpha", "beta", "expected_lifetime"]
        return Summary(
            "Contracts: shifted-beta-geometric fits (Fader & Hardie 2007)",
            facts,
            tables=[("fits", frame[shown].set_index("group"))],
            notes=[*self.notes, *(w for f in self.fits.values() for w in f.warnings)],
        )


# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------
def _add_months(day: pd.Series, months: np.ndarray) -> pd.Series:
    """``day`` plus whole calendar months, the day of month clipped to the month's last day
    (31 Jan + 1 month = 28/29 Feb), as pandas' DateOffset does."""
    index = day.dt.year.to_numpy() * 12 + day.dt.month.to_numpy() - 1 + months
    year, month = np.divmod(index, 12)
    first = pd.to_datetime(pd.DataFrame({"year": year, "month": month + 1, "day": 1}))
    last = first.dt.days_in_month.to_numpy()
    dom = np.minimum(day.dt.day.to_numpy(), last)
    return pd.Series(first.to_numpy() + pd.to_timedelta(dom - 1, unit="D"), index=day.index)


def completed_periods(start: Any, until: Any, period: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole periods from each ``start`` day to its ``until`` day, and whether part of a further
    period has begun (``until`` after start + the completed periods). Days, not times.

    A monthly contract from 15 Jan has completed 3 periods on 15 Apr and on 20 Apr (then with
    part of a fourth); 31 Jan + 1 month is 28 Feb (29 in a leap year).
    """
    _check_period(period)
    s = pd.Series(pd.to_datetime(pd.Series(start))).dt.normalize().reset_index(drop=True)
    u = pd.Series(pd.to_datetime(pd.Series(until))).dt.normalize().reset_index(drop=True)
    if period in PERIOD_DAYS:
        days = (u - s).dt.days.to_numpy()
        done, rest = np.divmod(days, PERIOD_DAYS[period])
        return done.astype(int), rest > 0
    k = PERIOD_MONTHS[period]
    months = (
        (u.dt.year - s.dt.year).to_numpy() * 12 + (u.dt.month - s.dt.month).to_numpy()
    ).astype(int)
    months -= (_add_months(s, months) > u).to_numpy()  # the last month is not complete yet
    done = months // k
    return done.astype(int), (_add_months(s, done * k) < u).to_numpy()


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise CLVError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def contract_durations(
    contracts: pd.DataFrame,
    *,
    analysis_date: Any,
    period: str = "month",
    window_periods: int | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Each contract's duration in whole periods, whether it churned, and from which period it
    was observed; and notes on the contracts left out.

    From dates (rows with a start date): a contract that ended on or before the analysis date
    churned in the period its end falls in (completed periods, plus one if a further period had
    begun; at least 1); one still active (no end date, or an end after the analysis date) has
    made as many renewals as it completed periods by the analysis date, and is censored there.
    From a tenure (rows without a start date): ``tenure_periods`` completed periods; a churned
    one ended in its last period (a tenure of 0 that churned is period 1). Contracts that start
    after the analysis date are left out, counted in the notes.

    ``entered`` is 0 (observed from its start) or, with ``window_periods`` = k, duration - k:
    the renewals the contract had made when the export's window opened.
    """
    _check_period(period)
    require_columns(contracts.columns, ("contract_id",), "contracts")
    problems = contract_problems(contracts)
    if problems:
        p = problems[0]
        ids = ", ".join(map(repr, contracts.loc[p.rows, "contract_id"].head(5)))
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise SchemaError(
            "contracts",
            f"{int(p.rows.sum()):,} row(s) with {p.problem}: contract {ids}{more}",
            column=p.column,
            fix=p.fix,
        )
    if window_periods is not None and (int(window_periods) != window_periods or window_periods < 1):
        raise CLVError(
            f"window_periods must be a whole number >= 1 or None, got {window_periods!r}"
        )
    day = to_day(analysis_date)
    n = len(contracts)
    cols = contracts.columns
    start = (
        contracts["start_date"]
        if "start_date" in cols
        else pd.Series(pd.NaT, index=contracts.index)
    )
    start = pd.to_datetime(start).dt.normalize()
    end = contracts["end_date"] if "end_date" in cols else pd.Series(pd.NaT, index=contracts.index)
    end = pd.to_datetime(end).dt.normalize()
    dated = start.notna().to_numpy()
    notes = []
    future = dated & (start > day).to_numpy()
    if future.any():
        notes.append(
            f"{int(future.sum()):,} contract(s) start after the analysis date "
            f"{day:%Y-%m-%d} and are left out."
        )
    late_end = dated & ~future & (end > day).fillna(False).to_numpy()
    if late_end.any():
        notes.append(
            f"{int(late_end.sum()):,} contract(s) end after the analysis date: they count as "
            "active on it."
        )
    duration = np.zeros(n, dtype=int)
    churned = np.zeros(n, dtype=bool)
    use = dated & ~future
    if use.any():
        ended = (end.notna() & (end <= day)).to_numpy()[use]
        until = end.where(end.notna() & (end <= day), day)[use]
        done, more = completed_periods(start[use], until, period)
        duration[use] = np.where(ended, np.maximum(done + more, 1), done)
        churned[use] = ended
    by_tenure = ~dated
    if by_tenure.any():
        tenure = pd.to_numeric(contracts["tenure_periods"], errors="coerce").to_numpy()[by_tenure]
        flag = contracts["churned"].to_numpy()[by_tenure].astype(bool)
        duration[by_tenure] = np.where(flag, np.maximum(tenure, 1), tenure).astype(int)
        churned[by_tenure] = flag
    entered = np.maximum(duration - int(window_periods), 0) if window_periods else np.zeros(n, int)
    plan = (
        contracts["plan"].astype("string").fillna(NO_PLAN).to_numpy()
        if "plan" in cols
        else np.full(n, NO_PLAN, dtype=object)
    )
    out = pd.DataFrame(
        {
            "contract_id": contracts["contract_id"].to_numpy(),
            "customer_id": contracts["customer_id"].to_numpy() if "customer_id" in cols else None,
            "plan": plan,
            "duration": duration,
            "churned": churned,
            "entered": entered,
            "from": np.where(dated, "dates", "tenure"),
            "period_value": pd.to_numeric(contracts["period_value"], errors="coerce").to_numpy()
            if "period_value" in cols
            else np.nan,
        }
    )
    return out.loc[~future].reset_index(drop=True), notes


# --------------------------------------------------------------------------------------------
# Observed retention
# --------------------------------------------------------------------------------------------
def observed_retention(durations: pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier retention by period from (duration, churned, entered): in period t the
    contracts at risk are those observed then (entered < t <= duration); the share retained
    after t renewals is the product of (1 - churned/at risk) over periods 1..t. Periods with
    no contract at risk end the curve."""
    t = durations["duration"].to_numpy(int)
    a = durations["entered"].to_numpy(int)
    c = durations["churned"].to_numpy(bool)
    top = int(t.max()) if len(t) else 0
    # at risk in t: duration >= t minus entered >= t
    reach = np.bincount(t, minlength=top + 2)[::-1].cumsum()[::-1]
    entered = np.bincount(a, minlength=top + 2)[::-1].cumsum()[::-1]
    periods = np.arange(1, top + 1)
    at_risk = reach[periods] - entered[periods]
    events = np.bincount(t[c], minlength=top + 1)[periods]
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, events / np.maximum(at_risk, 1), np.nan)
    stop = np.flatnonzero(at_risk == 0)
    keep = periods < periods[stop[0]] if len(stop) else np.ones(len(periods), bool)
    survival = np.cumprod(1 - np.nan_to_num(hazard[keep]))
    frame = pd.DataFrame(
        {
            "period": periods[keep],
            "at_risk": at_risk[keep],
            "churned": events[keep],
            "observed": survival,
        }
    )
    first = pd.DataFrame({"period": [0], "at_risk": [len(t)], "churned": [0], "observed": [1.0]})
    return pd.concat([first, frame], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------
def _entered_objective(
    log_p: np.ndarray, t: np.ndarray, c: np.ndarray, a: np.ndarray, w: np.ndarray, total: bool
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of contracts observed from renewal ``a`` on (left-truncated:
    each term divided by S(a)) and its gradient in (log alpha, log beta)."""
    value, grad = _sbg_objective(log_p, t, c, w, total=True)
    alpha, beta = np.exp(log_p)
    ab = alpha + beta
    psi = special.digamma
    log_s = special.betaln(alpha, beta + a) - special.betaln(alpha, beta)
    d_alpha = psi(ab) - psi(ab + a)
    d_beta = psi(beta + a) - psi(ab + a) - psi(beta) + psi(ab)
    value += float(w @ log_s)
    grad = grad + np.array([w @ d_alpha * alpha, w @ d_beta * beta])
    if not total:
        value, grad = value / w.sum(), grad / w.sum()
    return value, grad


def fit_contracts(durations: pd.DataFrame) -> ShiftedBetaGeometric:
    """The sBG fit of (duration, churned, entered) records. Observed from their start (entered
    all 0): :meth:`ShiftedBetaGeometric.fit` itself. Otherwise the left-truncated likelihood,
    with the same standard errors and weak-identification check; the fitted model has the
    attributes ``fit`` sets. A weak fit's warning is kept in ``fit_warning_``, not issued."""
    t = durations["duration"].to_numpy(float)
    c = durations["churned"].to_numpy(bool)
    a = durations["entered"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CLVWarning)
        if not a.any():
            return ShiftedBetaGeometric().fit(durations=t, churned=c)
        (ut, uc, ua), _, counts = _unique_rows(t, c.astype(float), a)
        keep = ut > ua  # a contract seen in no period carries no information
        ut, uc, ua, w = ut[keep], uc[keep] == 1.0, ua[keep], counts[keep].astype(float)
        if not len(w) or w[uc].sum() == 0:
            raise CLVError(
                "no contract has churned in the periods observed: the sBG model needs some "
                "contracts ending"
            )
        res = _minimise(lambda lp: _entered_objective(lp, ut, uc, ua, w, False), np.zeros(2))
        log_p = res.x
        model = ShiftedBetaGeometric()
        theta = np.exp(log_p)
        model.params_ = {"alpha": float(theta[0]), "beta": float(theta[1])}
        model.log_likelihood_ = -_entered_objective(log_p, ut, uc, ua, w, True)[0]
        cov = _log_covariance(
            lambda lp: _entered_objective(lp, ut, uc, ua, w, True)[1], log_p, _at_edge(res)
        )
        model.covariance_log_ = cov
        model.standard_errors_ = {
            k: float(v)
            for k, v in zip(("alpha", "beta"), theta * np.sqrt(np.diag(cov)), strict=True)
        }
        model.converged_ = _converged(res)
        model.n_iterations_ = int(res.nit)
        model.n_contracts_ = int(round(w.sum()))
        model.n_churned_ = int(round(w[uc].sum()))
        model.n_periods_ = int(ut.max())
        model.weak_parameters_, model.fit_warning_ = _fit_problems(
            "sBG",
            res,
            ("alpha", "beta"),
            cov,
            "the churn rates hardly differ between contracts or between periods; observe more "
            "renewal periods",
        )
    return model


def _median_lifetime(model: ShiftedBetaGeometric, limit: int = 10_000) -> float:
    """The first period t with S(t) <= 1/2 (half of new contracts gone), inf beyond ``limit``."""
    s = model.survival(np.arange(limit + 1))
    below = np.flatnonzero(s <= 0.5)
    return float(below[0]) if len(below) else float("inf")


def _value_interval(
    model: ShiftedBetaGeometric, values: np.ndarray, renewals: np.ndarray, rate: float
) -> tuple[float, float, float]:
    """Mean period_value x DERL of active contracts and its delta-method 95% interval from the
    covariance of (log alpha, log beta) (central differences of step 1e-5)."""
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    uniq, inverse = np.unique(renewals, return_inverse=True)

    def mean_value(log_p: np.ndarray) -> float:
        m = ShiftedBetaGeometric()
        m.params_ = dict(zip(("alpha", "beta"), map(float, np.exp(log_p)), strict=True))
        derl = np.atleast_1d(m.discounted_expected_residual_lifetime(rate, uniq))
        return float(np.mean(values * derl[inverse]))

    log_p = np.log([model.params_["alpha"], model.params_["beta"]])
    value = mean_value(log_p)
    h = 1e-5
    grad = np.array(
        [(mean_value(log_p + h * e) - mean_value(log_p - h * e)) / (2 * h) for e in np.eye(2)]
    )
    cov = model.covariance_log_
    if not np.isfinite(cov).all():
        return value, float("nan"), float("nan")
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    return value, value - 1.96 * se, value + 1.96 * se


def _chi_square(curve: pd.DataFrame, model: ShiftedBetaGeometric) -> tuple[float, int, float]:
    """Pearson chi-square of the churns per period against the model's churn rate among the
    contracts at risk (1 - r(t)), with consecutive periods pooled until each bin expects at
    least 5 churns; variance of a bin = sum of n p (1 - p); df = bins - 2 (two parameters)."""
    rows = curve.loc[(curve["period"] >= 1) & (curve["at_risk"] > 0)]
    if rows.empty:
        return float("nan"), 0, float("nan")
    p = 1.0 - np.asarray(model.retention_rate(rows["period"].to_numpy(float)))
    n = rows["at_risk"].to_numpy(float)
    o = rows["churned"].to_numpy(float)
    bins, cur = [], [0.0, 0.0, 0.0]
    for oi, ei, vi in zip(o, n * p, n * p * (1 - p), strict=True):
        cur = [cur[0] + oi, cur[1] + ei, cur[2] + vi]
        if cur[1] >= 5:
            bins.append(cur)
            cur = [0.0, 0.0, 0.0]
    if cur[1] > 0 and bins:
        bins[-1] = [b + x for b, x in zip(bins[-1], cur, strict=True)]
    elif cur[1] > 0:
        bins.append(cur)
    df = len(bins) - 2
    if df < 1:
        return float("nan"), 0, float("nan")
    chi2 = float(sum((b[0] - b[1]) ** 2 / b[2] for b in bins if b[2] > 0))
    return chi2, df, float(stats.chi2.sf(chi2, df))


def _fit_group(
    name: str,
    plans: list[str],
    records: pd.DataFrame,
    *,
    period: str,
    rate: float,
    marks: tuple[int, ...],
) -> tuple[ContractFit, pd.DataFrame]:
    """One group's fit, its retention curve (observed and model) and its warnings."""
    churned = int(records["churned"].sum())
    out = ContractFit(
        group=name,
        plans=plans,
        contracts=len(records),
        active=len(records) - churned,
        churned=churned,
    )
    curve = observed_retention(records)
    curve.insert(0, "group", name)
    try:
        model = fit_contracts(records)
    except CLVError as exc:
        out.reason = str(exc)
        curve["model"] = np.nan
        return out, curve
    out.model = model
    curve["model"] = np.asarray(model.survival(curve["period"].to_numpy(float)))
    unit = period
    if churned < MIN_CHURNED:
        out.warnings.append(
            f"{name}: only {churned:,} contract(s) churned, too few to pin down how churn "
            "differs between contracts; read its figures as rough."
        )
    weak = _weak_text(name, model, out)
    if weak:
        out.warnings.append(weak)
    out.retained = {m: float(model.survival(m)) for m in marks}
    seen = curve.set_index("period")
    out.observed_retained = {
        m: float(seen.loc[m, "observed"])
        for m in marks
        if m in seen.index and seen.loc[m, "at_risk"] >= MIN_AT_RISK
    }
    horizon = int(round(LIFETIME_YEARS * PERIODS_PER_YEAR[period]))
    out.expected_lifetime = model.expected_lifetime()
    out.lifetime_within = model.expected_lifetime(horizon=horizon)
    out.median_lifetime = _median_lifetime(model)
    if not math.isfinite(out.expected_lifetime):
        out.warnings.append(
            f"{name}: alpha = {model.params_['alpha']:.2f} is at most 1, so the expected "
            "lifetime is infinite: enough contracts almost never churn that the average never "
            f"settles. The page gives the lifetime within {LIFETIME_YEARS} years "
            f"({out.lifetime_within:,.1f} {unit}s) and the discounted lifetime instead."
        )
    out.derl_new = float(model.discounted_expected_residual_lifetime(rate, 0))
    active = records.loc[~records["churned"]]
    values = active["period_value"].to_numpy(float)
    if np.isfinite(values).any():
        ok = np.isfinite(values)
        out.value_per_active, out.value_low, out.value_high = _value_interval(
            model, values[ok], active["duration"].to_numpy(int)[ok], rate
        )
    judged = curve.loc[(curve["period"] >= 1) & (curve["at_risk"] >= MIN_AT_RISK)]
    if len(judged):
        gaps = (judged["observed"] - judged["model"]).abs()
        out.max_gap = float(gaps.max())
        out.gap_at = int(judged.loc[gaps.idxmax(), "period"])
    out.chi2, out.chi2_df, out.chi2_p = _chi_square(curve, model)
    if out.max_gap > GAP_WARNING:
        row = seen.loc[out.gap_at]
        out.warnings.append(
            f"{name}: the model does not follow the observed retention: after {out.gap_at} "
            f"{unit}s it says {row['model']:.0%} remain, the data {row['observed']:.0%} "
            f"(largest gap, {100 * out.max_gap:.1f} percentage points). Read its lifetimes "
            "and values with care."
        )
    return out, curve


def churn_rate_spread(alpha: float, beta: float) -> float:
    """How much contracts differ in their churn probability: the coefficient of variation of
    Beta(alpha, beta), sqrt(beta / (alpha (alpha + beta + 1))). Near 0: all churn alike (the
    model is a plain geometric); above 1: some churn fast, others almost never."""
    return math.sqrt(beta / (alpha * (alpha + beta + 1.0)))


def _weak_text(name: str, model: ShiftedBetaGeometric, fit: ContractFit) -> str:
    """A fit whose churn rates collapse to one rate, or that the data hardly pin down, in
    words ("" otherwise; the optimiser's wording stays in the model's summary)."""
    a, b = model.params_["alpha"], model.params_["beta"]
    if churn_rate_spread(a, b) < SAME_RATE:  # the Beta of churn rates is nearly one rate
        share = a / (a + b)
        rate = f"{100 * share:.2f}%" if share >= 0.0001 else "under 0.01%"
        return (
            f"{name}: churn hardly differs between these contracts ({fit.churned:,} of "
            f"{fit.contracts:,} ended), so the model cannot tell how much they differ and treats "
            f"them alike: {rate} end each period, whatever their age. Its lifetimes and values "
            "rest on that."
        )
    if not model.fit_warning_:
        return ""
    return (
        f"{name}: the data hardly pin the model down (very wide intervals for its parameters: "
        f"{', '.join(model.weak_parameters_) or 'the fit did not settle'}); read its lifetimes "
        "and values as rough."
    )


def _groups(
    records: pd.DataFrame, *, min_contracts: int, min_churned: int
) -> tuple[list[tuple[str, list[str], pd.DataFrame]], list[str]]:
    """The plans fitted on their own (largest first), the pool of the small ones, and notes."""
    sizes = records.groupby("plan", sort=False).agg(
        contracts=("churned", "size"), churned=("churned", "sum")
    )
    sizes = sizes.sort_values(["contracts", "churned"], ascending=False, kind="stable")
    big = sizes.loc[(sizes["contracts"] >= min_contracts) & (sizes["churned"] >= min_churned)]
    small = sizes.drop(big.index)
    groups = [(str(p), [str(p)], records.loc[records["plan"] == p]) for p in big.index]
    notes = []
    if len(small):
        names = sorted(str(p) for p in small.index)
        pool = records.loc[records["plan"].isin(small.index)]
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        why = f"fewer than {min_contracts} contracts or {min_churned} churns each"
        if len(pool) >= min_contracts and int(pool["churned"].sum()) >= min_churned:
            groups.append((OTHER, names, pool))
            notes.append(f"Plans with {why} are fitted together as '{OTHER}': {listed}.")
        else:
            notes.append(
                f"Plans with {why}, too few even together ({len(pool):,} contracts, "
                f"{int(pool['churned'].sum()):,} churns), have no fit of their own (they are "
                f"in the fit of all contracts): {listed}."
            )
    return groups, notes


def default_marks(period: str) -> tuple[int, ...]:
    """The periods retention is reported at: 1, 2 and 4 years in the period's unit."""
    per_year = PERIODS_PER_YEAR[period]
    return tuple(max(1, int(round(y * per_year))) for y in (1, 2, 4))


def run(
    contracts: pd.DataFrame,
    *,
    analysis_date: Any,
    period: str = "month",
    by: str | None = "plan",
    discount_rate_monthly: float = 0.01,
    window_periods: int | None = None,
    min_contracts: int = MIN_CONTRACTS,
    min_churned: int = MIN_CHURNED,
) -> ContractsResult:
    """Durations, observed retention and sBG fits of ``contracts`` (overall and per ``by``).

    ``period``: the renewal period (day, week, month, quarter, year). ``discount_rate_monthly``
    (as notebook 02's) is turned into the rate per period for DERL and value.
    ``window_periods``: see the module docstring (1 for IBM's Telco file).
    """
    _check_period(period)
    if not discount_rate_monthly > 0:
        raise CLVError(f"discount_rate_monthly must be > 0, got {discount_rate_monthly!r}")
    frame = contracts.copy()
    if by is not None and by != "plan":
        require_columns(frame.columns, (by,), "contracts")
        frame = frame.drop(columns=["plan"], errors="ignore").rename(columns={by: "plan"})
    elif by is None:
        frame = frame.drop(columns=["plan"], errors="ignore")
    records, notes = contract_durations(
        frame, analysis_date=analysis_date, period=period, window_periods=window_periods
    )
    if records.empty:
        raise CLVError("no contract started on or before the analysis date")
    months = 12 / PERIODS_PER_YEAR[period]
    rate = (1 + discount_rate_monthly) ** months - 1
    marks = default_marks(period)
    fits: dict[str, ContractFit] = {}
    curves = []
    fit, curve = _fit_group(ALL, [], records, period=period, rate=rate, marks=marks)
    fits[ALL], records["group"] = fit, ALL
    curves.append(curve)
    plans = records["plan"].unique()
    if by is not None and "plan" in frame.columns and len(plans) > 1:
        groups, more = _groups(records, min_contracts=min_contracts, min_churned=min_churned)
        notes += more
        for name, members, rows in groups:
            fit, curve = _fit_group(name, members, rows, period=period, rate=rate, marks=marks)
            fits[name] = fit
            records.loc[rows.index, "group"] = name
            curves.append(curve)
    elif by is not None and "plan" not in frame.columns:
        notes.append(f"The contracts have no {by} column, so there is one fit for all of them.")
    return ContractsResult(
        analysis_date=to_day(analysis_date),
        period=period,
        by=by if len(fits) > 1 else None,
        discount_rate=rate,
        window_periods=window_periods,
        durations=records,
        fits=fits,
        curves=pd.concat(curves, ignore_index=True),
        marks=marks,
        notes=notes,
    )

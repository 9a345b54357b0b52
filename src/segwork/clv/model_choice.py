"""Which purchase-count model fits these customers: BG/NBD, Pareto/NBD and MBG/NBD fitted on a
calibration period and compared on the purchases of the holdout period that follows, as Fader
& Hardie and lifetimes' users check them, with one model chosen by a stated rule.

The comparison (:func:`compare_models` on clv features and holdout counts, or
:func:`choose_lifetime_model` on orders with the temporal holdout of the last ``horizon_days``
before the analysis date, the split :func:`segwork.clv.compare_on_holdout` uses):

* per model, on the calibration period: log-likelihood, AIC and BIC (all three models have four
  parameters, so the three orders agree), and whether the fit converged with every parameter
  pinned down (:func:`segwork.clv.fitting._fit_problems`);
* on the holdout: predicted against actual purchases in total, the per-customer error (MAE,
  RMSE, MSE), the conditional expectations (mean actual and predicted holdout purchases by
  number of repeat purchases in calibration, 0 to 7+), and how well the chance still active at
  the end of calibration ranks the holdout buyers above the rest (AUC, DeLong difference to
  BG/NBD).

The rule (:func:`_choose`): a model whose fit failed, did not converge or left a parameter
unidentified cannot be chosen. Of the others, those that predict the holdout total within
:data:`OFF_SHARE` (20%) are preferred (all of them when none does). Among those the lowest
per-customer mean squared error wins - squared, not absolute, error: the expected purchases
are means, and the mean minimises squared error, while absolute error rewards predicting too
few (on simulated BG/NBD data Pareto/NBD and MBG/NBD beat the true model on absolute error,
not on squared error). BG/NBD - the model segwork has used and checked longest - is kept unless
the winner's mean squared error is lower by more than noise: the ``level`` confidence interval
of the mean per-customer difference in squared error (a paired z-interval over customers; the
CLT form of a paired bootstrap, cheap at a million customers) must lie below 0 - or, when the
errors are within noise, the winner's chance still active ranks the holdout buyers better than
BG/NBD's by more than noise (DeLong). The page uses that chance to name who is slipping away,
and BG/NBD counts every customer without a repeat purchase as surely active (on CDNOW its AUC
is 0.35, the other two models' 0.79).

:class:`LifetimeModel` gives the three models one interface (``p_alive``,
``expected_purchases``), the one :func:`segwork.clv.customer_lifetime_value` uses.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from segwork.clv.bgnbd import BetaGeo
from segwork.clv.errors import CLVError
from segwork.clv.holdout import auc_difference
from segwork.clv.mbgnbd import ModifiedBetaGeo
from segwork.clv.paretonbd import ParetoNBD
from segwork.clv.propensity import _purchases_between
from segwork.numbers import p_phrase
from segwork.rfm.errors import RFMError
from segwork.rfm.features import features as rfm_features
from segwork.schema import to_day
from segwork.summary import Summary

LIFETIME_MODELS = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
"""The purchase-count models a run can choose from, by key, as the pages name them."""
_CLASSES = {"bgnbd": BetaGeo, "paretonbd": ParetoNBD, "mbgnbd": ModifiedBetaGeo}
DEFAULT_MODEL = "bgnbd"  # kept unless another model predicts the holdout clearly better
N_PARAMS = 4  # every model here has four parameters
TOP_GROUP = 7  # the conditional expectations pool 7 and more repeat purchases
MAX_FIT_CUSTOMERS = 100_000  # Pareto/NBD above this is fitted on a random sample (see below)
OFF_SHARE = 0.20  # a total off by more than this share is "does not predict the holdout well"
MIN_HOLDOUT_PURCHASES = 100  # fewer purchases in the holdout cannot tell the models apart
MIN_HOLDOUT_SHARE = 0.25  # nor can a holdout shorter than this share of the calibration period


def check_models(models: Sequence[str]) -> tuple[str, ...]:
    """The model keys, checked: known, none twice, at least one."""
    if isinstance(models, str):
        models = [models]
    keys = tuple(str(m) for m in models)
    unknown = [k for k in keys if k not in LIFETIME_MODELS]
    if unknown:
        raise CLVError(
            f"clv_models: unknown model(s) {unknown}; choose from {list(LIFETIME_MODELS)} "
            "(BG/NBD, Pareto/NBD, MBG/NBD)"
        )
    if not keys:
        raise CLVError(f"clv_models is empty; name at least one of {list(LIFETIME_MODELS)}")
    if len(set(keys)) != len(keys):
        raise CLVError(f"clv_models names a model twice: {list(keys)}")
    return keys


def check_choice(choice: str, models: Sequence[str]) -> str:
    """``"auto"`` (the rule chooses) or one of ``models`` (the analyst chooses)."""
    allowed = ["auto", *models]
    if choice not in allowed:
        raise CLVError(
            f"clv_model must be one of {allowed}, got {choice!r}"
            + (
                f" (add {choice!r} to clv_models to compare it)"
                if choice in LIFETIME_MODELS
                else ""
            )
        )
    return choice


@dataclass
class LifetimeModel:
    """A fitted BG/NBD, Pareto/NBD or MBG/NBD behind one interface: ``p_alive`` and
    ``expected_purchases`` (BG/NBD's names), ``time_unit_``, ``caveats`` and ``summary``.

    ``sample``: the customers the fit used when it was fitted on a random sample (else None).
    """

    key: str
    model: Any
    sample: int | None = None

    @property
    def name(self) -> str:
        return LIFETIME_MODELS[self.key]

    @property
    def params_(self) -> dict[str, float]:
        return self.model.params_

    @property
    def time_unit_(self) -> str | None:
        return getattr(self.model, "time_unit_", None)

    def p_alive(self, frequency=None, recency=None, T=None) -> np.ndarray:
        """P(still active at T | history)."""
        if self.key == "bgnbd":
            return self.model.p_alive(frequency, recency, T)
        return self.model.conditional_probability_alive(frequency, recency, T)

    def expected_purchases(self, t, frequency=None, recency=None, T=None) -> np.ndarray:
        """Expected purchases in the next ``t`` time units given the history."""
        if self.key == "bgnbd":
            return self.model.expected_purchases(t, frequency, recency, T)
        return self.model.conditional_expected_number_of_purchases_up_to_time(
            t, frequency, recency, T
        )

    @property
    def identified(self) -> bool:
        """The fit converged and every parameter is pinned down."""
        return bool(self.model.converged_ and not self.model.weak_parameters_)

    def caveats(self) -> list[str]:
        """Plain sentences when the fit cannot be trusted (BG/NBD's own, else the fit warning)."""
        if self.key == "bgnbd":
            return self.model.caveats()
        if self.identified:
            return []
        return [
            f"The {self.name} model cannot be trusted on this data: the purchase histories do not "
            "pin down its parameters. Do not use its chance-still-active or lifetime value to "
            "decide whom to win back; rank by the time since the last purchase instead."
        ]

    def summary(self) -> Summary:
        s = self.model.summary()
        if self.sample is not None:
            s.notes.append(f"fitted on a random sample of {self.sample:,} customers")
        return s


def fit_lifetime_model(
    key: str,
    features: pd.DataFrame,
    *,
    max_customers: int | None = MAX_FIT_CUSTOMERS,
    random_state: int = 0,
) -> LifetimeModel:
    """Fit model ``key`` on clv features; the fit's warnings are kept on the model, not shown.

    Pareto/NBD has no analytic gradient (each step costs nine likelihood evaluations with two
    hypergeometric functions per distinct history): above ``max_customers`` customers it is
    fitted on a random sample of that many (``random_state``). Measured on the demo generator's
    histories (days): 5.7 s for 13,632 customers, 20 s for 136,447 (92,437 distinct histories);
    BG/NBD and MBG/NBD take about a second there and always use every customer.
    """
    check_models([key])
    sample = None
    fit_on = features
    if key == "paretonbd" and max_customers is not None and len(features) > max_customers:
        fit_on = features.sample(n=int(max_customers), random_state=random_state)
        fit_on.attrs = dict(features.attrs)
        sample = int(max_customers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said in words: fit_warning_ / caveats
        model = _CLASSES[key]().fit(fit_on)
    return LifetimeModel(key, model, sample)


@dataclass
class ModelChoice:
    """The models compared on the holdout and the one chosen.

    ``chosen``: the key of the chosen model (None when none could be chosen), ``reason``: why,
    in plain words; ``table``: one row per model (index: key) with name, fitted, identified,
    log_likelihood, aic, bic, predicted_total, actual_total, total_error (predicted / actual -
    1), mae, mse, rmse, auc (chance still active against "bought in the holdout"), and against
    BG/NBD mse_difference with its interval (mse_low, mse_high, mse_p) and auc_difference
    (DeLong);
    ``groups``: per number of repeat purchases in calibration (0 to 7+) the customers, the mean
    actual and each model's mean predicted holdout purchases; ``predictions``: per customer the
    frequency, actual and each model's predicted holdout purchases; ``fits``: the calibration
    fits; ``problems``: per model that cannot be chosen, why.
    """

    chosen: str | None
    reason: str
    table: pd.DataFrame
    groups: pd.DataFrame
    predictions: pd.DataFrame
    fits: dict[str, LifetimeModel]
    problems: dict[str, str]
    holdout_length: float
    calibration_length: float
    time_unit: str | None = None
    level: float = 0.95
    rule: str = "auto"
    calibration_end: pd.Timestamp | None = None
    holdout_end: pd.Timestamp | None = None
    fit_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def chosen_name(self) -> str | None:
        return None if self.chosen is None else LIFETIME_MODELS[self.chosen]

    @property
    def all_off(self) -> bool:
        """Every fitted model misses the holdout total by more than :data:`OFF_SHARE`."""
        err = self.table.loc[self.table["fitted"], "total_error"].abs()
        return bool(len(err) and (err > OFF_SHARE).all())

    @property
    def short(self) -> bool:
        """The holdout is too short or too thin to tell the models apart (see the constants)."""
        actual = float(self.table["actual_total"].iloc[0])
        return bool(
            actual < MIN_HOLDOUT_PURCHASES
            or self.holdout_length < MIN_HOLDOUT_SHARE * self.calibration_length
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run's clv_models dataset."""
        table = self.table.reset_index(names="model")
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "rule": self.rule,
            "holdout_length": self.holdout_length,
            "calibration_length": self.calibration_length,
            "time_unit": self.time_unit,
            "calibration_end": None if self.calibration_end is None else str(self.calibration_end),
            "holdout_end": None if self.holdout_end is None else str(self.holdout_end),
            "models": table.astype(object).where(table.notna(), None).to_dict("records"),
            "problems": dict(self.problems),
            "fit_seconds": dict(self.fit_seconds),
        }

    def summary(self) -> Summary:
        cols = ["log_likelihood", "aic", "bic", "predicted_total", "actual_total", "total_error",
                "mae", "rmse", "auc", "mse_difference", "mse_low", "mse_high"]  # fmt: skip
        facts = {
            "chosen": self.chosen_name or "none",
            "holdout": f"{period_words(self.holdout_length, self.time_unit)[9:]} after up to "
            f"{self.calibration_length:g} of calibration",
            "customers": f"{len(self.predictions):,}",
        }
        if self.calibration_end is not None and self.holdout_end is not None:
            facts["period"] = f"{self.calibration_end.date()} to {self.holdout_end.date()}"
        return Summary(
            "BG/NBD, Pareto/NBD and MBG/NBD on the same holdout",
            facts=facts,
            tables=[("per model", self.table[cols].round(4))],
            notes=[self.reason, *(f"{LIFETIME_MODELS[k]}: {v}" for k, v in self.problems.items())],
        )


def _paired_difference(first: np.ndarray, second: np.ndarray, level: float) -> dict[str, float]:
    """Mean of first - second over customers, its ``level`` z-interval and two-sided p-value."""
    d = np.asarray(first, float) - np.asarray(second, float)
    n = len(d)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = float(2 * stats.norm.sf(abs(mean) / se)) if se > 0 else float(mean == 0)
    return {"difference": mean, "low": mean - z * se, "high": mean + z * se, "p_value": p}


def _columns(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(features[c].to_numpy(float) for c in ("frequency", "recency", "T"))


def _groups(frequency: np.ndarray, actual: np.ndarray, predicted: dict[str, np.ndarray]):
    """Mean actual and predicted holdout purchases per calibration frequency 0..6, 7+."""
    f = np.minimum(frequency.astype(int), TOP_GROUP)
    frame = pd.DataFrame({"frequency": f, "actual": actual, **predicted})
    out = frame.groupby("frequency").agg(
        customers=("actual", "size"), actual=("actual", "mean"),
        **{k: (k, "mean") for k in predicted},
    )  # fmt: skip
    out.index = [f"{i}+" if i == TOP_GROUP else str(i) for i in out.index]
    out.index.name = "repeat_purchases"
    return out.reset_index()


UNIT_WORDS = {"D": "days", "W": "weeks", "M": "months", "H": "hours"}


def period_words(length: float, time_unit: str | None) -> str:
    """'the last 90 days': the checked period in words."""
    return f"the last {length:g} {UNIT_WORDS.get(time_unit or '', 'time units')}"


def _choose(
    table: pd.DataFrame, problems: dict[str, str], choice: str, level: float, period: str
) -> tuple[str | None, str]:
    """The chosen model and why, in plain words (the rule of the module docstring)."""
    usable = [k for k in table.index if k not in problems]
    if choice != "auto":
        if choice in problems:
            return None, (
                f"{LIFETIME_MODELS[choice]} was named in the parameters but cannot be used: "
                f"{problems[choice]}."
            )
        return choice, (
            f"{LIFETIME_MODELS[choice]} was named in the parameters (clv_model = "
            f"'{choice}'); the comparison is shown for reference."
        )
    if not usable:
        return None, (
            "No model can be chosen: every fit failed or left a parameter that the data do not "
            "pin down."
        )
    close = [k for k in usable if abs(table.loc[k, "total_error"]) <= OFF_SHARE]
    missed = [k for k in usable if k not in close]
    if close and missed:
        why_not = (
            " " + _names(missed) + f" missed the total of {period} by more than {OFF_SHARE:.0%} "
            "(" + ", ".join(f"{table.loc[k, 'total_error']:+.0%}" for k in missed) + ")."
        )
    elif missed:
        why_not = f" Every model missed the total of {period} by more than {OFF_SHARE:.0%}."
    else:
        why_not = ""
    candidates = close or usable
    best = min(candidates, key=lambda k: table.loc[k, "mse"])
    rmse = table.loc[best, "rmse"]
    name = LIFETIME_MODELS[best]
    if best == DEFAULT_MODEL or DEFAULT_MODEL not in candidates:
        others = [k for k in candidates if k != best]
        excluded = (
            f" (BG/NBD: {problems[DEFAULT_MODEL]})"
            if DEFAULT_MODEL in problems and best != DEFAULT_MODEL
            else ""
        )
        return best, (
            f"{name} predicts each customer's purchases in {period} most closely (root mean "
            f"squared error {rmse:.3f} purchases)"
            + (
                f" of the models that could be used{excluded}."
                if others
                else f"; it is the only model that could be used{excluded}."
            )
            + why_not
        )
    row = table.loc[best]
    base = table.loc[DEFAULT_MODEL, "rmse"]
    interval = (
        f"difference in mean squared error {row['mse_difference']:+.4f}, {level:.0%} interval "
        f"[{row['mse_low']:+.4f}, {row['mse_high']:+.4f}]"
    )
    if row["mse_high"] < 0:
        return best, (
            f"{name} predicts each customer's purchases in {period} more closely than BG/NBD "
            f"(root mean squared error {rmse:.3f} against {base:.3f} purchases; {interval}), "
            "more than chance would explain." + why_not
        )
    auc_p = row.get("auc_p", np.nan)
    if row.get("auc_difference", np.nan) > 0 and auc_p < 1 - level:
        auc, auc_base = table.loc[best, "auc"], table.loc[DEFAULT_MODEL, "auc"]
        return best, (
            f"{name} predicts each customer's purchases in {period} as closely as BG/NBD (root "
            f"mean squared error {rmse:.3f} against {base:.3f} purchases; {interval}, within "
            f"what chance would give), and its chance still active ranks the customers who "
            f"bought again far better (AUC {auc:.3f} against {auc_base:.3f}, DeLong "
            f"p {p_phrase(auc_p)}): BG/NBD counts every customer without a repeat purchase as surely "
            f"active. So {name} is used." + why_not
        )
    return DEFAULT_MODEL, (
        f"{name} predicts each customer's purchases in {period} slightly more closely than "
        f"BG/NBD (root mean squared error {rmse:.3f} against {base:.3f} purchases), but the "
        f"difference ({interval}) is within what chance would give, so BG/NBD, the standard "
        "model, is kept." + why_not
    )


def _names(keys: Sequence[str]) -> str:
    names = [LIFETIME_MODELS[k] for k in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def compare_models(
    calibration: pd.DataFrame,
    actual: pd.Series | np.ndarray,
    *,
    holdout_length: float,
    models: Sequence[str] = tuple(LIFETIME_MODELS),
    choice: str = "auto",
    level: float = 0.95,
    max_fit_customers: int | None = MAX_FIT_CUSTOMERS,
    random_state: int = 0,
) -> ModelChoice:
    """Fit ``models`` on the ``calibration`` clv features and compare them on ``actual``.

    ``actual``: each customer's purchases in the ``holdout_length`` time units after the
    calibration period (in the features' unit; counted as the features count purchases, one a
    period), a Series aligned on the features' index (missing: 0) or an array in their order.
    ``choice``: "auto" (the rule) or a model key (the comparison is then for reference).
    """
    keys = check_models(models)
    choice = check_choice(choice, keys)
    if not holdout_length > 0:
        raise CLVError(f"holdout_length must be > 0, got {holdout_length}")
    if not 0 < level < 1:
        raise CLVError(f"level must be between 0 and 1, got {level}")
    if isinstance(actual, pd.Series):
        y = actual.reindex(calibration.index).fillna(0).to_numpy(float)
    else:
        y = np.asarray(actual, dtype=float)
        if y.shape != (len(calibration),):
            raise CLVError(
                f"actual needs one value per calibration customer ({len(calibration)}), got "
                f"{y.shape}"
            )
    if not (np.isfinite(y) & (y >= 0)).all():
        raise CLVError("actual holdout purchases must be finite and >= 0")
    x = calibration["frequency"].to_numpy(float)
    n = len(calibration)
    fits: dict[str, LifetimeModel] = {}
    problems: dict[str, str] = {}
    seconds: dict[str, float] = {}
    predicted: dict[str, np.ndarray] = {}
    alive: dict[str, np.ndarray] = {}
    for key in keys:
        start = time.perf_counter()
        try:
            fit = fit_lifetime_model(
                key, calibration, max_customers=max_fit_customers, random_state=random_state
            )
        except CLVError as e:
            problems[key] = f"the fit failed ({e})"
            continue
        finally:
            seconds[key] = time.perf_counter() - start
        fits[key] = fit
        if not fit.identified:
            problems[key] = (
                "the data do not pin down its parameters "
                f"({', '.join(fit.model.weak_parameters_) or 'the optimiser did not converge'})"
            )
        predicted[key] = np.asarray(fit.expected_purchases(float(holdout_length), calibration))
        alive[key] = np.asarray(fit.p_alive(calibration))
    bought = y > 0
    rows = {}
    for key in keys:
        row: dict[str, Any] = {"name": LIFETIME_MODELS[key], "fitted": key in fits}
        row["identified"] = key in fits and fits[key].identified
        if key in fits:
            ll = float(fits[key].model.log_likelihood_)
            if fits[key].sample is not None:  # the likelihood of every customer, as the others
                theta = list(fits[key].params_.values())
                ll = float(fits[key].model._log_likelihood(theta, *_columns(calibration)).sum())
            pred = predicted[key]
            err = pred - y
            row |= {
                "log_likelihood": ll,
                "aic": 2 * N_PARAMS - 2 * ll,
                "bic": N_PARAMS * math.log(n) - 2 * ll,
                "predicted_total": float(pred.sum()),
                "actual_total": float(y.sum()),
                "total_error": float(pred.sum() / y.sum() - 1) if y.sum() > 0 else np.nan,
                "mae": float(np.abs(err).mean()),
                "mse": float((err**2).mean()),
                "rmse": float(np.sqrt((err**2).mean())),
                "auc": np.nan,
            }
        rows[key] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    for col in ("mse_difference", "mse_low", "mse_high", "mse_p", "auc_difference", "auc_p"):
        table[col] = np.nan
    two_classes = bought.sum() >= 2 and (~bought).sum() >= 2
    base = DEFAULT_MODEL if DEFAULT_MODEL in fits else None
    for key in fits:
        if two_classes:
            ref = alive[base] if base else alive[key]
            d = auc_difference(bought, alive[key], ref, level=level)
            table.loc[key, "auc"] = d["auc_first"]
            if base and key != base:
                table.loc[key, ["auc_difference", "auc_p"]] = d["difference"], d["p_value"]
        if base and key != base:
            p = _paired_difference((predicted[key] - y) ** 2, (predicted[base] - y) ** 2, level)
            table.loc[key, ["mse_difference", "mse_low", "mse_high", "mse_p"]] = (
                p["difference"], p["low"], p["high"], p["p_value"],
            )  # fmt: skip
    table["actual_total"] = float(y.sum())
    period = period_words(float(holdout_length), calibration.attrs.get("time_unit"))
    chosen, reason = _choose(table, problems, choice, level, period)
    preds = pd.DataFrame({"frequency": x, "actual": y, **predicted}, index=calibration.index)
    calib_length = float(calibration["T"].max())
    return ModelChoice(
        chosen=chosen,
        reason=reason,
        table=table,
        groups=_groups(x, y, predicted),
        predictions=preds,
        fits=fits,
        problems=problems,
        holdout_length=float(holdout_length),
        calibration_length=calib_length,
        time_unit=calibration.attrs.get("time_unit"),
        level=float(level),
        rule=choice,
        fit_seconds=seconds,
    )


def choose_lifetime_model(
    orders: pd.DataFrame | ibis.Table,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    models: Sequence[str] = tuple(LIFETIME_MODELS),
    choice: str = "auto",
    level: float = 0.95,
    max_fit_customers: int | None = MAX_FIT_CUSTOMERS,
    random_state: int = 0,
) -> ModelChoice:
    """:func:`compare_models` on the temporal holdout of the last ``horizon_days`` before the
    analysis date: clv features (days) at analysis - h, purchase days in (analysis - h, analysis].

    Only customers with a purchase by the cutoff are compared (the models predict for known
    customers); the calibration period is each customer's time since the first purchase.
    """
    ref = to_day(analysis_date, "analysis_date", error=CLVError)
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise CLVError(f"horizon_days must be a whole number >= 1, got {horizon_days}")
    keys = check_models(models)
    choice = check_choice(choice, keys)
    cut = ref - pd.Timedelta(days=int(horizon_days))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exclusions were reported by the main RFM run
            feats = rfm_features(orders, analysis_date=cut, convention="clv", time_unit="D")
    except RFMError as e:
        raise CLVError(f"the purchases before the checked period cannot be used: {e}") from None
    if len(feats) == 0:
        raise CLVError(f"no customer has a purchase by {cut:%d %b %Y}, the start of the holdout")
    actual = _purchases_between(orders, cut, ref)["purchase_days"]
    result = compare_models(
        feats,
        actual,
        holdout_length=float(horizon_days),
        models=keys,
        choice=choice,
        level=level,
        max_fit_customers=max_fit_customers,
        random_state=random_state,
    )
    result.calibration_end, result.holdout_end = cut, ref
    return result

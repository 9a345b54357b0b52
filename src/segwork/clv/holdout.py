"""The check on past data: the propensity model trained and evaluated on the last horizons before
the analysis date (:func:`temporal_holdout`), and BG/NBD against it on the same holdout
(:func:`compare_on_holdout`) with the DeLong interval of their AUC difference
(:func:`auc_difference`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from segwork.clv.bgnbd import BetaGeo
from segwork.clv.errors import CLVError
from segwork.clv.propensity import (
    PropensityModel,
    _purchases_between,
    _scores,
    build_propensity_dataset,
    calibration_table,
)
from segwork.rfm.features import features as rfm_features
from segwork.schema import to_day
from segwork.summary import Summary


@dataclass
class HoldoutResult:
    """A propensity model evaluated on the last horizon before the analysis date.

    ``model_holdout`` was trained on cutoff analysis - 2h (labels from (analysis - 2h,
    analysis - h]) and scored at analysis - h against the purchases of the last h days
    (``metrics``, ``calibration``, ``predictions``). ``model`` is refitted on the latest labelled
    window (cutoff analysis - h) for scoring at the analysis date with :meth:`score`.
    """

    metrics: dict[str, float]
    calibration: pd.DataFrame
    predictions: pd.DataFrame  # customer_id index: propensity, actual
    train_cutoff: pd.Timestamp
    eval_cutoff: pd.Timestamp
    analysis_date: pd.Timestamp
    model: PropensityModel
    model_holdout: PropensityModel
    _tables: tuple = field(default=(), repr=False)

    def score(self, analysis_date: Any = None) -> pd.Series:
        """Propensity at ``analysis_date`` (default: the analysis date) from the refitted model."""
        orders, customers, interactions = self._tables
        when = (
            self.analysis_date
            if analysis_date is None
            else to_day(analysis_date, "analysis_date", error=CLVError)
        )
        X, _ = build_propensity_dataset(
            orders, customers, interactions, cutoff=when, horizon_days=self.model.horizon_days
        )
        return self.model.predict_proba(X)

    def summary(self) -> Summary:
        """What was trained and checked when, and AUC and Brier score on the holdout."""
        m = self.metrics
        return Summary(
            f"Propensity model ({self.model.model}), temporal holdout",
            facts={
                "trained on features at": f"{self.train_cutoff.date()}",
                "evaluated on features at": f"{self.eval_cutoff.date()}",
                "horizon": f"{m['horizon_days']:.0f} days (up to {self.analysis_date.date()})",
                "customers": f"{m['n']:,.0f}",
                "buyers": f"{m['base_rate']:.1%}",
                "mean predicted": f"{m['mean_predicted']:.1%}",
            },
            notes=[
                f"AUC {m['auc']:.3f}   Brier {m['brier']:.4f} (always predicting the base rate: "
                f"{m['brier_baseline']:.4f})"
            ],
        )


def temporal_holdout(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
) -> HoldoutResult:
    """Train at analysis - 2h, evaluate at analysis - h on the last h days, refit for scoring.

    No information after a cutoff enters its features; the evaluation labels are the purchases
    in the last ``horizon_days`` up to and including the analysis date.
    """
    ref = to_day(analysis_date, "analysis_date", error=CLVError)
    h = pd.Timedelta(days=int(horizon_days))
    train_cut, eval_cut = ref - 2 * h, ref - h
    X_tr, y_tr = build_propensity_dataset(
        orders, customers, interactions, cutoff=train_cut, horizon_days=horizon_days
    )
    X_ev, y_ev = build_propensity_dataset(
        orders, customers, interactions, cutoff=eval_cut, horizon_days=horizon_days
    )
    for label, yy, cut in (("training", y_tr, train_cut), ("holdout", y_ev, eval_cut)):
        buyers = int(yy.sum())
        if min(buyers, len(yy) - buyers) < MIN_CLASS:
            raise CLVError(
                f"too few customers to check the next-purchase models: in the {label} window "
                f"({horizon_days} days after {cut:%d %b %Y}) {buyers:,} of {len(yy):,} customers "
                f"bought and {len(yy) - buyers:,} did not; at least {MIN_CLASS} of each are needed"
            )
    first = PropensityModel(horizon_days, model, random_state).fit(X_tr, y_tr)
    p = first.predict_proba(X_ev)
    metrics = _scores(y_ev.to_numpy(), p.to_numpy()) | {"horizon_days": float(horizon_days)}
    preds = pd.DataFrame({"propensity": p, "actual": y_ev})
    final = PropensityModel(horizon_days, model, random_state).fit(X_ev, y_ev)
    return HoldoutResult(
        metrics=metrics,
        calibration=calibration_table(y_ev, preds[["propensity"]]),
        predictions=preds,
        train_cutoff=train_cut,
        eval_cutoff=eval_cut,
        analysis_date=ref,
        model=final,
        model_holdout=first,
        _tables=(orders, customers, interactions),
    )


MIN_CLASS = 10  # buyers and non-buyers needed in each holdout window


def auc_difference(
    actual: Any, first: Any, second: Any, *, level: float = 0.95
) -> dict[str, float]:
    """AUC of two scores on the same customers and the confidence interval of their difference.

    DeLong, DeLong & Clarke-Pearson (1988) for correlated ROC curves, computed with midranks
    (Sun & Xu 2014): the variance of AUC1 - AUC2 from the structural components of both scores
    over the buyers and over the non-buyers. Returns auc_first, auc_second, difference (first -
    second), se, low, high (the ``level`` Wald interval) and p_value (two-sided, H0: equal AUC).
    """
    y = np.asarray(actual, dtype=bool)
    scores = np.vstack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    if scores.shape[1] != len(y):
        raise CLVError("actual and both scores must have one value per customer")
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise CLVError(
            f"the AUC difference needs at least two buyers and two non-buyers (got {m} and {n})"
        )
    aucs, v10, v01 = [], [], []
    for k in range(2):
        tx = stats.rankdata(pos[k])
        ty = stats.rankdata(neg[k])
        tz = stats.rankdata(np.concatenate([pos[k], neg[k]]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)  # per buyer: share of non-buyers scored lower (ties 1/2)
        v01.append(1.0 - (tz[m:] - ty) / m)  # per non-buyer: share of buyers scored higher
    s = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    diff = aucs[0] - aucs[1]
    var = max(float(s[0, 0] + s[1, 1] - 2 * s[0, 1]), 0.0)
    se = math.sqrt(var)
    z = stats.norm.ppf(0.5 + level / 2)
    # se = 0: both scores rank every buyer against every non-buyer alike
    p_value = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    return {
        "auc_first": float(aucs[0]),
        "auc_second": float(aucs[1]),
        "difference": float(diff),
        "se": se,
        "low": float(diff - z * se),
        "high": float(diff + z * se),
        "p_value": p_value,
        "level": float(level),
    }


_GROUP_EDGES = [-1, 0, 1, 3, 7, np.inf]


_GROUP_LABELS = ["0", "1", "2-3", "4-7", "8+"]


@dataclass
class HoldoutComparison:
    """BG/NBD and the propensity model on the same holdout; also readable as a dict.

    ``predictions`` (per customer: propensity, bgnbd = P(at least one purchase), bgnbd_expected,
    past_frequency, actual, actual_purchases), ``metrics`` (AUC, Brier per model), ``calibration``
    (per decile), ``groups`` (per group of past repeat purchases), ``tidy`` (all of it long, for
    side-by-side plots), ``bgnbd`` (the fit at the holdout cutoff), ``holdout`` and ``model``.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    groups: pd.DataFrame
    tidy: pd.DataFrame
    bgnbd: BetaGeo
    holdout: HoldoutResult
    model: PropensityModel
    auc_difference: dict[str, float] = field(default_factory=dict)  # propensity - BG/NBD

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)

    def summary(self) -> Summary:
        """AUC and Brier score of both models on the holdout and the DeLong interval of the AUC
        difference (propensity - BG/NBD); the page's words are in :mod:`segwork.pages.rfm_clv`."""
        d = self.auc_difference
        notes = (
            [
                f"AUC difference (propensity - BG/NBD) {d['difference']:+.3f}, "
                f"{d['level']:.0%} CI [{d['low']:+.3f}, {d['high']:+.3f}], p = {d['p_value']:.3g} "
                "(DeLong)"
            ]
            if d
            else []
        )
        cols = ["n", "base_rate", "auc", "brier", "brier_baseline", "mean_predicted"]
        return Summary(
            "BG/NBD and the propensity model on the same holdout",
            facts={
                "holdout": f"{self.holdout.eval_cutoff.date()} to "
                f"{self.holdout.analysis_date.date()}",
            },
            tables=[("metrics per model", self.metrics[cols].round(4))],
            notes=notes,
        )


def compare_on_holdout(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    horizon_days: int = 90,
    model: str = "hgb",
    random_state: int = 0,
    holdout: HoldoutResult | None = None,
) -> HoldoutComparison:
    """BG/NBD and the propensity model predicting the same last horizon, side by side.

    ``holdout``: a :func:`temporal_holdout` result for the same data and horizon, when the
    caller has one already (it is not fitted again).

    Both see data up to analysis - h only. BG/NBD is fitted on the clv features (in days) at
    that cutoff and predicts P(at least one purchase in the next h days) = 1 - P(X(h) = 0 |
    history) and the expected number of purchase days; the propensity model is
    :func:`temporal_holdout`'s. Compared on the customers both score (those with a purchase by
    the cutoff): AUC, Brier, calibration per decile, and predicted vs actual buyers and purchases
    per group of past repeat purchases. ``result.tidy`` stacks it long:
    columns model, view ("decile" or "group"), bin, customers, predicted, actual,
    predicted_purchases, actual_purchases.
    """
    ref = to_day(analysis_date, "analysis_date", error=CLVError)
    eval_cut = ref - pd.Timedelta(days=int(horizon_days))
    if holdout is None:
        holdout = temporal_holdout(
            orders,
            customers,
            interactions,
            analysis_date=ref,
            horizon_days=horizon_days,
            model=model,
            random_state=random_state,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exclusions were reported by the main RFM run
        feats = rfm_features(orders, analysis_date=eval_cut, convention="clv", time_unit="D")
    bg = BetaGeo().fit(feats)
    h = float(horizon_days)
    bg_pred = pd.DataFrame(
        {
            "bgnbd": bg.p_purchase(h, feats),
            "bgnbd_expected": bg.expected_purchases(h, feats),
            "past_frequency": feats["frequency"].to_numpy(),
        },
        index=feats.index,
    )
    actual = _purchases_between(orders, eval_cut, ref)
    preds = holdout.predictions.join(bg_pred, how="inner")
    preds["actual_purchases"] = (
        actual["purchase_days"].reindex(preds.index).fillna(0).astype("int64")
    )
    y = preds["actual"].to_numpy(dtype=float)
    metrics = pd.DataFrame({m: _scores(y, preds[m].to_numpy()) for m in ("propensity", "bgnbd")}).T
    metrics["horizon_days"] = h
    calibration = calibration_table(preds["actual"], preds[["propensity", "bgnbd"]])
    grouped = preds.assign(
        group=pd.cut(preds["past_frequency"], _GROUP_EDGES, labels=_GROUP_LABELS)
    ).groupby("group", observed=True)
    groups = grouped.agg(
        customers=("actual", "size"),
        actual_buyers=("actual", "mean"),
        propensity=("propensity", "mean"),
        bgnbd=("bgnbd", "mean"),
        actual_purchases=("actual_purchases", "mean"),
        bgnbd_expected=("bgnbd_expected", "mean"),
    ).reset_index()
    groups["group"] = groups["group"].astype(str)
    tidy = _tidy(calibration, groups)
    diff = auc_difference(y, preds["propensity"].to_numpy(), preds["bgnbd"].to_numpy())
    return HoldoutComparison(
        preds, metrics, calibration, groups, tidy, bg, holdout, holdout.model, diff
    )


def _tidy(calibration: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    cal = calibration.assign(view="decile", bin=calibration["decile"].astype(str))
    cal["predicted_purchases"] = np.nan
    cal["actual_purchases"] = np.nan
    parts = [cal.drop(columns="decile")]
    for model in ("propensity", "bgnbd"):
        parts.append(
            pd.DataFrame(
                {
                    "model": model,
                    "view": "group",
                    "bin": groups["group"],
                    "customers": groups["customers"],
                    "predicted": groups[model],
                    "actual": groups["actual_buyers"],
                    "predicted_purchases": groups["bgnbd_expected"] if model == "bgnbd" else np.nan,
                    "actual_purchases": groups["actual_purchases"],
                }
            )
        )
    cols = [
        "model",
        "view",
        "bin",
        "customers",
        "predicted",
        "actual",
        "predicted_purchases",
        "actual_purchases",
    ]
    return pd.concat(parts, ignore_index=True)[cols]


MODEL_NAMES = {"propensity": "propensity model", "bgnbd": "BG/NBD"}  # as the pages name them

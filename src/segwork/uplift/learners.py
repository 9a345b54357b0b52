"""Uplift learners with scikit-learn's shape: ``fit(X, y, treatment)``, ``predict(X)`` -> the
expected effect of treating each row (treated minus untreated outcome).

* :class:`TwoModelUplift` (the "T-learner"): one model of the outcome among the treated, one among
  the control; the uplift is the difference of their predictions. Binary or numeric outcomes.
* :class:`ClassTransformationUplift` (Jaskowski & Jaroszewicz 2012): one classifier of
  ``z = 1`` when (treated and converted) or (control and not converted). With a treatment share
  of exactly 1/2, ``uplift = 2 P(z = 1 | x) - 1``. For any other share ``p`` this module uses the
  **inverse-propensity-weighted** version: treated rows weigh ``1 / (2 p)`` and control rows
  ``1 / (2 (1 - p))`` in the fit, which makes the weighted sample a 50/50 experiment, so the same
  formula holds. (The alternative, the generalised transformed outcome ``y t / p - y (1 - t) /
  (1 - p)`` fitted by regression, has the same expectation but a far larger variance.) Binary
  outcomes only.
* :class:`XLearner` (Kuenzel et al. 2019): outcome models per arm, then models of the imputed
  individual effects (treated: ``y - mu_0(x)``; control: ``mu_1(x) - y``), combined with the
  treatment share as propensity: ``tau = p tau_0 + (1 - p) tau_1``. Binary or numeric outcomes.

The default model is a small HistGradientBoosting (fast on a million rows, handles missing values
and pandas categorical columns natively) with a fixed ``random_state``: a classifier for 0/1
outcomes, a regressor for amounts. In a randomised campaign the treatment share does not depend on
``x``, so it is estimated once from the training rows (``treatment_share_``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from segwork.uplift.errors import UpliftError

__all__ = [
    "DEFAULT_HGB",
    "ClassTransformationUplift",
    "TwoModelUplift",
    "XLearner",
    "default_estimator",
    "is_binary",
]

#: Settings of the default model: shallow, regularised trees suit small, noisy effects.
DEFAULT_HGB: dict[str, Any] = dict(
    max_iter=100,
    learning_rate=0.1,
    max_leaf_nodes=15,
    min_samples_leaf=100,
    l2_regularization=1.0,
    early_stopping=False,
    random_state=0,
)


def default_estimator(binary: bool, random_state: int = 0) -> BaseEstimator:
    """The default outcome model: a HistGradientBoosting classifier (0/1) or regressor."""
    params = {**DEFAULT_HGB, "random_state": random_state}
    return (
        HistGradientBoostingClassifier(**params)
        if binary
        else HistGradientBoostingRegressor(**params)
    )


def is_binary(y: np.ndarray) -> bool:
    """Whether an outcome is 0/1."""
    return bool(np.isin(y, (0, 1)).all())


def _check(X, y, treatment) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment)
    if len(X) != len(y) or len(y) != len(t):
        raise UpliftError(f"X, y and treatment differ in length: {len(X)}, {len(y)}, {len(t)}")
    if not np.isin(t, (0, 1)).all():
        raise UpliftError("treatment must be 0 (control) or 1 (treated) on every row")
    if not np.isfinite(y).all():
        raise UpliftError("the outcome has missing or infinite values; fill or drop those rows")
    t = t.astype(int)
    for arm, name in ((1, "treated"), (0, "control")):
        if (t == arm).sum() < 2:
            raise UpliftError(f"the {name} group has fewer than 2 rows; nothing to learn from")
    return y, t


def _rows(X, mask: np.ndarray):
    return X.loc[mask] if isinstance(X, pd.DataFrame) else np.asarray(X)[mask]


def _outcome_model(estimator, binary: bool, random_state: int) -> BaseEstimator:
    return clone(estimator) if estimator is not None else default_estimator(binary, random_state)


def _fit_outcome(model: BaseEstimator, X, y: np.ndarray, sample_weight=None) -> BaseEstimator:
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    if is_classifier(model):
        yi = y.astype(int)
        if np.unique(yi).size < 2:  # one class only: predict it (a constant) for every row
            return _Constant(float(yi[0]))
        return model.fit(X, yi, **kwargs)
    return model.fit(X, y, **kwargs)


def _predict_outcome(model, X) -> np.ndarray:
    """Expected outcome: P(y = 1) from a classifier, the prediction from a regressor."""
    if isinstance(model, _Constant):
        return np.full(len(X), model.value)
    if is_classifier(model):
        return model.predict_proba(X)[:, list(model.classes_).index(1)]
    return np.asarray(model.predict(X), dtype=float)


class _Constant:
    """Stands in for a classifier fitted on one class only."""

    def __init__(self, value: float) -> None:
        self.value = value


class _UpliftBase(BaseEstimator):
    def _start(self, X, y, treatment):
        y, t = _check(X, y, treatment)
        self.treatment_share_ = float(t.mean())
        self.binary_outcome_ = is_binary(y)
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return y, t

    def _check_fitted(self) -> None:
        if not hasattr(self, "treatment_share_"):
            raise UpliftError(f"{type(self).__name__} is not fitted yet; call fit(X, y, treatment)")


class TwoModelUplift(_UpliftBase):
    """Two outcome models, one per arm; uplift = treated prediction - control prediction."""

    def __init__(self, estimator: BaseEstimator | None = None, random_state: int = 0) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> TwoModelUplift:
        y, t = self._start(X, y, treatment)
        binary = self.binary_outcome_
        self.model_treated_ = _fit_outcome(
            _outcome_model(self.estimator, binary, self.random_state), _rows(X, t == 1), y[t == 1]
        )
        self.model_control_ = _fit_outcome(
            _outcome_model(self.estimator, binary, self.random_state), _rows(X, t == 0), y[t == 0]
        )
        return self

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        return _predict_outcome(self.model_treated_, X) - _predict_outcome(self.model_control_, X)


class ClassTransformationUplift(_UpliftBase):
    """One classifier of the transformed class ``z = [y == t]``, inverse-propensity weighted
    when the treatment share is not 1/2; uplift = 2 P(z = 1 | x) - 1. Binary outcomes only."""

    def __init__(self, estimator: BaseEstimator | None = None, random_state: int = 0) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> ClassTransformationUplift:
        y, t = self._start(X, y, treatment)
        if not self.binary_outcome_:
            raise UpliftError(
                "the class-transformation learner needs a 0/1 outcome; use TwoModelUplift or "
                "XLearner for amounts"
            )
        model = _outcome_model(self.estimator, True, self.random_state)
        if not is_classifier(model):
            raise UpliftError("the class-transformation learner needs a classifier as estimator")
        p = self.treatment_share_
        z = (y.astype(int) == t).astype(int)
        weight = np.where(t == 1, 1 / (2 * p), 1 / (2 * (1 - p)))
        self.weighted_ = not np.isclose(p, 0.5)
        self.model_ = _fit_outcome(model, X, z, weight if self.weighted_ else None)
        return self

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        return 2 * _predict_outcome(self.model_, X) - 1


class XLearner(_UpliftBase):
    """X-learner: outcome models per arm, effect models of the imputed effects per arm, combined
    by the treatment share. ``effect_estimator`` (a regressor) defaults to the HGB regressor."""

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        effect_estimator: BaseEstimator | None = None,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.effect_estimator = effect_estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> XLearner:
        y, t = self._start(X, y, treatment)
        binary = self.binary_outcome_
        X1, X0, y1, y0 = _rows(X, t == 1), _rows(X, t == 0), y[t == 1], y[t == 0]
        self.model_treated_ = _fit_outcome(
            _outcome_model(self.estimator, binary, self.random_state), X1, y1
        )
        self.model_control_ = _fit_outcome(
            _outcome_model(self.estimator, binary, self.random_state), X0, y0
        )
        d1 = y1 - _predict_outcome(self.model_control_, X1)
        d0 = _predict_outcome(self.model_treated_, X0) - y0
        effect = self.effect_estimator
        if effect is not None and is_classifier(effect):
            raise UpliftError("the X-learner's effect_estimator must be a regressor")
        self.effect_treated_ = _fit_outcome(
            _outcome_model(effect, False, self.random_state), X1, d1
        )
        self.effect_control_ = _fit_outcome(
            _outcome_model(effect, False, self.random_state), X0, d0
        )
        return self

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        p = self.treatment_share_
        return p * _predict_outcome(self.effect_control_, X) + (1 - p) * _predict_outcome(
            self.effect_treated_, X
        )

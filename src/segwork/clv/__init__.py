"""Next purchase and lifetime value: BG/NBD, Gamma-Gamma, discounted CLV and a propensity model.

The Buy-Till-You-Die models take the clv-convention features of :func:`segwork.rfm.features`
(frequency = repeat purchase periods, recency = first to last purchase, T = first purchase to
the end of observation, monetary = mean spend per repeat purchase period, 0 without one), as
lifetimes and PyMC-Marketing do. Times are in the unit of the features (days by default).

The package in one line per module:

* :mod:`~segwork.clv.bgnbd` - :class:`BetaGeo`, the BG/NBD model (chance still active, expected
  purchases); a scikit-learn estimator.
* :mod:`~segwork.clv.paretonbd` - :class:`ParetoNBD`, the Pareto/NBD model (customers may
  leave at any time); a scikit-learn estimator.
* :mod:`~segwork.clv.mbgnbd` - :class:`ModifiedBetaGeo`, the MBG/NBD model (one-time buyers may
  have left too); a scikit-learn estimator.
* :mod:`~segwork.clv.sbg` - :class:`ShiftedBetaGeometric`, the sBG model of contract duration
  (retention curves, discounted lifetimes, value per contract); a scikit-learn estimator.
* :mod:`~segwork.clv.gamma_gamma` - :class:`GammaGamma`, spend per purchase; a scikit-learn
  estimator.
* :mod:`~segwork.clv.value` - discounted lifetime value, per-customer predictions, value per
  segment.
* :mod:`~segwork.clv.propensity` - the propensity dataset and model, scores and calibration.
* :mod:`~segwork.clv.holdout` - the check on past data: temporal holdout, BG/NBD against the
  propensity model, DeLong AUC difference.
* :mod:`~segwork.clv.model_choice` - BG/NBD, Pareto/NBD and MBG/NBD on the same temporal
  holdout (totals, per-customer error, conditional expectations, likelihood) and the one chosen
  by a stated rule; :class:`LifetimeModel`, their common interface.
* :mod:`~segwork.clv.inputs` - checked (frequency, recency, T) histories and their distinct rows.
* :mod:`~segwork.clv.fitting` - maximum likelihood helpers (optimiser, covariance, weak
  parameters).
* :mod:`~segwork.clv.errors` - CLVError and CLVWarning.

The computation of notebook 02 is :func:`segwork.steps.rfm_clv.run`; figures are in
:mod:`segwork.plots.clv` and page text in :mod:`segwork.pages.rfm_clv`.
"""

from segwork.clv.bgnbd import BetaGeo, bgnbd_log_likelihood
from segwork.clv.errors import CLVError, CLVWarning
from segwork.clv.gamma_gamma import GammaGamma, gamma_gamma_log_likelihood
from segwork.clv.holdout import (
    MIN_CLASS,
    MODEL_NAMES,
    HoldoutComparison,
    HoldoutResult,
    auc_difference,
    compare_on_holdout,
    temporal_holdout,
)
from segwork.clv.mbgnbd import ModifiedBetaGeo, mbgnbd_log_likelihood
from segwork.clv.model_choice import (
    LIFETIME_MODELS,
    LifetimeModel,
    ModelChoice,
    choose_lifetime_model,
    compare_models,
    fit_lifetime_model,
)
from segwork.clv.paretonbd import ParetoNBD, paretonbd_log_likelihood
from segwork.clv.propensity import (
    INTERACTION_KINDS,
    PROFILE_COLUMNS,
    PropensityModel,
    build_propensity_dataset,
    calibration_table,
)
from segwork.clv.sbg import ShiftedBetaGeometric, sbg_log_likelihood
from segwork.clv.value import (
    MONTH_IN_UNITS,
    customer_lifetime_value,
    customer_table,
    value_by_segment,
)

__all__ = [
    "INTERACTION_KINDS",
    "LIFETIME_MODELS",
    "MIN_CLASS",
    "MODEL_NAMES",
    "MONTH_IN_UNITS",
    "PROFILE_COLUMNS",
    "BetaGeo",
    "CLVError",
    "CLVWarning",
    "GammaGamma",
    "HoldoutComparison",
    "HoldoutResult",
    "LifetimeModel",
    "ModelChoice",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "PropensityModel",
    "ShiftedBetaGeometric",
    "auc_difference",
    "bgnbd_log_likelihood",
    "build_propensity_dataset",
    "calibration_table",
    "choose_lifetime_model",
    "compare_models",
    "compare_on_holdout",
    "customer_lifetime_value",
    "customer_table",
    "fit_lifetime_model",
    "gamma_gamma_log_likelihood",
    "mbgnbd_log_likelihood",
    "paretonbd_log_likelihood",
    "sbg_log_likelihood",
    "temporal_holdout",
    "value_by_segment",
]

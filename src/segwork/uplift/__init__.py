"""Uplift: whom to target next. Per-customer models of the effect of a campaign, learned from past
randomised campaigns, and their held-out evaluation with Qini and uplift curves.

Modules: ``learners`` (:class:`TwoModelUplift`, :class:`ClassTransformationUplift`,
:class:`XLearner`: scikit-learn estimators with ``fit(X, y, treatment)`` and ``predict(X)``),
``features`` (:func:`feature_spec`: which columns of the customer table and the exposures are
features, and how they are encoded), ``metrics`` (uplift and Qini curves, their areas, uplift at
k, the share of the effect kept by the top k: pure numpy, the definitions of scikit-uplift, which
the tests use as an oracle), ``evaluation`` (:func:`evaluate`: held-out comparison against random
targeting and "target the segments that won", with bootstrap intervals). Pure: DataFrames and
arrays in, arrays and small result objects out; :mod:`segwork.steps.uplift` runs it on a campaign.
"""

from segwork.uplift.errors import UpliftError
from segwork.uplift.evaluation import (
    LEARNER_NAMES,
    RANDOM,
    UpliftEvaluation,
    default_learners,
    evaluate,
    held_out_split,
    segment_policy_scores,
)
from segwork.uplift.features import FeatureSpec, feature_spec
from segwork.uplift.learners import (
    ClassTransformationUplift,
    TwoModelUplift,
    XLearner,
    default_estimator,
)
from segwork.uplift.metrics import (
    EffectKept,
    effect_kept,
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_area,
    qini_auc_score,
    qini_curve,
    uplift_area,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)

__all__ = [
    "LEARNER_NAMES",
    "RANDOM",
    "ClassTransformationUplift",
    "EffectKept",
    "FeatureSpec",
    "TwoModelUplift",
    "UpliftError",
    "UpliftEvaluation",
    "XLearner",
    "default_estimator",
    "default_learners",
    "effect_kept",
    "evaluate",
    "feature_spec",
    "held_out_split",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_area",
    "qini_auc_score",
    "qini_curve",
    "segment_policy_scores",
    "uplift_area",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
]

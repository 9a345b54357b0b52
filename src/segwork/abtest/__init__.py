"""A/B(/n) evaluation of campaigns by segment: did it work, for whom, how much, where to roll out.

Everything is computed from per-cell sufficient statistics (count, mean, centred sums of squares
and cross-products per campaign x segment x variant), aggregated once - in pandas with
``np.bincount`` or in the Ibis backend (DuckDB) for an Ibis table - and then evaluated with
vectorised formulas, so thousands of cells take well under a second.

Metrics are outcome columns of the exposures (:func:`resolve_metrics`): ``binary`` (0/1 per
customer, tested as "conversion" below), ``numeric`` or ``money`` (a mean per customer, tested as
"revenue" below); the contract's ``converted`` and ``revenue`` are the default.

Decisions (:func:`recommend`) follow the evidence: one decision per campaign unless the
interaction test finds that the effect differs between segments; then one per segment. Customers
with no segment value are never the only target of a roll-out. Numbers are written with the
decimals their intervals need (:func:`metric_formats`).

Conventions (also printed by :meth:`ABResult.summary` and in the ``method`` column):

* **Comparison**: each variant against the control of the same campaign and segment;
  ``diff = variant_mean - control_mean``; two-sided tests; ``(1 - alpha)`` intervals, which are
  *not* adjusted for multiplicity (only the p-values are; :func:`decide` rolls out and stops
  only on adjusted p-values of the test against the minimum useful effect).
* **Conversion** (0/1 per customer): p-value of the *unpooled* two-proportion z-test (Wald,
  ``se^2 = p_v(1-p_v)/n_v + p_c(1-p_c)/n_c``); the interval for the difference is **Newcombe's
  hybrid score interval** (method 10 of Newcombe 1998, built from the two Wilson intervals), which
  stays valid at 0/n. Per-arm rates carry Wilson intervals. If both arms have no within-arm
  variation (all 0 or all 1) the z statistic is 0/0: the p-value is 1 when the rates are equal and
  undefined (NaN, with a warning) for complete separation.
* **Revenue per customer** (customers without a purchase count as 0): Welch's t-test with
  Welch-Satterthwaite degrees of freedom and the matching t interval; per-arm means carry
  t intervals (n - 1 df). Needs at least 2 customers per arm.
* **Relative lift** ``variant_mean / control_mean - 1`` with a delta-method normal interval for the
  ratio of two independent means: ``se^2 = V_v / m_c^2 + m_v^2 V_c / m_c^4`` with ``V`` the
  variance of each mean as used by the test above. Control mean 0 -> lift is NaN with a warning.
* **Bayesian view**: conversion has Beta(1, 1) priors, so Beta(1 + x, 1 + n - x) posteriors;
  ``chance_to_beat_control = P(p_v > p_c)`` and ``expected_loss = E[max(p_c - p_v, 0)]`` (the
  expected shortfall if the variant is chosen, in metric units) are computed by 48-point
  Gauss-Legendre integration over the narrower posterior (accurate to ~1e-10), or by Monte Carlo
  with a fixed seed when ``n_bayes_draws`` is given. Revenue uses the normal approximation
  ``diff ~ N(diff_hat, se_welch^2)`` in closed form.
* **CUPED** (``pre_metric``): ``theta`` = pooled within-arm covariance / variance of the
  pre-period metric (the regression-adjustment slope of ``y ~ arm + x``, so ``cuped_diff`` equals
  that OLS treatment coefficient); the adjusted outcome ``y - theta (x - mean x)`` is then tested
  exactly as above but with a normal/Welch interval (Wald z for conversion, Welch t for revenue).
  ``ci_width_reduction = 1 - width_cuped / width_unadjusted`` compares it with the unadjusted
  interval of the same kind (Wald z / Welch t), so it measures only the adjustment.
* **Winsorization** (``winsorize=q``, default off): revenue above the q-quantile (linear
  interpolation) of the campaign's revenue, pooled over all variants and segments so the cap does
  not depend on the treatment, is set to that quantile; the cap is stated in the output.
* **Multiple comparisons**: Holm (default), Benjamini-Hochberg (``"fdr_bh"``) or ``"none"``; the
  family is all segments x variants x metrics of one campaign (rows with a p-value).
* **Guards**: sample ratio mismatch (chi-square goodness of fit of the variant counts against
  ``expected_shares``, equal by default) per campaign and per segment, flagged at p < 0.001; warnings
  for arms under 30 customers, fewer than 5 expected conversions, zero conversions.
* **Heterogeneity** (:func:`heterogeneity`): joint Wald test that all treatment x segment
  interaction terms are zero in the OLS ``y ~ treat * C(segment)`` (a linear probability model for
  conversion) with HC2 errors. The model is saturated, so HC2 equals the per-cell ``s^2/n`` and the
  test is computed in closed form from the cell statistics (Cochran's Q with those variances).
* **Planning** (:func:`sample_size`, :func:`mde`, :func:`plan`): the unpooled normal approximation
  that matches the Wald test, ``n = (z_{1-alpha/2} + z_power)^2 (p1 q1 + p2 q2) / (p2 - p1)^2`` per
  arm (and ``2 (z + z)^2 sd^2 / d^2`` for means); it agrees with statsmodels' ``NormalIndPower`` at
  effect size ``d / sqrt((p1 q1 + p2 q2) / 2)``. Cohen's h (arcsine) gives similar, not equal, n.
"""

from __future__ import annotations

from segwork.abtest.cells import (
    combine_cells,
    control_message,
    segmentation_stats,
    sufficient_stats,
)
from segwork.abtest.checks import setup_problems
from segwork.abtest.conventions import (
    BAYES_METHOD,
    CORRECTION_NAME,
    METHOD,
    MIN_ARM,
    MIN_EXPECTED_CONVERSIONS,
    MISSING_SEGMENT,
    PARAMS,
    SRM_THRESHOLD,
    TABLE,
    ABTestError,
    Correction,
)
from segwork.abtest.decisions import VARIANT_RULE, decide, recommend
from segwork.abtest.evaluation import ABResult, evaluate, evaluate_segmentations
from segwork.abtest.formats import MetricFormat, metric_formats
from segwork.abtest.heterogeneity import heterogeneity
from segwork.abtest.metrics import (
    KIND_ALIASES,
    METRIC_COLUMNS,
    METRIC_KINDS,
    Metric,
    MetricsArg,
    default_metrics,
    resolve_metrics,
)
from segwork.abtest.metrics import _no_metrics_message as _no_metrics_message
from segwork.abtest.monitoring import (
    DECISION_WORDS,
    Projection,
    RunningPlan,
    customers_needed,
    daily_assignments,
    monitor,
    project_decision,
    running_plans,
    sequential_decision,
)
from segwork.abtest.planning import mde, plan, sample_size
from segwork.abtest.sample_ratio import srm
from segwork.abtest.segments import (
    UNKNOWN,
    Segments,
    attach_segments,
    segment_name,
    segment_sizes,
    with_segments,
)
from segwork.abtest.sequential import (
    SequentialLook,
    fixed_horizon_interval,
    sequential_halfwidth,
    sequential_interval,
    sequential_look,
    sequential_rho,
    stop_decision,
)

__all__ = [
    "BAYES_METHOD",
    "CORRECTION_NAME",
    "KIND_ALIASES",
    "METHOD",
    "METRIC_COLUMNS",
    "METRIC_KINDS",
    "MIN_ARM",
    "MIN_EXPECTED_CONVERSIONS",
    "MISSING_SEGMENT",
    "PARAMS",
    "SRM_THRESHOLD",
    "TABLE",
    "UNKNOWN",
    "VARIANT_RULE",
    "ABResult",
    "ABTestError",
    "Correction",
    "Metric",
    "MetricFormat",
    "MetricsArg",
    "Segments",
    "attach_segments",
    "control_message",
    "decide",
    "default_metrics",
    "evaluate",
    "evaluate_segmentations",
    "combine_cells",
    "segmentation_stats",
    "heterogeneity",
    "mde",
    "metric_formats",
    "plan",
    "recommend",
    "resolve_metrics",
    "sample_size",
    "segment_name",
    "segment_sizes",
    "setup_problems",
    "srm",
    "sufficient_stats",
    "with_segments",
    "SequentialLook",
    "fixed_horizon_interval",
    "sequential_halfwidth",
    "sequential_interval",
    "sequential_look",
    "sequential_rho",
    "stop_decision",
    "DECISION_WORDS",
    "Projection",
    "RunningPlan",
    "customers_needed",
    "daily_assignments",
    "monitor",
    "project_decision",
    "running_plans",
    "sequential_decision",
]

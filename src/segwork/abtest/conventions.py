"""The conventions every A/B evaluation states: names of the table and settings, thresholds of the
guards, the test and Bayesian method per metric kind, the correction names, and ABTestError.
"""

from __future__ import annotations

from typing import Literal

from segwork.errors import SegworkError

TABLE = "campaign_exposures"


PARAMS = "notebooks.04_campaign_ab"  # where notebook 04's settings live in the run config


SRM_THRESHOLD = 0.001


MIN_ARM = 30


MIN_EXPECTED_CONVERSIONS = 5


MISSING_SEGMENT = "(missing)"


Correction = Literal["holm", "fdr_bh", "none"]


METHOD = {
    "conversion": "unpooled two-proportion z-test (Wald); Newcombe hybrid score (Wilson) CI for the "
    "difference; delta-method CI for the lift",
    "revenue": "Welch's t-test (Welch-Satterthwaite df); t CI for the difference; delta-method CI for the lift",
}


BAYES_METHOD = {
    "conversion": "Beta(1,1) priors; P(variant > control) and expected loss by Gauss-Legendre integration",
    "conversion_mc": "Beta(1,1) priors; P(variant > control) and expected loss by Monte Carlo ({draws} draws, seed {seed})",
    "revenue": "normal approximation of the mean difference (Welch standard error)",
}


def _method(kind: str) -> str:
    return METHOD["conversion" if kind == "binary" else "revenue"]


CORRECTION_NAME = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg (FDR)", "none": "no correction"}


class ABTestError(SegworkError, ValueError):
    """Input that cannot be evaluated; the message names the campaign/column and the fix."""

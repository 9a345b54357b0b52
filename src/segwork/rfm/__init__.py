"""RFM: features, scores and segments, key figures per segment, migration and breakdowns.

The package in one line per module:

* :mod:`~segwork.rfm.features` - per-customer recency, frequency, monetary (classic and clv
  conventions), aggregated through Ibis.
* :mod:`~segwork.rfm.scoring` - :class:`RfmScorer` (quantile edges learned by ``fit``, new
  customers scored by ``transform``) and :func:`score`.
* :mod:`~segwork.rfm.segments` - segment maps (built-in and user maps) and their partition check.
* :mod:`~segwork.rfm.kpis` - key figures per segment and the per-customer columns later notebooks
  read.
* :mod:`~segwork.rfm.migration` - each customer's segment at an earlier snapshot against now.
* :mod:`~segwork.rfm.breakdowns` - segment mix by a profile attribute.
* :mod:`~segwork.rfm.errors` - RFMError and its kin.

Figures live in :mod:`segwork.plots.rfm`, page text in :mod:`segwork.pages.rfm_clv`.
"""

from segwork.rfm.breakdowns import (
    UNKNOWN,
    age_band,
    breakdown,
    company_size_band,
    with_group_counts,
)
from segwork.rfm.errors import RFMError, RFMNotApplicable, RFMWarning, SegmentMapError
from segwork.rfm.features import ORDER_COLUMNS, UNIT_DAYS, features
from segwork.rfm.kpis import customer_table, segment_kpis, segment_members
from segwork.rfm.migration import GONE, INACTIVE, NEW, MigrationResult, migration
from segwork.rfm.scoring import RfmScorer, score, tie_break_order
from segwork.rfm.segments import (
    DEFAULT_SEGMENT_MAP,
    RF_GRID_SEGMENT_MAP,
    SEGMENT_ORDER,
    SEGMENTS,
    segment_lookup,
    validate_segment_map,
)

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "GONE",
    "INACTIVE",
    "NEW",
    "ORDER_COLUMNS",
    "RF_GRID_SEGMENT_MAP",
    "SEGMENTS",
    "SEGMENT_ORDER",
    "UNIT_DAYS",
    "UNKNOWN",
    "MigrationResult",
    "RFMError",
    "RFMNotApplicable",
    "RFMWarning",
    "RfmScorer",
    "SegmentMapError",
    "age_band",
    "breakdown",
    "company_size_band",
    "customer_table",
    "features",
    "migration",
    "score",
    "segment_kpis",
    "segment_lookup",
    "segment_members",
    "tie_break_order",
    "validate_segment_map",
    "with_group_counts",
]

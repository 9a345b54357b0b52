"""Column names in words: the one place that says what ``p_alive`` or ``clv_12m`` is called.

Pages, widgets and the sentences of analysis results (a campaign decision for "RFM segment =
Champions") name columns the same way: :func:`label` for a table header, :func:`words` inside a
sentence. Core: no I/O, no presentation library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: Plain labels of the column names used across pages. A column not listed here (nor matched by
#: :data:`_LABEL_PATTERNS`) is shown with its underscores replaced and its first letter capital.
LABELS: dict[str, str] = {
    # customers and their history
    "customer_id": "Customer",
    "customer_type": "Customer type",
    "customers": "Customers",
    "customer_share": "Share of customers",
    "orders": "Orders",
    "revenue": "Net revenue",
    "revenue_share": "Share of revenue",
    "avg_order_value": "Average order value",
    "aov": "Average order value",
    "orders_per_customer": "Orders per customer",
    "first_order_date": "First order",
    "last_order_date": "Last order",
    "days_since_last_order": "Days since last order",
    "tenure_days": "Days since first order",
    "revenue_total": "Net revenue, all time",
    "orders_total": "Orders, all time",
    "returns_total": "Returns, all time",
    "email_opt_in": "Agreed to e-mails",
    "sms_opt_in": "Agreed to text messages",
    "phone_opt_in": "Agreed to calls",
    "profiling_consent": "Agreed to profiling",
    # RFM
    "frequency": "Purchases",
    "recency": "Days since last purchase",
    "recency_days": "Days since last purchase",
    "monetary": "Spend",
    "mean_recency": "Days since last purchase (average)",
    "rfm_recency": "Days since last purchase",
    "rfm_frequency": "Purchases",
    "rfm_monetary": "Spend",
    "R": "Recency score",
    "F": "Frequency score",
    "M": "Monetary score",
    "r_score": "Recency score",
    "f_score": "Frequency score",
    "m_score": "Monetary score",
    "rfm_score": "RFM score",
    "rfm_code": "RFM code",
    "rfm_segment": "RFM segment",
    "segment": "Segment",
    "segment_before": "Segment before",
    "segment_now": "Segment now",
    # value models
    "p_alive": "Chance still active",
    "clv_total": "Segment value",
    "clv_share": "Share of value",
    "expected_spend": "Expected spend per purchase",
    "auc": "Ranking accuracy (AUC)",
    "brier": "Error of the prediction (Brier)",
    "brier_baseline": "Error of the simple baseline (Brier)",
    "base_rate": "Share who bought",
    "mean_predicted": "Predicted share who bought",
    # personas and survey
    "persona": "Persona",
    "persona_id": "Persona number",
    "construct": "Scale",
    "item": "Question",
    "alpha": "Reliability (Cronbach's alpha)",
    "silhouette": "Separation (silhouette)",
    "stability": "Stability",
    # campaigns
    "campaign_id": "Campaign",
    "variant": "Variant",
    "metric": "Metric",
    "n_control": "Customers in control",
    "n_variant": "Customers in variant",
    "control_mean": "Control",
    "variant_mean": "Variant value",
    "diff": "Difference",
    "lift": "Lift",
    "p_value": "p-value",
    "p_adjusted": "Adjusted p-value",
    "chance_to_beat_control": "Chance to beat control",
    "baseline": "Control value",
    "mde_abs": "Smallest detectable difference",
    "mde_rel": "Smallest detectable lift",
    "target_lift": "Lift to detect",
    "n_per_arm": "Customers per group",
    "n_per_arm_needed": "Customers needed per group",
    "decision": "Decision",
    "reason": "Reason",
    "target": "Target",
}

#: Labels of column families (``clv_12m``, ``propensity_90d``, ...), from their name's pattern.
_LABEL_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"clv_(\d+)m"), lambda m: f"Value, next {m[1]} months"),
    (re.compile(r"propensity_(\d+)d"), lambda m: f"Chance of a purchase, next {m[1]} days"),
    (
        re.compile(r"expected_purchases_(\d+)d"),
        lambda m: f"Expected purchases, next {m[1]} days",
    ),
    (re.compile(r"(orders|revenue)_(\d+)d"), lambda m: f"{m[1].capitalize()}, last {m[2]} days"),
    (re.compile(r"z_(\w+)"), lambda m: f"{label(m[1])} (standardised)"),
)


def label(column: Any, labels: Mapping[str, str] | None = None) -> str:
    """The plain label of a column: ``labels``, then :data:`LABELS`, then a name pattern
    (``clv_12m`` -> 'Value, next 12 months'), else the name with underscores replaced and its
    first letter capital ('days_active' -> 'Days active'), never a raw snake_case name."""
    if isinstance(column, tuple):  # MultiIndex columns
        return " / ".join(label(c, labels) for c in column if str(c))
    name = str(column)
    if labels and name in labels:
        return labels[name]
    if name in LABELS:
        return LABELS[name]
    for pattern, make in _LABEL_PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            return make(m)
    text = re.sub(r"\s+", " ", name.replace("_", " ")).strip()
    return text[:1].upper() + text[1:]


def words(column: Any, labels: Mapping[str, str] | None = None) -> str:
    """:func:`label` as it reads inside a sentence: 'rfm_segment' -> 'RFM segment',
    'customer_type' -> 'customer type' (first letter small unless it starts an abbreviation)."""
    text = label(column, labels)
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]

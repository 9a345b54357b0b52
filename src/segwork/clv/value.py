"""Lifetime value and the per-customer predictions at the analysis date, and value per segment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segwork.clv.bgnbd import BetaGeo
from segwork.clv.errors import CLVError
from segwork.clv.gamma_gamma import GammaGamma
from segwork.clv.inputs import _histories, _unique_histories

# one month in units of the features; the lifetimes / PyMC-Marketing ``customer_lifetime_value``
MONTH_IN_UNITS = {"D": 30.0, "W": 4.345, "M": 1.0, "H": 30.0 * 24.0}


def customer_lifetime_value(
    bgnbd: BetaGeo,
    gg: GammaGamma,
    features: pd.DataFrame,
    *,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    time_unit: str = "D",
) -> pd.Series:
    """Discounted value of each customer's expected purchases over the next ``horizon_months``.

    CLV = sum_{m=1..M} (E[X(m f)] - E[X((m-1) f)]) * E[spend] / (1 + d)^m, with E[X(t)] the
    BG/NBD conditional expectation, E[spend] the Gamma-Gamma conditional mean and f one month in
    the features' time unit (30 days, 4.345 weeks), exactly as lifetimes' and PyMC-Marketing's
    ``customer_lifetime_value``. With d = 0 it is E[X(M f)] * E[spend].
    """
    if time_unit not in MONTH_IN_UNITS:
        raise CLVError(f"time_unit must be one of {sorted(MONTH_IN_UNITS)}, got {time_unit!r}")
    declared = features.attrs.get("time_unit") if isinstance(features, pd.DataFrame) else None
    for source, unit in (
        ("the features", declared),
        ("the BG/NBD fit", getattr(bgnbd, "time_unit_", None)),
    ):
        if unit is not None and unit != time_unit:
            raise CLVError(
                f"time_unit={time_unit!r} but {source} are in {unit!r}: pass time_unit={unit!r}"
            )
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise CLVError(f"horizon_months must be a whole number >= 1, got {horizon_months}")
    if not discount_rate_monthly > -1:
        raise CLVError(f"discount_rate_monthly must be > -1, got {discount_rate_monthly}")
    x, tx, t, _ = _histories(features)
    spend = gg.conditional_expected_average_profit(features)
    # expected purchases depend on (x, t_x, T) only: evaluate once per distinct history
    uniq, inverse, _, _ = _unique_histories(x, tx, t)
    f = MONTH_IN_UNITS[time_unit]
    value = np.zeros(len(uniq))
    previous = np.zeros(len(uniq))
    for m in range(1, int(horizon_months) + 1):
        upto = bgnbd.expected_purchases(m * f, uniq[:, 0], uniq[:, 1], uniq[:, 2])
        value += (upto - previous) / (1.0 + discount_rate_monthly) ** m
        previous = upto
    return pd.Series(
        value[inverse] * spend, index=features.index, name=f"clv_{int(horizon_months)}m"
    )


def customer_table(
    bgnbd: BetaGeo,
    gg: GammaGamma,
    clv_features: pd.DataFrame,
    propensity: pd.Series | None = None,
    *,
    horizon_days: int = 90,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> pd.DataFrame:
    """Per-customer predictions at the analysis date: p_alive, expected purchases in the horizon,
    expected spend, CLV and (if given) propensity; clv features are in days."""
    f = clv_features
    unit = f.attrs.get("time_unit", "D")
    per_day = 1.0 / {"D": 1.0, "W": 7.0}.get(unit, 1.0)
    out = pd.DataFrame(
        {
            "p_alive": bgnbd.p_alive(f),
            f"expected_purchases_{horizon_days}d": bgnbd.expected_purchases(
                horizon_days * per_day, f
            ),
            "expected_spend": gg.conditional_expected_average_profit(f),
        },
        index=f.index,
    )
    out[f"clv_{horizon_months}m"] = customer_lifetime_value(
        bgnbd,
        gg,
        f,
        horizon_months=horizon_months,
        discount_rate_monthly=discount_rate_monthly,
        time_unit=unit,
    )
    if propensity is not None:
        out[f"propensity_{horizon_days}d"] = propensity.reindex(out.index)
    return out


def value_by_segment(table: pd.DataFrame, *, segment: str = "rfm_segment") -> pd.DataFrame:
    """Mean p_alive, propensity and CLV per segment, with the segment's total and share of CLV.

    Works with whichever of p_alive, propensity_<h>d and clv_<n>m the table has (a model that
    could not be fitted leaves its column out); without CLV the segments keep the table's order.
    """
    clv_col = next((c for c in table.columns if c.startswith("clv_")), None)
    means = [
        c for c in table.columns if c == "p_alive" or c.startswith("propensity_") or c == clv_col
    ]
    if not means or segment not in table.columns:
        raise CLVError(
            f"value_by_segment needs {segment!r} and at least one of p_alive, propensity_<h>d, "
            f"clv_<n>m; got {list(table.columns)}"
        )
    scored = table[table[segment].notna()]
    g = scored.groupby(segment, observed=True)
    out = g[means].mean()
    out.insert(0, "customers", g.size())
    if clv_col is None:
        return out.reset_index()
    out["clv_total"] = g[clv_col].sum()
    out["clv_share"] = out["clv_total"] / out["clv_total"].sum()
    return out.sort_values("clv_total", ascending=False).reset_index()

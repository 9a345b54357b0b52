"""Sample ratio mismatch: the chi-square goodness-of-fit test of the variant counts against the
planned split (equal by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from segwork.abtest.conventions import PARAMS, ABTestError


def srm(
    counts: Sequence[float] | Mapping[str, float] | np.ndarray,
    expected_shares: Sequence[float] | Mapping[str, float] | None = None,
) -> float:
    """p-value of the sample ratio mismatch test: chi-square goodness of fit of the observed
    counts per variant against the expected shares (equal shares by default)."""
    if isinstance(counts, Mapping):
        keys = list(counts)
        obs = np.asarray([counts[k] for k in keys], dtype=float)
        if isinstance(expected_shares, Mapping):
            missing = [k for k in keys if k not in expected_shares]
            if missing:
                raise ABTestError(
                    f"srm: expected_shares has no share for {missing}; give one per variant"
                )
            expected_shares = [expected_shares[k] for k in keys]
    else:
        obs = np.asarray(counts, dtype=float)
    p = _srm_p(
        obs[None, :], None if expected_shares is None else np.asarray(expected_shares, dtype=float)
    )
    return float(p[0])


def _srm_p(obs: np.ndarray, shares: np.ndarray | None) -> np.ndarray:
    """Row-wise chi-square goodness-of-fit p-values (rows: groups; columns: variants)."""
    k = obs.shape[1]
    if k < 2:
        return np.full(obs.shape[0], np.nan)
    shares = np.full(k, 1.0 / k) if shares is None else shares / shares.sum()
    if np.any(shares <= 0) or len(shares) != k:
        raise ABTestError(
            f"{PARAMS}.expected_shares: give {k} positive shares, one per variant; got "
            f"{', '.join(f'{x:g}' for x in np.ravel(shares))}"
        )
    total = obs.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = total * shares
        chi2 = ((obs - exp) ** 2 / exp).sum(1)
    return np.where(total[:, 0] > 0, stats.chi2.sf(chi2, k - 1), np.nan)


def _shares_for(expected_shares, camp: str, names: list[str]) -> np.ndarray | None:
    if expected_shares is None:
        return None
    per_campaign = isinstance(expected_shares, Mapping) and all(
        isinstance(v, Mapping) for v in expected_shares.values()
    )
    if per_campaign:
        if camp not in expected_shares:
            return None  # a campaign not listed was meant to be split equally
        sh = expected_shares[camp]
    else:
        sh = expected_shares
    if isinstance(sh, Mapping):
        missing = [n for n in names if n not in sh]
        if missing:
            raise ABTestError(
                f"{PARAMS}.expected_shares: campaign '{camp}' has no share for variant(s) "
                f"{', '.join(map(repr, missing))}; give one share per variant ({', '.join(map(repr, names))})"
            )
        return np.asarray([float(sh[n]) for n in names])
    arr = np.asarray(sh, dtype=float)
    if arr.shape != (len(names),):
        raise ABTestError(
            f"{PARAMS}.expected_shares: campaign '{camp}' needs {len(names)} shares, one per "
            f"variant ({', '.join(map(repr, names))})"
        )
    return arr

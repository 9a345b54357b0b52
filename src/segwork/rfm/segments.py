"""Segment maps: the built-in maps (Putler's R x FM grid, the R x F grid), user maps and their
check that every RFM code lands in exactly one segment.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from segwork.rfm.errors import RFMError, SegmentMapError

SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "Recent Customers",
    "Promising",
    "Needs Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)


# The default map: Putler's R vs "F-M" table ("RFM Analysis For Successful Customer
# Segmentation", putler.com/rfm-analysis: Champions R 4-5 / FM 4-5, Loyal Customers R 2-5 /
# FM 3-5, ..., Lost R 0-2 / FM 0-2) overlaps and leaves gaps, so it is used in the discretised
# form that circulates in SQL RFM case studies: one segment per (R, FM) cell of a 5 x 5 grid with
# FM = ceil((F + M) / 2). Every (R, F, M) code lands in exactly one cell, so the 125 codes are
# partitioned by construction. Rows: R = 5 (top) .. 1; columns: FM = 1 .. 5.
_R_FM_GRID = {
    5: ("Recent Customers", "Potential Loyalist", "Loyal Customers", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal Customers", "Champions"),
    3: ("Promising", "Needs Attention", "Potential Loyalist", "Loyal Customers", "Loyal Customers"),
    2: ("About To Sleep", "Needs Attention", "Needs Attention", "At Risk", "At Risk"),
    1: ("Lost", "Hibernating", "At Risk", "Can't Lose Them", "Can't Lose Them"),
}


def _default_map() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in SEGMENTS}
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        out[_R_FM_GRID[r][math.ceil((f + m) / 2) - 1]].append(f"{r}{f}{m}")
    return out


DEFAULT_SEGMENT_MAP: dict[str, list[str]] = _default_map()


# The common 10-segment R x F grid (M ignored), in the regex form it circulates in (e.g.
# r'[1-2][1-2]': 'hibernating' ... r'5[4-5]': 'champions'); patterns of two digits apply to R, F.
RF_GRID_SEGMENT_MAP: dict[str, list[str]] = {
    "Champions": ["5[4-5]"],
    "Loyal Customers": ["[3-4][4-5]"],
    "Potential Loyalist": ["[4-5][2-3]"],
    "New Customers": ["51"],
    "Promising": ["41"],
    "Needs Attention": ["33"],
    "About To Sleep": ["3[1-2]"],
    "At Risk": ["[1-2][3-4]"],
    "Can't Lose Them": ["[1-2]5"],
    "Hibernating": ["[1-2][1-2]"],
}


# The order segments are listed in (best first), for tables and charts.
SEGMENT_ORDER = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "Recent Customers",
    "New Customers",
    "Promising",
    "Needs Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)


def _all_codes(bins: int) -> list[str]:
    return ["".join(map(str, c)) for c in itertools.product(range(1, bins + 1), repeat=3)]


def _load_map(segment_map: Mapping[str, Any] | str | Path) -> dict[str, list[str]]:
    """A user map from a dict, a YAML file path or YAML text, as segment -> list of entries."""
    data: Any = segment_map
    if isinstance(segment_map, Path) or (
        isinstance(segment_map, str)
        and "\n" not in segment_map
        and segment_map.lower().endswith((".yml", ".yaml"))
    ):
        path = Path(segment_map)
        if not path.is_file():
            raise SegmentMapError(f"segment map file {str(path)!r} does not exist")
        data = path.read_text(encoding="utf-8")
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as e:
            raise SegmentMapError(
                f"segment map is not valid YAML: {e}; quote patterns such as '[1-2]5'"
            ) from None
    if not isinstance(data, Mapping) or not data:
        raise SegmentMapError(
            "a segment map must be a non-empty mapping 'segment name: [codes or patterns]', "
            f"got {type(data).__name__}"
        )
    out: dict[str, list[str]] = {}
    for name, entries in data.items():
        items = entries if isinstance(entries, list | tuple) else [entries]
        out[str(name)] = [str(e) for e in items]
    return out


def _expand(entry: str, codes: list[str]) -> list[str]:
    """Codes an entry claims: an exact code, a regex on the 3-digit code, or a 2-digit R-F regex."""
    if entry in codes:
        return [entry]
    try:
        rx = re.compile(entry)
    except re.error:
        return []
    hits = [c for c in codes if rx.fullmatch(c)]
    return hits or [c for c in codes if rx.fullmatch(c[:2])]


def validate_segment_map(
    segment_map: Mapping[str, Any] | str | Path, bins: int = 5
) -> dict[str, str]:
    """Check that a user map is a partition of all ``bins**3`` RFM codes; return code -> segment.

    The map is segment name -> list of entries (a dict, a path to a .yml/.yaml file, or YAML
    text; quote patterns in YAML: '[1-2]5'). An entry is
    a code ("545"), a regular expression matched against the whole code ("5[4-5][1-5]"), or a
    two-digit pattern matched against R and F only ("[1-2]5", M free), as in the common R x F grid.
    Raises :class:`SegmentMapError` listing the codes left over, the codes claimed by more than one
    segment, and entries that match no code.
    """
    bins = _check_bins(bins)
    m = _load_map(segment_map)
    codes = _all_codes(bins)
    claims: dict[str, list[str]] = {}
    unmatched = []
    for name, entries in m.items():
        for entry in entries:
            hits = _expand(entry, codes)
            if not hits:
                unmatched.append(f"{name}: {entry!r}")
            for code in hits:
                owners = claims.setdefault(code, [])
                if name not in owners:
                    owners.append(name)
    missing = [c for c in codes if c not in claims]
    dups = {c: owners for c, owners in claims.items() if len(owners) > 1}
    if missing or dups or unmatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} codes left over: {_short(missing)}")
        if dups:
            parts.append(
                f"{len(dups)} codes claimed twice: "
                + _short([f"{c} ({' & '.join(o)})" for c, o in sorted(dups.items())])
            )
        if unmatched:
            parts.append(f"entries matching no code (scores are 1..{bins}): {_short(unmatched)}")
        raise SegmentMapError(
            "segment map is not a partition of the RFM codes: "
            + "; ".join(parts)
            + ". Every code must map to exactly one segment.",
            missing=missing,
            duplicates=dups,
            unmatched=unmatched,
        )
    return {c: owners[0] for c, owners in sorted(claims.items())}


def _short(items: Sequence[str], limit: int = 40) -> str:
    head = ", ".join(items[:limit])
    return head + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _check_bins(bins: Any) -> int:
    if not isinstance(bins, int | np.integer) or isinstance(bins, bool) or not 2 <= bins <= 9:
        raise RFMError(
            f"bins must be a whole number from 2 to 9 (codes are one digit per score), got {bins!r}"
        )
    return int(bins)


def _to_quintile(score: int, bins: int) -> int:
    """The quintile (1..5) that contains the middle of score's bin on a 1..bins scale."""
    return int(math.floor((score - 0.5) * 5 / bins)) + 1


def segment_lookup(
    segment_map: Mapping[str, Any] | str | Path = "default", bins: int = 5
) -> tuple[dict[str, str], list[str]]:
    """code -> segment for every code of ``bins`` scores, and the segment names in display order.

    ``"default"`` and ``"rf_grid"`` are defined on 1..5 scores; for other ``bins`` each score is
    first mapped to the quintile containing the middle of its bin (for bins=3: 1->1, 2->3, 3->5),
    so a 3-bin "3" (top third) is treated like a quintile "5". User maps are written for ``bins``.
    """
    bins = _check_bins(bins)
    if isinstance(segment_map, str) and segment_map in ("default", "rf_grid"):
        base = validate_segment_map(
            DEFAULT_SEGMENT_MAP if segment_map == "default" else RF_GRID_SEGMENT_MAP, 5
        )
        lookup = {
            c: base["".join(str(_to_quintile(int(d), bins)) for d in c)] for c in _all_codes(bins)
        }
        names = [s for s in SEGMENT_ORDER if s in set(lookup.values())]
        return lookup, names
    lookup = validate_segment_map(segment_map, bins)
    names = list(dict.fromkeys(_load_map(segment_map)))  # the user's order
    return lookup, [n for n in names if n in set(lookup.values())]


def _segment_rank(name: Any) -> tuple[int, str]:
    return (SEGMENT_ORDER.index(name) if name in SEGMENT_ORDER else len(SEGMENT_ORDER), str(name))

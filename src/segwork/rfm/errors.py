"""The errors and warnings of RFM: what cannot be computed, and what the analyst should know."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from segwork.errors import SegworkError


class RFMError(SegworkError, ValueError):
    """RFM input that cannot be computed (empty window, bad parameter); the message says why."""


class SegmentMapError(RFMError):
    """A segment map that is not a partition of all RFM codes.

    ``missing`` lists the codes no segment claims, ``duplicates`` maps codes claimed by more than
    one segment to those segments, ``unmatched`` lists entries that match no code.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        duplicates: Mapping[str, Sequence[str]] | None = None,
        unmatched: Sequence[str] = (),
    ):
        self.missing = list(missing)
        self.duplicates = {k: list(v) for k, v in (duplicates or {}).items()}
        self.unmatched = list(unmatched)
        super().__init__(message)


class RFMNotApplicable(RFMError):
    """A section that this data cannot support (e.g. migration without an earlier period); the
    message is the one plain sentence the page shows instead."""


class RFMWarning(UserWarning):
    """Something about the data the analyst should know (collapsed quantiles, customers left out)."""

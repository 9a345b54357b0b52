"""The error of the uplift analysis."""

from __future__ import annotations

from segwork.errors import SegworkError


class UpliftError(SegworkError, ValueError):
    """Input the uplift models cannot use; the message names the column, value and fix."""

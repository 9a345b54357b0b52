"""The errors and warnings of the CLV models."""

from __future__ import annotations

from segwork.errors import SegworkError


class CLVError(SegworkError, ValueError):
    """Input the models cannot use; the message says which rows or columns and what to do."""


class CLVWarning(UserWarning):
    """A fit that ran but whose result needs care (assumption violated, parameter at a bound)."""

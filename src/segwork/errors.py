"""The one root of every error segwork raises on purpose.

Each error names what is wrong, where (table, column, row, config key) and the fix. The CLI
catches :class:`SegworkError`, prints the message and exits 2; anything else is a bug and keeps
its traceback. Subclasses also derive from the builtin they stand for (``ValueError`` for bad
input, ``RuntimeError`` for a failing service) so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class SegworkError(Exception):
    """Root of every error segwork raises on purpose (bad config, data, rules, model files)."""


class DateValueError(SegworkError, ValueError):
    """A value that should be a date or timestamp is not one (or is missing)."""

"""ipywidgets explorers for JupyterLab, one module per area.

Each explorer is a small class holding its widgets, with the update as a plain method so tests
(and scripts) can drive it without a browser: set a value, call or trigger the update, read
the state. ``rules`` (:class:`~segwork.widgets.rules.RuleBuilder`), ``personas`` (the persona
explorer), ``planner`` (the A/B sample-size planner). Importing this package loads none of
them (nor ipywidgets); ``from segwork.widgets import RuleBuilder`` still works.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RuleBuilder"]


def __getattr__(name: str) -> Any:
    if name == "RuleBuilder":
        from segwork.widgets.rules import RuleBuilder

        return RuleBuilder
    raise AttributeError(f"module 'segwork.widgets' has no attribute {name!r}")

"""ipywidgets explorers for JupyterLab, one module per area.

Each explorer is a small class holding its widgets, with the update as a plain method so tests
(and scripts) can drive it without a browser: set a value, call or trigger the update, read
the state. ``rules`` (:class:`~segwork.widgets.rules.RuleBuilder`), ``rfm``
(:class:`~segwork.widgets.rfm.RfmExplorer`), ``personas`` (the persona explorer,
:class:`~segwork.widgets.personas.ClusterExplorer`), ``planner`` (the A/B sample-size planner).
Importing this package loads none of them (nor ipywidgets); ``from segwork.widgets import
RuleBuilder`` (or ``RfmExplorer``) imports its module on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["RfmExplorer", "RuleBuilder"]

_MODULES = {"RuleBuilder": "segwork.widgets.rules", "RfmExplorer": "segwork.widgets.rfm"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'segwork.widgets' has no attribute {name!r}")

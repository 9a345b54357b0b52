"""One error root: every error segwork raises on purpose derives from SegworkError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import segwork
from segwork.errors import SegworkError


def _segwork_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(segwork.__path__, "segwork."))


def test_every_segwork_exception_class_derives_from_segwork_error() -> None:
    errors = {}
    for name in _segwork_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == name
                and issubclass(cls, BaseException)
                and not issubclass(cls, Warning)
            ):
                errors[f"{name}.{cls.__qualname__}"] = cls
    assert len(errors) >= 15  # the walk found the error classes (it would find none if broken)
    outside = sorted(k for k, cls in errors.items() if not issubclass(cls, SegworkError))
    assert outside == []

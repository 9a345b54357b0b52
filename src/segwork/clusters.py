"""Old import path of the persona code, kept for callers outside the package (the CLI) and for
model files saved before the split (they name ``segwork.clusters.PersonaClusterer``). New code
imports :mod:`segwork.personas` (analysis) and :mod:`segwork.personas.model_file` (model files).

The model-file names (``load``, ``assign_file``, ``TRUSTED_TYPES``, ``ModelFileError``) are
looked up on first use, so importing this module loads no I/O code.
"""

from typing import Any

from segwork.personas import *  # noqa: F403
from segwork.personas import PersonaClusterer, fit_personas  # noqa: F401

_MODEL_FILE_NAMES = ("load", "assign_file", "TRUSTED_TYPES", "ModelFileError", "save")


def __getattr__(name: str) -> Any:
    if name in _MODEL_FILE_NAMES:
        from segwork.personas import model_file

        return getattr(model_file, name)
    raise AttributeError(f"module 'segwork.clusters' has no attribute {name!r}")

"""Old import path of the persona code, kept for callers outside the package (the CLI, model files
saved before the split name ``segwork.clusters.PersonaClusterer``). New code imports
:mod:`segwork.personas` (analysis) and :mod:`segwork.personas.model_file` (model files)."""

from segwork.personas import *  # noqa: F403
from segwork.personas import PersonaClusterer, fit_personas  # noqa: F401
from segwork.personas.model_file import (  # noqa: F401
    TRUSTED_TYPES,
    ModelFileError,
    assign_file,
    load,
)

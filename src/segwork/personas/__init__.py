"""Psychographic personas: survey answers -> a handful of named personas, and new respondents into them.

Modules (analysis layer, no I/O, no presentation, except ``model_file``):

- ``estimator``: :class:`PersonaModel`, the scikit-learn estimator (fit, predict, summary).
- ``clusterer``: :class:`PersonaClusterer`, k-means / Gaussian mixture / Ward behind one interface.
- ``selection``: the k sweep with bootstrap stability (:func:`k_sweep`) and the rule (:func:`choose_k`).
- ``features``: survey scores (+ behaviour, profile columns) -> the feature matrix.
- ``naming``: persona names and descriptions in the catalogue's words.
- ``profiles``: construct and item z-scores per persona.
- ``behaviour``: how the personas buy, with a test per column.
- ``result``: :class:`PersonaResult`, what a fit found.
- ``model_file`` (I/O, import it yourself): skops files with a sha256 sidecar, :func:`load`,
  :func:`assign_file`.

Figures are in :mod:`segwork.plots.personas`, page text in :mod:`segwork.pages.personas`, the
explorer in :mod:`segwork.widgets.personas`.
"""

from segwork.personas.behaviour import (
    BEHAVIOUR_ALPHA,
    BEHAVIOUR_COLUMNS,
    PersonaBehaviour,
    behaviour_columns,
    behaviour_label,
    behaviour_tests,
    behaviour_text,
    cluster_behaviour,
    persona_behaviour,
)
from segwork.personas.clusterer import (
    ALGORITHMS,
    Algorithm,
    ClusteringError,
    PersonaClusterer,
)
from segwork.personas.estimator import MODEL_FORMAT, PersonaModel, fit_personas
from segwork.personas.features import FEATURES, FeatureKind, make_preprocessor
from segwork.personas.naming import construct_label, persona_names
from segwork.personas.result import PersonaResult
from segwork.personas.selection import choose_k, cluster_jaccard, k_sweep

__all__ = [
    "ALGORITHMS",
    "BEHAVIOUR_ALPHA",
    "BEHAVIOUR_COLUMNS",
    "FEATURES",
    "MODEL_FORMAT",
    "Algorithm",
    "ClusteringError",
    "FeatureKind",
    "PersonaBehaviour",
    "PersonaClusterer",
    "PersonaModel",
    "PersonaResult",
    "behaviour_columns",
    "behaviour_label",
    "behaviour_tests",
    "behaviour_text",
    "choose_k",
    "cluster_behaviour",
    "cluster_jaccard",
    "construct_label",
    "fit_personas",
    "k_sweep",
    "make_preprocessor",
    "persona_behaviour",
    "persona_names",
]

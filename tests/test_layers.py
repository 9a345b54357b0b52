"""The layers hold: each module imports only from its own layer and the layers below it.

core (errors, schema, progress, summary, numbers) <- analysis (what segwork computes) <- steps (one
function per notebook) <- presentation (display, plots, pages, widgets, report) <- orchestration
(context, preflight, pipeline, cli, demo). The I/O layer (config, engines, warehouse, sources,
files, exports, catalog, and the model-file module of personas) sits beside analysis: analysis
never imports it; it may use analysis types (an export writes action lists). Presentation may
read the catalog's declarations (to name a dataset), never write through it. docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "segwork"

LAYERS = {
    "core": {"errors", "schema", "progress", "summary", "numbers", "labels"},
    "analysis": {
        "customers", "quality", "rfm", "clv", "survey", "personas", "abtest", "rules",
        "segments", "actions", "uplift",
    },
    "io": {
        "config", "engines", "warehouse", "sources", "files", "exports", "catalog", "clusters", "pdf",
    },
    "steps": {"steps"},
    "presentation": {"display", "plots", "pages", "widgets", "report"},
    "orchestration": {"context", "preflight", "pipeline", "cli", "demo", "notify"},
}  # fmt: skip
ALLOWED = {
    "core": {"core"},
    "analysis": {"core", "analysis"},
    "io": {"core", "io", "analysis"},
    "steps": {"core", "analysis", "steps", "exports"},
    "presentation": {"core", "analysis", "steps", "presentation", "files", "catalog"},
    "orchestration": set(LAYERS) | {"exports", "files"},
}
PRESENTATION_LIBRARIES = (
    "matplotlib",
    "seaborn",
    "ipywidgets",
    "IPython",
    "sqlalchemy",
    "papermill",
)


#: modules inside an analysis package that are its I/O edge (imported lazily, never by analysis)
IO_MODULES = {"personas.model_file"}


def _layer(name: str) -> str:
    """The layer of a module (``rfm.scoring``) or of a top-level name (``rfm``)."""
    if name in IO_MODULES:
        return "io"
    top = name.split(".")[0]
    return next(layer for layer, tops in LAYERS.items() if top in tops)


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            out[".".join(parts)] = path
    return out


def _imported_tops(path: Path, module: str) -> set[str]:
    """The top-level segwork modules ``path`` imports (anywhere in the file, also lazily)."""
    tops = set()
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package[: len(package) - node.level + 1]
                target = ".".join(
                    ["segwork", *base, *(node.module.split(".") if node.module else [])]
                )
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif node.module == "segwork":
                names = [f"segwork.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "segwork" and len(parts) > 1 and not parts[1].startswith("__"):
                tops.add(parts[1])
    return tops


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = sorted({m.split(".")[0] for m in _modules()} - set().union(*LAYERS.values()))
    assert unplaced == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_imports_only_from_allowed_layers(module: str) -> None:
    top = module.split(".")[0]
    own = _layer(module)
    bad = []
    for imported in sorted(_imported_tops(_modules()[module], module) - {top}):
        layer = _layer(imported)
        if layer not in ALLOWED[own] and imported not in ALLOWED[own]:
            bad.append(f"{imported} ({layer})")
    assert bad == [], f"segwork.{module} ({own}) imports {', '.join(bad)}"


def test_importing_the_analysis_loads_no_io_and_no_presentation() -> None:
    analysis = sorted(m for m in _modules() if _layer(m) == "analysis")
    code = (
        "import importlib, sys\n"
        f"for m in {analysis!r}: importlib.import_module('segwork.' + m)\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = LAYERS["io"] | LAYERS["presentation"] | LAYERS["orchestration"] | LAYERS["steps"]
    leaked = sorted(
        m
        for m in loaded
        if m.split(".")[0] in PRESENTATION_LIBRARIES
        or (m.startswith("segwork.") and (m[8:] in IO_MODULES or m.split(".")[1] in forbidden))
    )
    assert leaked == []

"""Committed notebooks are thin, parameterized, runnable by papermill and carry no outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no NN_*.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernelspec_and_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        "papermill needs a kernelspec"
    )
    params = papermill.inspect_notebook(str(path))
    assert list(params)[:2] == ["config_path", "run_dir"], "config_path and run_dir come first"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_thin(path: Path) -> None:
    """Logic belongs in the package: no function or class definitions in notebooks."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "\ndef " not in "\n" + code and "\nclass " not in "\n" + code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_understood_by_papermill(path: Path) -> None:
    """papermill only warns on a parameter line it cannot parse (e.g. '=' in a comment) and drops it."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [
        ln.split("=")[0].strip()
        for ln in cell.source.splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert list(papermill.inspect_notebook(str(path))) == assigned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_declares_what_it_needs(path: Path) -> None:
    """segwork run skips a notebook whose inputs are missing, from this declaration."""
    from segwork import preflight

    nb = nbformat.read(path, as_version=4)
    assert "segwork" in nb.metadata, f"{path.name}: no 'segwork' metadata (requires/provides)"
    req, problems = preflight.requirements(nb.metadata, path.name)
    assert [str(p) for p in problems] == []
    params = papermill.inspect_notebook(str(path))
    assert set(req.files) <= set(params), "a file requirement names a parameter of the notebook"
    assert set(req.parameter_types) <= set(params)

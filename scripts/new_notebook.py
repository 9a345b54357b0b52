"""Write a notebook from a list of cells, with the kernelspec papermill needs and no outputs.

Used to author the thin notebooks in notebooks/: `python scripts/new_notebook.py spec.py out.ipynb`
where spec.py defines CELLS = [("md", text), ("params", code), ("code", code), ...]. Kinds ending in
"-lab" ("md-lab", "code-lab") are tagged `remove`: shown in JupyterLab, left out of reports.
"""

from __future__ import annotations

import runpy
import sys

import nbformat


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        src = src.strip("\n")
        lab_only = kind.endswith("-lab")
        kind = kind.removesuffix("-lab")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        else:
            cell = nbformat.v4.new_code_cell(src)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
        if lab_only:
            nb.cells[-1].metadata["tags"] = ["remove"]
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    return nb


if __name__ == "__main__":
    spec, out = sys.argv[1], sys.argv[2]
    nbformat.write(build(runpy.run_path(spec)["CELLS"]), out)

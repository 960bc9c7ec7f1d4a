"""Write a notebook from a list of (kind, source) cells, outputs empty. Used to (re)generate notebooks/.

Usage from Python: `make_notebook(path, [("md", "# Title"), ("code", "x = 1")])`.
"""
from __future__ import annotations

import nbformat


def make_notebook(path: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    nbformat.write(nb, path)

"""Every notebook in notebooks/ executes at smoke scale (TOYSCALE_NOTEBOOK_SCALE=smoke), so none rots. Notebooks that
keep a persistent store (06_lottery: runs/notebook_lottery/) write it under TOYSCALE_NOTEBOOK_OUT, set here to a
fresh folder: the outcome cannot depend on what an earlier run left in the checkout."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ is empty"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_at_smoke_scale(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TOYSCALE_NOTEBOOK_SCALE", "smoke")
    monkeypatch.setenv("TOYSCALE_NOTEBOOK_OUT", str(tmp_path / "runs"))    # never a store left by an earlier run
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors

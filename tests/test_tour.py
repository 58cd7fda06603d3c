"""docs/tour.ipynb runs from top to bottom with no error, in under two minutes, and its outputs are pictures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.conftest import emoji_font_available, fashion_mnist_available

TOUR = Path(__file__).resolve().parents[1] / "docs" / "tour.ipynb"


@pytest.mark.slow
@pytest.mark.skipif(
    not (fashion_mnist_available() and emoji_font_available()), reason="needs Debian's data packages (make data)"
)
def test_the_tour_notebook_runs_and_shows_pictures(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(TOUR, as_version=4)
    saved_pictures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert saved_pictures >= 8  # the notebook in docs/ shows its pictures without being run
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.monotonic()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.monotonic() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors  # nbclient raises on an error; this names what it was if it did not
    pictures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert pictures == saved_pictures
    assert elapsed < 120, f"the tour took {elapsed:.0f} s"
    assert not any(Path(tmp_path).iterdir()), "the tour writes nothing into the folder it runs in"

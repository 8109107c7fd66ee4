"""The quickstart notebook runs top to bottom in a Jupyter kernel (nbclient) against the installed
package, and draws its figures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nbclient
import nbformat
from support import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_committed_notebook_has_no_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"cell {i} of {NOTEBOOK.name} was committed with outputs; clear them")


def test_quickstart_notebook_runs_and_draws(shared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BLT_SHARED_DIR", str(shared_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # Keep matplotlib's font cache and IPython's profile out of the user's home.
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError naming the cell on any error

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs
            if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    # The throughput plot and the patch-length histogram.
    assert len(pngs) >= 2, f"expected 2 figures, got {len(pngs)}"
    assert all(p.startswith(PNG_MAGIC) and len(p) > 5000 for p in pngs)
    html_out = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    coloured = [h for h in html_out if h.count("<span title=\"id ") > 20 and "patch of" in h]
    assert coloured, "the coloured token/patch rendering is missing"
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "torch.int64" in streams, "the DataLoader loop printed no batch"
    artifacts = REPO / "build" / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(pngs):
        Path(artifacts / f"quickstart-figure-{i + 1}.png").write_bytes(png)
    (artifacts / "quickstart-paragraph.html").write_text(coloured[0], encoding="utf-8")

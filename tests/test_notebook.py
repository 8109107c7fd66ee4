"""The quickstart notebook runs top to bottom against the installed package (no Jupyter needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from support import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(shared_dir, tmp_path):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [''.join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    script = tmp_path / "quickstart.py"
    body = []
    for i, src in enumerate(code):
        body.append(f"# cell {i + 1}\n{src}\n")
    script.write_text("\n".join(body), encoding="utf-8")
    env = dict(os.environ, BLT_SHARED_DIR=str(shared_dir))
    proc = subprocess.run([sys.executable, str(script)], cwd=NOTEBOOK.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

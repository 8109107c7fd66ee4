"""tests/typed_usage.py (the annotated user script that `make typecheck` checks) also runs, so it
cannot rot: it exits 0 and reports what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("typed_usage.py")


def test_typed_usage_script_runs(vocab_dir: Path, tmp_path: Path) -> None:
    env = dict(os.environ, BLT_VOCAB_DIR=str(vocab_dir))
    # Run from an empty folder so that `import blt` finds the installed package, not the sources.
    p = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr or p.stdout
    assert p.stdout.startswith("ok: "), p.stdout
    assert "-> " in p.stdout and p.stderr == ""


def test_typed_usage_script_names_a_missing_vocabulary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BLT_VOCAB_DIR", "DATA_GYM_CACHE_DIR")}
    env["TIKTOKEN_CACHE_DIR"] = ""  # no tiktoken cache either
    p = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "cl100k_base" in p.stderr

"""Acceptance: tiktoken 0.14's own public test suite, taken from its source distribution (fetched
by `make install` into build/tiktoken-sdist, never copied into the repo), passes against
blt.compat.tiktoken with the module name `tiktoken` answered by it: every test passes, none is
skipped. The encodings are read from the shared vocabulary folder; nothing is downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import REPO

SDIST_DIR = Path(os.environ.get("BLT_TIKTOKEN_SDIST_DIR") or REPO / "build" / "tiktoken-sdist")

# Put first on the child's PYTHONPATH: `import tiktoken` (also in the suite's own subprocesses)
# gets blt.compat.tiktoken, not the tiktoken package installed for the parity tests.
SHIM = "import blt.compat.tiktoken as _compat\n_compat.install()\n"


def sdist() -> Path:
    found = sorted(SDIST_DIR.glob("tiktoken-0.14.*.tar.gz"))
    if not found:
        pytest.fail(f"tiktoken 0.14 source distribution not found in {SDIST_DIR}; `make install` fetches it "
                    "(or set BLT_TIKTOKEN_SDIST_DIR)", pytrace=False)
    return found[-1]


def extract_tests(archive: Path, into: Path) -> Path:
    """Only the sdist's tests/ folder: its tiktoken/ source must not be importable."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"] and m.isfile()]
        assert members, f"{archive} has no tests/ folder"
        for m in members:
            m.name = "/".join(m.name.split("/")[1:])
            data = tar.extractfile(m)
            assert data is not None
            target = into / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read())
    return into / "tests"


def test_tiktoken_public_suite_passes_against_compat(tmp_path, vocab_dir):
    tests = extract_tests(sdist(), tmp_path / "suite")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "tiktoken.py").write_text(SHIM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TIKTOKEN_"))}
    env.update(PYTHONPATH=str(shim), BLT_VOCAB_DIR=str(vocab_dir), TIKTOKEN_CACHE_DIR="")
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rs",
         f"--junitxml={report}", str(tests)],
        cwd=tests.parent, env=env, capture_output=True, text=True, timeout=900,
    )
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert report.exists(), out
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None, out
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 30 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, (counts, out)
    assert run.returncode == 0, out


def test_the_shim_answers_import_tiktoken(tmp_path):
    (tmp_path / "tiktoken.py").write_text(SHIM)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    prog = "import tiktoken, tiktoken.load, blt.compat.tiktoken as c; print(tiktoken is c, tiktoken.load is c.load)"
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True"], out.stderr

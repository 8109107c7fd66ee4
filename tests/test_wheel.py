"""`make wheel` gives a self-contained wheel: oneTBB and PCRE2 inside, a manylinux tag, and the
quick tour runs from a fresh virtual environment that has only that wheel and its PyPI
dependencies, with the source and build trees out of the path.

One test does it all, since building and installing are the expensive part. The build reuses
build/{wheel_tag} (from `make install`) and ccache, so it is incremental.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from support import REPO


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _auditwheel_show(wheel: Path) -> dict:
    """auditwheel's analysis: the policy the wheel meets and the libraries it loads from outside."""
    return json.loads(_run([sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)]).stdout)


def test_wheel_is_self_contained_and_runs_the_tour(shared_dir, tmp_path):
    dist = tmp_path / "dist"
    # A make of its own, not a child of the `make test` that may be running this suite.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    _run(["make", "-C", str(REPO), "wheel", f"WHEEL_DIR={dist}", f"PY={sys.executable}",
          f"VENV={Path(sys.executable).parents[1]}"], env=env, timeout=1800)
    wheels = sorted(dist.glob("bltok-*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    assert re.search(r"manylinux_2_\d+_x86_64", wheel.name), wheel.name

    # The unrepaired wheel needs the system's oneTBB and PCRE2, so the check below can fail.
    raw = sorted((REPO / "build" / "wheel-unrepaired").glob("bltok-*.whl"))
    assert raw, "make wheel left no unrepaired wheel in build/wheel-unrepaired"
    raw_report = _auditwheel_show(raw[-1])
    assert raw_report["overall_tag"] == "linux_x86_64", raw_report
    assert {"libtbb.so.12", "libpcre2-8.so.0"} <= set(raw_report["external_libs"]), raw_report

    report = _auditwheel_show(wheel)
    assert report["overall_tag"] in wheel.name and report["overall_tag"].startswith("manylinux_"), report
    assert report["external_libs"] == {}, report  # nothing loaded from outside the policy
    names = zipfile.ZipFile(wheel).namelist()
    libs = [n for n in names if n.startswith("bltok.libs/")]
    assert any("libtbb" in n for n in libs) and any("libpcre2-8" in n for n in libs), libs
    assert any(n.startswith("blt/serve/static/") for n in names), "the blt-serve page is not in the wheel"
    metadata = next(zipfile.Path(wheel, n).read_text() for n in names if n.endswith(".dist-info/METADATA"))
    assert f"Version: {_project_version()}" in metadata
    extras = set(re.findall(r"^Provides-Extra: (\S+)$", metadata, re.M))
    assert {"serve", "torch", "hf"} <= extras, extras

    # A fresh environment: only the wheel and its PyPI dependencies (numpy, tqdm).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", str(wheel)], timeout=900)

    # The tour, copied out of the repo, run in isolated mode (no PYTHONPATH, no user site, no cwd)
    # from a folder outside the source and build trees.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "examples" / "tour.py", work / "tour.py")
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_"))}
    clean_env["BLT_SHARED_DIR"] = str(shared_dir)
    where = _run([str(py), "-I", "-c", "import blt, blt._core as c; print(blt.__file__); print(c.__file__);"
                  " print(blt.__version__)"], cwd=work, env=clean_env).stdout.split()
    site = venv / "lib"
    assert all(Path(p).is_relative_to(site) for p in where[:2]), where
    assert where[2] == _project_version()
    # The extension finds oneTBB and PCRE2 inside the installed package, not in /usr/lib.
    ldd = _run(["ldd", where[1]]).stdout
    for lib in ("libtbb", "libpcre2-8"):
        line = next(ln for ln in ldd.splitlines() if lib in ln)
        assert "bltok.libs" in line and str(venv) in line, line

    tour = _run([str(py), "-I", "tour.py"], cwd=work, env=clean_env, timeout=600)
    assert "ByteTokenizer.encode(b'Hi') -> [1, 76, 109, 2] uint16" in tour.stdout, tour.stdout
    assert "round trip                  -> Tokenizers should be exactly right and fast." in tour.stdout


def _project_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'^version = "([^"]+)"', text, re.M)
    assert m, "no version in pyproject.toml"
    return m.group(1)

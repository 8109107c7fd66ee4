"""Helpers shared by the test modules: running blt-tokenize and blt-serve in a child process,
reading the files blt-tokenize writes, running a coroutine, waiting for a condition.

Each helper exists once here; a test module imports what it needs (``from support import ...``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Coroutine, Optional, TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]

T = TypeVar("T")

# ---------------------------------------------------------------------------------- blt-tokenize

# What the blt-tokenize console script runs, started with this interpreter (the one the package is
# installed in) whatever PATH holds.
CLI = [sys.executable, "-c", "import sys; from blt.cli import main; sys.exit(main())"]


def run_cli(*args: Any, **kw: Any) -> subprocess.CompletedProcess:
    """Run blt-tokenize with ``args`` (each passed through str) and wait for it; stdout and stderr
    are captured as bytes unless ``kw`` says otherwise (any subprocess.run argument)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([*CLI, *map(str, args)], **kw)


def start_cli(*args: Any, **kw: Any) -> subprocess.Popen:
    """Start blt-tokenize with ``args`` without waiting; stdout and stderr are pipes."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([*CLI, *map(str, args)], **kw)


def reap(p: subprocess.Popen) -> None:
    """Test clean-up: kill ``p`` if it still runs and wait for it, so no child outlives a test."""
    if p.poll() is None:
        p.kill()
        p.wait()


def wait_until(ready: Callable[[], bool], timeout: float = 30.0, poll: float = 0.005) -> bool:
    """Poll ``ready()`` until it is true (returns True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ready():
            return True
        time.sleep(poll)
    return bool(ready())


def interrupt(p: subprocess.Popen, ready: Callable[[], bool], timeout: float = 30.0,
              settle: float = 0.0) -> subprocess.CompletedProcess:
    """Wait until ``ready()`` (the run reached the point to interrupt), give the child ``settle``
    more seconds to block where it is going, send SIGINT (a user's Ctrl-C) and collect the result;
    the child is killed if it outlives the test."""
    try:
        assert wait_until(lambda: ready() or p.poll() is not None, timeout) and ready(), \
            "the run did not reach the point to interrupt"
        time.sleep(settle)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        reap(p)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def one_error_line(err: str | bytes, match: Optional[str] = None) -> str:
    """The single line blt-tokenize writes to stderr when it fails: exactly one line, no
    traceback, starting with the program's name and holding ``match``. Returns the line."""
    text = err.decode() if isinstance(err, bytes) else err
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {text!r}"
    assert "Traceback" not in text
    assert lines[0].startswith("blt-tokenize: "), lines[0]
    if match is not None:
        assert match in lines[0], lines[0]
    return lines[0]


def assert_failed_cleanly(r: subprocess.CompletedProcess, code: int, match: Optional[str] = None,
                          out_dir: Optional[Path] = None, keep: tuple | list = ()) -> str:
    """A failed run: exit ``code``, one stderr line holding ``match``, and (given ``out_dir``)
    nothing in that folder but the names in ``keep``: no output or temporary file left behind.
    Returns the stderr line."""
    err = r.stderr.decode() if isinstance(r.stderr, bytes) else r.stderr
    assert r.returncode == code, err
    line = one_error_line(err, match)
    if out_dir is not None:
        assert sorted(os.listdir(out_dir)) == sorted(keep), "output or temporary file left behind"
    return line


def read_ids(path: Path, dtype: str, fmt: Optional[str] = None) -> np.ndarray:
    """The ids in a blt-tokenize output file as an array of ``dtype``. ``fmt`` (default: the file's
    extension) is bin (raw little-endian ids), npy (its stored dtype must be ``dtype``) or jsonl
    (one JSON list on one line)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    want = np.dtype(dtype)
    if fmt == "bin":
        return np.fromfile(path, dtype=want.newbyteorder("<")).astype(want, copy=False)
    if fmt == "npy":
        ids = np.load(path, mmap_mode="r")
        assert ids.dtype == want, (ids.dtype, want)
        return ids
    if fmt == "jsonl":
        lines = path.read_text(encoding="ascii").splitlines()
        assert len(lines) == 1, f"{len(lines)} lines in {path}"
        return np.array(json.loads(lines[0]), dtype=want)
    raise ValueError(f"unknown output format {fmt!r} for {path}")


def read_patched(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, patch_lengths) of a .npz written with --patch / tokenize_file(patch=); the archive
    must hold exactly those two arrays."""
    with np.load(path) as z:
        assert sorted(z.files) == ["ids", "patch_lengths"], z.files
        return z["ids"], z["patch_lengths"]


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes without data blocks: instant to create, reads as zeros."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def thread_count() -> int:
    """Threads of this process now (Linux)."""
    return len(os.listdir("/proc/self/task"))


# ------------------------------------------------------------------------------------ asyncio


def run_async(coro: Coroutine[Any, Any, T], hang_guard: float = 600.0) -> T:
    """Run ``coro`` on a fresh event loop and return its result. A test that deadlocks fails with
    TimeoutError after ``hang_guard`` seconds instead of stopping the suite; the bound is far above
    any test's run time and is no timing assertion."""
    return asyncio.run(asyncio.wait_for(coro, hang_guard))


# ------------------------------------------------------------------------------------ blt-serve


SERVE = [sys.executable, "-m", "blt.serve.server"]


def run_serve(*args: Any, **kw: Any) -> subprocess.CompletedProcess:
    """Run blt-serve with ``args`` and wait for it to exit (for start-up failures); stdout and
    stderr are captured as text unless ``kw`` says otherwise."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([*SERVE, *map(str, args)], **kw)


def start_serve(*args: Any, env: Optional[dict] = None) -> tuple[subprocess.Popen, int]:
    """Start blt-serve on a free port with ``args`` (and ``env`` added to this environment);
    returns the process once it listens, and the port. stderr stays a text pipe to read later
    (keep the access log off: an unread pipe fills up)."""
    proc = subprocess.Popen([*SERVE, "--port", "0", *map(str, args)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    for line in proc.stderr:
        m = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.wait(10)
    raise AssertionError(f"server did not start (exit {proc.returncode})")

"""Shared benchmark plumbing: machine description, medians, and RESULTS.md sections.

Each benchmark script owns one section of benchmarks/RESULTS.md, delimited by HTML comments, and
rewrites only that section, so scripts can run separately or together (benchmarks/run_all.py).
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SHARED = Path(os.environ.get("BLT_SHARED_DIR", HERE.parent.parent / "shared")).resolve()
CORPUS = SHARED / "corpus"
VOCAB = SHARED / "vocab"


def machine() -> str:
    """One line describing CPU, cores, RAM, OS and Python."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{mem_kb / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        mem = "?"
    cores = len(os.sched_getaffinity(0))
    return f"{cpu}, {cores} usable cores, {mem} RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def median_time(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in seconds over `runs` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mbps(nbytes: int, seconds: float) -> float:
    """Throughput in MB/s (1 MB = 10^6 bytes)."""
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of RESULTS.md with `markdown`; atomic rewrite."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEach section names the command that produced it.\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS)

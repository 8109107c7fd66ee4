"""RSS of the atheris target's input function called in a plain loop, with and without atheris's
instrumentation of blt: tells the library's own memory growth from the fuzzer's bookkeeping.

Run: .venv/bin/python tools/atheris_rss_loop.py [--calls N] [--no-instrument] CORPUS_DIR...
Each call takes a unit of the corpus (e.g. build/fuzz-corpus/atheris_surface) with 0-4 random
bytes changed; RSS (from /proc/self/statm) is printed every 100,000 calls and, at the end, its
growth per call after the first 50,000.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--calls", type=int, default=400_000)
    ap.add_argument("--no-instrument", action="store_true", help="import blt without atheris's instrumentation")
    args = ap.parse_args()
    if args.no_instrument:
        atheris.instrument_imports = lambda **_: contextlib.nullcontext()
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "fuzz"))
    import atheris_surface as target

    units = [open(os.path.join(d, f), "rb").read() for d in args.corpus for f in sorted(os.listdir(d))]
    rng = random.Random(1)
    warm = 50_000
    base = None
    for i in range(1, args.calls + 1):
        data = bytearray(rng.choice(units))
        for _ in range(rng.randint(0, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                data.append(rng.randrange(256))
        try:
            target.test_one_input(bytes(data))
        except target.Finding as e:
            print("finding:", e, flush=True)
        if i == warm:
            base = rss_mb()
        if i % 100_000 == 0:
            print(f"{i} calls: RSS {rss_mb():.0f} MB", flush=True)
    if base is not None and args.calls > warm:
        print(f"growth after the first {warm:,} calls: {(rss_mb() - base) * 1e6 / (args.calls - warm):.0f} B/call")


if __name__ == "__main__":
    main()

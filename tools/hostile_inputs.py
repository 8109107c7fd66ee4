#!/usr/bin/env python3
"""Measures time and peak memory of the hostile inputs of docs/reliability.md, each in a fresh
process (so ru_maxrss is that input's peak), at two sizes to show the growth is linear.
Usage: BLT_SHARED_DIR=... .venv/bin/python tools/hostile_inputs.py [--sizes 1000000 10000000]
Prints a Markdown table. Not a test: tests/test_hostile_inputs.py asserts the behaviour.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = {
    "no split point (`a` * n)": "b'a' * n",
    "punctuation (`!` * n)": "b'!' * n",
    "digits (`7` * n)": "b'7' * n",
    "spaces (` ` * n)": "b' ' * n",
    "spaces then a letter": "b' ' * n + b'x'",
    "combining marks (e + U+0301 * n/2)": "b'e' + '\\u0301'.encode() * (n // 2)",
    "NUL bytes": "b'\\x00' * n",
    "invalid UTF-8 (`ff fe 80` * n/3)": "b'\\xff\\xfe\\x80' * (n // 3)",
}

CHILD = r"""
import json, os, resource, sys, time
import blt
n, expr, enc_name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
enc = blt.get_encoding(enc_name, vocab_dir=os.path.join(os.environ["BLT_SHARED_DIR"], "vocab"))
enc.encode("warm up")
data = eval(expr)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
ids = enc.encode(data)
dt = time.perf_counter() - t
assert enc.decode_bytes(ids) == data
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "tokens": len(ids), "rss_mb": peak / 1024, "growth_mb": (peak - base) / 1024}))
"""


def run(n: int, expr: str, enc: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), expr, enc], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs=2, default=[10**6, 10**7])
    ap.add_argument("--encoding", default="cl100k_base")
    a = ap.parse_args()
    small, big = a.sizes
    print(f"| input ({a.encoding}) | n = {small:.0e}: s, tokens, peak RSS growth | n = {big:.0e}: s, peak RSS growth | time ratio |")
    print("|---|---|---|---|")
    for name, expr in CASES.items():
        r1 = run(small, expr, a.encoding)
        r2 = run(big, expr, a.encoding)
        print(f"| {name} | {r1['seconds']:.3f} s, {r1['tokens']}, {r1['growth_mb']:.0f} MB | "
              f"{r2['seconds']:.3f} s, {r2['growth_mb']:.0f} MB | {r2['seconds'] / max(r1['seconds'], 1e-9):.1f}x |")


if __name__ == "__main__":
    main()

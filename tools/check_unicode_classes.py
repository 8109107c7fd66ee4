#!/usr/bin/env python3
"""Classifies every non-ASCII code point the way tiktoken, the scanners and PCRE2 split it, and
prints where they differ (evidence for the Unicode version notes in unicode_classes.hpp).

Each code point c is put in one of the classes the OpenAI patterns tell apart, from whether small
probe texts form one piece: "a"+c (cl100k: a letter?), "a"+c (o200k: lowerish?), c+"Aa" (o200k:
upperish?), "1"+c (cl100k: a number?), "!"+c (cl100k: punctuation/mark, else whitespace).
tiktoken's pieces come from a vocabulary holding each probe whole (tiktoken looks a piece up whole
before BPE). Takes about 10 minutes on one core.

Usage: python tools/check_unicode_classes.py [--unicode-data]   (after `make install`)
"""
from __future__ import annotations

import collections
import json
import os
import sys
import unicodedata
from pathlib import Path

import tiktoken

from blt import _core

REPO = Path(__file__).resolve().parents[1]
VOCAB = Path(os.environ.get("BLT_SHARED_DIR", REPO.parent / "shared")) / "vocab"


def pattern(name: str) -> str:
    return json.loads((VOCAB / f"{name}.meta.json").read_text())["pat_str"]


CL, O2 = pattern("cl100k_base"), pattern("o200k_base")
PROBES = [(CL, "a{}"), (O2, "a{}"), (O2, "{}Aa"), (CL, "1{}"), (CL, "!{}")]


def classify(one_piece: list[list[bool]], i: int) -> str:
    p1, p2, p3, p4, p5 = (r[i] for r in one_piece)
    if p1:
        return ("Lm/Lo" if p3 else "Ll") if p2 else "Lu/Lt"
    if p4:
        return "N"
    if p5:
        return "M" if p2 else "other"
    return "White_Space"


def tiktoken_one_piece(pat: str, texts: list[str]) -> list[bool]:
    ranks = {bytes([i]): i for i in range(256)}
    for t in texts:
        ranks.setdefault(t.encode(), len(ranks))
    enc = tiktoken.Encoding("probe", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
    return [len(r) == 1 and r[0] >= 256 for r in enc.encode_ordinary_batch(texts, num_threads=1)]


def core_one_piece(pat: str, kind: str, texts: list[str]) -> list[bool]:
    pre = _core.Pretokenizer(pat, kind)
    return [len(pre.split(t.encode())) == 1 for t in texts]


def main() -> None:
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    diffs = {"scanner": [], "regex": []}
    step = 100_000
    for start in range(0, len(cps), step):
        chunk = cps[start:start + step]
        chars = [chr(c) for c in chunk]
        ref = [tiktoken_one_piece(p, [f.format(c) for c in chars]) for p, f in PROBES]
        for kind in diffs:
            got = [core_one_piece(p, kind, [f.format(c) for c in chars]) for p, f in PROBES]
            for i, c in enumerate(chunk):
                a, b = classify(ref, i), classify(got, i)
                if a != b:
                    diffs[kind].append((c, a, b))
        print(f"{start + len(chunk)} / {len(cps)}", file=sys.stderr)
    print(f"code points checked: {len(cps)}; PCRE2 Unicode {_core.pcre2_unicode_version()}, "
          f"scanner tables {_core.scanner_unicode_version()}, Python unicodedata "
          f"{unicodedata.unidata_version}")
    for kind, d in diffs.items():
        print(f"{kind} vs tiktoken: {len(d)} code points differ")
        summary = collections.Counter((unicodedata.category(chr(c)), a, b) for c, a, b in d)
        for (cat14, a, b), n in sorted(summary.items()):
            print(f"  {n:6}  Unicode {unicodedata.unidata_version} category {cat14}: "
                  f"tiktoken {a}, {kind} {b}")


if __name__ == "__main__":
    main()

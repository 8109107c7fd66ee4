"""The README's 60-second tour, runnable: `make demo` runs it after tokenizing a corpus file."""

from __future__ import annotations

import numpy as np

import blt

tok = blt.ByteTokenizer()
ids = tok.encode(b"Hi")
print("encode(b'Hi')           ->", ids.tolist(), ids.dtype)
print("with a meta token        ->", tok.encode("héllo", meta="text").tolist())
print("decode                   ->", tok.decode(ids))

batch = tok.encode_batch(["a", b"bc", bytearray(b"def")])
print("encode_batch             ->", batch, batch.to_list())

demo = "demo_out/en_prose.npy"
try:
    arr = np.load(demo, mmap_mode="r")
    print(f"{demo}: {len(arr):,} ids, first {arr[:6].tolist()}, decodes to {tok.decode(arr[:40])!r}")
except FileNotFoundError:
    print(f"{demo} not found (run `make demo`)")

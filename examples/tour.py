"""The README's 60-second tour, runnable: `make demo` runs it after tokenizing a corpus file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

import blt

SHARED = Path(os.environ.get("BLT_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))

# Byte-level ids in the style of Meta's BLT: BOS=1, EOS=2, byte b -> b + 4.
tok = blt.ByteTokenizer()
ids = tok.encode(b"Hi")
print("ByteTokenizer.encode(b'Hi') ->", ids.tolist(), ids.dtype)
print("with a meta token           ->", tok.encode("héllo", content_type="text").tolist())
print("decode                      ->", tok.decode(ids))
batch = tok.encode_batch(["a", b"bc", bytearray(b"def")])
print("encode_batch                ->", batch, batch.to_list())

# Byte-level BPE with the same ids as tiktoken, from the shared rank files.
enc = blt.get_encoding("cl100k_base", vocab_dir=SHARED / "vocab")
text = "Tokenizers should be exactly right and fast."
print("cl100k_base.encode          ->", enc.encode(text).tolist())
print("round trip                  ->", enc.decode(enc.encode(text)))
print("count                       ->", enc.count(text))

# BLT patches: where a small n-gram model finds the next byte hard to predict.
corpus = (SHARED / "corpus" / "en_prose.txt").read_bytes()[:2_000_000]
model = blt.EntropyModel.train([corpus], order=4)
patcher = blt.Patcher.entropy(model)
lengths = patcher.patch(tok.encode(text))
print("entropy patch lengths       ->", lengths.tolist())
print("hash n-gram ids (n=3..8)    ->", blt.hash_ngrams(tok.encode(b"Lippy")).shape)

# Threads: a call's num_threads, else blt.set_num_threads, else $BLT_NUM_THREADS, else all cores
# (one inside a DataLoader worker). Tokenizers, patchers and models pickle small and deterministic.
blt.set_num_threads(2)
print("get_num_threads             ->", blt.get_num_threads())
print("pickled cl100k_base         ->", len(pickle.dumps(enc)), "bytes; patcher:",
      len(pickle.dumps(patcher)), "bytes with its model")
blt.set_num_threads(None)

# The file `make demo` wrote with the CLI.
demo = Path("demo_out/en_prose.npy")
if demo.exists():
    arr = np.load(demo, mmap_mode="r")
    print(f"{demo}: {len(arr):,} ids, first {arr[:6].tolist()}, decodes to {tok.decode(arr[:40])!r}")

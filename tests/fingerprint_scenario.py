"""Prints, as one JSON line, the ``datasets`` fingerprints of blt objects and of a map function
using a tokenizer, then maps a text file with that function (cached under CACHE_DIR) and reports
the cache file it used. tests/test_pickle.py runs it in two fresh interpreters.

    python tests/fingerprint_scenario.py VOCAB_DIR TEXT_FILE CACHE_DIR
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List

import datasets
from datasets.fingerprint import Hasher

import blt

VOCAB_DIR, TEXT_FILE, CACHE_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
model = blt.EntropyModel.train([b"the cat sat on the mat " * 20], order=3)


def tokenize(batch: Dict[str, List[str]]) -> Dict[str, Any]:
    return {"ids": enc.encode_batch(batch["text"]).to_list()}


def main() -> None:
    fingerprints = {
        "encoding": Hasher.hash(enc),
        "ranks": Hasher.hash(blt.BPETokenizer.from_ranks({bytes([b]): b for b in range(256)}, pat_str=r"\w+|\s+")),
        "byte_tokenizer": Hasher.hash(blt.ByteTokenizer(content_type="text")),
        "byte_bpe": Hasher.hash(blt.ByteTokenizer(bpe=enc)),
        "entropy_model": Hasher.hash(model),
        "patcher": Hasher.hash(blt.Patcher.entropy(model=model, threshold=1.5)),
        "map_function": Hasher.hash(tokenize),
    }
    ds = datasets.load_dataset("text", data_files=TEXT_FILE, split="train", cache_dir=CACHE_DIR)
    mapped = ds.map(tokenize, batched=True)
    cache = mapped.cache_files[0]["filename"] if mapped.cache_files else ""
    st = os.stat(cache) if cache else None
    print(json.dumps({"fingerprints": fingerprints, "cache_file": cache,
                      "cache_mtime_ns": st.st_mtime_ns if st else 0, "cache_inode": st.st_ino if st else 0,
                      "first_ids": mapped[0]["ids"], "direct_ids": enc.encode(ds[0]["text"]).tolist()}))


if __name__ == "__main__":
    main()

"""A user's script, fully annotated: it must pass ``mypy --strict`` (``make typecheck``) and run.

It loads cl100k_base (from ``$BLT_VOCAB_DIR`` or the folder given as the first argument), encodes
and decodes a few texts one by one and in a batch, tokenizes bytes with BLT byte ids, patches
them, and tokenizes a file with the parallel pipeline. tests/test_typed_usage.py runs it.

    BLT_VOCAB_DIR=../shared/vocab python tests/typed_usage.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import numpy.typing as npt

import blt

TEXTS: List[str] = ["Hello, world!", "Byte-level BPE keeps every byte.", "", "naïve café ✓"]


def check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"typed_usage: {what}")


def bpe_round_trip(enc: blt.BPETokenizer) -> int:
    """Encodes each text and the batch; returns the number of ids."""
    total = 0
    for text in TEXTS:
        ids: np.ndarray = enc.encode(text)
        check(enc.decode(ids) == text, f"decode(encode({text!r})) differs")
        check(enc.count(text) == len(ids), "count differs from len(encode)")
        total += len(ids)
    batch: blt.RaggedIds = enc.encode_batch(TEXTS, num_threads=2)
    check(len(batch) == len(TEXTS), "batch has one item per text")
    for text, item in zip(TEXTS, batch):
        check(item.tolist() == enc.encode(text).tolist(), "batch item differs from encode")
    lists: List[List[int]] = batch.to_list()
    check(sum(len(x) for x in lists) == total == int(batch.lengths().sum()), "batch lengths")
    special: np.ndarray = enc.encode("<|endoftext|>", allowed_special="all")
    check(special.tolist() == [enc.encode_single_token("<|endoftext|>")], "special token")
    return total


def bytes_and_patches() -> List[int]:
    """BLT byte ids of a text, patched on spaces; returns the patch lengths."""
    tok = blt.ByteTokenizer(content_type="text")
    ids: npt.NDArray[np.generic] = tok.encode("hello patch world")
    check(tok.decode(ids) == "hello patch world", "byte ids decode to the text")
    check(ids[0] == blt.ByteTokenizer.BOS and ids[1] == tok.meta_id("text"), "BOS then the meta id")
    lengths = blt.Patcher.space().patch(ids)
    check(isinstance(lengths, np.ndarray), "one sequence gives one array")
    assert isinstance(lengths, np.ndarray)  # for the type checker: patch() also returns RaggedIds
    check(int(lengths.sum()) == len(ids), "patch lengths cover the ids")
    batch = blt.Patcher.static(4).patch(tok.encode_batch([b"abcdefgh", b"xy"]))
    check(isinstance(batch, blt.RaggedIds) and len(batch) == 2, "a batch gives RaggedIds")
    result: List[int] = lengths.tolist()
    return result


def tokenize_to_file(enc: blt.BPETokenizer, text: str, folder: Path) -> blt.TokenizeResult:
    """Writes ``text`` to a file, tokenizes it into an .npy file and checks it against encode."""
    src = folder / "input.txt"
    src.write_text(text, encoding="utf-8")
    dst = folder / "ids.npy"
    res = blt.tokenize_file(src, dst, tokenizer=enc, num_threads=2, chunk_size=64)
    ids: npt.NDArray[np.uint32] = np.load(dst)
    check(ids.tolist() == enc.encode(text).tolist(), "tokenize_file differs from encode")
    check(res.ids_out == len(ids) and res.ids is None, "result counts the ids written")
    in_memory: Optional[npt.NDArray[np.generic]] = blt.tokenize_file(text.encode(), None).ids
    check(in_memory is not None and len(in_memory) == len(text.encode()) + 2, "in memory: bytes + BOS, EOS")
    return res


def main(argv: Sequence[str]) -> int:
    vocab_dir: Optional[str] = argv[1] if len(argv) > 1 else os.environ.get("BLT_VOCAB_DIR")
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    n_ids = bpe_round_trip(enc)
    lengths = bytes_and_patches()
    with tempfile.TemporaryDirectory() as tmp:
        res = tokenize_to_file(enc, " ".join(TEXTS) * 20, Path(tmp))
    print(f"ok: {n_ids} BPE ids, patches {lengths}, file {res.bytes_in} bytes -> {res.ids_out} ids")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""PyTorch DataLoader runs for tests/test_fork.py, in a fresh interpreter (a hang is bounded by the
test's subprocess timeout).

    python tests/dataloader_scenarios.py START_METHOD PERSISTENT EPOCHS INIT_THREADS VOCAB_DIR CORPUS_FILE

The parent warms blt's thread pool (a parallel encode_batch) and sets blt.set_num_threads(2), then
iterates a map-style dataset that encodes with blt through a DataLoader with 2 workers of
START_METHOD (fork, forkserver, spawn), persistent or not, for EPOCHS epochs. A worker's default
thread count must be 1 (a count set in the parent does not carry over), or INIT_THREADS when
worker_init_fn sets one (0: none set). Prints one JSON line: items, mismatches, the thread counts
and backends the workers reported, worker pids seen.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import blt
from blt import _core


class EncodedDocs(Dataset):  # type: ignore[type-arg]
    """Item i: blt's encoding of a group of documents, and how the worker ran it."""

    def __init__(self, enc: blt.BPETokenizer, groups: List[List[bytes]]) -> None:
        self.enc = enc  # pickled into spawn/forkserver workers
        self.groups = groups

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        batch = self.enc.encode_batch(self.groups[i])
        return {"index": i, "ids": torch.from_numpy(batch.ids.astype(np.int64)),
                "offsets": torch.from_numpy(batch.offsets), "threads": blt.get_num_threads(),
                "backend": _core.parallel_backend(), "pid": os.getpid()}


def keep(item: Dict[str, Any]) -> Dict[str, Any]:
    return item


class SetThreads:
    """worker_init_fn that sets blt's thread count in the worker."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, worker_id: int) -> None:
        blt.set_num_threads(self.n)


def main() -> None:
    method, persistent, epochs, init_threads = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
    vocab_dir, corpus = sys.argv[5], sys.argv[6]
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    text = Path(corpus).read_bytes()[: 1 << 16]
    docs = [text[i : i + 700] for i in range(0, len(text), 700)]
    groups = [docs[i : i + 8] for i in range(0, len(docs), 8)]
    expected = [enc.encode_batch(g, num_threads=2) for g in groups]  # warms the pool
    blt.set_num_threads(2)
    loader = DataLoader(EncodedDocs(enc, groups), batch_size=None, num_workers=2, collate_fn=keep,
                        multiprocessing_context=method, persistent_workers=persistent,
                        worker_init_fn=SetThreads(init_threads) if init_threads else None, timeout=120)
    items = mismatches = 0
    threads: List[int] = []
    backends: List[str] = []
    pids: List[int] = []
    for _ in range(epochs):
        for item in loader:
            e = expected[item["index"]]
            items += 1
            if not (np.array_equal(item["ids"].numpy(), e.ids.astype(np.int64))
                    and np.array_equal(item["offsets"].numpy(), e.offsets)):
                mismatches += 1
            threads.append(item["threads"])
            backends.append(item["backend"])
            pids.append(item["pid"])
    print(json.dumps({"items": items, "expected_items": epochs * len(groups), "mismatches": mismatches,
                      "threads": sorted(set(threads)), "backends": sorted(set(backends)),
                      "worker_pids": len(set(pids)), "parent_threads": blt.get_num_threads()}))


if __name__ == "__main__":
    main()

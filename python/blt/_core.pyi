# Type stubs for the native module blt._core. Each API area adds only its own section.

from typing import List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

# === patching (patchers, entropy model, hash n-grams) ============================================

NGRAM_HASH_PRIMES: List[int]

class PatchRule:
    def __init__(
        self,
        kind: str,
        patch_size: int = 4,
        threshold: Optional[float] = None,
        threshold_add: Optional[float] = None,
        monotonicity: bool = False,
        topk_patch_size: float = 4.5,
        max_patch_length: int = 0,
        include_next_token: bool = False,
        force_boundaries: bool = True,
    ) -> None: ...
    @property
    def is_topk(self) -> bool: ...

def patch_batch(
    rule: PatchRule,
    ids: Optional[npt.NDArray[np.uint16]],
    entropies: Optional[npt.NDArray[np.float32]],
    offsets: npt.NDArray[np.int64],
    threads: int = 0,
) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

class EntropyCursor:
    def __init__(self) -> None: ...

class EntropyModel:
    @staticmethod
    def load(path: str) -> EntropyModel: ...
    def save(self, path: str) -> None: ...
    @property
    def order(self) -> int: ...
    @property
    def n_contexts(self) -> int: ...
    @property
    def n_ngrams(self) -> int: ...
    def context_table(self) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...
    def entropies(
        self,
        ids: npt.NDArray[np.uint16],
        offsets: npt.NDArray[np.int64],
        reset: Sequence[int],
        threads: int = 0,
    ) -> npt.NDArray[np.float32]: ...
    def entropies_stream(
        self, cursor: EntropyCursor, ids: npt.NDArray[np.uint16], reset: Sequence[int]
    ) -> npt.NDArray[np.float32]: ...
    def bits_per_byte(self, data: object, reset: Sequence[int]) -> float: ...
    def patch_batch(
        self,
        rule: PatchRule,
        ids: npt.NDArray[np.uint16],
        offsets: npt.NDArray[np.int64],
        reset: Sequence[int],
        threads: int = 0,
    ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

class NgramCounter:
    def __init__(self, order: int) -> None: ...
    @property
    def bytes_seen(self) -> int: ...
    def add(self, documents: Sequence[object], threads: int = 0) -> None: ...
    def build(self, threads: int = 0) -> EntropyModel: ...

class PatchStream:
    def __init__(self, rule: PatchRule) -> None: ...
    @property
    def position(self) -> int: ...
    def feed(
        self,
        ids: Optional[npt.NDArray[np.uint16]],
        entropies: Optional[npt.NDArray[np.float32]] = None,
    ) -> npt.NDArray[np.int32]: ...
    def finish(self) -> npt.NDArray[np.int32]: ...

def hash_ngrams(
    ids: npt.NDArray[np.uint16],
    sizes: Sequence[int],
    funcs: Sequence[int],
    max_hash: int,
    threads: int = 1,
    out: Optional[npt.NDArray[np.int64]] = None,
) -> npt.NDArray[np.int64]: ...

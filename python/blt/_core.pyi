"""Type stubs for the native extension blt._core (see src/binding.cpp). Sections per API area."""

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

# --- common ---------------------------------------------------------------------------------------
class IdBuffer:
    """Native owner of an id array; NumPy results keep it as their ``.base``."""

    @property
    def nbytes(self) -> int: ...
    @property
    def address(self) -> int: ...

class Tokenizer:
    """Base of every native tokenizer."""

    @property
    def n_vocab(self) -> int: ...

def usable_cores() -> int: ...
def available_ram_bytes() -> int: ...
def simd_arch() -> str: ...

# --- bytes ----------------------------------------------------------------------------------------
class ByteCodec(Tokenizer):
    def __init__(
        self, bos: bool = True, eos: bool = True, meta: Optional[str] = None, strip_bom: bool = False
    ) -> None: ...
    def encode(self, data: Any, dtype: str = "uint16") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[Any], dtype: str = "uint16", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
    @staticmethod
    def meta_id(name: str) -> int: ...
    @staticmethod
    def decode(ids: npt.NDArray[Any]) -> bytes: ...

# --- pipeline -------------------------------------------------------------------------------------
def tokenize_stream(
    tokenizer: Any,
    input: Any = None,
    input_fd: int = -1,
    input_name: str = "<input>",
    output_fd: int = -1,
    output_name: str = "<output>",
    dtype: str = "uint16",
    format: str = "bin",
    threads: int = 0,
    memcap: int = 268435456,
    min_chunk: int = 65536,
    max_chunk: int = 1048576,
    progress: Optional[Callable[[int, int], None]] = None,
    utf8_chunks: bool = False,
    progress_interval: float = 0.05,
) -> dict[str, Any]:
    """Tokenize a buffer (input) or descriptor (input_fd) into output_fd, or into memory
    (output_fd < 0: the result's "ids" is a NumPy array). Keys: bytes_in, ids_out, chunks,
    seconds, threads, chunk_size, in_flight, buffer_bytes[, ids]."""


# --- text -----------------------------------------------------------------------------------------

# --- bpe ------------------------------------------------------------------------------------------

# --- serve ----------------------------------------------------------------------------------------
class Overloaded(RuntimeError):
    """A batch engine queue is full; retry later."""

class BatchEngine:
    """Native batch encoder; results arrive as ``loop.call_soon_threadsafe(handler, results)`` with
    ``results`` a list of ``(id, status, error, ids, consumed, count)`` (status 0 ok, 1 invalid,
    2 timed out, 3 shut down, 4 failed; ``ids`` is an array, the JSON text of the ids as bytes
    for ``json=True`` requests, or None on error)."""

    def __init__(
        self,
        loop: Any,
        handler: Any,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        queue_capacity: int = 1024,
        threads: int = 0,
        max_inflight_batches: int = 0,
    ) -> None: ...
    def submit(
        self,
        tokenizer: Tokenizer,
        data: Any,
        dtype: str = "uint32",
        priority: str = "normal",
        timeout_s: float = 0.0,
        segment: bool = False,
        stream_start: bool = False,
        stream_end: bool = False,
        target: int = 0,
        json: bool = False,
    ) -> int: ...
    def cancel(self, id: int) -> bool: ...
    def flush(self) -> None: ...
    def close(self, drain: bool = False) -> None: ...
    @property
    def closed(self) -> bool: ...
    def queue_depth(self) -> Tuple[int, int, int]: ...
    def stats(self) -> dict: ...


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

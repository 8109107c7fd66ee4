"""Type stubs for the native extension blt._core (see src/binding.cpp). Sections per API area."""

from __future__ import annotations

from typing import Any, Callable, List, Literal, Optional, Sequence, Tuple, Union

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

class BpeDelimitedCodec(Tokenizer):
    """BLT byte ids with the BPE delimiter 3 before each token of a native BPE encoder."""

    def __init__(
        self, bpe: Any, bos: bool = True, eos: bool = True, meta: Optional[str] = None, strip_bom: bool = False
    ) -> None: ...
    def encode(self, data: Any, dtype: str = "uint16") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[Any], dtype: str = "uint16", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
    def safe_split(self, window: Any, target: int) -> int: ...

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
        wake_on_submit: bool = True,
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
        stream_offset: int = 0,
    ) -> int: ...
    def submit_decode(
        self, tokenizer: Tokenizer, ids: np.ndarray, priority: str = "normal", timeout_s: float = 0.0
    ) -> int: ...
    def cancel(self, id: int) -> bool: ...
    def flush(self) -> None: ...
    def close(self, drain: bool = False) -> None: ...
    @property
    def closed(self) -> bool: ...
    def queue_depth(self) -> Tuple[int, int, int]: ...
    def stats(self) -> dict: ...


# === patching (patchers, entropy model, hash n-grams) =====================================



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
_Bytes = Union[str, bytes, bytearray, memoryview]

# === text (pretokenizers: OpenAI scanners, PCRE2) ================================================

class Pretokenizer:
    """Splits text (UTF-8 bytes, possibly invalid) into the pieces byte-level BPE merges within.

    kind="auto" uses a hand-written scanner for the OpenAI patterns (r50k/p50k, cl100k, o200k)
    and PCRE2 (JIT) for any other regex; "scanner" and "regex" force one (for comparisons).
    Pieces follow tiktoken's find_iter; a run of bytes no match covers (invalid UTF-8) is a piece.

    >>> p = Pretokenizer(r"\\w+|\\s+")
    >>> p.kind, p.split(b"hi there").tolist()
    ('regex', [2, 3, 8])
    """

    def __init__(self, pattern: str, kind: Literal["auto", "scanner", "regex"] = "auto") -> None: ...
    @property
    def pattern(self) -> str: ...
    @property
    def kind(self) -> Literal["scanner", "regex"]: ...
    def split(self, data: _Bytes) -> npt.NDArray[np.uint32]:
        """End offsets (exclusive, in bytes) of the pieces of `data`; the last equals len(data)."""
    def safe_split(self, data: _Bytes, target: int) -> int:
        """Largest p with 0 < p <= target (and p < len(data)) where the pieces are cut whatever
        precedes `data` and whatever follows it, or 0 (always 0 for non-OpenAI patterns)."""

def pcre2_unicode_version() -> str:
    """Unicode version of the linked PCRE2's tables (PCRE2 10.42: '14.0.0')."""

def scanner_unicode_version() -> str:
    """Unicode version of the scanners' tables: '16.0.0', as tiktoken's regex."""

# === BPE ==========================================================================================

class BpeModel:
    """Immutable byte-level BPE vocabulary (use blt.BPETokenizer)."""

    @staticmethod
    def from_tiktoken(data: bytes, source: str, name: str, pattern: str,
                      specials: List[Tuple[bytes, int, bool, bool, bool]]) -> BpeModel: ...
    @staticmethod
    def from_parts(name: str, pattern: str, tokens: List[bytes], ids: np.ndarray,
                   merges: Optional[np.ndarray], whole_piece_lookup: bool,
                   specials: List[Tuple[bytes, int, bool, bool, bool]]) -> BpeModel: ...
    @staticmethod
    def from_blob(blob: bytes) -> BpeModel: ...
    def to_blob(self) -> bytes: ...
    @property
    def name(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def n_vocab(self) -> int: ...
    @property
    def has_merges(self) -> bool: ...
    @property
    def whole_piece_lookup(self) -> bool: ...
    @property
    def specials(self) -> List[Tuple[bytes, int, bool, bool, bool]]: ...  # text, id, always, lstrip, rstrip
    def token_bytes(self, id: int) -> bytes: ...
    def decode_bytes(self, ids: Any) -> bytes: ...
    def vocab(self) -> Tuple[List[bytes], np.ndarray]: ...
    def merge_list(self) -> np.ndarray: ...
    def format_tiktoken(self) -> bytes: ...
    def rank_file_equivalent(self) -> Tuple[bool, str]: ...
    def tokens_self_merge(self) -> Tuple[bool, str]: ...
    def tokenizer(self, allowed: List[str], disallowed: List[str]) -> BpeEncoder: ...

class BpeEncoder(Tokenizer):
    """A BpeModel with one special-token policy; implements the native Tokenizer interface."""

    @property
    def n_vocab(self) -> int: ...
    def encode(self, data: Any, dtype: str = "uint32") -> np.ndarray: ...
    def encode_u32_function(self) -> Callable[[Any], np.ndarray]: ...
    def encode_batch(self, items: Sequence[Any], dtype: str = "uint32", threads: int = 0) -> Tuple[np.ndarray, np.ndarray]: ...
    def encode_prefix(self, data: Any, max_tokens: int) -> Tuple[np.ndarray, int]: ...
    def encode_with_offsets(self, data: Any, char_offsets: bool) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]: ...
    def count(self, data: Any) -> int: ...
    def safe_split(self, window: Any, target: int) -> int: ...

# Megatron shards (src/bindings/megatron.cpp)
def megatron_dtype_for_vocab(n_vocab: int) -> str: ...

class MegatronIndex:
    """The document table of a Megatron indexed dataset (.idx) being written."""

    def __init__(self, dtype: str) -> None: ...
    @property
    def dtype(self) -> str: ...
    def add_document(self, n_ids: int) -> None: ...
    @property
    def documents(self) -> int: ...
    @property
    def sequences(self) -> int: ...
    @property
    def ids(self) -> int: ...
    def write(self, fd: int, name: str = "<idx>") -> None: ...

def tokenize_jsonl(tokenizer: Any, index: MegatronIndex, input_fd: int, bin_fd: int, input_name: str = "<input>",
                   bin_name: str = "<bin>", json_key: str = "text", eod: Optional[int] = None,
                   threads: int = 0, memcap: int = 268435456, chunk: int = 1048576,
                   progress: Optional[Callable[[int, int], None]] = None,
                   progress_interval: float = 0.05) -> dict[str, Any]: ...

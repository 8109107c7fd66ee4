"""Type stubs for the native extension blt._core (see src/bindings/). Sections per binding file.

Checked against the built module by ``python -m mypy.stubtest blt._core`` and, for parameter
names, order and defaults (which stubtest cannot read from pybind11 functions), by
tests/test_core_stub.py.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, List, Literal, Optional, Sequence, Tuple, TypedDict, Union, type_check_only

import numpy as np
import numpy.typing as npt

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:
    from typing_extensions import NotRequired

# Text or any contiguous buffer of 1-byte items: str (its UTF-8), bytes, bytearray, memoryview,
# mmap, uint8 arrays.
_Bytes = Union[str, Buffer, npt.NDArray[Any]]
# (text, id, always, lstrip, rstrip) of one special token.
_SpecialEntry = Tuple[bytes, int, bool, bool, bool]

@type_check_only
class _pybind11_type(type):
    """The metaclass of every pybind11 class (pybind11_builtins.pybind11_type)."""

# --- module.cpp: shared classes and constants ------------------------------------------------------
class IdBuffer(metaclass=_pybind11_type):
    """Native owner of an id array; NumPy results keep it as their ``.base``."""

    @property
    def nbytes(self) -> int: ...
    @property
    def address(self) -> int: ...

class Tokenizer(metaclass=_pybind11_type):
    """Base of every native tokenizer."""

    @property
    def n_vocab(self) -> int: ...
    def safe_split(self, window: _Bytes, target: int) -> int: ...
    def encode_into(self, data: _Bytes, out: npt.NDArray[Any]) -> int: ...
    def encode_function(self, dtype: str) -> Callable[[_Bytes], npt.NDArray[Any]]: ...

def usable_cores() -> int: ...
def available_ram_bytes() -> int: ...
def simd_arch() -> str: ...
def parallel_backend() -> str: ...
def fork_generation() -> int: ...
def fork_pool_workers() -> int: ...

BOE_ID: int
BOS_ID: int
EOS_ID: int
BPE_DELIM_ID: int
BYTE_OFFSET: int
MAX_ID: int
META_IDS: dict[str, int]
OPENAI_PATTERNS: dict[str, str]
__version__: str

# --- bytes.cpp ------------------------------------------------------------------------------------
class ByteCodec(Tokenizer):
    def __init__(
        self, bos: bool = True, eos: bool = True, meta: Optional[str] = None, strip_bom: bool = False
    ) -> None: ...
    @staticmethod
    def meta_id(name: str) -> int: ...
    @staticmethod
    def decode(ids: npt.ArrayLike) -> bytes: ...
    def encode(self, data: _Bytes, dtype: str = "uint16") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[_Bytes], dtype: str = "uint16", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...

class BpeDelimitedCodec(Tokenizer):
    """BLT byte ids with the BPE delimiter 3 before each token of a native BPE encoder."""

    def __init__(
        self, bpe: BpeEncoder, bos: bool = True, eos: bool = True, meta: Optional[str] = None,
        strip_bom: bool = False,
    ) -> None: ...
    def encode(self, data: _Bytes, dtype: str = "uint16") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[_Bytes], dtype: str = "uint16", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...

# --- pipeline.cpp ---------------------------------------------------------------------------------
@type_check_only
class _StreamResult(TypedDict):
    bytes_in: int
    ids_out: int
    chunks: int
    seconds: float
    threads: int
    chunk_size: int
    in_flight: int
    buffer_bytes: int
    stage_times: List[Tuple[str, float]]
    queue_mean: float
    queue_max: int
    ids: NotRequired[npt.NDArray[Any]]  # only when output_fd < 0

def tokenize_stream(
    tokenizer: Tokenizer,
    input: Optional[_Bytes] = None,
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
    progress: Optional[Callable[[int, int], object]] = None,
    utf8_chunks: bool = False,
    progress_interval: float = 0.05,
) -> _StreamResult:
    """Tokenize a buffer (input) or descriptor (input_fd) into output_fd, or into memory
    (output_fd < 0: the result's "ids" is a NumPy array)."""

class _PatchStreamResult(_StreamResult):
    patches: int
    hash_columns: int

def tokenize_patch_stream(
    tokenizer: Tokenizer,
    input: Optional[_Bytes] = None,
    input_fd: int = -1,
    input_name: str = "<input>",
    output_fd: int = -1,
    output_name: str = "<output>",
    lengths_spool_fd: int = -1,
    hash_spool_fd: int = -1,
    dtype: str = "uint16",
    threads: int = 0,
    memcap: int = 268435456,
    min_chunk: int = 65536,
    max_chunk: int = 1048576,
    progress: Optional[Callable[[int, int], object]] = None,
    utf8_chunks: bool = False,
    progress_interval: float = 0.05,
    rule: Optional[PatchRule] = None,
    model: Optional[EntropyModel] = None,
    reset: List[int] = [],
    hash_sizes: List[int] = [],
    hash_funcs: List[int] = [],
    max_hash: int = 500002,
    hash_dtype: str = "int64",
) -> _PatchStreamResult:
    """Tokenize into an .npz at output_fd (ids, patch_lengths with rule, hash_ids with
    hash_sizes), patching and hashing per chunk in the pipeline's graph."""

# --- text.cpp -------------------------------------------------------------------------------------
class Pretokenizer(metaclass=_pybind11_type):
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

# --- bpe.cpp --------------------------------------------------------------------------------------
class BpeModel(metaclass=_pybind11_type):
    """Immutable byte-level BPE vocabulary (use blt.BPETokenizer)."""

    @staticmethod
    def from_tiktoken(
        data: bytes, source: str, name: str, pattern: str, specials: list[_SpecialEntry]
    ) -> BpeModel: ...
    @staticmethod
    def from_parts(
        name: str,
        pattern: str,
        tokens: list[bytes],
        ids: npt.ArrayLike,
        merges: Optional[npt.ArrayLike],
        whole_piece_lookup: bool,
        specials: list[_SpecialEntry],
    ) -> BpeModel: ...
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
    def specials(self) -> list[_SpecialEntry]: ...
    def token_bytes(self, id: int) -> bytes: ...
    def decode_bytes(self, ids: npt.ArrayLike) -> bytes: ...
    def decode_ragged(
        self, ids: npt.ArrayLike, offsets: npt.ArrayLike, text: bool, errors: str = "replace"
    ) -> List[Any]: ...
    def vocab(self) -> Tuple[list[bytes], npt.NDArray[np.uint32]]: ...
    def merge_list(self) -> npt.NDArray[np.uint32]: ...  # shape (n, 2)
    def format_tiktoken(self) -> bytes: ...
    def rank_file_equivalent(self) -> Tuple[bool, str]: ...
    def tokens_self_merge(self) -> Tuple[bool, str]: ...
    def tokenizer(self, allowed: Sequence[str], disallowed: Sequence[str]) -> BpeEncoder: ...

class BpeEncoder(Tokenizer):
    """A BpeModel with one special-token policy; implements the native Tokenizer interface."""

    def encode(self, data: _Bytes, dtype: str = "uint32") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[_Bytes], dtype: str = "uint32", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
    def encode_u32_function(self) -> Callable[[_Bytes], npt.NDArray[np.uint32]]: ...
    def encode_list(self, data: _Bytes) -> list[int]: ...
    def encode_list_function(self) -> Callable[[_Bytes], list[int]]: ...
    def encode_prefix(self, data: _Bytes, max_tokens: int) -> Tuple[npt.NDArray[np.uint32], int]: ...
    def encode_with_offsets(
        self, data: _Bytes, char_offsets: bool
    ) -> Tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], Optional[npt.NDArray[np.int64]]]: ...
    def count(self, data: _Bytes) -> int: ...

# --- patch.cpp ------------------------------------------------------------------------------------
DEFAULT_THRESHOLD: float
DEFAULT_RESET_BYTE: int
NGRAM_HASH_PRIMES: list[int]

class PatchRule(metaclass=_pybind11_type):
    def __init__(
        self,
        kind: str,
        patch_size: Optional[float] = None,
        threshold: Optional[float] = None,
        threshold_add: Optional[float] = None,
        monotonicity: bool = False,
        max_patch_length: Optional[int] = None,
        include_next_token: bool = False,
        force_boundaries: bool = True,
    ) -> None: ...
    @property
    def is_topk(self) -> bool: ...

def patch_batch(
    rule: PatchRule,
    ids: Optional[npt.ArrayLike],
    entropies: Optional[npt.ArrayLike],
    offsets: npt.ArrayLike,
    threads: int = 0,
) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

class EntropyCursor(metaclass=_pybind11_type):
    def __init__(self) -> None: ...

class EntropyModel(metaclass=_pybind11_type):
    @staticmethod
    def load(path: str) -> EntropyModel: ...
    def save(self, path: str) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> EntropyModel: ...
    @property
    def order(self) -> int: ...
    @property
    def n_contexts(self) -> int: ...
    @property
    def n_ngrams(self) -> int: ...
    def context_table(self) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...
    def entropies(
        self, ids: npt.ArrayLike, offsets: npt.ArrayLike, reset: Sequence[int], threads: int = 0
    ) -> npt.NDArray[np.float32]: ...
    def entropies_stream(
        self, cursor: EntropyCursor, ids: npt.ArrayLike, reset: Sequence[int]
    ) -> npt.NDArray[np.float32]: ...
    def bits_per_byte(self, data: _Bytes, reset: Sequence[int]) -> float: ...
    def patch_batch(
        self,
        rule: PatchRule,
        ids: npt.ArrayLike,
        offsets: npt.ArrayLike,
        reset: Sequence[int],
        threads: int = 0,
    ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

class NgramCounter(metaclass=_pybind11_type):
    def __init__(self, order: int) -> None: ...
    @property
    def bytes_seen(self) -> int: ...
    def add(self, documents: Sequence[_Bytes], threads: int = 0) -> None: ...
    def build(self, threads: int = 0) -> EntropyModel: ...

class PatchStream(metaclass=_pybind11_type):
    def __init__(self, rule: PatchRule) -> None: ...
    @property
    def position(self) -> int: ...
    def feed(
        self, ids: Optional[npt.ArrayLike], entropies: Optional[npt.ArrayLike] = None
    ) -> npt.NDArray[np.int32]: ...
    def finish(self) -> npt.NDArray[np.int32]: ...

def hash_ngrams_batch(
    ids: npt.NDArray[np.uint16],
    offsets: npt.NDArray[np.int64],
    sizes: Sequence[int],
    funcs: Sequence[int],
    max_hash: int,
    threads: int = 0,
    dtype: str = "int64",
) -> npt.NDArray[Any]: ...

def hash_ngrams(
    ids: npt.ArrayLike,
    sizes: Sequence[int],
    funcs: Sequence[int],
    max_hash: int,
    threads: int = 1,
    out: Optional[npt.NDArray[Any]] = None,
    dtype: str = "int64",
) -> npt.NDArray[Any]: ...

# --- serve.cpp ------------------------------------------------------------------------------------
class Overloaded(RuntimeError):
    """A batch engine queue is full; retry later."""

# What a completed request carries: ids (an array), the JSON text of the ids or decoded bytes, or
# None on error.
_Payload = Union[npt.NDArray[Any], bytes, None]
# (id, status, error, payload, consumed, count); status 0 ok, 1 invalid, 2 timed out, 3 shut down,
# 4 failed.
_Completion = Tuple[int, int, str, _Payload, int, int]

class BatchEngine(metaclass=_pybind11_type):
    """Native batch encoder; results arrive as ``loop.call_soon_threadsafe(handler, results)`` with
    ``results`` a list of completions."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: Callable[[list[_Completion]], object],
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
        data: _Bytes,
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
        self, tokenizer: Tokenizer, ids: npt.ArrayLike, priority: str = "normal", timeout_s: float = 0.0
    ) -> int: ...
    def cancel(self, id: int) -> bool: ...
    def flush(self) -> None: ...
    def close(self, drain: bool = False) -> None: ...
    @property
    def closed(self) -> bool: ...
    def queue_depth(self) -> Tuple[int, int, int]: ...
    def stats(self) -> dict[str, Any]: ...

# --- train.cpp ------------------------------------------------------------------------------------

class PieceCounter(metaclass=_pybind11_type):
    """Counts pre-tokenized pieces for BPE training (64-bit counts, optional memcap)."""

    def __init__(self, pattern: str, split_lines: bool = False, memcap: Optional[int] = None,
                 threads: int = 0) -> None: ...
    def count_documents(self, docs: list[Union[str, bytes, bytearray]]) -> None: ...
    def count_fd(self, fd: int, name: str, progress: Optional[Callable[[int], None]] = None) -> None: ...
    def add_pieces(self, pieces: list[Union[str, bytes]], counts: list[int]) -> None: ...
    def pieces(self) -> list[Tuple[bytes, int]]: ...
    @property
    def bytes_counted(self) -> int: ...
    @property
    def n_pieces(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def prune_threshold(self) -> int: ...

@type_check_only
class TrainedVocabDict(TypedDict):
    tokens: list[bytes]
    specials: list[Tuple[str, int]]
    merges: npt.NDArray[np.uint32]

def train_vocab(counter: PieceCounter, vocab_size: int, specials: list[str] = [], min_frequency: int = 2,
                max_token_length: Optional[int] = None, hf_compatible: bool = False,
                progress: Optional[Callable[[int], None]] = None) -> TrainedVocabDict: ...

# --- megatron.cpp ---------------------------------------------------------------------------------
def megatron_dtype_for_vocab(n_vocab: int) -> str: ...

class MegatronIndex(metaclass=_pybind11_type):
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
                   progress: Optional[Callable[[int, int], object]] = None,
                   progress_interval: float = 0.05) -> dict[str, Any]: ...

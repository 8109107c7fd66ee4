"""Input normalisation shared by the patchers, the entropy model and n-gram hashing: one sequence
or a batch of BLT ids (raw bytes/str are encoded), entropies, reset bytes and thread counts."""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _core
from ._blt_ids import EOS, FIRST_META_ID, MAX_ID, OFFSET
from ._threads import resolve_num_threads
from .byte_tokenizer import ByteTokenizer
from .ragged import RaggedIds

#: after these the entropy model forgets its context (the core's default byte, and EOS)
DEFAULT_RESET: Tuple[Any, ...] = (chr(_core.DEFAULT_RESET_BYTE), EOS)

_BYTE_TOKENIZER = ByteTokenizer()


def ids_array(seq: Any) -> np.ndarray:
    """One sequence as a contiguous uint16 array of BLT ids (raw bytes/str are encoded)."""
    if isinstance(seq, (bytes, bytearray, memoryview, str)):
        return _BYTE_TOKENIZER.encode(seq, dtype="uint16")
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"a sequence of ids must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint16)
    if arr.dtype == np.uint16:
        return np.ascontiguousarray(arr)  # the core checks the range (and names the position)
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr > MAX_ID)
    else:
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(f"id {int(arr[pos])} at position {pos} is not a BLT byte id (0..{MAX_ID})")
    return np.ascontiguousarray(arr, dtype=np.uint16)


def chunk_ids(chunk: Any) -> np.ndarray:
    """A stream chunk: ids, or bytes/str read as byte ids without BOS/EOS."""
    if isinstance(chunk, str):
        chunk = chunk.encode("utf-8", "surrogatepass")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return np.frombuffer(chunk, dtype=np.uint8).astype(np.uint16) + OFFSET
    return ids_array(chunk)


def is_single_values(data: Any) -> bool:
    """One sequence of numbers (entropies) rather than a batch of them."""
    if isinstance(data, np.ndarray):
        return data.ndim == 1
    if isinstance(data, RaggedIds):
        return False
    return all(isinstance(x, (int, float, np.number)) for x in data)


def is_single(data: Any) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return True
    if isinstance(data, RaggedIds):
        return False
    if isinstance(data, np.ndarray):
        return data.ndim == 1
    if isinstance(data, (list, tuple)):
        return all(isinstance(x, (int, np.integer)) for x in data)
    raise TypeError(
        f"expected ids (1-D array or list of ints), bytes/str, or a batch (RaggedIds, 2-D array, "
        f"list of sequences), got {type(data).__name__}"
    )


def batch(data: Any, convert: Callable[[Any], npt.NDArray[Any]] = ids_array) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """A batch as (flat values, int64 offsets)."""
    if isinstance(data, RaggedIds) and data.ids.ndim == 1:
        offsets = np.ascontiguousarray(data.offsets, dtype=np.int64)
        if len(offsets) == 0 or offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(data.ids):
            raise ValueError("RaggedIds offsets must start at 0, not decrease and end at len(ids)")
        return convert(data.ids), offsets  # one validation and no copy for uint16 ids
    if isinstance(data, RaggedIds):
        seqs = [convert(x) for x in data]
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        seqs = [convert(row) for row in data]
    else:
        seqs = [convert(x) for x in data]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    if seqs:
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        flat = np.ascontiguousarray(np.concatenate(seqs))
    else:
        flat = convert([])
    return flat, offsets


def entropy_array(seq: Any) -> np.ndarray:
    arr = np.asarray(seq, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"entropies of one sequence must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("entropies must be finite")
    return np.ascontiguousarray(arr)


def reset_bytes(reset_context_at: Iterable[Any]) -> List[int]:
    """Bytes after which the entropy model forgets its context (specials always reset)."""
    out = []
    for r in reset_context_at or ():
        if isinstance(r, str):
            b = r.encode("utf-8")
        elif isinstance(r, (bytes, bytearray)):
            b = bytes(r)
        elif isinstance(r, (int, np.integer)):
            if not 0 <= r <= MAX_ID:
                raise ValueError(f"reset id {r} is not a BLT id (0..{MAX_ID})")
            if OFFSET <= r < FIRST_META_ID:
                out.append(int(r) - OFFSET)
            continue  # specials (BOS, EOS, ...) always reset the context
        else:
            raise TypeError(f"reset_context_at items are 1-byte str/bytes or BLT ids, got {r!r}")
        if len(b) != 1:
            raise ValueError(f"reset_context_at items must be single bytes, got {r!r}")
        out.append(b[0])
    return sorted(set(out))


def threads_arg(num_threads: Optional[int]) -> int:
    """The core's thread count for a call's ``num_threads`` (see :mod:`blt._threads`)."""
    return resolve_num_threads(num_threads)


def starts(lengths: np.ndarray, offsets: Optional[np.ndarray] = None) -> np.ndarray:
    """Exclusive cumulative sum of patch lengths, restarted at every sequence."""
    ends = np.cumsum(lengths, dtype=np.int64)
    starts: np.ndarray = ends - lengths
    if offsets is not None and len(offsets) > 1:
        first = offsets[:-1]
        base = np.zeros(len(offsets) - 1, dtype=np.int64)
        nonempty = offsets[1:] > first
        base[nonempty] = starts[first[nonempty]]
        starts = starts - np.repeat(base, np.diff(offsets))
    return starts.astype(np.int32)

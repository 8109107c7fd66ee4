"""hash_ngrams: the hashed byte n-gram ids of BLT's encoder, bit-identical to the reference."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._inputs import read_dtype
from ._patch_inputs import batch, ids_array, is_single, threads_arg
from .ragged import RaggedIds

__all__ = ["hash_ngrams", "NGRAM_HASH_PRIMES"]

NGRAM_HASH_PRIMES: Tuple[int, ...] = tuple(_core.NGRAM_HASH_PRIMES)


def hash_ngrams(
    data: Any,
    *,
    group_sizes: Sequence[int] = (3, 4, 5, 6, 7, 8),
    hash_functions: Union[int, Sequence[int]] = 1,
    max_hash: int = 500002,
    num_threads: Optional[int] = None,
    out: Optional[np.ndarray] = None,
    dtype: Any = None,
) -> Union[np.ndarray, RaggedIds]:
    """Hashed byte n-gram ids of BLT (bit-identical to ``byte_group_hash_function``).

    For position ``j`` and size ``n`` the window is the ``n`` ids ending at ``j`` (left-padded
    with 0); ``hash = sum(window[k] * prime**k)`` (k = 0 the oldest) in wrapping signed 64-bit
    arithmetic, then floored ``% max_hash``. ``hash_functions`` is a count (functions
    0..count-1) or a list of function numbers (index into ``NGRAM_HASH_PRIMES``). Output:
    ``int64`` of shape ``(len, n_functions * n_sizes)``, function-major columns; a batch gives a
    ``RaggedIds`` whose ``ids`` has one such row per position (its sequences hashed in parallel). ``num_threads`` (default: all
    usable cores unless :func:`blt.set_num_threads` or ``$BLT_NUM_THREADS`` say otherwise) split
    long sequences into ranges. ``dtype``: ``int64`` (default) or ``int32``, which holds every
    id when ``max_hash <= 2**31`` and halves the bytes written. ``out`` (one sequence only): a
    C-contiguous array of the result's shape and dtype to write into, e.g. reused across calls
    (its dtype is the default ``dtype``).

    >>> import blt
    >>> blt.hash_ngrams([1, 76, 105, 112, 112, 115], group_sizes=[3])[:, 0].tolist()
    [443987, 124875, 393970, 386145, 358223, 190185]
    >>> blt.hash_ngrams([1, 76, 105], group_sizes=[3], dtype="int32").dtype
    dtype('int32')
    """
    funcs = list(range(hash_functions)) if isinstance(hash_functions, (int, np.integer)) else list(hash_functions)
    sizes = [int(s) for s in group_sizes]
    if not funcs:
        raise ValueError("hash_functions must name at least one function")
    threads = threads_arg(num_threads)
    dt = _hash_dtype(dtype, out)
    if is_single(data):
        return _core.hash_ngrams(ids_array(data), sizes, funcs, int(max_hash), threads, out, dt)
    if out is not None:
        raise ValueError("out= is only supported for a single sequence")
    ids, offsets = batch(data)
    # every sequence in parallel, in one task arena
    return RaggedIds(_core.hash_ngrams_batch(ids, offsets, sizes, funcs, int(max_hash), threads, dt), offsets)


def _hash_dtype(dtype: Any, out: Optional[np.ndarray]) -> str:
    """'int32' or 'int64' from ``dtype`` (default: ``out``'s dtype, else int64)."""
    if dtype is None:
        if out is None:
            return "int64"
        dtype = out.dtype
    try:
        name = str(read_dtype(dtype).name)
    except TypeError:
        raise TypeError(f"dtype must be int32 or int64, got {dtype!r}") from None
    if name not in ("int32", "int64"):
        raise ValueError(f"hash id dtype must be int32 or int64, got {name}")
    if out is not None and out.dtype.name != name:
        raise ValueError(f"out has dtype {out.dtype.name}, but dtype={name} was asked for")
    return name

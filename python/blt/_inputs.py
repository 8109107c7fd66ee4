"""Input normalisation shared by every tokenizer: what the native core accepts, and str fallbacks."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")

# What encode() accepts without copying: str (its UTF-8), bytes, bytearray, memoryview, mmap and
# C-contiguous NumPy uint8 arrays (anything exposing a buffer of 1-byte items).
BytesLike = Any


def read_dtype(dtype: Any) -> "np.dtype[Any]":
    """``np.dtype(dtype)``, with TypeError (numpy's "data type not understood") for every string
    numpy cannot read: for some malformed comma strings such as ``"(,)i4"`` numpy's own parser
    lets a SyntaxError out.

    >>> from blt._inputs import read_dtype
    >>> read_dtype("uint16").name
    'uint16'
    >>> read_dtype("(,)i4")
    Traceback (most recent call last):
    TypeError: data type '(,)i4' not understood
    """
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except SyntaxError:
        raise TypeError(f"data type {dtype!r} not understood") from None
    return dt


def with_surrogate_fallback(data: Any, fn: Callable[[Any], T]) -> T:
    """Call ``fn(data)``; a ``str`` holding lone surrogates is retried with them replaced.

    CPython cannot encode a lone surrogate (e.g. ``"\\ud800"``) to UTF-8. As tiktoken does, such
    text is round-tripped through UTF-16 with ``surrogatepass`` and decoded with ``replace``, so
    each lone surrogate becomes U+FFFD. Well-formed text is never copied.
    """
    try:
        return fn(data)
    except UnicodeEncodeError:
        if not isinstance(data, str):
            raise
        return fn(fix_surrogates(data))


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates with U+FFFD (tiktoken's rule)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def with_surrogate_fallback_batch(items: Sequence[Any], fn: Callable[[Sequence[Any]], T]) -> T:
    """Batch form of :func:`with_surrogate_fallback`: only strings that need it are rewritten."""
    try:
        return fn(items)
    except UnicodeEncodeError:
        fixed = [fix_surrogates(s) if isinstance(s, str) else s for s in items]
        return fn(fixed)


def encode_into(native: Any, data: Any, out: Any) -> "npt.NDArray[Any]":
    """``native.encode_into(data, out)`` with the str fallback; the filled view ``out[:n]``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    n: int = with_surrogate_fallback(data, lambda d: native.encode_into(d, out))
    view: npt.NDArray[Any] = out[:n]
    return view

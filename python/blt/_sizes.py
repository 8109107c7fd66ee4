"""Size options of the file pipeline: byte sizes (``"512MB"``), memory caps (``"80%"``) and
chunk-size ranges (``"64KiB:1MiB"``), parsed into byte counts with errors naming the option."""

from __future__ import annotations

import re
from typing import Tuple, Union

from . import _core

DEFAULT_MIN_CHUNK = 64 << 10
DEFAULT_MAX_CHUNK = 1 << 20
DEFAULT_MEMCAP = "25%"

SizeLike = Union[str, int]
ChunkSizeLike = Union[str, int, Tuple[Union[str, int], Union[str, int]], None]

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: SizeLike, what: str = "size") -> int:
    """Bytes in a size such as ``4096``, ``"512MB"`` (10^6), ``"64MiB"`` or ``"64M"`` (2^20).

    >>> parse_size("4MB"), parse_size("64M"), parse_size("1.5KiB"), parse_size(7)
    (4000000, 67108864, 1536, 7)
    """
    if isinstance(text, bool):
        raise TypeError(f"{what} must be an int or a string like '512MB', got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{what} must not be negative, got {text}")
        return text
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise ValueError(
            f"invalid {what} {text!r}: expected a number with an optional unit "
            "(B, KB, MB, GB, KiB, MiB, GiB, K, M, G), e.g. 512MB"
        )
    return int(float(m.group(1)) * _UNITS[unit])


def parse_memcap(text: Union[SizeLike, None]) -> int:
    """Memory cap in bytes: a size (``"512MB"``) or a percentage of available RAM (``"80%"``).

    >>> parse_memcap("1GiB")
    1073741824
    >>> 0 < parse_memcap("50%") <= parse_memcap("100%")
    True
    """
    if text is None:
        text = DEFAULT_MEMCAP
    if isinstance(text, str) and text.strip().endswith("%"):
        try:
            pct = float(text.strip()[:-1])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            raise ValueError(f"invalid memcap {text!r}: a percentage must be in (0, 100]")
        avail = int(_core.available_ram_bytes()) or (1 << 30)
        return max(1, int(avail * pct / 100))
    cap = parse_size(text, "memcap")
    if cap == 0:
        raise ValueError("memcap must be greater than 0")
    return cap


def parse_chunk_size(value: ChunkSizeLike) -> Tuple[int, int]:
    """(min, max) chunk bytes from ``"4MB"`` (fixed), ``"64KiB:8MiB"``, an int or a pair.

    >>> parse_chunk_size("1MiB"), parse_chunk_size("1K:2K"), parse_chunk_size((1, 9))
    ((1048576, 1048576), (1024, 2048), (1, 9))
    """
    if value is None:
        return DEFAULT_MIN_CHUNK, DEFAULT_MAX_CHUNK
    if isinstance(value, tuple):
        lo, hi = (parse_size(v, "chunk size") for v in value)
    elif isinstance(value, str) and ":" in value:
        a, _, b = value.partition(":")
        lo, hi = parse_size(a, "chunk size"), parse_size(b, "chunk size")
    else:
        lo = hi = parse_size(value, "chunk size")
    if lo < 1:
        raise ValueError("chunk size must be at least 1 byte")
    if lo > hi:
        raise ValueError(f"chunk size minimum {lo} exceeds maximum {hi}")
    return lo, hi

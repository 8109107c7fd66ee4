"""Type stubs for the native core (blt._core). Each API area keeps its own section."""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
import numpy.typing as npt

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

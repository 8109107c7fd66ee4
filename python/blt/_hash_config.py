"""The ``hash_ngrams:`` options of a patch configuration and of ``tokenize_file(hash_ngrams=...)``:
which hashed byte n-gram ids (:func:`blt.hash_ngrams`) the file pipeline writes beside the ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

HASH_SCHEMA: Dict[str, str] = {
    "group_sizes": "list of n-gram sizes 1..64 (default [3, 4, 5, 6, 7, 8])",
    "hash_functions": "count (functions 0..count-1) or list of function numbers 0..10 (default 1)",
    "max_hash": "integer >= 1: ids are taken modulo it (default 500002)",
    "dtype": "int32 or int64 (default int64; int32 needs max_hash <= 2**31)",
}


class HashConfigError(ValueError):
    """Bad ``hash_ngrams`` options; ``key`` names the offending one."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class HashNgramConfig:
    """Validated hash n-gram options; ``stage_args`` gives them to the native stage.

    >>> HashNgramConfig().columns
    6
    """

    group_sizes: Tuple[int, ...] = (3, 4, 5, 6, 7, 8)
    hash_functions: Tuple[int, ...] = (0,)
    max_hash: int = 500002
    dtype: str = "int64"

    @property
    def columns(self) -> int:
        """Hash ids per position (functions x sizes)."""
        return len(self.group_sizes) * len(self.hash_functions)

    def stage_args(self) -> Dict[str, Any]:
        return dict(hash_sizes=list(self.group_sizes), hash_funcs=list(self.hash_functions),
                    max_hash=self.max_hash, hash_dtype=self.dtype)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def hash_ngram_config(data: Any) -> Optional[HashNgramConfig]:
    """Options from a mapping (the ``hash_ngrams:`` YAML section), ``True`` (defaults), or
    ``None``/``False`` (no hash ids). Raises HashConfigError naming the bad key.

    >>> hash_ngram_config({"group_sizes": [3, 4], "dtype": "int32"}).columns
    2
    >>> hash_ngram_config({"max_hash": 0})
    Traceback (most recent call last):
    ...
    blt._hash_config.HashConfigError: hash_ngrams.max_hash: must be an integer >= 1, got 0
    """
    if data is None or data is False:
        return None
    if data is True:
        return HashNgramConfig()
    if isinstance(data, HashNgramConfig):
        return data
    if not isinstance(data, Mapping):
        raise HashConfigError(f"hash_ngrams: expected a mapping of {', '.join(HASH_SCHEMA)}, got {data!r}", "hash_ngrams")
    for key in data:
        if key not in HASH_SCHEMA:
            raise HashConfigError(f"hash_ngrams.{key}: unknown key (known: {', '.join(HASH_SCHEMA)})", f"hash_ngrams.{key}")

    def fail(key: str, msg: str) -> HashConfigError:
        return HashConfigError(f"hash_ngrams.{key}: {msg}", f"hash_ngrams.{key}")

    sizes = data.get("group_sizes", [3, 4, 5, 6, 7, 8])
    if not isinstance(sizes, (list, tuple)) or not sizes or not all(_int(s) and 1 <= s <= 64 for s in sizes):
        raise fail("group_sizes", f"must be a non-empty list of integers 1..64, got {sizes!r}")
    funcs = data.get("hash_functions", 1)
    if _int(funcs):
        if not 1 <= funcs <= 11:
            raise fail("hash_functions", f"a count must be 1..11, got {funcs!r}")
        funcs = list(range(funcs))
    if not isinstance(funcs, (list, tuple)) or not funcs or not all(_int(f) and 0 <= f <= 10 for f in funcs):
        raise fail("hash_functions", f"must be a count or a non-empty list of numbers 0..10, got {funcs!r}")
    max_hash = data.get("max_hash", 500002)
    if not _int(max_hash) or max_hash < 1:
        raise fail("max_hash", f"must be an integer >= 1, got {max_hash!r}")
    dtype = data.get("dtype", "int64")
    if dtype not in ("int32", "int64"):
        raise fail("dtype", f"must be int32 or int64, got {dtype!r}")
    if dtype == "int32" and max_hash > 2**31:
        raise fail("dtype", f"int32 cannot hold hash ids below max_hash {max_hash} (at most 2**31)")
    return HashNgramConfig(tuple(sizes), tuple(funcs), max_hash, dtype)

"""Hugging Face ``datasets``: a batched map function that returns the ids as Arrow columns.

``Dataset.map(TokenizeBatch(...), batched=True, num_proc=N)`` encodes each batch in parallel in
the native core and hands ``datasets`` a ``pyarrow`` ``LargeListArray`` built on the result's
buffers (:meth:`blt.RaggedIds.to_arrow`), so no Python list per token is ever made. The
function pickles as its options plus the tokenizer (by name when given by name), so
``num_proc`` workers under fork or spawn rebuild it once each.

>>> import blt.hf, datasets
>>> ds = datasets.Dataset.from_dict({"text": ["Hi", "yo"]})
>>> ds.map(blt.hf.TokenizeBatch("bytes"), batched=True)["input_ids"]
[[1, 76, 109, 2], [1, 125, 115, 2]]
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ._lazy_tokenizer import LazyTokenizer, TokenizerSpec
from .ragged import RaggedIds

__all__ = ["TokenizeBatch", "texts_of"]


def texts_of(column: Any) -> Sequence[Any]:
    """The texts of a batch column: a list, a NumPy array, or an Arrow (chunked) string array.

    >>> import pyarrow as pa
    >>> texts_of(pa.chunked_array([["a"], ["b"]]))
    ['a', 'b']
    """
    if isinstance(column, (list, tuple)):
        return column
    if isinstance(column, np.ndarray):
        return column.tolist()  # type: ignore[no-any-return]
    to_pylist = getattr(column, "to_pylist", None)
    if callable(to_pylist):
        return to_pylist()  # type: ignore[no-any-return]
    return list(column)


class TokenizeBatch:
    """``batch[column]`` -> ``{output: LargeListArray of ids}`` for ``Dataset.map(batched=True)``.

    ``tokenizer``: an encoding name (``"cl100k_base"``, loaded from ``vocab_dir``), ``"bytes"``
    (a default :class:`blt.ByteTokenizer`) or a tokenizer object. With ``offsets_column`` the
    start byte offset of every token is returned too, as a second list column (BPE encodings).
    ``num_threads`` bounds the threads of each batch (default: every usable core).

    >>> import blt.hf
    >>> fn = blt.hf.TokenizeBatch("cl100k_base", vocab_dir=VOCAB_DIR, offsets_column="offsets")
    >>> out = fn({"text": ["hello world"]})
    >>> out["input_ids"].to_pylist(), out["offsets"].to_pylist()
    ([[15339, 1917]], [[0, 5]])
    """

    def __init__(
        self,
        tokenizer: TokenizerSpec = None,
        *,
        column: str = "text",
        output: str = "input_ids",
        offsets_column: Optional[str] = None,
        num_threads: Optional[int] = None,
        vocab_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        self.tokenizer = LazyTokenizer(tokenizer, vocab_dir)
        self.column = column
        self.output = output
        self.offsets_column = offsets_column
        self.num_threads = num_threads

    def encode(self, texts: Sequence[Any]) -> RaggedIds:
        """The ids of ``texts`` as one :class:`blt.RaggedIds`."""
        batch: RaggedIds = self.tokenizer.get().encode_batch(list(texts), num_threads=self.num_threads)
        return batch

    def __call__(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        try:
            column = batch[self.column]
        except KeyError:
            raise KeyError(f"batch has no column {self.column!r} (columns: {sorted(batch)})") from None
        texts = texts_of(column)
        out: Dict[str, Any] = {self.output: self.encode(texts).to_arrow()}
        if self.offsets_column is not None:
            out[self.offsets_column] = self._offsets(texts)
        return out

    def _offsets(self, texts: Sequence[Any]) -> Any:
        tok = self.tokenizer.get()
        if not callable(getattr(tok, "encode_with_offsets", None)):
            raise TypeError(f"offsets_column needs a BPE encoding; {type(tok).__name__} has no encode_with_offsets")
        starts: List[np.ndarray] = [np.asarray(tok.encode_with_offsets(t).byte_offsets, np.int64) for t in texts]
        lengths = np.array([len(s) for s in starts], np.int64)
        offsets = np.zeros(len(starts) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        return RaggedIds(flat, offsets).to_arrow()

    def __repr__(self) -> str:
        return f"TokenizeBatch({self.tokenizer.spec!r}, column={self.column!r}, output={self.output!r})"

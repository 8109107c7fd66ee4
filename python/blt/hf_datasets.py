"""Hugging Face ``datasets``: a batched map function that returns the ids as Arrow columns.

``Dataset.map(TokenizeBatch(...), batched=True, num_proc=N)`` encodes each batch in parallel in
the native core and hands ``datasets`` a ``pyarrow`` ``LargeListArray`` built on the result's
buffers (:meth:`blt.RaggedIds.to_arrow`), so no Python list per token is ever made. The
function pickles as its options plus the tokenizer (by name when given by name), so
``num_proc`` workers under fork or spawn rebuild it once each.

>>> import blt.hf_datasets, datasets
>>> ds = datasets.Dataset.from_dict({"text": ["Hi", "yo"]})
>>> ds.map(blt.hf_datasets.TokenizeBatch("bytes"), batched=True)["input_ids"][:]
[[1, 76, 109, 2], [1, 125, 115, 2]]
"""

from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from ._lazy_tokenizer import LazyTokenizer, TokenizerSpec
from .ragged import RaggedIds

__all__ = ["TokenizeBatch", "texts_of", "table_of"]


def table_of(batch: Any) -> Any:
    """A batch as a ``pyarrow.Table``: a table itself, the table behind a ``datasets`` lazy batch,
    or a dict of lists or NumPy arrays (converted).

    >>> table_of({"text": ["a"], "n": np.array([1])}).column_names
    ['text', 'n']
    """
    if isinstance(batch, pa.Table):
        return batch
    behind = getattr(batch, "pa_table", None)  # datasets' LazyBatch: the Arrow data it formats
    if isinstance(behind, pa.Table) and isinstance(batch, Mapping) and list(batch.keys()) == behind.column_names:
        return behind
    if isinstance(batch, Mapping):
        return pa.table({k: _arrow_column(batch[k]) for k in batch.keys()})
    raise TypeError(f"batch must be a pyarrow.Table or a mapping of columns, got {type(batch).__name__}")


def with_column(table: Any, name: str, values: Any) -> Any:
    """``table`` with column ``name`` set to ``values`` (replaced if present, else appended)."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _arrow_column(values: Any) -> Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, np.ndarray) and (values.dtype == object or values.ndim > 1):
        return pa.array(values.tolist())
    return pa.array(values)


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
    """``batch[column]`` -> a ``pyarrow.Table`` with an ``output`` column of ``large_list`` ids, for
    ``Dataset.map(batched=True)``.

    ``datasets`` keeps a returned table as it is (it merges only returned dicts, whose values
    must be lists or arrays), so the table holds the batch's columns too unless
    ``keep_columns=False`` (use that instead of ``remove_columns``).

    ``tokenizer``: an encoding name (``"cl100k_base"``, loaded from ``vocab_dir``), ``"bytes"``
    (a default :class:`blt.ByteTokenizer`) or a tokenizer object. With ``offsets_column`` the
    start byte offset of every token is returned too, as a second list column (BPE encodings).
    ``num_threads`` bounds the threads of each batch (default: every usable core).

    >>> import blt.hf_datasets
    >>> fn = blt.hf_datasets.TokenizeBatch("cl100k_base", vocab_dir=VOCAB_DIR, offsets_column="offsets")
    >>> out = fn({"text": ["hello world"]})
    >>> out.column_names, out["input_ids"].to_pylist(), out["offsets"].to_pylist()
    (['text', 'input_ids', 'offsets'], [[15339, 1917]], [[0, 5]])
    """

    def __init__(
        self,
        tokenizer: TokenizerSpec = None,
        *,
        column: str = "text",
        output: str = "input_ids",
        offsets_column: Optional[str] = None,
        keep_columns: bool = True,
        num_threads: Optional[int] = None,
        vocab_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        self.tokenizer = LazyTokenizer(tokenizer, vocab_dir)
        self.column = column
        self.output = output
        self.offsets_column = offsets_column
        self.keep_columns = keep_columns
        self.num_threads = num_threads

    def encode(self, texts: Sequence[Any]) -> RaggedIds:
        """The ids of ``texts`` as one :class:`blt.RaggedIds`."""
        batch: RaggedIds = self.tokenizer.get().encode_batch(list(texts), num_threads=self.num_threads)
        return batch

    def __call__(self, batch: Any) -> Any:
        table = table_of(batch)
        if self.column not in table.column_names:
            raise KeyError(f"batch has no column {self.column!r} (columns: {sorted(table.column_names)})")
        texts = texts_of(table.column(self.column))
        ids = self.encode(texts).to_arrow()
        out = with_column(table, self.output, ids) if self.keep_columns else pa.table({self.output: ids})
        if self.offsets_column is not None:
            out = with_column(out, self.offsets_column, self._offsets(texts))
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

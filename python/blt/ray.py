"""Ray Data (and Dask): a callable class that tokenizes a batch column into Arrow ``input_ids``.

Ray's contract for callable classes: the constructor runs once per actor (the tokenizer is loaded
there), ``__call__(batch)`` runs per batch. The same code runs on a laptop and on a cluster::

    import ray, blt.ray
    ds = ray.data.read_parquet("docs/")
    ds = ds.map_batches(blt.ray.Tokenize, fn_constructor_kwargs={"tokenizer": "cl100k_base"},
                        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=2))
    ds.write_parquet("tokens/")

Dask: ``ddf.map_partitions(blt.ray.Tokenize("cl100k_base"))`` (a pandas partition in, the same
DataFrame with an ``input_ids`` column of arrays out).

>>> import blt.ray, pyarrow as pa
>>> out = blt.ray.Tokenize("bytes")(pa.table({"text": ["Hi"], "id": [7]}))
>>> out.column_names, out["input_ids"].to_pylist()
(['text', 'id', 'input_ids'], [[1, 76, 109, 2]])
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import pyarrow as pa  # type: ignore[import-untyped]

from ._lazy_tokenizer import TokenizerSpec
from .hf_datasets import TokenizeBatch, texts_of

__all__ = ["Tokenize"]


class Tokenize:
    """Tokenizes ``batch[column]`` into an ``output`` column of Arrow ``large_list`` ids.

    ``batch`` is a ``pyarrow.Table`` (``batch_format="pyarrow"``), a dict of NumPy arrays
    (``batch_format="numpy"``) or a pandas DataFrame; the result is a ``pyarrow.Table`` (a
    DataFrame for a DataFrame) holding the batch's other columns too unless ``keep_columns`` is
    False. ``tokenizer`` is an encoding name, ``"bytes"`` or a tokenizer object.

    >>> import blt.ray, numpy as np
    >>> t = blt.ray.Tokenize("cl100k_base", vocab_dir=VOCAB_DIR, keep_columns=False)
    >>> t({"text": np.array(["hello world"], dtype=object)}).to_pydict()
    {'input_ids': [[15339, 1917]]}
    """

    def __init__(
        self,
        tokenizer: TokenizerSpec = "bytes",
        *,
        column: str = "text",
        output: str = "input_ids",
        keep_columns: bool = True,
        num_threads: Optional[int] = None,
        vocab_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        self._fn = TokenizeBatch(tokenizer, column=column, output=output, keep_columns=keep_columns,
                                 num_threads=num_threads, vocab_dir=vocab_dir)
        self._fn.tokenizer.get()  # once per actor, not per batch
        self.column = column
        self.output = output
        self.keep_columns = keep_columns

    def __call__(self, batch: Any) -> Any:
        if hasattr(batch, "columns") and hasattr(batch, "assign"):  # a pandas DataFrame
            ragged = self._fn.encode(texts_of(batch[self.column].to_numpy()))
            out = batch if self.keep_columns else batch[[]]
            return out.assign(**{self.output: list(ragged)})
        if not isinstance(batch, (pa.Table, dict)):
            raise TypeError(f"batch must be a pyarrow.Table, a dict of arrays or a pandas DataFrame, "
                            f"got {type(batch).__name__}")
        return self._fn(batch)

"""Batches of id sequences decoded in one native call (BPETokenizer.decode_batch and friends)."""

from __future__ import annotations

from typing import Any, Iterable, List, Union

import numpy as np

from . import _collate
from .ragged import RaggedIds


def decode_ragged(model: Any, batch: Iterable[Any], *, text: bool, errors: str = "replace") -> List[Any]:
    """bytes (or str when ``text``) of each item of a RaggedIds or a sequence of id sequences."""
    if isinstance(batch, RaggedIds):
        ids, offsets = batch.ids, np.asarray(batch.offsets, dtype=np.int64)
    else:
        items = batch if isinstance(batch, (list, tuple)) else list(batch)
        ids, offsets = _collate.flatten(items)
    result: List[Union[str, bytes]] = model.decode_ragged(ids, offsets, text, errors)
    return result

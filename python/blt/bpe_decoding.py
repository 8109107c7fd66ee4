"""BPETokenizer's decoding methods: ids to bytes and text, one sequence or a whole batch natively."""

from __future__ import annotations

from typing import Any, Iterable, List, Union

import numpy as np
import numpy.typing as npt

from . import _collate, _core
from .ragged import RaggedIds

IdsLike = Union[npt.NDArray[Any], Iterable[int]]


class BpeDecoding:
    """Decoding, mixed into :class:`blt.BPETokenizer` (which holds the native model)."""

    __slots__ = ()
    _model: _core.BpeModel

    def decode_bytes(self, ids: IdsLike) -> bytes:
        """Bytes of a sequence of ids (specials give their text). Unknown ids raise ValueError.

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).decode_bytes([15339, 1917])
        b'hello world'
        """
        if isinstance(ids, np.ndarray):
            return self._model.decode_bytes(ids.reshape(-1) if ids.ndim != 1 else ids)
        return self._model.decode_bytes(np.asarray(list(ids), dtype=np.int64))

    def decode(self, ids: IdsLike, errors: str = "replace") -> str:
        """Text of a sequence of ids; invalid UTF-8 is handled by ``errors`` (``bytes.decode``).

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).decode([15339, 1917])
        'hello world'
        """
        return self.decode_bytes(ids).decode("utf-8", errors)

    def decode_batch(self, batch: Iterable[IdsLike], errors: str = "replace") -> List[str]:
        """Decode each item of a :class:`RaggedIds` or a sequence of id sequences.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.decode_batch(enc.encode_batch(["a b", "c"]))
        ['a b', 'c']
        """
        return decode_ragged(self._model, batch, text=True, errors=errors)

    def decode_bytes_batch(self, batch: Iterable[IdsLike]) -> List[bytes]:
        """Bytes of each item of a batch.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.decode_bytes_batch(enc.encode_batch(["hi", "there"]))
        [b'hi', b'there']
        """
        return decode_ragged(self._model, batch, text=False)


def decode_ragged(model: Any, batch: Iterable[Any], *, text: bool, errors: str = "replace") -> List[Any]:
    """bytes (or str when ``text``) of each item of a RaggedIds or a sequence of id sequences, in one
    native call."""
    if isinstance(batch, RaggedIds):
        ids, offsets = batch.ids, np.asarray(batch.offsets, dtype=np.int64)
    else:
        items = batch if isinstance(batch, (list, tuple)) else list(batch)
        ids, offsets = _collate.flatten(items)
    result: List[Any] = model.decode_ragged(ids, offsets, text, errors)
    return result

"""BPETokenizer's decoding methods: ids to bytes and text, one sequence or a whole batch natively."""

from __future__ import annotations

from typing import Any, Iterable, List, Union

import numpy as np
import numpy.typing as npt

from . import _core
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
        return self._model.decode_bytes(_id_array(ids))

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


def _id_array(ids: IdsLike) -> npt.NDArray[Any]:
    """The 1-D array the native decoder reads: an array as it is (flattened), else int64."""
    if isinstance(ids, np.ndarray):
        return ids.reshape(-1) if ids.ndim != 1 else ids
    return np.asarray(list(ids), dtype=np.int64)


def decode_ragged(model: Any, batch: Iterable[Any], *, text: bool, errors: str = "replace") -> List[Any]:
    """bytes (or str when ``text``) of each item of a RaggedIds or a sequence of id sequences, in one
    native call (items converted as decode_bytes converts one)."""
    if isinstance(batch, RaggedIds):
        ids, offsets = batch.ids, np.asarray(batch.offsets, dtype=np.int64)
    else:
        arrays = [_id_array(x) for x in batch]
        if len({a.dtype for a in arrays}) > 1 or any(a.dtype.kind not in "iu" for a in arrays):
            # Mixed or non-integer dtypes: item by item, with decode_bytes' own errors.
            parts = [model.decode_bytes(a) for a in arrays]
            return [p.decode("utf-8", errors) for p in parts] if text else parts
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    result: List[Any] = model.decode_ragged(ids, offsets, text, errors)
    return result

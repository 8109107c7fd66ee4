"""EntropyModel: a CPU byte n-gram language model giving next-byte entropies for entropy patching."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._patch_inputs import DEFAULT_RESET, batch, ids_array, is_single, reset_bytes, threads_arg
from .ragged import RaggedIds

__all__ = ["EntropyModel"]


class EntropyModel:
    """Byte n-gram language model giving next-byte entropies (nats) for entropy patching.

    Order ``n`` (1-6) uses up to ``n - 1`` previous bytes as context (order 1 is a unigram, the
    "order-0 context" model). Probabilities are interpolated Witten-Bell estimates:
    ``P(w|h) = (c(h,w) + T(h) P(w|h')) / (c(h) + T(h))`` where ``T(h)`` is the number of distinct
    symbols seen after ``h`` and ``h'`` drops the oldest byte, down to a uniform distribution
    over 257 outcomes (256 bytes and end of document). The entropy of every context's
    distribution is computed at training time, so ``entropies`` is one table lookup per byte.
    Each training document is read as BOS + bytes + EOS; contexts never cross documents.

    >>> import blt
    >>> m = blt.EntropyModel.train([b"abababababab"], order=3)
    >>> h = m.entropies(b"abab")
    >>> h.dtype.name, len(h), bool(h[2] < h[0])
    ('float32', 6, True)
    """

    def __init__(self, native: "_core.EntropyModel") -> None:
        self._m = native

    @classmethod
    def train(
        cls,
        source: Any,
        order: int = 4,
        *,
        num_threads: Optional[int] = None,
        batch_bytes: int = 64 << 20,
    ) -> "EntropyModel":
        """Count n-grams of ``source`` in parallel and build a model.

        ``source`` is a file path (``str`` or ``os.PathLike``), or an iterable whose items are
        paths (``os.PathLike``, read as one document each) or documents (``bytes``/``str``).
        Documents are counted in batches of about ``batch_bytes``, so an iterator may be long.

        >>> import blt
        >>> blt.EntropyModel.train(["the cat", "the hat"], order=2).order
        2
        """
        threads = threads_arg(num_threads)
        counter = _core.NgramCounter(int(order))
        if isinstance(source, (str, os.PathLike)):
            source = [_PathStr(os.fspath(source))]
        pending: list[Union[bytes, bytearray, memoryview]] = []
        size = 0
        for item in source:
            if isinstance(item, _PathStr) or isinstance(item, os.PathLike):
                with open(os.fspath(item), "rb") as f:
                    item = f.read()
            elif isinstance(item, str):
                item = item.encode("utf-8", "surrogatepass")
            elif not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError(f"training items are paths, bytes or str, got {type(item).__name__}")
            pending.append(item)
            size += len(item)
            if size >= batch_bytes:
                counter.add(pending, threads)
                pending, size = [], 0
        if pending:
            counter.add(pending, threads)
        return cls(counter.build(threads))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "EntropyModel":
        """Load a model written by ``save``; a corrupt or foreign file raises ``ValueError``.

        >>> import blt, os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "m.bin")
        >>> blt.EntropyModel.train([b"abc"], order=2).save(p)
        >>> blt.EntropyModel.load(p).order
        2
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"entropy model file not found: {path!r}")
        return cls(_core.EntropyModel.load(path))

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the model (versioned binary format with a checksum).

        >>> import blt, os, tempfile
        >>> blt.EntropyModel.train([b"abc"], order=2).save(os.path.join(tempfile.mkdtemp(), "m"))
        """
        self._m.save(os.fspath(path))

    @property
    def order(self) -> int:
        """n-gram order (context of ``order - 1`` bytes).

        >>> import blt
        >>> blt.EntropyModel.train([b"abc"], order=4).order
        4
        """
        return int(self._m.order)

    @property
    def n_contexts(self) -> int:
        """Number of distinct contexts stored.

        >>> import blt
        >>> blt.EntropyModel.train([b"aa"], order=1).n_contexts
        1
        """
        return int(self._m.n_contexts)

    def context_table(self) -> Tuple[np.ndarray, np.ndarray]:
        """Every stored context with the entropy (nats) of its predicted distribution, sorted by
        key. A key packs up to 5 context symbols newest-first in 9-bit fields from bit 36 down
        (field value = byte + 1, 257 for BOS/EOS/specials, 0 = no symbol).

        >>> import blt
        >>> keys, ent = blt.EntropyModel.train([b"ab"], order=2).context_table()
        >>> [int(k) >> 36 for k in keys]  # the empty context, then BOS, 'a', 'b'
        [0, 98, 99, 257]
        """
        return self._m.context_table()

    def entropies(
        self,
        data: Any,
        *,
        reset_context_at: Iterable[Any] = DEFAULT_RESET,
        num_threads: Optional[int] = None,
    ) -> Union[np.ndarray, RaggedIds]:
        """``H[k]``: entropy (nats, float32) of the predicted distribution of id ``k + 1``.

        ``data`` is one sequence (BLT ids, or bytes/str encoded with BOS and EOS) or a batch
        (then a ``RaggedIds`` of entropies). After a byte of ``reset_context_at`` (and after any
        special id) the model sees only that byte as context (BLT paper §4.4).

        >>> import blt
        >>> m = blt.EntropyModel.train([b"aaaa"], order=2)
        >>> m.entropies([1, 101, 101]).shape
        (3,)
        """
        reset = reset_bytes(reset_context_at)
        if is_single(data):
            ids = ids_array(data)
            return self._m.entropies(ids, np.array([0, len(ids)], dtype=np.int64), reset, 1)
        ids, offsets = batch(data)
        return RaggedIds(self._m.entropies(ids, offsets, reset, threads_arg(num_threads)), offsets)

    def bits_per_byte(self, data: Any, *, reset_context_at: Iterable[Any] = ()) -> float:
        """Cross-entropy in bits per byte of ``data`` (bytes or str, one document).

        >>> import blt
        >>> m = blt.EntropyModel.train([b"ab" * 100], order=3)
        >>> m.bits_per_byte(b"abababab") < 1.0
        True
        """
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        return float(self._m.bits_per_byte(data, reset_bytes(reset_context_at)))

    def __reduce__(self) -> Tuple[Callable[[bytes], "EntropyModel"], Tuple[bytes]]:
        """Pickle as the bytes ``save`` writes (entries sorted: equal models, equal pickles).

        >>> import blt, pickle
        >>> m = blt.EntropyModel.train([b"abcabc"], order=2)
        >>> pickle.loads(pickle.dumps(m)).entropies(b"ab").tolist() == m.entropies(b"ab").tolist()
        True
        """
        return (_entropy_model, (self._m.to_bytes(),))

    def __repr__(self) -> str:
        return f"EntropyModel(order={self.order}, contexts={self.n_contexts})"


def _entropy_model(data: bytes) -> EntropyModel:
    """Unpickles an EntropyModel (see ``EntropyModel.__reduce__``)."""
    return EntropyModel(_core.EntropyModel.from_bytes(data))


class _PathStr(str):
    """A str known to be a path (the lone-str form of EntropyModel.train's source)."""

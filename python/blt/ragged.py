"""RaggedIds: the result of every batch API, one flat id array plus offsets (no per-item arrays)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Union, overload

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]


class RaggedIds:
    """Token ids of a batch: item ``i`` is ``ids[offsets[i]:offsets[i+1]]``.

    Both arrays come from the native core without a copy; indexing returns views.

    >>> import blt
    >>> r = blt.ByteTokenizer().encode_batch([b"a", b"bc"])
    >>> len(r), r[1].tolist(), r.offsets.tolist()
    (2, [1, 102, 103, 2], [0, 3, 7])
    """

    __slots__ = ("ids", "offsets")

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or len(offsets) < 1:
            raise ValueError("offsets must be a 1-D array of length n_items + 1")
        self.ids = ids
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> List[np.ndarray]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[np.ndarray, List[np.ndarray]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"item {i} out of range for a batch of {n}")
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def lengths(self) -> np.ndarray:
        """Number of ids of each item.

        >>> import blt
        >>> blt.ByteTokenizer(bos=False, eos=False).encode_batch(["ab", ""]).lengths().tolist()
        [2, 0]
        """
        return np.diff(self.offsets)

    def to_list(self) -> List[List[int]]:
        """Plain Python lists, one per item.

        >>> import blt
        >>> blt.ByteTokenizer(bos=False, eos=False).encode_batch([b"A"]).to_list()
        [[69]]
        """
        flat = self.ids.tolist()
        offs = self.offsets.tolist()
        return [flat[offs[i] : offs[i + 1]] for i in range(len(self))]

    def to_arrow(self) -> "pa.LargeListArray":
        """The batch as a ``pyarrow.LargeListArray`` over the same two buffers (no copy).

        The list values are ``ids`` and the list offsets are ``offsets`` (int64), so a
        ``datasets`` map function or a Ray Data batch can return the ids as one Arrow column.

        >>> import blt
        >>> arr = blt.ByteTokenizer(bos=False, eos=False).encode_batch(["ab", ""]).to_arrow()
        >>> arr.to_pylist(), str(arr.type)
        ([[101, 102], []], 'large_list<item: uint16>')
        """
        import pyarrow as pa

        ids = np.ascontiguousarray(self.ids)
        offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        values = pa.Array.from_buffers(pa.from_numpy_dtype(ids.dtype), len(ids), [None, pa.py_buffer(ids)])
        offs = pa.Array.from_buffers(pa.int64(), len(offsets), [None, pa.py_buffer(offsets)])
        return pa.LargeListArray.from_arrays(offs, values)

    def __repr__(self) -> str:
        return f"RaggedIds(n={len(self)}, total={len(self.ids)}, dtype={self.ids.dtype})"

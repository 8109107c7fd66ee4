"""Ragged ids to the flat and padded layouts training code wants, in NumPy, with no per-token loop.

One gather places every item's (truncated) ids behind its optional BOS and before its optional
EOS, either in rows of a padded matrix or back to back in one packed row. :mod:`blt.torch` wraps
the arrays with ``torch.from_numpy`` (no copy).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def flatten(items: Sequence[Any]) -> Tuple[npt.NDArray[Any], I64]:
    """(flat ids, int64 offsets) of a sequence of 1-D id arrays (NumPy, tensors or lists).

    >>> flat, offs = flatten([np.array([5, 6]), [7]])
    >>> flat.tolist(), offs.tolist()
    ([5, 6, 7], [0, 2, 3])
    """
    arrays: List[npt.NDArray[Any]] = []
    for i, item in enumerate(items):
        a = item.numpy() if hasattr(item, "numpy") and not isinstance(item, np.ndarray) else np.asarray(item)
        if a.ndim != 1:
            raise ValueError(f"item {i} of the batch has shape {a.shape}; expected a 1-D sequence of ids")
        if a.dtype.kind not in "iu":
            if a.size == 0:
                a = a.astype(np.int64)
            else:
                raise TypeError(f"item {i} of the batch holds {a.dtype} values, not integer ids")
        arrays.append(a)
    offsets = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    flat = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    return flat, offsets


# Below this many ids per item on average, one gather over all ids beats a copy per item.
_SLICES_FROM_MEAN_LENGTH = 8


def _place(out: I64, starts: I64, flat: npt.NDArray[Any], offsets: I64, kept: I64,
           bos: Optional[int], eos: Optional[int]) -> None:
    """Write item i at out[starts[i]:]: BOS, flat[offsets[i] : offsets[i] + kept[i]], EOS."""
    nb = 0 if bos is None else 1
    total = int(kept.sum())
    if len(kept) and total >= _SLICES_FROM_MEAN_LENGTH * len(kept):
        # One copy per item (a loop over items, not ids): each runs at memory speed, where the
        # gather below costs several passes and an index array per id.
        for s, o, k in zip((starts + nb).tolist(), offsets[:-1].tolist(), kept.tolist()):
            out[s : s + k] = flat[o : o + k]
    else:
        item = np.repeat(np.arange(len(kept)), kept)
        first = np.zeros(len(kept) + 1, np.int64)
        np.cumsum(kept, out=first[1:])
        within = np.arange(total, dtype=np.int64) - first[:-1][item]
        out[starts[item] + nb + within] = flat[offsets[:-1][item] + within]
    if bos is not None:
        out[starts] = bos
    if eos is not None:
        out[starts + nb + kept] = eos


def _positions(cu: I64, n: I64) -> I64:
    """0, 1, ... restarting at each item of lengths n (item i starts at cu[i])."""
    total = int(cu[-1])
    if len(n) and total >= _SLICES_FROM_MEAN_LENGTH * len(n):
        ramp = np.arange(int(n.max()), dtype=np.int64)
        out = np.empty(total, np.int64)
        for s, k in zip(cu[:-1].tolist(), n.tolist()):
            out[s : s + k] = ramp[:k]
        return out
    return np.arange(total, dtype=np.int64) - np.repeat(cu[:-1], n)


def lengths_after(offsets: I64, max_length: Optional[int], bos: Optional[int],
                  eos: Optional[int]) -> Tuple[I64, I64]:
    """(ids kept per item, total length per item) after truncation to ``max_length``.

    >>> kept, n = lengths_after(np.array([0, 5, 6]), 4, 1, 2)
    >>> kept.tolist(), n.tolist()
    ([2, 1], [4, 3])
    """
    specials = (bos is not None) + (eos is not None)
    kept = np.diff(offsets)
    if max_length is not None:
        if max_length < specials:
            raise ValueError(f"max_length {max_length} leaves no room for BOS/EOS")
        kept = np.minimum(kept, max_length - specials)
    return kept, kept + specials


def padded(flat: npt.NDArray[Any], offsets: I64, *, pad_id: int, max_length: Optional[int],
           bos: Optional[int], eos: Optional[int], pad_to_multiple_of: Optional[int]) -> Tuple[I64, I64]:
    """(ids, attention mask), both (batch, length) int64, padded on the right.

    >>> ids, mask = padded(np.array([5, 6, 7]), np.array([0, 2, 3]), pad_id=0, max_length=None,
    ...                    bos=1, eos=None, pad_to_multiple_of=None)
    >>> ids.tolist(), mask.tolist()
    ([[1, 5, 6], [1, 7, 0]], [[1, 1, 1], [1, 1, 0]])
    """
    kept, n = lengths_after(offsets, max_length, bos, eos)
    width = int(n.max()) if len(n) else 0
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    out = np.full((len(n), width), pad_id, dtype=np.int64)
    starts = np.arange(len(n), dtype=np.int64) * width
    _place(out.reshape(-1), starts, flat, offsets, kept, bos, eos)
    mask = (np.arange(width, dtype=np.int64)[None, :] < n[:, None]).astype(np.int64)
    return out, mask


def packed(flat: npt.NDArray[Any], offsets: I64, *, max_length: Optional[int], bos: Optional[int],
           eos: Optional[int]) -> Tuple[I64, I64, npt.NDArray[np.int32], int]:
    """(ids, position ids, int32 cu_seqlens, longest length): items back to back in one row.

    >>> ids, pos, cu, longest = packed(np.array([5, 6, 7]), np.array([0, 2, 3]), max_length=None,
    ...                                bos=None, eos=2)
    >>> ids.tolist(), pos.tolist(), cu.tolist(), longest
    ([5, 6, 2, 7, 2], [0, 1, 2, 0, 1], [0, 3, 5], 3)
    """
    kept, n = lengths_after(offsets, max_length, bos, eos)
    cu = np.zeros(len(n) + 1, np.int64)
    np.cumsum(n, out=cu[1:])
    total = int(cu[-1])
    out = np.empty(total, np.int64)
    _place(out, cu[:-1], flat, offsets, kept, bos, eos)
    positions = _positions(cu, n)
    return out, positions, cu.astype(np.int32), int(n.max()) if len(n) else 0

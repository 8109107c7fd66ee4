"""Token files on disk as read-only NumPy arrays through ``numpy.memmap`` (nothing is read up front).

Three kinds: ``.npy`` (dtype from its header), a raw ``.bin`` of little-endian ids (dtype given),
and a Megatron shard (``PREFIX``, ``PREFIX.bin`` or ``PREFIX.idx`` with both files present; dtype
from the index). :mod:`blt.torch` builds its datasets on these.

>>> import blt, numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ids.bin")
>>> np.arange(5, dtype=np.uint16).tofile(path)
>>> open_tokens(path, dtype="uint16").tolist()
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ._atomic import os_error
from ._inputs import read_dtype
from .megatron import MegatronShard

__all__ = ["open_tokens", "megatron_prefix"]

PathLike = Union[str, "os.PathLike[str]"]


def megatron_prefix(path: PathLike) -> Optional[str]:
    """The shard prefix if ``path`` names a Megatron shard (its ``.idx`` exists), else None.

    >>> megatron_prefix("/nonexistent/ids.bin") is None
    True
    """
    p = os.fspath(path)
    prefix = p[:-4] if p.endswith((".bin", ".idx")) else p
    return prefix if os.path.isfile(prefix + ".idx") and os.path.isfile(prefix + ".bin") else None


def open_tokens(path: PathLike, dtype: Any = None) -> npt.NDArray[Any]:
    """Every id of a token file as a flat read-only array backed by a memory map.

    ``dtype`` is required for a raw ``.bin`` (and checked against the file otherwise).
    OSError naming the file when it cannot be opened, ValueError when it is not a token file.

    >>> open_tokens("/nonexistent.bin", dtype="uint16")
    Traceback (most recent call last):
    FileNotFoundError: [Errno 2] cannot open token file '/nonexistent.bin': No such file or directory: '/nonexistent.bin'
    """
    p = os.fspath(path)
    prefix = megatron_prefix(p)
    if prefix is not None:
        arr: npt.NDArray[Any] = MegatronShard(prefix).tokens
    elif p.endswith(".npy"):
        try:
            arr = np.load(p, mmap_mode="r")
        except OSError as e:
            raise os_error(e, f"cannot open token file {p!r}", p) from None
        if arr.ndim != 1:
            raise ValueError(f"{p}: expected a 1-D array of ids, got shape {arr.shape}")
    else:
        if dtype is None:
            raise ValueError(f"{p}: a raw token file needs dtype= (e.g. 'uint16'); only .npy and Megatron shards carry one")
        try:
            size = os.path.getsize(p)
        except OSError as e:
            raise os_error(e, f"cannot open token file {p!r}", p) from None
        dt = read_dtype(dtype)
        if size % dt.itemsize:
            raise ValueError(f"{p}: {size} bytes is not a whole number of {dt.name} ids")
        arr = np.memmap(p, dtype=dt, mode="r") if size else np.zeros(0, dt)
    if dtype is not None and read_dtype(dtype) != arr.dtype:
        raise ValueError(f"{p} holds {arr.dtype.name} ids, not {read_dtype(dtype).name}")
    return arr

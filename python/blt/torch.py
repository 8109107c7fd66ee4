"""PyTorch: a collate function for ragged ids, and datasets over token files.

:class:`Collator` turns a batch (a :class:`blt.RaggedIds`, a list of id arrays, or a list of
texts it tokenizes) into tensors in one NumPy gather, either padded (``input_ids`` +
``attention_mask``) or packed for variable-length attention (``input_ids``, ``position_ids``,
``cu_seqlens``, ``max_seqlen``); the tensors wrap the arrays with ``torch.from_numpy``, without a
copy. :class:`TokenWindows` (map-style), :class:`TokenStream` (iterable, split across DataLoader
workers) and :class:`Documents` read ``.npy``, raw ``.bin`` and Megatron shards through
``numpy.memmap``; each worker maps the files itself, and every object here pickles as its
options and paths.

>>> import blt.torch, torch
>>> collate = blt.torch.Collator(tokenizer="bytes", max_length=4)
>>> collate(["Hi", "Hello"])["input_ids"].tolist()
[[1, 76, 109, 2], [1, 76, 105, 112]]
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from . import _collate
from ._lazy_tokenizer import LazyTokenizer, TokenizerSpec
from .megatron import MegatronShard
from .ragged import RaggedIds
from .token_files import megatron_prefix, open_tokens

__all__ = ["Collator", "TokenWindows", "TokenStream", "Documents"]

PathLike = Union[str, "os.PathLike[str]"]


class Collator:
    """``collate_fn`` for a DataLoader: a batch of ids (or texts) -> a dict of tensors.

    Batch items may be 1-D id arrays, tensors or lists, dicts holding them under ``"input_ids"``,
    texts (``str``/``bytes``, encoded in one parallel ``encode_batch`` by ``tokenizer``: an
    encoding name, ``"bytes"`` or a tokenizer object), or the batch may be one RaggedIds.
    Each item is cut to ``max_length`` ids counting ``bos_id``/``eos_id`` (added when not None).
    ``num_threads`` bounds the threads that encode texts (default: the tokenizer's default).

    Padded (default): ``input_ids`` and ``attention_mask``, (batch, longest) int64, right-padded
    with ``pad_id`` (to a multiple of ``pad_to_multiple_of`` if given).

    >>> import numpy as np
    >>> out = Collator(pad_id=0, eos_id=2)([np.array([5, 6]), np.array([7])])
    >>> out["input_ids"].tolist(), out["attention_mask"].tolist()
    ([[5, 6, 2], [7, 2, 0]], [[1, 1, 1], [1, 1, 0]])

    Packed (``packed=True``): one row of every item back to back, ``position_ids`` restarting at
    each item, ``cu_seqlens`` (int32 boundaries, as flash-attention's varlen kernels take) and
    ``max_seqlen``.

    >>> out = Collator(packed=True)([np.array([5, 6]), np.array([7])])
    >>> out["input_ids"].tolist(), out["position_ids"].tolist(), out["cu_seqlens"].tolist()
    ([[5, 6, 7]], [[0, 1, 0]], [0, 2, 3])
    """

    def __init__(
        self,
        *,
        tokenizer: TokenizerSpec = None,
        vocab_dir: Optional[PathLike] = None,
        pad_id: int = 0,
        max_length: Optional[int] = None,
        bos_id: Optional[int] = None,
        eos_id: Optional[int] = None,
        packed: bool = False,
        pad_to_multiple_of: Optional[int] = None,
        num_threads: Optional[int] = None,
    ) -> None:
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}")
        self.tokenizer = LazyTokenizer(tokenizer, vocab_dir)
        self.pad_id = pad_id
        self.max_length = max_length
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.packed = packed
        self.pad_to_multiple_of = pad_to_multiple_of
        self.num_threads = num_threads

    def ragged(self, batch: Any) -> RaggedIds:
        """The batch as flat ids plus offsets (texts are encoded here).

        >>> Collator(tokenizer="bytes").ragged(["A", "BC"]).lengths().tolist()
        [3, 4]
        """
        if isinstance(batch, RaggedIds):
            return batch
        items: Sequence[Any] = batch
        if len(items) and isinstance(items[0], (str, bytes, bytearray, memoryview)):
            out: RaggedIds = self.tokenizer.get().encode_batch(list(items), num_threads=self.num_threads)
            return out
        if len(items) and isinstance(items[0], dict):
            items = [item["input_ids"] for item in items]
        flat, offsets = _collate.flatten(items)
        return RaggedIds(flat, offsets)

    def __call__(self, batch: Any) -> Dict[str, Any]:
        r = self.ragged(batch)
        offsets = np.asarray(r.offsets, dtype=np.int64)
        if self.packed:
            ids, pos, cu, longest = _collate.packed(r.ids, offsets, max_length=self.max_length,
                                                    bos=self.bos_id, eos=self.eos_id)
            return {"input_ids": torch.from_numpy(ids).unsqueeze(0),
                    "position_ids": torch.from_numpy(pos).unsqueeze(0),
                    "cu_seqlens": torch.from_numpy(cu), "max_seqlen": longest}
        ids, mask = _collate.padded(r.ids, offsets, pad_id=self.pad_id, max_length=self.max_length,
                                    bos=self.bos_id, eos=self.eos_id, pad_to_multiple_of=self.pad_to_multiple_of)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    def __repr__(self) -> str:
        return (f"Collator(packed={self.packed}, max_length={self.max_length}, pad_id={self.pad_id}, "
                f"bos_id={self.bos_id}, eos_id={self.eos_id})")


def _paths(paths: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    out = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    if not out:
        raise ValueError("no token files given")
    return out


def _window_tensor(arr: npt.NDArray[Any]) -> torch.Tensor:
    # One copy, the int64 conversion; from_numpy then shares it.
    return torch.from_numpy(np.array(arr, dtype=np.int64))


class _TokenFiles:
    """Token files cut into windows of ``seq_len`` ids every ``stride`` ids; windows never cross
    files. The memory maps are opened lazily, once per process, and not pickled."""

    def __init__(self, paths: Union[PathLike, Sequence[PathLike]], seq_len: int, stride: Optional[int],
                 dtype: Any) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.paths = _paths(paths)
        self.seq_len = seq_len
        self.stride = stride or seq_len
        self.dtype = dtype
        self._arrays: Optional[List[npt.NDArray[Any]]] = None
        counts = [self._windows_in(len(a)) for a in self.arrays()]
        self.first = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=self.first[1:])

    def _windows_in(self, n: int) -> int:
        return 0 if n < self.seq_len else (n - self.seq_len) // self.stride + 1

    def arrays(self) -> List[npt.NDArray[Any]]:
        if self._arrays is None:
            self._arrays = [open_tokens(p, self.dtype) for p in self.paths]
        return self._arrays

    def __len__(self) -> int:
        return int(self.first[-1])

    def window(self, i: int) -> npt.NDArray[Any]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for {n} windows")
        i %= n
        f = int(np.searchsorted(self.first, i, side="right")) - 1
        start = (i - int(self.first[f])) * self.stride
        return self.arrays()[f][start : start + self.seq_len]

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = None
        return state


class TokenWindows(Dataset[torch.Tensor]):
    """Map-style dataset: window ``i`` is ``seq_len`` ids (int64 tensor) of the token files.

    ``paths``: one or several ``.npy`` files, raw ``.bin`` files (with ``dtype``) or Megatron
    shards. Windows start every ``stride`` ids (default ``seq_len``: no overlap; use
    ``seq_len=L + 1, stride=L`` for next-token targets) and never cross a file boundary.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ids.npy")
    >>> np.save(path, np.arange(10, dtype=np.uint16))
    >>> ds = TokenWindows(path, seq_len=4)
    >>> len(ds), ds[1].tolist()
    (2, [4, 5, 6, 7])
    """

    def __init__(self, paths: Union[PathLike, Sequence[PathLike]], seq_len: int, *, stride: Optional[int] = None,
                 dtype: Any = None) -> None:
        self.files = _TokenFiles(paths, seq_len, stride, dtype)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return _window_tensor(self.files.window(i))


class TokenStream(IterableDataset[torch.Tensor]):
    """Iterable dataset over the same windows as :class:`TokenWindows`, split across workers.

    Inside a DataLoader each worker (and, with ``rank``/``world_size``, each process of a
    distributed job) yields every ``N``-th window starting at its own index, so the workers
    together yield each window exactly once. ``shuffle`` permutes the windows with ``seed`` (call
    :meth:`set_epoch` between epochs), identically in every worker.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ids.npy")
    >>> np.save(path, np.arange(9, dtype=np.uint16))
    >>> [w.tolist() for w in TokenStream(path, seq_len=3)]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    """

    def __init__(self, paths: Union[PathLike, Sequence[PathLike]], seq_len: int, *, stride: Optional[int] = None,
                 dtype: Any = None, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.files = _TokenFiles(paths, seq_len, stride, dtype)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        """Use another permutation (with ``shuffle``) for the next iteration.

        >>> s = TokenStream(__file__, seq_len=1, dtype="uint8", shuffle=True); s.set_epoch(3); s.epoch
        3
        """
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        step = workers * self.world_size
        first = self.rank * workers + worker
        n = len(self.files)
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle
                 else np.arange(n))
        for i in order[first::step]:
            yield _window_tensor(self.files.window(int(i)))


class Documents(Dataset[torch.Tensor]):
    """Map-style dataset of the documents of a Megatron shard (``PREFIX``): item ``i`` is the ids
    of document ``i`` (int64 tensor, cut to ``max_length`` if given); pair it with
    :class:`Collator` for padded or packed batches.

    >>> import blt, os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "docs.jsonl"), "w") as f:
    ...     _ = f.write('{"text": "Hi"}\\n{"text": "Hello"}\\n')
    >>> _ = blt.megatron.write_megatron(os.path.join(d, "docs.jsonl"), os.path.join(d, "shard"))
    >>> docs = Documents(os.path.join(d, "shard"))
    >>> len(docs), docs[0].tolist()
    (2, [1, 76, 109, 2])
    """

    def __init__(self, prefix: PathLike, *, max_length: Optional[int] = None) -> None:
        p = megatron_prefix(prefix)
        if p is None:
            raise FileNotFoundError(2, f"no Megatron shard at {os.fspath(prefix)!r} (PREFIX.bin and PREFIX.idx)",
                                    os.fspath(prefix))
        self.prefix = p
        self.max_length = max_length
        self._shard: Optional[MegatronShard] = None
        self._len = len(self.shard())

    def shard(self) -> MegatronShard:
        """The memory-mapped shard (opened once per process)."""
        if self._shard is None:
            self._shard = MegatronShard(self.prefix)
        return self._shard

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> torch.Tensor:
        ids = self.shard().document(i)
        return _window_tensor(ids if self.max_length is None else ids[: self.max_length])

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_shard"] = None
        return state

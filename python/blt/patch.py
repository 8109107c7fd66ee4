"""BLT patching: patchers (static, byte, space, BPE delimiter, entropy), a CPU byte n-gram entropy
model, and hashed byte n-gram ids, all computed per sequence by the native core.

Ids are BLT byte ids (``ByteTokenizer``: BOS=1, EOS=2, BPE delimiter=3, byte + 4). Raw bytes or
``str`` given where ids are expected are first encoded with ``ByteTokenizer()`` (BOS and EOS
added).

Where this differs from facebookresearch/blt ``bytelatent/data/patcher.py`` (on purpose):

- every sequence of a batch is patched on its own (the reference flattens batches for the
  entropy model, so sequences leak into each other, blt #123);
- ``force_boundaries=True`` (default): a BOS inside a sequence is a patch of its own and an EOS
  ends a patch (blt #36); pass ``force_boundaries=False`` for the reference's output;
- ``static``: BOS is a patch of its own like in every other rule, then fixed-size patches
  (the reference's static mode has no BOS patch);
- top-k (``threshold=None``): equal entropies are taken earliest first (``torch.topk`` leaves
  ties unspecified), and only positions inside the patched range are candidates (the
  reference can pick the position after the end without ``include_next_token``, which gives an
  empty patch that it then drops);
- the entropy model is a CPU byte n-gram model (``EntropyModel``), not a transformer; entropies
  from any model can be used through ``Patcher.from_entropies``.

>>> import blt
>>> blt.Patcher.space().patch(b"hi there").tolist()
[1, 3, 6]
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from .byte_tokenizer import ByteTokenizer
from .ragged import RaggedIds

BOS = ByteTokenizer.BOS
EOS = ByteTokenizer.EOS
MAX_ID = 264
DEFAULT_THRESHOLD = 1.335442066192627
DEFAULT_RESET = ("\n", EOS)
NGRAM_HASH_PRIMES: Tuple[int, ...] = tuple(_core.NGRAM_HASH_PRIMES)

__all__ = ["Patcher", "PatchStream", "EntropyModel", "hash_ngrams", "NGRAM_HASH_PRIMES"]

_BYTE_TOKENIZER = ByteTokenizer()


# ---------------------------------------------------------------------------------------------
# Input normalisation


def _ids_array(seq: Any) -> np.ndarray:
    """One sequence as a contiguous uint16 array of BLT ids (raw bytes/str are encoded)."""
    if isinstance(seq, (bytes, bytearray, memoryview, str)):
        return _BYTE_TOKENIZER.encode(seq, dtype="uint16")
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"a sequence of ids must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint16)
    if arr.dtype == np.uint16:
        return np.ascontiguousarray(arr)  # the core checks the range (and names the position)
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr > MAX_ID)
    else:
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(f"id {int(arr[pos])} at position {pos} is not a BLT byte id (0..{MAX_ID})")
    return np.ascontiguousarray(arr, dtype=np.uint16)


def _chunk_ids(chunk: Any) -> np.ndarray:
    """A stream chunk: ids, or bytes/str read as byte ids without BOS/EOS."""
    if isinstance(chunk, str):
        chunk = chunk.encode("utf-8", "surrogatepass")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return np.frombuffer(chunk, dtype=np.uint8).astype(np.uint16) + 4
    return _ids_array(chunk)


def _is_single_values(data: Any) -> bool:
    """One sequence of numbers (entropies) rather than a batch of them."""
    if isinstance(data, np.ndarray):
        return data.ndim == 1
    if isinstance(data, RaggedIds):
        return False
    return all(isinstance(x, (int, float, np.number)) for x in data)


def _is_single(data: Any) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return True
    if isinstance(data, RaggedIds):
        return False
    if isinstance(data, np.ndarray):
        return data.ndim == 1
    if isinstance(data, (list, tuple)):
        return all(isinstance(x, (int, np.integer)) for x in data)
    raise TypeError(
        f"expected ids (1-D array or list of ints), bytes/str, or a batch (RaggedIds, 2-D array, "
        f"list of sequences), got {type(data).__name__}"
    )


def _batch(data: Any, convert=_ids_array) -> Tuple[np.ndarray, np.ndarray]:
    """A batch as (flat values, int64 offsets)."""
    if isinstance(data, RaggedIds) and data.ids.ndim == 1:
        offsets = np.ascontiguousarray(data.offsets, dtype=np.int64)
        if len(offsets) == 0 or offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(data.ids):
            raise ValueError("RaggedIds offsets must start at 0, not decrease and end at len(ids)")
        return convert(data.ids), offsets  # one validation and no copy for uint16 ids
    if isinstance(data, RaggedIds):
        seqs = [convert(x) for x in data]
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        seqs = [convert(row) for row in data]
    else:
        seqs = [convert(x) for x in data]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    if seqs:
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        flat = np.ascontiguousarray(np.concatenate(seqs))
    else:
        flat = convert([])
    return flat, offsets


def _entropy_array(seq: Any) -> np.ndarray:
    arr = np.asarray(seq, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"entropies of one sequence must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("entropies must be finite")
    return np.ascontiguousarray(arr)


def _reset_bytes(reset_context_at: Iterable[Any]) -> List[int]:
    """Bytes after which the entropy model forgets its context (specials always reset)."""
    out = []
    for r in reset_context_at or ():
        if isinstance(r, str):
            b = r.encode("utf-8")
        elif isinstance(r, (bytes, bytearray)):
            b = bytes(r)
        elif isinstance(r, (int, np.integer)):
            if not 0 <= r <= MAX_ID:
                raise ValueError(f"reset id {r} is not a BLT id (0..{MAX_ID})")
            if 4 <= r < 260:
                out.append(int(r) - 4)
            continue  # specials (BOS, EOS, ...) always reset the context
        else:
            raise TypeError(f"reset_context_at items are 1-byte str/bytes or BLT ids, got {r!r}")
        if len(b) != 1:
            raise ValueError(f"reset_context_at items must be single bytes, got {r!r}")
        out.append(b[0])
    return sorted(set(out))


def _threads(num_threads: Optional[int]) -> int:
    if num_threads is None:
        return 0
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    return int(num_threads)


def _starts(lengths: np.ndarray, offsets: Optional[np.ndarray] = None) -> np.ndarray:
    """Exclusive cumulative sum of patch lengths, restarted at every sequence."""
    ends = np.cumsum(lengths, dtype=np.int64)
    starts = ends - lengths
    if offsets is not None and len(offsets) > 1:
        first = offsets[:-1]
        base = np.zeros(len(offsets) - 1, dtype=np.int64)
        nonempty = offsets[1:] > first
        base[nonempty] = starts[first[nonempty]]
        starts = starts - np.repeat(base, np.diff(offsets))
    return starts.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Entropy model


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
        threads = _threads(num_threads)
        counter = _core.NgramCounter(int(order))
        if isinstance(source, (str, os.PathLike)):
            source = [_PathStr(os.fspath(source))]
        pending: list = []
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
    def load(cls, path: Union[str, os.PathLike]) -> "EntropyModel":
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

    def save(self, path: Union[str, os.PathLike]) -> None:
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
        reset = _reset_bytes(reset_context_at)
        if _is_single(data):
            ids = _ids_array(data)
            return self._m.entropies(ids, np.array([0, len(ids)], dtype=np.int64), reset, 1)
        ids, offsets = _batch(data)
        return RaggedIds(self._m.entropies(ids, offsets, reset, _threads(num_threads)), offsets)

    def bits_per_byte(self, data: Any, *, reset_context_at: Iterable[Any] = ()) -> float:
        """Cross-entropy in bits per byte of ``data`` (bytes or str, one document).

        >>> import blt
        >>> m = blt.EntropyModel.train([b"ab" * 100], order=3)
        >>> m.bits_per_byte(b"abababab") < 1.0
        True
        """
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        return float(self._m.bits_per_byte(data, _reset_bytes(reset_context_at)))

    def __repr__(self) -> str:
        return f"EntropyModel(order={self.order}, contexts={self.n_contexts})"


class _PathStr(str):
    """A str known to be a path (the lone-str form of EntropyModel.train's source)."""


# ---------------------------------------------------------------------------------------------
# Patchers


class Patcher:
    """Groups BLT ids into patches; every sequence of a batch is patched on its own.

    The first patch is BOS alone (length 1) and position 1 always starts a patch. Lengths are
    ``int32`` and sum to ``len(ids) + include_next_token``. ``max_patch_length`` splits a long
    patch into ``[m, m, ..., rest]``. With ``force_boundaries`` (default) a BOS inside a
    sequence is a patch of its own and an EOS ends a patch, so packed documents never share a
    patch (set it to False for exact reference behaviour on packed sequences).

    >>> import blt
    >>> blt.Patcher.static(4).patch(list(range(4, 14))).tolist()
    [1, 4, 4, 1]
    >>> blt.Patcher.byte().patch([[1, 5, 6], [1]]).to_list()
    [[1, 1, 1], [1]]
    """

    def __init__(
        self,
        kind: str,
        *,
        patch_size: Optional[float] = None,
        threshold: Optional[float] = None,
        threshold_add: Optional[float] = None,
        monotonicity: bool = False,
        max_patch_length: Optional[int] = None,
        include_next_token: bool = False,
        force_boundaries: bool = True,
        model: Optional[EntropyModel] = None,
        reset_context_at: Iterable[Any] = DEFAULT_RESET,
    ) -> None:
        if max_patch_length is not None and max_patch_length < 1:
            raise ValueError(f"max_patch_length must be >= 1 or None, got {max_patch_length}")
        if model is not None and not isinstance(model, EntropyModel):
            raise TypeError(f"model must be a blt.EntropyModel, got {type(model).__name__}")
        static_size = 4
        topk_size = 4.5
        if kind == "static":
            if patch_size is None or int(patch_size) != patch_size or patch_size < 1:
                raise ValueError(f"static patch_size must be an integer >= 1, got {patch_size!r}")
            static_size = int(patch_size)
        if kind == "entropy" and threshold is None:
            if patch_size is None or not patch_size > 0:
                raise ValueError("entropy patching needs a threshold, or patch_size > 0 for top-k")
            topk_size = float(patch_size)
        self.kind = kind
        self.patch_size = patch_size
        self.threshold = threshold
        self.threshold_add = threshold_add
        self.monotonicity = bool(monotonicity)
        self.max_patch_length = max_patch_length
        self.include_next_token = bool(include_next_token)
        self.force_boundaries = bool(force_boundaries)
        self.model = model
        self.reset_context_at = tuple(reset_context_at or ())
        self._reset = _reset_bytes(self.reset_context_at)
        self._rule = _core.PatchRule(
            kind,
            patch_size=static_size,
            threshold=threshold,
            threshold_add=threshold_add,
            monotonicity=self.monotonicity,
            topk_patch_size=topk_size,
            max_patch_length=int(max_patch_length or 0),
            include_next_token=self.include_next_token,
            force_boundaries=self.force_boundaries,
        )

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def static(cls, patch_size: int, **options: Any) -> "Patcher":
        """BOS alone, then patches of ``patch_size`` ids (the last may be shorter).

        >>> import blt
        >>> blt.Patcher.static(3).patch([1, 5, 6, 7, 8, 2]).tolist()
        [1, 3, 2]
        """
        return cls("static", patch_size=patch_size, **options)

    @classmethod
    def byte(cls, **options: Any) -> "Patcher":
        """Every id its own patch.

        >>> import blt
        >>> blt.Patcher.byte().patch([1, 5, 6]).tolist()
        [1, 1, 1]
        """
        return cls("byte", **options)

    @classmethod
    def space(cls, **options: Any) -> "Patcher":
        """The first space-like byte of a run ends a patch (anything but ``[0-9A-Za-z]`` and
        UTF-8 continuation bytes); special ids end a patch too.

        >>> import blt
        >>> blt.Patcher.space().patch("a bc  d").tolist()
        [1, 2, 3, 3]
        """
        return cls("space", **options)

    @classmethod
    def bpe(cls, **options: Any) -> "Patcher":
        """The BPE delimiter id 3 is the last id of each patch.

        >>> import blt
        >>> blt.Patcher.bpe().patch([1, 3, 104, 105, 3, 106, 2]).tolist()
        [1, 1, 3, 2]
        """
        return cls("bpe", **options)

    @classmethod
    def entropy(
        cls,
        model: Optional[EntropyModel] = None,
        *,
        threshold: Optional[float] = DEFAULT_THRESHOLD,
        threshold_add: Optional[float] = None,
        monotonicity: bool = False,
        patch_size: Optional[float] = None,
        max_patch_length: Optional[int] = None,
        reset_context_at: Iterable[Any] = DEFAULT_RESET,
        **options: Any,
    ) -> "Patcher":
        """Patches start where the next byte is hard to predict (``H[p-1]`` is the entropy of
        the prediction of id ``p``).

        Rules (starts are always {0, 1} plus): global, ``H[p-1] > threshold`` for p >= 2;
        ``monotonicity``, ``H[p-1] - H[p-2] > threshold`` (p = 2 always); ``threshold_add``,
        as the reference's ``patch_start_mask_global_and_monotonicity`` (p = 2 always, p = 3
        never, then ``H[p-1] - H[p-2] > threshold_add`` and ``H[p-1] > threshold``);
        ``threshold=None``, the ``len // patch_size - 2`` largest ``H[p-1]`` (ties: earliest).
        Without ``model`` use ``from_entropies``.

        >>> import blt
        >>> p = blt.Patcher.entropy(threshold=1.0)
        >>> p.from_entropies([0.1, 0.1, 2.0, 0.1, 0.1, 3.0, 0.1]).tolist()
        [1, 2, 3, 1]
        """
        return cls(
            "entropy",
            model=model,
            threshold=threshold,
            threshold_add=threshold_add,
            monotonicity=monotonicity,
            patch_size=patch_size,
            max_patch_length=max_patch_length,
            reset_context_at=reset_context_at,
            **options,
        )

    @classmethod
    def calibrate(
        cls,
        entropy_model: EntropyModel,
        sample: Any,
        target_bytes_per_patch: float,
        *,
        tolerance: float = 0.01,
        max_iterations: int = 60,
        **options: Any,
    ) -> "Patcher":
        """An entropy patcher whose global threshold gives ``target_bytes_per_patch`` ids per
        patch on average over ``sample`` (bisection on the threshold; entropies are computed
        once). The result's ``calibrated_bytes_per_patch`` is the size reached.

        >>> import blt
        >>> m = blt.EntropyModel.train([b"the cat sat on the mat. " * 50], order=3)
        >>> p = blt.Patcher.calibrate(m, b"the cat sat on the mat. " * 10, 4.0)
        >>> abs(p.calibrated_bytes_per_patch - 4.0) < 1.0
        True
        """
        if not target_bytes_per_patch >= 1:
            raise ValueError(f"target_bytes_per_patch must be >= 1, got {target_bytes_per_patch}")
        reset = options.pop("reset_context_at", DEFAULT_RESET)
        for bad in ("threshold", "patch_size"):
            if bad in options:
                raise TypeError(f"calibrate chooses the threshold; do not pass {bad}")
        probe = cls.entropy(entropy_model, reset_context_at=reset, **options)
        batch = [sample] if _is_single(sample) else sample
        ids, offsets = _batch(batch)
        if len(ids) == 0:
            raise ValueError("calibration sample is empty")
        ent = np.ascontiguousarray(entropy_model._m.entropies(ids, offsets, probe._reset, 0))
        total = len(ids) + probe.include_next_token * (len(offsets) - 1)

        def size(t: float) -> float:
            p = cls.entropy(None, threshold=t, reset_context_at=reset, **options)
            lengths, _ = _core.patch_batch(p._rule, ids, ent, offsets, 0)
            return total / max(1, len(lengths))

        lo, hi = -1e-3, float(ent.max()) + 1e-3
        best_t, best_s = hi, size(hi)
        for _ in range(max_iterations):
            mid = 0.5 * (lo + hi)
            s = size(mid)
            if abs(s - target_bytes_per_patch) < abs(best_s - target_bytes_per_patch):
                best_t, best_s = mid, s
            if abs(s - target_bytes_per_patch) <= tolerance:
                break
            if s < target_bytes_per_patch:
                lo = mid
            else:
                hi = mid
        out = cls.entropy(entropy_model, threshold=best_t, reset_context_at=reset, **options)
        out.calibrated_bytes_per_patch = best_s
        return out

    # -- patching ----------------------------------------------------------------------------

    def patch(
        self,
        data: Any,
        *,
        return_starts: bool = False,
        num_threads: Optional[int] = None,
    ):
        """Patch lengths of one sequence (``int32`` array) or of a batch (``RaggedIds``).

        ``data``: BLT ids (1-D array or list of ints), bytes/str (encoded with BOS and EOS), or
        a batch (``RaggedIds``, 2-D array, list of sequences). With ``return_starts`` the
        result is ``(lengths, starts)``.

        >>> import blt
        >>> blt.Patcher.static(2).patch([1, 5, 6, 7], return_starts=True)[1].tolist()
        [0, 1, 3]
        """
        single = _is_single(data)
        ids, offsets = _batch([data] if single else data)
        threads = 1 if single else _threads(num_threads)
        if self.kind == "entropy":
            if self.model is None:
                raise ValueError(
                    "this entropy patcher has no model: pass model= to Patcher.entropy, or use "
                    "from_entropies(entropies) with entropies from any model"
                )
            lengths, offs = self.model._m.patch_batch(self._rule, ids, offsets, self._reset, threads)
        else:
            lengths, offs = _core.patch_batch(self._rule, ids, None, offsets, threads)
        return self._result(lengths, offs, single, return_starts)

    def from_entropies(
        self,
        entropies: Any,
        ids: Any = None,
        *,
        return_starts: bool = False,
        num_threads: Optional[int] = None,
    ):
        """Apply this (entropy) patcher's rule to entropies from any model: ``entropies[k]`` is
        the entropy of the prediction of position ``k + 1``. ``ids`` (optional, same shape)
        enables forced boundaries at BOS/EOS.

        >>> import blt
        >>> blt.Patcher.entropy(threshold=None, patch_size=2).from_entropies([0, 5, 1, 4, 2, 3]).tolist()
        [1, 1, 4]
        """
        if self.kind != "entropy":
            raise ValueError(f"from_entropies needs an entropy patcher, this one is {self.kind!r}")
        single = _is_single_values(entropies)
        ent, offsets = _batch([entropies] if single else entropies, convert=_entropy_array)
        id_arr = None
        if ids is not None:
            id_arr, id_offsets = _batch([ids] if single else ids)
            if not np.array_equal(id_offsets, offsets):
                raise ValueError("ids and entropies must have the same lengths")
        threads = 1 if single else _threads(num_threads)
        lengths, offs = _core.patch_batch(self._rule, id_arr, ent, offsets, threads)
        return self._result(lengths, offs, single, return_starts)

    def stream(self) -> "PatchStream":
        """A ``PatchStream`` that patches one sequence fed in chunks (same result as ``patch``).

        >>> import blt
        >>> s = blt.Patcher.space().stream()
        >>> a = s.feed([1, 105, 36]); b = s.feed([106, 107, 2]); c = s.finish()
        >>> a.tolist() + b.tolist() + c.tolist()
        [1, 2, 3]
        """
        return PatchStream(self)

    @staticmethod
    def _result(lengths: np.ndarray, offsets: np.ndarray, single: bool, return_starts: bool):
        if single:
            return (lengths, _starts(lengths)) if return_starts else lengths
        r = RaggedIds(lengths, offsets)
        return (r, RaggedIds(_starts(lengths, offsets), offsets)) if return_starts else r

    def __repr__(self) -> str:
        opts = [f"{k}={getattr(self, k)!r}" for k in ("patch_size", "threshold", "threshold_add",
                                                      "max_patch_length")
                if getattr(self, k) is not None]
        if self.monotonicity:
            opts.append("monotonicity=True")
        if self.include_next_token:
            opts.append("include_next_token=True")
        return f"Patcher.{self.kind}({', '.join(opts)})"


class PatchStream:
    """Patches one sequence arriving in chunks; state (last ids, entropies, model context, the
    open patch) is carried across chunk seams, so the concatenated output equals
    ``Patcher.patch`` of the whole sequence. Top-k entropy patching cannot stream.

    >>> import blt
    >>> s = blt.Patcher.static(2).stream()
    >>> s.feed([1, 5]).tolist() + s.feed([6, 7, 8]).tolist() + s.finish().tolist()
    [1, 2, 2]
    """

    def __init__(self, patcher: Patcher) -> None:
        self._patcher = patcher
        self._s = _core.PatchStream(patcher._rule)
        self._cursor = _core.EntropyCursor()

    def feed(self, ids: Any = None, entropies: Any = None) -> np.ndarray:
        """Feed the next chunk (ids, and/or entropies for a model-less entropy patcher);
        returns the lengths of the patches completed in this chunk. A bytes/str chunk is read
        as byte ids (byte + 4) with no BOS/EOS added: feed ``[blt.ByteTokenizer.BOS]`` first.

        >>> import blt
        >>> blt.Patcher.byte().stream().feed([1, 5]).tolist()
        [1]
        """
        id_arr = None if ids is None else _chunk_ids(ids)
        ent = None if entropies is None else _entropy_array(entropies)
        p = self._patcher
        if p.kind == "entropy" and ent is None:
            if p.model is None or id_arr is None:
                raise ValueError("an entropy patcher without a model needs entropies=")
            ent = p.model._m.entropies_stream(self._cursor, id_arr, p._reset)
        return self._s.feed(id_arr, ent)

    def finish(self) -> np.ndarray:
        """End the sequence; returns the remaining patch lengths. The stream can then be reused.

        >>> import blt
        >>> blt.Patcher.byte(include_next_token=True).stream().finish().tolist()
        [1]
        """
        self._cursor = _core.EntropyCursor()
        return self._s.finish()


# ---------------------------------------------------------------------------------------------
# Hash n-gram ids


def hash_ngrams(
    data: Any,
    *,
    group_sizes: Sequence[int] = (3, 4, 5, 6, 7, 8),
    hash_functions: Union[int, Sequence[int]] = 1,
    max_hash: int = 500002,
    num_threads: Optional[int] = None,
    out: Optional[np.ndarray] = None,
):
    """Hashed byte n-gram ids of BLT (bit-identical to ``byte_group_hash_function``).

    For position ``j`` and size ``n`` the window is the ``n`` ids ending at ``j`` (left-padded
    with 0); ``hash = sum(window[k] * prime**k)`` (k = 0 the oldest) in wrapping signed 64-bit
    arithmetic, then floored ``% max_hash``. ``hash_functions`` is a count (functions
    0..count-1) or a list of function numbers (index into ``NGRAM_HASH_PRIMES``). Output:
    ``int64`` of shape ``(len, n_functions * n_sizes)``, function-major columns; a batch gives a
    ``RaggedIds`` whose ``ids`` has one such row per position. ``num_threads`` (default: all
    usable cores) split long sequences into ranges. ``out`` (one sequence only): a C-contiguous
    ``int64`` array of the result's shape to write into, e.g. reused across calls.

    >>> import blt
    >>> blt.hash_ngrams([1, 76, 105, 112, 112, 115], group_sizes=[3])[:, 0].tolist()
    [443987, 124875, 393970, 386145, 358223, 190185]
    """
    funcs = list(range(hash_functions)) if isinstance(hash_functions, (int, np.integer)) else list(hash_functions)
    sizes = [int(s) for s in group_sizes]
    if not funcs:
        raise ValueError("hash_functions must name at least one function")
    threads = _threads(num_threads)
    if _is_single(data):
        return _core.hash_ngrams(_ids_array(data), sizes, funcs, int(max_hash), threads, out)
    if out is not None:
        raise ValueError("out= is only supported for a single sequence")
    ids, offsets = _batch(data)
    cols = len(sizes) * len(funcs)
    out = np.empty((len(ids), cols), dtype=np.int64)
    for i in range(len(offsets) - 1):
        a, b = int(offsets[i]), int(offsets[i + 1])
        out[a:b] = _core.hash_ngrams(ids[a:b], sizes, funcs, int(max_hash), threads)
    return RaggedIds(out, offsets)

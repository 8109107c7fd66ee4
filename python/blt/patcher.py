"""Patcher and PatchStream: group BLT ids into patches (static, byte, space, BPE delimiter,
entropy), per sequence or streamed in chunks. See :mod:`blt.patch` for how this differs from the
reference implementation."""

from __future__ import annotations

from typing import Any, Iterable, Literal, Optional, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from . import _core
from ._patch_inputs import (DEFAULT_RESET, batch, chunk_ids, entropy_array, ids_array, is_single,
                            is_single_values, reset_bytes, starts, threads_arg)
from .entropy_model import EntropyModel
from .ragged import RaggedIds

__all__ = ["Patcher", "PatchStream", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD: float = _core.DEFAULT_THRESHOLD  #: the reference's entropy threshold (nats)

#: Patch lengths: an ``int32`` array for one sequence, a ``RaggedIds`` for a batch.
PatchLengths = Union[np.ndarray, RaggedIds]
#: ``(lengths, starts)`` with ``return_starts=True``: two arrays, or two ``RaggedIds`` for a batch.
PatchLengthsAndStarts = Union[Tuple[np.ndarray, np.ndarray], Tuple[RaggedIds, RaggedIds]]


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

    calibrated_bytes_per_patch: float  #: set on the patchers that ``calibrate`` returns

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
        if model is not None and not isinstance(model, EntropyModel):
            raise TypeError(f"model must be a blt.EntropyModel, got {type(model).__name__}")
        # The core validates the options and fills in the defaults (patch_options.hpp).
        self._rule = _core.PatchRule(
            kind,
            patch_size=patch_size,
            threshold=threshold,
            threshold_add=threshold_add,
            monotonicity=bool(monotonicity),
            max_patch_length=max_patch_length,
            include_next_token=bool(include_next_token),
            force_boundaries=bool(force_boundaries),
        )
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
        self._reset = reset_bytes(self.reset_context_at)

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
        ids, offsets = batch([sample] if is_single(sample) else sample)
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

    @overload
    def patch(self, data: Any, *, return_starts: Literal[False] = False,
              num_threads: Optional[int] = None) -> PatchLengths: ...
    @overload
    def patch(self, data: Any, *, return_starts: Literal[True],
              num_threads: Optional[int] = None) -> PatchLengthsAndStarts: ...
    @overload
    def patch(self, data: Any, *, return_starts: bool,
              num_threads: Optional[int] = None) -> Union[PatchLengths, PatchLengthsAndStarts]: ...

    def patch(
        self,
        data: Any,
        *,
        return_starts: bool = False,
        num_threads: Optional[int] = None,
    ) -> Union[PatchLengths, PatchLengthsAndStarts]:
        """Patch lengths of one sequence (``int32`` array) or of a batch (``RaggedIds``).

        ``data``: BLT ids (1-D array or list of ints), bytes/str (encoded with BOS and EOS), or
        a batch (``RaggedIds``, 2-D array, list of sequences). With ``return_starts`` the
        result is ``(lengths, starts)``.

        >>> import blt
        >>> blt.Patcher.static(2).patch([1, 5, 6, 7], return_starts=True)[1].tolist()
        [0, 1, 3]
        """
        single = is_single(data)
        ids, offsets = batch([data] if single else data)
        threads = 1 if single else threads_arg(num_threads)
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

    @overload
    def from_entropies(self, entropies: Any, ids: Any = None, *, return_starts: Literal[False] = False,
                       num_threads: Optional[int] = None) -> PatchLengths: ...
    @overload
    def from_entropies(self, entropies: Any, ids: Any = None, *, return_starts: Literal[True],
                       num_threads: Optional[int] = None) -> PatchLengthsAndStarts: ...
    @overload
    def from_entropies(self, entropies: Any, ids: Any = None, *, return_starts: bool,
                       num_threads: Optional[int] = None) -> Union[PatchLengths, PatchLengthsAndStarts]: ...

    def from_entropies(
        self,
        entropies: Any,
        ids: Any = None,
        *,
        return_starts: bool = False,
        num_threads: Optional[int] = None,
    ) -> Union[PatchLengths, PatchLengthsAndStarts]:
        """Apply this (entropy) patcher's rule to entropies from any model: ``entropies[k]`` is
        the entropy of the prediction of position ``k + 1``. ``ids`` (optional, same shape)
        enables forced boundaries at BOS/EOS.

        >>> import blt
        >>> blt.Patcher.entropy(threshold=None, patch_size=2).from_entropies([0, 5, 1, 4, 2, 3]).tolist()
        [1, 1, 4]
        """
        if self.kind != "entropy":
            raise ValueError(f"from_entropies needs an entropy patcher, this one is {self.kind!r}")
        single = is_single_values(entropies)
        ent, offsets = batch([entropies] if single else entropies, convert=entropy_array)
        id_arr = None
        if ids is not None:
            id_arr, id_offsets = batch([ids] if single else ids)
            if not np.array_equal(id_offsets, offsets):
                raise ValueError("ids and entropies must have the same lengths")
        threads = 1 if single else threads_arg(num_threads)
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
    def _result(lengths: np.ndarray, offsets: np.ndarray, single: bool,
                return_starts: bool) -> Union[PatchLengths, PatchLengthsAndStarts]:
        if single:
            return (lengths, starts(lengths)) if return_starts else lengths
        r = RaggedIds(lengths, offsets)
        return (r, RaggedIds(starts(lengths, offsets), offsets)) if return_starts else r

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        """Pickle as the constructor's arguments (the model pickles by itself).

        >>> import blt, pickle
        >>> pickle.loads(pickle.dumps(blt.Patcher.static(4))).patch(list(range(4, 14))).tolist()
        [1, 4, 4, 1]
        """
        options = tuple((k, getattr(self, k)) for k in _OPTION_NAMES)
        return (_patcher, (self.kind, options, self.model, self.reset_context_at))

    def __repr__(self) -> str:
        opts = [f"{k}={getattr(self, k)!r}" for k in ("patch_size", "threshold", "threshold_add",
                                                      "max_patch_length")
                if getattr(self, k) is not None]
        if self.monotonicity:
            opts.append("monotonicity=True")
        if self.include_next_token:
            opts.append("include_next_token=True")
        return f"Patcher.{self.kind}({', '.join(opts)})"


_OPTION_NAMES = ("patch_size", "threshold", "threshold_add", "monotonicity", "max_patch_length",
                 "include_next_token", "force_boundaries")


def _patcher(kind: str, options: Tuple[Tuple[str, Any], ...], model: Optional[EntropyModel],
             reset_context_at: Tuple[Any, ...]) -> Patcher:
    """Unpickles a Patcher (see ``Patcher.__reduce__``)."""
    return Patcher(kind, model=model, reset_context_at=reset_context_at, **dict(options))


class PatchStream:
    """Patches one sequence arriving in chunks; state (last ids, entropies, model context, the
    open patch) is carried across chunk seams, so the concatenated output equals
    ``Patcher.patch`` of the whole sequence. Top-k entropy patching cannot stream.

    >>> import blt
    >>> s = blt.Patcher.static(2).stream()
    >>> s.feed([1, 5]).tolist() + s.feed([6, 7, 8]).tolist() + s.finish().tolist()
    [1, 2, 2]
    """

    def __reduce__(self) -> Tuple[Any, ...]:
        raise TypeError("a PatchStream holds the state of one stream in progress and cannot be "
                        "pickled; pickle its Patcher and start a new stream")

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
        id_arr = None if ids is None else chunk_ids(ids)
        ent = None if entropies is None else entropy_array(entropies)
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

"""tokenize_file: a file, stream or buffer of any size to token ids on disk, in bounded memory.

The work runs in the native oneTBB flow graph (:mod:`blt._native_pipeline`); with ``patch=`` the
ids are also patched (:mod:`blt.patch_pipeline`). Every call returns one
:class:`TokenizeResult`. File outputs are atomic (a temporary file beside the target, renamed
only on success).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import numpy as np
import numpy.typing as npt

from ._deprecation import UNSET, renamed
from ._native_pipeline import FORMATS, Progress, TokenizeStats, format_for, run
from ._sizes import ChunkSizeLike, parse_chunk_size, parse_memcap, parse_size
from .patch_pipeline import tokenize_and_patch

__all__ = ["tokenize_file", "TokenizeResult", "TokenizeStats", "FORMATS", "format_for",
           "parse_size", "parse_memcap", "parse_chunk_size"]


@dataclass(frozen=True)
class TokenizeResult(TokenizeStats):
    """What :func:`tokenize_file` did (the :class:`TokenizeStats` fields), plus the arrays it
    returns when ``dst`` is None.

    >>> import blt
    >>> r = blt.tokenize_file(b"Hi", None)
    >>> r.ids.tolist(), r.ids_out, r.patch_lengths is None
    ([1, 76, 109, 2], 4, True)
    """

    ids: Optional[npt.NDArray[Any]] = None  #: the ids when ``dst`` is None
    patch_lengths: Optional[npt.NDArray[np.int32]] = None  #: with ``patch=`` and ``dst`` None
    patches: Optional[int] = None  #: patch lengths written (with ``patch=``)
    hash_ids: Optional[npt.NDArray[Any]] = None  #: with ``hash_ngrams=`` and ``dst`` None


def tokenize_file(
    src: Any,
    dst: Any = None,
    *,
    tokenizer: Any = None,
    content_type: Optional[str] = UNSET,
    bos: bool = UNSET,
    eos: bool = UNSET,
    strip_bom: bool = UNSET,
    dtype: str = UNSET,
    format: Optional[str] = None,
    num_threads: Optional[int] = UNSET,
    memcap: Union[str, int, None] = None,
    chunk_size: ChunkSizeLike = None,
    progress: Optional[Progress] = None,
    patch: Any = None,
    hash_ngrams: Any = UNSET,
    type: Optional[str] = UNSET,
    threads: Optional[int] = UNSET,
) -> TokenizeResult:
    """Tokenize ``src`` into ``dst`` in parallel and in bounded memory; output equals ``encode``.

    ``src``: a path, ``"-"`` (stdin), a readable file descriptor or file object, or a bytes-like
    buffer (read in place). ``dst``: a path (written to a temporary file beside it and renamed on
    success, so a failed run leaves nothing), ``"-"`` (stdout), a writable descriptor or file
    object, or ``None`` to get the ids back in the result's ``ids``.

    ``tokenizer`` defaults to :class:`ByteTokenizer`; ``content_type`` (text, audio, image,
    video, bin) adds the content-type meta token after BOS and, for text, cuts chunks at UTF-8
    character starts. ``format`` is bin (raw little-endian ids), npy or jsonl (one JSON array per
    line), by default from ``dst``'s extension. ``num_threads`` (default and maximum: the usable
    cores) sizes the task arena of this call only. ``memcap`` (``"80%"`` of available RAM,
    ``"512MB"``, or bytes; default 25%) bounds the bytes in flight. ``chunk_size`` is ``"4MB"``
    (fixed), ``"MIN:MAX"`` or a pair; by default 64 KiB to 1 MiB. ``progress(done, total)`` is
    called about every 50 ms with input bytes (total 0 when unknown) from the calling thread; if
    it raises (or Ctrl-C arrives) the run is cancelled and the exception propagates.
    ``type=`` and ``threads=`` are deprecated spellings of ``content_type=`` and ``num_threads=``.

    A BPE tokenizer (``blt.get_encoding(...)``, :class:`BPETokenizer`) gives exactly
    ``enc.encode(whole input)``: chunks are cut only where the split pattern proves no piece
    crosses (docs/pipeline.md). It uses the default special policy (special-token text raises);
    pass ``enc.native(allowed_special=...)`` for another. ``dtype`` then defaults to uint32, and
    an error such as a disallowed special names its byte offset in the whole input, not in a chunk.

    ``patch`` (a :class:`~blt.Patcher`, a mapping of the YAML schema of ``docs/patch.md``, or
    a YAML file path) also patches the ids: ``dst`` is then an ``.npz`` path (arrays ``ids``
    and ``patch_lengths``) or None for both arrays in the result; see
    :func:`blt.patch_pipeline.tokenize_and_patch`. ``hash_ngrams`` (a mapping of
    ``group_sizes``, ``hash_functions``, ``max_hash``, ``dtype``, or True for the defaults of
    :func:`blt.hash_ngrams`) adds the array ``hash_ids`` (one row per id) to that ``.npz``, with or
    without ``patch``; it overrides a configuration's ``hash_ngrams:`` section. Patching and
    hashing run per chunk in the same parallel pipeline as the encoder.

    Returns a :class:`TokenizeResult` in every case.

    >>> import blt, numpy as np
    >>> blt.tokenize_file(b"Hi", None).ids.tolist()
    [1, 76, 109, 2]
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> st = blt.tokenize_file(b"Hi", os.path.join(d, "hi.npy"), content_type="text")
    >>> np.load(os.path.join(d, "hi.npy"), mmap_mode="r").tolist(), st.ids_out
    ([1, 260, 76, 109, 2], 5)
    >>> blt.tokenize_file(b"hi there", None, patch=blt.Patcher.space()).patch_lengths.tolist()
    [1, 3, 6]
    >>> blt.tokenize_file(b"hi", None, hash_ngrams={"group_sizes": [2], "max_hash": 7}).hash_ids.tolist()
    [[6], [5], [6], [2]]
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> blt.tokenize_file(b"hello world<|endoftext|>", None, chunk_size=4,
    ...                   tokenizer=enc.native(allowed_special="all")).ids.tolist()
    [15339, 1917, 100257]
    >>> blt.tokenize_file(b"hello\\n" * 1000 + b"<|endoftext|>", None, tokenizer=enc, chunk_size=64)
    Traceback (most recent call last):
    ValueError: Encountered text corresponding to disallowed special token '<|endoftext|>' at byte 6000...
    """
    content_type = renamed("tokenize_file", "type", "content_type", type, content_type)
    num_threads = renamed("tokenize_file", "threads", "num_threads", threads, num_threads)
    if num_threads is UNSET:
        num_threads = None
    if patch is not None or (hash_ngrams is not UNSET and hash_ngrams not in (None, False)):
        if format not in (None, "npz"):
            raise ValueError(f"format {format!r} does not apply with patch=: the output is an .npz file")
        options: Dict[str, Any] = {k: v for k, v in dict(content_type=content_type, bos=bos, eos=eos, strip_bom=strip_bom).items()
                   if v is not UNSET}
        res = tokenize_and_patch(src, dst, patch=patch, hash_ngrams=hash_ngrams, tokenizer=tokenizer, dtype=dtype, chunk_size=chunk_size,
                                 num_threads=num_threads, memcap=memcap, progress=progress, **options)
        st = res.tokenize
        return TokenizeResult(bytes_in=st.bytes_in, ids_out=res.ids_out, seconds=res.seconds, chunks=st.chunks,
                              threads=st.threads, chunk_size=st.chunk_size, format="npz", dtype=st.dtype,
                              stage_times=st.stage_times, queue_mean=st.queue_mean, queue_max=st.queue_max,
                              ids=res.ids, patch_lengths=res.patch_lengths,
                              patches=res.patches if patch is not None else None, hash_ids=res.hash_ids)
    stats, ids = run(src, dst, tokenizer=tokenizer, content_type=content_type, bos=bos, eos=eos,
                     strip_bom=strip_bom, dtype=dtype, format=format, num_threads=num_threads, memcap=memcap,
                     chunk_size=chunk_size, progress=progress)
    return TokenizeResult(**vars(stats), ids=ids)

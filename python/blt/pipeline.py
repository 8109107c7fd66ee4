"""tokenize_file: a file, stream or buffer of any size to token ids on disk, in bounded memory.

The work runs in the native oneTBB flow graph (read -> limiter -> parallel encode -> sequencer ->
write); this module resolves paths, descriptors and options, and makes file outputs atomic
(a temporary file beside the target, renamed only on success).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np

from . import _core
from .byte_tokenizer import _UNSET, CONTENT_TYPES, ByteTokenizer

FORMATS = ("bin", "npy", "jsonl")
DEFAULT_MIN_CHUNK = 64 << 10
DEFAULT_MAX_CHUNK = 1 << 20
DEFAULT_MEMCAP = "25%"

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: Union[str, int], what: str = "size") -> int:
    """Bytes in a size such as ``4096``, ``"512MB"`` (10^6), ``"64MiB"`` or ``"64M"`` (2^20).

    >>> parse_size("4MB"), parse_size("64M"), parse_size("1.5KiB"), parse_size(7)
    (4000000, 67108864, 1536, 7)
    """
    if isinstance(text, bool):
        raise TypeError(f"{what} must be an int or a string like '512MB', got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{what} must not be negative, got {text}")
        return text
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise ValueError(
            f"invalid {what} {text!r}: expected a number with an optional unit "
            "(B, KB, MB, GB, KiB, MiB, GiB, K, M, G), e.g. 512MB"
        )
    return int(float(m.group(1)) * _UNITS[unit])


def parse_memcap(text: Union[str, int, None]) -> int:
    """Memory cap in bytes: a size (``"512MB"``) or a percentage of available RAM (``"80%"``).

    >>> parse_memcap("1GiB")
    1073741824
    >>> 0 < parse_memcap("50%") <= parse_memcap("100%")
    True
    """
    if text is None:
        text = DEFAULT_MEMCAP
    if isinstance(text, str) and text.strip().endswith("%"):
        try:
            pct = float(text.strip()[:-1])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            raise ValueError(f"invalid memcap {text!r}: a percentage must be in (0, 100]")
        avail = int(_core.available_ram_bytes()) or (1 << 30)
        return max(1, int(avail * pct / 100))
    cap = parse_size(text, "memcap")
    if cap == 0:
        raise ValueError("memcap must be greater than 0")
    return cap


def parse_chunk_size(value: Union[str, int, Tuple[int, int], None]) -> Tuple[int, int]:
    """(min, max) chunk bytes from ``"4MB"`` (fixed), ``"64KiB:8MiB"``, an int or a pair.

    >>> parse_chunk_size("1MiB"), parse_chunk_size("1K:2K"), parse_chunk_size((1, 9))
    ((1048576, 1048576), (1024, 2048), (1, 9))
    """
    if value is None:
        return DEFAULT_MIN_CHUNK, DEFAULT_MAX_CHUNK
    if isinstance(value, tuple):
        lo, hi = (parse_size(v, "chunk size") for v in value)
    elif isinstance(value, str) and ":" in value:
        a, _, b = value.partition(":")
        lo, hi = parse_size(a, "chunk size"), parse_size(b, "chunk size")
    else:
        lo = hi = parse_size(value, "chunk size")
    if lo < 1:
        raise ValueError("chunk size must be at least 1 byte")
    if lo > hi:
        raise ValueError(f"chunk size minimum {lo} exceeds maximum {hi}")
    return lo, hi


def format_for(dst: Any) -> str:
    """Output format implied by a destination's extension (``.npy``, ``.jsonl``/``.json``), else bin.

    >>> format_for("ids.npy"), format_for("ids.jsonl"), format_for("ids.u16"), format_for("-")
    ('npy', 'jsonl', 'bin', 'bin')
    """
    if isinstance(dst, (str, os.PathLike)):
        ext = Path(dst).suffix.lower()
        if ext == ".npy":
            return "npy"
        if ext in (".jsonl", ".json"):
            return "jsonl"
    return "bin"


@dataclass(frozen=True)
class TokenizeStats:
    """What one :func:`tokenize_file` run did."""

    bytes_in: int  #: input bytes consumed (including a stripped BOM)
    ids_out: int  #: ids written, prefix and suffix included
    seconds: float  #: wall time of the native run
    chunks: int  #: chunks the input was cut into
    threads: int  #: size of the task arena used
    chunk_size: int  #: planned chunk size in bytes
    format: str
    dtype: str

    @property
    def mb_per_s(self) -> float:
        """Input throughput in MB/s (10^6 bytes)."""
        return self.bytes_in / self.seconds / 1e6 if self.seconds > 0 else float("inf")


def _native_tokenizer(tokenizer, bos, eos, meta, strip_bom, dtype) -> Tuple[Any, str]:
    """(native tokenizer, dtype name) for tokenize_stream.

    A ByteTokenizer (or None) is configured with the per-call options. Any other tokenizer exposes
    its native ``blt::Tokenizer`` through ``native()`` (or is one); its own options
    (special tokens etc.) apply and byte-codec options are rejected.
    """
    if tokenizer is None or isinstance(tokenizer, ByteTokenizer):
        tok = tokenizer if tokenizer is not None else ByteTokenizer()
        return tok._codec(bos, eos, meta, strip_bom, dtype)
    for name, val in (("bos", bos), ("eos", eos), ("type", meta), ("strip_bom", strip_bom)):
        if val is not _UNSET and val is not None:
            raise TypeError(f"{name}= applies to the byte tokenizer only, not {type(tokenizer).__name__}")
    get = getattr(tokenizer, "native", None)
    native = get() if callable(get) else tokenizer
    if not isinstance(native, (_core.Tokenizer, _core.ByteCodec)):
        raise TypeError(
            f"tokenizer must be a blt tokenizer (ByteTokenizer, or an object with "
            f"native()), got {type(tokenizer).__name__}"
        )
    if dtype is _UNSET:
        dtype = getattr(tokenizer, "dtype", None) or "uint32"
    return native, np.dtype(dtype).name


def _fileno(obj: Any) -> Optional[int]:
    if isinstance(obj, bool):
        return None
    if isinstance(obj, int):
        return obj
    get = getattr(obj, "fileno", None)
    if callable(get) and not isinstance(obj, (bytes, bytearray, memoryview, np.ndarray)):
        try:
            return int(get())
        except (OSError, ValueError):
            return None
    return None


def tokenize_file(
    src: Any,
    dst: Any = None,
    *,
    tokenizer: Any = None,
    type: Optional[str] = _UNSET,
    bos: bool = _UNSET,
    eos: bool = _UNSET,
    strip_bom: bool = _UNSET,
    dtype: str = _UNSET,
    format: Optional[str] = None,
    threads: Optional[int] = None,
    memcap: Union[str, int, None] = None,
    chunk_size: Union[str, int, Tuple[int, int], None] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    patch: Any = None,
) -> Union[TokenizeStats, np.ndarray, Any]:
    """Tokenize ``src`` into ``dst`` in parallel and in bounded memory; output equals ``encode``.

    ``src``: a path, ``"-"`` (stdin), a readable file descriptor or file object, or a bytes-like
    buffer (read in place). ``dst``: a path (written to a temporary file beside it and renamed on
    success, so a failed run leaves nothing), ``"-"`` (stdout), a writable descriptor or file
    object, or ``None`` to get the ids back as a NumPy array.

    ``tokenizer`` defaults to :class:`ByteTokenizer`; ``type`` (text, audio, image, video, bin)
    adds the content-type meta token after BOS and, for text, cuts chunks at UTF-8 character
    starts. ``format`` is bin (raw little-endian ids), npy or jsonl (one JSON array per line),
    by default from ``dst``'s extension. ``threads`` (default and maximum: the usable cores) sizes the task
    arena of this call only. ``memcap`` (``"80%"`` of available RAM, ``"512MB"``, or bytes;
    default 25%) bounds the bytes in flight. ``chunk_size`` is ``"4MB"`` (fixed),
    ``"MIN:MAX"`` or a pair; by default 64 KiB to 1 MiB. ``progress(done, total)`` is called
    about every 50 ms with input bytes (total 0 when unknown) from the calling thread; if it
    raises (or Ctrl-C arrives) the run is cancelled and the exception propagates.

    A BPE tokenizer (``blt.get_encoding(...)``, :class:`BPETokenizer`) gives exactly
    ``enc.encode(whole input)``: chunks are cut only where the split pattern proves no piece
    crosses (docs/pipeline.md). It uses the default special policy (special-token text raises);
    pass ``enc.native(allowed_special=...)`` for another. ``dtype`` then defaults to uint32, and
    an error such as a disallowed special names its byte offset in the whole input, not in a chunk.

    Returns :class:`TokenizeStats`, or the ids array when ``dst`` is None.

    ``patch`` (a :class:`~blt.Patcher`, a mapping of the YAML schema of ``docs/patch.md``, or
    a YAML file path) also patches the ids: ``dst`` is then an ``.npz`` path (arrays ``ids``
    and ``patch_lengths``) or None for an ``(ids, patch_lengths)`` pair; see
    :func:`blt.patch_pipeline.tokenize_and_patch`.

    >>> import blt, numpy as np
    >>> blt.tokenize_file(b"Hi", None).tolist()
    [1, 76, 109, 2]
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> st = blt.tokenize_file(b"Hi", os.path.join(d, "hi.npy"), type="text")
    >>> np.load(os.path.join(d, "hi.npy"), mmap_mode="r").tolist(), st.ids_out
    ([1, 260, 76, 109, 2], 5)
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> blt.tokenize_file(b"hello world<|endoftext|>", None, chunk_size=4,
    ...                   tokenizer=enc.native(allowed_special="all")).tolist()
    [15339, 1917, 100257]
    >>> blt.tokenize_file(b"hello\\n" * 1000 + b"<|endoftext|>", None, tokenizer=enc, chunk_size=64)
    Traceback (most recent call last):
    ValueError: Encountered text corresponding to disallowed special token '<|endoftext|>' at byte 6000...
    """
    if patch is not None:
        return _tokenize_and_patch(src, dst, patch, tokenizer, type, bos, eos, strip_bom, dtype, format,
                                   threads, memcap, chunk_size, progress)
    if type is not _UNSET and type is not None and type not in CONTENT_TYPES:
        raise ValueError(f"unknown type {type!r}; expected one of {CONTENT_TYPES}")
    meta = _UNSET if type is _UNSET else type
    native, dt = _native_tokenizer(tokenizer, bos, eos, meta, strip_bom, dtype)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int, got {threads!r}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable (done, total) or None")
    cap = parse_memcap(memcap)
    lo, hi = parse_chunk_size(chunk_size)
    fmt = format or (format_for(dst) if dst is not None else "bin")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if dst is None and fmt != "bin":
        raise ValueError("format applies to a destination; with dst=None the ids come back as an array")
    utf8 = type == "text"

    kwargs = dict(dtype=dt, format=fmt, threads=threads or 0, memcap=cap, min_chunk=lo,
                  max_chunk=hi, progress=progress, utf8_chunks=utf8)
    close_fds = []
    tmp_path: Optional[str] = None
    try:
        # Input.
        if isinstance(src, (str, os.PathLike)) and os.fspath(src) == "-":
            kwargs.update(input_fd=0, input_name="<stdin>")
        elif isinstance(src, (str, os.PathLike)):
            path = os.fspath(src)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise _os_error(e, f"cannot open input {path!r}", path) from None
            close_fds.append(fd)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise IsADirectoryError(errno.EISDIR, f"cannot read input {path!r}: it is a directory", path)
            kwargs.update(input_fd=fd, input_name=path)
        elif _fileno(src) is not None:
            fd = _fileno(src)
            _sync_position(src, fd)
            kwargs.update(input_fd=fd, input_name=str(getattr(src, "name", f"<fd {fd}>")))
        else:
            kwargs.update(input=src, input_name="<buffer>")

        # Output.
        target: Optional[str] = None
        if dst is None:
            pass
        elif isinstance(dst, (str, os.PathLike)) and os.fspath(dst) == "-":
            if sys.stdout is not None:
                sys.stdout.flush()  # text already printed goes first
            kwargs.update(output_fd=1, output_name="<stdout>")
        elif isinstance(dst, (str, os.PathLike)):
            target = os.fspath(dst)
            tmp_path, fd = _open_temp_beside(target)
            close_fds.append(fd)
            kwargs.update(output_fd=fd, output_name=target)
        elif _fileno(dst) is not None:
            flush = getattr(dst, "flush", None)
            if callable(flush):
                flush()
            kwargs.update(output_fd=_fileno(dst), output_name=str(getattr(dst, "name", f"<fd {_fileno(dst)}>")))
        else:
            raise TypeError(f"dst must be a path, '-', a file descriptor or None, got {_type_name(dst)}")

        res = _core.tokenize_stream(native, **kwargs)

        if tmp_path is not None:
            fd = close_fds.pop()
            os.close(fd)
            _set_default_mode(tmp_path)
            os.replace(tmp_path, target)
            tmp_path = None
    finally:
        for fd in close_fds:
            os.close(fd)
        if tmp_path is not None:
            try:
                os.unlink(tmp_path)
            except OSError:
                pass

    if dst is None:
        return res["ids"]
    return TokenizeStats(
        bytes_in=res["bytes_in"], ids_out=res["ids_out"], seconds=res["seconds"],
        chunks=res["chunks"], threads=res["threads"], chunk_size=res["chunk_size"],
        format=fmt, dtype=dt,
    )


def _tokenize_and_patch(src, dst, patch, tokenizer, type, bos, eos, strip_bom, dtype, format,
                        threads, memcap, chunk_size, progress):
    """tokenize_file(..., patch=...): the patching run lives in blt.patch_pipeline."""
    from .patch_pipeline import tokenize_and_patch

    if format not in (None, "npz"):
        raise ValueError(f"format {format!r} does not apply with patch=: the output is an .npz file")
    options = {k: v for k, v in dict(type=type, bos=bos, eos=eos, strip_bom=strip_bom).items() if v is not _UNSET}
    return tokenize_and_patch(src, dst, patch=patch, tokenizer=tokenizer, dtype=dtype, chunk_size=chunk_size,
                              threads=threads, memcap=memcap, progress=progress, **options)


def _sync_position(f: Any, fd: int) -> None:
    """A buffered file object may have read ahead: start the descriptor at its logical position."""
    try:
        if not isinstance(f, int) and f.seekable():
            os.lseek(fd, f.tell(), os.SEEK_SET)
    except (AttributeError, OSError, ValueError):
        pass


def _type_name(obj: Any) -> str:
    return obj.__class__.__name__


def _os_error(e: OSError, what: str, path: str) -> OSError:
    """Same OSError subclass, message naming the operation and the path."""
    return e.__class__(e.errno, f"{what}: {e.strerror}", path)


def _open_temp_beside(target: str) -> Tuple[str, int]:
    """Create ``.NAME.XXXXXX.tmp`` in the target's directory (same filesystem: rename is atomic)."""
    parent = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot write output {target!r}: it is a directory", target)
    if not os.path.isdir(parent):
        raise FileNotFoundError(errno.ENOENT, f"cannot write output {target!r}: directory {parent!r} does not exist", target)
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    except OSError as e:
        raise _os_error(e, f"cannot write output {target!r}", target) from None
    return tmp, fd


def _set_default_mode(path: str) -> None:
    """mkstemp creates 0600; give the result the mode a plain open() would (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)

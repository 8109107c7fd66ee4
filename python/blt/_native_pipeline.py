"""One run of the native file pipeline: resolve the tokenizer, the input and the output, then
``_core.tokenize_stream`` (read -> limiter -> parallel encode -> sequencer -> write, oneTBB), or
``_core.tokenize_patch_stream`` (the same graph with the patching and n-gram hashing stages and
an ``.npz`` sink: :func:`run_npz`).

:func:`blt.tokenize_file` and :func:`blt.patch_pipeline.tokenize_and_patch` both run it; file
outputs are atomic (:mod:`blt._atomic`).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._atomic import AtomicOutput, check_output_path, os_error
from ._deprecation import UNSET
from ._inputs import read_dtype
from ._native import native_tokenizer
from ._sizes import ChunkSizeLike, parse_chunk_size, parse_memcap
from ._threads import resolve_num_threads
from .byte_tokenizer import CONTENT_TYPES, ByteTokenizer

FORMATS = ("bin", "npy", "jsonl")
Progress = Callable[[int, int], None]


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
    """What one run of the file pipeline did."""

    bytes_in: int  #: input bytes consumed (including a stripped BOM)
    ids_out: int  #: ids written, prefix and suffix included
    seconds: float  #: wall time of the native run
    chunks: int  #: chunks the input was cut into
    threads: int  #: size of the task arena used
    chunk_size: int  #: planned chunk size in bytes
    format: str
    dtype: str
    #: busy seconds per step, summed over threads: ("encode", s), the patch stages' ("entropy",
    #: "patch", "hash", "checksum", "assemble") when they ran, and ("write", s) for the ordered
    #: writer; a step whose seconds / threads approach ``seconds`` limits the run
    stage_times: Tuple[Tuple[str, float], ...] = field(default=())
    queue_mean: float = 0.0  #: mean encoded chunks waiting for the ordered writer
    queue_max: int = 0  #: most encoded chunks waiting for the ordered writer

    def stage_report(self) -> str:
        """One line per step: busy seconds and MB/s of input per busy second (one thread's rate).

        >>> TokenizeStats(2_000_000, 0, 1.0, 1, 1, 1, "bin", "uint16", (("encode", 0.5),)).stage_report()
        'encode: 0.500 s busy, 4.0 MB/s per thread'
        """
        lines = []
        for name, sec in self.stage_times:
            rate = f"{self.bytes_in / sec / 1e6:.1f} MB/s per thread" if sec > 0 else "idle"
            lines.append(f"{name}: {sec:.3f} s busy, {rate}")
        return "\n".join(lines)

    @property
    def mb_per_s(self) -> float:
        """Input throughput in MB/s (10^6 bytes).

        >>> TokenizeStats(2_000_000, 0, 0.5, 1, 1, 1, "bin", "uint16").mb_per_s
        4.0
        """
        return self.bytes_in / self.seconds / 1e6 if self.seconds > 0 else float("inf")


def resolve_tokenizer(tokenizer: Any, bos: Any, eos: Any, content_type: Any, strip_bom: Any,
                      dtype: Any) -> Tuple["_core.Tokenizer", str]:
    """(native tokenizer, dtype name) for one run.

    A ByteTokenizer (or None) is configured with the per-call options (UNSET: its default). Any
    other tokenizer is found through the :class:`blt._native.NativeBacked` protocol; its own
    options (special tokens etc.) apply and byte-codec options are rejected.
    """
    if tokenizer is None or isinstance(tokenizer, ByteTokenizer):
        tok = tokenizer if tokenizer is not None else ByteTokenizer()
        return tok._codec(bos, eos, content_type, strip_bom, dtype)
    for name, val in (("bos", bos), ("eos", eos), ("content_type", content_type), ("strip_bom", strip_bom)):
        if val is not UNSET and val is not None:
            raise TypeError(f"{name}= applies to the byte tokenizer only, not {type(tokenizer).__name__}")
    native = native_tokenizer(tokenizer)
    if dtype is UNSET:
        dtype = getattr(tokenizer, "dtype", None) or "uint32"
    return native, read_dtype(dtype).name


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


def _sync_position(f: Any, fd: int) -> None:
    """A buffered file object may have read ahead: start the descriptor at its logical position."""
    try:
        if not isinstance(f, int) and f.seekable():
            os.lseek(fd, f.tell(), os.SEEK_SET)
    except (AttributeError, OSError, ValueError):
        pass


def _run_options(tokenizer: Any, content_type: Any, bos: Any, eos: Any, strip_bom: Any, dtype: Any,
                 num_threads: Optional[int], memcap: Union[str, int, None], chunk_size: ChunkSizeLike,
                 progress: Optional[Progress]) -> Tuple[Any, Dict[str, Any]]:
    """The native tokenizer and the checked keyword arguments both native pipelines take."""
    if content_type is not UNSET and content_type is not None and content_type not in CONTENT_TYPES:
        raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES}")
    native, dt = resolve_tokenizer(tokenizer, bos, eos, content_type, strip_bom, dtype)
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable (done, total) or None")
    lo, hi = parse_chunk_size(chunk_size)
    return native, dict(dtype=dt, threads=resolve_num_threads(num_threads), memcap=parse_memcap(memcap),
                        min_chunk=lo, max_chunk=hi, progress=progress, utf8_chunks=content_type == "text")


def run(
    src: Any,
    dst: Any,
    *,
    tokenizer: Any = None,
    content_type: Any = UNSET,
    bos: Any = UNSET,
    eos: Any = UNSET,
    strip_bom: Any = UNSET,
    dtype: Any = UNSET,
    format: Optional[str] = None,
    num_threads: Optional[int] = None,
    memcap: Union[str, int, None] = None,
    chunk_size: ChunkSizeLike = None,
    progress: Optional[Progress] = None,
) -> Tuple[TokenizeStats, Optional[npt.NDArray[Any]]]:
    """Tokenize ``src`` into ``dst`` (see :func:`blt.tokenize_file`): the run's statistics, and
    the ids when ``dst`` is None."""
    native, kwargs = _run_options(tokenizer, content_type, bos, eos, strip_bom, dtype, num_threads, memcap,
                                  chunk_size, progress)
    fmt = format or (format_for(dst) if dst is not None else "bin")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if dst is None and fmt != "bin":
        raise ValueError("format applies to a destination; with dst=None the ids come back as an array")

    kwargs["format"] = fmt
    with _RunFiles() as files:
        _open_input(src, kwargs, files.fds)

        # Output.
        if dst is None:
            pass
        elif isinstance(dst, (str, os.PathLike)) and os.fspath(dst) == "-":
            if sys.stdout is not None:
                sys.stdout.flush()  # text already printed goes first
            kwargs.update(output_fd=1, output_name="<stdout>")
        elif isinstance(dst, (str, os.PathLike)):
            out = files.out = AtomicOutput(os.fspath(dst))
            kwargs.update(output_fd=out.fd, output_name=out.target)
        elif (out_fd := _fileno(dst)) is not None:
            flush = getattr(dst, "flush", None)
            if callable(flush):
                flush()
            kwargs.update(output_fd=out_fd, output_name=str(getattr(dst, "name", f"<fd {out_fd}>")))
        else:
            raise TypeError(f"dst must be a path, '-', a file descriptor or None, got {type(dst).__name__}")

        res = _core.tokenize_stream(native, **kwargs)
        if files.out is not None:
            files.out.commit()

    return _stats(res, fmt, kwargs["dtype"]), (res["ids"] if dst is None else None)


def _stats(res: Any, fmt: str, dt: str) -> TokenizeStats:
    return TokenizeStats(
        bytes_in=res["bytes_in"], ids_out=res["ids_out"], seconds=res["seconds"],
        chunks=res["chunks"], threads=res["threads"], chunk_size=res["chunk_size"],
        format=fmt, dtype=dt, stage_times=tuple((str(n), float(t)) for n, t in res["stage_times"]),
        queue_mean=float(res["queue_mean"]), queue_max=int(res["queue_max"]),
    )


class _RunFiles:
    """The descriptors a run opened (closed at the end) and its atomic output (discarded at the end
    unless committed), whatever happens in between."""

    def __init__(self) -> None:
        self.fds: List[int] = []
        self.out: Optional[AtomicOutput] = None

    def __enter__(self) -> "_RunFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)
        if self.out is not None:
            self.out.discard()


def _open_input(src: Any, kwargs: Dict[str, Any], close_fds: List[int]) -> None:
    """Sets the input keyword arguments of a native run; descriptors it opens go to close_fds."""
    if isinstance(src, (str, os.PathLike)) and os.fspath(src) == "-":
        kwargs.update(input_fd=0, input_name="<stdin>")
    elif isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise os_error(e, f"cannot open input {path!r}", path) from None
        close_fds.append(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot read input {path!r}: it is a directory", path)
        kwargs.update(input_fd=fd, input_name=path)
    elif (in_fd := _fileno(src)) is not None:
        _sync_position(src, in_fd)
        kwargs.update(input_fd=in_fd, input_name=str(getattr(src, "name", f"<fd {in_fd}>")))
    else:
        kwargs.update(input=src, input_name="<buffer>")


def run_npz(
    src: Any,
    dst: Optional[str],
    stage: Dict[str, Any],
    *,
    tokenizer: Any = None,
    dtype: Any = UNSET,
    num_threads: Optional[int] = None,
    memcap: Union[str, int, None] = None,
    chunk_size: ChunkSizeLike = None,
    progress: Optional[Progress] = None,
    content_type: Any = UNSET,
    bos: Any = UNSET,
    eos: Any = UNSET,
    strip_bom: Any = UNSET,
) -> Tuple[TokenizeStats, Dict[str, Any]]:
    """Tokenize ``src`` into the ``.npz`` ``dst`` (written atomically; None: a temporary file
    whose arrays come back) with the native stages of ``stage`` (``rule``, ``model``, ``reset``,
    ``hash_sizes``, ``hash_funcs``, ``max_hash``, ``hash_dtype`` of
    ``_core.tokenize_patch_stream``). Returns the statistics and the native result dict, plus
    ``arrays`` (name -> array) when ``dst`` is None."""
    native, kwargs = _run_options(tokenizer, content_type, bos, eos, strip_bom, dtype, num_threads, memcap,
                                  chunk_size, progress)
    kwargs.update(stage)
    arrays: Dict[str, Any] = {}
    spool_dir = None if dst is None else check_output_path(dst)
    with _RunFiles() as files:
        _open_input(src, kwargs, files.fds)
        # Unnamed spools beside the output: the system removes them whatever happens.
        with tempfile.TemporaryFile(dir=spool_dir) as lengths, tempfile.TemporaryFile(dir=spool_dir) as hashes:
            if dst is None:
                with tempfile.TemporaryFile() as f:
                    # Named by its folder: a full temporary directory is what the user must fix.
                    where = f"<temporary file in {tempfile.gettempdir()}>"
                    res = _core.tokenize_patch_stream(native, output_fd=f.fileno(), output_name=where,
                                                      lengths_spool_fd=lengths.fileno(),
                                                      hash_spool_fd=hashes.fileno(), **kwargs)
                    f.seek(0)
                    with np.load(f) as z:
                        arrays = {name: z[name] for name in z.files}
            else:
                out = files.out = AtomicOutput(dst)
                res = _core.tokenize_patch_stream(native, output_fd=out.fd, output_name=out.target,
                                                  lengths_spool_fd=lengths.fileno(),
                                                  hash_spool_fd=hashes.fileno(), **kwargs)
                out.commit()
    result: Dict[str, Any] = dict(res)
    if dst is None:
        result["arrays"] = arrays
    return _stats(res, "npz", kwargs["dtype"]), result

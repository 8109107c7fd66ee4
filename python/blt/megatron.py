"""Megatron-LM token shards: write an indexed dataset (``PREFIX.bin`` + ``PREFIX.idx``) and read one.

The ``.bin`` holds the raw ids of every document in order; the ``.idx`` is megatron-core's
``MMIDIDX`` index (dtype code, sequence lengths, byte pointers, document indices), byte for byte
what its ``IndexedDatasetBuilder`` writes. :func:`write_megatron` tokenizes JSON lines (one
document per line, as ``tools/preprocess_data.py`` reads them) or whole files (one document per
file) through the native flow-graph pipeline, in parallel and in bounded memory.

>>> import blt, os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, "docs.jsonl"), "w") as f:
...     _ = f.write('{"text": "Hi"}\\n{"text": "yo"}\\n')
>>> st = blt.megatron.write_megatron(os.path.join(d, "docs.jsonl"), os.path.join(d, "shard"))
>>> shard = blt.megatron.MegatronShard(os.path.join(d, "shard"))
>>> st.documents, shard.dtype.name, [shard.document(i).tolist() for i in range(len(shard))]
(2, 'uint16', [[1, 76, 109, 2], [1, 125, 115, 2]])
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Mapping, Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _blt_ids, _core
from ._atomic import AtomicOutput, os_error
from ._deprecation import UNSET
from ._inputs import read_dtype
from ._native_pipeline import resolve_tokenizer
from ._threads import resolve_num_threads
from ._sizes import parse_memcap
from .bpe import BPETokenizer
from .byte_tokenizer import ByteTokenizer

__all__ = ["write_megatron", "MegatronStats", "MegatronShard", "read_index", "MegatronIndexTable",
           "megatron_dtype"]

MAGIC = b"MMIDIDX\x00\x00"
#: megatron-core's DType codes
DTYPE_CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64,
               7: np.float32, 8: np.uint16}
PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]


def megatron_dtype(n_vocab: int) -> str:
    """The id dtype Megatron picks for a vocabulary (``DType.optimal_dtype``).

    >>> megatron_dtype(265), megatron_dtype(100277)
    ('uint16', 'int32')
    """
    return str(_core.megatron_dtype_for_vocab(n_vocab))


@dataclass(frozen=True)
class MegatronIndexTable:
    """The tables of a ``.idx`` file (arrays are views of a memory map)."""

    dtype: np.dtype[Any]
    sequence_lengths: npt.NDArray[np.int32]
    sequence_pointers: npt.NDArray[np.int64]
    document_indices: npt.NDArray[np.int64]


def read_index(idx_path: PathLike) -> MegatronIndexTable:
    """Read a Megatron ``.idx`` file; ValueError naming the file if it is not one.

    >>> read_index(__file__)
    Traceback (most recent call last):
    ValueError: ...megatron.py is not a Megatron index (.idx): bad magic bytes
    """
    path = os.fspath(idx_path)
    try:
        with open(path, "rb") as f:
            head = f.read(34)
    except OSError as e:
        raise os_error(e, f"cannot open Megatron index {path!r}", path) from None
    if len(head) < 34 or head[:9] != MAGIC:
        raise ValueError(f"{path} is not a Megatron index (.idx): bad magic bytes")
    version, code, n_seq, n_doc = struct.unpack("<QBQQ", head[9:34])
    if version != 1 or code not in DTYPE_CODES:
        raise ValueError(f"{path}: unsupported Megatron index version {version} or dtype code {code}")
    need = 34 + 4 * n_seq + 8 * n_seq + 8 * n_doc
    if os.path.getsize(path) < need:
        raise ValueError(f"{path} is truncated: {os.path.getsize(path)} bytes, the header needs {need}")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    lengths = mm[34 : 34 + 4 * n_seq].view(np.int32)
    pointers = mm[34 + 4 * n_seq : 34 + 12 * n_seq].view(np.int64)
    docs = mm[34 + 12 * n_seq : need].view(np.int64)
    return MegatronIndexTable(np.dtype(DTYPE_CODES[code]), lengths, pointers, docs)


class MegatronShard:
    """A Megatron indexed dataset opened read-only through ``numpy.memmap`` (nothing is copied).

    ``len(shard)`` is the number of documents; ``shard.document(i)`` the ids of document ``i``,
    ``shard.tokens`` every id of the shard in one flat array. Pickles as its path (a DataLoader
    worker maps the files itself).
    """

    def __init__(self, prefix: PathLike) -> None:
        self.prefix = os.fspath(prefix)
        if self.prefix.endswith((".bin", ".idx")):
            self.prefix = self.prefix[:-4]
        self.index = read_index(self.prefix + ".idx")
        self.dtype = self.index.dtype
        bin_path = self.prefix + ".bin"
        try:
            size = os.path.getsize(bin_path)
        except OSError as e:
            raise os_error(e, f"cannot open Megatron data {bin_path!r}", bin_path) from None
        self.tokens: npt.NDArray[Any] = (np.memmap(bin_path, dtype=self.dtype, mode="r") if size
                                         else np.zeros(0, self.dtype))
        lengths = self.index.sequence_lengths
        expect = int(lengths.astype(np.int64).sum()) if len(lengths) else 0
        if expect != len(self.tokens):
            raise ValueError(f"{bin_path} holds {len(self.tokens)} ids but its index lists {expect}")
        # Document i spans sequences document_indices[i]..document_indices[i+1].
        seq_starts = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=seq_starts[1:])
        self.document_offsets: npt.NDArray[np.int64] = seq_starts[self.index.document_indices]

    def __len__(self) -> int:
        return len(self.document_offsets) - 1

    def document(self, i: int) -> npt.NDArray[Any]:
        """The ids of document ``i`` (a view of the memory map)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"document {i} out of range for a shard of {n}")
        i %= n
        return self.tokens[self.document_offsets[i] : self.document_offsets[i + 1]]

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return (MegatronShard, (self.prefix,))

    def __repr__(self) -> str:
        return f"MegatronShard({self.prefix!r}, documents={len(self)}, ids={len(self.tokens)}, dtype={self.dtype})"


@dataclass(frozen=True)
class MegatronStats:
    """What one :func:`write_megatron` run wrote."""

    documents: int
    sequences: int
    ids_out: int
    bytes_in: int
    seconds: float
    dtype: str


def _default_eod(tokenizer: Any) -> int:
    if tokenizer is None or isinstance(tokenizer, ByteTokenizer):
        return _blt_ids.EOS
    if isinstance(tokenizer, BPETokenizer):
        eot = tokenizer.eot_token
        if eot is not None:
            return eot
    raise ValueError(f"append_eod: no end-of-document id known for {type(tokenizer).__name__}; pass eod_id=")


def write_megatron(
    inputs: Union[PathLike, Sequence[PathLike]],
    output_prefix: PathLike,
    *,
    tokenizer: Any = None,
    json_key: Optional[str] = "text",
    append_eod: bool = False,
    eod_id: Optional[int] = None,
    dtype: Optional[str] = None,
    num_threads: Optional[int] = None,
    memcap: Union[str, int, None] = None,
    progress: Optional[Progress] = None,
) -> MegatronStats:
    """Tokenize ``inputs`` into the Megatron indexed dataset ``output_prefix.bin`` / ``.idx``.

    With ``json_key`` (default ``"text"``) every non-blank line of each input is a JSON object and
    its ``json_key`` string is one document; with ``json_key=None`` each input file is one
    document. Each document is ``tokenizer``'s whole-document encoding (a :class:`ByteTokenizer`
    by default: BOS, bytes, EOS), plus ``eod_id`` when ``append_eod`` and the document is not
    empty, as ``preprocess_data.py --append-eod`` does (default eod: EOS for byte ids, the
    encoding's ``<|endoftext|>`` for BPE). ``dtype`` defaults to Megatron's choice: uint16 below
    a vocabulary of 65,500, else int32. Both files are written beside their targets under
    temporary names and renamed only when the whole run succeeded; a bad line raises ValueError
    naming its file and line number and leaves nothing behind.

    >>> import blt, os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("a.txt", "b.txt"):
    ...     with open(os.path.join(d, name), "w") as f:
    ...         _ = f.write(name)
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> st = blt.megatron.write_megatron([os.path.join(d, "a.txt"), os.path.join(d, "b.txt")],
    ...                                  os.path.join(d, "files"), tokenizer=enc, json_key=None,
    ...                                  append_eod=True)
    >>> shard = blt.megatron.MegatronShard(os.path.join(d, "files"))
    >>> shard.dtype.name, shard.document(1).tolist() == enc.encode("b.txt").tolist() + [enc.eot_token]
    ('int32', True)
    """
    paths: List[str] = ([os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike))
                        else [os.fspath(p) for p in inputs])
    if not paths:
        raise ValueError("write_megatron needs at least one input file")
    threads = resolve_num_threads(num_threads)
    if json_key is not None and not isinstance(json_key, str):
        raise TypeError(f"json_key must be a str or None, got {type(json_key).__name__}")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable (done, total) or None")
    native, _ = resolve_tokenizer(tokenizer, UNSET, UNSET, UNSET, UNSET, UNSET)
    dt = dtype if dtype is not None else megatron_dtype(native.n_vocab)
    if read_dtype(dt).name not in ("uint16", "int32", "int64"):
        raise ValueError(f"dtype {dt!r}: a Megatron shard holds uint16, int32 or int64 ids")
    dt = np.dtype(dt).name
    eod: Optional[int] = None
    if append_eod:
        eod = eod_id if eod_id is not None else _default_eod(tokenizer)
    elif eod_id is not None:
        raise ValueError("eod_id= is used only with append_eod=True")
    cap = parse_memcap(memcap)
    prefix = os.fspath(output_prefix)
    index = _core.MegatronIndex(dt)
    eod_bytes = b"" if eod is None else np.array([eod], dtype=dt).tobytes()
    if eod is not None and not 0 <= eod <= np.iinfo(dt).max:
        raise ValueError(f"eod id {eod} does not fit in {dt}")
    bytes_in = 0
    seconds = 0.0
    with AtomicOutput(prefix + ".bin") as bin_out, AtomicOutput(prefix + ".idx") as idx_out:
        res: Mapping[str, Any]
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise os_error(e, f"cannot open input {path!r}", path) from None
            try:
                if os.path.isdir(path):
                    raise IsADirectoryError(21, f"cannot read input {path!r}: it is a directory", path)
                if json_key is not None:
                    res = _core.tokenize_jsonl(native, index, input_fd=fd, input_name=path, bin_fd=bin_out.fd,
                                               bin_name=bin_out.target, json_key=json_key, eod=eod,
                                               threads=threads, memcap=cap, progress=progress)
                else:
                    res = _core.tokenize_stream(native, input_fd=fd, input_name=path, output_fd=bin_out.fd,
                                                output_name=bin_out.target, dtype=dt, format="bin",
                                                threads=threads, memcap=cap, progress=progress)
                    n = int(res["ids_out"])
                    if eod_bytes and n:
                        os.write(bin_out.fd, eod_bytes)
                        n += 1
                    index.add_document(n)
            finally:
                os.close(fd)
            bytes_in += int(res["bytes_in"])
            seconds += float(res["seconds"])
        index.write(idx_out.fd, idx_out.target)
        bin_out.commit()
        idx_out.commit()
    return MegatronStats(documents=index.documents, sequences=index.sequences, ids_out=index.ids,
                         bytes_in=bytes_in, seconds=seconds, dtype=dt)

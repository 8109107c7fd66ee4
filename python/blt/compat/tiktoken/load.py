"""tiktoken's file loaders (``tiktoken.load``), offline: a URL is answered from local copies only.

A ``https://...`` blob is looked up, in order, in ``$BLT_VOCAB_DIR`` (by its file name, or the
names ``../shared/vocab`` gives the GPT-2 files) and in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``,
else ``$DATA_GYM_CACHE_DIR``, else ``$TMPDIR/data-gym-cache``; a file there is named by the SHA-1
of its URL). Nothing is ever downloaded: a blob found nowhere raises FileNotFoundError listing
every place looked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Union

from ... import bpe_formats

__all__ = ["read_file", "read_file_cached", "check_hash", "blob_path", "candidate_paths",
           "load_tiktoken_bpe", "dump_tiktoken_bpe", "data_gym_to_mergeable_bpe_ranks"]

PathLike = Union[str, "os.PathLike[str]"]

GPT2_BLOB = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"

# Local names of blobs whose URL file name differs from the name in a vocab folder.
_LOCAL_NAMES: Dict[str, List[str]] = {
    GPT2_BLOB + "vocab.bpe": ["vocab.bpe", "gpt2_merges.txt"],
    GPT2_BLOB + "encoder.json": ["encoder.json", "gpt2_vocab.json"],
}


def _cache_dir() -> Optional[Path]:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        d = os.environ["TIKTOKEN_CACHE_DIR"]
        return Path(d) if d else None  # tiktoken reads an empty value as "no cache"
    if "DATA_GYM_CACHE_DIR" in os.environ:
        d = os.environ["DATA_GYM_CACHE_DIR"]
        return Path(d) if d else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def candidate_paths(blobpath: str, vocab_dir: Optional[PathLike] = None) -> List[Path]:
    """Every local file :func:`blob_path` tries for ``blobpath``, in order.

    >>> [p.name for p in candidate_paths(GPT2_BLOB + "vocab.bpe", "/vocab")][:2]
    ['vocab.bpe', 'gpt2_merges.txt']
    """
    if "://" not in blobpath:
        return [Path(blobpath)]
    names = _LOCAL_NAMES.get(blobpath) or [blobpath.rstrip("/").rsplit("/", 1)[-1]]
    out: List[Path] = []
    for folder in (vocab_dir, os.environ.get("BLT_VOCAB_DIR") or None):
        if folder is not None:
            out.extend(Path(folder) / n for n in names)
    cache = _cache_dir()
    if cache is not None:
        out.append(cache / hashlib.sha1(blobpath.encode()).hexdigest())
    return out


def blob_path(blobpath: str, vocab_dir: Optional[PathLike] = None) -> Path:
    """The local file answering ``blobpath`` (a path, or a URL: see the module docstring)."""
    places = candidate_paths(blobpath, vocab_dir)
    for p in places:
        if p.is_file():
            return p
    if "://" not in blobpath:
        raise FileNotFoundError(f"{blobpath}: no such file")
    looked = "\n  ".join(str(p) for p in places) or "(nowhere: BLT_VOCAB_DIR unset and the cache disabled)"
    raise FileNotFoundError(
        f"{blobpath} is not available locally (bltok never downloads); looked in:\n  {looked}\n"
        "Set BLT_VOCAB_DIR to a folder holding it, or fill tiktoken's cache (TIKTOKEN_CACHE_DIR)."
    )


def read_file(blobpath: str) -> bytes:
    """Bytes of a local file or of a URL's local copy (tiktoken's ``read_file``, offline)."""
    return bpe_formats.read_bytes(blob_path(blobpath))


def check_hash(data: bytes, expected_hash: str) -> bool:
    """True if the SHA-256 of ``data`` is ``expected_hash``.

    >>> check_hash(b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    True
    """
    return hashlib.sha256(data).hexdigest() == expected_hash


def read_file_cached(blobpath: str, expected_hash: Optional[str] = None, *,
                     vocab_dir: Optional[PathLike] = None) -> bytes:
    """:func:`read_file` checked against ``expected_hash`` (ValueError naming the file on a
    mismatch); ``vocab_dir`` is looked in first."""
    path = blob_path(blobpath, vocab_dir)
    data = bpe_formats.read_bytes(path)
    if expected_hash and not check_hash(data, expected_hash):
        raise ValueError(f"{path} (for {blobpath}): SHA-256 {hashlib.sha256(data).hexdigest()} "
                         f"does not match the expected {expected_hash}")
    return data


def parse_tiktoken_bpe(data: bytes, source: str) -> Dict[bytes, int]:
    """``{token bytes: rank}`` of a rank file's bytes (ValueError naming the line otherwise)."""
    ranks: Dict[bytes, int] = {}
    for n, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as e:
            raise ValueError(f"{source}:{n}: not 'base64(token) rank': {line[:60]!r}") from e
    return ranks


def load_tiktoken_bpe(tiktoken_bpe_file: str, expected_hash: Optional[str] = None) -> Dict[bytes, int]:
    """tiktoken's ``load_tiktoken_bpe``: the ranks of a ``.tiktoken`` file or URL (offline).

    >>> import os
    >>> ranks = load_tiktoken_bpe(os.path.join(VOCAB_DIR, "r50k_base.tiktoken"))
    >>> len(ranks), ranks[b"hello"]
    (50256, 31373)
    """
    return parse_tiktoken_bpe(read_file_cached(tiktoken_bpe_file, expected_hash), tiktoken_bpe_file)


def dump_tiktoken_bpe(bpe_ranks: Dict[bytes, int], tiktoken_bpe_file: PathLike) -> None:
    """Write ``bpe_ranks`` as a rank file, sorted by rank (tiktoken's ``dump_tiktoken_bpe``).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.tiktoken")
    >>> dump_tiktoken_bpe({b"a": 0, b"b": 1}, path)
    >>> load_tiktoken_bpe(path)
    {b'a': 0, b'b': 1}
    """
    lines = [base64.b64encode(t) + b" " + str(r).encode() + b"\n"
             for t, r in sorted(bpe_ranks.items(), key=lambda kv: kv[1])]
    Path(tiktoken_bpe_file).write_bytes(b"".join(lines))


def data_gym_to_mergeable_bpe_ranks(
    vocab_bpe_file: str,
    encoder_json_file: str,
    vocab_bpe_hash: Optional[str] = None,
    encoder_json_hash: Optional[str] = None,
    clobber_one_byte_tokens: bool = False,
) -> Dict[bytes, int]:
    """Ranks of GPT-2's ``vocab.bpe`` + ``encoder.json`` (tiktoken's function, offline).

    The ranks are the ids of ``encoder.json``; ValueError if its tokens do not match the merges.
    ``clobber_one_byte_tokens`` is accepted for tiktoken's signature: every byte is a token here.

    >>> import os
    >>> ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(VOCAB_DIR, "gpt2_merges.txt"),
    ...                                         os.path.join(VOCAB_DIR, "gpt2_vocab.json"))
    >>> len(ranks), ranks[b" world"]
    (50256, 995)
    """
    merges_text = read_file_cached(vocab_bpe_file, vocab_bpe_hash).decode("utf-8")
    encoder = json.loads(read_file_cached(encoder_json_file, encoder_json_hash))
    ranks: Dict[bytes, int] = {}
    for text, i in encoder.items():
        if text in ("<|endoftext|>", "<|startoftext|>"):
            continue  # special tokens, not mergeable ones
        token = bpe_formats.byte_level_decode(text)
        if token is None:
            raise ValueError(f"{encoder_json_file}: {text!r} is not a byte-level token")
        ranks[token] = int(i)
    for n, line in enumerate(merges_text.splitlines()[1:], 2):
        if not line.strip():
            continue
        parts = line.split()
        merged = bpe_formats.byte_level_decode("".join(parts)) if len(parts) == 2 else None
        if merged is None or merged not in ranks:
            raise ValueError(f"{vocab_bpe_file}:{n}: merge {line!r} is not a token of {encoder_json_file}")
    return ranks

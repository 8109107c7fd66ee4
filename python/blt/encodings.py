"""The OpenAI encodings by name (:func:`get_encoding`): split pattern, special tokens, where the
rank file is and its checksum.

Rank files are never downloaded. ``get_encoding`` looks, in order, in ``vocab_dir=``, in
``$BLT_VOCAB_DIR`` (as ``NAME.tiktoken``) and in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, else
``$DATA_GYM_CACHE_DIR``, else ``$TMPDIR/data-gym-cache``; files there are named by the SHA-1 of the
blob URL). The file's SHA-256 must match the published checksum.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from . import bpe_formats
from ._patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, R50K_PATTERN
from .bpe import BPETokenizer

__all__ = ["get_encoding", "list_encoding_names", "EncodingInfo", "ENCODINGS", "GPT2_PATTERN"]

PathLike = Union[str, "os.PathLike[str]"]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"


@dataclass(frozen=True)
class EncodingInfo:
    """What defines one named encoding besides its rank file."""

    name: str
    pattern: str
    special_tokens: Dict[str, int]
    n_vocab: int
    url: str
    sha256: str


ENCODINGS: Dict[str, EncodingInfo] = {
    e.name: e
    for e in [
        EncodingInfo(
            "r50k_base", R50K_PATTERN, {"<|endoftext|>": 50256}, 50257, _BLOB + "r50k_base.tiktoken",
            "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        ),
        EncodingInfo(
            "p50k_base", R50K_PATTERN, {"<|endoftext|>": 50256}, 50281, _BLOB + "p50k_base.tiktoken",
            "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        ),
        EncodingInfo(
            "cl100k_base",
            CL100K_PATTERN,
            {
                "<|endoftext|>": 100257,
                "<|fim_prefix|>": 100258,
                "<|fim_middle|>": 100259,
                "<|fim_suffix|>": 100260,
                "<|endofprompt|>": 100276,
            },
            100277,
            _BLOB + "cl100k_base.tiktoken",
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        ),
        EncodingInfo(
            "o200k_base",
            O200K_PATTERN,
            {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
            200019,
            _BLOB + "o200k_base.tiktoken",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
    ]
}


def list_encoding_names() -> List[str]:
    """Names accepted by :func:`blt.get_encoding`.

    >>> import blt
    >>> blt.list_encoding_names()
    ['cl100k_base', 'o200k_base', 'p50k_base', 'r50k_base']
    """
    return sorted(ENCODINGS)


def _tiktoken_cache_dir() -> Optional[Path]:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        d = os.environ["TIKTOKEN_CACHE_DIR"]
        return Path(d) if d else None  # tiktoken treats an empty value as "no cache"
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return Path(os.environ["DATA_GYM_CACHE_DIR"])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def candidate_paths(name: str, vocab_dir: Optional[PathLike] = None) -> List[Path]:
    """Every place :func:`find_rank_file` looks for encoding ``name``, in order."""
    info = ENCODINGS[name]
    out: List[Path] = []
    if vocab_dir is not None:
        out.append(Path(vocab_dir) / f"{name}.tiktoken")
    env = os.environ.get("BLT_VOCAB_DIR")
    if env:
        out.append(Path(env) / f"{name}.tiktoken")
    cache = _tiktoken_cache_dir()
    if cache is not None:
        out.append(cache / hashlib.sha1(info.url.encode()).hexdigest())
    return out


def find_rank_file(name: str, vocab_dir: Optional[PathLike] = None) -> Path:
    """Path of the rank file of ``name``; FileNotFoundError listing every place looked otherwise."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(list_encoding_names())}")
    places = candidate_paths(name, vocab_dir)
    for p in places:
        if p.is_file():
            return p
    looked = "\n  ".join(str(p) for p in places) or "(nowhere: no vocab_dir, BLT_VOCAB_DIR or cache dir)"
    raise FileNotFoundError(
        f"rank file for {name!r} not found (bltok never downloads); looked in:\n  {looked}\n"
        f"Pass vocab_dir=, set BLT_VOCAB_DIR to a folder holding {name}.tiktoken, or fill tiktoken's cache."
    )


def check_sha256(name: str, data: bytes, path: Path) -> None:
    """ValueError if ``data`` is not the published rank file of ``name``."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != ENCODINGS[name].sha256:
        raise ValueError(
            f"{path}: SHA-256 {digest} does not match the published {name} rank file "
            f"({ENCODINGS[name].sha256})"
        )


def get_encoding(name: str, *, vocab_dir: Optional[PathLike] = None) -> BPETokenizer:
    """One of the OpenAI encodings: ``r50k_base``, ``p50k_base``, ``cl100k_base``, ``o200k_base``.

    The rank file is looked up in ``vocab_dir``, ``$BLT_VOCAB_DIR`` and tiktoken's cache (see
    :func:`candidate_paths`); a missing file raises FileNotFoundError listing every place looked.
    Nothing is downloaded. One instance per rank file serves every caller (tokenizers are
    immutable).

    >>> import blt
    >>> blt.get_encoding("o200k_base", vocab_dir=VOCAB_DIR).encode("hello world").tolist()
    [24912, 2375]
    """
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(list_encoding_names())}")
    return _load_at(name, find_rank_file(name, vocab_dir))


def _load_at(name: str, path: Path) -> BPETokenizer:
    """Encoding ``name`` from its rank file at ``path`` (checked), one instance per file."""
    info = ENCODINGS[name]
    st = path.stat()
    key = (name, str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        hit = _encoding_cache.get(key)
    if hit is not None:
        return hit
    data = bpe_formats.read_bytes(path)
    check_sha256(name, data, path)
    tok = BPETokenizer(bpe_formats.load_rank_file(data, str(path), name, info.pattern, info.special_tokens))
    if tok.n_vocab != info.n_vocab:
        raise ValueError(f"{path}: {name} should have n_vocab {info.n_vocab}, got {tok.n_vocab}")
    tok._pickle_as = (_unpickle_encoding, (name, info.sha256, str(path.resolve())))
    with _cache_lock:
        _encoding_cache[key] = tok
    return tok


def _unpickle_encoding(name: str, sha256: str, path: str) -> BPETokenizer:
    """A pickled registered encoding: its rank file where the pickling process found it, else
    wherever :func:`get_encoding` looks; the file's SHA-256 must be the one pickled."""
    if name not in ENCODINGS:
        raise ValueError(f"cannot unpickle encoding {name!r}: not registered in this version of blt")
    if ENCODINGS[name].sha256 != sha256:
        raise ValueError(f"cannot unpickle encoding {name!r}: pickled with rank file SHA-256 {sha256}, "
                         f"this version of blt expects {ENCODINGS[name].sha256}")
    hint = Path(path)
    return _load_at(name, hint if hint.is_file() else find_rank_file(name))


_encoding_cache: Dict[Tuple[str, str, int, int], BPETokenizer] = {}
_cache_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A thread of the parent may have held the lock at fork(); the child has only this thread.
    global _cache_lock
    _cache_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)

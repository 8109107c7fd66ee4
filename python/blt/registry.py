"""The four OpenAI encodings by name: split pattern, special tokens and where the rank file is.

Rank files are never downloaded. ``get_encoding`` looks, in order, in ``vocab_dir=``, in
``$BLT_VOCAB_DIR`` (as ``NAME.tiktoken``) and in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, else
``$DATA_GYM_CACHE_DIR``, else ``$TMPDIR/data-gym-cache``; files there are named by the SHA-1 of the
blob URL). The file's SHA-256 must match the published checksum.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

_R50K_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# The GPT-2 split regex (also HF's ByteLevel pre-tokenizer with use_regex=true).
GPT2_PATTERN = _R50K_PATTERN

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
            "r50k_base", _R50K_PATTERN, {"<|endoftext|>": 50256}, 50257, _BLOB + "r50k_base.tiktoken",
            "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        ),
        EncodingInfo(
            "p50k_base", _R50K_PATTERN, {"<|endoftext|>": 50256}, 50281, _BLOB + "p50k_base.tiktoken",
            "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        ),
        EncodingInfo(
            "cl100k_base",
            _CL100K_PATTERN,
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
            _O200K_PATTERN,
            {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
            200019,
            _BLOB + "o200k_base.tiktoken",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
    ]
}


def list_encoding_names() -> List[str]:
    """Names accepted by :func:`blt.get_encoding`.

    >>> from blt.registry import list_encoding_names
    >>> list_encoding_names()
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


def candidate_paths(name: str, vocab_dir: Union[str, os.PathLike, None] = None) -> List[Path]:
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


def find_rank_file(name: str, vocab_dir: Union[str, os.PathLike, None] = None) -> Path:
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

"""Encodings by name (tiktoken's ``tiktoken.registry``): the OpenAI ones, read from local files,
and those of ``tiktoken_ext`` plugins.

Built in: ``gpt2``, ``r50k_base``, ``p50k_base``, ``p50k_edit``, ``cl100k_base``, ``o200k_base``,
``o200k_harmony``. Their files are read from ``vocab_dir=``, ``$BLT_VOCAB_DIR`` (a folder like
``../shared/vocab``: ``NAME.tiktoken``, ``gpt2_vocab.json`` + ``gpt2_merges.txt``) or tiktoken's
cache (``$TIKTOKEN_CACHE_DIR``, files named by the SHA-1 of their URL), checked against their
published SHA-256, and never downloaded.

A plugin is a module ``tiktoken_ext.NAME`` (the namespace package tiktoken scans) whose
``ENCODING_CONSTRUCTORS`` maps encoding names to functions returning :class:`Encoding` keyword
arguments. tiktoken's own ``tiktoken_ext.openai_public`` is skipped: the built-ins answer its names
without the network.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ... import _patterns, bpe_formats
from ... import encodings as blt_encodings
from ...bpe import BPETokenizer
from .core import Encoding
from .load import GPT2_BLOB, blob_path, read_file_cached

__all__ = ["get_encoding", "list_encoding_names", "ENCODINGS", "ENCODING_CONSTRUCTORS", "BUILTIN_ENCODINGS"]

PathLike = Union[str, "os.PathLike[str]"]
EOT = "<|endoftext|>"
_FIM = {"<|fim_prefix|>": 50281, "<|fim_middle|>": 50282, "<|fim_suffix|>": 50283}
_HARMONY = {"<|startoftext|>": 199998, "<|return|>": 200002, "<|constrain|>": 200003, "<|channel|>": 200005,
            "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012}

_lock = threading.RLock()
#: Encodings made so far, by name: each name is loaded once per process.
ENCODINGS: Dict[str, Encoding] = {}
#: Plugin encoding name -> constructor (None until the plugins were scanned).
ENCODING_CONSTRUCTORS: Optional[Dict[str, Callable[[], Dict[str, Any]]]] = None


def _rank_file_encoding(name: str, base: str, extra: Dict[str, int], vocab_dir: Optional[PathLike]) -> Encoding:
    info = blt_encodings.ENCODINGS[base]
    data = read_file_cached(info.url, info.sha256, vocab_dir=vocab_dir)
    specials = {**info.special_tokens, **extra}
    return Encoding._from_model(bpe_formats.load_rank_file(data, info.url, name, info.pattern, specials))


def _gpt2(vocab_dir: Optional[PathLike]) -> Encoding:
    merges, vocab = GPT2_BLOB + "vocab.bpe", GPT2_BLOB + "encoder.json"
    read_file_cached(merges, "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5", vocab_dir=vocab_dir)
    read_file_cached(vocab, "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783", vocab_dir=vocab_dir)
    model = bpe_formats.load_gpt2(blob_path(vocab, vocab_dir), blob_path(merges, vocab_dir), [EOT],
                                  _patterns.R50K_PATTERN, "gpt2")
    return Encoding._from_model(model)


def _harmony_specials() -> Dict[str, int]:
    reserved = {f"<|reserved_{i}|>": i for i in (200000, 200001, 200004, 200009, 200010, 200011)}
    reserved.update({f"<|reserved_{i}|>": i for i in range(200013, 201088)})
    return {**_HARMONY, **reserved}


#: The encodings this module answers without plugins: name -> loader(vocab_dir).
BUILTIN_ENCODINGS: Dict[str, Callable[[Optional[PathLike]], Encoding]] = {
    "gpt2": _gpt2,
    "r50k_base": lambda d: _rank_file_encoding("r50k_base", "r50k_base", {}, d),
    "p50k_base": lambda d: _rank_file_encoding("p50k_base", "p50k_base", {}, d),
    "p50k_edit": lambda d: _rank_file_encoding("p50k_edit", "p50k_base", _FIM, d),
    "cl100k_base": lambda d: _rank_file_encoding("cl100k_base", "cl100k_base", {}, d),
    "o200k_base": lambda d: _rank_file_encoding("o200k_base", "o200k_base", {}, d),
    "o200k_harmony": lambda d: _rank_file_encoding("o200k_harmony", "o200k_base", _harmony_specials(), d),
}


def _available_plugin_modules() -> Sequence[str]:
    try:
        tiktoken_ext = importlib.import_module("tiktoken_ext")  # the plugins' namespace package
    except ImportError:
        return []
    found = pkgutil.iter_modules(tiktoken_ext.__path__, "tiktoken_ext.")
    return sorted(m.name for m in found if m.name != "tiktoken_ext.openai_public")


def _find_constructors() -> Dict[str, Callable[[], Dict[str, Any]]]:
    global ENCODING_CONSTRUCTORS
    with _lock:
        if ENCODING_CONSTRUCTORS is not None:
            return ENCODING_CONSTRUCTORS
        found: Dict[str, Callable[[], Dict[str, Any]]] = {}
        for mod_name in _available_plugin_modules():
            mod = importlib.import_module(mod_name)
            constructors = getattr(mod, "ENCODING_CONSTRUCTORS", None)
            if not isinstance(constructors, dict):
                raise ValueError(f"tiktoken plugin {mod_name} does not define ENCODING_CONSTRUCTORS")
            for enc_name, constructor in constructors.items():
                if enc_name in found or enc_name in BUILTIN_ENCODINGS:
                    raise ValueError(f"Duplicate encoding name {enc_name} in tiktoken plugin {mod_name}")
                found[enc_name] = constructor
        ENCODING_CONSTRUCTORS = found
        return found


def get_encoding(encoding_name: str, *, vocab_dir: Optional[PathLike] = None) -> Encoding:
    """The encoding called ``encoding_name``, loaded once per process (tiktoken's ``get_encoding``).

    ``vocab_dir`` (bltok's addition) is a folder looked in before ``$BLT_VOCAB_DIR`` and
    tiktoken's cache. A missing file raises FileNotFoundError listing every place looked; an
    unknown name raises ValueError.

    >>> enc = get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> enc.encode("hello world")
    [15339, 1917]
    """
    if not isinstance(encoding_name, str):
        raise ValueError(f"Expected a string in get_encoding, got {type(encoding_name)}")
    enc = ENCODINGS.get(encoding_name)
    if enc is not None:
        return enc
    with _lock:
        enc = ENCODINGS.get(encoding_name)
        if enc is not None:
            return enc
        builtin = BUILTIN_ENCODINGS.get(encoding_name)
        if builtin is not None:
            enc = builtin(vocab_dir)
        else:
            constructors = _find_constructors()
            if encoding_name not in constructors:
                raise ValueError(f"Unknown encoding {encoding_name}.\n"
                                 f"Built in: {', '.join(BUILTIN_ENCODINGS)}\n"
                                 f"Plugins found: {list(_available_plugin_modules())}")
            enc = Encoding(**constructors[encoding_name]())
        enc._loaded_by = get_encoding  # pickled as this call: see Encoding.__reduce__
        ENCODINGS[encoding_name] = enc
        return enc


def list_encoding_names() -> List[str]:
    """Names :func:`get_encoding` accepts: the built-ins, then those of plugins.

    >>> list_encoding_names()[:3]
    ['gpt2', 'r50k_base', 'p50k_base']
    """
    return [*BUILTIN_ENCODINGS, *_find_constructors()]

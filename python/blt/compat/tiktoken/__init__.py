"""tiktoken's public API over bltok's native encoder: ``import blt.compat.tiktoken as tiktoken``.

``get_encoding``, ``encoding_for_model``, ``encoding_name_for_model``, ``list_encoding_names`` and
:class:`Encoding` behave as tiktoken's (lists out, ``encode_to_numpy``, batch calls returning lists,
the same ValueError for disallowed special tokens, KeyError for unknown tokens, pickling), and
the submodules ``core``, ``load``, ``model`` and ``registry`` answer tiktoken's. Encoding files
are read from local folders and tiktoken's cache, never downloaded (see :mod:`.registry`).

Code that imports ``tiktoken`` itself gets this module after :func:`install`.

>>> import blt.compat.tiktoken as tiktoken
>>> enc = tiktoken.get_encoding("o200k_base", vocab_dir=VOCAB_DIR)
>>> enc.encode("hello world"), tiktoken.encoding_name_for_model("gpt-4o")
([24912, 2375], 'o200k_base')
"""

from __future__ import annotations

import sys
from types import ModuleType

from . import core, load, model, registry
from .core import Encoding
from .model import encoding_for_model, encoding_name_for_model
from .registry import get_encoding, list_encoding_names

__all__ = ["Encoding", "encoding_for_model", "encoding_name_for_model", "get_encoding", "list_encoding_names",
           "install", "core", "load", "model", "registry"]


def install() -> ModuleType:
    """Make ``import tiktoken`` (and ``tiktoken.core``/``load``/``model``/``registry``) give
    these modules, for code that imports tiktoken by name. Modules that imported tiktoken before
    keep what they got.

    >>> import sys, blt.compat.tiktoken as compat
    >>> saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] == "tiktoken"}
    >>> compat.install() is compat and __import__("tiktoken.load").load is compat.load
    True
    >>> _ = [sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] == "tiktoken"]
    >>> sys.modules.update(saved)
    """
    this = sys.modules[__name__]
    sys.modules["tiktoken"] = this
    for sub in ("core", "load", "model", "registry"):
        sys.modules[f"tiktoken.{sub}"] = sys.modules[f"{__name__}.{sub}"]
    return this

"""bltok: byte-level and BPE tokenization with a C++/oneTBB core.

>>> import blt
>>> blt.ByteTokenizer().encode(b"Hi").tolist()
[1, 76, 109, 2]
"""

from __future__ import annotations

from . import _core
from .byte_tokenizer import CONTENT_TYPES, ByteTokenizer
from .patch import EntropyModel, Patcher, PatchStream, hash_ngrams
from .ragged import RaggedIds

__version__ = "0.1.0"

__all__ = [
    "ByteTokenizer",
    "RaggedIds",
    "CONTENT_TYPES",
    "__version__",
    "Patcher",
    "PatchStream",
    "EntropyModel",
    "hash_ngrams",
]

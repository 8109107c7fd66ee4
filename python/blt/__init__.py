"""bltok: byte-level and BPE tokenization with a C++/oneTBB core.

>>> import blt
>>> blt.ByteTokenizer().encode(b"Hi").tolist()
[1, 76, 109, 2]
"""

from __future__ import annotations

from . import _core
from .bpe import BPETokenizer, get_encoding
from .byte_tokenizer import CONTENT_TYPES, ByteTokenizer
from .pipeline import TokenizeStats, tokenize_file
from .patch import EntropyModel, Patcher, PatchStream, hash_ngrams
from .ragged import RaggedIds
from .serve import AsyncBatchTokenizer, Overloaded
from .train import train_bpe, train_bpe_from_counts

__version__ = "0.1.0"

__all__ = [
    "BPETokenizer",
    "get_encoding",
    "ByteTokenizer",
    "RaggedIds",
    "CONTENT_TYPES",
    "TokenizeStats",
    "tokenize_file",
    "AsyncBatchTokenizer",
    "Overloaded",
    "Patcher",
    "PatchStream",
    "EntropyModel",
    "hash_ngrams",
    "train_bpe",
    "train_bpe_from_counts",
    "__version__",
]

"""bltok: byte-level and BPE tokenization with a C++/oneTBB core.

``encode`` returns a NumPy array (``uint16`` byte ids, ``uint32`` BPE ids) and batch calls one
:class:`RaggedIds`; call ``.tolist()`` for lists. ``decode`` returns ``str`` and ``decode_bytes``
``bytes`` on every tokenizer.

Integrations (imported on their own, each needs its library): :mod:`blt.torch` (collate and
token-file datasets), :mod:`blt.hf_datasets` (``datasets.map`` returning Arrow), :mod:`blt.ray` (Ray Data),
and :mod:`blt.megatron` (Megatron-LM shards, no extra library).

>>> import blt
>>> blt.ByteTokenizer().encode(b"Hi").tolist()
[1, 76, 109, 2]
"""

from __future__ import annotations

from . import _core, megatron
from ._native import NativeBacked
from .bpe import BPETokenizer, EncodedPrefix, TokenOffsets
from .byte_tokenizer import CONTENT_TYPES, ByteTokenizer
from .encodings import get_encoding, list_encoding_names
from .entropy_model import EntropyModel
from .ngram_hash import hash_ngrams
from .patch_pipeline import PatchStats
from .patcher import Patcher, PatchStream
from .pipeline import TokenizeResult, TokenizeStats, tokenize_file
from .ragged import RaggedIds
from .serve import AsyncBatchTokenizer, Encoded, EncodedJson, Overloaded
from .stream_decoder import StreamDecoder
from ._threads import get_num_threads, set_num_threads
from .train import train_bpe, train_bpe_from_counts

__version__: str = _core.__version__  # written once, in pyproject.toml

__all__ = [
    "BPETokenizer",
    "get_encoding",
    "list_encoding_names",
    "ByteTokenizer",
    "RaggedIds",
    "CONTENT_TYPES",
    "TokenOffsets",
    "EncodedPrefix",
    "TokenizeStats",
    "TokenizeResult",
    "PatchStats",
    "tokenize_file",
    "AsyncBatchTokenizer",
    "Encoded",
    "EncodedJson",
    "Overloaded",
    "Patcher",
    "PatchStream",
    "EntropyModel",
    "hash_ngrams",
    "StreamDecoder",
    "NativeBacked",
    "set_num_threads",
    "get_num_threads",
    "train_bpe",
    "train_bpe_from_counts",
    "megatron",
    "__version__",
]

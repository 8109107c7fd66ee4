"""Serving: the in-process AsyncBatchTokenizer, the tokenizer registry and the ``blt-serve`` HTTP
server (``blt.serve.server``, needs the ``serve`` extra: aiohttp, prometheus-client, pyyaml).

>>> import blt
>>> blt.AsyncBatchTokenizer is blt.serve.AsyncBatchTokenizer
True
"""

from __future__ import annotations

from .engine import AsyncBatchTokenizer, Encoded, EncodedJson, EngineClosed, Overloaded
from .tokenizer_registry import TokenizerEntry, TokenizerRegistry, UnknownTokenizer

__all__ = ["AsyncBatchTokenizer", "Encoded", "EncodedJson", "EngineClosed", "Overloaded", "TokenizerEntry",
           "TokenizerRegistry", "UnknownTokenizer"]

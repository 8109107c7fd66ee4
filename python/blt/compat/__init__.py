"""Drop-in APIs of other tokenizer libraries, backed by bltok's native encoders.

:mod:`blt.compat.tiktoken` answers tiktoken's public API (``import blt.compat.tiktoken as
tiktoken``); :mod:`blt.hf` holds the transformers classes.
"""

"""The split patterns of the OpenAI encodings (tiktoken's ``pat_str``), read from the core
(text/openai_patterns.cpp), which also knows where a stream may be cut under each."""

from __future__ import annotations

from . import _core

R50K_PATTERN: str = _core.OPENAI_PATTERNS["r50k_base"]
CL100K_PATTERN: str = _core.OPENAI_PATTERNS["cl100k_base"]
O200K_PATTERN: str = _core.OPENAI_PATTERNS["o200k_base"]

# The GPT-2 split regex (also HF's ByteLevel pre-tokenizer with use_regex=true).
GPT2_PATTERN: str = R50K_PATTERN

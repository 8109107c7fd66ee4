"""Which encoding an OpenAI model uses (tiktoken's ``tiktoken.model``)."""

from __future__ import annotations

from typing import Dict

from .core import Encoding
from .registry import get_encoding

__all__ = ["MODEL_TO_ENCODING", "MODEL_PREFIX_TO_ENCODING", "encoding_name_for_model", "encoding_for_model"]

_O200K, _CL100K, _P50K, _R50K = "o200k_base", "cl100k_base", "p50k_base", "r50k_base"

#: Model name prefixes (dated or fine-tuned variants) -> encoding name, tried in this order.
MODEL_PREFIX_TO_ENCODING: Dict[str, str] = {
    **dict.fromkeys(["o1-", "o3-", "o4-mini-", "gpt-5", "gpt-4.5-", "gpt-4.1-", "chatgpt-4o-", "gpt-4o-"], _O200K),
    **dict.fromkeys(["gpt-4-", "gpt-3.5-turbo-", "gpt-35-turbo-"], _CL100K),
    "gpt-oss-": "o200k_harmony",
    "ft:gpt-4o": _O200K,
    **dict.fromkeys(["ft:gpt-4", "ft:gpt-3.5-turbo", "ft:davinci-002", "ft:babbage-002"], _CL100K),
}

#: Exact model names -> encoding name.
MODEL_TO_ENCODING: Dict[str, str] = {
    **dict.fromkeys(["o1", "o3", "o4-mini", "gpt-5", "gpt-4.1", "gpt-4o"], _O200K),
    **dict.fromkeys(["gpt-4", "gpt-3.5-turbo", "gpt-3.5", "gpt-35-turbo", "davinci-002", "babbage-002",
                     "text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large"], _CL100K),
    **dict.fromkeys(["text-davinci-003", "text-davinci-002", "code-davinci-002", "code-davinci-001",
                     "code-cushman-002", "code-cushman-001", "davinci-codex", "cushman-codex"], _P50K),
    **dict.fromkeys(["text-davinci-001", "text-curie-001", "text-babbage-001", "text-ada-001", "davinci",
                     "curie", "babbage", "ada", "text-similarity-davinci-001", "text-similarity-curie-001",
                     "text-similarity-babbage-001", "text-similarity-ada-001", "text-search-davinci-doc-001",
                     "text-search-curie-doc-001", "text-search-babbage-doc-001", "text-search-ada-doc-001",
                     "code-search-babbage-code-001", "code-search-ada-code-001"], _R50K),
    **dict.fromkeys(["text-davinci-edit-001", "code-davinci-edit-001"], "p50k_edit"),
    **dict.fromkeys(["gpt2", "gpt-2"], "gpt2"),
}


def encoding_name_for_model(model_name: str) -> str:
    """Name of the encoding ``model_name`` uses; KeyError for a model it does not know.

    >>> encoding_name_for_model("gpt-4o-2024-05-13"), encoding_name_for_model("text-davinci-003")
    ('o200k_base', 'p50k_base')
    """
    found = MODEL_TO_ENCODING.get(model_name)
    if found is not None:
        return found
    for prefix, name in MODEL_PREFIX_TO_ENCODING.items():
        if model_name.startswith(prefix):
            return name
    raise KeyError(
        f"Could not automatically map {model_name} to a tokeniser. "
        "Please use `tiktoken.get_encoding` to explicitly get the tokeniser you expect."
    )


def encoding_for_model(model_name: str) -> Encoding:
    """The encoding ``model_name`` uses (see :func:`get_encoding` for where it is read from).

    >>> cl100k = get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)  # loaded once, then by name
    >>> encoding_for_model("gpt-4") is cl100k
    True
    """
    return get_encoding(encoding_name_for_model(model_name))

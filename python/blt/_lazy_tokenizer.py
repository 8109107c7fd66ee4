"""A tokenizer given by name or as an object, built at most once per process and picklable.

The integrations (:mod:`blt.hf_datasets`, :mod:`blt.ray`, :mod:`blt.torch`) are shipped to worker
processes by pickling. Given an encoding name (``"cl100k_base"``) or ``"bytes"``, only the name
travels and each process loads the tokenizer on first use; given an object, the object itself is
pickled.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

from .byte_tokenizer import ByteTokenizer
from .encodings import get_encoding

TokenizerSpec = Union[str, Any]


class LazyTokenizer:
    """``spec`` is None or ``"bytes"`` (a default :class:`ByteTokenizer`), an encoding name (with
    an optional ``vocab_dir``), or a tokenizer object.

    >>> import pickle
    >>> lazy = pickle.loads(pickle.dumps(LazyTokenizer("bytes")))
    >>> lazy.get().encode(b"A").tolist()
    [1, 69, 2]
    """

    def __init__(self, spec: TokenizerSpec = None, vocab_dir: Optional[Union[str, "os.PathLike[str]"]] = None) -> None:
        if spec is not None and not isinstance(spec, str) and not callable(getattr(spec, "encode_batch", None)):
            raise TypeError(f"tokenizer must be an encoding name, 'bytes' or a blt tokenizer, got {type(spec).__name__}")
        self.spec = spec
        self.vocab_dir = None if vocab_dir is None else os.fspath(vocab_dir)
        self._tok: Any = None if isinstance(spec, str) or spec is None else spec

    def get(self) -> Any:
        """The tokenizer (loaded on the first call in this process)."""
        if self._tok is None:
            if self.spec is None or self.spec == "bytes":
                self._tok = ByteTokenizer()
            else:
                self._tok = get_encoding(str(self.spec), vocab_dir=self.vocab_dir)
        return self._tok

    def __getstate__(self) -> Dict[str, Any]:
        return {"spec": self.spec, "vocab_dir": self.vocab_dir}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.spec = state["spec"]
        self.vocab_dir = state["vocab_dir"]
        self._tok = None if isinstance(self.spec, str) or self.spec is None else self.spec

"""StreamDecoder: ids in as they are generated, text out as soon as its characters are complete.

A token may end in the middle of a UTF-8 character (byte-level BPE splits rare characters and
emoji across tokens; byte ids split every multi-byte character). Decoding each token on its own
would print replacement characters where the whole sequence decodes cleanly. The decoder turns ids
into bytes with the tokenizer's native ``decode_bytes`` and holds back only an unfinished
character, so the concatenated pieces always equal ``tokenizer.decode(all_ids)``.
"""

from __future__ import annotations

import codecs
from typing import Any, Iterable, Union

import numpy as np

__all__ = ["StreamDecoder"]


class StreamDecoder:
    """Decode ids one at a time or in runs, returning only complete text.

    ``tokenizer`` is any blt tokenizer (``decode_bytes``); ``errors`` is handled as by
    ``bytes.decode`` (default ``"replace"``), once a byte can no longer start or continue a
    character. The pieces returned by :meth:`step`, followed by :meth:`finish`, always join to
    ``tokenizer.decode(ids, errors)`` of all ids given.

    >>> import blt
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> ids = enc.encode("hi 🦜").tolist()  # the parrot's 4 bytes end in the third token
    >>> stream = blt.StreamDecoder(enc)
    >>> [stream.step(i) for i in ids] + [stream.finish()]
    ['hi', ' ', '', '🦜', '']
    """

    def __init__(self, tokenizer: Any, *, errors: str = "replace") -> None:
        if not callable(getattr(tokenizer, "decode_bytes", None)):
            raise TypeError(f"tokenizer must have decode_bytes (a blt tokenizer), got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.errors = errors
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors)

    def step(self, ids: Union[int, Iterable[int], np.ndarray]) -> str:
        """Text completed by ``ids`` (one id or a run of them); may be ``""``.

        >>> import blt
        >>> stream = blt.StreamDecoder(blt.ByteTokenizer(bos=False, eos=False))
        >>> stream.step(0xE2 + 4), stream.step([0x82 + 4, 0xAC + 4])
        ('', '€')
        """
        if isinstance(ids, (int, np.integer)):
            ids = [int(ids)]
        return self._utf8.decode(self.tokenizer.decode_bytes(ids), False)

    def finish(self) -> str:
        """The bytes still held back (an unfinished character, handled by ``errors``); then the
        decoder starts afresh.

        >>> import blt
        >>> stream = blt.StreamDecoder(blt.ByteTokenizer(bos=False, eos=False))
        >>> stream.step(0xE2 + 4), stream.finish()
        ('', '\\ufffd')
        """
        text = self._utf8.decode(b"", True)
        self._utf8.reset()
        return text

    def reset(self) -> None:
        """Drop anything held back and start a new stream."""
        self._utf8.reset()

    def __repr__(self) -> str:
        return f"StreamDecoder({self.tokenizer!r}, errors={self.errors!r})"

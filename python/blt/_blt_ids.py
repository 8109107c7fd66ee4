"""The ids of Meta's Byte Latent Transformer, in one place: four specials, then the 256 bytes
(byte ``b`` is id ``b + OFFSET``), then the five content-type meta tokens."""

from __future__ import annotations

from typing import Tuple

BOE = 0  #: beginning of example (padding in the reference)
BOS = 1  #: beginning of sequence
EOS = 2  #: end of sequence
BPE_DELIM = 3  #: put before the bytes of each BPE token by ``ByteTokenizer(bpe=...)``
OFFSET = 4  #: id of byte 0
CONTENT_TYPES: Tuple[str, ...] = ("text", "audio", "image", "video", "bin")  #: meta ids 260..264
FIRST_META_ID = OFFSET + 256
MAX_ID = FIRST_META_ID + len(CONTENT_TYPES) - 1  #: the largest BLT id (264)

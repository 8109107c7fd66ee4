"""The ids of Meta's Byte Latent Transformer as the core defines them (codec/blt_ids.hpp): four
specials, then the 256 bytes (byte ``b`` is id ``b + OFFSET``), then the content-type meta ids."""

from __future__ import annotations

from typing import Dict, Tuple

from . import _core

BOE: int = _core.BOE_ID  #: beginning of example (padding in the reference)
BOS: int = _core.BOS_ID  #: beginning of sequence
EOS: int = _core.EOS_ID  #: end of sequence
BPE_DELIM: int = _core.BPE_DELIM_ID  #: put before the bytes of each BPE token by ``ByteTokenizer(bpe=...)``
OFFSET: int = _core.BYTE_OFFSET  #: id of byte 0
META_IDS: Dict[str, int] = dict(_core.META_IDS)  #: content type -> its meta id
CONTENT_TYPES: Tuple[str, ...] = tuple(sorted(META_IDS, key=META_IDS.__getitem__))  #: in meta-id order
FIRST_META_ID: int = min(META_IDS.values())
MAX_ID: int = _core.MAX_ID  #: the largest BLT id

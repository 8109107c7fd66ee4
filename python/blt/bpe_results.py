"""Result types of :class:`blt.BPETokenizer` calls that return more than ids."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import numpy.typing as npt

__all__ = ["TokenOffsets", "EncodedPrefix"]


class TokenOffsets(NamedTuple):
    """Result of :meth:`BPETokenizer.encode_with_offsets`."""

    ids: npt.NDArray[np.uint32]  #: token ids
    byte_offsets: npt.NDArray[np.int64]  #: start byte of each token in the (UTF-8) input
    char_offsets: Optional[npt.NDArray[np.int64]]  #: start character (str input only, else None)


class EncodedPrefix(NamedTuple):
    """Result of :meth:`BPETokenizer.encode_prefix`."""

    ids: npt.NDArray[np.uint32]  #: the first max_tokens ids of the full encoding
    consumed: int  #: input bytes (UTF-8 bytes for str) those ids cover

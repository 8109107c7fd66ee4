"""Type stubs for the native extension blt._core (see src/binding.cpp). Sections per API area."""

from typing import Any, ClassVar, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

# --- common ---------------------------------------------------------------------------------------
class IdBuffer:
    """Native owner of an id array; NumPy results keep it as their ``.base``."""

    @property
    def nbytes(self) -> int: ...
    @property
    def address(self) -> int: ...

class Tokenizer:
    """Base of every native tokenizer."""

    @property
    def n_vocab(self) -> int: ...

def usable_cores() -> int: ...
def available_ram_bytes() -> int: ...
def simd_arch() -> str: ...

# --- bytes ----------------------------------------------------------------------------------------
class ByteCodec(Tokenizer):
    def __init__(
        self, bos: bool = True, eos: bool = True, meta: Optional[str] = None, strip_bom: bool = False
    ) -> None: ...
    def encode(self, data: Any, dtype: str = "uint16") -> npt.NDArray[Any]: ...
    def encode_batch(
        self, items: Sequence[Any], dtype: str = "uint16", threads: int = 0
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
    @staticmethod
    def meta_id(name: str) -> int: ...
    @staticmethod
    def decode(ids: npt.NDArray[Any]) -> bytes: ...

# --- pipeline -------------------------------------------------------------------------------------

# --- text -----------------------------------------------------------------------------------------

# --- bpe ------------------------------------------------------------------------------------------

# --- serve ----------------------------------------------------------------------------------------

# --- patch ----------------------------------------------------------------------------------------

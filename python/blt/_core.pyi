# Type stubs for the native module blt._core. Each API area adds only its own section.

from typing import Any, Callable, Optional

import numpy as np

# === pipeline =====================================================================================

class Tokenizer:
    """Native tokenizer interface (blt_core/tokenizer.hpp); native tokenizers derive from it."""

def tokenize_stream(
    tokenizer: Any,
    input: Any = None,
    input_fd: int = -1,
    input_name: str = "<input>",
    output_fd: int = -1,
    output_name: str = "<output>",
    dtype: str = "uint16",
    format: str = "bin",
    threads: int = 0,
    memcap: int = 268435456,
    min_chunk: int = 65536,
    max_chunk: int = 1048576,
    progress: Optional[Callable[[int, int], None]] = None,
    utf8_chunks: bool = False,
    progress_interval: float = 0.05,
) -> dict[str, Any]:
    """Tokenize a buffer (input) or descriptor (input_fd) into output_fd, or into memory
    (output_fd < 0: the result's "ids" is a NumPy array). Keys: bytes_in, ids_out, chunks,
    seconds, threads, chunk_size, in_flight, buffer_bytes[, ids]."""

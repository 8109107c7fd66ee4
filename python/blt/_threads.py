"""How many threads a blt call uses when its ``num_threads`` is not given.

Order: the call's ``num_threads``; then :func:`set_num_threads`; then ``$BLT_NUM_THREADS``; then,
inside a PyTorch DataLoader worker, 1 (as PyTorch does for its own pools: workers are already one
process per core); else every usable core. In a DataLoader worker only a count set in that worker
(e.g. in ``worker_init_fn``) counts: one inherited from the parent through fork does not.

The worker check reads ``torch.utils.data.get_worker_info()`` only when torch is already imported
(a DataLoader worker always has it); blt never imports torch.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "resolve_num_threads", "in_dataloader_worker"]

ENV_VAR = "BLT_NUM_THREADS"

# (count, pid of the process that set it) or None.
_setting: Optional[Tuple[int, int]] = None


def _check(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int >= 1, got {n!r}")
    if n < 1:
        raise ValueError(f"{what} must be >= 1, got {n}")
    return n


def set_num_threads(n: Optional[int]) -> None:
    """Threads for every blt call in this process that does not pass ``num_threads``.

    ``None`` forgets the setting (back to ``$BLT_NUM_THREADS`` or the default).

    >>> import blt
    >>> blt.set_num_threads(2)
    >>> blt.get_num_threads()
    2
    >>> blt.set_num_threads(None)
    """
    global _setting
    _setting = None if n is None else (_check(n, "num_threads"), os.getpid())


def _env_threads() -> Optional[int]:
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw.strip() == "":
        return None
    try:
        n = int(raw.strip())
    except ValueError:
        raise ValueError(f"${ENV_VAR} must be an integer >= 1, got {raw!r}") from None
    if n < 1:
        raise ValueError(f"${ENV_VAR} must be an integer >= 1, got {raw!r}")
    return n


def in_dataloader_worker() -> bool:
    """True inside a PyTorch DataLoader worker process (never imports torch).

    >>> from blt._threads import in_dataloader_worker
    >>> in_dataloader_worker()
    False
    """
    data = sys.modules.get("torch.utils.data")
    get_worker_info = getattr(data, "get_worker_info", None)
    return get_worker_info is not None and get_worker_info() is not None


def _default_threads() -> int:
    """The count for a call without ``num_threads``; 0 means every usable core."""
    setting = _setting
    if in_dataloader_worker():
        if setting is not None and setting[1] == os.getpid():
            return setting[0]
        env = _env_threads()
        return 1 if env is None else env
    if setting is not None:
        return setting[0]
    env = _env_threads()
    return 0 if env is None else env


def resolve_num_threads(num_threads: Optional[int]) -> int:
    """The thread count to hand the core for a call's ``num_threads`` (0: every usable core).

    >>> from blt._threads import resolve_num_threads
    >>> resolve_num_threads(3)
    3
    """
    if num_threads is not None:
        return _check(num_threads, "num_threads")
    return _default_threads()


def get_num_threads() -> int:
    """Threads a blt call without ``num_threads`` uses here and now (see the module docstring).

    >>> import blt
    >>> blt.get_num_threads() >= 1
    True
    """
    n = _default_threads()
    return n if n > 0 else int(_core.usable_cores())

"""Old keyword spellings kept for one release: they still work and emit a DeprecationWarning."""

from __future__ import annotations

import warnings
from typing import Any


class _Unset:
    """The default of an option nobody passed (``None`` can be a real value)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


def renamed(where: str, old: str, new: str, old_value: Any, new_value: Any, *, stacklevel: int = 3) -> Any:
    """``new_value``, or ``old_value`` (with a DeprecationWarning) when only the old name was given.
    A ``new_value`` of ``None`` counts as not given (it is the default of every renamed option).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     renamed("f", "threads", "num_threads", 2, UNSET), w[0].category.__name__
    (2, 'DeprecationWarning')
    >>> renamed("f", "threads", "num_threads", UNSET, 3)
    3
    """
    if old_value is UNSET:
        return new_value
    warnings.warn(f"{where}: {old}= is deprecated, use {new}=", DeprecationWarning, stacklevel=stacklevel)
    if new_value is not UNSET and new_value is not None:
        raise TypeError(f"{where}: pass {new}= only (not also its old name {old}=)")
    return old_value


def deprecated_call(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new``.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     deprecated_call("decode_str", "decode")
    ...     str(w[0].message)
    'decode_str is deprecated, use decode'
    """
    warnings.warn(f"{old} is deprecated, use {new}", DeprecationWarning, stacklevel=stacklevel)

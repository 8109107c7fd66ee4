"""The one protocol for "the native tokenizer behind this object".

Every blt tokenizer (and any user object that wraps one) has a ``native()`` method returning its
``blt._core.Tokenizer`` with its default options; the file pipeline, the batch engine, the server
and ``ByteTokenizer(bpe=...)`` all find the native core through :func:`native_tokenizer`.
"""

from __future__ import annotations

from typing import Protocol, Type, TypeVar, overload, runtime_checkable

from . import _core

T = TypeVar("T", bound=_core.Tokenizer)


@runtime_checkable
class NativeBacked(Protocol):
    """An object backed by a native tokenizer, which ``native()`` returns.

    >>> import blt
    >>> isinstance(blt.ByteTokenizer(), NativeBacked)
    True
    """

    def native(self) -> _core.Tokenizer:
        """The native tokenizer with this object's default options."""
        ...


@overload
def native_tokenizer(obj: object, *, what: str = "tokenizer") -> _core.Tokenizer: ...
@overload
def native_tokenizer(obj: object, kind: Type[T], *, what: str = "tokenizer") -> T: ...


def native_tokenizer(obj: object, kind: Type[_core.Tokenizer] = _core.Tokenizer, *,
                     what: str = "tokenizer") -> _core.Tokenizer:
    """``obj`` itself if it is a native tokenizer of ``kind``, else ``obj.native()``.

    TypeError naming ``what`` and the type when neither gives a ``kind``.

    >>> import blt
    >>> type(native_tokenizer(blt.ByteTokenizer())).__name__
    'ByteCodec'
    >>> native_tokenizer(object())
    Traceback (most recent call last):
    TypeError: tokenizer must be a blt tokenizer (or an object whose native() returns a blt._core.Tokenizer), got object
    """
    if isinstance(obj, kind):
        return obj
    if isinstance(obj, NativeBacked):
        core = obj.native()
        if isinstance(core, kind):
            return core
        got = f"{type(obj).__name__} whose native() returned {type(core).__name__}"
    else:
        got = type(obj).__name__
    raise TypeError(f"{what} must be a blt tokenizer (or an object whose native() returns a "
                    f"blt._core.{kind.__name__}), got {got}")

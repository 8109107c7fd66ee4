"""Tokenizer registry: several tokenizers by ``name@version``, one active version per name.

Loading a new version never disturbs the one serving; :meth:`TokenizerRegistry.activate` switches
with one reference assignment, and requests keep the entry they resolved, so in-flight work
finishes on the version it started with.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .. import _core
from .._deprecation import deprecated_call
from .._native import native_tokenizer
from ..bpe import BPETokenizer
from ..byte_tokenizer import ByteTokenizer
from ..encodings import get_encoding

WARMUP_TEXT = "Warm-up: the quick brown fox jumps over the lazy dog. 0123456789 ünïcödé 漢字 🙂\n" * 8


class UnknownTokenizer(LookupError):
    """No tokenizer is registered under the requested name or ``name@version``."""


class TokenizerLoadError(ValueError):
    """A configured tokenizer could not be built (bad spec, missing vocabulary file)."""

    @classmethod
    def wrap(cls, ref: str, spec: str, e: BaseException) -> "TokenizerLoadError":
        """One-line error naming ``name@version``, its spec and the cause.

        >>> from blt.serve.tokenizer_registry import TokenizerLoadError
        >>> str(TokenizerLoadError.wrap("x@1", "encoding:x", ValueError("unknown\\nencoding")))
        "cannot load tokenizer x@1 from spec 'encoding:x': unknown encoding"
        """
        return cls(f"cannot load tokenizer {ref} from spec {spec!r}: {' '.join(str(e).split())}")


@dataclass(frozen=True)
class TokenizerEntry:
    """One registered tokenizer version: the Python object and its native core."""

    name: str
    version: str
    tokenizer: Any = field(repr=False)
    native: "_core.Tokenizer" = field(repr=False)
    spec: Optional[str] = None

    def decode_bytes(self, ids: Any) -> bytes:
        """Bytes of ``ids``: the tokenizer's ``decode_bytes``, else its ``decode`` (a ``str``
        result is sent as UTF-8).

        >>> import blt
        >>> from blt.serve import TokenizerRegistry
        >>> TokenizerRegistry().load("bytes", "1", blt.ByteTokenizer()).decode_bytes([1, 76, 109, 2])
        b'Hi'
        """
        tok = self.tokenizer
        get = getattr(tok, "decode_bytes", None)
        out = get(ids) if callable(get) else tok.decode(ids)
        if isinstance(out, str):
            return out.encode("utf-8", "surrogatepass")
        return bytes(out)

    @property
    def native_decode(self) -> bool:
        """Whether the native core decodes exactly as the tokenizer's own ``decode`` (true for
        blt's ByteTokenizer and BPETokenizer, not for subclasses or other objects), so decoding
        can run in the native batch engine.

        >>> import blt
        >>> from blt.serve import TokenizerRegistry
        >>> TokenizerRegistry().load("bytes", "1", blt.ByteTokenizer()).native_decode
        True
        """
        return type(self.tokenizer) in (ByteTokenizer, BPETokenizer)

    @property
    def key(self) -> str:
        """``name@version``.

        >>> import blt
        >>> from blt.serve import TokenizerRegistry
        >>> TokenizerRegistry().load("bytes", "1", blt.ByteTokenizer()).key
        'bytes@1'
        """
        return f"{self.name}@{self.version}"


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


def tokenizer_from_spec(spec: str, *, vocab_dir: Optional[str] = None) -> Any:
    """Build a tokenizer from a config spec string.

    ``bytes`` or ``bytes:content_type=text,bos=false,eos=true,strip_bom=true`` give a ByteTokenizer
    (``meta=`` is the deprecated spelling of ``content_type=``);
    ``encoding:NAME`` calls ``blt.get_encoding(NAME, vocab_dir=vocab_dir)`` (r50k_base, p50k_base,
    cl100k_base, o200k_base; the rank file is looked up in ``vocab_dir`` (config ``vocab_dir``),
    then ``$BLT_VOCAB_DIR``, then tiktoken's cache); special-token text in a request is then a
    400 error, as ``enc.encode`` raises;
    ``python:package.module:factory`` calls a factory function with no arguments.

    >>> from blt.serve.tokenizer_registry import tokenizer_from_spec
    >>> tokenizer_from_spec("bytes:content_type=text,eos=false")
    ByteTokenizer(bos=True, eos=False, content_type='text', strip_bom=False, dtype='uint16')
    """
    kind, _, rest = spec.partition(":")
    kind = kind.strip()
    if kind == "bytes":
        opts: Dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"tokenizer spec {spec!r}: expected key=value, got {item!r}")
            if key in ("bos", "eos", "strip_bom"):
                opts[key] = _parse_bool(value)
            elif key in ("content_type", "meta"):
                if key == "meta":
                    deprecated_call(f"tokenizer spec {spec!r}: meta=", "content_type=")
                opts["content_type"] = value or None
            else:
                raise ValueError(f"tokenizer spec {spec!r}: unknown byte option {key!r}")
        return ByteTokenizer(**opts)
    if kind == "encoding":
        name = rest.strip()
        if not name:
            raise ValueError(f"tokenizer spec {spec!r}: expected encoding:NAME, e.g. encoding:cl100k_base")
        return get_encoding(name, vocab_dir=vocab_dir)
    if kind == "python":
        module, _, attr = rest.strip().partition(":")
        if not module or not attr:
            raise ValueError(f"tokenizer spec {spec!r}: expected python:package.module:factory")
        return getattr(importlib.import_module(module), attr)()
    raise ValueError(f"unknown tokenizer spec {spec!r} (expected bytes[:opts], encoding:NAME or "
                     "python:module:factory)")


class TokenizerRegistry:
    """Tokenizers by ``name@version`` with an atomically switchable active version per name.

    >>> import blt
    >>> from blt.serve import TokenizerRegistry
    >>> reg = TokenizerRegistry()
    >>> reg.load("bytes", "1", blt.ByteTokenizer()).key
    'bytes@1'
    >>> reg.load("bytes", "2", "bytes:content_type=text").key
    'bytes@2'
    >>> reg.resolve("bytes").key, reg.resolve("bytes@2").key
    ('bytes@1', 'bytes@2')
    >>> reg.activate("bytes", "2").key
    'bytes@2'
    >>> reg.resolve(None).key
    'bytes@2'
    """

    def __init__(self, default: Optional[str] = None, *, vocab_dir: Optional[str] = None) -> None:
        self._vocab_dir = vocab_dir  # for encoding:NAME specs
        self._lock = threading.Lock()
        self._entries: Dict[str, TokenizerEntry] = {}
        self._active: Dict[str, TokenizerEntry] = {}
        self._default = default

    @classmethod
    def with_bytes(cls) -> "TokenizerRegistry":
        """A registry holding ``bytes@1`` (a default ByteTokenizer) as its default.

        >>> from blt.serve import TokenizerRegistry
        >>> TokenizerRegistry.with_bytes().default
        'bytes'
        """
        reg = cls()
        reg.load("bytes", "1", "bytes")
        return reg

    @property
    def default(self) -> Optional[str]:
        """Name used when a request names no tokenizer (the first name loaded, unless set)."""
        return self._default

    def load(self, name: str, version: str, tokenizer: Any, *, activate: Optional[bool] = None,
             warmup: bool = True) -> TokenizerEntry:
        """Register ``name@version`` (a tokenizer object or a spec string) and warm it up.

        ``activate=None`` activates it only when ``name`` has no active version yet.
        """
        if not name or "@" in name or "/" in name:
            raise ValueError(f"invalid tokenizer name {name!r} (non-empty, no '@' or '/')")
        version = str(version)
        if not version or "@" in version or "/" in version:
            raise ValueError(f"invalid tokenizer version {version!r}")
        spec = tokenizer if isinstance(tokenizer, str) else None
        obj = tokenizer_from_spec(tokenizer, vocab_dir=self._vocab_dir) if spec is not None else tokenizer
        entry = TokenizerEntry(name, version, obj, native_tokenizer(obj), spec)
        if warmup and hasattr(obj, "encode"):
            obj.encode(WARMUP_TEXT)  # builds lazy tables and touches the code before traffic
        with self._lock:
            if entry.key in self._entries:
                raise ValueError(f"tokenizer {entry.key} is already loaded")
            self._entries[entry.key] = entry
            if activate or (activate is None and name not in self._active):
                self._active[name] = entry
            if self._default is None:
                self._default = name
        return entry

    def activate(self, name: str, version: str) -> TokenizerEntry:
        """Make ``name@version`` the version that ``name`` resolves to; returns it."""
        with self._lock:
            entry = self._loaded(name, version)
            self._active[name] = entry
            return entry

    def unload(self, name: str, version: str) -> None:
        """Forget an inactive version (requests already holding it finish normally)."""
        with self._lock:
            entry = self._loaded(name, version)
            if self._active.get(name) is entry:
                raise ValueError(f"tokenizer {entry.key} is active; activate another version first")
            del self._entries[entry.key]

    def _loaded(self, name: str, version: str) -> TokenizerEntry:
        """The loaded entry ``name@version`` (UnknownTokenizer if none); call with the lock held."""
        key = f"{name}@{version}"
        entry = self._entries.get(key)
        if entry is None:
            raise UnknownTokenizer(f"tokenizer {key} is not loaded")
        return entry

    def resolve(self, ref: Optional[str] = None) -> TokenizerEntry:
        """The entry for ``name@version``, the active version of ``name``, or of the default."""
        ref = ref or self._default
        if ref is None:
            raise UnknownTokenizer("no tokenizer is loaded")
        if "@" in ref:
            entry = self._entries.get(ref)
        else:
            entry = self._active.get(ref)
        if entry is None:
            raise UnknownTokenizer(f"unknown tokenizer {ref!r}; loaded: {sorted(self._entries)}")
        return entry

    def describe(self) -> List[Dict[str, Any]]:
        """One dict per loaded version: name, version, key, active, n_vocab, spec."""
        with self._lock:
            entries = list(self._entries.values())
            active = dict(self._active)
        return [
            {
                "name": e.name,
                "version": e.version,
                "key": e.key,
                "active": active.get(e.name) is e,
                "default": e.name == self._default,
                "n_vocab": int(e.native.n_vocab),
                "spec": e.spec,
            }
            for e in sorted(entries, key=lambda e: (e.name, e.version))
        ]

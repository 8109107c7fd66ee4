"""ByteTokenizer: BLT byte-level ids (BOE=0, BOS=1, EOS=2, BPE delimiter=3, byte + 4)."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np

from . import _core
from ._inputs import BytesLike, with_surrogate_fallback, with_surrogate_fallback_batch
from .ragged import RaggedIds

CONTENT_TYPES = ("text", "audio", "image", "video", "bin")
DTYPES = ("uint16", "uint32", "int32", "int64")

_UNSET = object()


class ByteTokenizer:
    """Byte-level tokenizer with the ids of Meta's Byte Latent Transformer.

    Each byte ``b`` becomes ``b + 4``; ``BOS`` (1) and ``EOS`` (2) wrap a document by default;
    an optional content-type meta token (``text``, ``audio``, ``image``, ``video``, ``bin``) follows
    BOS, with ids 260-264, so ``n_vocab`` is 265.

    >>> import blt
    >>> tok = blt.ByteTokenizer()
    >>> tok.encode(b"Hi").tolist()
    [1, 76, 109, 2]
    >>> tok.decode(tok.encode("héllo"))
    b'h\\xc3\\xa9llo'

    With ``bpe=`` a BPE tokenizer (``BPETokenizer``, or a native encoder from its
    ``native(allowed_special=...)``) splits the text first and the BPE delimiter id 3 is put
    before the bytes of each of its tokens, as BLT's ``bpe_delim`` does (BOS, meta and EOS get
    none); ``Patcher.bpe()`` then gives BOS, the first delimiter, then one patch per token
    (its bytes and the next delimiter; the last token's bytes and EOS).

    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> blt.ByteTokenizer(bpe=enc).encode("Hi there").tolist()
    [1, 3, 76, 109, 3, 36, 120, 108, 105, 118, 105, 2]
    """

    BOE = 0
    BOS = 1
    EOS = 2
    BPE_DELIM = 3
    OFFSET = 4

    def __init__(
        self,
        *,
        bos: bool = True,
        eos: bool = True,
        meta: Optional[str] = None,
        strip_bom: bool = False,
        dtype: str = "uint16",
        bpe: Any = None,
    ) -> None:
        self._defaults = self._check(bos, eos, meta, strip_bom, dtype)
        self._bpe = bpe
        self._bpe_native = _bpe_encoder(bpe)

    @staticmethod
    def _check(bos: bool, eos: bool, meta: Optional[str], strip_bom: bool, dtype: str) -> tuple:
        if meta is not None and meta not in CONTENT_TYPES:
            raise ValueError(f"unknown content type {meta!r}; expected one of {CONTENT_TYPES}")
        dt = np.dtype(dtype).name
        if dt not in DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}; expected one of {DTYPES}")
        return (bool(bos), bool(eos), meta, bool(strip_bom), dt)

    def _codec(self, bos, eos, meta, strip_bom, dtype) -> tuple:
        d = self._defaults
        opts = self._check(
            d[0] if bos is _UNSET else bos,
            d[1] if eos is _UNSET else eos,
            d[2] if meta is _UNSET else meta,
            d[3] if strip_bom is _UNSET else strip_bom,
            d[4] if dtype is _UNSET else dtype,
        )
        if self._bpe_native is not None:
            return _core.BpeDelimitedCodec(self._bpe_native, opts[0], opts[1], opts[2], opts[3]), opts[4]
        return _core.ByteCodec(opts[0], opts[1], opts[2], opts[3]), opts[4]

    @property
    def bpe(self) -> Any:
        """The BPE tokenizer whose tokens are delimited (``bpe=``), or None.

        >>> import blt
        >>> blt.ByteTokenizer().bpe is None
        True
        """
        return self._bpe

    def native(self, **overrides) -> "_core.ByteCodec":
        """The native tokenizer (a ``blt._core.Tokenizer``) with these defaults and overrides.

        The file pipeline, batch engine and server take this object.

        >>> import blt
        >>> blt.ByteTokenizer().native(meta="text").n_vocab
        265
        """
        unknown = set(overrides) - {"bos", "eos", "meta", "strip_bom"}
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}")
        codec, _ = self._codec(
            overrides.get("bos", _UNSET),
            overrides.get("eos", _UNSET),
            overrides.get("meta", _UNSET),
            overrides.get("strip_bom", _UNSET),
            _UNSET,
        )
        return codec

    @property
    def n_vocab(self) -> int:
        """Number of ids: 260 BLT ids plus 5 content-type meta tokens.

        >>> import blt
        >>> blt.ByteTokenizer().n_vocab
        265
        """
        return int(_core.ByteCodec().n_vocab)

    @staticmethod
    def meta_id(content_type: str) -> int:
        """Id of a content-type meta token.

        >>> import blt
        >>> blt.ByteTokenizer.meta_id("image")
        262
        """
        return int(_core.ByteCodec.meta_id(content_type))

    def encode(
        self,
        data: BytesLike,
        *,
        bos=_UNSET,
        eos=_UNSET,
        meta=_UNSET,
        strip_bom=_UNSET,
        dtype=_UNSET,
    ) -> np.ndarray:
        """Encode one document; the input is read in place (no copy of bytes-like inputs).

        Keyword options override the tokenizer's defaults for this call only.

        >>> import blt
        >>> blt.ByteTokenizer().encode(b"\\xef\\xbb\\xbfA", meta="text", strip_bom=True).tolist()
        [1, 260, 69, 2]
        """
        codec, dt = self._codec(bos, eos, meta, strip_bom, dtype)
        return with_surrogate_fallback(data, lambda d: codec.encode(d, dt))

    def encode_batch(
        self,
        items: Iterable[BytesLike],
        *,
        num_threads: Optional[int] = None,
        bos=_UNSET,
        eos=_UNSET,
        meta=_UNSET,
        strip_bom=_UNSET,
        dtype=_UNSET,
    ) -> RaggedIds:
        """Encode many documents in parallel (GIL released) into one ragged result.

        >>> import blt
        >>> blt.ByteTokenizer(bos=False, eos=False).encode_batch(["a", b"bc"]).to_list()
        [[101], [102, 103]]
        """
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        codec, dt = self._codec(bos, eos, meta, strip_bom, dtype)
        seq: Sequence = items if isinstance(items, (list, tuple)) else list(items)
        ids, offsets = with_surrogate_fallback_batch(seq, lambda s: codec.encode_batch(s, dt, num_threads or 0))
        return RaggedIds(ids, offsets)

    def decode(self, ids) -> bytes:
        """Bytes of a sequence of ids; specials and meta tokens are skipped.

        >>> import blt
        >>> blt.ByteTokenizer().decode([1, 76, 109, 2])
        b'Hi'
        """
        arr = np.asarray(ids)
        if arr.size == 0:
            return b""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
        return _core.ByteCodec.decode(np.ascontiguousarray(arr.reshape(-1)))

    def decode_str(self, ids, errors: str = "replace") -> str:
        """Decode to ``str``; invalid UTF-8 is handled by ``errors`` as in ``bytes.decode``.

        >>> import blt
        >>> blt.ByteTokenizer().decode_str([1, 108, 109, 2])
        'hi'
        """
        return self.decode(ids).decode("utf-8", errors)

    def __repr__(self) -> str:
        bos, eos, meta, strip_bom, dt = self._defaults
        extra = "" if self._bpe is None else f", bpe={self._bpe!r}"
        return (
            f"ByteTokenizer(bos={bos}, eos={eos}, meta={meta!r}, strip_bom={strip_bom}, dtype={dt!r}{extra})"
        )


def _bpe_encoder(bpe: Any) -> Optional["_core.BpeEncoder"]:
    """The native BPE encoder behind ``bpe=`` (a BPETokenizer's default policy, or as given)."""
    if bpe is None:
        return None
    if isinstance(bpe, _core.BpeEncoder):
        return bpe
    get = getattr(bpe, "native", None)
    native = get() if callable(get) else None
    if not isinstance(native, _core.BpeEncoder):
        raise TypeError(
            f"bpe must be a blt.BPETokenizer or its native() encoder, got {type(bpe).__name__}"
        )
    return native


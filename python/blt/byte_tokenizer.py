"""ByteTokenizer: BLT byte-level ids (BOE=0, BOS=1, EOS=2, BPE delimiter=3, byte + 4).

``encode`` returns a NumPy array (``uint16`` by default), batches a :class:`blt.RaggedIds`;
``decode`` returns ``str`` (invalid UTF-8 replaced) and ``decode_bytes`` the exact bytes.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _blt_ids, _core
from ._deprecation import UNSET, deprecated_call, renamed
from ._inputs import BytesLike, encode_into, read_dtype, with_surrogate_fallback, with_surrogate_fallback_batch
from ._native import native_tokenizer
from ._threads import resolve_num_threads
from .ragged import RaggedIds

__all__ = ["ByteTokenizer", "CONTENT_TYPES", "DTYPES"]

CONTENT_TYPES = _blt_ids.CONTENT_TYPES
DTYPES = ("uint16", "uint32", "int32", "int64")

IdsLike = Union[npt.NDArray[Any], Iterable[int]]
_Options = Tuple[bool, bool, Optional[str], bool, str]  # bos, eos, content type, strip_bom, dtype
_Codec = Union["_core.ByteCodec", "_core.BpeDelimitedCodec"]


class ByteTokenizer:
    """Byte-level tokenizer with the ids of Meta's Byte Latent Transformer.

    Each byte ``b`` becomes ``b + 4``; ``BOS`` (1) and ``EOS`` (2) wrap a document by default;
    an optional content-type meta token (``text``, ``audio``, ``image``, ``video``, ``bin``) follows
    BOS, with ids 260-264, so ``n_vocab`` is 265. ``strip_bom`` drops one leading byte order mark:
    UTF-8 (``EF BB BF``), UTF-32 (``FF FE 00 00``, ``00 00 FE FF``) or UTF-16 (``FF FE``, ``FE FF``).

    >>> import blt
    >>> tok = blt.ByteTokenizer()
    >>> tok.encode(b"Hi").tolist()
    [1, 76, 109, 2]
    >>> tok.decode(tok.encode("héllo")), tok.decode_bytes(tok.encode("héllo"))
    ('héllo', b'h\\xc3\\xa9llo')

    With ``bpe=`` a BPE tokenizer (``BPETokenizer``, or a native encoder from its
    ``native(allowed_special=...)``) splits the text first and the BPE delimiter id 3 is put
    before the bytes of each of its tokens, as BLT's ``bpe_delim`` does (BOS, meta and EOS get
    none); ``Patcher.bpe()`` then gives BOS, the first delimiter, then one patch per token
    (its bytes and the next delimiter; the last token's bytes and EOS).

    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> blt.ByteTokenizer(bpe=enc).encode("Hi there").tolist()
    [1, 3, 76, 109, 3, 36, 120, 108, 105, 118, 105, 2]
    """

    BOE = _blt_ids.BOE
    BOS = _blt_ids.BOS
    EOS = _blt_ids.EOS
    BPE_DELIM = _blt_ids.BPE_DELIM
    OFFSET = _blt_ids.OFFSET

    def __init__(
        self,
        *,
        bos: bool = True,
        eos: bool = True,
        content_type: Optional[str] = None,
        strip_bom: bool = False,
        dtype: str = "uint16",
        bpe: Any = None,
        meta: Any = UNSET,
    ) -> None:
        content_type = renamed("ByteTokenizer", "meta", "content_type", meta, content_type)
        self._defaults = self._check(bos, eos, content_type, strip_bom, dtype)
        self._bpe = bpe
        self._bpe_native = None if bpe is None else native_tokenizer(bpe, _core.BpeEncoder, what="bpe")
        # encode() of a call that overrides nothing, built once as a one-argument builtin: a short
        # input's encode is then one native call (building a codec per call cost more than
        # encoding a few KB).
        codec, dt = self._codec(UNSET, UNSET, UNSET, UNSET, UNSET)
        self._default_encode = codec.encode_function(dt)

    @staticmethod
    def _check(bos: bool, eos: bool, content_type: Optional[str], strip_bom: bool, dtype: Any) -> _Options:
        if content_type is not None and content_type not in CONTENT_TYPES:
            raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES}")
        dt = read_dtype(dtype).name
        if dt not in DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}; expected one of {DTYPES}")
        return (bool(bos), bool(eos), content_type, bool(strip_bom), dt)

    def _codec(self, bos: Any, eos: Any, content_type: Any, strip_bom: Any, dtype: Any) -> Tuple[_Codec, str]:
        """The native codec and dtype name for these per-call options (UNSET: the default)."""
        d = self._defaults
        opts = self._check(
            d[0] if bos is UNSET else bos,
            d[1] if eos is UNSET else eos,
            d[2] if content_type is UNSET else content_type,
            d[3] if strip_bom is UNSET else strip_bom,
            d[4] if dtype is UNSET else dtype,
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

    @property
    def dtype(self) -> str:
        """The default id dtype of ``encode`` (``dtype=``).

        >>> import blt
        >>> blt.ByteTokenizer().dtype
        'uint16'
        """
        return self._defaults[4]

    def native(self, *, bos: Any = UNSET, eos: Any = UNSET, content_type: Any = UNSET,
               strip_bom: Any = UNSET, meta: Any = UNSET) -> _Codec:
        """The native tokenizer (a ``blt._core.Tokenizer``) with these defaults and overrides.

        The file pipeline, batch engine and server take this object.

        >>> import blt
        >>> blt.ByteTokenizer().native(content_type="text").n_vocab
        265
        """
        content_type = renamed("ByteTokenizer.native", "meta", "content_type", meta, content_type)
        return self._codec(bos, eos, content_type, strip_bom, UNSET)[0]

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
        bos: Any = UNSET,
        eos: Any = UNSET,
        content_type: Any = UNSET,
        strip_bom: Any = UNSET,
        dtype: Any = UNSET,
        meta: Any = UNSET,
        out: Optional[np.ndarray] = None,
    ) -> npt.NDArray[Any]:
        """Encode one document; the input is read in place (no copy of bytes-like inputs).

        Keyword options override the tokenizer's defaults for this call only. ``out``: a writable
        1-D C-contiguous array to write into (its dtype is the default ``dtype``), e.g. one
        buffer reused by a loop; returns the filled view ``out[:n]``, ValueError when too small.

        >>> import blt, numpy as np
        >>> blt.ByteTokenizer().encode(b"\\xef\\xbb\\xbfA", content_type="text", strip_bom=True).tolist()
        [1, 260, 69, 2]
        >>> buf = np.empty(1 << 16, dtype=np.uint16)
        >>> blt.ByteTokenizer().encode(b"Hi", out=buf).tolist()
        [1, 76, 109, 2]
        """
        if (bos is UNSET and eos is UNSET and content_type is UNSET and strip_bom is UNSET and dtype is UNSET
                and meta is UNSET and out is None):
            try:
                return self._default_encode(data)
            except UnicodeEncodeError:  # a str with lone surrogates: with_surrogate_fallback below
                pass
        content_type = renamed("ByteTokenizer.encode", "meta", "content_type", meta, content_type)
        if out is not None and dtype is UNSET and isinstance(out, np.ndarray):
            dtype = out.dtype
        codec, dt = self._codec(bos, eos, content_type, strip_bom, dtype)
        if out is None:
            return with_surrogate_fallback(data, lambda d: codec.encode(d, dt))
        if isinstance(out, np.ndarray) and out.dtype.name != dt:
            raise ValueError(f"out has dtype {out.dtype.name}, but dtype={dt} was asked for")
        return encode_into(codec, data, out)

    def encode_batch(
        self,
        items: Iterable[BytesLike],
        *,
        num_threads: Optional[int] = None,
        bos: Any = UNSET,
        eos: Any = UNSET,
        content_type: Any = UNSET,
        strip_bom: Any = UNSET,
        dtype: Any = UNSET,
        meta: Any = UNSET,
    ) -> RaggedIds:
        """Encode many documents in parallel (GIL released) into one ragged result.

        >>> import blt
        >>> blt.ByteTokenizer(bos=False, eos=False).encode_batch(["a", b"bc"]).to_list()
        [[101], [102, 103]]
        """
        threads = resolve_num_threads(num_threads)
        content_type = renamed("ByteTokenizer.encode_batch", "meta", "content_type", meta, content_type)
        codec, dt = self._codec(bos, eos, content_type, strip_bom, dtype)
        seq: Sequence[BytesLike] = items if isinstance(items, (list, tuple)) else list(items)
        ids, offsets = with_surrogate_fallback_batch(seq, lambda s: codec.encode_batch(s, dt, threads))
        return RaggedIds(ids, offsets)

    def decode_bytes(self, ids: IdsLike) -> bytes:
        """Bytes of a sequence of ids; specials and meta tokens are skipped.

        >>> import blt
        >>> blt.ByteTokenizer().decode_bytes([1, 76, 109, 2])
        b'Hi'
        """
        arr = np.asarray(ids)
        if arr.size == 0:
            return b""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
        return _core.ByteCodec.decode(np.ascontiguousarray(arr.reshape(-1)))

    def decode(self, ids: IdsLike, errors: str = "replace") -> str:
        """Text of a sequence of ids; invalid UTF-8 is handled by ``errors`` as in ``bytes.decode``
        (``"replace"``: U+FFFD, as tiktoken). Use :meth:`decode_bytes` for the exact bytes.

        >>> import blt
        >>> blt.ByteTokenizer().decode([1, 108, 109, 2])
        'hi'
        >>> blt.ByteTokenizer().decode([1, 259, 2])
        '\\ufffd'
        """
        return self.decode_bytes(ids).decode("utf-8", errors)

    def decode_str(self, ids: IdsLike, errors: str = "replace") -> str:
        """Deprecated: :meth:`decode` now returns ``str``.

        >>> import blt, warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     blt.ByteTokenizer().decode_str([1, 108, 109, 2])
        'hi'
        """
        deprecated_call("ByteTokenizer.decode_str", "ByteTokenizer.decode")
        return self.decode(ids, errors)

    def __reduce__(self) -> Tuple[Callable[..., "ByteTokenizer"], Tuple[Any, ...]]:
        """Pickle as the default options (and the ``bpe=`` tokenizer, pickled by itself).

        >>> import blt, pickle
        >>> pickle.loads(pickle.dumps(blt.ByteTokenizer(eos=False))).encode("A").tolist()
        [1, 69]
        """
        if self._bpe is not None and isinstance(self._bpe, _core.Tokenizer):
            raise TypeError("a ByteTokenizer whose bpe= is a native encoder cannot be pickled; "
                            "pass the BPETokenizer itself as bpe=")
        return (_byte_tokenizer, (self._defaults, self._bpe))

    def __repr__(self) -> str:
        bos, eos, content_type, strip_bom, dt = self._defaults
        extra = "" if self._bpe is None else f", bpe={self._bpe!r}"
        return (
            f"ByteTokenizer(bos={bos}, eos={eos}, content_type={content_type!r}, strip_bom={strip_bom}, "
            f"dtype={dt!r}{extra})"
        )


def _byte_tokenizer(defaults: _Options, bpe: Any) -> ByteTokenizer:
    """Unpickles a ByteTokenizer (see ``ByteTokenizer.__reduce__``)."""
    bos, eos, content_type, strip_bom, dtype = defaults
    return ByteTokenizer(bos=bos, eos=eos, content_type=content_type, strip_bom=strip_bom, dtype=dtype, bpe=bpe)

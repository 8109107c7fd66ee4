"""BPETokenizer: byte-level BPE with the ids of tiktoken and HF ``tokenizers``, on a C++ core.

Loading: :meth:`BPETokenizer.from_tiktoken` (rank files), :meth:`BPETokenizer.from_ranks`
(an in-memory ``{token bytes: rank}``, tiktoken's ``Encoding(...)`` arguments),
:meth:`BPETokenizer.from_gpt2` (``vocab.json`` + ``merges.txt``), :meth:`BPETokenizer.from_hf`
(``tokenizer.json``) and :func:`blt.get_encoding` for the OpenAI encodings. The file formats are
read and written by :mod:`blt.bpe_formats`. Tokenizers are immutable, thread-safe and pickle
deterministically (see ``BPETokenizer.__reduce__``).

Input: ``str`` (encoded as UTF-8) or any bytes-like object, read in place. Bytes that are not valid
UTF-8 are still encoded byte by byte, so ``decode_bytes(encode(b)) == b`` for every ``b``. A ``str``
holding lone surrogates (e.g. ``"\\ud800"``) is encoded as tiktoken does: each lone surrogate
becomes U+FFFD.

Output: ``encode`` returns a NumPy ``uint32`` array, not a list (long inputs hand their ids over
without a copy); batches return one :class:`blt.RaggedIds`. Call ``.tolist()`` for Python lists,
or use :mod:`blt.compat.tiktoken` (tiktoken's list-returning API over the same encoder).
``decode`` returns ``str`` (invalid UTF-8 replaced, as tiktoken) and ``decode_bytes`` ``bytes``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Collection, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from . import bpe_formats as formats
from ._inputs import (BytesLike, encode_into, fix_surrogates, with_surrogate_fallback,
                      with_surrogate_fallback_batch)
from ._patterns import GPT2_PATTERN
from ._threads import resolve_num_threads
from .bpe_formats import BYTE_TO_CHAR, byte_level_decode, byte_level_encode
from .bpe_decoding import BpeDecoding, IdsLike
from .bpe_results import EncodedPrefix, TokenOffsets
from .ragged import RaggedIds

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["BPETokenizer", "TokenOffsets", "EncodedPrefix", "GPT2_PATTERN", "BYTE_TO_CHAR",
           "byte_level_decode", "byte_level_encode"]

PathLike = Union[str, "os.PathLike[str]"]
SpecialSet = Union[AbstractSet[str], Literal["all"]]
SpecialCollection = Union[Collection[str], Literal["all"]]

_ALL: Literal["all"] = "all"  # the default of disallowed_special: `is _ALL` is the fast test for it


class BPETokenizer(BpeDecoding):
    """Byte-level BPE tokenizer (tiktoken / GPT-2 / HF ``tokenizers`` compatible ids).

    >>> import blt
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> enc.encode("hello world").tolist()
    [15339, 1917]
    >>> enc.decode(enc.encode("hello world"))
    'hello world'
    """

    __slots__ = ("_model", "_encoders", "_specials", "_special_set", "_default", "_ordinary",
                 "_encode_default", "_encode_ordinary", "_token_ids", "_pickle_as", "__weakref__")

    def __init__(self, model: "_core.BpeModel") -> None:
        """Wrap a native model; use the ``from_*`` constructors or :func:`get_encoding` instead."""
        self._model = model
        self._specials: Dict[str, int] = {t[0].decode("utf-8"): t[1] for t in model.specials}
        self._special_set = frozenset(self._specials)
        self._encoders: Dict[Tuple[AbstractSet[str], AbstractSet[str]], _core.BpeEncoder] = {}
        self._token_ids: Optional[Dict[bytes, int]] = None  # built on the first encode_single_token
        self._pickle_as: Optional[Tuple[Callable[..., "BPETokenizer"], Tuple[Any, ...]]] = None
        self._default = self._encoder(frozenset(), "all")
        self._ordinary = self._encoder(frozenset(), ())
        # encode(text) of the two default encoders as one-argument builtins (no method lookup, no
        # pybind11 argument dispatch): most of the fixed cost of encoding a short string.
        self._encode_default = self._default.encode_u32_function()
        self._encode_ordinary = self._ordinary.encode_u32_function()

    # ------------------------------------------------------------------------------ loading

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        *,
        pattern: Optional[str] = None,
        special_tokens: Optional[Dict[str, int]] = None,
        name: Optional[str] = None,
    ) -> "BPETokenizer":
        """Load a ``.tiktoken`` rank file (``base64(token) rank`` per line).

        ``pattern`` is the split regex and ``special_tokens`` maps special text to id. When
        ``pattern`` is None they are read from ``NAME.meta.json`` next to the file (written by
        :meth:`save`; same schema as ``pat_str``/``special_tokens``). Malformed lines raise
        ValueError naming the file and line.

        >>> import blt, os
        >>> enc = blt.BPETokenizer.from_tiktoken(os.path.join(VOCAB_DIR, "r50k_base.tiktoken"),
        ...     pattern=blt.bpe.GPT2_PATTERN, special_tokens={"<|endoftext|>": 50256})
        >>> enc.encode("hello world").tolist()
        [31373, 995]
        """
        return cls(formats.load_tiktoken(path, pattern, special_tokens, name))

    @classmethod
    def from_ranks(
        cls,
        mergeable_ranks: Mapping[bytes, int],
        *,
        pat_str: str,
        special_tokens: Optional[Mapping[str, int]] = None,
        name: str = "custom",
    ) -> "BPETokenizer":
        """A tokenizer from an in-memory vocabulary: tiktoken's ``Encoding(name, pat_str=,
        mergeable_ranks=, special_tokens=)`` arguments (token bytes -> rank, which is its id).

        >>> import blt
        >>> ranks = {bytes([b]): b for b in range(256)}
        >>> ranks[b"ab"] = 256
        >>> enc = blt.BPETokenizer.from_ranks(ranks, pat_str=r"\\w+|\\s+", special_tokens={"<eos>": 257})
        >>> enc.encode("abc ab<eos>", allowed_special="all").tolist()
        [256, 99, 32, 256, 257]
        """
        return cls(formats.load_ranks(mergeable_ranks, pat_str, special_tokens or {}, name))

    @classmethod
    def from_gpt2(
        cls,
        vocab_json: PathLike,
        merges_txt: PathLike,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Optional[Collection[str]] = None,
        name: Optional[str] = None,
    ) -> "BPETokenizer":
        """Load GPT-2 / RoBERTa style ``vocab.json`` (byte-level strings -> id) and ``merges.txt``.

        Ids equal HF ``tokenizers`` with ``BPE.from_file`` and a ``ByteLevel`` pre-tokenizer
        (``add_prefix_space=False``). ``special_tokens`` names vocab entries to treat as special
        text (default: ``<|endoftext|>`` if present).

        >>> import blt, os
        >>> enc = blt.BPETokenizer.from_gpt2(os.path.join(VOCAB_DIR, "gpt2_vocab.json"),
        ...                                  os.path.join(VOCAB_DIR, "gpt2_merges.txt"))
        >>> enc.encode("hello world").tolist()
        [31373, 995]
        """
        specials = None if special_tokens is None else list(special_tokens)
        return cls(formats.load_gpt2(vocab_json, merges_txt, specials, pattern, name))

    @classmethod
    def from_hf(cls, tokenizer_json: PathLike, *, ignore_post_processor: bool = False, name: Optional[str] = None) -> "BPETokenizer":
        """Load an HF ``tokenizer.json`` of a byte-level BPE model (GPT-2, RoBERTa, Llama 3, Qwen 2).

        Supported: model ``BPE`` (``ignore_merges`` honoured); pre-tokenizer ``ByteLevel``
        (``use_regex`` -> the GPT-2 regex) or ``Split`` (regex, ``Isolated``) followed by
        ``ByteLevel(use_regex=false)``, alone or in a ``Sequence``; ``add_prefix_space`` false;
        decoder ``ByteLevel``; ``added_tokens`` (special ones obey ``allowed_special``, others are
        always matched, as in HF; ``lstrip``/``rstrip`` swallow neighbouring whitespace; added tokens
        are matched leftmost-longest in one pass, while HF matches ``normalized=false`` ones before
        the others, which can differ only when added tokens overlap). Anything else (normalizers, WordPiece/Unigram, byte_fallback,
        dropout, truncation/padding, ...) raises NotImplementedError naming the field. A
        post-processor that adds tokens raises too unless ``ignore_post_processor=True``, in which
        case ids equal HF's ``encode(text, add_special_tokens=False)``.

        HF always splits added tokens out of the text: pass ``allowed_special="all"`` to
        :meth:`encode` for HF's ids.

        >>> import blt, os, tempfile
        >>> enc = blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)
        >>> path = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
        >>> enc.save(path, format="hf")
        >>> blt.BPETokenizer.from_hf(path).encode("hello world").tolist()
        [31373, 995]
        """
        return cls(formats.load_hf(tokenizer_json, ignore_post_processor, name))

    # ------------------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """Name of the encoding (e.g. ``cl100k_base``) or of the file it came from.

        >>> import blt
        >>> blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).name
        'r50k_base'
        """
        return self._model.name

    @property
    def pattern(self) -> str:
        """The split regex pieces are cut with before merging.

        >>> import blt
        >>> blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).pattern[:20]
        "'s|'t|'re|'ve|'m|'ll"
        """
        return self._model.pattern

    @property
    def n_vocab(self) -> int:
        """One more than the largest token id, specials included (tiktoken's ``n_vocab``).

        >>> import blt
        >>> blt.get_encoding("p50k_base", vocab_dir=VOCAB_DIR).n_vocab
        50281
        """
        return int(self._model.n_vocab)

    @property
    def max_token_value(self) -> int:
        """Largest token id.

        >>> import blt
        >>> blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).max_token_value
        50256
        """
        return self.n_vocab - 1

    @property
    def special_tokens(self) -> Dict[str, int]:
        """Special token text -> id (a copy).

        >>> import blt
        >>> blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).special_tokens
        {'<|endoftext|>': 50256}
        """
        return dict(self._specials)

    @property
    def special_tokens_set(self) -> AbstractSet[str]:
        """The special token texts.

        >>> import blt
        >>> sorted(blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).special_tokens_set)
        ['<|endoftext|>']
        """
        return self._special_set

    @property
    def eot_token(self) -> Optional[int]:
        """Id of ``<|endoftext|>``, or None if this vocabulary has none.

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).eot_token
        100257
        """
        return self._specials.get("<|endoftext|>")

    # ------------------------------------------------------------------------------ encoding

    def _encoder(self, allowed_special: SpecialSet, disallowed_special: SpecialCollection) -> "_core.BpeEncoder":
        allowed = self._special_set if allowed_special == "all" else frozenset(allowed_special)
        if disallowed_special == "all":
            disallowed = self._special_set - allowed
        else:
            disallowed = frozenset(disallowed_special)
        key = (allowed, disallowed)
        enc = self._encoders.get(key)
        if enc is None:
            enc = self._model.tokenizer(sorted(allowed), sorted(disallowed))
            if len(self._encoders) > 64:
                self._encoders.clear()
            self._encoders[key] = enc
        return enc

    def _pick(self, allowed_special: SpecialSet, disallowed_special: SpecialCollection) -> "_core.BpeEncoder":
        if not allowed_special and isinstance(disallowed_special, str) and disallowed_special == "all":
            return self._default
        return self._encoder(allowed_special, disallowed_special)

    def encode(
        self,
        text: BytesLike,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialCollection = _ALL,
        max_tokens: Optional[int] = None,
        out: Optional[np.ndarray] = None,
    ) -> np.ndarray:
        """Token ids of ``text`` (str or bytes-like) as a NumPy ``uint32`` array.

        The ids of inputs longer than 256 bytes are handed over without a copy, encoded with the
        GIL released; shorter inputs keep the GIL and get a new array (for a few ids, both are
        cheaper than the hand-over).

        Special tokens follow tiktoken: those in ``allowed_special`` (or ``"all"``) become their
        ids; text matching a ``disallowed_special`` one (default: every special not allowed)
        raises ValueError; specials in neither set are encoded as ordinary text.
        ``max_tokens=N`` returns only the first N ids (see :meth:`encode_prefix` to learn how
        much input they cover). Bytes that are not valid UTF-8 are encoded byte-level; a str
        with lone surrogates is encoded with each replaced by U+FFFD, as tiktoken does.
        ``out``: a writable 1-D C-contiguous array (uint32, int32, int64, or uint16 when the ids
        fit) to write into, e.g. one buffer reused by a loop; returns the filled view ``out[:n]``
        and raises ValueError when the ids do not fit.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode("hi<|endoftext|>", allowed_special="all").tolist()
        [6151, 100257]
        >>> enc.encode(b"\\xff hi").tolist()
        [187, 15960]
        """
        # The default call is written out rather than going through _pick and
        # with_surrogate_fallback: for a short string those Python calls cost more than encoding.
        if disallowed_special is _ALL and max_tokens is None and not allowed_special and out is None:
            encode = self._encode_default
        elif out is not None:
            if max_tokens is not None:
                raise ValueError("out= and max_tokens= cannot be combined")
            return encode_into(self._pick(allowed_special, disallowed_special), text, out)
        else:
            if max_tokens is not None:
                return self.encode_prefix(text, max_tokens, allowed_special=allowed_special,
                                          disallowed_special=disallowed_special).ids
            encode = self._pick(allowed_special, disallowed_special).encode
        try:
            return encode(text)
        except UnicodeEncodeError:  # with_surrogate_fallback, inlined
            if not isinstance(text, str):
                raise
            return encode(fix_surrogates(text))

    def encode_ordinary(self, text: BytesLike, *, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Token ids treating special-token text as ordinary text.

        ``out``: as for :meth:`encode`, an array to write into; returns the filled view.

        >>> import blt, numpy as np
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> len(enc.encode_ordinary("<|endoftext|>"))
        7
        >>> enc.encode_ordinary("hello world", out=np.empty(16, np.int32)).tolist()
        [15339, 1917]
        """
        if out is not None:
            return encode_into(self._ordinary, text, out)
        try:
            return self._encode_ordinary(text)
        except UnicodeEncodeError:  # with_surrogate_fallback, inlined
            if not isinstance(text, str):
                raise
            return self._encode_ordinary(fix_surrogates(text))

    def encode_prefix(
        self,
        text: BytesLike,
        max_tokens: int,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialCollection = "all",
    ) -> EncodedPrefix:
        """The first ``max_tokens`` ids of ``encode(text)`` and how many input bytes they cover.

        ``consumed`` counts bytes of the input (UTF-8 bytes for str) and may fall inside a
        character when a token ends mid-character. ``decode_bytes(ids) == data[:consumed]``
        (except for whitespace swallowed by HF ``lstrip``/``rstrip`` added tokens, which
        ``consumed`` covers). Encoding ``data[consumed:]`` separately gives the rest of the ids
        only at a safe cut (see :meth:`safe_split`), since pieces depend on their context.
        Encoding stops early; the rest is only scanned for disallowed specials (so this raises
        exactly when ``encode`` would).

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> ids, consumed = enc.encode_prefix("hello world, again", 2)
        >>> ids.tolist(), consumed
        ([15339, 1917], 11)
        """
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ValueError(f"max_tokens must be a non-negative integer, got {max_tokens!r}")
        enc = self._pick(allowed_special, disallowed_special)
        ids, consumed = with_surrogate_fallback(text, lambda d: enc.encode_prefix(d, max_tokens))
        return EncodedPrefix(ids, int(consumed))

    def encode_with_offsets(
        self,
        text: BytesLike,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialCollection = "all",
    ) -> TokenOffsets:
        """Ids plus each token's start byte offset, and start character offset for str input.

        A token that starts inside a multi-byte character gets that character's index.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> r = enc.encode_with_offsets("é hi")
        >>> r.byte_offsets.tolist(), r.char_offsets.tolist()
        ([0, 2], [0, 1])
        """
        enc = self._pick(allowed_special, disallowed_special)
        is_str = isinstance(text, str)
        ids, starts, chars = with_surrogate_fallback(text, lambda d: enc.encode_with_offsets(d, is_str))
        return TokenOffsets(ids, starts, chars)

    def count(self, text: BytesLike, *, allowed_special: SpecialSet = frozenset(),
              disallowed_special: SpecialCollection = "all") -> int:
        """Number of tokens ``encode`` would return, without building the array.

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).count("hello world")
        2
        """
        enc = self._pick(allowed_special, disallowed_special)
        return int(with_surrogate_fallback(text, enc.count))

    def encode_batch(
        self,
        items: Iterable[BytesLike],
        *,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialCollection = "all",
    ) -> RaggedIds:
        """Encode many texts in parallel (GIL released) into one :class:`blt.RaggedIds`.

        ``num_threads=None`` uses :func:`blt.get_num_threads` threads (every usable core unless
        set otherwise; 1 inside a DataLoader worker).

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode_batch(["hello world", b"hi"]).to_list()
        [[15339, 1917], [6151]]
        """
        threads = resolve_num_threads(num_threads)
        enc = self._pick(allowed_special, disallowed_special)
        seq: Sequence[BytesLike] = items if isinstance(items, (list, tuple)) else list(items)
        ids, offsets = with_surrogate_fallback_batch(seq, lambda s: enc.encode_batch(s, "uint32", threads))
        return RaggedIds(ids, offsets)

    def encode_ordinary_batch(self, items: Iterable[BytesLike], *, num_threads: Optional[int] = None) -> RaggedIds:
        """:meth:`encode_batch` treating special-token text as ordinary text (tiktoken's name).

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode_ordinary_batch(["hi", "<|endoftext|>"]).lengths().tolist()
        [1, 7]
        """
        return self.encode_batch(items, num_threads=num_threads, allowed_special=frozenset(), disallowed_special=())

    def encode_single_token(self, text_or_bytes: Union[str, bytes]) -> int:
        """Id of one whole token given as its bytes or text (a special token's text gives its
        id); KeyError if it is not one token of this vocabulary.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode_single_token(b" world"), enc.encode_single_token("<|endoftext|>")
        (1917, 100257)
        """
        if isinstance(text_or_bytes, str):
            special = self._specials.get(text_or_bytes)
            if special is not None:
                return special
            key = text_or_bytes.encode("utf-8")
        elif isinstance(text_or_bytes, (int, np.integer)):
            # bytes(n) would build n zero bytes (a MemoryError for a huge n), not look anything up
            raise TypeError(f"encode_single_token takes str or bytes, got {type(text_or_bytes).__name__}")
        else:
            key = bytes(text_or_bytes)
        table = self._token_ids
        if table is None:
            tokens, ids = self._model.vocab()
            table = self._token_ids = dict(zip(tokens, ids.tolist()))
        found = table.get(key)
        if found is None:
            raise KeyError(text_or_bytes)
        return int(found)

    def token_bytes(self, token_id: int) -> bytes:
        """Bytes of one token (ordinary or special).

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).token_bytes(1917)
        b' world'
        """
        return self._model.token_bytes(int(token_id))

    decode_single_token_bytes = token_bytes

    def token_byte_values(self) -> List[bytes]:
        """The bytes of every ordinary (non-special) token, sorted (tiktoken's method).

        >>> import blt
        >>> values = blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).token_byte_values()
        >>> len(values), values[:2]
        (50256, [b'\\x00', b'\\x01'])
        """
        tokens, _ = self._model.vocab()
        return sorted(tokens)

    def safe_split(self, window: BytesLike, target: int, *, allowed_special: SpecialSet = frozenset()) -> int:
        """A cut ``0 < p <= target`` in ``window`` after which encoding the two parts separately
        gives the same ids as encoding them together (0 if the window holds none).
        Never cuts inside an allowed special token.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.safe_split(b"one\\ntwo three", 6)
        4
        """
        return int(self._encoder(allowed_special, ()).safe_split(window, target))

    def native(self, allowed_special: SpecialSet = frozenset(), disallowed_special: SpecialCollection = "all") -> "_core.BpeEncoder":
        """The native encoder (a ``blt._core.Tokenizer``) for one special-token policy.

        The file pipeline, batch engine and server take this object; without arguments it has the
        default policy (no special allowed, all disallowed).

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.native(allowed_special="all").n_vocab
        100277
        """
        return self._pick(allowed_special, disallowed_special)

    # ------------------------------------------------------------------------------ saving

    def save(self, path: PathLike, format: Literal["tiktoken", "hf", "gpt2"] = "tiktoken") -> None:
        """Write the vocabulary so that loading it back encodes identically.

        - ``"tiktoken"``: ``path`` gets the rank file and ``NAME.meta.json`` beside it the pattern
          and specials (:meth:`from_tiktoken` reads both). Only for vocabularies whose merges
          follow the ranks (ValueError otherwise).
        - ``"hf"``: ``path`` is a ``tokenizer.json`` loadable by HF ``tokenizers`` (and
          :meth:`from_hf`) with the same ids (use ``allowed_special="all"`` here for HF's behaviour).
          Tiktoken ranks are written as every token split as merges, with ``ignore_merges``.
        - ``"gpt2"``: ``path`` is a directory that gets ``vocab.json`` and ``merges.txt``; only when
          every token is reachable by its merges (ValueError otherwise). Specials other than
          ``<|endoftext|>`` must be passed again to :meth:`from_gpt2`.

        >>> import blt, os, tempfile
        >>> enc = blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)
        >>> path = os.path.join(tempfile.mkdtemp(), "mine.tiktoken")
        >>> enc.save(path)  # the rank file and mine.meta.json (pattern and specials)
        >>> blt.BPETokenizer.from_tiktoken(path).encode("hello <|endoftext|>", allowed_special="all").tolist()
        [31373, 220, 50256]
        """
        formats.save(self._model, path, format)

    def to_transformers(self, **kwargs: Any) -> "PreTrainedTokenizerFast":
        """This vocabulary as a transformers ``PreTrainedTokenizerFast`` with the same ids, specials
        and offsets (``kwargs``: see :func:`blt.hf.bpe_to_transformers`).

        >>> import blt
        >>> blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).to_transformers()("hello world")["input_ids"]
        [31373, 995]
        """
        from .hf import bpe_to_transformers
        return bpe_to_transformers(self, **kwargs)

    # ------------------------------------------------------------------------------ pickling

    def __reduce__(self) -> Tuple[Callable[..., "BPETokenizer"], Tuple[Any, ...]]:
        """From :func:`get_encoding`: name, rank-file SHA-256 and path (found and checked again,
        never downloaded); else the vocabulary blob. Equal tokenizers pickle equal (``datasets``).

        >>> import blt, pickle
        >>> len(pickle.dumps(blt.get_encoding("r50k_base", vocab_dir=VOCAB_DIR))) < 500
        True
        """
        return self._pickle_as or (_from_blob, (self._model.to_blob(),))

    def __repr__(self) -> str:
        return f"<BPETokenizer {self.name!r} n_vocab={self.n_vocab}>"


def _from_blob(blob: bytes) -> BPETokenizer:
    return BPETokenizer(_core.BpeModel.from_blob(blob))

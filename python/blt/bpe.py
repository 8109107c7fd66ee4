"""BPETokenizer: byte-level BPE with the ids of tiktoken and HF ``tokenizers``, on a C++ core.

Loading: :meth:`BPETokenizer.from_tiktoken` (rank files), :meth:`BPETokenizer.from_gpt2`
(``vocab.json`` + ``merges.txt``), :meth:`BPETokenizer.from_hf` (``tokenizer.json``) and
:func:`get_encoding` for the OpenAI encodings. Tokenizers are immutable, thread-safe and pickle as
one compact blob.

Input: ``str`` (encoded as UTF-8) or any bytes-like object, read in place. Bytes that are not valid
UTF-8 are still encoded byte by byte, so ``decode_bytes(encode(b)) == b`` for every ``b``. A ``str``
holding lone surrogates (e.g. ``"\\ud800"``) is encoded as tiktoken does: each lone surrogate
becomes U+FFFD.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import AbstractSet, Any, Collection, Dict, Iterable, List, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from . import registry
from ._inputs import BytesLike, fix_surrogates, with_surrogate_fallback, with_surrogate_fallback_batch
from .ragged import RaggedIds

PathLike = Union[str, "os.PathLike[str]"]
SpecialSet = Union[AbstractSet[str], Literal["all"]]
SpecialCollection = Union[Collection[str], Literal["all"]]

GPT2_PATTERN = registry.GPT2_PATTERN
_ALL = "all"  # the default of disallowed_special: `is _ALL` is the fast test for it
_MAX_ID = 2**32 - 2  # ids are uint32; the top values are reserved as "none" markers


def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's printable stand-in character for each byte (the 'byte-level' alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR: Dict[int, str] = _bytes_to_unicode()
_CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# str.translate table: byte-level characters -> latin-1 character of their byte; every other
# character below U+0400 -> U+FFFF, which makes the final latin-1 encode fail (caught, reported).
_DECODE_TABLE = {cp: "\uffff" for cp in range(0x400)}
_DECODE_TABLE.update({ord(c): chr(b) for c, b in _CHAR_TO_BYTE.items()})
_ENCODE_TABLE = "".join(BYTE_TO_CHAR[b] for b in range(256))


def byte_level_decode(s: str) -> Optional[bytes]:
    """Bytes of a GPT-2 byte-level token string, or None if it uses other characters.

    >>> byte_level_decode("Ġhello")
    b' hello'
    """
    try:
        return s.translate(_DECODE_TABLE).encode("latin-1")
    except UnicodeEncodeError:
        return None


def byte_level_encode(b: bytes) -> str:
    """GPT-2 byte-level string of ``b`` (inverse of :func:`byte_level_decode`).

    >>> byte_level_encode(b" hello")
    'Ġhello'
    """
    return "".join(_ENCODE_TABLE[x] for x in b)


class TokenOffsets(NamedTuple):
    """Result of :meth:`BPETokenizer.encode_with_offsets`."""

    ids: np.ndarray  # uint32 token ids
    byte_offsets: np.ndarray  # int64 start byte of each token in the (UTF-8) input
    char_offsets: Optional[np.ndarray]  # int64 start character (str input only, else None)


class EncodedPrefix(NamedTuple):
    """Result of :meth:`BPETokenizer.encode_prefix`."""

    ids: np.ndarray  # the first max_tokens ids of the full encoding
    consumed: int  # input bytes (UTF-8 bytes for str) those ids cover


def _read_bytes(path: PathLike) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _tiktoken_sidecar(path: PathLike) -> Path:
    p = Path(path)
    stem = p.name[: -len(".tiktoken")] if p.name.endswith(".tiktoken") else p.name
    return p.with_name(stem + ".meta.json")


def _special_list(special_tokens: Dict[str, int], always: AbstractSet[str] = frozenset(),
                  lstrip: AbstractSet[str] = frozenset(), rstrip: AbstractSet[str] = frozenset()) -> List[tuple]:
    out = []
    for text, i in special_tokens.items():
        if not isinstance(text, str) or isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"special_tokens must map str to int, got {text!r}: {i!r}")
        if not 0 <= i < _MAX_ID:
            raise ValueError(f"special token {text!r} has id {i}, outside 0..{_MAX_ID - 1}")
        out.append((text.encode("utf-8"), i, text in always, text in lstrip, text in rstrip))
    return out


class BPETokenizer:
    """Byte-level BPE tokenizer (tiktoken / GPT-2 / HF ``tokenizers`` compatible ids).

    >>> import blt
    >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> enc.encode("hello world").tolist()
    [15339, 1917]
    >>> enc.decode(enc.encode("hello world"))
    'hello world'
    """

    __slots__ = ("_model", "_encoders", "_specials", "_special_set", "_default", "_ordinary",
                 "_encode_default", "_encode_ordinary", "__weakref__")

    def __init__(self, model: "_core.BpeModel") -> None:
        """Wrap a native model; use the ``from_*`` constructors or :func:`get_encoding` instead."""
        self._model = model
        self._specials: Dict[str, int] = {t[0].decode("utf-8"): t[1] for t in model.specials}
        self._special_set = frozenset(self._specials)
        self._encoders: Dict[tuple, Any] = {}
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
        if pattern is None:
            side = _tiktoken_sidecar(path)
            if not side.is_file():
                raise ValueError(f"{path}: pattern= is required (no {side.name} next to the file)")
            meta = json.loads(side.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("pat_str"), str):
                raise ValueError(f"{side}: expected an object with a string 'pat_str'")
            pattern = meta["pat_str"]
            if special_tokens is None:
                special_tokens = meta.get("special_tokens", {})
                if not isinstance(special_tokens, dict):
                    raise ValueError(f"{side}: 'special_tokens' must be an object")
            name = name if name is not None else meta.get("name")
        data = _read_bytes(path)
        name = name if name is not None else Path(path).name.split(".")[0]
        model = _core.BpeModel.from_tiktoken(data, str(path), name, pattern, _special_list(special_tokens or {}))
        return cls(model)

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
        vocab = _load_json(vocab_json)
        if not isinstance(vocab, dict):
            raise ValueError(f"{vocab_json}: expected a JSON object mapping token strings to ids")
        merges = _parse_merges_txt(merges_txt)
        if special_tokens is None:
            special_tokens = [t for t in ("<|endoftext|>",) if t in vocab]
        specials = {}
        for t in special_tokens:
            if t not in vocab:
                raise ValueError(f"{vocab_json}: special token {t!r} is not in the vocabulary")
            specials[t] = vocab[t]
        return cls._from_byte_level(
            vocab, merges, specials, (set(), set(), set()), pattern, False,
            name if name is not None else Path(vocab_json).name.split(".")[0],
            str(vocab_json), str(merges_txt), lambda i: f"{merges_txt}:{i}",
        )

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
        src = str(tokenizer_json)
        tj = _load_json(tokenizer_json)
        if not isinstance(tj, dict):
            raise ValueError(f"{src}: expected a JSON object")
        pattern = _hf_pattern(tj, src)
        _hf_check_unsupported(tj, src, ignore_post_processor)
        model = tj.get("model")
        if not isinstance(model, dict):
            raise ValueError(f"{src}: 'model' must be an object")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise ValueError(f"{src}: model.vocab must be an object mapping token strings to ids")
        raw_merges = model.get("merges", [])
        if not isinstance(raw_merges, list):
            raise ValueError(f"{src}: model.merges must be a list")
        merges: List[Tuple[str, str]] = []
        for i, m in enumerate(raw_merges):
            if isinstance(m, str):
                parts = m.split(" ")
            elif isinstance(m, list) and all(isinstance(x, str) for x in m):
                parts = m
            else:
                raise ValueError(f"{src}: model.merges[{i}] must be a string 'a b' or a pair of strings, got {m!r}")
            if len(parts) != 2:
                raise ValueError(f"{src}: model.merges[{i}] {m!r} does not have exactly two parts")
            merges.append((parts[0], parts[1]))
        added = tj.get("added_tokens") or []
        if not isinstance(added, list):
            raise ValueError(f"{src}: added_tokens must be a list")
        specials: Dict[str, int] = {}
        always, lstrip, rstrip = set(), set(), set()
        for i, t in enumerate(added):
            if not isinstance(t, dict) or not isinstance(t.get("content"), str) or isinstance(t.get("id"), bool) or not isinstance(t.get("id"), int):
                raise ValueError(f"{src}: added_tokens[{i}] must be an object with string 'content' and integer 'id'")
            if t.get("single_word"):
                raise NotImplementedError(f"{src}: added_tokens[{i}].single_word=true is not supported")
            specials[t["content"]] = t["id"]
            if not t.get("special", False):
                always.add(t["content"])
            if t.get("lstrip"):
                lstrip.add(t["content"])
            if t.get("rstrip"):
                rstrip.add(t["content"])
        whole = model.get("ignore_merges", False)
        if not isinstance(whole, bool):
            raise ValueError(f"{src}: model.ignore_merges must be a boolean")
        return cls._from_byte_level(
            vocab, merges, specials, (always, lstrip, rstrip), pattern, whole,
            name if name is not None else Path(src).parent.name or Path(src).stem,
            f"{src}: model.vocab", src, lambda i: f"{src}: model.merges[{i}]",
        )

    @classmethod
    def _from_byte_level(cls, vocab: dict, merges: List[Tuple[str, str]], specials: Dict[str, int],
                         flags: Tuple[AbstractSet[str], AbstractSet[str], AbstractSet[str]], pattern: str, whole_piece: bool, name: str,
                         vocab_src: str, merges_src: str, where) -> "BPETokenizer":
        special_ids = set(specials.values())
        tokens: List[bytes] = []
        ids: List[int] = []
        for s, i in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < _MAX_ID:
                raise ValueError(f"{vocab_src}: the id of {s!r} must be an integer in 0..{_MAX_ID - 1}, got {i!r}")
            b = byte_level_decode(s)
            if b is None or not b:
                if i in special_ids:
                    continue  # a special's own entry, not byte-level text: the special covers it
                raise ValueError(f"{vocab_src}: {s!r} is not a byte-level token string (GPT-2 byte alphabet)")
            tokens.append(b)
            ids.append(i)
        pairs = np.empty((len(merges), 2), dtype=np.uint32)
        for k, (a, b) in enumerate(merges):
            ia = vocab.get(a)
            ib = vocab.get(b)
            if ia is None or ib is None:
                raise ValueError(f"{where(k + 1)}: merge part {(a if ia is None else b)!r} is not in the vocabulary")
            if (a + b) not in vocab:
                raise ValueError(f"{where(k + 1)}: merged token {a + b!r} is not in the vocabulary")
            pairs[k, 0] = ia
            pairs[k, 1] = ib
        model = _core.BpeModel.from_parts(
            name, pattern, tokens, np.asarray(ids, dtype=np.uint32), pairs, whole_piece,
            _special_list(specials, *flags),
        )
        return cls(model)

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
    def special_tokens_set(self) -> frozenset:
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

    def _encoder(self, allowed_special: SpecialSet, disallowed_special: SpecialCollection):
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

    def _pick(self, allowed_special, disallowed_special):
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

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode("hi<|endoftext|>", allowed_special="all").tolist()
        [6151, 100257]
        >>> enc.encode(b"\\xff hi").tolist()
        [187, 15960]
        """
        # The default call is written out rather than going through _pick and
        # with_surrogate_fallback: for a short string those Python calls cost more than encoding.
        if disallowed_special is _ALL and max_tokens is None and not allowed_special:
            encode = self._encode_default
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

    def encode_ordinary(self, text: BytesLike) -> np.ndarray:
        """Token ids treating special-token text as ordinary text.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> len(enc.encode_ordinary("<|endoftext|>"))
        7
        """
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

    def count(
        self,
        text: BytesLike,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialCollection = "all",
    ) -> int:
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

        ``num_threads=None`` uses every usable core.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode_batch(["hello world", b"hi"]).to_list()
        [[15339, 1917], [6151]]
        """
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        enc = self._pick(allowed_special, disallowed_special)
        seq: Sequence = items if isinstance(items, (list, tuple)) else list(items)
        ids, offsets = with_surrogate_fallback_batch(seq, lambda s: enc.encode_batch(s, "uint32", num_threads or 0))
        return RaggedIds(ids, offsets)

    # ------------------------------------------------------------------------------ decoding

    def decode_bytes(self, ids) -> bytes:
        """Bytes of a sequence of ids (specials give their text). Unknown ids raise ValueError.

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).decode_bytes([15339, 1917])
        b'hello world'
        """
        if isinstance(ids, np.ndarray):
            return self._model.decode_bytes(ids.reshape(-1) if ids.ndim != 1 else ids)
        return self._model.decode_bytes(np.asarray(list(ids), dtype=np.int64))

    def decode(self, ids, errors: str = "replace") -> str:
        """Text of a sequence of ids; invalid UTF-8 is handled by ``errors`` (``bytes.decode``).

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).decode([15339, 1917])
        'hello world'
        """
        return self.decode_bytes(ids).decode("utf-8", errors)

    def decode_batch(self, batch, errors: str = "replace") -> List[str]:
        """Decode each item of a :class:`RaggedIds` or a sequence of id sequences.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.decode_batch(enc.encode_batch(["a b", "c"]))
        ['a b', 'c']
        """
        return [self.decode(x, errors) for x in batch]

    def decode_bytes_batch(self, batch) -> List[bytes]:
        """Bytes of each item of a batch.

        >>> import blt
        >>> enc = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc.decode_bytes_batch(enc.encode_batch(["hi", "there"]))
        [b'hi', b'there']
        """
        return [self.decode_bytes(x) for x in batch]

    def token_bytes(self, token_id: int) -> bytes:
        """Bytes of one token (ordinary or special).

        >>> import blt
        >>> blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).token_bytes(1917)
        b' world'
        """
        return self._model.token_bytes(int(token_id))

    decode_single_token_bytes = token_bytes

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

    def native(self, allowed_special: SpecialSet = frozenset(), disallowed_special: SpecialCollection = "all"):
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
        >>> path = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
        >>> enc.save(path, format="hf")
        >>> blt.BPETokenizer.from_hf(path).encode("hello world").tolist()
        [31373, 995]
        """
        m = self._model
        always = [t[0].decode("utf-8") for t in m.specials if t[2] or t[3] or t[4]]
        if format == "tiktoken":
            if always:
                raise ValueError(f"the tiktoken format cannot express HF added-token flags of {always!r}")
            ok, why = m.rank_file_equivalent()
            if not ok:
                raise ValueError(f"this vocabulary cannot be saved as a rank file: {why}")
            Path(path).write_bytes(m.format_tiktoken())
            meta = {"name": self.name, "pat_str": self.pattern, "special_tokens": self._specials}
            _tiktoken_sidecar(path).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        elif format == "hf":
            Path(path).write_text(json.dumps(self._hf_json(), ensure_ascii=False), encoding="utf-8")
        elif format == "gpt2":
            if always:
                raise ValueError(f"the gpt2 format cannot express HF added-token flags of {always!r}")
            if m.whole_piece_lookup:
                ok, why = m.tokens_self_merge()
                if not ok:
                    raise ValueError(f"merges alone do not reproduce this vocabulary ({why}); save as 'hf' or 'tiktoken'")
            vocab_map, merges = self._byte_level_vocab_and_merges()
            d = Path(path)
            d.mkdir(parents=True, exist_ok=True)
            (d / "vocab.json").write_text(json.dumps(vocab_map, ensure_ascii=False), encoding="utf-8")
            with open(d / "merges.txt", "w", encoding="utf-8") as f:
                f.write("#version: 0.2\n")
                for a, b in merges:
                    f.write(f"{a} {b}\n")
        else:
            raise ValueError(f"unknown format {format!r}; expected 'tiktoken', 'hf' or 'gpt2'")

    def _byte_level_vocab_and_merges(self) -> Tuple[Dict[str, int], List[Tuple[str, str]]]:
        toks, ids = self._model.vocab()
        strs = [byte_level_encode(t) for t in toks]
        by_id = dict(zip(ids.tolist(), strs))
        vocab_map = dict(zip(strs, ids.tolist()))
        for text, i in self._specials.items():
            # Specials join the model vocab so HF keeps their ids (it would renumber them otherwise).
            vocab_map.setdefault(text, i)
        merges = [(by_id[a], by_id[b]) for a, b in self._model.merge_list().tolist()]
        return vocab_map, merges

    def _hf_json(self) -> dict:
        vocab_map, merges = self._byte_level_vocab_and_merges()
        flags = {t[0].decode("utf-8"): t[2:] for t in self._model.specials}
        added = [
            {"id": i, "content": t, "single_word": False, "lstrip": flags[t][1], "rstrip": flags[t][2],
             "normalized": False, "special": not flags[t][0]}
            for t, i in sorted(self._specials.items(), key=lambda kv: kv[1])
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": self.pattern}, "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
                ],
            },
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": bool(self._model.whole_piece_lookup),
                "vocab": vocab_map,
                "merges": [f"{a} {b}" for a, b in merges],
            },
        }

    # ------------------------------------------------------------------------------ pickling

    def __reduce__(self):
        return (_from_blob, (self._model.to_blob(),))

    def __repr__(self) -> str:
        return f"<BPETokenizer {self.name!r} n_vocab={self.n_vocab}>"


def _from_blob(blob: bytes) -> BPETokenizer:
    return BPETokenizer(_core.BpeModel.from_blob(blob))


def _load_json(path: PathLike) -> Any:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e})") from None


def _parse_merges_txt(path: PathLike) -> List[Tuple[str, str]]:
    text = _read_bytes(path)
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e})") from None
    lines = s.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for n, line in enumerate(lines, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{n}: expected two tokens separated by one space, got {line!r}")
        out.append((parts[0], parts[1]))
    return out


def _as_list(x, what: str, src: str) -> list:
    if not isinstance(x, list):
        raise ValueError(f"{src}: {what} must be a list")
    return x


def _hf_pattern(tj: dict, src: str) -> str:
    """The split regex implied by the pre-tokenizer (Split + ByteLevel, or ByteLevel alone)."""
    pre = tj.get("pre_tokenizer")
    if pre is None:
        raise NotImplementedError(f"{src}: pre_tokenizer is null (byte-level BPE needs ByteLevel)")
    if not isinstance(pre, dict):
        raise ValueError(f"{src}: pre_tokenizer must be an object")
    steps = _as_list(pre.get("pretokenizers"), "pre_tokenizer.pretokenizers", src) if pre.get("type") == "Sequence" else [pre]
    pattern = None
    saw_byte_level = False
    for k, step in enumerate(steps):
        where = f"pre_tokenizer.pretokenizers[{k}]" if pre.get("type") == "Sequence" else "pre_tokenizer"
        if not isinstance(step, dict):
            raise ValueError(f"{src}: {where} must be an object")
        kind = step.get("type")
        if kind == "Split":
            if pattern is not None or saw_byte_level:
                raise NotImplementedError(f"{src}: {where}: only one split step before ByteLevel is supported")
            pat = step.get("pattern")
            if not isinstance(pat, dict) or not isinstance(pat.get("Regex"), str):
                raise NotImplementedError(f"{src}: {where}.pattern: only {{'Regex': ...}} patterns are supported")
            if step.get("behavior") != "Isolated":
                raise NotImplementedError(f"{src}: {where}.behavior={step.get('behavior')!r} (only 'Isolated')")
            if step.get("invert"):
                raise NotImplementedError(f"{src}: {where}.invert=true is not supported")
            pattern = pat["Regex"]
        elif kind == "ByteLevel":
            if saw_byte_level:
                raise NotImplementedError(f"{src}: {where}: a second ByteLevel step is not supported")
            saw_byte_level = True
            if step.get("add_prefix_space", False):
                raise NotImplementedError(f"{src}: {where}.add_prefix_space=true is not supported")
            if step.get("use_regex", True):
                if pattern is not None:
                    raise NotImplementedError(f"{src}: {where}.use_regex=true after a Split is not supported")
                pattern = GPT2_PATTERN
        else:
            raise NotImplementedError(f"{src}: {where}.type={kind!r} is not supported")
    if not saw_byte_level:
        raise NotImplementedError(f"{src}: pre_tokenizer has no ByteLevel step (not a byte-level BPE)")
    if pattern is None:
        raise NotImplementedError(f"{src}: pre_tokenizer has no split regex (ByteLevel use_regex=false alone)")
    return pattern


def _hf_check_unsupported(tj: dict, src: str, ignore_post_processor: bool) -> None:
    for field in ("normalizer", "truncation", "padding"):
        if tj.get(field) is not None:
            raise NotImplementedError(f"{src}: {field} is not supported (must be null)")
    model = tj.get("model")
    if isinstance(model, dict):
        if model.get("type", "BPE") != "BPE":
            raise NotImplementedError(f"{src}: model.type={model.get('type')!r} is not supported (only BPE)")
        if model.get("dropout") not in (None, 0, 0.0):
            raise NotImplementedError(f"{src}: model.dropout is not supported")
        if model.get("byte_fallback"):
            raise NotImplementedError(f"{src}: model.byte_fallback=true is not supported")
        for f in ("continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(f):
                raise NotImplementedError(f"{src}: model.{f} is not supported")
    dec = tj.get("decoder")
    dec_steps = dec.get("decoders") if isinstance(dec, dict) and dec.get("type") == "Sequence" else [dec]
    if not isinstance(dec_steps, list) or not dec_steps or not all(isinstance(d, dict) and d.get("type") == "ByteLevel" for d in dec_steps):
        raise NotImplementedError(f"{src}: decoder {dec!r} is not supported (only ByteLevel)")
    post = tj.get("post_processor")
    if post is not None:
        steps = post.get("processors") if isinstance(post, dict) and post.get("type") == "Sequence" else [post]
        for s in steps or []:
            kind = s.get("type") if isinstance(s, dict) else None
            if kind == "ByteLevel":
                continue  # offsets only
            if not ignore_post_processor:
                raise NotImplementedError(
                    f"{src}: post_processor {kind!r} adds tokens; pass ignore_post_processor=True to get "
                    f"HF's encode(..., add_special_tokens=False) ids"
                )


def get_encoding(name: str, *, vocab_dir: Optional[PathLike] = None) -> BPETokenizer:
    """One of the OpenAI encodings: ``r50k_base``, ``p50k_base``, ``cl100k_base``, ``o200k_base``.

    The rank file is looked up in ``vocab_dir``, ``$BLT_VOCAB_DIR`` and tiktoken's cache (see
    :mod:`blt.registry`); a missing file raises FileNotFoundError listing every place looked.
    Nothing is downloaded.

    >>> import blt
    >>> blt.get_encoding("o200k_base", vocab_dir=VOCAB_DIR).encode("hello world").tolist()
    [24912, 2375]
    """
    if name not in registry.ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(registry.list_encoding_names())}")
    info = registry.ENCODINGS[name]
    path = registry.find_rank_file(name, vocab_dir)
    st = path.stat()
    key = (name, str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        hit = _encoding_cache.get(key)
    if hit is not None:
        return hit  # tokenizers are immutable, so one instance serves every caller
    data = _read_bytes(path)
    registry.check_sha256(name, data, path)
    model = _core.BpeModel.from_tiktoken(data, str(path), name, info.pattern, _special_list(info.special_tokens))
    tok = BPETokenizer(model)
    if tok.n_vocab != info.n_vocab:
        raise ValueError(f"{path}: {name} should have n_vocab {info.n_vocab}, got {tok.n_vocab}")
    with _cache_lock:
        _encoding_cache[key] = tok
    return tok


_encoding_cache: Dict[tuple, BPETokenizer] = {}
_cache_lock = threading.Lock()

"""tiktoken's ``Encoding`` over bltok's native BPE encoder: the same methods, types and errors.

Methods return Python lists (``encode_to_numpy`` a NumPy ``uint32`` array); the ids come from the
native encoder, and the only copy is the one into the list. Input may also be bytes-like (encoded
as given, invalid UTF-8 byte-level). Encodings are immutable and thread-safe.
"""

from __future__ import annotations

import bisect
import heapq
from typing import AbstractSet, Any, Callable, Collection, Dict, List, Literal, NoReturn, Optional, Sequence, Set, Tuple, Union

import numpy as np
import numpy.typing as npt

from ... import _core, bpe_formats
from ..._inputs import fix_surrogates
from ...bpe import BPETokenizer

__all__ = ["Encoding", "raise_disallowed_special_token"]

AllowedSpecial = Union[Literal["all"], AbstractSet[str]]
DisallowedSpecial = Union[Literal["all"], Collection[str]]
Text = Union[str, bytes, bytearray, memoryview]

_DISALLOWED_MESSAGE = "Encountered text corresponding to disallowed special token"


def raise_disallowed_special_token(token: str) -> NoReturn:
    """Raise tiktoken's ValueError for special-token text found where it is disallowed."""
    raise ValueError(
        f"{_DISALLOWED_MESSAGE} {token!r}.\n"
        "If you want this text to be encoded as a special token, "
        f"pass it to `allowed_special`, e.g. `allowed_special={{{token!r}, ...}}`.\n"
        "If you want this text to be encoded as normal text, disable the check for this token "
        f"by passing `disallowed_special=(enc.special_tokens_set - {{{token!r}}})`.\n"
        "To disable this check for all special tokens, pass `disallowed_special=()`.\n"
    )


def _first_special(texts: Sequence[Text], tokens: Collection[str]) -> Optional[str]:
    """The disallowed special token that occurs first in the first text holding one."""
    for text in texts:
        s = text if isinstance(text, str) else bytes(text).decode("utf-8", "replace")
        hits = [(s.find(t), t) for t in tokens if t in s]
        if hits:
            return min(hits)[1]
    return None


class Encoding:
    """A BPE encoding with tiktoken's interface.

    >>> import blt.compat.tiktoken as tiktoken
    >>> enc = tiktoken.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
    >>> enc.encode("hello world"), enc.decode([15339, 1917])
    ([15339, 1917], 'hello world')
    """

    name: str
    max_token_value: int

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: Dict[bytes, int],
        special_tokens: Dict[str, int],
        explicit_n_vocab: Optional[int] = None,
    ) -> None:
        """An encoding from tiktoken's arguments: the split regex, ``{token bytes: rank}`` (ranks
        are ids and merge priorities) and ``{special text: id}``. ``explicit_n_vocab``, when given,
        must equal the number of tokens and ``max_token_value + 1`` (ValueError otherwise).

        >>> import blt.compat.tiktoken as tiktoken
        >>> ranks = {bytes([b]): b for b in range(256)}
        >>> ranks[b"ab"] = 256
        >>> enc = tiktoken.Encoding("tiny", pat_str=r"\\w+|\\s+", mergeable_ranks=ranks,
        ...                         special_tokens={"<eos>": 257})
        >>> enc.encode("abc ab<eos>", allowed_special="all")
        [256, 99, 32, 256, 257]
        """
        if explicit_n_vocab:
            top = max([*mergeable_ranks.values(), *special_tokens.values()], default=-1)
            if len(mergeable_ranks) + len(special_tokens) != explicit_n_vocab or top != explicit_n_vocab - 1:
                raise ValueError(f"{name}: explicit_n_vocab={explicit_n_vocab} but there are "
                                 f"{len(mergeable_ranks) + len(special_tokens)} tokens, the largest id {top}")
        model = bpe_formats.load_ranks(mergeable_ranks, pat_str, special_tokens, name)
        self._setup(model, pat_str, dict(mergeable_ranks))

    @classmethod
    def _from_model(cls, model: "_core.BpeModel") -> "Encoding":
        enc = cls.__new__(cls)
        enc._setup(model, model.pattern, None)
        return enc

    def _setup(self, model: "_core.BpeModel", pat_str: str, ranks: Optional[Dict[bytes, int]]) -> None:
        self.name = model.name
        self._model = model
        self._pat_str = pat_str
        self._ranks = ranks  # built from the model on first use when None
        self._tok = BPETokenizer(model)
        self._special_tokens: Dict[str, int] = self._tok.special_tokens
        self._special_token_values = set(self._special_tokens.values())
        self._special_set: Set[str] = set(self._special_tokens)
        self.max_token_value = self._tok.max_token_value
        # encode(text) -> list of the two common policies as one-argument builtins: the list is
        # built from the native ids directly (see benchmarks/RESULTS.md, "lists for tiktoken").
        self._encode_default = self._tok.native().encode_list_function()
        self._encode_ordinary = self._tok.native(disallowed_special=()).encode_list_function()
        self._loaded_by: Optional[Callable[..., "Encoding"]] = None
        self._pretokenizer: Optional[_core.Pretokenizer] = None  # made on first use
        self._sorted_tokens: Optional[List[bytes]] = None

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    @property
    def _mergeable_ranks(self) -> Dict[bytes, int]:
        """``{token bytes: rank}`` of the ordinary tokens (tiktoken's attribute)."""
        if self._ranks is None:
            tokens, ids = self._model.vocab()
            # GPT-2's vocab.json lists <|endoftext|> as a token too; tiktoken keeps it out of the ranks.
            specials = self._special_token_values
            self._ranks = {t: i for t, i in zip(tokens, ids.tolist()) if i not in specials}
        return self._ranks

    # ------------------------------------------------------------------------------ encoding

    def _native(self, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial) -> "_core.BpeEncoder":
        allowed = self._special_set if allowed_special == "all" else allowed_special
        return self._tok.native(allowed_special=allowed, disallowed_special=disallowed_special)

    def _raise_disallowed(self, texts: Sequence[Text], allowed_special: AllowedSpecial,
                          disallowed_special: DisallowedSpecial, error: ValueError) -> NoReturn:
        if not str(error).startswith(_DISALLOWED_MESSAGE):
            raise error
        allowed = self._special_set if allowed_special == "all" else allowed_special
        disallowed = self._special_set - set(allowed) if disallowed_special == "all" else disallowed_special
        token = _first_special(texts, disallowed)
        if token is None:
            raise error
        raise_disallowed_special_token(token)

    def encode_ordinary(self, text: Text) -> List[int]:
        """Token ids, encoding special-token text as ordinary text.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).encode_ordinary("<|endoftext|>")
        [27, 91, 437, 1659, 5239, 91, 29]
        """
        try:
            return self._encode_ordinary(text)
        except UnicodeEncodeError:
            if not isinstance(text, str):
                raise
            return self._encode_ordinary(fix_surrogates(text))

    def encode(self, text: Text, *, allowed_special: AllowedSpecial = frozenset(),
               disallowed_special: DisallowedSpecial = "all") -> List[int]:
        """Token ids of ``text``. Special-token text in ``allowed_special`` (or ``"all"``) becomes
        its id; text of a ``disallowed_special`` one (default: every special not allowed) raises
        ValueError; specials in neither set are ordinary text. A str with lone surrogates has them
        replaced by U+FFFD; bytes are encoded as given.

        >>> import blt.compat.tiktoken as tiktoken
        >>> enc = tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)
        >>> enc.encode("hello <|endoftext|>", allowed_special="all")
        [31373, 220, 50256]
        >>> enc.encode("<|endoftext|>")
        Traceback (most recent call last):
        ValueError: Encountered text corresponding to disallowed special token '<|endoftext|>'...
        """
        if not allowed_special and disallowed_special == "all":
            encode = self._encode_default
        else:
            encode = self._native(allowed_special, disallowed_special).encode_list
        try:
            try:
                return encode(text)
            except UnicodeEncodeError:
                if not isinstance(text, str):
                    raise
                return encode(fix_surrogates(text))
        except ValueError as e:
            self._raise_disallowed([text], allowed_special, disallowed_special, e)

    def encode_to_numpy(self, text: Text, *, allowed_special: AllowedSpecial = frozenset(),
                        disallowed_special: DisallowedSpecial = "all") -> npt.NDArray[np.uint32]:
        """:meth:`encode` as a NumPy ``uint32`` array, without building a list.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).encode_to_numpy("hello world")
        array([31373,   995], dtype=uint32)
        """
        allowed = self._special_set if allowed_special == "all" else allowed_special
        try:
            return self._tok.encode(text, allowed_special=allowed, disallowed_special=disallowed_special)
        except ValueError as e:
            self._raise_disallowed([text], allowed_special, disallowed_special, e)

    def encode_batch(self, text: Sequence[Text], *, num_threads: int = 8, allowed_special: AllowedSpecial = frozenset(),
                     disallowed_special: DisallowedSpecial = "all") -> List[List[int]]:
        """:meth:`encode` of each text, in parallel on up to ``num_threads`` threads.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).encode_batch(["hello world", "hi"])
        [[31373, 995], [5303]]
        """
        threads = max(1, min(int(num_threads), _core.usable_cores()))
        try:
            ragged = self._tok.encode_batch(text, num_threads=threads, disallowed_special=disallowed_special,
                                            allowed_special=self._special_set if allowed_special == "all" else allowed_special)
        except ValueError as e:
            self._raise_disallowed(list(text), allowed_special, disallowed_special, e)
        return ragged.to_list()

    def encode_ordinary_batch(self, text: Sequence[Text], *, num_threads: int = 8) -> List[List[int]]:
        """:meth:`encode_ordinary` of each text, in parallel.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).encode_ordinary_batch(["hi", "<|endoftext|>"])
        [[5303], [27, 91, 437, 1659, 5239, 91, 29]]
        """
        return self.encode_batch(text, num_threads=num_threads, disallowed_special=())

    def encode_single_token(self, text_or_bytes: Union[str, bytes]) -> int:
        """Id of the token whose text or bytes is ``text_or_bytes`` (specials included);
        KeyError if it is not one token.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).encode_single_token("hello")
        31373
        """
        key = text_or_bytes
        if isinstance(key, (bytes, bytearray)):
            try:  # str finds special tokens too, which tiktoken also accepts as bytes
                key = bytes(key).decode("utf-8")
            except UnicodeDecodeError:
                pass
        try:
            return self._tok.encode_single_token(key)
        except KeyError:
            raise KeyError(text_or_bytes) from None

    def _encode_bytes(self, text: bytes) -> List[int]:
        """Ids of arbitrary bytes as tiktoken makes them: the valid UTF-8 prefix is encoded as
        text, and the rest is merged with the prefix's last piece (so ``decode_bytes`` gives the
        bytes back).

        >>> import blt.compat.tiktoken as tiktoken
        >>> enc = tiktoken.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR)
        >>> enc._encode_bytes(b" \\xec\\x8b\\xa4\\xed")
        [62085]
        """
        data = bytes(text)
        try:
            data.decode("utf-8")
            return self.encode_ordinary(data)
        except UnicodeDecodeError as e:
            valid = e.start
        ids, starts, _ = self._tok.native(disallowed_special=()).encode_with_offsets(data[:valid], False)
        tokens: List[int] = ids.tolist()
        cut = len(tokens) - self._last_piece_len(data[:valid], tokens, starts)
        unstable = self._tok.decode_bytes(tokens[cut:]) + data[valid:]
        whole = self._mergeable_ranks.get(unstable)
        return tokens[:cut] + ([whole] if whole is not None else _byte_pair_encode(unstable, self._mergeable_ranks))

    def _encode_single_piece(self, text_or_bytes: Union[str, bytes]) -> List[int]:
        """BPE of ``text_or_bytes`` as one piece: no split pattern, no special tokens.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)._encode_single_piece("helloqqqq")
        [31373, 38227, 38227]
        """
        piece = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        whole = self._mergeable_ranks.get(piece)
        return [whole] if whole is not None else _byte_pair_encode(piece, self._mergeable_ranks) if piece else []

    def _encode_only_native_bpe(self, text: str) -> List[int]:
        """:meth:`encode_ordinary` with the split done piece by piece here (tiktoken's check).

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)._encode_only_native_bpe("hello world")
        [31373, 995]
        """
        data = fix_surrogates(text).encode("utf-8")
        if self._pretokenizer is None:
            self._pretokenizer = _core.Pretokenizer(self._model.pattern)
        ends = [0, *self._pretokenizer.split(data).tolist()]
        return [t for a, b in zip(ends, ends[1:]) for t in self._encode_single_piece(data[a:b])]

    def _last_piece_len(self, data: bytes, tokens: List[int], starts: npt.NDArray[np.int64]) -> int:
        """How many trailing ids more text could change, as tiktoken counts them: those of the
        last regex piece (none after a special token), widened over the whitespace tokens before
        a whitespace piece (a pattern like cl100k's ``\\s*[\\r\\n]+`` may join them)."""
        if not tokens or tokens[-1] in self._special_token_values:
            return 0
        specials = [k for k in range(len(tokens)) if tokens[k] in self._special_token_values]
        segment = int(starts[specials[-1] + 1]) if specials else 0
        if self._pretokenizer is None:
            self._pretokenizer = _core.Pretokenizer(self._model.pattern)
        ends = self._pretokenizer.split(data[segment:])
        piece_start = segment + (int(ends[-2]) if len(ends) > 1 else 0)
        n = int(np.count_nonzero(starts >= piece_start))
        if n and _all_space(self._tok.token_bytes(tokens[-n])):
            while n < len(tokens) and _all_space(self._tok.token_bytes(tokens[-n - 1])):
                n += 1
        return n

    def encode_with_unstable(self, text: Text, *, allowed_special: AllowedSpecial = frozenset(),
                             disallowed_special: DisallowedSpecial = "all") -> Tuple[List[int], List[List[int]]]:
        """The ids that more text cannot change, and every id sequence the rest may continue as
        (tiktoken's API, itself marked unstable there): ``text`` starts with the stable ids'
        bytes, and each completion's bytes start with the rest of ``text``.

        >>> import blt.compat.tiktoken as tiktoken
        >>> enc = tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR)
        >>> stable, completions = enc.encode_with_unstable("hello fanta")
        >>> stable, [31373, 277, 4910] in [stable + c for c in completions]
        ([31373], True)
        """
        allowed = self._special_set if allowed_special == "all" else allowed_special
        try:
            found = self._tok.encode_with_offsets(text, allowed_special=allowed, disallowed_special=disallowed_special)
        except ValueError as e:
            self._raise_disallowed([text], allowed_special, disallowed_special, e)
        data = fix_surrogates(text).encode("utf-8") if isinstance(text, str) else bytes(text)
        tokens: List[int] = found.ids.tolist()
        n = self._last_piece_len(data, tokens, found.byte_offsets)
        if n == 0:
            return tokens, []
        unstable = self._tok.decode_bytes(tokens[-n:])
        ranks = self._mergeable_ranks
        if self._sorted_tokens is None:
            self._sorted_tokens = sorted(ranks)
        ordered = self._sorted_tokens
        out: Set[Tuple[int, ...]] = set()
        i = bisect.bisect_left(ordered, unstable)
        while i < len(ordered) and ordered[i].startswith(unstable):  # one token covering it all
            out.add((ranks[ordered[i]],))
            i += 1
        for k in range(1, len(unstable)):  # a token that starts inside it
            prefix, suffix = unstable[:k], unstable[k:]
            i = bisect.bisect_left(ordered, suffix)
            while i < len(ordered) and ordered[i].startswith(suffix):
                joined = prefix + ordered[i]
                try:
                    joined.decode("utf-8")
                    ids = self.encode_ordinary(joined)
                except UnicodeDecodeError:
                    ids = _byte_pair_encode(joined, ranks)
                seq: List[int] = []
                covered = 0
                for t in ids:
                    seq.append(t)
                    covered += len(self._tok.token_bytes(t))
                    if covered >= len(unstable):
                        break
                out.add(tuple(seq))
                i += 1
        last = _last_char(unstable)
        if len(unstable) > 1 and last is not None and last[0] in _WHITE_SPACE and len(unstable) > last[1]:
            cut = len(unstable) - last[1]  # the trailing whitespace character may split off
            out.add(tuple(_byte_pair_encode(unstable[:cut], ranks) + _byte_pair_encode(unstable[cut:], ranks)))
        return tokens[:-n], [list(c) for c in out]

    # ------------------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """Bytes of ``tokens``; KeyError for an id that is not a token.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_bytes([31373, 995])
        b'hello world'
        """
        try:
            return self._tok.decode_bytes(tokens)
        except (ValueError, OverflowError) as e:
            raise KeyError(str(e)) from None

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Text of ``tokens``; bytes that are not UTF-8 are handled by ``errors`` (lossy by default).

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode([31373, 995])
        'hello world'
        """
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """Bytes of one token (specials included); KeyError if ``token`` is not one.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_single_token_bytes(31373)
        b'hello'
        """
        try:
            return self._tok.token_bytes(token)
        except (ValueError, OverflowError, TypeError):
            raise KeyError(token) from None

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> List[bytes]:
        """The bytes of each token.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_tokens_bytes([31373, 995])
        [b'hello', b' world']
        """
        return [self.decode_single_token_bytes(t) for t in tokens]

    def decode_with_offsets(self, tokens: Sequence[int]) -> Tuple[str, List[int]]:
        """The text and, for each token, the index of the first character holding its bytes.
        Raises UnicodeDecodeError if the tokens are not valid UTF-8 together.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_with_offsets([31373, 995])
        ('hello world', [0, 5])
        """
        parts = self.decode_tokens_bytes(tokens)
        offsets: List[int] = []
        chars = 0  # characters started so far: bytes that are not UTF-8 continuation bytes
        for b in parts:
            starts_inside = bool(b) and 0x80 <= b[0] < 0xC0
            offsets.append(max(0, chars - starts_inside))
            chars += sum(1 for c in b if not 0x80 <= c < 0xC0)
        return b"".join(parts).decode("utf-8", errors="strict"), offsets

    def decode_batch(self, batch: Sequence[Sequence[int]], *, errors: str = "replace", num_threads: int = 8) -> List[str]:
        """:meth:`decode` of each item (``num_threads`` is accepted for tiktoken's signature).

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_batch([[31373], [995]])
        ['hello', ' world']
        """
        try:
            return self._tok.decode_batch(batch, errors)  # the whole batch in one native call
        except UnicodeDecodeError:
            raise  # errors="strict" on invalid UTF-8, as decode raises it
        except (ValueError, OverflowError) as e:
            raise KeyError(str(e)) from None

    def decode_bytes_batch(self, batch: Sequence[Sequence[int]], *, num_threads: int = 8) -> List[bytes]:
        """:meth:`decode_bytes` of each item.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).decode_bytes_batch([[31373], [995]])
        [b'hello', b' world']
        """
        try:
            return self._tok.decode_bytes_batch(batch)
        except (ValueError, OverflowError) as e:
            raise KeyError(str(e)) from None

    # ------------------------------------------------------------------------------ vocabulary

    def token_byte_values(self) -> List[bytes]:
        """The bytes of every ordinary token, sorted.

        >>> import blt.compat.tiktoken as tiktoken
        >>> len(tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).token_byte_values())
        50256
        """
        return sorted(self._mergeable_ranks)

    @property
    def eot_token(self) -> int:
        """Id of ``<|endoftext|>`` (KeyError if the encoding has none).

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).eot_token
        100257
        """
        return self._special_tokens["<|endoftext|>"]

    @property
    def special_tokens_set(self) -> Set[str]:
        """The special token texts.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).special_tokens_set
        {'<|endoftext|>'}
        """
        return self._special_set

    def is_special_token(self, token: int) -> bool:
        """True if ``token`` is the id of a special token.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).is_special_token(50256)
        True
        """
        if not isinstance(token, int):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        return token in self._special_token_values

    @property
    def n_vocab(self) -> int:
        """``max_token_value + 1``.

        >>> import blt.compat.tiktoken as tiktoken
        >>> tiktoken.get_encoding("r50k_base", vocab_dir=VOCAB_DIR).n_vocab
        50257
        """
        return self.max_token_value + 1

    # ------------------------------------------------------------------------------ pickling

    def __reduce__(self) -> Tuple[Callable[..., "Encoding"], Tuple[Any, ...]]:
        # A registered encoding pickles as its name (loaded again on the other side), any other
        # as its native model.
        if self._loaded_by is not None:
            return (self._loaded_by, (self.name,))
        return (_from_blob, (self._model.to_blob(), self._pat_str))


def _from_blob(blob: bytes, pat_str: str) -> Encoding:
    enc = Encoding._from_model(_core.BpeModel.from_blob(blob))
    enc._pat_str = pat_str
    return enc


# Unicode White_Space (Rust's char::is_whitespace, which tiktoken uses; str.isspace also has \x1c-\x1f).
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                         + "".join(chr(c) for c in range(0x2000, 0x200B)))


def _last_char(data: bytes) -> Optional[Tuple[str, int]]:
    """The last character of ``data`` and its UTF-8 length, or None if it does not end in one."""
    for size in range(1, min(4, len(data)) + 1):
        try:
            text = data[-size:].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return (text, size) if len(text) == 1 else None
    return None


def _all_space(token: bytes) -> bool:
    return all(b in b" \n\t" for b in token)


def _byte_pair_encode(piece: bytes, ranks: Dict[bytes, int]) -> List[int]:
    """BPE of one piece: merge the adjacent pair whose joined bytes have the lowest rank (the
    leftmost among equals) until none is a token."""
    if len(piece) == 1:
        return [ranks[piece]]
    # parts are [start, end) byte ranges in a linked list; the heap holds candidate merges.
    ends = list(range(1, len(piece) + 1))
    prev = list(range(-1, len(piece) - 1))
    nxt = list(range(1, len(piece) + 1))
    alive = [True] * len(piece)
    heap: List[Tuple[int, int, int, int]] = []

    def push(i: int) -> None:
        j = nxt[i]
        if j < len(piece):
            rank = ranks.get(piece[i:ends[j]])
            if rank is not None:
                heapq.heappush(heap, (rank, i, ends[i], ends[j]))

    for i in range(len(piece) - 1):
        push(i)
    while heap:
        _, i, end_i, end_j = heapq.heappop(heap)
        j = nxt[i] if alive[i] else len(piece)
        if not alive[i] or ends[i] != end_i or j >= len(piece) or ends[j] != end_j:
            continue  # stale: one side was merged since
        ends[i] = ends[j]
        alive[j] = False
        nxt[i] = nxt[j]
        if nxt[j] < len(piece):
            prev[nxt[j]] = i
        push(i)
        if prev[i] >= 0:
            push(prev[i])
    out: List[int] = []
    i = 0
    while i < len(piece):
        out.append(ranks[piece[i:ends[i]]])
        i = nxt[i]
    return out

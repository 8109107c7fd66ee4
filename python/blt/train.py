"""Byte-level BPE training: learn a vocabulary from files, an iterator of texts, or piece counts.

The work runs in the native core (``blt_core/train``): pieces are pre-tokenized and counted in
parallel with 64-bit counts, then a merge loop with incremental pair counts learns the merges.
The result is a :class:`blt.BPETokenizer`, saved with ``save(path, format="tiktoken"|"hf"|"gpt2")``.

Rules, in both modes:

- The vocabulary budget ``vocab_size`` counts the 256 byte tokens and the special tokens.
- A word's pairs are counted overlapping (``"aaa"`` holds ``(a, a)`` twice), weighted by the
  word's count; the most frequent pair is merged everywhere, left to right, non-overlapping.
- Tie-break: among pairs of equal count, the smallest ``(left_id, right_id)`` wins (ids compared
  left first), so training is deterministic whatever the thread count.
- Training stops early when the best pair occurs fewer than ``min_frequency`` times.

Default mode: byte ``b`` is token ``b``, merges get ids 256, 257, ... in the order learned, special
tokens follow the last merge. The tokenizer encodes with tiktoken's rule (lowest-rank
concatenation first), so it saves exactly to all three formats. ``max_token_length`` bounds token
length in bytes.

``hf_compatible=True`` reproduces HF ``tokenizers``' ``BpeTrainer`` with a ``ByteLevel`` initial
alphabet merge for merge: special tokens get ids 0.., the 256 byte-level characters follow sorted
by code point, files are pre-tokenized line by line (as HF's ``train(files)`` reads them) and
``max_token_length`` follows HF's rule (a pair formed by a merge counts only if strictly shorter
than the limit). The tokenizer then applies the learned merges in order (HF semantics). One case
can differ: when a merge re-creates a token that already exists (its bytes reached by another
pair), HF queues that token's new pairs as separate heap entries and may learn one pair twice, at
two times; blt merges every occurrence of a pair at once. It did not occur on the shared corpus
(vocab 8k to 100k), where the merges and vocabularies are identical.

``memcap`` bounds the piece table. After each 8 MiB of input (a fixed amount, so the result does
not depend on the thread count), if the table holds more than ``memcap`` bytes, every piece seen
fewer than ``t`` times is dropped, for the smallest power of two ``t >= 2`` that shrinks the table
to half of ``memcap``. Dropped pieces that appear again are counted from zero, so rare pieces are
undercounted; frequent ones keep exact counts. What it costs (benchmarks/RESULTS.md, section
bench_train): on the 16 MB text corpus at vocab 32k, a memcap of half the unpruned table gave 1.6%
fewer bytes per token, a quarter 6%, an eighth 13%. Set it from the memory you can spare, not lower.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN
from ._threads import resolve_num_threads
from .bpe import BPETokenizer
from .bpe_formats import special_entries

PathLike = Union[str, "os.PathLike[str]"]
Text = Union[str, bytes, bytearray]
Source = Union[PathLike, Sequence[PathLike], Iterable[Text]]

# Split patterns by name; anything else is used as a regex (PCRE2).
PATTERNS: Dict[str, str] = {
    "gpt2": GPT2_PATTERN,
    "r50k": GPT2_PATTERN,
    "p50k": GPT2_PATTERN,
    "cl100k": CL100K_PATTERN,
    "o200k": O200K_PATTERN,
}

# Bytes of iterator text counted per native call: a fixed amount, so memcap pruning (checked
# after every call) happens at the same points whatever the thread count.
_BATCH_BYTES = 8 << 20


class TrainedMerges(NamedTuple):
    """What the trainer learned, before it becomes a tokenizer.

    ``tokens[i]`` is the bytes of ordinary token ``i`` (``b""`` at special ids); ``merges`` lists
    ``(left_id, right_id, result_id)`` in the order learned; ``special_tokens`` maps text to id.
    """

    tokens: List[bytes]
    merges: List[Tuple[int, int, int]]
    special_tokens: Dict[str, int]


def resolve_pattern(pattern: str) -> str:
    """The split regex for a pattern name (``gpt2``/``r50k``/``p50k``, ``cl100k``, ``o200k``) or
    the regex itself.

    >>> resolve_pattern("gpt2") == resolve_pattern("r50k")
    True
    """
    if not isinstance(pattern, str) or not pattern:
        raise TypeError(f"pattern must be a non-empty str (a name such as 'cl100k' or a regex), got {pattern!r}")
    return PATTERNS.get(pattern, pattern)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_specials(special_tokens: Sequence[str]) -> List[str]:
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of str, not a single str")
    out = list(special_tokens)
    for t in out:
        if not isinstance(t, str) or not t:
            raise TypeError(f"special_tokens must be non-empty str, got {t!r}")
    return out


def _check_common(vocab_size: int, special_tokens: Sequence[str], min_frequency: int,
                  max_token_length: Optional[int]) -> Tuple[int, List[str], int, Optional[int]]:
    vocab_size = _check_int("vocab_size", vocab_size, 1)
    specials = _check_specials(special_tokens)
    n_base = 256 + len(dict.fromkeys(specials))
    if vocab_size < n_base:
        raise ValueError(f"vocab_size {vocab_size} is below the 256 byte tokens + {n_base - 256} special tokens "
                         f"({n_base})")
    min_frequency = _check_int("min_frequency", min_frequency, 0)
    if max_token_length is not None:
        max_token_length = _check_int("max_token_length", max_token_length, 1)
    return vocab_size, specials, min_frequency, max_token_length


def _bar(enabled: bool, total: Optional[int], desc: str, unit: str, scale: bool = False) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, leave=False)


class _Learned(NamedTuple):
    tokens: List[bytes]
    merges: "np.ndarray[Any, np.dtype[np.uint32]]"  # (n, 3): left, right, result
    special_tokens: Dict[str, int]


def _learn(counter: _core.PieceCounter, vocab_size: int, specials: List[str], min_frequency: int,
           max_token_length: Optional[int], hf_compatible: bool, progress: bool) -> _Learned:
    bar = _bar(progress, vocab_size, "blt-train merges", "tok")
    on_merges: Optional[Callable[[int], None]] = None
    if bar is not None:
        def on_merges(done: int) -> None:
            bar.update(done - bar.n)
    try:
        out = _core.train_vocab(counter, vocab_size, specials, min_frequency, max_token_length, hf_compatible,
                                on_merges)
    finally:
        if bar is not None:
            bar.close()
    return _Learned(list(out["tokens"]), out["merges"], {t: int(i) for t, i in out["specials"]})


def _tokenizer(learned: _Learned, pattern: str, hf_compatible: bool, name: str) -> BPETokenizer:
    specials = special_entries(learned.special_tokens)
    if hf_compatible:
        ids = [i for i, t in enumerate(learned.tokens) if t]
        tokens = [learned.tokens[i] for i in ids]
        # HF keeps one rank per pair, the last: a pair can be learned twice only when a merge
        # re-creates a token that already exists.
        pairs = np.ascontiguousarray(learned.merges[:, :2])
        keys = (pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1]
        _, first_in_reverse = np.unique(keys[::-1], return_index=True)
        pairs = pairs[np.sort(len(keys) - 1 - first_in_reverse)]
        model = _core.BpeModel.from_parts(name, pattern, tokens, np.asarray(ids, dtype=np.uint32), pairs,
                                          False, specials)
    else:
        # Ranks = ids: the tiktoken rule (lowest-rank concatenation first) over the learned tokens.
        lines = b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(learned.tokens) if t)
        model = _core.BpeModel.from_tiktoken(lines, "<trained>", name, pattern, specials)
    return BPETokenizer(model)


def _counter_from_counts(counts: Mapping[Union[str, bytes], int]) -> _core.PieceCounter:
    if not isinstance(counts, Mapping):
        raise TypeError(f"counts must be a mapping of piece (str or bytes) to count, got {type(counts).__name__}")
    pieces: List[Union[str, bytes]] = []
    values: List[int] = []
    for piece, c in counts.items():
        if not isinstance(piece, (str, bytes)):
            raise TypeError(f"counts keys must be str or bytes, got {piece!r}")
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"the count of {piece!r} must be an int, got {c!r}")
        if not 0 <= c < 1 << 64:
            raise ValueError(f"the count of {piece!r} must be in 0..2**64-1, got {c}")
        pieces.append(piece)
        values.append(int(c))
    counter = _core.PieceCounter(PATTERNS["gpt2"])
    counter.add_pieces(pieces, values)
    if counter.n_pieces == 0:
        raise ValueError("counts holds no non-empty piece with a positive count: there is nothing to train on")
    return counter


def learn_merges_from_counts(
    counts: Mapping[Union[str, bytes], int],
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    hf_compatible: bool = False,
    progress: bool = False,
) -> TrainedMerges:
    """The raw training result (tokens, merges in order, specials) for pre-counted pieces.

    >>> from blt.train import learn_merges_from_counts
    >>> t = learn_merges_from_counts({"hug": 10, "pug": 5}, 258, min_frequency=1)
    >>> [t.tokens[i] for _, _, i in t.merges]
    [b'ug', b'hug']
    """
    vocab_size, specials, min_frequency, max_token_length = _check_common(
        vocab_size, special_tokens, min_frequency, max_token_length)
    counter = _counter_from_counts(counts)
    learned = _learn(counter, vocab_size, specials, min_frequency, max_token_length, hf_compatible, progress)
    merges = [(int(a), int(b), int(r)) for a, b, r in learned.merges.tolist()]
    return TrainedMerges(learned.tokens, merges, learned.special_tokens)


def train_bpe_from_counts(
    counts: Mapping[Union[str, bytes], int],
    vocab_size: int,
    *,
    pattern: str = "cl100k",
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    hf_compatible: bool = False,
    progress: bool = False,
    name: str = "trained",
) -> BPETokenizer:
    """Train byte-level BPE on pre-counted pieces (``{piece: count}``, counts up to 2**64 - 1).

    Each piece is one word: merges never cross pieces. ``pattern`` is only the split regex the
    returned tokenizer encodes with (a name: ``gpt2``, ``cl100k``, ``o200k``, or a regex). Counts
    whose pair occurrences (count times length - 1, summed) reach 2**63 raise OverflowError.

    >>> import blt
    >>> enc = blt.train_bpe_from_counts({"low": 5, " lower": 2, " newest": 6}, 262, min_frequency=1)
    >>> enc.decode(enc.encode(" newest low"))
    ' newest low'
    >>> enc.n_vocab
    262
    """
    pattern = resolve_pattern(pattern)
    vocab_size, specials, min_frequency, max_token_length = _check_common(
        vocab_size, special_tokens, min_frequency, max_token_length)
    learned = _learn(_counter_from_counts(counts), vocab_size, specials, min_frequency, max_token_length,
                     hf_compatible, progress)
    return _tokenizer(learned, pattern, hf_compatible, name)


def _source_paths(source: Source) -> Optional[List[str]]:
    """The files of a source that names files (a path, or a non-empty list/tuple of paths), else None."""
    if isinstance(source, (str, os.PathLike)):
        return [os.fspath(source)]
    if isinstance(source, (list, tuple)) and source and all(isinstance(p, (str, os.PathLike)) for p in source):
        return [os.fspath(p) for p in source]
    return None


def count_pieces(
    source: Source,
    *,
    pattern: str = "cl100k",
    num_threads: Optional[int] = None,
    memcap: Optional[int] = None,
    progress: bool = False,
    split_lines: bool = False,
) -> _core.PieceCounter:
    """Pre-tokenize ``source`` and count its distinct pieces natively (the first stage of
    :func:`train_bpe`, which documents ``source``). ``split_lines``: pre-tokenize every line on
    its own, as HF's ``train(files)`` does.

    >>> from blt.train import count_pieces
    >>> dict(count_pieces(iter(["a cat, a hat"]), pattern="gpt2").pieces())[b" a"]
    1
    """
    pattern = resolve_pattern(pattern)
    threads = resolve_num_threads(num_threads if num_threads is None else _check_int("num_threads", num_threads, 1))
    if memcap is not None:
        memcap = _check_int("memcap", memcap, 1)
    if isinstance(source, (bytes, bytearray)):
        raise TypeError("source must be a path, a list of paths or an iterable of str/bytes documents; "
                        "wrap a single text in a list and pass iter(...)")
    counter = _core.PieceCounter(pattern, split_lines, memcap, threads)
    paths = _source_paths(source)
    if paths is not None:
        _count_files(counter, paths, progress)
    else:
        _count_iterable(counter, source, progress)  # type: ignore[arg-type]  # not paths: texts
    return counter


def _count_files(counter: _core.PieceCounter, paths: List[str], progress: bool) -> None:
    sizes = []
    for p in paths:
        if os.path.isdir(p):
            raise IsADirectoryError(21, "Is a directory", p)
        try:
            sizes.append(os.path.getsize(p))
        except FileNotFoundError as e:
            if "\n" in p or len(p) > 4096:
                raise FileNotFoundError(2, "No such file (a list of str is a list of paths; pass texts "
                                           "as an iterator, e.g. iter(texts))", p[:80]) from None
            raise e
    bar = _bar(progress, sum(sizes), "blt-train count", "B", scale=True)
    try:
        before = 0
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                def on_bytes(done: int, base: int = before) -> None:
                    if bar is not None:
                        bar.update(base + done - bar.n)

                counter.count_fd(fd, p, on_bytes)
            finally:
                os.close(fd)
            before = counter.bytes_counted
    finally:
        if bar is not None:
            bar.close()


def _count_iterable(counter: _core.PieceCounter, docs: Iterable[Text], progress: bool) -> None:
    try:
        it = iter(docs)
    except TypeError:
        raise TypeError(f"source must be a path, a list of paths or an iterable of str/bytes, "
                        f"got {type(docs).__name__}") from None
    bar = _bar(progress, None, "blt-train count", "doc")
    batch: List[Text] = []
    size = 0
    try:
        for index, doc in enumerate(it):
            if not isinstance(doc, (str, bytes, bytearray)):
                raise TypeError(f"training text item {index} must be str or bytes, not {type(doc).__name__}")
            batch.append(doc)
            size += len(doc)
            if size >= _BATCH_BYTES:
                counter.count_documents(batch)
                if bar is not None:
                    bar.update(len(batch))
                batch, size = [], 0
        if batch:
            counter.count_documents(batch)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()


def train_bpe(
    source: Source,
    vocab_size: int,
    *,
    pattern: str = "cl100k",
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    memcap: Optional[int] = None,
    progress: bool = True,
    hf_compatible: bool = False,
    name: str = "trained",
) -> BPETokenizer:
    """Train a byte-level BPE tokenizer of ``vocab_size`` tokens (bytes and specials included).

    ``source``: a path, or a list/tuple of paths (read through the chunked file reader, in bounded
    memory), or any other iterable of ``str``/``bytes`` documents (a generator, ``iter(texts)``,
    a HF ``datasets`` column); a list of ``str`` is always a list of paths. ``pattern``: split
    regex name (``cl100k``, ``o200k``, ``gpt2``) or a regex. ``memcap``: bytes the piece table may
    hold (rare pieces are pruned beyond it, see the module docstring). ``hf_compatible``:
    reproduce HF ``BpeTrainer`` (``ByteLevel`` alphabet) merge for merge. ``num_threads``: None
    for all cores; the result is the same for any number. Ctrl-C stops cleanly
    (KeyboardInterrupt).

    >>> import blt
    >>> docs = ["the cat sat on the mat", "the dog sat on the log"] * 50
    >>> enc = blt.train_bpe(iter(docs), 300, pattern="gpt2", progress=False)
    >>> enc.decode(enc.encode("the cat sat"))
    'the cat sat'
    >>> len(enc.encode(" the")) == 1
    True
    """
    vocab_size, specials, min_frequency, max_token_length = _check_common(
        vocab_size, special_tokens, min_frequency, max_token_length)
    regex = resolve_pattern(pattern)
    paths = _source_paths(source)
    counter = count_pieces(source, pattern=regex, num_threads=num_threads, memcap=memcap, progress=progress,
                           split_lines=hf_compatible and paths is not None)
    if counter.n_pieces == 0:
        what = ", ".join(paths) if paths is not None else "the training texts"
        raise ValueError(f"{what}: no text to train on (the input is empty)")
    learned = _learn(counter, vocab_size, specials, min_frequency, max_token_length, hf_compatible, progress)
    return _tokenizer(learned, regex, hf_compatible, name)

"""Shared helpers for the BPE tests: reference encoders built offline from the shared vocab files,
slices of the corpus, text strategies."""

from __future__ import annotations

import json
import random
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from hypothesis import strategies as st

ENCODINGS = ["r50k_base", "cl100k_base", "o200k_base"]


@lru_cache(maxsize=None)
def tiktoken_ref(vocab_dir: Path, name: str):
    import tiktoken
    import tiktoken.load

    meta = json.loads((vocab_dir / f"{name}.meta.json").read_text())
    ranks = tiktoken.load.load_tiktoken_bpe(str(vocab_dir / f"{name}.tiktoken"))
    return tiktoken.Encoding(name, pat_str=meta["pat_str"], mergeable_ranks=ranks, special_tokens=meta["special_tokens"])


@lru_cache(maxsize=None)
def blt_enc(vocab_dir: Path, name: str):
    import blt

    return blt.get_encoding(name, vocab_dir=vocab_dir)


def random_slices(text: str, rng: random.Random, count: int, lengths: int | Sequence[int]) -> Iterator[str]:
    """``count`` slices of ``text`` at starts drawn from ``rng``, each ``lengths`` long or of a
    length drawn from ``lengths`` (shorter where the text ends)."""
    for _ in range(count):
        a = rng.randrange(len(text))
        yield text[a : a + (lengths if isinstance(lengths, int) else rng.choice(lengths))]


# Text that stresses the split patterns: every plane, whitespace runs, digits, apostrophes, emoji.
# tiktoken's regex crate and our scanners classify characters by Unicode 16; Python's unicodedata
# and HF tokenizers' Oniguruma know older versions, so HF comparisons use only characters assigned
# in this Python's tables (a character added later, e.g. U+13460, is classified differently there).
any_chars = st.characters(codec="utf-8")  # any scalar value of any plane (no surrogates)
assigned_chars = any_chars.filter(lambda c: unicodedata.category(c) != "Cn")


def _texts(chars):
    parts = st.one_of(
        chars,
        st.sampled_from(list(" \t\n\r\x0b\x0c\u00a0\u2028\u3000'’\"0123456789")),
        st.sampled_from(["'s", "'T", "'ll", "'Re", "'d", "'ve", "'M"]),
        st.sampled_from(["👍", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "\u0301", "é", "ǅ", "ß", "İ", "ﬀ", "𝔘", "𐍈", "中文", "한국어"]),
        st.text(alphabet=" \n\t", min_size=2, max_size=12),
        st.text(alphabet="0123456789", min_size=2, max_size=9),
    )
    return st.lists(parts, max_size=40).map("".join)


texts = _texts(any_chars)  # for tiktoken comparisons
texts_assigned = _texts(assigned_chars)  # for HF comparisons

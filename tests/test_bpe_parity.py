"""Acceptance 1 and 3: ids identical to tiktoken (built offline from the shared rank files) on every
corpus text file, random slices and generated text; decode inverts encode."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpe_helpers import ENCODINGS, any_chars, blt_enc, random_slices, texts, tiktoken_ref


@pytest.mark.parametrize("name", ENCODINGS)
def test_whole_corpus_files_match_tiktoken(vocab_dir, corpus_text_files, name):
    enc, ref = blt_enc(vocab_dir, name), tiktoken_ref(vocab_dir, name)
    assert corpus_text_files
    for path in corpus_text_files:
        text = path.read_text(encoding="utf-8")
        got = enc.encode(text, disallowed_special=())
        assert got.dtype == np.uint32
        want = ref.encode(text, disallowed_special=())
        if got.tolist() != want:
            g = got.tolist()
            i = next((k for k in range(min(len(g), len(want))) if g[k] != want[k]), min(len(g), len(want)))
            pytest.fail(f"{name} {path.name}: first difference at token {i}: {g[i:i+5]} vs {want[i:i+5]}")


@pytest.mark.parametrize("name", ENCODINGS + ["p50k_base"])
def test_random_slices_match_tiktoken(vocab_dir, corpus_text_files, name):
    enc, ref = blt_enc(vocab_dir, name), tiktoken_ref(vocab_dir, name)
    rng = random.Random(name)
    for path in corpus_text_files:
        text = path.read_text(encoding="utf-8")
        for s in random_slices(text, rng, 25, [1, 2, 7, 50, 600, 5000]):
            assert enc.encode_ordinary(s).tolist() == ref.encode_ordinary(s), (path.name, s[:40])


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=texts)
def test_generated_text_matches_tiktoken(vocab_dir, name, s):
    enc, ref = blt_enc(vocab_dir, name), tiktoken_ref(vocab_dir, name)
    ids = enc.encode_ordinary(s)
    assert ids.tolist() == ref.encode_ordinary(s)
    assert enc.decode(ids) == s
    assert enc.count(s, disallowed_special=()) == len(ids)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.text(alphabet=any_chars, max_size=30))
def test_lone_surrogates_become_replacement_as_in_tiktoken(vocab_dir, name, s):
    enc, ref = blt_enc(vocab_dir, name), tiktoken_ref(vocab_dir, name)
    t = s[: len(s) // 2] + "\ud800" + s[len(s) // 2 :] + "\udfff"
    assert enc.encode(t, disallowed_special=()).tolist() == ref.encode(t, disallowed_special=())


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=st.binary(max_size=200))
def test_arbitrary_bytes_round_trip(vocab_dir, name, b):
    enc = blt_enc(vocab_dir, name)
    ids = enc.encode(b, disallowed_special=())
    assert enc.decode_bytes(ids) == b
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return
    # Valid UTF-8 given as bytes encodes exactly like the str.
    assert ids.tolist() == tiktoken_ref(vocab_dir, name).encode(s, disallowed_special=())


def test_long_runs_of_one_character_match_tiktoken(vocab_dir):
    # Pieces like \s+ or [^\s\p{L}\p{N}]+ can be huge; the heap merge keeps them fast and exact.
    enc, ref = blt_enc(vocab_dir, "cl100k_base"), tiktoken_ref(vocab_dir, "cl100k_base")
    for s in ["!" * 20000, " " * 30001 + "x", "ab" * 10000, "\n" * 5000, "9" * 9999, "é" * 7000]:
        assert enc.encode_ordinary(s).tolist() == ref.encode_ordinary(s), s[:3]

"""Hash n-gram ids equal a NumPy transcription of byte_group_hash_function (explicit int64
wrap) for every group size and hash function, and the issue's check vector."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt
import _patch_reference as ref

PRIMES = [1000000007, 5915587277, 1500450271, 3267000013, 5754853343, 4093082899, 9576890767,
          3628273133, 2860486313, 5463458053, 3367900313]


def test_check_vector():
    out = blt.hash_ngrams([1, 76, 105, 112, 112, 115], group_sizes=[3], hash_functions=[0])
    assert out.dtype == np.int64 and out.shape == (6, 1)
    assert out[:, 0].tolist() == [443987, 124875, 393970, 386145, 358223, 190185]


def test_primes_exposed():
    assert list(blt.ngram_hash.NGRAM_HASH_PRIMES) == PRIMES


def test_every_size_and_function_on_corpus(corpus_dir):
    data = (corpus_dir / "multilingual.txt").read_bytes()[:3000] + (corpus_dir / "binary.bin").read_bytes()[:1000]
    ids = blt.ByteTokenizer().encode(data)
    sizes = list(range(1, 13))
    funcs = list(range(len(PRIMES)))
    out = blt.hash_ngrams(ids, group_sizes=sizes, hash_functions=funcs, max_hash=500002)
    assert out.shape == (len(ids), len(sizes) * len(funcs))
    for f in funcs:
        for s_i, size in enumerate(sizes):
            col = out[:, f * len(sizes) + s_i]  # function-major columns
            np.testing.assert_array_equal(col, ref.hash_ngrams(ids, size, PRIMES[f], 500002))


def test_defaults_and_threads(corpus_dir):
    ids = blt.ByteTokenizer().encode((corpus_dir / "en_prose.txt").read_bytes()[:300_000])
    one = blt.hash_ngrams(ids)
    assert one.shape == (len(ids), 6)
    np.testing.assert_array_equal(one, blt.hash_ngrams(ids, num_threads=2))  # ranges split inside
    buf = np.full_like(one, -1)
    assert blt.hash_ngrams(ids, out=buf) is buf
    np.testing.assert_array_equal(buf, one)
    with pytest.raises(ValueError, match="out must be"):
        blt.hash_ngrams(ids, out=np.zeros((len(ids), 5), dtype=np.int64))
    for i, size in enumerate(range(3, 9)):
        np.testing.assert_array_equal(one[:, i], ref.hash_ngrams(ids, size, PRIMES[0], 500002))


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 264), min_size=0, max_size=70),
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    funcs=st.lists(st.integers(0, 10), min_size=1, max_size=3),
    max_hash=st.sampled_from([1, 2, 7, 500002, 2**31 - 1, 2**40 + 15, 2**62]),
)
def test_random_equals_reference(ids, sizes, funcs, max_hash):
    ids = np.asarray(ids, dtype=np.int64)
    out = blt.hash_ngrams(ids, group_sizes=sizes, hash_functions=funcs, max_hash=max_hash)
    assert out.shape == (len(ids), len(sizes) * len(funcs))
    for fi, f in enumerate(funcs):
        for si, size in enumerate(sizes):
            np.testing.assert_array_equal(out[:, fi * len(sizes) + si],
                                          ref.hash_ngrams(ids, size, PRIMES[f], max_hash))


def test_batch_is_per_sequence():
    seqs = [[1, 76, 105], [1, 112, 112, 115], []]
    r = blt.hash_ngrams(seqs, group_sizes=[2, 3])
    assert isinstance(r, blt.RaggedIds)
    for got, s in zip(r, seqs):
        np.testing.assert_array_equal(got, blt.hash_ngrams(np.asarray(s, dtype=np.uint16), group_sizes=[2, 3]))


def test_bad_arguments():
    with pytest.raises(ValueError):
        blt.hash_ngrams([1, 2], max_hash=0)
    with pytest.raises(ValueError):
        blt.hash_ngrams([1, 2], hash_functions=[11])
    with pytest.raises(ValueError):
        blt.hash_ngrams([1, 2], group_sizes=[0])
    with pytest.raises(ValueError):
        blt.hash_ngrams([1, 999])


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 264), min_size=0, max_size=300),
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    funcs=st.lists(st.integers(0, 10), min_size=1, max_size=3),
    max_hash=st.sampled_from([1, 7, 500002, 2**31 - 1, 2**31]),
    threads=st.integers(1, 3),
)
def test_int32_equals_int64(ids, sizes, funcs, max_hash, threads):
    ids = np.asarray(ids, dtype=np.uint16)
    kw = dict(group_sizes=sizes, hash_functions=funcs, max_hash=max_hash, num_threads=threads)
    wide = blt.hash_ngrams(ids, **kw)
    narrow = blt.hash_ngrams(ids, dtype="int32", **kw)
    assert narrow.dtype == np.int32 and narrow.shape == wide.shape
    np.testing.assert_array_equal(narrow.astype(np.int64), wide)
    into = np.full(wide.shape, -1, dtype=np.int32)
    assert blt.hash_ngrams(ids, out=into, **kw) is into  # out's dtype is the default dtype
    np.testing.assert_array_equal(into, narrow)
    seqs = [ids[:5], ids[5:], ids[:0]]
    r32, r64 = blt.hash_ngrams(seqs, dtype=np.int32, **kw), blt.hash_ngrams(seqs, **kw)
    assert r32.ids.dtype == np.int32
    np.testing.assert_array_equal(r32.ids.astype(np.int64), r64.ids)


def test_int32_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match="2\\^31"):
        blt.hash_ngrams([1, 2, 3], max_hash=2**31 + 1, dtype="int32")
    with pytest.raises(ValueError, match="int32 or int64"):
        blt.hash_ngrams([1, 2, 3], dtype="int16")
    with pytest.raises(ValueError, match="out has dtype int64"):
        blt.hash_ngrams([1, 2, 3], group_sizes=[3], out=np.zeros((3, 1), np.int64), dtype="int32")
    with pytest.raises(ValueError, match="int32 array of shape"):
        blt.hash_ngrams([1, 2, 3], group_sizes=[3], out=np.zeros((3, 2), np.int32))

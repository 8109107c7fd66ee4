"""Patchers equal NumPy transcriptions of the reference rules, per sequence, on the corpus and on
random entropies; invariants of the lengths; chunked streaming equals one-shot patching."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt
import _patch_reference as ref

REF_THRESHOLD = 1.335442066192627
SETTINGS = settings(max_examples=150, deadline=None)


def expected_entropy(H, ids=None, *, include_next_token=False, max_patch_length=None, **rule):
    starts = ref.entropy_start_ids(H, include_next_token=include_next_token, **rule)
    return ref.lengths_from_start_ids(starts, len(H) + include_next_token, max_patch_length)


@pytest.fixture(scope="module")
def corpus_ids(corpus_text_files):
    """A few 2-4 KB samples of every corpus text file, as BLT ids with BOS/EOS."""
    rng = np.random.default_rng(0)
    tok = blt.ByteTokenizer()
    out = []
    for path in corpus_text_files:
        data = path.read_bytes()
        for _ in range(3):
            a = int(rng.integers(0, len(data) - 5000))
            out.append(tok.encode(data[a : a + int(rng.integers(2000, 4000))]))
    return out


# ---------------------------------------------------------------------------------------------
# Entropy rules on random entropies (hypothesis)

entropy_values = st.one_of(
    st.floats(0, 5, allow_nan=False, width=32),
    st.sampled_from([0.0, 1.0, REF_THRESHOLD, 2.0]),  # equal entropies and exact-threshold ties
)


@SETTINGS
@given(
    H=st.lists(entropy_values, min_size=0, max_size=40),
    threshold=st.sampled_from([0.5, REF_THRESHOLD, 2.0]),
    mode=st.sampled_from(["global", "monotonicity", "add"]),
    include_next_token=st.booleans(),
    max_patch_length=st.sampled_from([None, 1, 2, 5]),
)
def test_threshold_rules_equal_reference(H, threshold, mode, include_next_token, max_patch_length):
    H = np.asarray(H, dtype=np.float32)
    rule = dict(threshold=threshold, monotonicity=mode == "monotonicity",
                threshold_add=0.3 if mode == "add" else None)
    p = blt.Patcher.entropy(include_next_token=include_next_token,
                            max_patch_length=max_patch_length, **rule)
    got = p.from_entropies(H).tolist()
    assert got == expected_entropy(H, include_next_token=include_next_token,
                                   max_patch_length=max_patch_length, **rule)


@SETTINGS
@given(
    H=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=0, max_size=40),  # many ties
    patch_size=st.sampled_from([1, 2, 3, 4.5, 6]),
    include_next_token=st.booleans(),
)
def test_topk_equals_reference_with_ties(H, patch_size, include_next_token):
    H = np.asarray(H, dtype=np.float32)
    p = blt.Patcher.entropy(threshold=None, patch_size=patch_size,
                            include_next_token=include_next_token)
    got = p.from_entropies(H).tolist()
    assert got == expected_entropy(H, threshold=None, patch_size=patch_size,
                                   include_next_token=include_next_token)


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("include_next_token", [False, True])
def test_short_sequences(n, include_next_token):
    H = np.full(n, 5.0, dtype=np.float32)
    ids = np.array([1, 70][:n], dtype=np.uint16)
    total = n + include_next_token
    for rule in (dict(threshold=REF_THRESHOLD), dict(threshold=1.0, monotonicity=True),
                 dict(threshold=1.0, threshold_add=0.0), dict(threshold=None, patch_size=1)):
        p = blt.Patcher.entropy(include_next_token=include_next_token, **rule)
        assert p.from_entropies(H).tolist() == expected_entropy(H, include_next_token=include_next_token, **rule)
    assert blt.Patcher.byte(include_next_token=include_next_token).patch(ids).tolist() == [1] * total
    static = [1, total - 1] if total > 1 else [1] * total
    assert blt.Patcher.static(4, include_next_token=include_next_token).patch(ids).tolist() == static
    assert blt.Patcher.space(include_next_token=include_next_token, force_boundaries=False).patch(ids).tolist() \
        == ref.lengths_from_start_ids(ref.space_start_ids(ids), total)


# ---------------------------------------------------------------------------------------------
# Id rules on the corpus and on random ids

@pytest.mark.parametrize("include_next_token", [False, True])
@pytest.mark.parametrize("max_patch_length", [None, 4])
def test_space_and_bpe_on_corpus_equal_reference(corpus_ids, include_next_token, max_patch_length):
    opts = dict(include_next_token=include_next_token, max_patch_length=max_patch_length,
                force_boundaries=False)
    space, bpe = blt.Patcher.space(**opts), blt.Patcher.bpe(**opts)
    rng = np.random.default_rng(1)
    for ids in corpus_ids:
        total = len(ids) + include_next_token
        assert space.patch(ids).tolist() == ref.lengths_from_start_ids(
            ref.space_start_ids(ids), total, max_patch_length)
        # BPE delimiters sprinkled before ~1/4 of the bytes
        with_delims = ids.copy()
        with_delims[rng.random(len(ids)) < 0.25] = 3
        with_delims[0] = 1
        assert bpe.patch(with_delims).tolist() == ref.lengths_from_start_ids(
            ref.bpe_start_ids(with_delims), total, max_patch_length)


id_values = st.one_of(st.integers(0, 264), st.sampled_from([1, 2, 3, 4 + 32, 4 + ord("a"), 4 + 0x80, 4 + 0xC3]))


@SETTINGS
@given(ids=st.lists(id_values, min_size=0, max_size=40), include_next_token=st.booleans())
def test_space_and_bpe_on_random_ids(ids, include_next_token):
    ids = np.asarray(ids, dtype=np.uint16)
    total = len(ids) + include_next_token
    opts = dict(include_next_token=include_next_token, force_boundaries=False)
    assert blt.Patcher.space(**opts).patch(ids).tolist() == ref.lengths_from_start_ids(
        ref.space_start_ids(ids), total)
    assert blt.Patcher.bpe(**opts).patch(ids).tolist() == ref.lengths_from_start_ids(
        ref.bpe_start_ids(ids), total)


@pytest.mark.parametrize("size", [1, 3, 8])
def test_static_and_byte(size):
    ids = blt.ByteTokenizer().encode(b"x" * 21)  # 23 ids
    lengths = blt.Patcher.static(size).patch(ids).tolist()
    body = [size] * (22 // size) + ([22 % size] if 22 % size else [])
    assert lengths == [1] + body
    assert blt.Patcher.byte().patch(ids).tolist() == [1] * 23


# ---------------------------------------------------------------------------------------------
# Invariants, batches, forced boundaries, chunking

def all_patchers(**opts):
    return [blt.Patcher.byte(**opts), blt.Patcher.static(3, **opts), blt.Patcher.space(**opts),
            blt.Patcher.bpe(**opts), blt.Patcher.entropy(threshold=0.7, **opts),
            blt.Patcher.entropy(threshold=0.3, monotonicity=True, **opts),
            blt.Patcher.entropy(threshold=0.7, threshold_add=0.1, **opts)]


def run(p, ids, H):
    return p.from_entropies(H, ids) if p.kind == "entropy" else p.patch(ids)


@pytest.mark.parametrize("include_next_token", [False, True])
@pytest.mark.parametrize("max_patch_length", [None, 3])
def test_invariants_and_chunking(corpus_ids, include_next_token, max_patch_length):
    rng = np.random.default_rng(2)
    for ids in corpus_ids[:6]:
        H = rng.random(len(ids)).astype(np.float32)
        for p in all_patchers(include_next_token=include_next_token,
                              max_patch_length=max_patch_length):
            lengths = run(p, ids, H)
            assert lengths.dtype == np.int32
            assert lengths[0] == 1 and (lengths > 0).all()
            assert lengths.sum() == len(ids) + include_next_token
            if max_patch_length:
                assert lengths.max() <= max_patch_length
            for chunk in (1, 2, 7, 100, 1000, len(ids) + 5):
                m = 150 if chunk < 7 else len(ids)  # tiny chunks on a prefix (Python loop cost)
                want = run(p, ids[:m], H[:m]).tolist()
                s = p.stream()
                parts = [s.feed(ids[a : min(a + chunk, m)], H[a : min(a + chunk, m)] if p.kind == "entropy" else None)
                         for a in range(0, m, chunk)]
                parts.append(s.finish())
                assert np.concatenate(parts).tolist() == want, (p, chunk)


def test_batch_equals_each_sequence_no_leakage(corpus_ids):
    rng = np.random.default_rng(3)
    seqs = [ids[: int(rng.integers(0, 300))] for ids in corpus_ids]
    ents = [rng.random(len(s)).astype(np.float32) for s in seqs]
    for p in all_patchers():
        if p.kind == "entropy":
            got = p.from_entropies(ents, seqs, num_threads=2)
            want = [p.from_entropies(h, s).tolist() for h, s in zip(ents, seqs)]
        else:
            got = p.patch(seqs, num_threads=2)
            want = [p.patch(s).tolist() for s in seqs]
        assert isinstance(got, blt.RaggedIds)
        assert got.to_list() == want
        ragged = blt.RaggedIds(np.concatenate(seqs), np.concatenate([[0], np.cumsum([len(s) for s in seqs])]))
        if p.kind != "entropy":
            assert p.patch(ragged).to_list() == want


def test_return_starts():
    lengths, starts = blt.Patcher.space().patch(b"ab cd ef", return_starts=True)
    assert starts.tolist() == np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
    r, s = blt.Patcher.byte().patch([[1, 5], [1, 6, 7]], return_starts=True)
    assert s.to_list() == [[0, 1], [0, 1, 2]]


def test_forced_boundaries_in_packed_sequences():
    tok = blt.ByteTokenizer()
    docs = [tok.encode(t) for t in (b"hello world", b"abc", b"x y")]
    packed = np.concatenate(docs)
    for p in (blt.Patcher.space(), blt.Patcher.bpe(), blt.Patcher.byte()):
        assert p.patch(packed).tolist() == sum((p.patch(d).tolist() for d in docs), [])
    # entropy: no boundary from the entropies, the BOS/EOS still cut
    H = np.zeros(len(packed), dtype=np.float32)
    lengths = blt.Patcher.entropy().from_entropies(H, packed).tolist()
    assert lengths == [1, 12, 1, 4, 1, 4]
    assert blt.Patcher.entropy(force_boundaries=False).from_entropies(H, packed).tolist() == [1, len(packed) - 1]


def test_bad_inputs():
    with pytest.raises(ValueError, match="not a BLT byte id"):
        blt.Patcher.byte().patch(np.array([1, 300]))
    with pytest.raises(ValueError, match="no model"):
        blt.Patcher.entropy().patch(b"abc")
    with pytest.raises(ValueError):
        blt.Patcher.static(0)
    with pytest.raises(ValueError):
        blt.Patcher.entropy(threshold=None)
    with pytest.raises(ValueError, match="cannot stream"):
        blt.Patcher.entropy(threshold=None, patch_size=4).stream()
    with pytest.raises(TypeError):
        blt.Patcher.byte().patch(3.5)

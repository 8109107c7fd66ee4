"""The file pipeline's native patching and n-gram hashing stages: for every rule and option,
hash sizes and dtypes, chunk sizes down to 1 byte and 1-4 threads, the .npz arrays equal
Patcher.patch and hash_ngrams of the one-shot encode (issue 17, check 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blt
from blt.patch_pipeline import PatchConfigError, tokenize_and_patch


@pytest.fixture(scope="module")
def model(corpus_dir) -> blt.EntropyModel:
    data = (corpus_dir / "en_prose.txt").read_bytes()[:100_000]
    return blt.EntropyModel.train([data], order=4)


RULES = st.sampled_from(["static", "byte", "space", "bpe", "entropy"])


@st.composite
def patchers(draw, model: blt.EntropyModel) -> blt.Patcher:
    rule = draw(RULES)
    common = dict(
        max_patch_length=draw(st.none() | st.integers(1, 7)),
        include_next_token=draw(st.booleans()),
        force_boundaries=draw(st.booleans()),
    )
    if rule == "static":
        return blt.Patcher.static(draw(st.integers(1, 6)), **common)
    if rule == "entropy":
        kind = draw(st.sampled_from(["global", "monotonicity", "threshold_add"]))
        threshold = draw(st.floats(0.0, 3.0))
        reset = draw(st.sampled_from([["\n"], [], ["\n", " ", 2]]))
        extra = {"monotonicity": True} if kind == "monotonicity" else (
            {"threshold_add": draw(st.floats(-0.5, 0.5))} if kind == "threshold_add" else {})
        return blt.Patcher.entropy(model, threshold=threshold, reset_context_at=reset, **extra, **common)
    return blt.Patcher(rule, **common)


HASHES = st.none() | st.fixed_dictionaries({
    "group_sizes": st.lists(st.integers(1, 12), min_size=1, max_size=4),
    "hash_functions": st.lists(st.integers(0, 10), min_size=1, max_size=2, unique=True),
    "max_hash": st.integers(1, 2**31),
    "dtype": st.sampled_from(["int32", "int64"]),
})

DATA = (st.binary(max_size=700)
        | st.text(alphabet="ab \n.é\x00\x01\x02\x03", max_size=700).map(str.encode))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), text=DATA, chunk=st.integers(1, 80), threads=st.integers(1, 4), hashes=HASHES,
       eos=st.booleans())
def test_chunked_equals_one_shot(data, text, chunk, threads, hashes, eos, model):
    patcher = data.draw(patchers(model))
    r = blt.tokenize_file(text, None, patch=patcher, hash_ngrams=hashes, eos=eos,
                          chunk_size=(chunk, chunk), num_threads=threads)
    ids = blt.ByteTokenizer().encode(text, eos=eos)
    assert r.ids.tolist() == ids.tolist()
    assert r.patch_lengths.dtype == np.int32
    assert r.patch_lengths.tolist() == patcher.patch(ids).tolist()
    assert r.patches == len(r.patch_lengths)
    if hashes is None:
        assert r.hash_ids is None
    else:
        want = blt.hash_ngrams(ids, group_sizes=hashes["group_sizes"], hash_functions=hashes["hash_functions"],
                               max_hash=hashes["max_hash"])
        assert r.hash_ids.dtype == np.dtype(hashes["dtype"])
        assert r.hash_ids.shape == want.shape
        assert (r.hash_ids.astype(np.int64) == want).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_file_npz_with_every_array(model, corpus_dir, tmp_path, threads):
    data = (corpus_dir / "multilingual.txt").read_bytes()[:300_000]
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    out = tmp_path / "o.npz"
    patcher = blt.Patcher.entropy(model, threshold=1.3, max_patch_length=9)
    r = blt.tokenize_file(src, out, patch=patcher, hash_ngrams=True, chunk_size="4K", num_threads=threads)
    ids = blt.ByteTokenizer().encode(data)
    with np.load(out) as z:
        assert sorted(z.files) == ["hash_ids", "ids", "patch_lengths"]
        assert z["ids"].dtype == np.uint16 and z["ids"].tolist() == ids.tolist()
        assert z["patch_lengths"].tolist() == patcher.patch(ids).tolist()
        assert (z["hash_ids"] == blt.hash_ngrams(ids)).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "o.npz"]
    names = [n for n, _ in r.stage_times]
    assert names == ["encode", "entropy", "patch", "hash", "checksum", "assemble", "write"]
    assert all(t >= 0 for _, t in r.stage_times) and r.chunks > 1
    assert 0 <= r.queue_mean <= r.queue_max


def test_hash_ids_without_patching_and_from_yaml(tmp_path):
    cfg = tmp_path / "p.yml"
    cfg.write_text("rule: space\nhash_ngrams:\n  group_sizes: [2, 3]\n  hash_functions: 2\n  max_hash: 1000\n  dtype: int32\n")
    r = blt.tokenize_file(b"hello world", None, patch=cfg, chunk_size=3)
    ids = blt.ByteTokenizer().encode(b"hello world")
    assert r.hash_ids.dtype == np.int32
    assert r.hash_ids.tolist() == blt.hash_ngrams(ids, group_sizes=[2, 3], hash_functions=2, max_hash=1000).tolist()
    # the argument overrides the section; patch=None gives ids and hash ids only
    r = blt.tokenize_file(b"hello world", None, patch=cfg, hash_ngrams=None)
    assert r.hash_ids is None and r.patch_lengths is not None
    r = blt.tokenize_file(b"hello world", None, hash_ngrams={"group_sizes": [4]})
    assert r.patch_lengths is None and r.patches is None and r.hash_ids.shape == (13, 1)


@pytest.mark.parametrize("section, key", [
    ("hash_ngrams: 3\n", "hash_ngrams"),
    ("hash_ngrams:\n  sizes: [3]\n", "hash_ngrams.sizes"),
    ("hash_ngrams:\n  group_sizes: [0]\n", "hash_ngrams.group_sizes"),
    ("hash_ngrams:\n  group_sizes: [65]\n", "hash_ngrams.group_sizes"),
    ("hash_ngrams:\n  hash_functions: [11]\n", "hash_ngrams.hash_functions"),
    ("hash_ngrams:\n  max_hash: 0\n", "hash_ngrams.max_hash"),
    ("hash_ngrams:\n  dtype: float32\n", "hash_ngrams.dtype"),
    ("hash_ngrams:\n  dtype: int32\n  max_hash: 4294967296\n", "hash_ngrams.dtype"),
])
def test_bad_hash_section_names_the_key_and_writes_nothing(section, key, tmp_path):
    cfg = tmp_path / "p.yml"
    cfg.write_text("rule: byte\n" + section)
    with pytest.raises(PatchConfigError) as e:
        blt.tokenize_file(b"abc", tmp_path / "o.npz", patch=cfg)
    assert e.value.key == key and key in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yml"]


def test_topk_stays_in_memory(model, tmp_path):
    topk = blt.Patcher.entropy(model, threshold=None, patch_size=4.5)
    with pytest.raises(ValueError, match="top-k.*in memory"):
        tokenize_and_patch(b"abc", tmp_path / "o.npz", patch=topk)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="nothing to add"):
        tokenize_and_patch(b"abc", None, patch=None)


def test_cli_verbose_reports_each_step(tmp_path, capsys):
    from blt.cli import main

    src = tmp_path / "in.txt"
    src.write_bytes(b"hello world\n" * 5000)
    cfg = tmp_path / "p.yml"
    cfg.write_text("rule: space\nhash_ngrams:\n  group_sizes: [3]\n")
    assert main(["-i", str(src), "-o", str(tmp_path / "o.npz"), "--patch", str(cfg), "--verbose", "-q"]) == 0
    err = capsys.readouterr().err
    for step in ("encode:", "patch:", "hash:", "assemble:", "write:", "writer queue:"):
        assert step in err
    assert main(["-i", str(src), "-o", str(tmp_path / "o.bin"), "-v", "-q"]) == 0
    assert "encode:" in capsys.readouterr().err


def test_stream_of_unknown_size_spools_and_equals_one_shot(model, tmp_path):
    """A pipe has no size: lengths and hash ids are spooled beside the output, then copied in."""
    import os
    import threading

    data = b"the cat sat on the mat.\n" * 3000
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    t = threading.Thread(target=feed)
    t.start()
    patcher = blt.Patcher.entropy(model, threshold=1.0, include_next_token=True)
    try:
        with os.fdopen(r, "rb") as f:
            blt.tokenize_file(f, tmp_path / "o.npz", patch=patcher, hash_ngrams={"group_sizes": [3, 5]},
                              chunk_size="1K", num_threads=2)
    finally:
        t.join()
    ids = blt.ByteTokenizer().encode(data)
    with np.load(tmp_path / "o.npz") as z:
        assert z["ids"].tolist() == ids.tolist()
        assert z["patch_lengths"].tolist() == patcher.patch(ids).tolist()
        assert (z["hash_ids"] == blt.hash_ngrams(ids, group_sizes=[3, 5])).all()
    assert [p.name for p in tmp_path.iterdir()] == ["o.npz"]


def test_stripped_bom_leaves_a_readable_archive(tmp_path):
    """Fewer ids than input bytes (a stripped BOM) leave a gap after the in-place ids: still a
    valid zip whose members read back equal to one-shot."""
    import zipfile

    data = b"\xef\xbb\xbfhello world"
    out = tmp_path / "bom.npz"
    blt.tokenize_file(data, out, patch=blt.Patcher.space(), hash_ngrams=True, strip_bom=True)
    assert zipfile.ZipFile(out).testzip() is None
    ids = blt.ByteTokenizer().encode(data, strip_bom=True)
    with np.load(out) as z:
        assert z["ids"].tolist() == ids.tolist()
        assert z["patch_lengths"].tolist() == blt.Patcher.space().patch(ids).tolist()
        assert (z["hash_ids"] == blt.hash_ngrams(ids)).all()

"""ByteTokenizer: BLT ids, specials, meta tokens, BOM handling, zero-copy in and out, batches."""

from __future__ import annotations

import mmap
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt
from blt import _core

tok = blt.ByteTokenizer()


def test_documented_ids():
    assert tok.encode(b"Hi").tolist() == [1, 76, 109, 2]
    assert (tok.BOE, tok.BOS, tok.EOS, tok.BPE_DELIM, tok.OFFSET) == (0, 1, 2, 3, 4)
    assert tok.n_vocab == 265
    assert [tok.meta_id(t) for t in blt.CONTENT_TYPES] == [260, 261, 262, 263, 264]


def test_bos_eos_switchable_per_call_and_per_tokenizer():
    assert tok.encode(b"Hi", bos=False).tolist() == [76, 109, 2]
    assert tok.encode(b"Hi", eos=False).tolist() == [1, 76, 109]
    assert blt.ByteTokenizer(bos=False, eos=False).encode(b"Hi").tolist() == [76, 109]
    # a per-call override does not change the tokenizer's defaults
    assert tok.encode(b"Hi").tolist() == [1, 76, 109, 2]


def test_meta_token_follows_bos():
    assert tok.encode(b"A", content_type="audio").tolist() == [1, 261, 69, 2]
    assert tok.encode(b"A", content_type="bin", bos=False).tolist() == [264, 69, 2]
    with pytest.raises(ValueError, match="content type"):
        tok.encode(b"A", content_type="pdf")


@pytest.mark.parametrize(
    "bom",
    [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"],
    ids=["utf8", "utf16le", "utf16be", "utf32le", "utf32be"],
)
def test_strip_bom(bom):
    body = b"x\x00y"
    ids = tok.encode(bom + body, strip_bom=True, bos=False, eos=False)
    assert tok.decode_bytes(ids) == body
    # without strip_bom the BOM bytes are tokens like any other
    assert tok.decode_bytes(tok.encode(bom + body)) == bom + body


def test_strip_bom_only_at_start():
    data = b"a\xef\xbb\xbf"
    assert tok.decode_bytes(tok.encode(data, strip_bom=True)) == data


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "int32", "int64"])
def test_dtypes(dtype):
    ids = tok.encode(bytes(range(256)), dtype=dtype)
    assert ids.dtype == np.dtype(dtype)
    assert ids.tolist() == [1] + [b + 4 for b in range(256)] + [2]


def test_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        tok.encode(b"a", dtype="float32")
    with pytest.raises(ValueError, match="dtype"):
        blt.ByteTokenizer(dtype="int8")


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=2000),
    bos=st.booleans(),
    eos=st.booleans(),
    meta=st.sampled_from([None, *blt.CONTENT_TYPES]),
    dtype=st.sampled_from(["uint16", "uint32", "int32", "int64"]),
)
def test_round_trip(data, bos, eos, meta, dtype):
    ids = tok.encode(data, bos=bos, eos=eos, content_type=meta, dtype=dtype)
    assert tok.decode_bytes(ids) == data
    assert len(ids) == len(data) + bos + eos + (meta is not None)
    # independent transcription of the id rule
    expected = [1] * bos + ([tok.meta_id(meta)] if meta else []) + [b + 4 for b in data] + [2] * eos
    assert ids.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_str_is_its_utf8(text):
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text).tolist() == tok.encode(text.encode("utf-8")).tolist()


def test_lone_surrogate_is_replaced_like_tiktoken():
    ids = tok.encode("a\ud800b", bos=False, eos=False)
    assert tok.decode_bytes(ids) == "a\ufffdb".encode("utf-8")
    assert tok.decode(ids) == "a\ufffdb"


def test_input_types_are_read_in_place():
    raw = b"hello world"
    expected = tok.encode(raw).tolist()
    arr = np.frombuffer(raw, dtype=np.uint8)
    for obj in (raw, bytearray(raw), memoryview(raw), arr, raw.decode()):
        assert tok.encode(obj).tolist() == expected
    with mmap.mmap(-1, len(raw)) as mm:
        mm.write(raw)
        assert tok.encode(mm).tolist() == expected


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="int"):
        tok.encode(12)
    with pytest.raises(TypeError, match="itemsize"):
        tok.encode(np.arange(4, dtype=np.int32))
    with pytest.raises((ValueError, BufferError), match="contiguous"):
        tok.encode(np.zeros(10, dtype=np.uint8)[::2])


def test_output_owns_native_buffer_without_copy():
    ids = tok.encode(b"x" * 1000)
    assert type(ids.base) is _core.IdBuffer
    assert ids.base.address == ids.ctypes.data
    assert ids.base.nbytes == ids.nbytes
    batch = tok.encode_batch([b"ab", b"c"])
    assert type(batch.ids.base) is _core.IdBuffer
    assert type(batch.offsets.base) is _core.IdBuffer


def test_large_memoryview_input_is_not_copied():
    n = 64 * 2**20
    big = bytearray(n)
    view = memoryview(big)
    tracemalloc.start()
    try:
        ids = tok.encode(view)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == n + 2
    # Any copy of the input through Python's allocators would show up as >= 64 MB here.
    assert peak < 1 * 2**20, peak


def test_encode_batch_matches_single_encodes():
    items = [b"", "héllo", bytearray(b"\x00\xff"), memoryview(b"abc"), np.frombuffer(b"xyz", np.uint8)]
    for threads in (None, 1, 2, 4):
        r = tok.encode_batch(items, num_threads=threads, content_type="text", strip_bom=True)
        assert len(r) == len(items)
        assert r.offsets.dtype == np.int64 and r.offsets[0] == 0
        for got, item in zip(r, items):
            assert got.tolist() == tok.encode(item, content_type="text", strip_bom=True).tolist()
        assert r.to_list() == [tok.encode(i, content_type="text", strip_bom=True).tolist() for i in items]
        assert r[-1].tolist() == r.to_list()[-1]
        assert [a.tolist() for a in r[1:3]] == r.to_list()[1:3]


def test_encode_batch_accepts_generators_and_surrogates():
    r = tok.encode_batch((s for s in ["a", "b\udc00"]), bos=False, eos=False)
    assert r.to_list() == [[101], [b + 4 for b in "b\ufffd".encode("utf-8")]]


def test_encode_batch_errors():
    with pytest.raises(ValueError, match="num_threads"):
        tok.encode_batch([b"a"], num_threads=0)
    with pytest.raises(TypeError):
        tok.encode_batch([b"a", 3])
    with pytest.raises(IndexError):
        tok.encode_batch([b"a"])[1]


def test_decode_skips_specials_and_meta():
    assert tok.decode_bytes([0, 1, 2, 3, 260, 264, 69, 70]) == b"AB"


@pytest.mark.parametrize("bad", [265, -1, 100000])
def test_decode_out_of_range_names_id_and_position(bad):
    with pytest.raises(ValueError, match=rf"id {bad} at position 2"):
        tok.decode_bytes([1, 69, bad])


def test_decode_str_errors_policy():
    ids = tok.encode(b"\xff", bos=False, eos=False)
    assert tok.decode(ids) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids, errors="strict")
    with pytest.raises(TypeError):
        tok.decode(np.array([1.5]))


# --- bpe=: the BPE delimiter before each BPE token (BLT's bpe_delim) ------------------------------


def _delimited_reference(enc, text, bos=True, eos=True, **encode_options):
    """Plain transcription: BOS, then for each BPE token 3 followed by its bytes + 4, then EOS."""
    ids = [1] if bos else []
    for t in enc.encode(text, **encode_options).tolist():
        ids += [3] + [b + 4 for b in enc.token_bytes(t)]
    return ids + ([2] if eos else [])


@pytest.fixture(scope="module")
def corpus_samples(corpus_text_files):
    out = []
    for path in corpus_text_files:
        data = path.read_bytes()
        for start in (0, len(data) // 3, len(data) - 3000):
            out.append(data[start:start + 3000])
    return out


def test_bpe_delimited_matches_transcription_on_corpus(cl100k, corpus_samples):
    t = blt.ByteTokenizer(bpe=cl100k)
    for sample in corpus_samples:
        assert t.encode(sample).tolist() == _delimited_reference(cl100k, sample)


def test_bpe_delimited_options_and_dtypes(cl100k):
    t = blt.ByteTokenizer(bpe=cl100k, bos=False, content_type="text")
    text = "Hello, world!  ok"
    ref = _delimited_reference(cl100k, text, bos=False)
    assert t.encode(text).tolist() == [260] + ref
    assert t.encode(text, bos=True, eos=False, content_type=None).tolist() == _delimited_reference(cl100k, text, eos=False)
    assert t.encode(text, dtype="int64").dtype == np.int64
    # strip_bom drops the BOM before the BPE tokenizer sees the text
    assert t.encode(b"\xef\xbb\xbfHi", strip_bom=True, content_type=None).tolist() == _delimited_reference(cl100k, "Hi", bos=False)
    assert t.encode("").tolist() == [260, 2]
    assert t.decode_bytes(t.encode(text)) == text.encode()


def test_bpe_delimited_specials_follow_the_bpe_policy(cl100k):
    text = "a<|endoftext|>b"
    with pytest.raises(ValueError, match="endoftext"):
        blt.ByteTokenizer(bpe=cl100k).encode(text)
    t = blt.ByteTokenizer(bpe=cl100k.native(allowed_special="all"))
    ref = _delimited_reference(cl100k, text, allowed_special="all")
    assert t.encode(text).tolist() == ref
    # the special is one token: its bytes follow a single delimiter
    assert ref.count(3) == 3


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
def test_bpe_delimited_property(cl100k, text):
    assert blt.ByteTokenizer(bpe=cl100k).encode(text).tolist() == _delimited_reference(cl100k, text)


def test_bpe_delimited_invalid_utf8_bytes(cl100k):
    data = b"\xff\xfe abc \xc3"
    assert blt.ByteTokenizer(bpe=cl100k).encode(data).tolist() == _delimited_reference(cl100k, data)


def test_bpe_patcher_gives_one_patch_per_token(cl100k, corpus_samples):
    t = blt.ByteTokenizer(bpe=cl100k)
    for sample in corpus_samples[:4]:
        tokens = cl100k.encode(sample)
        lengths = blt.Patcher.bpe().patch(t.encode(sample)).tolist()
        # BOS, the first delimiter alone, then each token's bytes closed by the next delimiter
        # (the last token's by EOS)
        assert lengths[:2] == [1, 1]
        assert lengths[2:] == [len(cl100k.token_bytes(x)) + 1 for x in tokens.tolist()]


def test_bpe_delimited_batch_and_file_pipeline(cl100k, corpus_samples, tmp_path):
    t = blt.ByteTokenizer(bpe=cl100k)
    batch = t.encode_batch(corpus_samples[:5] + [b""], num_threads=2)
    assert batch.to_list() == [_delimited_reference(cl100k, s) for s in corpus_samples[:5] + [b""]]
    data = b"".join(corpus_samples[:6])
    want = t.encode(data)
    for chunk in ("64:64", "1K:4K", None):
        for threads in (1, 2):
            got = blt.tokenize_file(data, None, tokenizer=t, chunk_size=chunk, num_threads=threads).ids
            assert np.array_equal(got, want), (chunk, threads)
    path = tmp_path / "ids.npy"
    blt.tokenize_file(data, path, tokenizer=t, chunk_size="100:100", content_type="text")
    assert np.load(path).tolist() == [1, 260] + want.tolist()[1:]


def test_bpe_argument_errors(cl100k):
    with pytest.raises(TypeError, match="bpe must be"):
        blt.ByteTokenizer(bpe="cl100k_base")
    assert blt.ByteTokenizer(bpe=cl100k).bpe is cl100k
    assert "cl100k_base" in repr(blt.ByteTokenizer(bpe=cl100k))

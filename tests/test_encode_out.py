"""encode(..., out=array): ids written into the caller's array (exact fit, too small, dtypes, layout)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["uint16", "uint32", "int32", "int64"]), st.integers(0, 3))
def test_byte_tokenizer_out_equals_encode(data, dtype, slack):
    tok = blt.ByteTokenizer()
    want = tok.encode(data, dtype=dtype)
    buf = np.full(len(want) + slack, -1 if dtype.startswith("int") else 7, dtype=dtype)
    got = tok.encode(data, out=buf)
    assert got.base is buf and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert (buf[len(want):] == buf[-1]).all() if slack else True  # nothing written past the ids


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["uint32", "int32", "int64"]), st.integers(0, 3))
def test_bpe_out_equals_encode(cl100k, text, dtype, slack):
    want = cl100k.encode(text)
    buf = np.zeros(len(want) + slack, dtype=dtype)
    got = cl100k.encode(text, out=buf)
    assert got.base is buf or got.size == 0  # a view of out (an empty view shares no memory)
    np.testing.assert_array_equal(got, want)


def test_one_buffer_reused_by_a_loop(cl100k, corpus_dir):
    text = (corpus_dir / "en_prose.txt").read_text(encoding="utf-8")[:200_000]
    docs = [text[i : i + 5000] for i in range(0, len(text), 5000)]
    buf = np.empty(10_000, dtype=np.int64)
    for d in docs:
        np.testing.assert_array_equal(cl100k.encode(d, out=buf), cl100k.encode(d))
        np.testing.assert_array_equal(cl100k.encode(d, allowed_special="all", out=buf),
                                      cl100k.encode(d, allowed_special="all"))


def test_exact_fit_and_too_small(cl100k):
    ids = cl100k.encode("hello world, again")
    exact = np.empty(len(ids), dtype=np.uint32)
    assert cl100k.encode("hello world, again", out=exact).tolist() == ids.tolist()
    with pytest.raises(ValueError, match=f"holds {len(ids) - 1} ids; this input needs {len(ids)}"):
        cl100k.encode("hello world, again", out=np.empty(len(ids) - 1, dtype=np.uint32))
    with pytest.raises(ValueError, match="holds 3 ids; this input needs 4"):
        blt.ByteTokenizer().encode(b"Hi", out=np.empty(3, dtype=np.uint16))


def test_bad_out_arrays(cl100k):
    tok = blt.ByteTokenizer()
    buf = np.empty(64, dtype=np.uint16)
    with pytest.raises(ValueError, match="C-contiguous"):
        tok.encode(b"Hi", out=buf[::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        tok.encode(b"Hi", out=buf.reshape(8, 8))
    ro = np.empty(64, dtype=np.uint16)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        tok.encode(b"Hi", out=ro)
    with pytest.raises(ValueError, match="dtype"):
        tok.encode(b"Hi", out=np.empty(8, dtype=np.float32))
    with pytest.raises(ValueError, match="out has dtype uint16, but dtype=int64"):
        tok.encode(b"Hi", dtype="int64", out=buf)
    with pytest.raises(TypeError, match="NumPy array"):
        tok.encode(b"Hi", out=[0] * 8)
    with pytest.raises(ValueError, match="uint16"):  # cl100k ids do not fit
        cl100k.encode("hello", out=np.empty(8, dtype=np.uint16))
    with pytest.raises(ValueError, match="max_tokens"):
        cl100k.encode("hello", max_tokens=1, out=np.empty(8, dtype=np.uint32))
    with pytest.raises(ValueError, match="disallowed special"):
        cl100k.encode("<|endoftext|>", out=np.empty(8, dtype=np.uint32))


def test_lone_surrogates_and_memoryviews(cl100k):
    buf = np.empty(16, dtype=np.uint32)
    assert cl100k.encode("a\ud800b", out=buf).tolist() == cl100k.encode("a\ud800b").tolist()
    assert cl100k.encode(memoryview(b"hello"), out=buf).tolist() == cl100k.encode(b"hello").tolist()


def test_encode_function_equals_encode_and_keeps_its_tokenizer_alive(cl100k):
    import gc

    from blt import _core

    for dtype in ("uint16", "uint32", "int32", "int64"):
        fn = _core.ByteCodec(True, True, None, False).encode_function(dtype)
        gc.collect()  # the codec object is only referenced by fn now
        got = fn(b"\xef\xbb\xbfHi")
        assert got.dtype == dtype and got.tolist() == blt.ByteTokenizer().encode(b"\xef\xbb\xbfHi").tolist()
    with pytest.raises(TypeError):
        fn(12345)
    with pytest.raises(ValueError, match="uint16"):
        cl100k.native().encode_function("uint16")  # cl100k ids do not fit
    tok = blt.ByteTokenizer()
    assert tok.encode("a\ud800b").tolist() == tok.encode("a\ufffdb").tolist()  # fast path's str fallback


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200).map(lambda t: t + "<|endoftext|>"), st.sampled_from(["uint32", "int32", "int64"]))
def test_encode_ordinary_out_equals_encode_ordinary(cl100k, text, dtype):
    want = cl100k.encode_ordinary(text)  # special-token text encoded as ordinary text
    buf = np.zeros(len(want) + 2, dtype=dtype)
    got = cl100k.encode_ordinary(text, out=buf)
    assert got.base is buf
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=f"needs {len(want)}"):
        cl100k.encode_ordinary(text, out=np.empty(len(want) - 1, dtype=dtype))

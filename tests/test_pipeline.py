"""tokenize_file: output equals one-shot encode in every format, for any chunk size and thread
count; sources (path, buffer, descriptor), atomic outputs, progress and cancellation."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt
import blt.pipeline
from blt.pipeline import parse_chunk_size, parse_memcap, parse_size

from support import read_ids, sparse_file, thread_count


def expected_ids(data: bytes, *, dtype="uint16", type=None, bos=True, eos=True, strip_bom=False):
    """The reference: one-shot ByteTokenizer.encode."""
    return blt.ByteTokenizer(bos=bos, eos=eos, content_type=type, strip_bom=strip_bom).encode(data, dtype=dtype)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def test_bin_bytes_equal_encode_bytes(tmp_path):
    """bin output is exactly the bytes of the encode() array (little-endian ids, nothing else)."""
    data = "naïve café ☕ \U0001F600 ".encode() * 1000
    out = tmp_path / "ids.bin"
    blt.tokenize_file(data, out, content_type="text", chunk_size=7, num_threads=2)
    assert out.read_bytes() == expected_ids(data, type="text").astype("<u2").tobytes()


# -- equivalence (acceptance check 4) -----------------------------------------------------------

text_chars = st.characters(blacklist_categories=("Cs",))
payloads = st.one_of(
    st.binary(max_size=3000),
    st.text(text_chars, max_size=1500).map(lambda s: s.encode("utf-8")),
    st.text(text_chars, max_size=300).map(lambda s: b"\xef\xbb\xbf" + s.encode("utf-8")),
)


@settings(max_examples=60, deadline=None)
@given(
    data=payloads,
    chunk=st.one_of(st.integers(1, 16), st.integers(17, 5000)),
    threads=st.integers(1, 4),
    fmt=st.sampled_from(["bin", "npy", "jsonl"]),
    dtype=st.sampled_from(["uint16", "uint32", "int32", "int64"]),
    type=st.sampled_from([None, "text", "bin", "image"]),
    bos=st.booleans(),
    eos=st.booleans(),
    strip_bom=st.booleans(),
    source=st.sampled_from(["path", "buffer", "fd"]),
)
def test_equals_one_shot_encode(data, chunk, threads, fmt, dtype, type, bos, eos, strip_bom, source):
    with tempfile.TemporaryDirectory() as d:
        check_equal_one_shot(Path(d), data, chunk, threads, fmt, dtype, type, bos, eos, strip_bom, source)


def check_equal_one_shot(tmp_path, data, chunk, threads, fmt, dtype, type, bos, eos, strip_bom, source):
    src_path = tmp_path / "in.dat"
    src_path.write_bytes(data)
    out = tmp_path / f"out.{fmt}"
    opts = dict(content_type=type, bos=bos, eos=eos, strip_bom=strip_bom, dtype=dtype, format=fmt,
                num_threads=threads, chunk_size=chunk)
    if source == "path":
        blt.tokenize_file(src_path, out, **opts)
    elif source == "buffer":
        blt.tokenize_file(bytearray(data), out, **opts)
    else:
        with open(src_path, "rb") as f:
            blt.tokenize_file(f, out, **opts)
    want = expected_ids(data, dtype=dtype, type=type, bos=bos, eos=eos, strip_bom=strip_bom)
    assert_same(read_ids(out, dtype), want)
    assert sorted(os.listdir(tmp_path)) == sorted(["in.dat", out.name])


@pytest.mark.parametrize(
    "size,chunk,threads,fmt",
    [
        (50_000_000, "1MB:3MB", 2, "bin"),
        (8_000_000, "4KiB:64KiB", 3, "npy"),
        (2_000_000, "100:1000", 2, "jsonl"),
        (300_000, 1, 2, "bin"),
    ],
)
def test_large_inputs_equal_encode(tmp_path, size, chunk, threads, fmt):
    rng = np.random.default_rng(size)
    # Mostly multi-byte UTF-8 text with random bytes mixed in, so cuts land everywhere.
    unit = "héllo wörld ☕ \U0001F600 ".encode()
    data = (unit * (size // len(unit) + 1))[:size]
    arr = np.frombuffer(data, np.uint8).copy()
    idx = rng.integers(0, size, size // 100)
    arr[idx] = rng.integers(0, 256, idx.size, dtype=np.uint8)
    data = arr.tobytes()
    src = tmp_path / "big.txt"
    src.write_bytes(data)
    out = tmp_path / f"big.{fmt}"
    st_ = blt.tokenize_file(src, out, content_type="text", chunk_size=chunk, num_threads=threads, format=fmt)
    want = expected_ids(data, type="text")
    assert_same(read_ids(out, "uint16"), want)
    assert st_.bytes_in == size and st_.ids_out == size + 3
    if isinstance(chunk, str) and size >= 1_000_000:
        assert st_.chunks > 1


def test_dst_none_returns_array_equal_encode(corpus_text_files):
    path = corpus_text_files[0]
    data = path.read_bytes()[:1_000_000]
    got = blt.tokenize_file(data, None, content_type="text", dtype="int64", chunk_size="1KiB:16KiB", num_threads=2).ids
    assert_same(got, expected_ids(data, type="text", dtype="int64"))
    got = blt.tokenize_file(path, None, chunk_size=4096, num_threads=3).ids
    assert_same(got, expected_ids(path.read_bytes()))


def test_empty_input(tmp_path):
    src = tmp_path / "empty"
    src.write_bytes(b"")
    for fmt in ("bin", "npy", "jsonl"):
        out = tmp_path / f"e.{fmt}"
        blt.tokenize_file(src, out, format=fmt)
        assert_same(read_ids(out, "uint16"), expected_ids(b""))
    assert blt.tokenize_file(b"", None, bos=False, eos=False).ids.size == 0


def test_pipe_source_stream(tmp_path):
    """An unbounded stream (a pipe) is read incrementally, with no known size."""
    data = os.urandom(3_000_000)
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            for i in range(0, len(data), 65536):
                f.write(data[i : i + 65536])

    t = threading.Thread(target=feed)
    t.start()
    try:
        out = tmp_path / "p.npy"
        st_ = blt.tokenize_file(r, out, chunk_size="1KiB:32KiB", num_threads=2)
    finally:
        t.join()
        os.close(r)
    assert_same(np.load(out), expected_ids(data))
    assert st_.bytes_in == len(data)


def test_writes_to_descriptor(tmp_path):
    out = tmp_path / "fd.bin"
    with open(out, "wb") as f:
        f.write(b"HEAD")  # a descriptor is written from its current position
        blt.tokenize_file(b"abc", f, bos=False, eos=False)
    assert out.read_bytes() == b"HEAD" + np.array([101, 102, 103], "<u2").tobytes()


def test_file_object_starts_at_its_position(tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"skip:" + b"x" * 100_000)
    with open(src, "rb") as f:
        assert f.read(5) == b"skip:"  # the buffered reader has read far ahead of this
        got = blt.tokenize_file(f, None, bos=False, eos=False).ids
    assert got.tolist() == [ord("x") + 4] * 100_000


def test_given_tokenizer_defaults_apply():
    tok = blt.ByteTokenizer(bos=False, eos=False, content_type="bin", dtype="uint32")
    got = blt.tokenize_file(b"ab", None, tokenizer=tok).ids
    assert_same(got, tok.encode(b"ab"))
    got = blt.tokenize_file(b"ab", None, tokenizer=tok, eos=True).ids
    assert got.tolist() == tok.encode(b"ab", eos=True).tolist()


# -- progress, errors and cancellation -----------------------------------------------------------

def test_progress_reports_monotonic_bytes(tmp_path):
    data = os.urandom(4_000_000)
    src = tmp_path / "in"
    src.write_bytes(data)
    calls = []
    blt.tokenize_file(src, tmp_path / "o.bin", chunk_size=4096, num_threads=1,
                      progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was never called"
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert calls[-1] == (len(data), len(data))
    assert all(t == len(data) for _, t in calls)


class Stop(Exception):
    pass


def test_raising_progress_cancels_without_output(tmp_path):
    src = tmp_path / "in"
    sparse_file(src, 512 << 20)  # cheap to create, long enough to still be running
    out = tmp_path / "out.bin"
    out.write_bytes(b"old")  # an existing target survives a failed run untouched

    def progress(done, total):
        raise Stop("user abort")

    with pytest.raises(Stop):
        blt.tokenize_file(src, out, chunk_size=1 << 16, progress=progress)
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["in", "out.bin"]


def test_cancellation_leaks_no_threads(tmp_path):
    r, w = os.pipe()  # a stream that never sends anything: the reader must give up on cancel
    try:
        blt.tokenize_file(b"warm up the worker pool" * 1000, None, num_threads=4, chunk_size=64)
        before = thread_count()
        for _ in range(5):
            n = [0]

            def progress(done, total):
                n[0] += 1
                if n[0] == 2:
                    raise Stop()

            with pytest.raises(Stop):
                blt.tokenize_file(r, tmp_path / "x.bin", num_threads=4, progress=progress)
        assert thread_count() <= before
    finally:
        os.close(r)
        os.close(w)
    assert os.listdir(tmp_path) == []


def test_write_error_is_oserror_and_removes_temp(tmp_path):
    r, w = os.pipe()
    os.close(r)  # writing to a pipe with no reader fails (EPIPE; Python ignores SIGPIPE)
    try:
        with pytest.raises(BrokenPipeError, match="cannot write"):
            blt.tokenize_file(os.urandom(1 << 20), w, chunk_size=4096)
    finally:
        os.close(w)


def test_bad_arguments(tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"abc")
    with pytest.raises(FileNotFoundError, match="cannot open input"):
        blt.tokenize_file(tmp_path / "missing", None)
    with pytest.raises(IsADirectoryError):
        blt.tokenize_file(tmp_path, None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        blt.tokenize_file(src, tmp_path / "nodir" / "out.bin")
    with pytest.raises(IsADirectoryError):
        blt.tokenize_file(src, tmp_path)
    with pytest.raises(ValueError, match="threads"):
        blt.tokenize_file(src, None, num_threads=0)
    with pytest.raises(ValueError, match="format"):
        blt.tokenize_file(src, tmp_path / "o", format="csv")
    with pytest.raises(ValueError, match="type"):
        blt.tokenize_file(src, None, content_type="movie")
    with pytest.raises(ValueError, match="memcap"):
        blt.tokenize_file(src, None, memcap="lots")
    with pytest.raises(ValueError, match="too small"):
        blt.tokenize_file(src, None, memcap=10)
    with pytest.raises(ValueError, match="chunk size"):
        blt.tokenize_file(src, None, chunk_size="9:3")
    with pytest.raises(ValueError, match="dtype"):
        blt.tokenize_file(src, None, dtype="uint8")
    with pytest.raises(TypeError, match="tokenizer"):
        blt.tokenize_file(src, None, tokenizer=object())
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="seekable"):
            blt.tokenize_file(src, w, format="npy")
    finally:
        os.close(r)
        os.close(w)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_size_parsers():
    assert parse_size("512MB") == 512 * 10**6
    assert parse_size("64MiB") == parse_size("64M") == 64 << 20
    assert parse_size("2 KiB") == 2048
    assert parse_chunk_size("4MB:8MB") == (4 * 10**6, 8 * 10**6)
    assert parse_memcap("100%") >= parse_memcap("1%") > 0
    for bad in ("", "-1MB", "12XB", "MB", "1.2.3K"):
        with pytest.raises(ValueError):
            parse_size(bad)
    for bad in ("0%", "101%", "x%", "0"):
        with pytest.raises(ValueError):
            parse_memcap(bad)
    for bad in ("0", "5:1", ":", "1:x"):
        with pytest.raises(ValueError):
            parse_chunk_size(bad)

"""Issue 3, acceptance check 5: chunked BPE tokenization (tokenize_file and blt-tokenize) equals the
one-shot encode exactly, for every chunk size, thread count and format, on corpus and adversarial
text, with allowed specials; a disallowed special is reported at its offset in the whole input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blt
from bpe_helpers import ENCODINGS, blt_enc, texts, tiktoken_ref
from support import assert_failed_cleanly, read_ids, run_cli

THREADS = (1, 2, 3, 4)
FORMATS = ("bin", "npy", "jsonl")
EOT = "<|endoftext|>"


@pytest.fixture(scope="module", params=ENCODINGS)
def name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def enc(vocab_dir, name):
    return blt_enc(vocab_dir, name)


# Adversarial inputs: where safe_split finds few or no cuts and must widen, and where a cut in the
# wrong place would change the pieces (whitespace before a word, \r\n, digit runs, broken UTF-8).
ADVERSARIAL = {
    "spaces": b" " * 700 + b"x" + b" " * 300 + b"\n",
    "newline_runs": b"a\n\n\n\n b\n \n\tc" * 40 + b"\n" * 200,
    "no_newlines": ("word " * 120 + "ünïcödé" * 20 + "中文字符" * 30).encode(),
    "one_word": b"x" * 1500,
    "crlf_mix": b"line one\r\nline two\n\rthree\r\r\n\n  four \r\n\t\r\n" * 25,
    "digits": b"1234567890 12 3456789 0000000000001 3.14159 1,000,000\n" * 20,
    "invalid_utf8": b"ab\xff\xfe cd\x80\x80 \xe2\x82 \xf0\x9f\x98 ok\n\xc3" * 40 + b"\xe2\x82\xac" * 30,
    "apostrophes": b"it's we'll they'RE I'M don't  's 'll\n" * 30,
    "slashes": b"http://a/b/c\n/usr/bin\n//x\n /y/\n" * 30,
    "emoji": ("👍🏽 👨‍👩‍👧\n🇫🇷❤️ \u00a0\u3000\u2028x\n" * 30).encode(),
}


@pytest.mark.parametrize("kind", sorted(ADVERSARIAL))
def test_tiny_chunks_equal_encode(enc, kind):
    """Chunk sizes 1..64 bytes (safe_split must widen the window almost every time)."""
    data = ADVERSARIAL[kind]
    want = enc.encode(data).tolist()
    for size in range(1, 65):
        got = blt.tokenize_file(data, None, tokenizer=enc, chunk_size=size, num_threads=THREADS[size % 4]).ids
        assert got.dtype == np.uint32
        assert got.tolist() == want, (kind, size)


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_input_tiny_chunks_every_format(tmp_path, enc, fmt):
    """A file input goes through the streaming reader (carry-over between reads), not a buffer."""
    data = b"".join(ADVERSARIAL[k] for k in sorted(ADVERSARIAL))
    src = tmp_path / "adv.txt"
    src.write_bytes(data)
    want = enc.encode(data).tolist()
    for size in (1, 3, 7, 16, 33, 64, 257):
        out = tmp_path / f"ids.{fmt}"
        st = blt.tokenize_file(src, out, tokenizer=enc, chunk_size=size, num_threads=THREADS[size % 4])
        assert st.bytes_in == len(data) and st.ids_out == len(want)
        assert read_ids(out, "uint32").tolist() == want, size


@pytest.fixture(scope="module")
def corpus_samples(corpus_text_files) -> dict:
    """~400 KB from the middle of each corpus text file (keeps the module fast on 2 cores)."""
    out = {}
    for p in corpus_text_files:
        raw = p.read_bytes()
        start = len(raw) // 3
        out[p.name] = raw[start:start + 400_000]
    return out


def test_corpus_chunked_equals_encode_and_tiktoken(tmp_path, vocab_dir, name, enc, corpus_samples):
    """4 KiB..1 MiB chunks on corpus text, every format and thread count, from a file."""
    ref = tiktoken_ref(vocab_dir, name)
    configs = [("4KiB", 1, "bin"), ("16KiB", 2, "npy"), ("64KiB", 3, "jsonl"), ("1MiB", 4, "bin"),
               ("4KiB:64KiB", 4, "npy"), ("4KiB", 3, "jsonl")]
    for fname, data in corpus_samples.items():
        want = enc.encode(data).tolist()
        # The one-shot encode itself agrees with the reference on valid UTF-8 corpus text.
        assert want == ref.encode(data.decode("utf-8", "strict"), disallowed_special=()), fname
        src = tmp_path / fname
        src.write_bytes(data)
        for size, threads, fmt in configs:
            out = tmp_path / f"{fname}.{fmt}"
            st = blt.tokenize_file(src, out, tokenizer=enc, chunk_size=size, num_threads=threads)
            assert st.chunks >= 1 and st.ids_out == len(want)
            assert read_ids(out, "uint32").tolist() == want, (fname, size, threads, fmt)


def test_corpus_chunk_count_grows_with_small_chunks(tmp_path, enc, corpus_samples):
    """The 4 KiB run really is cut into many chunks (so the equality above tests cutting)."""
    data = corpus_samples[sorted(corpus_samples)[0]]
    st = blt.tokenize_file(data, tmp_path / "x.bin", tokenizer=enc, chunk_size="4KiB", num_threads=2)
    assert st.chunks >= len(data) // (8 << 10)


def specials_text(enc, seed: int) -> bytes:
    """Corpus-like text with every special token of enc sprinkled in, some glued to words."""
    rng = np.random.default_rng(seed)
    specials = sorted(enc.special_tokens_set)
    parts = []
    for i in range(300):
        parts.append(rng.choice(["Hello world", " foo", "\n", "  ", "123", "x", "\r\n", "é", "<|", "|>"]))
        if i % 7 == 0:
            parts.append(specials[int(rng.integers(len(specials)))])
    return "".join(parts).encode()


def test_allowed_specials_chunked(tmp_path, enc):
    data = specials_text(enc, 1)
    native = enc.native(allowed_special="all")
    want = enc.encode(data, allowed_special="all").tolist()
    assert enc.eot_token in want or EOT not in enc.special_tokens_set
    for size in list(range(1, 40, 3)) + [64, 500]:
        got = blt.tokenize_file(data, None, tokenizer=native, chunk_size=size, num_threads=THREADS[size % 4]).ids
        assert got.tolist() == want, size
    src = tmp_path / "sp.txt"
    src.write_bytes(data)
    for fmt in FORMATS:
        out = tmp_path / f"sp.{fmt}"
        blt.tokenize_file(src, out, tokenizer=native, chunk_size=5, num_threads=4)
        assert read_ids(out, "uint32").tolist() == want


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])  # r50k_base has one special only
def test_some_specials_allowed_others_as_text(vocab_dir, name):
    enc = blt_enc(vocab_dir, name)
    data = specials_text(enc, 2)
    allowed = {EOT}
    others = enc.special_tokens_set - allowed
    assert any(o.encode() in data for o in others), "the text holds no special that is not allowed"
    want = enc.encode(data, allowed_special=allowed, disallowed_special=()).tolist()
    # The allowed special is its token; the others were encoded as text, not raised.
    assert enc.eot_token in want
    assert not {enc.special_tokens[o] for o in others} & set(want)
    native = enc.native(allowed_special=allowed, disallowed_special=())
    for size in (1, 2, 5, 13, 64):
        assert blt.tokenize_file(data, None, tokenizer=native, chunk_size=size).ids.tolist() == want


def error_line(fn) -> str:
    with pytest.raises(ValueError) as ei:
        fn()
    return str(ei.value).splitlines()[0]


def test_disallowed_special_offset_is_in_the_whole_input(tmp_path, enc):
    """The first disallowed special of the input is reported, at its offset in the whole input,
    whichever chunk a worker finishes first."""
    head = b"some text\n" * 3000 + "ünï\n".encode()
    data = head + EOT.encode() + b" more\n" * 500 + EOT.encode() + b"\n" * 10
    at = data.index(EOT.encode())
    assert at == len(head)
    expect = f"disallowed special token '{EOT}' at byte {at}."
    assert expect in error_line(lambda: enc.encode(data))
    src = tmp_path / "bad.txt"
    src.write_bytes(data)
    out = tmp_path / "bad.bin"
    for size in (1, 7, 64, 4096, 1 << 20):
        for threads in (1, 4):
            assert expect in error_line(lambda: blt.tokenize_file(data, None, tokenizer=enc, chunk_size=size,
                                                                  num_threads=threads))
            assert expect in error_line(lambda: blt.tokenize_file(src, out, tokenizer=enc, chunk_size=size,
                                                                  num_threads=threads))
            assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.txt"]


def test_disallowed_special_at_start_and_end(enc):
    for data in (EOT.encode() + b" x", b"x " * 100 + EOT.encode(), b"\n" * 50 + EOT.encode()):
        at = data.index(EOT.encode())
        for size in (1, 2, 9):
            msg = error_line(lambda: blt.tokenize_file(data, None, tokenizer=enc, chunk_size=size, num_threads=2))
            assert f"at byte {at}." in msg


def test_special_with_whitespace_is_never_cut(tmp_path, vocab_dir):
    """A special whose text holds a space and a newline (possible in HF tokenizer.json files), which
    the split pattern alone would cut inside: disallowed, tiny chunks raise encode's ValueError at
    the same offset; allowed, they give encode's ids."""
    meta = json.loads((vocab_dir / "cl100k_base.meta.json").read_text())
    special = "<x a b\ny>"
    enc = blt.BPETokenizer.from_tiktoken(vocab_dir / "cl100k_base.tiktoken", pattern=meta["pat_str"],
                                         special_tokens={**meta["special_tokens"], special: 100300})
    data = b"hello world\n" * 20 + special.encode() + b" tail a b\n" * 10
    at = data.index(special.encode())
    with pytest.raises(ValueError) as ei:
        enc.encode(data)
    want_error = str(ei.value)
    assert f"'{special}' at byte {at}." in want_error
    src = tmp_path / "sp.txt"
    src.write_bytes(data)
    for size in range(1, 65):
        for source in (data, src):
            with pytest.raises(ValueError) as ei:
                blt.tokenize_file(source, None, tokenizer=enc, chunk_size=size, num_threads=THREADS[size % 4])
            assert str(ei.value) == want_error, size
    want = enc.encode(data, allowed_special={special}).tolist()
    assert 100300 in want
    native = enc.native(allowed_special={special})
    for size in range(1, 65):
        assert blt.tokenize_file(data, None, tokenizer=native, chunk_size=size).ids.tolist() == want, size


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, junk=st.lists(st.sampled_from([b"\xff", b"\x80", b"\xe2\x82", b"\r\n", EOT.encode(),
                                                   b"   ", b"\n\n", b"/", b"'s"]), max_size=8),
       size=st.integers(1, 64), threads=st.sampled_from(THREADS), data=st.data())
def test_hypothesis_chunked_equals_encode(enc, text, junk, size, threads, data):
    raw = bytearray(text.encode("utf-8"))
    for j in junk:  # insert at arbitrary byte positions, splitting characters too
        pos = data.draw(st.integers(0, len(raw)))
        raw[pos:pos] = j
    raw = bytes(raw)
    want = enc.encode(raw, allowed_special="all").tolist()
    got = blt.tokenize_file(raw, None, tokenizer=enc.native(allowed_special="all"), chunk_size=size,
                            num_threads=threads).ids
    assert got.tolist() == want


# ---------------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_vocab_equals_encode(tmp_path, vocab_dir, name, enc, corpus_samples, fmt):
    data = b"".join(corpus_samples[k][:60_000] for k in sorted(corpus_samples)) + ADVERSARIAL["crlf_mix"]
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    want = tiktoken_ref(vocab_dir, name).encode(data.decode("utf-8"), disallowed_special=())
    out = tmp_path / f"out.{fmt}"
    r = run_cli("--input", src, "--output", out, "--vocab", name, "--vocab-dir", vocab_dir,
                "--chunksize", "1KiB", "--threads", "3", "--quiet")
    assert r.returncode == 0, r.stderr.decode()
    assert read_ids(out, "uint32").tolist() == want


def test_cli_vocab_from_env_and_stdin_stdout(tmp_path, vocab_dir, enc):
    data = specials_text(enc, 3)
    env = dict(os.environ, BLT_VOCAB_DIR=str(vocab_dir))
    r = run_cli("-i", "-", "-o", "-", "--vocab", enc.name, "--allowed-special", "all", "--chunksize", "16",
                "--format", "jsonl", input=data, env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout) == enc.encode(data, allowed_special="all").tolist()


def test_cli_allowed_special_list(tmp_path, vocab_dir):
    enc = blt_enc(vocab_dir, "cl100k_base")
    data = b"a<|endoftext|>b<|fim_prefix|>c\n" * 50
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    out = tmp_path / "out.npy"
    r = run_cli("-i", src, "-o", out, "--vocab", "cl100k_base", "--vocab-dir", vocab_dir,
                "--allowed-special", "<|endoftext|>,<|fim_prefix|>", "--chunksize", "8")
    assert r.returncode == 0, r.stderr.decode()
    ref = tiktoken_ref(vocab_dir, "cl100k_base")
    assert read_ids(out, "uint32").tolist() == ref.encode(data.decode(), allowed_special={"<|endoftext|>", "<|fim_prefix|>"})
    # Only one allowed: the other one's text is an error naming it and its first offset.
    r = run_cli("-i", src, "-o", out, "--vocab", "cl100k_base", "--vocab-dir", vocab_dir,
                "--allowed-special", "<|endoftext|>", "--chunksize", "8")
    assert_failed_cleanly(r, 1, f"'<|fim_prefix|>' at byte {data.index(b'<|fim_prefix|>')} of {src}")


def test_cli_disallowed_special_error(tmp_path, vocab_dir):
    data = ("word " * 20_000 + "\n").encode() + EOT.encode() + b"\n"
    src = tmp_path / "in" / "x.txt"
    src.parent.mkdir()
    src.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("-i", src, "-o", out_dir / "x.npy", "--vocab", "o200k_base", "--vocab-dir", vocab_dir,
                "--chunksize", "4KiB", "--threads", "4")
    line = assert_failed_cleanly(r, 1, f"'{EOT}' at byte {data.index(EOT.encode())} of {src}", out_dir)
    assert "--allowed-special" in line


def test_cli_merges_files(tmp_path, vocab_dir):
    """--merges decides the file kind by extension or content; all give r50k/GPT-2 ids."""
    data = ADVERSARIAL["apostrophes"] + ADVERSARIAL["digits"] + b"x<|endoftext|>y\n"
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    want = tiktoken_ref(vocab_dir, "r50k_base").encode(data.decode(), allowed_special="all")
    hf = tmp_path / "tokenizer.json"
    blt_enc(vocab_dir, "r50k_base").save(hf, format="hf")
    hf_noext = tmp_path / "hf_tokenizer"  # detected by content
    hf_noext.write_bytes(hf.read_bytes())
    tk_noext = tmp_path / "ranks"  # a rank file without its extension: detected by content
    tk_noext.write_bytes((vocab_dir / "r50k_base.tiktoken").read_bytes())
    (tmp_path / "ranks.meta.json").write_bytes((vocab_dir / "r50k_base.meta.json").read_bytes())
    cases = [
        ["--merges", vocab_dir / "gpt2_merges.txt", "--vocab-json", vocab_dir / "gpt2_vocab.json"],
        ["--merges", vocab_dir / "r50k_base.tiktoken"],
        ["--merges", tk_noext],
        ["--merges", hf],
        ["--merges", hf_noext],
    ]
    for i, extra in enumerate(cases):
        out = tmp_path / f"o{i}.bin"
        r = run_cli("-i", src, "-o", out, *extra, "--allowed-special", "all", "--chunksize", "5")
        assert r.returncode == 0, (extra, r.stderr.decode())
        assert read_ids(out, "uint32").tolist() == want, extra


def test_cli_gpt2_merges_with_vocab_json_beside_it(tmp_path, vocab_dir):
    (tmp_path / "merges.txt").write_bytes((vocab_dir / "gpt2_merges.txt").read_bytes())
    (tmp_path / "vocab.json").write_bytes((vocab_dir / "gpt2_vocab.json").read_bytes())
    src = tmp_path / "in.txt"
    src.write_bytes(b"hello world\n")
    r = run_cli("-i", src, "-o", tmp_path / "o.npy", "--merges", tmp_path / "merges.txt")
    assert r.returncode == 0, r.stderr.decode()
    assert read_ids(tmp_path / "o.npy", "uint32").tolist() == tiktoken_ref(vocab_dir, "r50k_base").encode("hello world\n")
    (tmp_path / "vocab.json").unlink()
    r = run_cli("-i", src, "-o", tmp_path / "o2.npy", "--merges", tmp_path / "merges.txt")
    assert_failed_cleanly(r, 2, "--vocab-json", tmp_path, keep=["in.txt", "merges.txt", "o.npy"])


def test_cli_uint16_with_small_vocab(tmp_path, vocab_dir):
    data = ADVERSARIAL["no_newlines"]
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    out = tmp_path / "o.bin"
    r = run_cli("-i", src, "-o", out, "--vocab", "r50k_base", "--vocab-dir", vocab_dir, "--dtype", "uint16")
    assert r.returncode == 0, r.stderr.decode()
    assert read_ids(out, "uint16").tolist() == tiktoken_ref(vocab_dir, "r50k_base").encode(data.decode())


@pytest.mark.parametrize("args, match", [
    (["--vocab", "cl100k_base", "--dtype", "uint16"], "uint16"),
    (["--vocab", "o200k_base", "--dtype", "uint16"], "n_vocab"),
    (["--vocab", "cl100k_base", "--bos"], "--bos"),
    (["--vocab", "cl100k_base", "--no-eos"], "--eos"),
    (["--vocab", "cl100k_base", "--type", "text"], "--type"),
    (["--vocab", "cl100k_base", "--strip-bom"], "--strip-bom"),
    (["--vocab", "cl100k_base", "--allowed-special", "<|nope|>"], "<|nope|>"),
    (["--vocab", "nope_base"], "nope_base"),
    (["--vocab", "r50k_base", "--merges", "x.txt"], "not allowed with"),
    (["--allowed-special", "all"], "--allowed-special"),
    (["--vocab-dir", "/tmp"], "--vocab-dir"),
])
def test_cli_usage_errors(tmp_path, vocab_dir, args, match):
    src = tmp_path / "in.txt"
    src.write_bytes(b"hi\n")
    extra = ["--vocab-dir", vocab_dir] if "--vocab" in args and "--vocab-dir" not in args else []
    r = run_cli("-i", src, "-o", tmp_path / "o.bin", *args, *extra)
    assert_failed_cleanly(r, 2, match, tmp_path, keep=["in.txt"])


def test_cli_missing_rank_file_is_a_runtime_error(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"hi\n")
    env = {k: v for k, v in os.environ.items() if k != "BLT_VOCAB_DIR"}
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "nocache")
    r = run_cli("-i", src, "-o", tmp_path / "o.bin", "--vocab", "cl100k_base", "--vocab-dir", tmp_path / "empty",
                env=env)
    line = assert_failed_cleanly(r, 1, "cl100k_base", tmp_path, keep=["in.txt"])
    assert "--vocab-dir" in line


def test_cli_p50k_base(tmp_path, vocab_dir):
    """p50k_base (r50k's pattern, more ranks) through the CLI with tiny chunks."""
    text = "    def f(x):\n        return x  # spaces\n\n" * 40 + "tabs\t\t\tend"
    src = tmp_path / "in.py"
    src.write_text(text)
    out = tmp_path / "o.npy"
    r = run_cli("-i", src, "-o", out, "--vocab", "p50k_base", "--vocab-dir", vocab_dir, "--chunksize", "7")
    assert r.returncode == 0, r.stderr.decode()
    assert read_ids(out, "uint32").tolist() == tiktoken_ref(vocab_dir, "p50k_base").encode(text)

"""BPE training (issue 14): the native trainer against a plain-Python reference, HF BpeTrainer
parity in hf_compatible mode, compression, exports, 64-bit counts, bad input, determinism."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

import blt
import _bpe_train_reference as ref
from support import reap
from blt.train import count_pieces, learn_merges_from_counts

HERE = Path(__file__).resolve().parent


def _pieces(texts, pattern="gpt2"):
    return {p: c for p, c in count_pieces(iter(texts), pattern=pattern).pieces()}


SMALL_CORPORA = {
    "english": ["The quick brown fox jumps over the lazy dog. " * 3, "the the the cat sat on the mat;\n\n  ok"],
    "non_ascii": ["naïve café — über straße, 東京タワー 東京駅, Привет мир привет!", "ééé ààà 🙂🙂 🙂"],
    "repeats": ["aaaaaaaaaa aaaa aaa bbbb abab ababab", "    \n\n\n\t\t  x"],
}


def _binary_bytes() -> bytes:
    rng = random.Random(7)
    return bytes(rng.choice(b"\x00\x01\xff\xfe ab\n\x80\xc3") for _ in range(3000))


@pytest.mark.parametrize("name", sorted(SMALL_CORPORA) + ["binary", "random_counts"])
@pytest.mark.parametrize("hf_compatible", [False, True])
def test_merges_equal_reference_trainer(name, hf_compatible, corpus_dir):
    if name == "binary":
        blob = _binary_bytes() + (corpus_dir / "binary.bin").read_bytes()[:3000]
        counts = _pieces([blob])
    elif name == "random_counts":
        rng = random.Random(3)
        counts = {bytes(rng.choice(b"abc ") for _ in range(rng.randint(1, 9))): rng.randint(1, 50) for _ in range(300)}
    else:
        counts = _pieces(SMALL_CORPORA[name])
    specials = ["<|endoftext|>", "<pad>"] if hf_compatible else ["<|endoftext|>"]
    for min_frequency, max_len in [(0, None), (2, None), (1, 3)]:
        got = learn_merges_from_counts(counts, 256 + len(specials) + 150, special_tokens=specials,
                                       min_frequency=min_frequency, max_token_length=max_len,
                                       hf_compatible=hf_compatible)
        want, tokens = ref.train(counts, 150, hf_compatible=hf_compatible, n_specials=len(specials),
                                 min_frequency=min_frequency, max_token_length=max_len)
        assert got.merges == want, (name, min_frequency, max_len)
        for _, _, out in want:
            assert got.tokens[out] == tokens[out]
        assert len(want) >= 5


def test_counts_past_2_to_the_32_do_not_wrap():
    big = (1 << 32) + 5
    counts = {b"ab": big, b"cd": big - 1, b"abcd": 3, b"cdcd": 1 << 33, b"xyxy": (1 << 61) + 1}
    got = learn_merges_from_counts(counts, 262, min_frequency=1)
    want, _ = ref.train(counts, 6, min_frequency=1)
    assert got.merges == want
    # Wrapping at 2^32 would rank "ab" (5) below "abcd" (3 + 5); the order shows it did not.
    enc = blt.train_bpe_from_counts(counts, 262, min_frequency=1, pattern="gpt2")
    assert len(enc.encode("xyxy")) == 1
    assert len(enc.encode("cdcd")) == 1
    # Beyond what a signed 64-bit pair count holds: a clear error, never a wrapped count.
    with pytest.raises(OverflowError, match="2\\^63"):
        learn_merges_from_counts({b"xyxy": (1 << 62) + 1}, 262, min_frequency=1)


# ---------------------------------------------------------------------------------------- HF parity

tokenizers = pytest.importorskip("tokenizers")


def _hf_train(files, vocab_size, specials=(), min_frequency=2, max_token_length=None):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=list(specials), max_token_length=max_token_length,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(f) for f in files], trainer)
    return json.loads(tok.to_str())


@pytest.fixture(scope="module")
def hf32k(corpus_text_files):
    return _hf_train(corpus_text_files, 32000, ["<|endoftext|>"])


@pytest.fixture(scope="module")
def blt32k(corpus_text_files, tmp_path_factory):
    enc = blt.train_bpe(corpus_text_files, 32000, pattern="gpt2", special_tokens=["<|endoftext|>"],
                        hf_compatible=True, progress=False)
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    enc.save(path, format="hf")
    return enc, json.loads(path.read_text(encoding="utf-8")), path


def _merge_strings(tj):
    return [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]


def test_hf_compatible_equals_hf_bpetrainer_32k(hf32k, blt32k):
    _, mine, _ = blt32k
    assert len(hf32k["model"]["vocab"]) == 32000
    assert mine["model"]["vocab"] == hf32k["model"]["vocab"]
    assert _merge_strings(mine) == _merge_strings(hf32k)


def test_hf_compatible_equals_hf_bpetrainer_8k(corpus_text_files, tmp_path):
    hf = _hf_train(corpus_text_files, 8000)
    enc = blt.train_bpe(corpus_text_files, 8000, pattern="gpt2", hf_compatible=True, progress=False, num_threads=1)
    enc.save(tmp_path / "t.json", format="hf")
    mine = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert mine["model"]["vocab"] == hf["model"]["vocab"]
    assert _merge_strings(mine) == _merge_strings(hf)


def test_hf_compatible_max_token_length_matches_hf(corpus_dir, tmp_path):
    files = [corpus_dir / "en_prose.txt"]
    hf = _hf_train(files, 1500, min_frequency=5, max_token_length=4)
    enc = blt.train_bpe(files, 1500, pattern="gpt2", hf_compatible=True, min_frequency=5, max_token_length=4,
                        progress=False)
    enc.save(tmp_path / "t.json", format="hf")
    mine = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert _merge_strings(mine) == _merge_strings(hf)
    assert mine["model"]["vocab"] == hf["model"]["vocab"]


def test_compression_within_one_percent_of_hf(corpus_text_files, tmp_path):
    """Train on the first 80% of each file, compare bytes per token on the held-out 20%.

    Same sequences for both (the training lines, as HF's ``train(files)`` reads them), same split
    (GPT-2) and vocabulary size; blt in its default mode (byte order ids, tiktoken encoding rule).
    """
    from tokenizers import Tokenizer

    train_files, lines, held_out = [], [], []
    for f in corpus_text_files:
        data = f.read_text(encoding="utf-8")
        cut = data.index("\n", int(len(data) * 0.8)) + 1
        p = tmp_path / f.name
        p.write_text(data[:cut], encoding="utf-8")
        train_files.append(p)
        lines.extend(data[:cut].splitlines(keepends=True))
        held_out.append(data[cut:])
    hf = Tokenizer.from_str(json.dumps(_hf_train(train_files, 8000)))
    enc = blt.train_bpe(iter(lines), 8000, pattern="gpt2", progress=False)
    n_bytes = sum(len(t.encode("utf-8")) for t in held_out)
    hf_bpt = n_bytes / sum(len(e.ids) for e in hf.encode_batch(held_out))
    blt_bpt = n_bytes / sum(len(ids) for ids in enc.encode_batch(held_out))
    assert abs(blt_bpt - hf_bpt) / hf_bpt < 0.01, (blt_bpt, hf_bpt)
    # Trained on whole files (pieces may span lines, as they do when encoding) blt does no worse.
    whole = blt.train_bpe(train_files, 8000, pattern="gpt2", progress=False)
    whole_bpt = n_bytes / sum(len(ids) for ids in whole.encode_batch(held_out))
    assert whole_bpt > hf_bpt * 0.99, (whole_bpt, hf_bpt)


# ------------------------------------------------------------------------------------------ exports


def _sample_texts(corpus_text_files, per_file=60_000):
    out = []
    for f in corpus_text_files:
        data = f.read_text(encoding="utf-8")[:per_file]
        out.extend(data.splitlines(keepends=True))
    return out


@pytest.fixture(scope="module")
def default_tok(corpus_text_files):
    return blt.train_bpe(corpus_text_files, 4000, pattern="gpt2", special_tokens=["<|endoftext|>"], progress=False)


def test_exports_load_with_identical_ids(default_tok, corpus_text_files, tmp_path):
    import tiktoken
    from tokenizers import Tokenizer

    enc = default_tok
    texts = _sample_texts(corpus_text_files)
    want = [ids.tolist() for ids in enc.encode_batch(texts)]
    enc.save(tmp_path / "t.tiktoken", format="tiktoken")
    enc.save(tmp_path / "tokenizer.json", format="hf")
    enc.save(tmp_path / "gpt2", format="gpt2")
    # blt round trips
    for again in (blt.BPETokenizer.from_tiktoken(tmp_path / "t.tiktoken"),
                  blt.BPETokenizer.from_hf(tmp_path / "tokenizer.json"),
                  blt.BPETokenizer.from_gpt2(tmp_path / "gpt2" / "vocab.json", tmp_path / "gpt2" / "merges.txt",
                                             pattern=enc.pattern)):
        assert [ids.tolist() for ids in again.encode_batch(texts)] == want
    # HF tokenizers
    hf = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)] == want
    # tiktoken: the rank file + the pattern
    ranks = {}
    import base64
    for line in (tmp_path / "t.tiktoken").read_bytes().splitlines():
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    tt = tiktoken.Encoding("trained", pat_str=enc.pattern, mergeable_ranks=ranks,
                           special_tokens=enc.special_tokens)
    assert tt.encode_ordinary_batch(texts) == want
    assert tt.encode("a<|endoftext|>b", allowed_special="all") == enc.encode("a<|endoftext|>b", allowed_special="all").tolist()


def test_transformers_loads_the_hf_export(default_tok, blt32k, corpus_text_files, tmp_path):
    transformers = pytest.importorskip("transformers")
    texts = _sample_texts(corpus_text_files, 20_000)
    for enc, path in ((default_tok, tmp_path / "tokenizer.json"), (blt32k[0], blt32k[2])):
        if enc is default_tok:
            enc.save(path, format="hf")
        fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
        want = [ids.tolist() for ids in enc.encode_batch(texts, allowed_special="all")]
        assert fast(texts, add_special_tokens=False)["input_ids"] == want


def test_hf_compatible_tokenizer_encodes_like_hf(blt32k, hf32k, corpus_text_files):
    from tokenizers import Tokenizer

    enc = blt32k[0]
    hf = Tokenizer.from_str(json.dumps(hf32k))
    texts = _sample_texts(corpus_text_files, 30_000)
    assert [e.ids for e in hf.encode_batch(texts)] == [ids.tolist() for ids in enc.encode_batch(texts, allowed_special="all")]


# ----------------------------------------------------------------------------- determinism, memcap


def test_same_input_one_and_two_threads_byte_identical(corpus_dir, tmp_path):
    files = [corpus_dir / "code_python.txt", corpus_dir / "multilingual.txt"]
    outs = []
    for i, threads in enumerate((1, 2, 2)):
        enc = blt.train_bpe(files, 3000, num_threads=threads, progress=False)
        p = tmp_path / f"t{i}.tiktoken"
        enc.save(p)
        enc.save(tmp_path / f"t{i}.json", format="hf")
        outs.append((p.read_bytes(), (tmp_path / f"t{i}.json").read_bytes()))
    assert outs[0] == outs[1] == outs[2]


def test_iterator_source_matches_documents(corpus_dir):
    text = (corpus_dir / "en_prose.txt").read_text(encoding="utf-8")[:400_000]
    docs = text.split("\n\n")
    a = blt.train_bpe(iter(docs), 1000, progress=False)
    b = blt.train_bpe(iter([d.encode() for d in docs]), 1000, progress=False, num_threads=1)
    assert a.encode(text[:5000]).tolist() == b.encode(text[:5000]).tolist()


def test_memcap_prunes_deterministically(corpus_dir):
    files = [corpus_dir / "multilingual.txt", corpus_dir / "code_c.txt"]
    full = count_pieces(files)
    cap = full.memory_bytes // 4
    c1 = count_pieces(files, memcap=cap, num_threads=1)
    c2 = count_pieces(files, memcap=cap, num_threads=2)
    assert c1.prune_threshold >= 2
    assert c1.memory_bytes <= cap
    assert c1.pieces() == c2.pieces()
    enc = blt.train_bpe(files, 2000, memcap=cap, progress=False)
    assert enc.n_vocab == 2000


# ------------------------------------------------------------------------------------ bad input


def test_bad_input_errors(tmp_path, corpus_dir):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        blt.train_bpe(empty, 1000, progress=False)
    with pytest.raises(ValueError, match="empty"):
        blt.train_bpe([], 1000, progress=False)
    with pytest.raises(ValueError, match="below the 256 byte tokens"):
        blt.train_bpe(iter(["some text"]), 256, special_tokens=["<|endoftext|>"], progress=False)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        blt.train_bpe(tmp_path / "missing.txt", 1000, progress=False)
    with pytest.raises(IsADirectoryError):
        blt.train_bpe(tmp_path, 1000, progress=False)
    with pytest.raises(ValueError, match="too small to hold the 256-byte alphabet"):
        blt.train_bpe(iter(["some text"]), 1000, memcap=1000, progress=False)
    with pytest.raises(TypeError):
        blt.train_bpe(iter([1, 2]), 1000, progress=False)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        blt.train_bpe_from_counts({"a": 1 << 64}, 300)
    with pytest.raises(ValueError, match="nothing to train on"):
        blt.train_bpe_from_counts({}, 300)
    with pytest.raises(ValueError):
        blt.train_bpe(iter(["x y"]), 300, pattern="(unclosed", progress=False)


def test_cli_trains_and_errors_leave_no_output(tmp_path, corpus_dir):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "blt.train_cli", *map(str, args)], capture_output=True, text=True)

    out = tmp_path / "tok.tiktoken"
    r = run("--input", corpus_dir / "code_c.txt", "--vocab-size", 600, "--output", out, "-q")
    assert r.returncode == 0, r.stderr
    enc = blt.BPETokenizer.from_tiktoken(out)
    assert enc.n_vocab == 600
    r = run("--input", corpus_dir / "code_c.txt", "--vocab-size", 600, "--output", tmp_path / "g", "--format", "gpt2", "-q")
    assert r.returncode == 0 and sorted(os.listdir(tmp_path / "g")) == ["merges.txt", "vocab.json"]
    for args, code, msg in [
        (("--input", tmp_path / "nope.txt", "--vocab-size", 600), 1, "nope.txt"),
        (("--input", corpus_dir / "code_c.txt", "--vocab-size", 100), 1, "below the 256"),
        (("--input", corpus_dir / "code_c.txt", "--vocab-size", 600, "--memcap", "1KB"), 1, "too small"),
        (("--input", corpus_dir / "code_c.txt", "--vocab-size", "many"), 2, "invalid"),
    ]:
        target = tmp_path / "bad.json"
        r = run(*args, "--output", target, "--format", "hf", "-q")
        assert r.returncode == code, (args, r.stderr)
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not target.exists()
        assert not [p for p in os.listdir(tmp_path) if p.startswith(".blt-train")]


def test_cli_ctrl_c_while_the_input_pipe_is_silent(tmp_path):
    """Ctrl-C ends a run whose input stream has stalled, with exit 130 and no output file."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "tok.tiktoken"
    p = subprocess.Popen([sys.executable, "-m", "blt.train_cli", "--input", "/dev/stdin", "--vocab-size", "600",
                          "--output", str(target), "-q"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdin is not None
        # Four times a pipe's buffer: the write returns only once the trainer has read most of it,
        # so it is counting by then; its input then stays open and silent.
        p.stdin.write(b"some text, then silence\n" * 11000)
        p.stdin.flush()
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        code = p.wait(timeout=30)
    finally:
        reap(p)
        assert p.stdin is not None
        p.stdin.close()
    assert p.stderr is not None
    err = p.stderr.read().decode()
    p.stderr.close()
    assert code == 130, err
    assert err.strip() == "blt-train: interrupted"
    assert os.listdir(tmp_path) == []

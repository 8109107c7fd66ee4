"""BPETokenizer API: specials vs tiktoken (acceptance 4), malformed files (acceptance 6), loading,
saving, pickling, batch, offsets, prefix/count, safe_split, thread safety and the doctests."""

from __future__ import annotations

import base64
import doctest
import json
import pickle
import random
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import blt
import blt.bpe
from bpe_helpers import blt_enc, random_slices, tiktoken_ref

CL = "cl100k_base"

SPECIAL_CASES = [
    # (text, kwargs)
    ("hello <|endoftext|> world", {}),
    ("hello <|endoftext|> world", {"allowed_special": "all"}),
    ("hello <|endoftext|> world", {"allowed_special": {"<|endoftext|>"}}),
    ("hello <|endoftext|> world", {"disallowed_special": ()}),
    ("<|fim_prefix|>a<|endoftext|>", {"allowed_special": {"<|fim_prefix|>"}}),
    ("<|fim_prefix|>a<|endoftext|>", {"allowed_special": {"<|fim_prefix|>"}, "disallowed_special": ()}),
    ("<|fim_prefix|>a<|endoftext|>", {"allowed_special": "all", "disallowed_special": ()}),
    ("x<|endofprompt|>y", {"disallowed_special": {"<|endoftext|>"}}),
    ("x<|endofprompt|>y<|endoftext|>", {"disallowed_special": {"<|endofprompt|>"}, "allowed_special": {"<|endoftext|>"}}),
    ("<|endoftext|><|endoftext|>", {"allowed_special": "all"}),
    ("<|endoftext|", {}),
    ("<|endoftext|>", {"allowed_special": {"<|not_a_special|>"}}),
    ("no specials at all", {}),
    ("<|endoftext|>" * 3 + "tail", {"allowed_special": "all"}),
    ("<<|endoftext|>>", {"allowed_special": "all"}),
    ("a<|endoftext|>", {"allowed_special": {"<|endoftext|>"}, "disallowed_special": {"<|endoftext|>"}}),
    ("a<|endoftext|>", {"allowed_special": "all", "disallowed_special": "all"}),
    ("<|endoftext|>\n<|fim_middle|>", {"allowed_special": {"<|fim_middle|>"}, "disallowed_special": ()}),
]


@pytest.mark.parametrize("text, kwargs", SPECIAL_CASES)
def test_special_tokens_match_tiktoken(vocab_dir, text, kwargs):
    enc, ref = blt_enc(vocab_dir, CL), tiktoken_ref(vocab_dir, CL)
    try:
        want = ref.encode(text, **kwargs)
    except ValueError:
        with pytest.raises(ValueError, match="disallowed special token"):
            enc.encode(text, **kwargs)
        with pytest.raises(ValueError):
            enc.encode_batch(["fine", text], **kwargs)
        return
    assert enc.encode(text, **kwargs).tolist() == want
    assert enc.encode_batch(["x", text], **kwargs)[1].tolist() == want
    assert enc.count(text, **kwargs) == len(want)


def test_many_specials_llama3_style(vocab_dir, tmp_path):
    specials = {f"<|reserved_special_token_{i}|>": 100300 + i for i in range(3000)}
    specials["<|endoftext|>"] = 100257
    enc = blt.BPETokenizer.from_tiktoken(vocab_dir / f"{CL}.tiktoken", pattern=blt_enc(vocab_dir, CL).pattern, special_tokens=specials)
    text = "a<|reserved_special_token_2999|>b<|reserved_special_token_7|><|endoftext|>c"
    ids = enc.encode(text, allowed_special="all").tolist()
    assert 100300 + 2999 in ids and 100307 in ids and 100257 in ids
    assert enc.decode(ids) == text
    with pytest.raises(ValueError, match="reserved_special_token_7"):
        enc.encode("<|reserved_special_token_7|>")


def test_get_encoding_values_match_meta_files(vocab_dir):
    for name in ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]:
        meta = json.loads((vocab_dir / f"{name}.meta.json").read_text())
        enc = blt.get_encoding(name, vocab_dir=vocab_dir)
        assert enc.pattern == meta["pat_str"]
        assert enc.special_tokens == meta["special_tokens"]
        assert enc.name == name
    assert blt.get_encoding("p50k_base", vocab_dir=vocab_dir).n_vocab == 50281
    assert blt_enc(vocab_dir, CL).n_vocab == tiktoken_ref(vocab_dir, CL).n_vocab


def test_get_encoding_lookup_order_and_missing_file(vocab_dir, tmp_path, monkeypatch):
    import hashlib

    empty = tmp_path / "empty"
    empty.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.delenv("BLT_VOCAB_DIR", raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    with pytest.raises(FileNotFoundError) as e:
        blt.get_encoding("r50k_base", vocab_dir=empty)
    assert str(empty / "r50k_base.tiktoken") in str(e.value) and str(cache) in str(e.value)
    assert isinstance(e.value, OSError)
    monkeypatch.setenv("BLT_VOCAB_DIR", str(vocab_dir))
    assert blt.get_encoding("r50k_base").encode("hi").tolist() == [5303]
    monkeypatch.delenv("BLT_VOCAB_DIR")
    url = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"
    shutil.copy(vocab_dir / "r50k_base.tiktoken", cache / hashlib.sha1(url.encode()).hexdigest())
    assert blt.get_encoding("r50k_base").n_vocab == 50257
    with pytest.raises(ValueError, match="unknown encoding"):
        blt.get_encoding("nope")


def test_corrupted_rank_file_fails_checksum(vocab_dir, tmp_path):
    data = (vocab_dir / "r50k_base.tiktoken").read_bytes()
    (tmp_path / "r50k_base.tiktoken").write_bytes(data[:-20])
    with pytest.raises(ValueError, match="SHA-256"):
        blt.get_encoding("r50k_base", vocab_dir=tmp_path)


# ---- malformed files (acceptance 6) --------------------------------------------------------------

def _small_tiktoken_lines():
    return [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("aGVsbG8=", "truncated"),
        ("aGVsbG8= ", "missing rank"),
        ("aGV$bG8= 300", "bad base64"),
        ("aGVsbG8 300", "bad base64"),
        ("aGVsbG8= 5", "duplicate rank"),
        ("aGVsbG8= x1", "bad rank"),
        ("YQ== 300", "duplicate token"),
    ],
)
def test_bad_tiktoken_files_name_file_and_line(tmp_path, bad_line, message):
    lines = _small_tiktoken_lines()
    lines.append(bad_line)
    lines.append("aGVsbG8gd29ybGQ= 400")
    path = tmp_path / "bad.tiktoken"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message) as e:
        blt.BPETokenizer.from_tiktoken(path, pattern=blt.bpe.GPT2_PATTERN)
    assert f"{path}:257:" in str(e.value)


def test_bad_special_tokens(vocab_dir):
    path = vocab_dir / "r50k_base.tiktoken"
    with pytest.raises(ValueError, match="outside"):
        blt.BPETokenizer.from_tiktoken(path, pattern=blt.bpe.GPT2_PATTERN, special_tokens={"<x>": -1})
    with pytest.raises(ValueError, match="ordinary token"):
        blt.BPETokenizer.from_tiktoken(path, pattern=blt.bpe.GPT2_PATTERN, special_tokens={"<x>": 5})
    with pytest.raises(TypeError):
        blt.BPETokenizer.from_tiktoken(path, pattern=blt.bpe.GPT2_PATTERN, special_tokens={"<x>": "5"})


def test_bad_pattern_is_a_value_error(vocab_dir):
    with pytest.raises(ValueError, match="pattern|regex"):
        blt.BPETokenizer.from_tiktoken(vocab_dir / "r50k_base.tiktoken", pattern="(unclosed")


def test_rank_file_missing_a_byte_is_rejected(tmp_path):
    path = tmp_path / "nobyte.tiktoken"
    path.write_text("\n".join(_small_tiktoken_lines()[:255]) + "\n")
    with pytest.raises(ValueError, match="single byte"):
        blt.BPETokenizer.from_tiktoken(path, pattern=blt.bpe.GPT2_PATTERN)


def _write_gpt2(tmp_path, vocab, merges_lines):
    v = tmp_path / "vocab.json"
    m = tmp_path / "merges.txt"
    v.write_text(json.dumps(vocab) if not isinstance(vocab, str) else vocab)
    m.write_text("#version: 0.2\n" + "\n".join(merges_lines) + "\n")
    return v, m


def _byte_vocab():
    return {blt.bpe.BYTE_TO_CHAR[b]: b for b in range(256)}


def test_bad_merges_and_json_raise_value_errors(tmp_path):
    vocab = _byte_vocab()
    vocab["ab"] = 256
    ok_v, ok_m = _write_gpt2(tmp_path, vocab, ["a b"])
    assert blt.BPETokenizer.from_gpt2(ok_v, ok_m).encode("ab").tolist() == [256]
    cases = [
        (vocab, ["a b", "ab"], "merges.txt:3"),  # missing merge part
        (vocab, ["a b", "a  b"], "merges.txt:3"),
        (vocab, ["a b", "a q\u0100\u0101x"], "not in the vocabulary"),
        (vocab, ["b c"], "merged token"),
        ({**vocab, "x": "7"}, ["a b"], "must be an integer"),
        ({**vocab, "x": -1}, ["a b"], "must be an integer"),
        ({**vocab, "x": 2**40}, ["a b"], "must be an integer"),
        ({**vocab, "hello world": 300}, ["a b"], "not a byte-level token"),
        ("[1, 2]", ["a b"], "JSON object"),
        ('{"a": 1,', ["a b"], "invalid JSON"),
    ]
    for v, lines, msg in cases:
        vp, mp = _write_gpt2(tmp_path, v, lines)
        with pytest.raises(ValueError, match=msg):
            blt.BPETokenizer.from_gpt2(vp, mp)


def test_bad_hf_json_types(tmp_path):
    base = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": _byte_vocab(), "merges": []},
    }
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(base))
    assert blt.BPETokenizer.from_hf(path).encode("ab").tolist() == [97, 98]
    bad = [
        (lambda j: j["model"].update(vocab=[1, 2]), "model.vocab"),
        (lambda j: j["model"].update(merges="a b"), "model.merges"),
        (lambda j: j["model"].update(merges=[3]), r"model.merges\[0\]"),
        (lambda j: j.update(added_tokens=[{"content": 5, "id": 1}]), r"added_tokens\[0\]"),
        (lambda j: j["model"].update(ignore_merges="yes"), "ignore_merges"),
    ]
    for edit, msg in bad:
        j = json.loads(json.dumps(base))
        edit(j)
        path.write_text(json.dumps(j))
        with pytest.raises(ValueError, match=msg):
            blt.BPETokenizer.from_hf(path)


# ---- save / load / pickle ------------------------------------------------------------------------

def _sample_texts(corpus_text_files, n=12, seed=0):
    rng = random.Random(seed)
    out = ["hello <|endoftext|> world", "  \n\n 123456 it's"]
    for p in corpus_text_files:
        out += random_slices(p.read_text(encoding="utf-8"), rng, n // len(corpus_text_files) + 1, 3000)
    return out


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base"])
def test_save_tiktoken_round_trip(vocab_dir, tmp_path, corpus_text_files, name):
    enc = blt_enc(vocab_dir, name)
    path = tmp_path / "x.tiktoken"
    enc.save(path)
    assert path.read_bytes() == (vocab_dir / f"{name}.tiktoken").read_bytes()
    back = blt.BPETokenizer.from_tiktoken(path)  # pattern and specials from x.meta.json
    for s in _sample_texts(corpus_text_files):
        assert back.encode(s, allowed_special="all").tolist() == enc.encode(s, allowed_special="all").tolist()


def test_save_gpt2_round_trip(vocab_dir, tmp_path, corpus_text_files):
    src = blt.BPETokenizer.from_gpt2(vocab_dir / "gpt2_vocab.json", vocab_dir / "gpt2_merges.txt")
    src.save(tmp_path / "out", format="gpt2")
    back = blt.BPETokenizer.from_gpt2(tmp_path / "out" / "vocab.json", tmp_path / "out" / "merges.txt")
    assert json.loads((tmp_path / "out" / "vocab.json").read_text()) == json.loads((vocab_dir / "gpt2_vocab.json").read_text())
    for s in _sample_texts(corpus_text_files):
        assert back.encode(s, allowed_special="all").tolist() == src.encode(s, allowed_special="all").tolist()
    # Listed merges are not provably the same as rank semantics (some tokens have splits that are
    # not merges), so a rank file is refused rather than written approximately.
    with pytest.raises(ValueError, match="cannot be saved as a rank file"):
        src.save(tmp_path / "g.tiktoken", format="tiktoken")


def test_save_rejects_unknown_format(vocab_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        blt_enc(vocab_dir, CL).save(tmp_path / "x", format="yaml")


@pytest.mark.parametrize("name", ["r50k_base", "o200k_base"])
def test_pickle_round_trip(vocab_dir, corpus_text_files, name):
    enc = blt_enc(vocab_dir, name)
    blob = pickle.dumps(enc)
    # The vocabulary travels once, compactly (about the size of the raw token bytes plus 8 per token).
    assert len(blob) < 2 * (vocab_dir / f"{name}.tiktoken").stat().st_size
    back = pickle.loads(blob)
    assert back.name == enc.name and back.special_tokens == enc.special_tokens and back.n_vocab == enc.n_vocab
    for s in _sample_texts(corpus_text_files, 8):
        assert back.encode(s, allowed_special="all").tolist() == enc.encode(s, allowed_special="all").tolist()


def test_pickle_of_hf_model_keeps_merges(vocab_dir):
    src = blt.BPETokenizer.from_gpt2(vocab_dir / "gpt2_vocab.json", vocab_dir / "gpt2_merges.txt")
    back = pickle.loads(pickle.dumps(src))
    s = "Pickled merges, 12345 and ünïcödé"
    assert back.encode(s).tolist() == src.encode(s).tolist()


# ---- encode variants -----------------------------------------------------------------------------

def test_encode_returns_uint32_and_long_results_without_copy(vocab_dir):
    enc, ref = blt_enc(vocab_dir, CL), tiktoken_ref(vocab_dir, CL)
    # Longer than 256 bytes: the native buffer itself is the array's memory.
    text = "hello world, " * 200
    for ids in (enc.encode(text), enc.encode_ordinary(text), enc.encode(text.encode())):
        assert ids.dtype == np.uint32 and not ids.flags.owndata
        assert type(ids.base) is blt._core.IdBuffer and ids.base.address == ids.ctypes.data
        assert ids.tolist() == ref.encode(text)
    # Short inputs get a fresh array of their own each call: later calls must not change it.
    first = enc.encode("hello world")
    first_bytes = enc.encode_ordinary(b"hello world")
    for other in ["Completely different text here", "", "x", "<|endoftext|>" * 3]:
        enc.encode_ordinary(other)
    assert first.dtype == np.uint32 and first.flags.writeable and first.flags.c_contiguous
    assert first.tolist() == first_bytes.tolist() == ref.encode("hello world")
    first[0] = 7  # writable and not shared with the next call
    assert enc.encode("hello world").tolist() == ref.encode("hello world")
    assert enc.encode("").dtype == np.uint32 and len(enc.encode("")) == 0


def test_inputs_bytes_like(vocab_dir):
    enc = blt_enc(vocab_dir, CL)
    want = enc.encode("héllo wörld").tolist()
    raw = "héllo wörld".encode()
    for x in [raw, bytearray(raw), memoryview(raw), np.frombuffer(raw, dtype=np.uint8)]:
        assert enc.encode(x).tolist() == want
    with pytest.raises(TypeError):
        enc.encode(12)


def test_offsets(vocab_dir, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    text = corpus_text_files[-1].read_text(encoding="utf-8")[:20000] + "<|endoftext|>é👍"
    r = enc.encode_with_offsets(text, allowed_special="all")
    assert r.ids.tolist() == enc.encode(text, allowed_special="all").tolist()
    data = text.encode()
    # Tokens tile the input: each starts where the previous one's bytes end.
    lens = [len(enc.token_bytes(i)) for i in r.ids.tolist()]
    assert r.byte_offsets.tolist() == list(np.cumsum([0] + lens[:-1]))
    for b, c in zip(r.byte_offsets.tolist(), r.char_offsets.tolist()):
        assert len(data[:b].decode("utf-8", "ignore")) in (c, c + 1)
        assert c <= len(data[:b + 1].decode("utf-8", "ignore"))
    assert enc.encode_with_offsets(data, allowed_special="all").char_offsets is None


def test_encode_prefix_and_max_tokens(vocab_dir, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    text = corpus_text_files[0].read_text(encoding="utf-8")[:5000] + "<|endoftext|> end"
    full = enc.encode(text, allowed_special="all").tolist()
    data = text.encode()
    for n in [0, 1, 2, 17, 500, len(full) - 1, len(full), len(full) + 5]:
        ids, consumed = enc.encode_prefix(text, n, allowed_special="all")
        assert ids.tolist() == full[:n]
        assert enc.decode_bytes(ids) == data[:consumed]
        assert enc.encode(text, allowed_special="all", max_tokens=n).tolist() == full[:n]
    # A disallowed special after the stop point still raises, as a full encode would.
    with pytest.raises(ValueError):
        enc.encode_prefix(text, 3)
    with pytest.raises(ValueError):
        enc.encode_prefix(text, -1)


def test_batch_matches_single_and_threads(vocab_dir, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    items = _sample_texts(corpus_text_files, 20, seed=3) + ["", b"\xff\xfe", "x"]
    r = enc.encode_batch(items, num_threads=2, disallowed_special=())
    assert isinstance(r, blt.RaggedIds) and len(r) == len(items)
    for got, s in zip(r, items):
        assert got.tolist() == enc.encode(s, disallowed_special=()).tolist()
    assert enc.decode_batch(r)[:3] == [s for s in items[:3]]
    with pytest.raises(ValueError):
        enc.encode_batch(["a"], num_threads=0)


def test_decode_errors_and_tokens(vocab_dir):
    enc = blt_enc(vocab_dir, CL)
    assert enc.token_bytes(100257) == b"<|endoftext|>"
    with pytest.raises(ValueError, match="100261"):
        enc.decode([1, 100261])
    with pytest.raises(ValueError):
        enc.token_bytes(-1)
    bad = enc.encode(b"\xe2\x82")
    assert enc.decode(bad) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        enc.decode(bad, errors="strict")
    assert enc.decode([]) == ""


def test_safe_split_cuts_give_same_ids(vocab_dir, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    text = corpus_text_files[1].read_text(encoding="utf-8")[:6000].replace("\n\n", "<|endoftext|>")
    data = text.encode()
    whole = enc.encode(data, allowed_special="all").tolist()
    rng = random.Random(5)
    cuts = 0
    for _ in range(60):
        target = rng.randrange(1, len(data))
        p = enc.safe_split(data, target, allowed_special="all")
        if p == 0:
            continue
        cuts += 1
        assert 0 < p <= target
        parts = enc.encode(data[:p], allowed_special="all").tolist() + enc.encode(data[p:], allowed_special="all").tolist()
        assert parts == whole, p
    assert cuts >= 30, f"safe_split found a cut for only {cuts} of 60 targets in prose"


def test_thread_safety_same_results(vocab_dir, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    texts = _sample_texts(corpus_text_files, 16, seed=9)
    want = [enc.encode(t, disallowed_special=()).tolist() for t in texts]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda t: enc.encode(t, disallowed_special=()).tolist(), texts * 3))
    assert got == want * 3


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bpe_helpers import texts  # noqa: E402

_special_texts = st.lists(
    st.one_of(texts, st.sampled_from(["<|endoftext|>", "<|fim_prefix|>", "<|endoftext", "<|", " <|endoftext|> ", "\n\n"])),
    max_size=8,
).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=_special_texts, frac=st.floats(0, 1), extra=st.integers(0, 40))
def test_safe_split_property_with_specials(vocab_dir, s, frac, extra):
    # Any cut safe_split returns, on a window that may end anywhere after the target, gives the
    # same ids as encoding the whole text: the chunked-pipeline contract (acceptance 5).
    enc = blt_enc(vocab_dir, CL)
    data = s.encode()
    if len(data) < 2:
        return
    target = max(1, int(frac * (len(data) - 1)))
    window = data[: min(len(data), target + 1 + extra)]
    p = enc.safe_split(window, target, allowed_special="all")
    assert 0 <= p <= target
    if p:
        whole = enc.encode(data, allowed_special="all").tolist()
        two = enc.encode(data[:p], allowed_special="all").tolist() + enc.encode(data[p:], allowed_special="all").tolist()
        assert two == whole


def test_tiktoken_vocab_saved_as_gpt2_files_encodes_identically(vocab_dir, tmp_path, corpus_text_files):
    enc = blt_enc(vocab_dir, CL)
    enc.save(tmp_path / "g", format="gpt2")
    back = blt.BPETokenizer.from_gpt2(tmp_path / "g" / "vocab.json", tmp_path / "g" / "merges.txt",
                                      pattern=enc.pattern, special_tokens=list(enc.special_tokens))
    assert back.special_tokens == enc.special_tokens
    for s in _sample_texts(corpus_text_files, 8, seed=4):
        assert back.encode(s, allowed_special="all").tolist() == enc.encode(s, allowed_special="all").tolist()

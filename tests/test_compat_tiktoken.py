"""blt.compat.tiktoken against the tiktoken package itself (built offline from the shared vocab
files): the same ids, lists and types, the same errors and messages, the same model table and
encoding names; loading from tiktoken's cache, plugins, pickling."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt.compat.tiktoken as compat
from blt.compat.tiktoken import registry
from bpe_helpers import random_slices, texts, tiktoken_ref

NAMES = ["r50k_base", "cl100k_base", "o200k_base"]


@pytest.fixture(scope="module", params=NAMES)
def pair(request, vocab_dir):
    return compat.get_encoding(request.param, vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, request.param)


def test_corpus_ids_batches_offsets_and_types_match_tiktoken(pair, corpus_text_files):
    ours, ref = pair
    rng = random.Random(13)
    items = [s for f in corpus_text_files for s in random_slices(f.read_text(encoding="utf-8"), rng, 40, [1, 7, 60, 500])]
    for s in items:
        ids = ours.encode(s)
        assert ids == ref.encode(s)
        assert type(ids) is list and all(type(i) is int for i in ids)
        assert ours.encode_ordinary(s) == ref.encode_ordinary(s)
        assert ours.encode(s.encode("utf-8")) == ids  # bytes in, same ids
        arr = ours.encode_to_numpy(s)
        assert arr.dtype == np.uint32 and arr.tolist() == ids
        try:
            assert ours.decode_with_offsets(ids) == ref.decode_with_offsets(ids)
        except UnicodeDecodeError:
            with pytest.raises(UnicodeDecodeError):
                ref.decode_with_offsets(ids)
    batch = ours.encode_batch(items, allowed_special="all")
    assert batch == ref.encode_batch(items, allowed_special="all")
    assert type(batch) is list and all(type(x) is list for x in batch)
    assert ours.encode_ordinary_batch(items, num_threads=2) == ref.encode_ordinary_batch(items)
    assert ours.decode_batch(batch) == ref.decode_batch(batch) == items
    assert ours.decode_bytes_batch(batch) == ref.decode_bytes_batch(batch)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=40) | st.lists(st.sampled_from([b" ", b"\n", b"a", b"\xec\x8b\xa4", b"\xed", b"\x80", b"\xf0\x9f"]), max_size=12).map(b"".join))
def test_encode_bytes_matches_tiktoken(vocab_dir, data):
    for name in NAMES:
        ours, ref = compat.get_encoding(name, vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, name)
        assert ours._encode_bytes(data) == ref._encode_bytes(data)


@settings(max_examples=100, deadline=None)
@given(text=texts)
def test_hypothesis_text_matches_tiktoken(vocab_dir, text):
    ours, ref = compat.get_encoding("o200k_base", vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, "o200k_base")
    assert ours.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")


SPECIAL_CASES = [
    ("x <|endoftext|> y", {}),
    ("<|fim_prefix|> then <|endoftext|>", {}),
    ("<|fim_prefix|> then <|endoftext|>", {"allowed_special": {"<|fim_prefix|>"}}),
    ("a <|endofprompt|>", {"disallowed_special": {"<|endofprompt|>"}}),
    ("a <|endofprompt|>", {"allowed_special": "all", "disallowed_special": {"<|endofprompt|>"}}),
]


@pytest.mark.parametrize("text,kw", SPECIAL_CASES)
def test_disallowed_special_errors_are_tiktokens(vocab_dir, text, kw):
    ours, ref = compat.get_encoding("cl100k_base", vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, "cl100k_base")
    for call in ("encode", "encode_to_numpy", "encode_batch"):
        arg = [text] if call == "encode_batch" else text
        with pytest.raises(ValueError) as theirs:
            getattr(ref, call)(arg, **kw)
        with pytest.raises(ValueError) as mine:
            getattr(ours, call)(arg, **kw)
        assert str(mine.value) == str(theirs.value)


def test_unknown_tokens_raise_keyerror_as_tiktoken(vocab_dir):
    ours, ref = compat.get_encoding("cl100k_base", vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, "cl100k_base")
    for call, arg in [("decode_single_token_bytes", 100262), ("encode_single_token", b"not one token"),
                      ("encode_single_token", "not one token")]:
        with pytest.raises(KeyError):
            getattr(ref, call)(arg)
        with pytest.raises(KeyError):
            getattr(ours, call)(arg)
    with pytest.raises(KeyError):
        ours.decode([100262])
    assert ours.encode_single_token(b"<|endoftext|>") == ref.encode_single_token(b"<|endoftext|>") == 100257
    assert ours.is_special_token(100257) and not ours.is_special_token(15339)
    assert ours.special_tokens_set == ref.special_tokens_set
    assert (ours.n_vocab, ours.max_token_value, ours.eot_token) == (ref.n_vocab, ref.max_token_value, ref.eot_token)
    assert ours.token_byte_values() == ref.token_byte_values()


def test_model_table_and_names_are_tiktokens():
    import tiktoken
    import tiktoken.model

    assert compat.model.MODEL_TO_ENCODING == tiktoken.model.MODEL_TO_ENCODING
    assert list(compat.model.MODEL_PREFIX_TO_ENCODING.items()) == list(tiktoken.model.MODEL_PREFIX_TO_ENCODING.items())
    assert compat.list_encoding_names() == tiktoken.list_encoding_names()
    for model in ["gpt-4o-mini-2024", "gpt-3.5-turbo-16k", "ft:gpt-4o:org", "text-davinci-edit-001", "gpt-oss-20b"]:
        assert compat.encoding_name_for_model(model) == tiktoken.encoding_name_for_model(model)
    with pytest.raises(KeyError):
        compat.encoding_name_for_model("no-such-model")


def test_every_builtin_encoding_matches_tiktokens_definition(vocab_dir):
    """gpt2, p50k_edit and o200k_harmony (specials sharing an id included) against tiktoken's own
    constructors, fed with our offline ranks."""
    from tiktoken_ext import openai_public

    import tiktoken

    for name in ["gpt2", "p50k_edit", "o200k_harmony"]:
        ours = compat.get_encoding(name, vocab_dir=vocab_dir)
        base = {"gpt2": "r50k_base", "p50k_edit": "p50k_base", "o200k_harmony": "o200k_base"}[name]
        ranks = compat.get_encoding(base, vocab_dir=vocab_dir)._mergeable_ranks
        spec = {"gpt2": openai_public.r50k_base, "p50k_edit": openai_public.p50k_edit,
                "o200k_harmony": openai_public.o200k_harmony}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: ranks)
            kw = spec[name]()
        kw["name"] = name
        ref = tiktoken.Encoding(**kw)
        assert ours._mergeable_ranks == ref._mergeable_ranks
        assert ours._special_tokens == ref._special_tokens and ours.n_vocab == ref.n_vocab
        text = "hi <|reserved_200018|><|endofprompt|><|fim_middle|> <|call|> 0000 <|endoftext|>"
        assert ours.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")


def test_registered_encodings_pickle_by_name_and_custom_ones_by_value(vocab_dir):
    enc = compat.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    blob = pickle.dumps(enc)
    assert len(blob) < 200 and pickle.loads(blob) is enc
    custom = compat.Encoding("custom", pat_str=enc._pat_str, mergeable_ranks={bytes([b]): b for b in range(256)} | {b"ab": 256},
                             special_tokens={"<|x|>": 1000})
    back = pickle.loads(pickle.dumps(custom))
    assert back.name == "custom" and back._pat_str == custom._pat_str
    assert back.encode("ab<|x|>", allowed_special="all") == custom.encode("ab<|x|>", allowed_special="all") == [256, 1000]
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        compat.Encoding("bad", pat_str=".", mergeable_ranks={b"a": 0}, special_tokens={}, explicit_n_vocab=5)


def test_loads_from_tiktokens_cache_by_sha1_of_the_url_and_never_the_network(vocab_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    blob = "https://openaipublic.blob.core.windows.net/"
    for url, local in [(blob + "encodings/r50k_base.tiktoken", "r50k_base.tiktoken"),
                       (blob + "gpt-2/encodings/main/vocab.bpe", "gpt2_merges.txt"),
                       (blob + "gpt-2/encodings/main/encoder.json", "gpt2_vocab.json")]:
        shutil.copy(vocab_dir / local, cache / hashlib.sha1(url.encode()).hexdigest())

    def no_network(*a, **k):
        raise AssertionError("blt.compat.tiktoken opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(registry, "ENCODINGS", {})
    monkeypatch.delenv("BLT_VOCAB_DIR", raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert compat.get_encoding("gpt2").encode("hello world") == [31373, 995]
    assert compat.get_encoding("r50k_base").encode("hello <|endoftext|>", allowed_special="all") == [31373, 220, 50256]
    with pytest.raises(FileNotFoundError, match="never downloads") as e:
        compat.get_encoding("cl100k_base")
    assert str(cache / hashlib.sha1((blob + "encodings/cl100k_base.tiktoken").encode()).hexdigest()) in str(e.value)
    bad = cache / hashlib.sha1((blob + "encodings/cl100k_base.tiktoken").encode()).hexdigest()
    bad.write_bytes(b"YQ== 0\n")
    with pytest.raises(ValueError, match="SHA-256"):
        compat.get_encoding("cl100k_base")
    with pytest.raises(ValueError, match="Unknown encoding"):
        compat.get_encoding("no_such_encoding")


def test_plugin_encodings_from_tiktoken_ext(tmp_path):
    plugin = tmp_path / "tiktoken_ext" / "blt_test_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "def tiny():\n"
        "    ranks = {bytes([b]): b for b in range(256)}\n"
        "    ranks[b'hi'] = 256\n"
        "    return {'name': 'tiny', 'pat_str': r'\\w+|\\s+', 'mergeable_ranks': ranks,\n"
        "            'special_tokens': {'<|end|>': 257}, 'explicit_n_vocab': 258}\n"
        "ENCODING_CONSTRUCTORS = {'tiny': tiny}\n"
    )
    prog = ("import blt.compat.tiktoken as t, pickle; e = t.get_encoding('tiny'); "
            "print('tiny' in t.list_encoding_names(), e.encode('hi there<|end|>', allowed_special='all'), "
            "pickle.loads(pickle.dumps(e)) is e)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    run = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == "True [256, 32, 116, 104, 101, 114, 101, 257] True"


def test_encode_with_unstable_matches_tiktoken(vocab_dir, corpus_text_files):
    rng = random.Random(5)
    cases = ["hello fanta", "x<|endoftext|>", "", " é", "12345", "x<|endoftext|> y", "don't", "\u4e2d\u6587"]
    # A text ending in whitespace has ~10^5 completions (every token starting with it), slow in
    # both libraries: one such case (r50k), and slices that end otherwise.
    slices = [s for f in corpus_text_files for s in random_slices(f.read_text(encoding="utf-8"), rng, 6, [3, 12, 30])]
    slices = [s for s in slices if not s[-1:].isspace()]
    for name in NAMES:
        ours, ref = compat.get_encoding(name, vocab_dir=vocab_dir), tiktoken_ref(vocab_dir, name)
        for text in cases + (slices if name == "cl100k_base" else ["hi\n "] if name == "r50k_base" else []):
            stable, completions = ours.encode_with_unstable(text, allowed_special="all")
            ref_stable, ref_completions = ref.encode_with_unstable(text, allowed_special="all")
            assert stable == ref_stable, text
            assert sorted(map(tuple, completions)) == sorted(map(tuple, ref_completions)), text
    with pytest.raises(ValueError, match="disallowed special token"):
        ours.encode_with_unstable("a <|endoftext|>")


def test_single_piece_and_python_split_match_tiktoken(pair, corpus_text_files):
    ours, ref = pair
    rng = random.Random(3)
    for text in [s for f in corpus_text_files for s in random_slices(f.read_text(encoding="utf-8"), rng, 4, [20, 200])]:
        assert ours._encode_only_native_bpe(text) == ref._encode_only_native_bpe(text) == ref.encode_ordinary(text)
        assert ours._encode_single_piece(text[:40]) == ref._encode_single_piece(text[:40])
    assert ours._encode_single_piece(b"\xff\xfe ab") == ref._encode_single_piece(b"\xff\xfe ab")

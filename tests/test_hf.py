"""Acceptance: BPETokenizer.to_transformers() and blt.hf.BltTokenizer against transformers' own
tokenizers on the corpus: input_ids, attention_mask, offset_mapping, padding, truncation,
return_tensors="np" and the save_pretrained / from_pretrained round trip.

References: for GPT-2, transformers' GPT2TokenizerFast loaded from vocab.json + merges.txt; for
cl100k and o200k, transformers' TikTokenConverter on the rank file (it numbers special tokens
after the ranks, so special ids are compared with our encoder instead); for the byte ids,
transformers' ByT5Tokenizer (byte b is b + 3 there, b + 4 here)."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest

import blt
from bpe_helpers import random_slices

transformers = pytest.importorskip("transformers", reason="transformers is in requirements-dev.txt")
from transformers import AutoTokenizer, ByT5Tokenizer, GPT2TokenizerFast, PreTrainedTokenizerFast  # noqa: E402
from transformers.convert_slow_tokenizer import TikTokenConverter  # noqa: E402

from blt.hf import BltTokenizer  # noqa: E402

MAX_LEN = 48


@pytest.fixture(scope="module")
def corpus_items(corpus_text_files):
    rng = random.Random(11)
    return [s for f in corpus_text_files for s in random_slices(f.read_text(encoding="utf-8"), rng, 24, [1, 5, 40, 300])]


def reference(name, vocab_dir, tmp_path_factory):
    if name == "gpt2":
        d = tmp_path_factory.mktemp("gpt2")
        shutil.copy(vocab_dir / "gpt2_vocab.json", d / "vocab.json")
        shutil.copy(vocab_dir / "gpt2_merges.txt", d / "merges.txt")
        ref = GPT2TokenizerFast.from_pretrained(str(d))
        ref.pad_token = ref.eos_token
        return ref
    meta = json.loads((vocab_dir / f"{name}.meta.json").read_text())
    conv = TikTokenConverter(vocab_file=str(vocab_dir / f"{name}.tiktoken"), pattern=meta["pat_str"],
                             extra_special_tokens=["<|endoftext|>"])
    return PreTrainedTokenizerFast(tokenizer_object=conv.converted(), pad_token="<|endoftext|>")


def ours(name, vocab_dir):
    if name == "gpt2":
        return blt.BPETokenizer.from_gpt2(vocab_dir / "gpt2_vocab.json", vocab_dir / "gpt2_merges.txt")
    return blt.get_encoding(name, vocab_dir=vocab_dir)


def batches(items, n=16):
    return [items[i:i + n] for i in range(0, len(items), n)]


@pytest.fixture(scope="module", params=["gpt2", "cl100k_base", "o200k_base"])
def converted(request, vocab_dir, tmp_path_factory):
    """(our encoder, its to_transformers(), that saved and loaded back by AutoTokenizer, transformers' own)."""
    name = request.param
    enc = ours(name, vocab_dir)
    fast = enc.to_transformers()
    saved = tmp_path_factory.mktemp(f"{name}-saved")
    fast.save_pretrained(str(saved))
    return enc, fast, AutoTokenizer.from_pretrained(str(saved)), reference(name, vocab_dir, tmp_path_factory)


def test_to_transformers_matches_transformers_and_our_offsets(converted, corpus_items):
    enc, fast, loaded, ref = converted
    assert isinstance(fast, PreTrainedTokenizerFast)
    eot = enc.special_tokens["<|endoftext|>"]
    assert fast.pad_token_id == fast.eos_token_id == eot
    for texts in batches(corpus_items):
        for side in ("right", "left"):
            kw = dict(padding=True, truncation=True, max_length=MAX_LEN, return_offsets_mapping=True,
                      return_tensors="np", padding_side=side)
            mine, theirs, back = fast(texts, **kw), ref(texts, **kw), loaded(texts, **kw)
            mask = mine["attention_mask"]
            np.testing.assert_array_equal(mask, theirs["attention_mask"])
            np.testing.assert_array_equal(mine["offset_mapping"], theirs["offset_mapping"])
            # Padding is our <|endoftext|>; the converted reference pads with the id it gave it.
            np.testing.assert_array_equal(np.where(mask == 1, mine["input_ids"], -1), np.where(mask == 1, theirs["input_ids"], -1))
            assert (mine["input_ids"][mask == 0] == eot).all()
            for key in ("input_ids", "attention_mask", "offset_mapping"):
                np.testing.assert_array_equal(back[key], mine[key])
        for text in texts:  # the same ids and offsets as our encoder, untruncated
            got = fast(text, return_offsets_mapping=True)
            want = enc.encode_with_offsets(text, allowed_special="all")
            assert got["input_ids"] == want.ids.tolist()
            assert [a for a, _ in got["offset_mapping"]] == want.char_offsets.tolist()


def test_to_transformers_special_tokens_are_ours(converted):
    enc, fast, loaded, _ = converted
    text = "a<|endoftext|>b " + "".join(enc.special_tokens)
    for tok in (fast, loaded):
        assert tok(text)["input_ids"] == enc.encode(text, allowed_special="all").tolist()
        assert tok.decode(tok(text)["input_ids"]) == text
        assert "<|endoftext|>" in tok.all_special_tokens


def test_to_transformers_rejects_an_unknown_pad_token(vocab_dir):
    with pytest.raises(ValueError, match="pad_token"):
        blt.get_encoding("r50k_base", vocab_dir=vocab_dir).to_transformers(pad_token="<|no such|>")


def byt5_as_blt(ids):
    """ByT5 ids as BLT ids: bytes move up by one (its first byte id is 3, ours 4); padding is 0 in both."""
    a = np.asarray(ids)
    return np.where(a >= 3, a + 1, a)


def test_blt_tokenizer_ids_are_byte_tokenizers(corpus_items):
    tok, native = BltTokenizer(), blt.ByteTokenizer()
    for text in corpus_items:
        assert tok(text)["input_ids"] == native.encode(text).tolist()
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    assert tok("<s></s>")["input_ids"] == native.encode("<s></s>").tolist()  # special text stays bytes


def test_blt_tokenizer_padding_truncation_tensors_match_byt5(corpus_items, tmp_path):
    tok, ref = BltTokenizer(), ByT5Tokenizer()
    tok.save_pretrained(str(tmp_path))
    back = BltTokenizer.from_pretrained(str(tmp_path))
    for texts in batches(corpus_items):
        for side in ("right", "left"):
            for padding in (True, "max_length"):
                kw = dict(padding=padding, truncation=True, max_length=MAX_LEN, return_tensors="np",
                          padding_side=side, add_special_tokens=False)
                mine, theirs = tok(texts, **kw), ref(texts, **kw)
                np.testing.assert_array_equal(mine["input_ids"], byt5_as_blt(theirs["input_ids"]))
                np.testing.assert_array_equal(mine["attention_mask"], theirs["attention_mask"])
                with_specials = {**kw, "add_special_tokens": True}
                got, again = tok(texts, **with_specials), back(texts, **with_specials)
                for key in ("input_ids", "attention_mask"):
                    np.testing.assert_array_equal(again[key], got[key])
                rows = [r[m == 1].tolist() for r, m in zip(got["input_ids"], got["attention_mask"])]
                for row, text in zip(rows, texts):
                    full = blt.ByteTokenizer().encode(text).tolist()
                    assert row == (full if len(full) <= MAX_LEN else full[:MAX_LEN - 1] + [full[-1]])


def test_blt_tokenizer_options_survive_save_pretrained(tmp_path):
    tok = BltTokenizer(add_bos=False, model_max_length=16, padding_side="left")
    tok.save_pretrained(str(tmp_path))
    back = BltTokenizer.from_pretrained(str(tmp_path))
    assert (back.add_bos, back.add_eos, back.model_max_length, back.padding_side) == (False, True, 16, "left")
    assert back(["Hi", "Hey"], padding=True)["input_ids"] == [[0, 76, 109, 2], [76, 105, 125, 2]]
    assert back.get_special_tokens_mask([76, 109]) == [0, 0, 1]

"""Acceptance 2: ids identical to HF `tokenizers` for the GPT-2 vocab/merges pair, for a
tokenizer.json exported by HF from it, and for tokenizer.json files we export (HF loads them)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings

import blt
from bpe_helpers import blt_enc, random_slices, texts_assigned

tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def hf_gpt2(vocab_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    t = Tokenizer(models.BPE.from_file(str(vocab_dir / "gpt2_vocab.json"), str(vocab_dir / "gpt2_merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    return t


@pytest.fixture(scope="module")
def ours_gpt2(vocab_dir):
    return blt.BPETokenizer.from_gpt2(vocab_dir / "gpt2_vocab.json", vocab_dir / "gpt2_merges.txt")


@pytest.fixture(scope="module")
def ours_from_hf_json(hf_gpt2, tmp_path_factory):
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    hf_gpt2.save(str(path))
    return blt.BPETokenizer.from_hf(path)


def hf_ids(tok, s):
    return tok.encode(s, add_special_tokens=False).ids


def test_corpus_files_match_hf(hf_gpt2, ours_gpt2, ours_from_hf_json, corpus_text_files):
    for path in corpus_text_files:
        text = path.read_text(encoding="utf-8")[:300_000]  # HF is slow; whole files are covered vs tiktoken
        want = hf_ids(hf_gpt2, text)
        assert ours_gpt2.encode_ordinary(text).tolist() == want, path.name
        assert ours_from_hf_json.encode_ordinary(text).tolist() == want, path.name


def test_random_slices_match_hf(hf_gpt2, ours_gpt2, corpus_text_files):
    rng = random.Random(2)
    for path in corpus_text_files:
        text = path.read_text(encoding="utf-8")
        for s in random_slices(text, rng, 20, [1, 3, 40, 700]):
            assert ours_gpt2.encode_ordinary(s).tolist() == hf_ids(hf_gpt2, s)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=texts_assigned)
def test_generated_text_matches_hf(hf_gpt2, ours_gpt2, ours_from_hf_json, s):
    want = hf_ids(hf_gpt2, s)
    assert ours_gpt2.encode_ordinary(s).tolist() == want
    assert ours_from_hf_json.encode_ordinary(s).tolist() == want
    assert ours_gpt2.decode(want) == hf_gpt2.decode(want)


def test_gpt2_files_agree_with_r50k(vocab_dir, ours_gpt2):
    r50k = blt_enc(vocab_dir, "r50k_base")
    text = (vocab_dir / "README.md").read_text()
    assert ours_gpt2.encode(text).tolist() == r50k.encode(text).tolist()
    assert ours_gpt2.eot_token == 50256


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base"])
def test_our_hf_export_loads_in_hf_with_same_ids(vocab_dir, tmp_path, corpus_text_files, name):
    from tokenizers import Tokenizer

    enc = blt_enc(vocab_dir, name)
    path = tmp_path / "tokenizer.json"
    enc.save(path, format="hf")
    hf = Tokenizer.from_file(str(path))
    back = blt.BPETokenizer.from_hf(path)
    rng = random.Random(name)
    samples = ["hello <|endoftext|> world", "<|endoftext|>", "a<|endoftext|>b<|endoftext|>"]
    for p in corpus_text_files:
        samples += random_slices(p.read_text(encoding="utf-8"), rng, 10, [5, 100, 2000])
    for s in samples:
        want = enc.encode(s, allowed_special="all").tolist()
        assert hf_ids(hf, s) == want, s[:40]
        assert back.encode(s, allowed_special="all").tolist() == want
    assert back.special_tokens == enc.special_tokens


def test_added_tokens_follow_hf(vocab_dir, tmp_path, hf_gpt2):
    from tokenizers import AddedToken, Tokenizer

    hf = Tokenizer.from_str(hf_gpt2.to_str())
    hf.add_special_tokens([AddedToken("<|im_start|>", special=True, normalized=False)])
    hf.add_tokens([AddedToken("zzqq", special=False, normalized=False)])
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    ours = blt.BPETokenizer.from_hf(path)
    for s in ["a<|im_start|>b zzqq zzqqzz", "zzqq", "<|im_start|><|im_start|>", "plain text"]:
        assert ours.encode(s, allowed_special="all").tolist() == hf_ids(hf, s)
    # The non-special added token is always matched, even when no special is allowed.
    assert ours.encode("zzqq", disallowed_special=()).tolist() == hf_ids(hf, "zzqq")
    with pytest.raises(ValueError, match="im_start"):
        ours.encode("x<|im_start|>")


def _gpt2_json(hf_gpt2):
    import json

    return json.loads(hf_gpt2.to_str())


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda j: j.update(normalizer={"type": "NFC"}), "normalizer"),
        (lambda j: j["model"].update(type="WordPiece"), "model.type"),
        (lambda j: j["model"].update(byte_fallback=True), "byte_fallback"),
        (lambda j: j["model"].update(dropout=0.1), "dropout"),
        (lambda j: j["pre_tokenizer"].update(add_prefix_space=True), "add_prefix_space"),
        (lambda j: j.update(decoder={"type": "Metaspace"}), "decoder"),
        (lambda j: j.update(post_processor={"type": "TemplateProcessing", "single": [], "pair": [], "special_tokens": {}}), "post_processor"),
        (lambda j: j.update(pre_tokenizer={"type": "Whitespace"}), "pre_tokenizer"),
        (lambda j: j.update(truncation={"max_length": 5}), "truncation"),
    ],
)
def test_unsupported_hf_features_raise_not_implemented(hf_gpt2, tmp_path, edit, field):
    import json

    j = _gpt2_json(hf_gpt2)
    edit(j)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(j))
    with pytest.raises(NotImplementedError, match=field):
        blt.BPETokenizer.from_hf(path)


def test_split_plus_byte_level_sequence_matches_hf(hf_gpt2, tmp_path, vocab_dir):
    # Llama 3 / Qwen 2 layout: Split(regex, Isolated) then ByteLevel(use_regex=false).
    import json

    from tokenizers import Tokenizer

    j = _gpt2_json(hf_gpt2)
    cl100k_pat = json.loads((vocab_dir / "cl100k_base.meta.json").read_text())["pat_str"]
    qwen_pat = cl100k_pat.replace(r"\p{N}{1,3}", r"\p{N}")
    for pat in [cl100k_pat, qwen_pat]:
        j["pre_tokenizer"] = {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        }
        j["model"]["ignore_merges"] = True
        path = tmp_path / "tokenizer.json"
        path.write_text(json.dumps(j))
        hf = Tokenizer.from_file(str(path))
        ours = blt.BPETokenizer.from_hf(path)
        for s in ["Hello 12345 worlds!!\n\n  x", "I'LL  don't 3.14159\r\n", "日本語のテキスト 😀"]:
            assert ours.encode_ordinary(s).tolist() == hf_ids(hf, s)


def test_added_tokens_lstrip_rstrip_follow_hf(tmp_path, hf_gpt2):
    from tokenizers import AddedToken, Tokenizer

    hf = Tokenizer.from_str(hf_gpt2.to_str())
    hf.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False),
                           AddedToken("<sep>", special=True, rstrip=True, normalized=False)])
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    ours = blt.BPETokenizer.from_hf(path)
    data = "a   <mask> b<sep>   c \u3000<mask><sep>\n\n<mask>"
    assert ours.encode(data, allowed_special="all").tolist() == hf_ids(hf, data)
    for s in ["x <mask>", " <mask> ", "<sep> \t y", "<mask>", "  <sep>  <mask>  "]:
        assert ours.encode(s, allowed_special="all").tolist() == hf_ids(hf, s)
    # Cuts chosen by safe_split never separate a special from the whitespace it swallows.
    raw = (data * 20).encode()
    whole = ours.encode(raw, allowed_special="all").tolist()
    cuts = 0
    for target in range(1, len(raw) - 1, 5):
        for window in (raw, raw[: target + 3]):
            p = ours.safe_split(window, target, allowed_special="all")
            if p:
                cuts += 1
                two = ours.encode(raw[:p], allowed_special="all").tolist() + ours.encode(raw[p:], allowed_special="all").tolist()
                assert two == whole, (target, p)
    assert cuts > 0, "safe_split found no cut: nothing was checked"


def test_prefix_consumed_covers_stripped_whitespace(tmp_path, hf_gpt2):
    from tokenizers import AddedToken, Tokenizer

    hf = Tokenizer.from_str(hf_gpt2.to_str())
    hf.add_special_tokens([AddedToken("<sep>", special=True, rstrip=True, lstrip=True, normalized=False)])
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    ours = blt.BPETokenizer.from_hf(path)
    text = "ab  <sep>   cd"
    full = ours.encode(text, allowed_special="all").tolist()
    assert full == hf_ids(hf, text)
    k = full.index(hf.token_to_id("<sep>"))
    ids, consumed = ours.encode_prefix(text, k + 1, allowed_special="all")
    assert ids.tolist() == full[: k + 1]
    assert consumed == len("ab  <sep>   ")  # the special's match swallowed the spaces around it

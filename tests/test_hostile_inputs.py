"""Hostile inputs (issue 15, docs/reliability.md): each one is handled correctly, with bounded work,
or refused with a clear ValueError naming what and where; never a crash, hang or wrong result.

Times and memory of the big variants are measured by tools/hostile_inputs.py (docs/reliability.md);
these tests assert behaviour only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import blt
from bpe_helpers import blt_enc

ENCODINGS = ["r50k_base", "cl100k_base", "o200k_base"]
N = 2 * 10**5  # tools/hostile_inputs.py measures 10^6 and 10^7

# Inputs that stalled or crashed other tokenizers (tiktoken #195/#245): one pre-tokenizer piece or
# one regex run of 10^6 characters.
HOSTILE = {
    "no_split_point": b"a" * N,
    "punctuation": b"!" * N,
    "mixed_punct": b"!?.,;:" * (N // 6),
    "digits": b"7" * N,
    "spaces": b" " * N,
    "newlines": b"\n" * N,
    "space_then_letter": b" " * N + b"x",
    "combining_marks": "e" .encode() + "\u0301".encode() * (N // 2),
    "cjk": "\u4f60" .encode() * (N // 3),
    "nul_bytes": b"\x00" * N,
    "invalid_utf8": b"\xff\xfe\x80" * (N // 3),
}


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_long_runs_round_trip(vocab_dir: Path, name: str, kind: str) -> None:
    enc = blt_enc(vocab_dir, name)
    data = HOSTILE[kind]
    ids = enc.encode(data)
    assert enc.decode_bytes(ids) == data
    assert enc.count(data) == len(ids)
    # A long single piece still merges: fewer tokens than bytes wherever merges exist.
    if kind in ("no_split_point", "punctuation"):
        assert len(ids) < len(data) // 2


def test_byte_tokenizer_long_runs_and_empty() -> None:
    tok = blt.ByteTokenizer()
    for data in list(HOSTILE.values()) + [b""]:
        ids = tok.encode(data)
        assert len(ids) == len(data) + 2
        assert tok.decode_bytes(ids) == data


@pytest.mark.parametrize("name", ENCODINGS)
def test_empty_inputs(vocab_dir: Path, name: str) -> None:
    enc = blt_enc(vocab_dir, name)
    assert enc.encode("").tolist() == []
    assert enc.count(b"") == 0
    assert enc.decode([]) == ""
    assert enc.encode_batch([]).to_list() == []
    assert enc.encode_batch(["", b"", "a"]).to_list() == [[], [], enc.encode("a").tolist()]
    assert blt.ByteTokenizer().encode_batch([b""]).to_list() == [[1, 2]]


@pytest.mark.parametrize("name", ["r50k_base", "o200k_base"])
def test_bad_ids_are_refused_naming_the_id(vocab_dir: Path, name: str) -> None:
    enc = blt_enc(vocab_dir, name)
    n = enc.n_vocab
    holes = [i for i in range(enc.max_token_value) if i >= n - 300 and _is_hole(enc, i)]
    for bad in [n, n + 1, -1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**63 - 1, -(2**63)] + holes[:2]:
        with pytest.raises(ValueError, match=str(bad)):
            enc.decode_bytes(np.array([5, bad], dtype=np.int64))
    with pytest.raises(ValueError, match=str(2**64 - 1)):
        enc.decode_bytes(np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises((ValueError, OverflowError)):
        enc.decode_bytes([2**64])
    assert enc.decode_bytes(np.array([n - 1], dtype=np.int64)) == enc.token_bytes(n - 1)


def _is_hole(enc, i: int) -> bool:
    try:
        enc.token_bytes(i)
        return False
    except ValueError:
        return True


@pytest.mark.parametrize("bad", [-1, 265, 2**32, 2**63 - 1, -(2**63)])
def test_byte_tokenizer_bad_ids(bad: int) -> None:
    with pytest.raises(ValueError, match=str(bad)):
        blt.ByteTokenizer().decode_bytes(np.array([5, bad], dtype=np.int64))


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_invalid_utf8_at_every_chunk_boundary_position(vocab_dir: Path, name: str) -> None:
    """A bad byte (or a character cut in two) at each offset around every chunk cut: the chunked
    pipeline still equals the one-shot encode."""
    enc = blt_enc(vocab_dir, name)
    base = ("word " * 40 + "\n").encode() * 4
    chunk = 64
    for bad in (b"\xff", b"\xe2\x82", b"\xc3", b"\x80\x80"):
        for pos in range(chunk - 4, chunk + 5):
            data = base[:pos] + bad + base[pos:]
            got = blt.tokenize_file(data, tokenizer=enc, chunk_size=chunk, num_threads=2).ids
            assert got.tolist() == enc.encode(data).tolist(), (bad, pos)
            assert enc.decode_bytes(got) == data


# ---- tokenizer.json files ----------------------------------------------------------------------

def _byte_vocab() -> dict:
    from blt.bpe_formats import byte_level_encode

    return {byte_level_encode(bytes([b])): b for b in range(256)}


def _hf_doc(vocab: dict, merges: list) -> dict:
    return {
        "version": "1.0", "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    }


def test_tokenizer_json_with_many_merges_loads(tmp_path: Path) -> None:
    """10^5 merges: every pair of bytes (65,536), then byte pairs extended by a third byte."""
    from blt.bpe_formats import byte_level_encode

    vocab = _byte_vocab()
    merges = []
    for a in range(256):
        for b in range(256):
            merges.append(f"{byte_level_encode(bytes([a]))} {byte_level_encode(bytes([b]))}")
            vocab[byte_level_encode(bytes([a, b]))] = len(vocab)
    for k in range(10**5 - len(merges)):
        pair, c = bytes([k % 256, (k // 256) % 256]), bytes([k % 7])
        merges.append(f"{byte_level_encode(pair)} {byte_level_encode(c)}")
        vocab[byte_level_encode(pair + c)] = len(vocab)
    assert len(merges) == 10**5
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_hf_doc(vocab, merges)))
    enc = blt.BPETokenizer.from_hf(path)
    assert enc.n_vocab == 256 + 10**5
    assert enc.encode(b"\x00\x00\x00").tolist() == [vocab[byte_level_encode(b"\x00\x00\x00")]]
    assert enc.decode_bytes(enc.encode(bytes(range(256)) * 4)) == bytes(range(256)) * 4


@pytest.mark.parametrize("depth", [10**5, 10**6])
def test_tokenizer_json_nested_too_deep_is_a_value_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ValueError, match="tokenizer.json.*nest"):
        blt.BPETokenizer.from_hf(path)
    vocab = tmp_path / "vocab.json"
    vocab.write_text("[" * depth + "]" * depth)
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(ValueError, match="vocab.json.*nest"):
        blt.BPETokenizer.from_gpt2(vocab, tmp_path / "merges.txt")


def test_tokenizer_json_duplicate_keys_are_refused(tmp_path: Path) -> None:
    """A token listed twice with different ids is ambiguous (JSON keeps the last silently): refused."""
    doc = json.dumps(_hf_doc(_byte_vocab(), []))
    doc = doc.replace('"model": {', '"model": {"type": "WordPiece", ', 1)
    path = tmp_path / "tokenizer.json"
    path.write_text(doc)
    with pytest.raises(ValueError, match="duplicate key 'type'"):
        blt.BPETokenizer.from_hf(path)
    vocab_text = json.dumps(_byte_vocab())[:-1] + ', "a": 300}'
    path.write_text(json.dumps(_hf_doc({}, [])).replace('"vocab": {}', '"vocab": ' + vocab_text))
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        blt.BPETokenizer.from_hf(path)


@pytest.mark.parametrize("bad_id", [2**32, 2**40, -1, 1.5, "7", None, True])
def test_tokenizer_json_bad_id_types_and_ranges(tmp_path: Path, bad_id) -> None:
    vocab = _byte_vocab()
    vocab["ab"] = bad_id
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_hf_doc(vocab, [])))
    with pytest.raises(ValueError, match="ab"):
        blt.BPETokenizer.from_hf(path)


@pytest.mark.parametrize("big_id", [2**24 + 1, 2**31, 2**32 - 100])
def test_sparse_huge_ids_are_refused_not_allocated(tmp_path: Path, big_id: int) -> None:
    """One token with a huge id would need an id table of that size (34 GB near 2^32): refused
    with a clear error instead (found by fuzz_tiktoken_loader)."""
    lines = [f"{__import__('base64').b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    lines.append(f"YWI= {big_id}")
    path = tmp_path / "sparse.tiktoken"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"sparse.tiktoken:257: token id {big_id} is too large"):
        blt.BPETokenizer.from_tiktoken(path, pattern=r"\w+|\s+|.", special_tokens={})
    vocab = _byte_vocab()
    vocab["ab"] = big_id
    hf = tmp_path / "tokenizer.json"
    hf.write_text(json.dumps(_hf_doc(vocab, [])))
    with pytest.raises(ValueError, match=f"token id {big_id} is too large"):
        blt.BPETokenizer.from_hf(hf)


@pytest.mark.parametrize("memcap, what", [("1MB", "no safe place to cut the input"),
                                          ("96MB", "a pre-tokenized piece of 4000000 bytes")])
def test_piece_without_split_point_over_the_memcap_is_refused(vocab_dir: Path, tmp_path: Path, memcap: str,
                                                               what: str) -> None:
    # The file pipeline promises its memcap; one piece that cannot be cut is held whole (its
    # window) and merged whole (about 44 bytes of scratch per byte). Past the cap: a ValueError
    # naming where the piece starts and what to raise, and no output left behind.
    enc = blt_enc(vocab_dir, "cl100k_base")
    src = tmp_path / "one_piece.txt"
    src.write_bytes(b"hello world\n" + b"a" * 4_000_000)
    dst = tmp_path / "out.bin"
    with pytest.raises(ValueError, match=f"{what}.* byte offset 12.*raise memcap"):
        blt.tokenize_file(src, dst, tokenizer=enc, memcap=memcap, num_threads=2)
    assert list(tmp_path.iterdir()) == [src]
    blt.tokenize_file(src, dst, tokenizer=enc, memcap="1GB", num_threads=2)
    assert np.array_equal(np.fromfile(dst, dtype=np.uint32), enc.encode(src.read_bytes()))


@pytest.mark.parametrize("dtype", ["(,)i4", "(1,,)u2", "(1)f8,(2"])
def test_malformed_dtype_strings_are_type_errors(dtype, tmp_path):
    """Found by tests/fuzz/atheris_surface.py: numpy's dtype parser lets a SyntaxError out for some
    malformed comma strings, and it escaped every dtype= option; now the TypeError numpy gives
    for any other unreadable dtype."""
    bt = blt.ByteTokenizer()
    calls = [lambda: blt.ByteTokenizer(dtype=dtype), lambda: bt.encode(b"abc", dtype=dtype),
             lambda: bt.encode_batch([b"abc"], dtype=dtype),
             lambda: blt.hash_ngrams([1, 2, 3], dtype=dtype)]
    for call in calls:
        with pytest.raises(TypeError, match=r"not understood|must be int32 or int64"):
            call()
    raw = tmp_path / "ids.bin"
    raw.write_bytes(b"\0" * 8)
    from blt.token_files import open_tokens

    with pytest.raises(TypeError, match="not understood"):
        open_tokens(raw, dtype=dtype)


def test_encode_single_token_refuses_an_int(vocab_dir):
    """Found by tests/fuzz/atheris_surface.py: encode_single_token(n) ran bytes(n), building n zero
    bytes (MemoryError for n near 2^56, 100 MB for 10^8) before a KeyError."""
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    for n in (2**56 + 1, 10**8, 5, np.int64(7)):
        with pytest.raises(TypeError, match="str or bytes"):
            enc.encode_single_token(n)
    assert enc.encode_single_token(bytearray(b" world")) == enc.encode_single_token(b" world") == 1917

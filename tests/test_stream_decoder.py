"""blt.StreamDecoder: pieces of text as ids arrive, equal to one decode of them all."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_stream_decoder_equals_decode_on_every_split(data, cl100k):
    # Texts rich in multi-byte characters, then ids cut anywhere (also inside a character's bytes).
    text = data.draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
    ids = cl100k.encode(text).tolist()
    # Arbitrary id sequences too: they may not decode to valid UTF-8 at all.
    ids += data.draw(st.lists(st.integers(0, 100255), max_size=6))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(ids)), max_size=6))))
    stream = blt.StreamDecoder(cl100k)
    pieces, start = [], 0
    for cut in cuts + [len(ids)]:
        pieces.append(stream.step(np.asarray(ids[start:cut], dtype=np.int64) if cut - start != 1 else ids[start]))
        start = cut
    pieces.append(stream.finish())
    assert "".join(pieces) == cl100k.decode(ids)
    assert stream.finish() == ""  # nothing left over: the decoder starts afresh


@given(st.binary(max_size=30), st.lists(st.integers(0, 30), max_size=5))
def test_stream_decoder_on_byte_ids_holds_back_partial_characters(raw, cuts):
    tok = blt.ByteTokenizer(bos=False, eos=False)
    ids = tok.encode(raw).tolist()
    stream = blt.StreamDecoder(tok, errors="strict" if _valid_utf8(raw) else "replace")
    pieces, start = [], 0
    for cut in sorted(set(min(c, len(ids)) for c in cuts)) + [len(ids)]:
        piece = stream.step(ids[start:cut])
        assert "\ufffd" not in piece or not _valid_utf8(raw)
        pieces.append(piece)
        start = cut
    pieces.append(stream.finish())
    assert "".join(pieces) == raw.decode("utf-8", "strict" if _valid_utf8(raw) else "replace")


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_stream_decoder_refuses_what_cannot_decode():
    with pytest.raises(TypeError, match="decode_bytes"):
        blt.StreamDecoder(object())


# --- decode_batch / decode_bytes_batch: one native call for the whole batch ---------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 100255), max_size=8), max_size=12),
       st.sampled_from(["ragged", "lists", "arrays", "generator"]))
def test_batch_decode_equals_decoding_each_item(cl100k, items, form):
    if form == "ragged":
        batch = blt.RaggedIds(np.asarray([i for it in items for i in it], dtype=np.uint32),
                              np.cumsum([0] + [len(it) for it in items]))
    elif form == "arrays":
        batch = [np.asarray(it, dtype=np.int64) for it in items]
    elif form == "generator":
        batch = (it for it in items)
    else:
        batch = items
    want_bytes = [cl100k.decode_bytes(it) for it in items]
    got = cl100k.decode_bytes_batch(batch if form != "generator" else (it for it in items))
    assert got == want_bytes
    assert cl100k.decode_batch(batch) == [b.decode("utf-8", "replace") for b in want_bytes]


def test_batch_decode_errors_name_the_item(cl100k):
    with pytest.raises(ValueError, match="item 1: token id 999999999"):
        cl100k.decode_batch([[1, 2], [3, 999999999]])
    with pytest.raises(UnicodeDecodeError):
        cl100k.decode_batch([cl100k.encode("🦜").tolist()[:1]], errors="strict")
    assert cl100k.decode_batch([]) == [] and cl100k.decode_batch([[], []]) == ["", ""]


def test_decode_bytes_of_every_token_equals_its_bytes(cl100k):
    # Every id once, in order and reversed: long tokens, the arena's last ones and specials.
    ids = np.arange(100256, dtype=np.int64)
    want = [cl100k.token_bytes(int(i)) for i in ids]
    assert cl100k.decode_bytes(ids) == b"".join(want)
    assert cl100k.decode_bytes(ids[::-1].copy()) == b"".join(reversed(want))
    special = cl100k.special_tokens["<|endoftext|>"]
    assert cl100k.decode_bytes([special, 15339, special]) == b"<|endoftext|>hello<|endoftext|>"

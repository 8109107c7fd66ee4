"""The old keyword spellings (threads=, type=, meta=) still work for one release, each with a
DeprecationWarning and the same result as the new name; giving both names is a TypeError. The
new API shapes (decode -> str, decode_bytes -> bytes, one tokenize_file result type) hold on
every tokenizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import blt
from bpe_helpers import blt_enc

TEXT = "héllo wörld, 123\n"


def warned(fn):
    """fn()'s result and the DeprecationWarning messages it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


def test_byte_tokenizer_meta_is_content_type():
    new = blt.ByteTokenizer(content_type="text").encode(TEXT)
    old, msgs = warned(lambda: blt.ByteTokenizer(meta="text").encode(TEXT))
    assert np.array_equal(old, new) and msgs and "content_type" in msgs[0]
    old, msgs = warned(lambda: blt.ByteTokenizer().encode(TEXT, meta="text"))
    assert np.array_equal(old, new) and msgs
    old, msgs = warned(lambda: blt.ByteTokenizer().encode_batch([TEXT], meta="text").to_list())
    assert old == [new.tolist()] and msgs
    with pytest.raises(TypeError, match="content_type"), pytest.warns(DeprecationWarning):
        blt.ByteTokenizer().encode(TEXT, meta="text", content_type="bin")


def test_tokenize_file_threads_and_type_are_num_threads_and_content_type():
    new = blt.tokenize_file(TEXT.encode(), None, num_threads=2, content_type="text")
    old, msgs = warned(lambda: blt.tokenize_file(TEXT.encode(), None, threads=2, type="text"))
    assert np.array_equal(old.ids, new.ids) and len(msgs) == 2
    assert isinstance(old, blt.TokenizeResult) and isinstance(new, blt.TokenizeResult)
    with pytest.raises(TypeError, match="num_threads"), pytest.warns(DeprecationWarning):
        blt.tokenize_file(TEXT.encode(), None, threads=1, num_threads=2)


def test_tokenize_file_returns_one_type_for_memory_and_file(tmp_path):
    in_memory = blt.tokenize_file(TEXT.encode(), None)
    to_file = blt.tokenize_file(TEXT.encode(), tmp_path / "ids.bin")
    assert type(in_memory) is type(to_file) is blt.TokenizeResult
    assert in_memory.ids_out == to_file.ids_out == len(TEXT.encode()) + 2
    assert to_file.ids is None and in_memory.ids is not None


def test_decode_is_str_and_decode_bytes_is_bytes_on_every_tokenizer(vocab_dir):
    for tok in (blt.ByteTokenizer(), blt_enc(vocab_dir, "cl100k_base")):
        ids = tok.encode(TEXT)
        assert tok.decode(ids) == TEXT
        assert tok.decode_bytes(ids) == TEXT.encode()


def test_async_batch_tokenizer_threads_alias():
    _, msgs = warned(lambda: blt.AsyncBatchTokenizer(threads=1))
    assert msgs and "num_threads" in msgs[0]

"""Hugging Face datasets: RaggedIds.to_arrow is zero-copy, and Dataset.map(batched=True, num_proc=2)
with blt.hf_datasets.TokenizeBatch gives the ids of direct encoding under fork and spawn."""

from __future__ import annotations

import multiprocess  # datasets' process pool
import numpy as np
import pyarrow as pa
import pytest

import datasets
import blt
import blt.hf_datasets

TEXTS = [f"document {i}: " + "héllo wörld " * (i % 7) + "😀" * (i % 3) for i in range(200)] + [""]


def test_to_arrow_shares_both_buffers():
    r = blt.ByteTokenizer().encode_batch(TEXTS)
    arr = r.to_arrow()
    assert isinstance(arr, pa.LargeListArray)
    assert arr.to_pylist() == r.to_list()
    _, offsets_buf = arr.buffers()[:2]
    values_buf = arr.values.buffers()[1]
    assert offsets_buf.address == r.offsets.ctypes.data
    assert values_buf.address == r.ids.ctypes.data
    assert arr.values.type == pa.uint16()


def test_to_arrow_empty_batch_and_bpe(cl100k):
    assert blt.ByteTokenizer().encode_batch([]).to_arrow().to_pylist() == []
    r = cl100k.encode_batch(["hello world", ""])
    assert r.to_arrow().to_pylist() == [[15339, 1917], []]
    assert r.to_arrow().values.type == pa.uint32()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_map_num_proc_2_equals_direct_encoding(tmp_path, vocab_dir, cl100k, start_method, monkeypatch):
    ds = datasets.Dataset.from_dict({"text": TEXTS, "n": list(range(len(TEXTS)))})
    fn = blt.hf_datasets.TokenizeBatch("cl100k_base", vocab_dir=vocab_dir, offsets_column="offsets")
    # datasets starts its num_proc workers with multiprocess.Pool (the default context).
    ctx = multiprocess.get_context(start_method)
    monkeypatch.setattr(multiprocess, "Pool", ctx.Pool)
    out = ds.map(fn, batched=True, batch_size=32, num_proc=2, cache_file_name=str(tmp_path / "c.arrow"))
    assert out["input_ids"] == cl100k.encode_batch(TEXTS).to_list()
    assert out["offsets"][7] == cl100k.encode_with_offsets(TEXTS[7]).byte_offsets.tolist()
    assert out["n"] == list(range(len(TEXTS)))
    assert out.features["input_ids"].feature.dtype == "uint32"


def test_map_bytes_and_arrow_formatted_batches():
    ds = datasets.Dataset.from_dict({"text": TEXTS[:20]})
    want = blt.ByteTokenizer().encode_batch(TEXTS[:20]).to_list()
    assert ds.map(blt.hf_datasets.TokenizeBatch("bytes"), batched=True)["input_ids"] == want
    arrow = ds.with_format("arrow").map(blt.hf_datasets.TokenizeBatch("bytes"), batched=True)
    assert arrow.with_format(None)["input_ids"] == want


def test_missing_column_is_a_clear_error():
    with pytest.raises(KeyError, match="no column 'body'"):
        blt.hf_datasets.TokenizeBatch("bytes", column="body")({"text": ["a"]})
    with pytest.raises(TypeError, match="offsets_column needs a BPE encoding"):
        blt.hf_datasets.TokenizeBatch("bytes", offsets_column="o")({"text": ["a"]})


def test_keep_columns_false_and_replacing_a_column():
    ds = datasets.Dataset.from_dict({"text": ["ab", "c"], "input_ids": [[0], [0]]})
    out = ds.map(blt.hf_datasets.TokenizeBatch("bytes"), batched=True)
    assert out.column_names == ["text", "input_ids"]
    assert out["input_ids"] == [[1, 101, 102, 2], [1, 103, 2]]
    only = ds.map(blt.hf_datasets.TokenizeBatch("bytes", keep_columns=False), batched=True)
    assert only.column_names == ["input_ids"]

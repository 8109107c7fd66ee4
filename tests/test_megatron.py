"""Megatron shards: ids equal direct encoding, megatron-core's IndexedDataset reads them, and the
.bin/.idx are byte-identical to what its IndexedDatasetBuilder writes for the same documents."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

import blt
import blt.megatron
from support import assert_failed_cleanly, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

DOCS = ["Hello world", "", "héllo \"quoted\" and \\ back\nslash", "emoji 😀 tab\t", "a" * 3000,
        "<|endoftext|> as text", "plain"]


def write_jsonl(path: Path, docs: list[str], key: str = "text") -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"id": i, "meta": {key: "decoy", "n": [1, 2]}, key: d}) + "\n")
            if i == 2:
                f.write("\n")  # blank lines are skipped
    return path


def builder_shard(prefix: Path, docs_ids: list[np.ndarray], dtype: type) -> None:
    """What preprocess_data.py does per document: add_document(ids, [len]) (no sequence when empty)."""
    b = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=dtype)
    for ids in docs_ids:
        b.add_document(torch.tensor(ids.astype(np.int64)), [len(ids)] if len(ids) else [])
    b.finalize(str(prefix) + ".idx")


def assert_same_shard(ours: Path, theirs: Path) -> None:
    for ext in (".bin", ".idx"):
        assert Path(str(ours) + ext).read_bytes() == Path(str(theirs) + ext).read_bytes(), ext


@pytest.mark.parametrize("append_eod", [False, True])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_jsonl_bytes_equal_direct_encoding_and_megatron_builder(tmp_path, append_eod, num_threads):
    src = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    st = blt.megatron.write_megatron(src, tmp_path / "ours", append_eod=append_eod, num_threads=num_threads)
    tok = blt.ByteTokenizer()
    want = [np.append(tok.encode(d), [2] * append_eod).astype(np.uint16) for d in DOCS]
    builder_shard(tmp_path / "theirs", want, np.uint16)
    assert_same_shard(tmp_path / "ours", tmp_path / "theirs")
    assert (st.documents, st.dtype) == (len(DOCS), "uint16")
    ds = IndexedDataset(str(tmp_path / "ours"))
    assert [ds[i].tolist() for i in range(len(ds))] == [w.tolist() for w in want]


@pytest.mark.parametrize("append_eod", [False, True])
def test_jsonl_bpe_equals_encode_and_megatron_builder(tmp_path, cl100k, append_eod):
    docs = DOCS[:5] + ["x"] * 50
    src = write_jsonl(tmp_path / "docs.jsonl", docs, key="content")
    blt.megatron.write_megatron(src, tmp_path / "ours", tokenizer=cl100k, json_key="content", append_eod=append_eod)
    want = [np.append(cl100k.encode(d), [cl100k.eot_token] * (append_eod and len(d) > 0)).astype(np.int32)
            for d in docs]
    builder_shard(tmp_path / "theirs", want, np.int32)
    assert_same_shard(tmp_path / "ours", tmp_path / "theirs")
    ds = IndexedDataset(str(tmp_path / "ours"))
    non_empty = [w.tolist() for w in want if len(w)]
    assert [ds[i].tolist() for i in range(len(ds))] == non_empty
    shard = blt.megatron.MegatronShard(tmp_path / "ours")
    assert [shard.document(i).tolist() for i in range(len(shard))] == [w.tolist() for w in want]


def test_large_jsonl_many_chunks(tmp_path, corpus_text_files):
    lines = []
    for p in corpus_text_files:
        lines += p.read_text(encoding="utf-8", errors="replace").splitlines()
    src = write_jsonl(tmp_path / "docs.jsonl", lines)
    assert src.stat().st_size > 2 << 20  # several 1 MiB chunks
    blt.megatron.write_megatron(src, tmp_path / "ours", append_eod=True)
    tok = blt.ByteTokenizer()
    ragged = tok.encode_batch(lines)
    want = [np.append(r, 2).astype(np.uint16) for r in ragged]
    builder_shard(tmp_path / "theirs", want, np.uint16)
    assert_same_shard(tmp_path / "ours", tmp_path / "theirs")


def test_one_document_per_file(tmp_path, cl100k):
    paths = []
    for i, text in enumerate(["first file\n", "", "third\nwith lines\n" * 100]):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    blt.megatron.write_megatron(paths, tmp_path / "ours", tokenizer=cl100k, json_key=None, append_eod=True)
    want = [np.append(cl100k.encode(p.read_text()), [cl100k.eot_token] * (p.stat().st_size > 0)).astype(np.int32)
            for p in paths]
    builder_shard(tmp_path / "theirs", want, np.int32)
    assert_same_shard(tmp_path / "ours", tmp_path / "theirs")


def test_bad_line_names_file_and_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"text": "ok"}\n' * 5 + '{"text": 5}\n', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=r"docs.jsonl line 6: value of key \"text\" is not a string"):
        blt.megatron.write_megatron(src, out / "shard")
    assert os.listdir(out) == []
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        blt.megatron.write_megatron(tmp_path / "missing.jsonl", out / "shard")
    with pytest.raises(ValueError, match="uint16, int32 or int64"):
        blt.megatron.write_megatron(src, out / "shard", dtype="uint32")
    assert os.listdir(out) == []


def test_read_index_rejects_other_files(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"not an index at all, not at all, no")
    with pytest.raises(ValueError, match="not a Megatron index"):
        blt.megatron.read_index(tmp_path / "x.idx")


def test_cli_megatron(tmp_path, vocab_dir, cl100k):
    a = write_jsonl(tmp_path / "a.jsonl", DOCS[:3])
    b = write_jsonl(tmp_path / "b.jsonl", DOCS[3:])
    r = run_cli("--format", "megatron", "--input", a, b, "--output", tmp_path / "cli", "--vocab", "cl100k_base",
                "--vocab-dir", vocab_dir, "--append-eod", "--allowed-special", "all", "--quiet")
    assert r.returncode == 0, r.stderr
    enc = [np.append(cl100k.encode(d, allowed_special="all"), [cl100k.eot_token] * (len(d) > 0)).astype(np.int32)
           for d in DOCS]
    builder_shard(tmp_path / "theirs", enc, np.int32)
    assert_same_shard(tmp_path / "cli", tmp_path / "theirs")

    r = run_cli("--format", "megatron", "--input", a, "--output", tmp_path / "bytes", "--quiet", "--json-key", "text")
    assert r.returncode == 0, r.stderr
    assert blt.megatron.MegatronShard(tmp_path / "bytes").document(0).tolist() == blt.ByteTokenizer().encode(DOCS[0]).tolist()


def test_cli_megatron_errors(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"text": "ok"}\n{"txt": "x"}\n', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("--format", "megatron", "--input", src, "--output", out / "shard", "--quiet")
    assert_failed_cleanly(r, 1, "line 2: no key \"text\"", out_dir=out)
    r = run_cli("--input", src, "--output", out / "x.bin", "--append-eod")
    assert_failed_cleanly(r, 2, "--format megatron only", out_dir=out)
    r = run_cli("--input", src, src, "--output", out / "x.bin")
    assert_failed_cleanly(r, 2, "only with --format megatron", out_dir=out)
    r = run_cli("--format", "megatron", "--input", src, "--output", out / "s", "--eod-id", "5")
    assert_failed_cleanly(r, 2, "--eod-id goes with --append-eod", out_dir=out)

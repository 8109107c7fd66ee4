"""blt.torch: the collate function (padded and packed) against a per-item reference, and the
token-file datasets through a real DataLoader with 0 and 2 workers (fork and spawn)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.utils.data import DataLoader

import blt
import blt.megatron
import blt.torch


def reference(items, *, pad_id, max_length, bos, eos):
    rows = []
    for it in items:
        room = None if max_length is None else max_length - (bos is not None) - (eos is not None)
        body = list(it)[:room] if room is not None else list(it)
        rows.append(([bos] if bos is not None else []) + body + ([eos] if eos is not None else []))
    return rows


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.lists(st.integers(0, 60000), max_size=40), max_size=6),  # both copy paths
    max_length=st.one_of(st.none(), st.integers(2, 30)),
    bos=st.one_of(st.none(), st.just(1)),
    eos=st.one_of(st.none(), st.just(2)),
    multiple=st.one_of(st.none(), st.integers(1, 4)),
)
def test_collate_equals_reference(items, max_length, bos, eos, multiple):
    arrays = [np.array(i, dtype=np.uint16) for i in items]
    rows = reference(items, pad_id=0, max_length=max_length, bos=bos, eos=eos)

    out = blt.torch.Collator(pad_id=-1, max_length=max_length, bos_id=bos, eos_id=eos,
                             pad_to_multiple_of=multiple)(arrays)
    width = max((len(r) for r in rows), default=0)
    if multiple:
        width = -(-width // multiple) * multiple
    assert out["input_ids"].tolist() == [r + [-1] * (width - len(r)) for r in rows]
    assert out["attention_mask"].tolist() == [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    assert out["input_ids"].dtype == torch.int64

    packed = blt.torch.Collator(packed=True, max_length=max_length, bos_id=bos, eos_id=eos)(arrays)
    assert packed["input_ids"].tolist() == [[x for r in rows for x in r]]
    assert packed["position_ids"].tolist() == [[p for r in rows for p in range(len(r))]]
    assert packed["cu_seqlens"].tolist() == list(np.cumsum([0] + [len(r) for r in rows]))
    assert packed["cu_seqlens"].dtype == torch.int32
    assert packed["max_seqlen"] == max((len(r) for r in rows), default=0)


def test_collate_does_not_copy_into_torch():
    out = blt.torch.Collator()([np.array([5, 6]), np.array([7])])
    arr = out["input_ids"].numpy()
    arr[0, 0] = 99  # the tensor is a view of the array collate built
    assert out["input_ids"][0, 0].item() == 99


def test_collate_texts_ragged_dicts_and_tensors(cl100k, vocab_dir):
    texts = ["hello world", "hi", ""]
    want = [cl100k.encode(t).tolist() for t in texts]
    c = blt.torch.Collator(tokenizer="cl100k_base", vocab_dir=vocab_dir, packed=True)
    assert c(texts)["input_ids"].tolist() == [sum(want, [])]
    c2 = pickle.loads(pickle.dumps(c))  # carries the name; loads the encoding again on first use
    assert c2(texts)["cu_seqlens"].tolist() == [0, 2, 3, 3]
    ragged = cl100k.encode_batch(texts)
    assert blt.torch.Collator()(ragged)["input_ids"].tolist() == [w + [0] * (2 - len(w)) for w in want]
    dicts = [{"input_ids": torch.tensor(w, dtype=torch.int64)} for w in want]
    assert blt.torch.Collator()(dicts)["attention_mask"].tolist() == [[1, 1], [1, 0], [0, 0]]
    with pytest.raises(ValueError, match="1-D"):
        blt.torch.Collator()([np.zeros((2, 2), np.int64)])
    with pytest.raises(ValueError, match="no room"):
        blt.torch.Collator(max_length=1, bos_id=1, eos_id=2)([[5]])


@pytest.fixture()
def token_files(tmp_path):
    a = np.arange(1000, dtype=np.uint16)
    np.save(tmp_path / "a.npy", a)
    b = np.arange(5000, 5700, dtype=np.int32)
    b.tofile(tmp_path / "b.bin")
    return tmp_path, a, b


def all_windows(arrays, seq_len, stride):
    out = []
    for arr in arrays:
        for s in range(0, len(arr) - seq_len + 1, stride):
            out.append(arr[s : s + seq_len].tolist())
    return out


def test_token_windows_map_style(token_files):
    d, a, _ = token_files
    ds = blt.torch.TokenWindows(d / "a.npy", seq_len=65, stride=64)
    assert [ds[i].tolist() for i in range(len(ds))] == all_windows([a], 65, 64)
    assert ds[-1].tolist() == all_windows([a], 65, 64)[-1]
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(ValueError, match="needs dtype"):
        blt.torch.TokenWindows(d / "b.bin", seq_len=4)
    (d / "odd.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="not a whole number"):
        blt.torch.TokenWindows(d / "odd.bin", seq_len=4, dtype="uint16")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        blt.torch.TokenWindows(d / "missing.npy", seq_len=4)


def test_dataloader_workers_cover_every_window_once(token_files):
    context = "fork"  # spawn workers: test_documents_of_a_megatron_shard_through_dataloader
    d, a, b = token_files
    # The raw .bin needs its dtype; the .npy carries its own.
    npy = blt.torch.TokenStream(d / "a.npy", seq_len=32)
    raw = blt.torch.TokenStream(d / "b.bin", seq_len=32, dtype="int32")
    for ds, arr in ((npy, a), (raw, b)):
        loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=context)
        got = sorted(row for batch in loader for row in batch.tolist())
        assert got == sorted(all_windows([arr], 32, 32))
    windows = blt.torch.TokenWindows(d / "a.npy", seq_len=32)
    loader = DataLoader(windows, batch_size=8, num_workers=2, multiprocessing_context=context, shuffle=True)
    assert sorted(r for batch in loader for r in batch.tolist()) == sorted(all_windows([a], 32, 32))


def test_token_stream_shuffle_and_ranks(token_files):
    d, a, _ = token_files
    want = sorted(all_windows([a], 10, 10))
    ranks = [blt.torch.TokenStream(d / "a.npy", seq_len=10, shuffle=True, seed=3, rank=r, world_size=3)
             for r in range(3)]
    got = [w.tolist() for s in ranks for w in s]
    assert sorted(got) == want and got != want
    first = [w.tolist() for w in ranks[0]]
    ranks[0].set_epoch(1)
    assert [w.tolist() for w in ranks[0]] != first


def test_documents_of_a_megatron_shard_through_dataloader(tmp_path):
    texts = [f"doc {i} " + "x" * i for i in range(40)]
    (tmp_path / "d.jsonl").write_text("".join(f'{{"text": "{t}"}}\n' for t in texts), encoding="utf-8")
    blt.megatron.write_megatron(tmp_path / "d.jsonl", tmp_path / "shard", append_eod=True)
    docs = blt.torch.Documents(tmp_path / "shard", max_length=30)
    collate = blt.torch.Collator(packed=True)
    loader = DataLoader(docs, batch_size=8, num_workers=2, collate_fn=collate, multiprocessing_context="spawn")
    got = [ids for batch in loader for ids in np.split(batch["input_ids"][0].numpy(), batch["cu_seqlens"][1:-1].numpy())]
    tok = blt.ByteTokenizer()
    assert [g.tolist() for g in got] == [np.append(tok.encode(t), 2)[:30].tolist() for t in texts]
    # The token windows read the same shard flat.
    flat = blt.torch.TokenWindows(tmp_path / "shard", seq_len=5)
    assert flat[0].tolist() == np.append(tok.encode(texts[0]), 2)[:5].tolist()

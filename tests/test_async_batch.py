"""AsyncBatchTokenizer in process: results, batching, priorities, bounded queues, cancellation,
timeouts, streams, hot swap in the registry, shutdown."""

from __future__ import annotations

import asyncio
import random
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blt
from blt.serve import AsyncBatchTokenizer, EngineClosed, TokenizerRegistry, UnknownTokenizer

from support import run_async, thread_count

BT = blt.ByteTokenizer()


@pytest.fixture(scope="module")
def corpus_sample(corpus_text_files) -> bytes:
    rng = random.Random(5)
    parts = []
    for p in corpus_text_files:
        data = p.read_bytes()
        for _ in range(4):
            i = rng.randrange(max(1, len(data) - 4096))
            parts.append(data[i:i + rng.randrange(1, 4096)])
    return b"".join(parts)


def test_concurrent_encodes_equal_direct_encoding_and_are_batched(corpus_sample):
    rng = random.Random(1)
    texts = []
    for _ in range(600):
        i = rng.randrange(len(corpus_sample))
        chunk = corpus_sample[i:i + rng.randrange(0, 300)]
        texts.append(chunk if rng.random() < 0.5 else chunk.decode("utf-8", "replace"))

    async def main():
        async with AsyncBatchTokenizer(max_batch_size=32, max_wait_ms=5) as abt:
            out = await asyncio.gather(*(abt.encode(t, priority=rng.choice(["high", "normal", "low"]))
                                         for t in texts))
            return out, abt.stats()

    out, stats = run_async(main())
    for t, ids in zip(texts, out):
        assert ids.dtype == np.uint32
        np.testing.assert_array_equal(ids, BT.encode(t, dtype="uint32"))
    assert stats["submitted"] == len(texts)
    assert stats["batches"] < len(texts)  # requests were coalesced
    assert sum(stats["batch_size_counts"]) == stats["batches"]


def test_bad_requests_raise_clear_errors():
    async def main():
        async with AsyncBatchTokenizer() as abt:
            with pytest.raises(ValueError, match="priority"):
                await abt.encode("x", priority="urgent")
            with pytest.raises(ValueError, match="dtype"):
                await abt.encode("x", dtype="float32")
            with pytest.raises(TypeError):
                await abt.encode(12345)
            with pytest.raises(UnknownTokenizer):
                await abt.encode("x", tokenizer="nope@1")
            with pytest.raises(ValueError, match="timeout"):
                await abt.encode("x", timeout=-1)
            # A lone surrogate is replaced by U+FFFD as ByteTokenizer does.
            np.testing.assert_array_equal(await abt.encode("a\ud800b"), BT.encode("a\ud800b", dtype="uint32"))

    run_async(main())
    with pytest.raises(ValueError):
        AsyncBatchTokenizer(max_batch_size=0)


def test_full_queue_raises_overloaded_and_cancel_removes_waiting_requests():
    async def main():
        # Batches wait up to 60 s to fill, so the first requests stay queued.
        abt = AsyncBatchTokenizer(max_batch_size=100, max_wait_ms=60_000, queue_capacity=3,
                                  flush_each_tick=False)
        tasks = [asyncio.ensure_future(abt.encode(f"r{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        assert abt.queue_depth() == {"high": 0, "normal": 3, "low": 0}
        with pytest.raises(blt.Overloaded, match="queue full"):
            await abt.encode("one too many")
        high = await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(
            _expect_overloaded_free(abt))), 5)  # another priority has its own queue
        assert high == 1
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        depth = abt.queue_depth()
        stats = abt.stats()
        abt.close()
        return depth, stats

    depth, stats = run_async(main())
    assert depth == {"high": 0, "normal": 0, "low": 0}
    assert stats["cancelled"] == 4  # three normal + the high one
    assert stats["rejected"] == 1


async def _expect_overloaded_free(abt):
    task = asyncio.ensure_future(abt.encode("h", priority="high"))
    await asyncio.sleep(0.02)
    n = abt.queue_depth()["high"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return n


def test_timeout_raises_and_removes_the_request():
    async def main():
        async with AsyncBatchTokenizer(max_batch_size=100, max_wait_ms=60_000, flush_each_tick=False) as abt:
            with pytest.raises(TimeoutError):
                await abt.encode("slow", timeout=0.05)
            return abt.queue_depth(), abt.stats()

    depth, stats = run_async(main())
    assert sum(depth.values()) == 0
    assert stats["cancelled"] == 1


def test_drain_on_aclose_answers_queued_requests_and_close_fails_them():
    async def main():
        abt = AsyncBatchTokenizer(max_batch_size=100, max_wait_ms=60_000, flush_each_tick=False)
        tasks = [asyncio.ensure_future(abt.encode(str(i))) for i in range(20)]
        await asyncio.sleep(0.02)
        await abt.aclose(drain=True)
        drained = await asyncio.gather(*tasks)
        with pytest.raises(EngineClosed):
            await abt.encode("late")

        abt2 = AsyncBatchTokenizer(max_batch_size=100, max_wait_ms=60_000, flush_each_tick=False)
        tasks = [asyncio.ensure_future(abt2.encode(str(i))) for i in range(5)]
        await asyncio.sleep(0.02)
        abt2.close()
        failed = await asyncio.gather(*tasks, return_exceptions=True)
        return drained, failed

    drained, failed = run_async(main())
    assert [d.tolist() for d in drained] == [BT.encode(str(i), dtype="uint32").tolist() for i in range(20)]
    assert all(isinstance(f, EngineClosed) for f in failed)


def test_bound_to_one_event_loop():
    abt = AsyncBatchTokenizer()
    run_async(abt.encode("a"))
    with pytest.raises(RuntimeError, match="another event loop"):
        run_async(abt.encode("b"))
    abt.close()


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(1, 400), max_size=20),
       segment=st.integers(1, 500), meta=st.sampled_from([None, "text"]))
def test_stream_segments_concatenate_to_the_whole_document(data, cuts, segment, meta):
    tok = blt.ByteTokenizer(content_type=meta, strip_bom=True)
    data = b"\xef\xbb\xbf" + data

    async def chunks():
        pos = 0
        for c in cuts:
            yield data[pos:pos + c]
            pos += c
        yield data[pos:]

    async def main():
        async with AsyncBatchTokenizer(tok, max_wait_ms=0) as abt:
            return [ids async for ids in abt.encode_stream(chunks(), segment_bytes=segment)]

    parts = run_async(main())
    np.testing.assert_array_equal(np.concatenate(parts), tok.encode(data, dtype="uint32"))


def test_decode_round_trips():
    async def main():
        async with AsyncBatchTokenizer() as abt:
            big = np.frombuffer(bytes(range(256)) * 600, dtype=np.uint8)
            ids = await abt.encode(big)
            small = await abt.decode_bytes([1, 108, 109, 2])
            return small, await abt.decode_bytes(ids)

    small, big = run_async(main())
    assert small == b"hi"
    assert big == bytes(range(256)) * 600


def test_decodes_are_batched_natively_and_equal_each_tokenizers_decode(vocab_dir, corpus_sample):
    enc = blt.get_encoding("cl100k_base", vocab_dir=str(vocab_dir))
    delimited = blt.ByteTokenizer(bpe=enc)
    reg = TokenizerRegistry()
    reg.load("cl100k", "1", enc)
    reg.load("bytes", "1", BT)
    reg.load("delim", "1", delimited)
    assert all(reg.resolve(n).native_decode for n in ("cl100k", "bytes", "delim"))
    rng = random.Random(3)
    cases = []
    for i in range(300):
        a = rng.randrange(len(corpus_sample))
        piece = corpus_sample[a:a + rng.randrange(0, 600)]
        name, tok = (("cl100k", enc), ("bytes", BT), ("delim", delimited))[i % 3]
        ids = tok.encode(piece, allowed_special="all") if tok is enc else tok.encode(piece)
        if tok is enc and i % 2:
            ids = np.append(ids, enc.eot_token)  # a special decodes to its text
        dtype = (np.uint32, np.int64, np.uint16 if tok is not enc else np.int32)[i % 3]
        cases.append((name, ids.astype(dtype)))

    async def main():
        async with AsyncBatchTokenizer(reg, max_batch_size=64) as abt:
            got = await asyncio.gather(*(abt.decode_bytes(ids, tokenizer=n, priority=("high", "low")[i % 2])
                                         for i, (n, ids) in enumerate(cases)))
            return got, abt.stats()

    got, stats = run_async(main())
    for (name, ids), out in zip(cases, got):
        assert out == reg.resolve(name).decode_bytes(ids)
    # Counted when batches form, before any result is delivered ("completed" is counted after
    # delivery, so it may lag behind the futures).
    assert stats["batched_requests"] == len(cases)
    assert stats["batches"] < len(cases) // 4  # coalesced, not one native call per decode


def test_decode_errors_are_clear(vocab_dir):
    enc = blt.get_encoding("r50k_base", vocab_dir=str(vocab_dir))
    reg = TokenizerRegistry()
    reg.load("r50k", "1", enc)
    reg.load("bytes", "1", BT)

    async def main():
        async with AsyncBatchTokenizer(reg) as abt:
            with pytest.raises(ValueError, match="50257"):
                await abt.decode_bytes([15496, 50257], tokenizer="r50k")
            with pytest.raises(ValueError, match="-1"):
                await abt.decode_bytes(np.array([76, -1]), tokenizer="bytes")
            with pytest.raises(ValueError, match="18446744073709551615"):
                await abt.decode_bytes(np.array([5, 2**64 - 1], dtype=np.uint64), tokenizer="bytes")
            with pytest.raises(TypeError, match="integers"):
                await abt.decode_bytes(np.array([1.5]), tokenizer="r50k")
            with pytest.raises(ValueError, match="priority"):
                await abt.decode_bytes([1], tokenizer="bytes", priority="urgent")
            assert await abt.decode_bytes([], tokenizer="r50k") == b""
            return await abt.decode_bytes(np.array([[15496, 995]]), tokenizer="r50k")  # any shape, flattened

    assert run_async(main()) == b"Hello world"


def test_hot_swap_keeps_in_flight_requests_on_their_version():
    reg = TokenizerRegistry()
    reg.load("bytes", "1", "bytes")
    reg.load("bytes", "2", "bytes:content_type=text")

    async def main():
        async with AsyncBatchTokenizer(reg, max_batch_size=1000, max_wait_ms=200, flush_each_tick=False) as abt:
            first = [asyncio.ensure_future(abt.encode_with_version("x")) for _ in range(10)]
            await asyncio.sleep(0)  # submitted (and their version resolved) before the switch
            reg.activate("bytes", "2")
            second = [asyncio.ensure_future(abt.encode_with_version("x")) for _ in range(10)]
            return await asyncio.gather(*first), await asyncio.gather(*second)

    first, second = run_async(main())
    for r in first:
        assert r.tokenizer == "bytes@1" and r.ids.tolist() == [1, 124, 2]
    for r in second:
        assert r.tokenizer == "bytes@2" and r.ids.tolist() == [1, 260, 124, 2]
    with pytest.raises(ValueError, match="active"):
        reg.unload("bytes", "2")
    reg.unload("bytes", "1")
    with pytest.raises(UnknownTokenizer):
        reg.resolve("bytes@1")
    with pytest.raises(ValueError, match="already loaded"):
        reg.load("bytes", "2", "bytes")


def test_registry_accepts_any_object_with_native_and_rejects_others():
    class Wrapped:
        def native(self):
            return blt.ByteTokenizer(eos=False).native()

        def decode(self, ids):
            return BT.decode(ids)

    reg = TokenizerRegistry()
    assert reg.load("w", "1", Wrapped()).key == "w@1"
    with pytest.raises(TypeError, match="native"):
        reg.load("x", "1", object())
    with pytest.raises(ValueError, match="spec"):
        reg.load("y", "1", "sentencepiece:foo")

    async def main():
        async with AsyncBatchTokenizer(reg) as abt:
            return (await abt.encode("A")).tolist()

    assert run_async(main()) == [1, 69]


def test_native_tokenizer_references_are_released():
    native = blt.ByteTokenizer().native()
    before = sys.getrefcount(native)

    async def main():
        async with AsyncBatchTokenizer(native, max_batch_size=8) as abt:
            await asyncio.gather(*(abt.encode("abc") for _ in range(100)))
            t = asyncio.ensure_future(abt.encode("x", timeout=10))
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)

    run_async(main())
    import gc

    gc.collect()
    assert sys.getrefcount(native) == before


def test_dropping_an_unclosed_tokenizer_stops_its_threads():
    import gc

    async def use(abt):
        await abt.encode("warm")

    first = AsyncBatchTokenizer()
    run_async(use(first))
    first.close()  # oneTBB's worker pool exists from now on
    second = AsyncBatchTokenizer()
    run_async(use(second))
    during = thread_count()
    del second
    gc.collect()
    assert thread_count() <= during - 2  # its batcher and completion threads have ended


def test_requests_of_one_loop_iteration_leave_together_without_waiting():
    async def main():
        # max_wait is an hour: only the end-of-iteration flush can send these partial batches.
        async with AsyncBatchTokenizer(max_batch_size=1000, max_wait_ms=3_600_000) as abt:
            first = await asyncio.wait_for(asyncio.gather(*(abt.encode(str(i)) for i in range(10))), 30)
            second = await asyncio.wait_for(abt.encode("alone"), 30)
            return first, second, abt.stats()

    first, second, stats = run_async(main())
    assert [x.tolist() for x in first] == [BT.encode(str(i), dtype="uint32").tolist() for i in range(10)]
    assert second.tolist() == BT.encode("alone", dtype="uint32").tolist()
    assert stats["batches"] == 2


def test_random_cancellations_and_timeouts_keep_every_other_answer_right():
    rng = random.Random(11)

    async def main():
        abt = AsyncBatchTokenizer(max_batch_size=16, max_wait_ms=1, queue_capacity=4096)
        texts = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))) for _ in range(1500)]
        tasks = []
        for t in texts:
            timeout = 1e-4 if rng.random() < 0.1 else None
            tasks.append(asyncio.ensure_future(abt.encode(t, timeout=timeout,
                                                          priority=rng.choice(["high", "normal", "low"]))))
            if rng.random() < 0.05:
                await asyncio.sleep(0)
        for t in rng.sample(tasks, 400):
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await abt.aclose()
        return texts, results, abt._engine.closed

    texts, results, closed = run_async(main())
    answered = 0
    for t, r in zip(texts, results):
        if isinstance(r, np.ndarray):
            np.testing.assert_array_equal(r, BT.encode(t, dtype="uint32"))
            answered += 1
        else:
            assert isinstance(r, (asyncio.CancelledError, TimeoutError)), repr(r)
    assert answered > 500 and closed

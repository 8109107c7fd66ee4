"""blt-serve over real HTTP on 127.0.0.1 (in-process server on a free port, aiohttp client):
every route and error code, the middleware, SSE streaming, hot swap under load."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import random

import numpy as np
import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")
from aiohttp import web  # noqa: E402

import blt  # noqa: E402
from blt.serve import TokenizerRegistry  # noqa: E402
from blt.serve.config import ServeConfig  # noqa: E402
from blt.serve.middleware import LimitedTCPSite  # noqa: E402
from blt.serve.server import STATE, create_app  # noqa: E402

from support import run_async, run_serve, start_serve  # noqa: E402

BT = blt.ByteTokenizer()
TOKEN = "s3cret-admin"


@contextlib.asynccontextmanager
async def server(registry=None, **overrides):
    cfg = ServeConfig(port=0, access_log=False, **overrides)
    app = create_app(cfg, registry)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = LimitedTCPSite(runner, "127.0.0.1", 0, max_connections=cfg.max_connections)
    await site.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{site.port}") as session:
            session.port = site.port
            session.app = app
            yield session
    finally:
        await runner.cleanup()


async def error_of(resp) -> dict:
    body = await resp.json()
    assert set(body["error"]) == {"status", "code", "message", "request_id"}
    assert body["error"]["status"] == resp.status
    assert body["error"]["request_id"] == resp.headers["X-Request-Id"]
    return body["error"]


def test_tokenize_json_raw_and_npy_bodies():
    async def main():
        async with server() as s:
            r = await s.post("/v1/tokenize", json={"text": "héllo"}, headers={"X-Request-Id": "abc-123"})
            assert r.status == 200 and r.headers["X-Request-Id"] == "abc-123"
            body = await r.json()
            assert body == {"tokenizer": "bytes@1", "count": 8, "ids": BT.encode("héllo").tolist()}
            raw = bytes(range(256))
            r = await s.post("/v1/tokenize?priority=high", data=raw,
                             headers={"Content-Type": "application/octet-stream"})
            assert (await r.json())["ids"] == BT.encode(raw).tolist()
            r = await s.post("/v1/tokenize?format=npy&dtype=uint16", data=b"abc")
            assert r.headers["Content-Type"] == "application/x-npy"
            arr = np.load(io.BytesIO(await r.read()), allow_pickle=False)
            assert arr.dtype == np.uint16 and arr.tolist() == BT.encode(b"abc").tolist()
            assert r.headers["X-Token-Count"] == "5" and r.headers["X-Tokenizer"] == "bytes@1"
            assert len(r.headers["X-Request-Id"]) == 32  # generated when the client sent none

    run_async(main())


def test_tokenize_batch_and_detokenize():
    async def main():
        async with server() as s:
            texts = ["", "a", "ünï", "x" * 5000]
            r = await s.post("/v1/tokenize_batch", json={"texts": texts, "priority": "low"})
            body = await r.json()
            assert body["ids"] == [BT.encode(t).tolist() for t in texts]
            assert body["counts"] == [len(x) for x in body["ids"]] and body["tokenizer"] == "bytes@1"
            r = await s.post("/v1/detokenize", json={"ids": BT.encode("ünï").tolist(), "priority": "high"})
            body = await r.json()
            assert body["text"] == "ünï" and base64.b64decode(body["bytes_b64"]) == "ünï".encode()
            r = await s.post("/v1/detokenize", json={"ids": [1, 9999]})
            assert r.status == 400 and "9999" in (await error_of(r))["message"]

    run_async(main())


def test_client_errors_are_json_with_the_right_status():
    async def main():
        async with server(max_body_bytes=1000) as s:
            cases = [
                (s.post("/v1/tokenize", data=b"{not json", headers={"Content-Type": "application/json"}), 400),
                (s.post("/v1/tokenize", json={"txt": "x"}), 400),
                (s.post("/v1/tokenize", json=["x"]), 400),
                (s.post("/v1/tokenize", json={"text": "x", "priority": "urgent"}), 400),
                (s.post("/v1/tokenize?format=xml", json={"text": "x"}), 400),
                (s.post("/v1/tokenize", json={"text": "x", "dtype": "float32"}), 400),
                (s.post("/v1/tokenize_batch", json={"texts": "x"}), 400),
                (s.post("/v1/detokenize", json={"ids": ["a"]}), 400),
                (s.post("/v1/detokenize", json={"ids": [1], "priority": "urgent"}), 400),
                (s.post("/v1/tokenize", json={"text": "x", "tokenizer": "gpt9@1"}), 404),
                (s.get("/v1/nothing"), 404),
                (s.post("/v1/admin/tokenizers", json={}), 404),  # admin is off without a token
                (s.get("/v1/tokenize"), 405),
                (s.post("/v1/tokenize", data=b"x" * 1001), 413),
                (s.post("/v1/tokenize_batch", json={"texts": ["y" * 2000]}), 413),
            ]
            for req, status in cases:
                async with req as r:
                    assert r.status == status, (r.url, await r.text())
                    await error_of(r)

    run_async(main())


def test_timeout_is_504_and_full_queue_is_503():
    async def main():
        # Batches wait 60 s to fill: requests stay queued until the request timeout.
        async with server(max_batch_size=1000, max_wait_ms=60_000, request_timeout_s=0.2,
                          queue_capacity=2, flush_each_tick=False) as s:
            r = await s.post("/v1/tokenize", json={"text": "x"})
            assert r.status == 504 and (await error_of(r))["code"] == "timeout"
            reqs = [asyncio.ensure_future(s.post("/v1/tokenize", json={"text": str(i)})) for i in range(3)]
            statuses = sorted([(await r).status for r in reqs])
            assert statuses == [503, 504, 504]
            over = next(r.result() for r in reqs if r.result().status == 503)
            assert (await error_of(over))["code"] == "overloaded" and over.headers["Retry-After"] == "1"

    run_async(main())


@pytest.mark.skipif(not hasattr(asyncio.Task, "uncancel"), reason="Python >= 3.11 (3.10 uses wait_for)")
def test_request_deadlines_cancel_only_overdue_handlers():
    from blt.serve.middleware import RequestDeadlines

    async def main():
        deadlines = RequestDeadlines(0.2)

        async def handler(seconds):
            task = asyncio.current_task()
            d = deadlines.enter(task)
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                return "cancelled", d.expired, task.uncancel()
            finally:
                deadlines.leave(d)
            return "done", d.expired, task.cancelling()

        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(handler(30), handler(0.01), handler(0.1))
        elapsed = loop.time() - t0
        assert results == [("cancelled", True, 0), ("done", False, 0), ("done", False, 0)]
        assert elapsed >= 0.2  # not cancelled before its deadline
        await asyncio.sleep(0.3)
        assert deadlines._timer is None  # no sweep scheduled while nothing runs

    run_async(main())


def test_internal_errors_are_500_and_the_server_keeps_serving():
    class BrokenDecode:
        def native(self):
            return BT.native()

        def decode(self, ids):
            raise RuntimeError("decoder exploded")

    reg = TokenizerRegistry()
    reg.load("broken", "1", BrokenDecode())

    async def main():
        async with server(reg) as s:
            r = await s.post("/v1/detokenize", json={"ids": [1, 2]})
            err = await error_of(r)
            assert r.status == 500 and "exploded" not in err["message"]  # no internals leak
            r = await s.post("/v1/tokenize", json={"text": "ok"})
            assert r.status == 200 and (await r.json())["tokenizer"] == "broken@1"

    run_async(main())


def test_health_ready_tokenizers_and_metrics():
    async def main():
        async with server() as s:
            assert (await (await s.get("/healthz")).json()) == {"status": "ok"}
            r = await s.get("/readyz")
            assert r.status == 200 and (await r.json())["status"] == "ready"
            body = await (await s.get("/v1/tokenizers")).json()
            assert body["default"] == "bytes"
            assert body["tokenizers"][0]["key"] == "bytes@1" and body["tokenizers"][0]["active"]
            await asyncio.gather(*(s.post("/v1/tokenize", json={"text": "abc"}) for _ in range(40)))
            await s.post("/v1/tokenize", json={})
            text = await (await s.get("/metrics")).text()
            s.app[STATE].draining = True  # what SIGTERM sets before the listener closes
            r = await s.get("/readyz")
            assert r.status == 503 and (await r.json())["status"] == "draining"
            assert (await s.get("/healthz")).status == 200
            return text

    text = run_async(main())
    metrics = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    assert metrics['blt_requests_total{method="POST",route="/v1/tokenize",status="200"}'] == 40
    assert metrics['blt_request_errors_total{route="/v1/tokenize",status="400"}'] == 1
    assert metrics['blt_request_latency_seconds_count{route="/v1/tokenize"}'] == 41
    assert metrics["blt_tokens_total"] == 40 * 5
    assert metrics["blt_batch_size_sum"] == 40
    assert metrics['blt_batch_size_bucket{le="+Inf"}'] >= 1
    assert metrics['blt_queue_depth{priority="normal"}'] == 0
    for q in ("0.5", "0.95", "0.99"):
        assert metrics[f'blt_request_latency_quantile_seconds{{quantile="{q}"}}'] > 0
    assert metrics["blt_tokens_per_second"] > 0


def test_admin_routes_need_the_bearer_token_and_hot_swap():
    async def main():
        async with server(admin_token=TOKEN) as s:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            load = {"name": "bytes", "version": "2", "spec": "bytes:content_type=text"}
            r = await s.post("/v1/admin/tokenizers", json=load)
            assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
            r = await s.post("/v1/admin/tokenizers", json=load, headers={"Authorization": "Bearer wrong"})
            assert r.status == 401
            r = await s.post("/v1/admin/tokenizers", json=load, headers=auth)
            assert r.status == 201 and (await r.json()) == {"loaded": "bytes@2", "active": False}
            r = await s.post("/v1/admin/tokenizers", json=load, headers=auth)
            assert r.status == 400  # already loaded
            r = await s.post("/v1/admin/tokenizers", json={**load, "version": "3", "spec": "nope"}, headers=auth)
            assert r.status == 400
            r = await s.post("/v1/admin/tokenizers", headers=auth,
                             json={**load, "version": "4", "spec": "python:os:getcwd"})
            assert r.status == 400 and "config file" in (await error_of(r))["message"]
            assert (await (await s.post("/v1/tokenize", json={"text": "A"})).json())["ids"] == [1, 69, 2]
            r = await s.post("/v1/admin/tokenizers/bytes/activate", json={"version": "2"}, headers=auth)
            assert (await r.json()) == {"active": "bytes@2"}
            body = await (await s.post("/v1/tokenize", json={"text": "A"})).json()
            assert body == {"tokenizer": "bytes@2", "count": 4, "ids": [1, 260, 69, 2]}
            r = await s.post("/v1/tokenize", json={"text": "A", "tokenizer": "bytes@1"})
            assert (await r.json())["ids"] == [1, 69, 2]  # old version still addressable
            r = await s.post("/v1/admin/tokenizers/bytes/activate", json={"version": "9"}, headers=auth)
            assert r.status == 404
            r = await s.delete("/v1/admin/tokenizers/bytes/2", headers=auth)
            assert r.status == 400  # active
            r = await s.delete("/v1/admin/tokenizers/bytes/1", headers=auth)
            assert r.status == 200
            r = await s.post("/v1/tokenize", json={"text": "A", "tokenizer": "bytes@1"})
            assert r.status == 404

    run_async(main())


def test_hot_swap_under_concurrent_load_loses_nothing_and_never_mixes_versions():
    expected = {"bytes@1": lambda t: BT.encode(t).tolist(),
                "bytes@2": lambda t: blt.ByteTokenizer(content_type="text").encode(t).tolist()}

    async def main():
        async with server(admin_token=TOKEN, max_wait_ms=1) as s:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            r = await s.post("/v1/admin/tokenizers", headers=auth,
                             json={"name": "bytes", "version": "2", "spec": "bytes:content_type=text"})
            assert r.status == 201
            stop = asyncio.Event()
            seen = {"bytes@1": 0, "bytes@2": 0}
            failures = []

            async def client(k):
                rng = random.Random(k)
                while not stop.is_set():
                    text = "".join(rng.choice("abcü ") for _ in range(rng.randrange(1, 40)))
                    async with s.post("/v1/tokenize", json={"text": text}) as r:
                        if r.status != 200:
                            failures.append(r.status)
                            continue
                        body = await r.json()
                    ids = body["ids"]
                    if ids != expected[body["tokenizer"]](text):
                        failures.append(("mixed", body["tokenizer"], text))
                    seen[body["tokenizer"]] += 1

            clients = [asyncio.ensure_future(client(k)) for k in range(64)]
            for i in range(10):
                await asyncio.sleep(0.05)
                r = await s.post("/v1/admin/tokenizers/bytes/activate", headers=auth,
                                 json={"version": "2" if i % 2 == 0 else "1"})
                assert r.status == 200
            stop.set()
            await asyncio.gather(*clients)
            return seen, failures

    seen, failures = run_async(main())
    assert failures == []
    assert seen["bytes@1"] > 0 and seen["bytes@2"] > 0


def test_rate_limit_is_per_client_with_retry_after():
    async def main():
        # A token every 100 s: however slow this machine, no token comes back during the test.
        async with server(rate_limit_rps=0.01, rate_limit_burst=3) as s:
            statuses = [(await s.post("/v1/tokenize", json={"text": "x"}, headers={"X-Client-Id": "a"})).status
                        for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            r = await s.post("/v1/tokenize", json={"text": "x"}, headers={"X-Client-Id": "a"})
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert (await error_of(r))["code"] == "rate_limited"
            r = await s.post("/v1/tokenize", json={"text": "x"}, headers={"X-Client-Id": "b"})
            assert r.status == 200  # another client has its own bucket
            assert (await s.get("/healthz")).status == 200  # probes are never limited

    run_async(main())


def test_connection_limit_answers_503():
    async def main():
        async with server(max_connections=2) as s:
            held = [await asyncio.open_connection("127.0.0.1", s.port) for _ in range(2)]
            await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 503")
            assert b"too_many_connections" in answer
            writer.close()
            for _, w in held:
                w.close()
            await asyncio.sleep(0.05)
            assert (await s.get("/healthz")).status == 200  # slots free again

    run_async(main())


def _sse_events(payload: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in payload.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_stream_small_json_and_errors():
    async def main():
        async with server(max_stream_bytes=10_000) as s:
            r = await s.post("/v1/tokenize_stream?segment_bytes=7", data=b"hello streaming world")
            assert r.headers["Content-Type"] == "text/event-stream"
            events = _sse_events(await r.read())
            ids = [i for kind, d in events if kind == "ids" for i in d["ids"]]
            assert ids == BT.encode(b"hello streaming world").tolist()
            assert events[-1] == ("done", {"segments": len(events) - 1, "tokens": len(ids), "bytes": 21,
                                           "tokenizer": "bytes@1"})
            r = await s.post("/v1/tokenize_stream", data=b"x" * 10_001)
            assert r.status == 413
            r = await s.post("/v1/tokenize_stream?format=xml", data=b"x")
            assert r.status == 400
            r = await s.post("/v1/tokenize_stream?dtype=float16", data=b"x")
            assert r.status == 400 and "dtype" in (await error_of(r))["message"]

            first = asyncio.Event()

            async def chunked():  # no Content-Length: the limit is enforced while reading
                yield b"y" * 3000
                await asyncio.wait_for(first.wait(), 10)  # the first ids event is out
                yield b"y" * 9000

            async with s.post("/v1/tokenize_stream?segment_bytes=2000", data=chunked()) as r:
                assert r.status == 200  # headers went out with the first segment
                payload = await r.content.readuntil(b"\n\n")
                first.set()
                payload += await r.read()
            events = _sse_events(payload)
            assert events[0][0] == "ids"
            assert events[-1][0] == "error" and events[-1][1]["status"] == 413

    run_async(main())


def test_stream_of_50_mb_is_answered_while_uploading(corpus_dir):
    seed = (corpus_dir / "en_prose.txt").read_bytes()[: 1 << 20]
    body = (seed * (50 * (1 << 20) // len(seed) + 1))[: 50 * (1 << 20)]
    async def main():
        async with server() as s:
            got_first = asyncio.Event()

            async def upload():
                view = memoryview(body)
                step = 1 << 20
                for pos in range(0, len(body), step):
                    if pos == 8 * step:
                        # Ids must already be flowing back before the rest of the body is sent.
                        await asyncio.wait_for(got_first.wait(), 30)
                    yield bytes(view[pos:pos + step])

            parts, done = [], None
            async with s.post("/v1/tokenize_stream?format=b64&dtype=uint16", data=upload()) as r:
                assert r.status == 200
                buf, scanned = bytearray(), 0
                async for chunk in r.content.iter_any():
                    buf += chunk
                    while (end := buf.find(b"\n\n", scanned)) >= 0:
                        (kind, data), = _sse_events(bytes(buf[:end + 2]))
                        del buf[:end + 2]
                        scanned = 0
                        if kind == "ids":
                            parts.append(np.frombuffer(base64.b64decode(data["ids_b64"]), dtype="<u2"))
                            got_first.set()
                        else:
                            done = (kind, data)
                    scanned = max(0, len(buf) - 1)
            return parts, done

    parts, done = run_async(main())
    assert done[0] == "done" and done[1]["bytes"] == len(body)
    assert len(parts) >= 40  # streamed segment by segment (1 MiB segments)
    streamed, whole = np.concatenate(parts), BT.encode(body)
    assert streamed.shape == whole.shape and np.array_equal(streamed, whole)


# ------------------------------------------------------------------- BPE encodings (issue 6)


def _bpe_texts(corpus_dir) -> list[str]:
    """Corpus slices of many sizes plus text that stresses the split pattern (no specials)."""
    rng = random.Random(6)
    texts = ["", "a", "hello world", " \n\n  \t x", "ünïcödé 漢字 🙂👍🏽", "1234567890 3.14", "it's they'll\r\n"]
    for name in ("en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt"):
        raw = (corpus_dir / name).read_text(encoding="utf-8")
        for _ in range(12):
            start = rng.randrange(len(raw) - 5000)
            texts.append(raw[start:start + rng.choice([1, 17, 300, 4000])])
    return texts


def _bpe_config(vocab_dir, *names):
    from blt.serve.config import load_config

    spec = ";".join(f"{n}@1=encoding:{n}" for n in names)
    cfg = load_config(["--tokenizers", spec, "--vocab-dir", str(vocab_dir)], environ={})
    assert cfg.vocab_dir == str(vocab_dir)
    return cfg


def test_bpe_encodings_over_http_equal_tiktoken(vocab_dir, corpus_dir):
    """cl100k_base@1 and o200k_base@1 configured like blt-serve (--tokenizers, --vocab-dir):
    /v1/tokenize gives tiktoken's ids, /v1/detokenize round-trips, specials are a 400."""
    from bpe_helpers import tiktoken_ref

    cfg = _bpe_config(vocab_dir, "cl100k_base", "o200k_base")
    texts = _bpe_texts(corpus_dir)
    refs = {n: tiktoken_ref(vocab_dir, n) for n in ("cl100k_base", "o200k_base")}

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir) as s:
            listed = {t["key"]: t for t in (await (await s.get("/v1/tokenizers")).json())["tokenizers"]}
            assert listed["cl100k_base@1"]["n_vocab"] == refs["cl100k_base"].n_vocab
            assert listed["o200k_base@1"]["n_vocab"] == refs["o200k_base"].n_vocab

            async def one(i, text):
                name = "cl100k_base" if i % 3 else "o200k_base"
                r = await s.post("/v1/tokenize", json={"text": text, "tokenizer": name})
                body = await r.json()
                assert r.status == 200, body
                assert body["tokenizer"] == f"{name}@1"
                assert body["ids"] == refs[name].encode(text), (name, text[:50])
                r = await s.post("/v1/detokenize", json={"ids": body["ids"], "tokenizer": name})
                back = await r.json()
                assert r.status == 200, back
                assert back["text"] == text and base64.b64decode(back["bytes_b64"]) == text.encode()

            # Concurrent requests over both encodings (batched together by the engine).
            await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))

            # Raw bytes (also invalid UTF-8) and a batch.
            raw = "naïve café\n".encode() + b"\xff\xfe tail"
            r = await s.post("/v1/tokenize?tokenizer=cl100k_base", data=raw,
                             headers={"Content-Type": "application/octet-stream"})
            assert (await r.json())["ids"] == refs["cl100k_base"]._encode_bytes(raw)
            r = await s.post("/v1/tokenize_batch", json={"texts": texts[:20], "tokenizer": "o200k_base"})
            assert (await r.json())["ids"] == refs["o200k_base"].encode_batch(texts[:20])

            # Special-token text is refused like enc.encode (default policy), naming the token.
            r = await s.post("/v1/tokenize", json={"text": "a <|endoftext|>", "tokenizer": "cl100k_base"})
            assert r.status == 400
            assert "<|endoftext|>" in (await error_of(r))["message"]
            r = await s.post("/v1/detokenize", json={"ids": [10**7], "tokenizer": "cl100k_base"})
            assert r.status == 400

    run_async(main())


def test_bpe_stream_equals_tiktoken(vocab_dir, corpus_dir):
    """/v1/tokenize_stream cuts a BPE document at safe points: the segments join to tiktoken's ids."""
    from bpe_helpers import tiktoken_ref

    cfg = _bpe_config(vocab_dir, "cl100k_base")
    text = (corpus_dir / "code_python.txt").read_text(encoding="utf-8")[:200_000]

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir) as s:
            r = await s.post("/v1/tokenize_stream?format=json&segment_bytes=4096", data=text.encode())
            assert r.status == 200
            return _sse_events(await r.read())

    events = run_async(main())
    ids = [i for kind, data in events if kind == "ids" for i in data["ids"]]
    assert events[-1][0] == "done" and sum(kind == "ids" for kind, _ in events) > 10
    assert ids == tiktoken_ref(vocab_dir, "cl100k_base").encode(text)


def test_bpe_stream_names_a_disallowed_special_at_its_offset_in_the_whole_stream(vocab_dir, corpus_dir):
    """A disallowed special deep in a /v1/tokenize_stream upload (and in AsyncBatchTokenizer.
    encode_stream) is reported at its byte offset in the whole input, not within its segment."""
    cfg = _bpe_config(vocab_dir, "cl100k_base")
    prose = (corpus_dir / "en_prose.txt").read_bytes()[:40_000]
    data = prose[:24_000] + b"<|endoftext|>" + prose[24_000:]
    where = data.index(b"<|endoftext|>")
    assert where == 24_000
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    with pytest.raises(ValueError, match=f"at byte {where}\\."):
        enc.encode(data.decode())  # what a one-shot encode says

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir) as s:
            r = await s.post("/v1/tokenize_stream?format=json&segment_bytes=4096", data=data)
            assert r.status == 200
            return _sse_events(await r.read())

    events = run_async(main())
    assert sum(kind == "ids" for kind, _ in events) >= 4  # the special lies several segments in
    kind, err = events[-1]
    assert kind == "error" and err["status"] == 400
    assert "'<|endoftext|>' at byte " in err["message"]
    assert int(err["message"].split("at byte ")[1].split(".")[0]) == where

    async def chunks():
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]

    async def direct():
        async with blt.AsyncBatchTokenizer(enc) as abt:
            async for _ in abt.encode_stream(chunks(), segment_bytes=4096):
                pass

    with pytest.raises(ValueError, match=f"at byte {where}\\."):
        run_async(direct())


def test_encoding_spec_finds_the_vocab_dir_from_the_environment(vocab_dir, monkeypatch):
    from blt.serve.tokenizer_registry import tokenizer_from_spec

    monkeypatch.setenv("BLT_VOCAB_DIR", str(vocab_dir))
    reg = TokenizerRegistry()
    entry = reg.load("cl100k_base", "1", "encoding:cl100k_base")
    assert entry.native.n_vocab == 100277
    assert entry.decode_bytes(entry.tokenizer.encode("hi there")) == b"hi there"
    monkeypatch.delenv("BLT_VOCAB_DIR")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    with pytest.raises(FileNotFoundError, match="o200k_base"):
        tokenizer_from_spec("encoding:o200k_base", vocab_dir=str(vocab_dir / "missing"))
    with pytest.raises(ValueError, match="encoding:NAME"):
        tokenizer_from_spec("encoding:")


def test_async_batch_tokenizer_with_bpe_many_concurrent_requests(vocab_dir, corpus_dir):
    """AsyncBatchTokenizer over a BPETokenizer gives enc.encode's ids for every concurrent request."""
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    texts = _bpe_texts(corpus_dir) * 4
    random.Random(1).shuffle(texts)

    async def main():
        async with blt.AsyncBatchTokenizer(enc, max_batch_size=16, max_wait_ms=2) as abt:
            got = await asyncio.gather(*(abt.encode(t, priority=("high", "normal", "low")[i % 3])
                                         for i, t in enumerate(texts)))
            back = await asyncio.gather(*(abt.decode_bytes(g) for g in got[:50]))
            return got, back

    got, back = run_async(main())
    for t, g in zip(texts, got):
        assert g.tolist() == enc.encode(t).tolist()
    assert back == [t.encode() for t in texts[:50]]


def test_blt_serve_process_serves_cl100k_from_the_vocab_dir(vocab_dir, tmp_path):
    """The blt-serve process with --tokenizers cl100k_base@1=encoding:cl100k_base and BLT_VOCAB_DIR;
    a missing vocabulary is a one-line startup error (exit 2)."""
    import os
    import signal

    from bpe_helpers import tiktoken_ref

    args = ["--access-log", "false", "--tokenizers", "cl100k_base@1=encoding:cl100k_base"]
    proc, port = start_serve(*args, env={"BLT_VOCAB_DIR": str(vocab_dir)})
    try:
        text = "Serving cl100k_base over HTTP: ünïcödé 🙂\n  indented\tcode(x) 12345\n"

        async def main():
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as s:
                r = await s.post("/v1/tokenize", json={"text": text, "tokenizer": "cl100k_base@1"})
                return await r.json()

        body = run_async(main())
        assert body["tokenizer"] == "cl100k_base@1"
        assert body["ids"] == tiktoken_ref(vocab_dir, "cl100k_base").encode(text)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0

    env = {k: v for k, v in os.environ.items() if k != "BLT_VOCAB_DIR"}
    env["TIKTOKEN_CACHE_DIR"] = ""
    r = run_serve("--port", "0", *args, "--vocab-dir", tmp_path / "none", env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "cl100k_base@1" in lines[0] and "encoding:cl100k_base" in lines[0] and "not found" in lines[0]

"""blt-serve under abuse over real loopback HTTP: slow clients that trickle headers or bodies,
thousands of idle connections, bodies just under and over every size limit, malformed JSON and
wrong types on every route, clients that vanish mid-stream or stop reading, admin routes without
or with a wrong token. The server stays responsive to well-behaved clients, frees what the bad
ones held, and logs each refusal once (docs/reliability.md, "Server abuse")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import resource

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")
from aiohttp import web  # noqa: E402

import blt  # noqa: E402
from blt.serve.config import ServeConfig  # noqa: E402
from blt.serve.middleware import LimitedTCPSite  # noqa: E402
from blt.serve.server import STATE, create_app  # noqa: E402

from support import run_async  # noqa: E402

BT = blt.ByteTokenizer()
TOKEN = "s3cret-admin"
# Well above any pause of a loaded machine, far below the hang guard: a server that never
# drops a bad client fails the test instead of passing by luck.
GIVE_UP_S = 60


class Records(logging.Handler):
    """Every record of the blt.serve and aiohttp loggers while a test server runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def fields(self) -> list[dict]:
        return [{"msg": r.getMessage(), "level": r.levelname, **getattr(r, "fields", {})}
                for r in self.records if r.name == "blt.serve"]

    def lines_for(self, request_id: str) -> list[dict]:
        return [f for f in self.fields() if f.get("request_id") == request_id]

    def errors(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR]


@contextlib.asynccontextmanager
async def server(**overrides):
    """An in-process blt-serve on a free port with the access log on and captured."""
    cfg = ServeConfig(port=0, **overrides)
    records = Records()
    loggers = [logging.getLogger(n) for n in ("blt.serve", "aiohttp")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(records)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    app = create_app(cfg)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = LimitedTCPSite(runner, "127.0.0.1", 0, max_connections=cfg.max_connections,
                          on_reject=app[STATE].metrics.reject_connection)
    await site.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{site.port}") as session:
            session.port = site.port
            session.app = app
            session.log = records
            yield session
    finally:
        await runner.cleanup()
        for lg, (level, propagate) in zip(loggers, saved):
            lg.removeHandler(records)
            lg.setLevel(level)
            lg.propagate = propagate


async def error_of(resp) -> dict:
    body = await resp.json()
    assert set(body["error"]) == {"status", "code", "message", "request_id"}
    assert body["error"]["status"] == resp.status
    return body["error"]


async def well_behaved(s) -> None:
    """A normal request on the session's own connection pool gets its right answer."""
    r = await s.post("/v1/tokenize", json={"text": "still here"})
    assert r.status == 200 and (await r.json())["ids"] == BT.encode("still here").tolist()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes the connection (a reset counts as closed)."""
    out = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), GIVE_UP_S):
            out += chunk
    except ConnectionError:
        pass
    return out


def metric(text: str, name: str, missing: float | None = None) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    if m is None and missing is not None:
        return missing
    assert m, name
    return float(m.group(1))


async def engine_idle(s) -> dict:
    """Waits until the server holds no request, queue entry or batch; returns the gauges."""
    names = ("blt_inflight_requests", 'blt_queue_depth{priority="normal"}', "blt_engine_inflight_batches")
    for _ in range(GIVE_UP_S * 20):
        text = await (await s.get("/metrics")).text()
        # engine gauges appear once the engine has started (missing: it never held anything)
        values = {n: metric(text, n, None if n == names[0] else 0.0) for n in names}
        # the /metrics request itself is the one request in flight
        if values == {names[0]: 1, names[1]: 0, names[2]: 0}:
            return values
        await asyncio.sleep(0.05)
    raise AssertionError(f"server still holds work: {values}")


# -- slow clients ---------------------------------------------------------------------------------
def test_trickled_headers_are_dropped_after_the_idle_timeout():
    async def main():
        async with server(idle_timeout_s=0.5) as s:
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            writer.write(b"POST /v1/tokenize HTTP/1.1\r\nHost: x\r\n")
            sent = 0
            while not reader.at_eof() and sent < GIVE_UP_S * 10:
                try:
                    writer.write(b"X-Slow-%d: y\r\n" % sent)  # never the blank line
                    await writer.drain()
                except ConnectionError:
                    break
                sent += 1
                await well_behaved(s)  # answered while the slow client trickles
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(reader.read(1), 0.1)
            assert reader.at_eof() or writer.is_closing() or sent < GIVE_UP_S * 10, "never dropped"
            assert await read_until_closed(reader) == b""  # closed, no answer to a half request
            writer.close()
            await well_behaved(s)
            assert s.log.errors() == []

    run_async(main())


def test_idle_connection_is_closed_after_the_idle_timeout_and_keep_alive_still_works():
    async def main():
        async with server(idle_timeout_s=0.5) as s:
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            assert await read_until_closed(reader) == b""  # never sent a byte: dropped
            writer.close()
            # a keep-alive client answered twice on one connection, then idles out
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            for _ in range(2):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                await reader.readexactly(length)
            assert await read_until_closed(reader) == b""
            writer.close()

    run_async(main())


def test_trickled_body_is_answered_504_at_the_request_timeout():
    async def main():
        async with server(request_timeout_s=0.5) as s:
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            writer.write(b"POST /v1/tokenize HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-body\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\": \"")
            answer = b""
            for _ in range(GIVE_UP_S * 10):
                with contextlib.suppress(ConnectionError):
                    writer.write(b"a")
                await well_behaved(s)
                with contextlib.suppress(asyncio.TimeoutError):
                    answer += await asyncio.wait_for(reader.read(65536), 0.1)
                if b"\r\n\r\n" in answer:
                    break
            assert answer.startswith(b"HTTP/1.1 504"), answer[:200]
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body["error"]["code"] == "timeout" and body["error"]["request_id"] == "slow-body"
            writer.close()
            assert [f["status"] for f in s.log.lines_for("slow-body")] == [504]

    run_async(main())


def test_stalled_stream_upload_is_refused_408():
    async def main():
        async with server(stream_idle_timeout_s=0.3) as s:
            async def stalls_first():
                yield b"abc"
                await asyncio.sleep(GIVE_UP_S)  # never the rest

            r = await s.post("/v1/tokenize_stream", data=stalls_first(), headers={"X-Request-Id": "stall-1"})
            assert r.status == 408 and (await error_of(r))["code"] == "request_timeout"

            async def stalls_later():
                yield b"x" * 5000
                await asyncio.sleep(GIVE_UP_S)

            async with s.post("/v1/tokenize_stream?segment_bytes=1000", data=stalls_later(),
                              headers={"X-Request-Id": "stall-2"}) as r:
                assert r.status == 200
                payload = await asyncio.wait_for(r.read(), GIVE_UP_S)
            last = payload.decode().strip().split("\n\n")[-1]
            assert last.startswith("event: error") and json.loads(last.split("data: ", 1)[1])["status"] == 408
            await engine_idle(s)
            assert [f["status"] for f in s.log.lines_for("stall-1")] == [408]
            assert [(f["status"], f["stream_error"]) for f in s.log.lines_for("stall-2")] == [(200, 408)]

    run_async(main())


def test_stream_reader_that_stops_reading_is_dropped_and_its_work_freed():
    async def main():
        async with server(stream_idle_timeout_s=0.5) as s:
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            body = b"0123456789" * (3 << 20)  # 30 MB in, ~100 MB of JSON ids out: fills every buffer
            writer.write(b"POST /v1/tokenize_stream?segment_bytes=65536 HTTP/1.1\r\nHost: x\r\n"
                         b"X-Request-Id: no-reader\r\nContent-Length: %d\r\n\r\n" % len(body))

            async def upload():
                with contextlib.suppress(ConnectionError):
                    for i in range(0, len(body), 1 << 20):
                        writer.write(body[i:i + (1 << 20)])
                        await writer.drain()

            sender = asyncio.ensure_future(upload())
            for _ in range(GIVE_UP_S * 10):  # never reads a byte; the server must give up
                if [f for f in s.log.lines_for("no-reader")]:
                    break
                await asyncio.sleep(0.1)
            await asyncio.wait_for(sender, GIVE_UP_S)
            writer.close()
            await engine_idle(s)
            lines = s.log.lines_for("no-reader")
            assert [(f["status"], f["stream_error"]) for f in lines] == [(200, "reader_stalled")]
            await well_behaved(s)

    run_async(main())


def test_refused_stream_upload_is_answered_then_cut_off_not_read_to_its_end(vocab_dir):
    """The stalled-reader case of tools/server_abuse.py: digits have no safe cut for cl100k, so a
    stream of them is refused (a 400 naming the offset, or an ``error`` event once events went
    out) as soon as a segment would exceed max_body_bytes. The server then reads at most
    DISCARD_BYTES more of the upload and closes the connection (a client refused again within
    REPEAT_REFUSAL_S is held first): however much the client still sends, it is not read (aiohttp
    alone would read and drop all of it, keeping the connection). A client that reads while it
    uploads gets its answer first."""
    from test_server import _bpe_config

    cfg = _bpe_config(vocab_dir, "cl100k_base")
    digits = b"0123456789" * ((1 << 20) // 10)  # ~1 MiB
    most = 128  # pieces of it a client offers: far more than loopback buffers hold
    route = "/v1/tokenize_stream?segment_bytes=65536"

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir, max_body_bytes=65536) as s:
            # A client that only writes (and never reads), as the abuse tool's; twice.
            for rid in ("writer", "writer-again"):
                reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
                writer.write(b"POST %s HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\nX-Client-Id: w\r\n"
                             b"Content-Length: %d\r\n\r\n" % (route.encode(), rid.encode(), most * len(digits)))
                sent = 0
                with contextlib.suppress(ConnectionError):
                    while sent < most:
                        writer.write(digits)
                        await asyncio.wait_for(writer.drain(), GIVE_UP_S)
                        sent += 1
                writer.close()
                assert sent < most // 2  # the server stopped reading and closed (a reset)

            # Clients that read while they upload: the 400, or the error event after the ids.
            for rid, first in (("reader", b""), ("reader-after-ids", b"hello world " * 20_000)):
                offered = 0

                async def upload():
                    nonlocal offered
                    yield first
                    while offered < most:
                        offered += 1
                        yield digits

                async with s.post(route, data=upload(), headers={"X-Request-Id": rid, "X-Client-Id": rid}) as r:
                    if first:
                        assert r.status == 200
                        events = [e for e in (await asyncio.wait_for(r.read(), GIVE_UP_S)).split(b"\n\n") if e]
                        assert events[0].startswith(b"event: ids")
                        assert events[-1].startswith(b"event: error")
                        message = json.loads(events[-1].split(b"data: ", 1)[1])["message"]
                    else:
                        assert r.status == 400 and r.headers["Connection"].lower() == "close"
                        message = (await error_of(r))["message"]
                assert "no safe place to cut the stream" in message and "65536" in message
                offset = int(re.search(r"from byte (\d+)", message).group(1))
                assert 0 < offset <= len(first) if first else offset == 0
                assert offered < most // 2

            await engine_idle(s)
            lines = {rid: [(f["status"], f.get("stream_error"), f.get("unread_upload")) for f in s.log.lines_for(rid)]
                     for rid in ("writer", "writer-again", "reader", "reader-after-ids")}
            assert lines == {"writer": [(400, None, "closed")], "writer-again": [(400, None, "held")],
                             "reader": [(400, None, "closed")], "reader-after-ids": [(200, 400, "closed")]}
            assert s.log.errors() == []
            prose = b"A stream of prose still goes through, segment by segment. " * 5000
            r = await s.post(route, data=prose, headers={"X-Request-Id": "prose"})
            events = [e for e in (await r.read()).split(b"\n\n") if e]
            assert r.status == 200 and len(events) > 3 and events[-1].startswith(b"event: done")
            ids = [i for e in events[:-1] for i in json.loads(e.split(b"data: ", 1)[1])["ids"]]
            assert ids == blt.get_encoding("cl100k_base", vocab_dir=vocab_dir).encode(prose).tolist()
            assert [(f["status"], f.get("unread_upload")) for f in s.log.lines_for("prose")] == [(200, None)]

    run_async(main())


# -- clients that vanish --------------------------------------------------------------------------
def test_client_disconnecting_mid_stream_frees_what_it_held():
    async def main():
        async with server() as s:
            for rid, after_first_event in (("gone-after-ids", True), ("gone-mid-upload", False)):
                reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
                writer.write(b"POST /v1/tokenize_stream?segment_bytes=1000 HTTP/1.1\r\nHost: x\r\n"
                             b"X-Request-Id: " + rid.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"y" * (5000 if after_first_event else 10)
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                if after_first_event:
                    assert b"event: ids" in await reader.readuntil(b"\n\n")
                else:
                    await asyncio.sleep(0.2)  # the server is waiting for more of the body
                writer.transport.abort()  # a reset, mid-stream
                await engine_idle(s)
                for _ in range(GIVE_UP_S * 10):
                    if s.log.lines_for(rid):
                        break
                    await asyncio.sleep(0.1)
                lines = s.log.lines_for(rid)
                assert len(lines) == 1, lines
                if after_first_event:
                    assert (lines[0]["status"], lines[0]["stream_error"]) == (200, "client_gone")
                else:
                    assert lines[0]["status"] == 499
            stats = s.app[STATE].abt.stats()
            assert stats["queued"] == (0, 0, 0) and stats["inflight_batches"] == 0
            assert s.app[STATE].abt._pending == {}  # no future left waiting for a result
            assert s.log.errors() == []
            await well_behaved(s)

    run_async(main())


# -- many idle connections ------------------------------------------------------------------------
def test_two_thousand_idle_connections_leave_answers_or_a_clean_503():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 5000:  # 2,000 client sockets + up to 1,000 server sockets in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 5000:
        pytest.skip("RLIMIT_NOFILE hard limit below 5000")

    async def main():
        async with server(max_connections=1000, idle_timeout_s=GIVE_UP_S) as fresh_pool:
            # A well-behaved client whose keep-alive connection is in before the flood.
            connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=10 * GIVE_UP_S)
            s = aiohttp.ClientSession(f"http://127.0.0.1:{fresh_pool.port}", connector=connector)
            s.port, s.log = fresh_pool.port, fresh_pool.log
            await well_behaved(s)
            conns = []
            for _ in range(20):
                conns += await asyncio.gather(*(asyncio.open_connection("127.0.0.1", s.port) for _ in range(100)))
            refused = held = 0
            for reader, _ in conns:
                try:
                    first = await asyncio.wait_for(reader.read(65536), 0.02)
                except asyncio.TimeoutError:
                    held += 1  # accepted, idle
                    continue
                first += await read_until_closed(reader)
                assert first.startswith(b"HTTP/1.1 503") and b"too_many_connections" in first
                refused += 1
            assert refused + held == 2000 and refused >= 1000
            await well_behaved(s)  # its established connection still works
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await read_until_closed(reader)
            assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer  # clean 503
            writer.close()
            for _, w in conns:
                w.close()
            for _ in range(GIVE_UP_S * 10):  # slots free again once the idle ones are gone
                async with aiohttp.ClientSession(f"http://127.0.0.1:{s.port}") as fresh:
                    with contextlib.suppress(aiohttp.ClientError):
                        if (await fresh.get("/healthz")).status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("connection slots never freed")
            text = await (await s.get("/metrics")).text()
            await s.close()
            rejected = metric(text, "blt_rejected_connections_total")
            refusal_lines = [f for f in s.log.fields() if f["msg"] == "connection refused"]
            assert rejected == len(refusal_lines) >= refused + 1  # each refusal logged once
            assert s.log.errors() == []

    run_async(main())


# -- size limits ----------------------------------------------------------------------------------
LIMIT = 4096
STREAM_LIMIT = 8192


def _json_of_size(obj: dict, size: int) -> bytes:
    """``obj`` as JSON padded with trailing whitespace (still valid JSON) to exactly ``size`` bytes."""
    raw = json.dumps(obj).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def _bodies_at(size: int) -> list[tuple[str, str, bytes]]:
    """(route, content type, body of exactly ``size`` bytes) for every route with a body limit."""
    json_type, raw_type = "application/json", "application/octet-stream"
    return [
        ("/v1/tokenize", json_type, _json_of_size({"text": "x" * (size - 20)}, size)),
        ("/v1/tokenize", raw_type, b"x" * size),
        ("/v1/tokenize_batch", json_type, _json_of_size({"texts": ["x" * 100] * (size // 120)}, size)),
        ("/v1/detokenize", json_type, _json_of_size({"ids": [70] * (size // 5)}, size)),
        ("/v1/inspect", json_type, _json_of_size({"text": "x" * (size - 20)}, size)),
        ("/v1/inspect", raw_type, b"x" * size),
        ("/v1/admin/tokenizers", json_type, _json_of_size({"name": "b", "version": "x" * (size - 60),
                                                            "spec": "bytes"}, size)),
    ]


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
def test_bodies_just_under_and_over_every_limit(chunked):
    """At the limit: answered; one byte over: 413 with a JSON message, with a Content-Length (refused
    before reading) and chunked (refused while reading)."""
    async def send(s, route, ctype, body):
        async def chunks():
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]

        headers = {"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}"}
        return await s.post(route, data=chunks() if chunked else body, headers=headers)

    async def main():
        async with server(max_body_bytes=LIMIT, max_stream_bytes=STREAM_LIMIT, admin_token=TOKEN) as s:
            for (route, ctype, under), (_, _, over) in zip(_bodies_at(LIMIT), _bodies_at(LIMIT + 1)):
                r = await send(s, route, ctype, under)
                assert r.status in (200, 201), (route, ctype, await r.text())
                r = await send(s, route, ctype, over)
                assert r.status == 413, (route, ctype, await r.text())
                err = await error_of(r)
                assert err["code"] == "body_too_large" and ("too large" in err["message"] or "exceeds" in err["message"])
            r = await send(s, "/v1/tokenize_stream", "application/octet-stream", b"s" * STREAM_LIMIT)
            assert r.status == 200 and b"event: done" in await r.read()
            r = await send(s, "/v1/tokenize_stream", "application/octet-stream", b"s" * (STREAM_LIMIT + 1))
            # refused before its first segment (1 MiB) was cut: a plain 413 either way (a refusal
            # after segments went out is the stream's last event, tests/test_server.py)
            assert r.status == 413 and str(STREAM_LIMIT) in (await error_of(r))["message"]
            for segment, status in ((64 << 20, 200), ((64 << 20) + 1, 400), (0, 400)):
                r = await s.post(f"/v1/tokenize_stream?segment_bytes={segment}", data=b"abc")
                assert r.status == status
            await engine_idle(s)
            assert s.log.errors() == []

    run_async(main())


# -- malformed JSON and wrong types ---------------------------------------------------------------
MALFORMED = [b"", b"{not json", b"[]", b'"text"', b"null", b"1", b"[" * 100_000, b'{"a":' * 50_000,
             b'{"text": "\xff\xfe"}', b"\xff\xfe\x00", b'{"text": "a", "text": 5}', b"NaN"]
WRONG_TYPES = {
    "/v1/tokenize": [{"text": 5}, {"text": None}, {"text": ["a"]}, {"text": "a", "tokenizer": 5},
                     {"text": "a", "priority": 1}, {"text": "a", "dtype": []}, {"text": "a", "priority": "urgent"}],
    "/v1/tokenize_batch": [{"texts": "a"}, {"texts": [1]}, {"texts": None}, {"texts": [["a"]]},
                           {"texts": ["a"], "tokenizer": {}}],
    "/v1/detokenize": [{"ids": "abc"}, {"ids": [1.5]}, {"ids": [True]}, {"ids": [2**70]}, {"ids": [-1]},
                       {"ids": [None]}, {"ids": {"0": 1}}, {"ids": [1], "priority": 3}, {"ids": [10**9]}],
    "/v1/inspect": [{"text": 5}, {"text": "a", "max_items": "many"}, {"text": "a", "max_items": 0},
                    {"text": "a", "patcher": 7}],
    "/v1/admin/tokenizers": [{"name": "a"}, {"name": True, "version": "1", "spec": "bytes"},
                             {"name": "a", "version": [], "spec": "bytes"}, {"name": "a", "version": "1", "spec": 5},
                             {"name": "a", "version": "1", "spec": "no-such-spec"}],
    "/v1/admin/tokenizers/bytes/activate": [{"version": None}, {"version": True}, {"version": ["1"]}],
}


def test_malformed_json_and_wrong_types_on_every_route_are_400():
    async def main():
        async with server(admin_token=TOKEN) as s:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            seen = 0
            for route in WRONG_TYPES:
                for body in MALFORMED:
                    rid = f"bad-{seen}"
                    r = await s.post(route, data=body, headers={**auth, "Content-Type": "application/json",
                                                                "X-Request-Id": rid})
                    assert r.status == 400, (route, body[:20], await r.text())
                    await error_of(r)
                    assert [f["status"] for f in s.log.lines_for(rid)] == [400]  # one line per refusal
                    seen += 1
                for obj in WRONG_TYPES[route]:
                    r = await s.post(route, json=obj, headers=auth)
                    assert r.status in (400, 404), (route, obj, await r.text())
                    assert (await error_of(r))["code"] in ("bad_request", "not_found")
                    seen += 1
            for query in ("format=xml", "dtype=float16", "priority=urgent", "segment_bytes=x", "tokenizer=nope"):
                r = await s.post(f"/v1/tokenize_stream?{query}", data=b"abc")
                assert r.status in (400, 404) and (await error_of(r))["message"]
            await well_behaved(s)
            assert s.log.errors() == [] and seen > 100

    run_async(main())


# -- admin routes ---------------------------------------------------------------------------------
ADMIN = [("POST", "/v1/admin/tokenizers", {"name": "bytes", "version": "9", "spec": "bytes"}),
         ("POST", "/v1/admin/tokenizers/bytes/activate", {"version": "1"}),
         ("DELETE", "/v1/admin/tokenizers/bytes/1", None)]
BAD_AUTH = [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
            f"Bearer {TOKEN[:-1]}", f"{TOKEN}", f"Bearer  {TOKEN} extra"]


def test_admin_routes_refuse_missing_and_wrong_tokens_and_log_no_secret():
    async def main():
        async with server(admin_token=TOKEN) as s:
            n = 0
            for method, route, body in ADMIN:
                for auth in BAD_AUTH:
                    headers = {"X-Request-Id": f"admin-{n}"}
                    if auth is not None:
                        headers["Authorization"] = auth
                    r = await s.request(method, route, json=body, headers=headers)
                    assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer", (route, auth)
                    assert (await error_of(r))["code"] == "unauthorized"
                    assert [f["status"] for f in s.log.lines_for(f"admin-{n}")] == [401]
                    n += 1
            listed = await (await s.get("/v1/tokenizers")).json()
            assert [t["key"] for t in listed["tokenizers"]] == ["bytes@1"]  # nothing changed
            assert TOKEN not in json.dumps(s.log.fields())
        async with server() as s:  # without a configured token the admin routes do not exist
            for method, route, body in ADMIN:
                r = await s.request(method, route, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                assert r.status in (404, 405)

    run_async(main())


def test_each_refusal_is_logged_once_and_nothing_as_an_error():
    async def main():
        async with server(max_body_bytes=100, rate_limit_rps=0.01, rate_limit_burst=3, admin_token=TOKEN) as s:
            cases = [("POST", "/v1/tokenize", b"{", 400), ("POST", "/v1/tokenize", b"x" * 101, 413),
                     ("GET", "/v1/tokenize", b"", 405), ("GET", "/v1/nothing", b"", 404),
                     ("POST", "/v1/admin/tokenizers", b"{}", 401), ("POST", "/v1/tokenize", b"ok", 429)]
            for i, (method, route, body, status) in enumerate(cases):
                if status == 429:  # the fourth request of a client with a burst of three
                    for _ in range(3):
                        assert (await s.post(route, data=body, headers={"X-Client-Id": f"c{i}"})).status == 200
                r = await s.request(method, route, data=body, headers={
                    "X-Request-Id": f"refused-{i}", "X-Client-Id": f"c{i}",
                    "Content-Type": "application/json" if body.startswith(b"{") else "application/octet-stream"})
                assert r.status == status
                assert [f["status"] for f in s.log.lines_for(f"refused-{i}")] == [status]
            assert s.log.errors() == []

    run_async(main())

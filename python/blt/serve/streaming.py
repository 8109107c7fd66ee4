"""blt-serve's server-sent-event routes: ``/v1/tokenize_stream`` (bytes in, ids out, segment by
segment) and ``/v1/detokenize_stream`` (ids in as they are generated, text out), plus the
``"stream": true`` form of ``/v1/detokenize``.

Text leaves these routes through :class:`blt.StreamDecoder`: a piece holds only complete
characters (a token that ends inside a UTF-8 character, as byte-level BPE does with emoji, gives
``""`` until the character is complete), and the ``text`` fields of a stream's events, ``done``
included, join to the one-shot decode of all its ids.

>>> from blt.serve.streaming import sse_event
>>> sse_event("text", {"seq": 0, "ids": 1, "text": "🦜"})
b'event: text\\ndata: {"seq":0,"ids":1,"text":"\\xf0\\x9f\\xa6\\x9c"}\\n\\n'
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, AsyncIterator, Dict, Optional, Tuple

import numpy as np
from aiohttp import web

from ..stream_decoder import StreamDecoder
from .engine import PRIORITIES
from .middleware import REQUEST_ID, STREAM_ERROR, ApiError, as_api_error
from .tokenizer_registry import TokenizerEntry

DTYPES = ("uint16", "uint32", "int32", "int64")
STREAM_READ_BYTES = 1 << 16
# Runs up to this many ids are decoded on the event loop (microseconds of native work); longer
# runs go to a thread so other requests keep being answered meanwhile.
DECODE_INLINE_IDS = 1 << 14
_TRUE = ("1", "true", "yes", "on")


def sse_event(event: str, data: Dict[str, Any]) -> bytes:
    """One server-sent event: ``event:`` line, compact JSON ``data:`` line, blank line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return b"event: " + event.encode() + b"\ndata: " + payload.encode() + b"\n\n"


def ids_array(value: Any, what: str = "'ids'") -> np.ndarray:
    """A JSON id list (or one id) as int64, or a 400 naming ``what``.

    >>> from blt.serve.streaming import ids_array
    >>> ids_array([1, 2]).tolist(), ids_array(7).tolist()
    ([1, 2], [7])
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ApiError(400, f"{what} must be an integer or a list of integers")
    try:
        return np.asarray(value, dtype=np.int64)
    except OverflowError:
        raise ApiError(400, f"{what}: ids must fit in 64-bit integers") from None


async def decode_step(decoder: StreamDecoder, ids: np.ndarray) -> str:
    """``decoder.step(ids)``, off the event loop for long runs; an id the tokenizer does not know
    is a 400 naming it."""
    try:
        if ids.size <= DECODE_INLINE_IDS:
            return decoder.step(ids)
        return await asyncio.get_running_loop().run_in_executor(None, decoder.step, ids)
    except (ValueError, KeyError, IndexError, OverflowError) as e:
        raise ApiError(400, str(e.args[0]) if e.args else "token id not in the vocabulary") from None


class StalledReader(Exception):
    """The client of a stream took no data for stream_idle_timeout_s."""


class EventStream:
    """An SSE answer whose headers leave with its first event: an error before that is still an
    ordinary JSON error with its status; after it, an ``error`` event ends the stream.

    ``idle``: seconds an event may wait for a client that reads nothing (backpressure is fine, a
    reader stalled for longer would hold its handler, buffers and connection): its connection is
    dropped."""

    def __init__(self, request: web.Request, entry: TokenizerEntry, idle: float) -> None:
        self.request = request
        self.idle = idle
        self.resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Tokenizer": entry.key, "X-Request-Id": request[REQUEST_ID]})

    async def send(self, event: bytes) -> None:
        if not self.resp.prepared:
            await self.resp.prepare(self.request)
        try:
            await asyncio.wait_for(self.resp.write(event), self.idle)  # waits for the reader
        except (TimeoutError, asyncio.TimeoutError):
            raise StalledReader(f"client took no data for {self.idle:g} s") from None

    async def close(self, done: Dict[str, Any]) -> web.StreamResponse:
        await self.send(sse_event("done", done))
        await self.resp.write_eof()
        return self.resp

    async def fail(self, exc: Exception) -> web.StreamResponse:
        """Ends a started stream with an ``error`` event; re-raises when nothing was sent yet."""
        if not self.resp.prepared:
            raise exc  # the middleware answers with a proper status
        if isinstance(exc, (ConnectionError, StalledReader)):
            self._gone(exc)  # nobody to tell
            return self.resp
        err = as_api_error(exc)
        self.request[STREAM_ERROR] = err.status  # the access log's status is the 200 sent first
        try:
            await self.send(sse_event("error", {"status": err.status, "code": err.code,
                                                "message": err.message}))
            await self.resp.write_eof()
        except (ConnectionError, StalledReader) as gone:
            self._gone(gone)
        return self.resp

    def _gone(self, exc: Exception) -> None:
        """Notes a stream whose client went away or stopped reading, and drops its connection."""
        if isinstance(exc, StalledReader):
            self.request[STREAM_ERROR] = "reader_stalled"
            if self.request.transport is not None:
                self.request.transport.abort()  # its unsent events go with it
        else:
            self.request[STREAM_ERROR] = "client_gone"


async def read_upload(request: web.Request, idle: float, size: int = STREAM_READ_BYTES) -> bytes:
    """The next bytes of a streamed request body (b"" at its end); a 408 when none arrive for
    ``idle`` seconds (a stalled upload would hold its handler for ever)."""
    try:
        return await asyncio.wait_for(request.content.read(size), idle)
    except (TimeoutError, asyncio.TimeoutError):
        raise ApiError(408, f"no stream data received for {idle:g} s") from None


def parse_priority(value: Optional[str]) -> str:
    """``high``, ``normal`` (the default) or ``low``; anything else is a 400.

    >>> from blt.serve.streaming import parse_priority
    >>> parse_priority(None), parse_priority("high")
    ('normal', 'high')
    """
    value = value or "normal"
    if value not in PRIORITIES:
        raise ApiError(400, f"unknown priority {value!r} (expected high, normal or low)")
    return value


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").strip().lower()
    if value not in _TRUE + ("0", "false", "no", "off"):
        raise ApiError(400, f"{name} must be true or false, got {value!r}")
    return value in _TRUE


# -- /v1/tokenize_stream ---------------------------------------------------------------------------
async def tokenize_stream(request: web.Request, st: Any) -> web.StreamResponse:
    """Raw body in, server-sent events out: one ``ids`` event per segment, then ``done``.

    ``st`` is the server's ServerState. ``?format=json`` (ids as a JSON list) or ``b64``
    (little-endian ids of ``dtype``, base64); ``?text=true`` adds each segment's decoded ``text``
    (complete characters only)."""
    cfg = st.config
    entry = st.registry.resolve(request.query.get("tokenizer"))
    priority = parse_priority(request.query.get("priority"))
    dtype = request.query.get("dtype") or cfg.dtype
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "b64"):
        raise ApiError(400, f"unknown format {fmt!r} (expected json or b64)")
    try:
        segment = int(request.query.get("segment_bytes", cfg.stream_segment_bytes))
    except ValueError:
        raise ApiError(400, "segment_bytes must be an integer") from None
    if not 1 <= segment <= 64 << 20:
        raise ApiError(400, "segment_bytes must be in 1..67108864")
    if dtype not in DTYPES:
        raise ApiError(400, f"unknown dtype {dtype!r} (expected one of {', '.join(DTYPES)})")
    decoder = StreamDecoder(entry) if _flag(request, "text") else None
    received = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal received
        while chunk := await read_upload(request, cfg.stream_idle_timeout_s):
            received += len(chunk)
            if received > cfg.max_stream_bytes:
                raise ApiError(413, f"stream exceeds the limit of {cfg.max_stream_bytes} bytes")
            yield chunk

    out = EventStream(request, entry, cfg.stream_idle_timeout_s)
    seq = tokens = 0
    # With text the ids are needed as an array to decode; else the workers write their JSON.
    as_json = fmt == "json" and decoder is None
    # A segment is one engine job: where the input has no safe cut it could grow to the whole
    # stream and hold an engine thread for every other request; no larger than any one request.
    gen = st.abt.encode_stream(chunks(), segment_bytes=segment, priority=priority, dtype=dtype,
                               timeout=cfg.request_timeout_s, entry=entry, json=as_json,
                               max_window=max(segment, cfg.max_body_bytes))
    try:
        async for seg in gen:
            if as_json:
                count = seg.count
                data = b'{"seq":%d,"count":%d,"ids":%s' % (seq, count, seg.json)
            else:
                count = seg.size
                if fmt == "json":
                    ids_text = json.dumps(seg.tolist(), separators=(",", ":")).encode()
                    data = b'{"seq":%d,"count":%d,"ids":%s' % (seq, count, ids_text)
                else:
                    b64 = base64.b64encode(seg.astype(seg.dtype.newbyteorder("<"), copy=False).tobytes())
                    data = b'{"seq":%d,"count":%d,"ids_b64":"%s"' % (seq, count, b64)
            if decoder is not None:
                text = await decode_step(decoder, seg)
                data += b',"text":' + json.dumps(text, ensure_ascii=False).encode()
            await out.send(b"event: ids\ndata: " + data + b"}\n\n")
            seq += 1
            tokens += count
            st.metrics.count_tokens(count)
        done: Dict[str, Any] = {"segments": seq, "tokens": tokens, "bytes": received, "tokenizer": entry.key}
        if decoder is not None:
            done["text"] = decoder.finish()
        return await out.close(done)
    except Exception as exc:
        return await out.fail(exc)
    finally:
        await gen.aclose()


# -- decoding streams ------------------------------------------------------------------------------
async def _decode_events(out: EventStream, entry: TokenizerEntry,
                         steps: AsyncIterator[Tuple[int, np.ndarray]]) -> web.StreamResponse:
    """One ``text`` event per step (``seq``, ``ids`` consumed, ``text``: the characters completed,
    maybe ``""``), then ``done`` with the bytes still held back as ``text``."""
    decoder = StreamDecoder(entry)
    seq = tokens = 0
    try:
        async for _, ids in steps:
            text = await decode_step(decoder, ids)
            await out.send(sse_event("text", {"seq": seq, "ids": int(ids.size), "text": text}))
            seq += 1
            tokens += int(ids.size)
        return await out.close({"steps": seq, "tokens": tokens, "tokenizer": entry.key,
                                "text": decoder.finish()})
    except Exception as exc:
        return await out.fail(exc)


async def detokenize_runs(request: web.Request, entry: TokenizerEntry, ids: Any,
                          idle: float) -> web.StreamResponse:
    """``/v1/detokenize`` with ``"stream": true``: ``ids`` is a list of steps, each an id or a
    list of ids (a run), answered as the events of :func:`_decode_events`."""
    if not isinstance(ids, list):
        raise ApiError(400, "with \"stream\": true, 'ids' must be a list of ids or of id lists")
    runs = [ids_array(step, f"ids[{i}]") for i, step in enumerate(ids)]  # all checked before any event

    async def steps() -> AsyncIterator[Tuple[int, np.ndarray]]:
        for i, run in enumerate(runs):
            yield i, run

    return await _decode_events(EventStream(request, entry, idle), entry, steps())


async def _ndjson_steps(request: web.Request, max_bytes: int, max_line: int,
                        idle: float) -> AsyncIterator[Tuple[int, np.ndarray]]:
    """(line number, ids) of each non-empty line of the body, as soon as the line is complete."""
    buf = bytearray()
    received = lineno = 0
    while chunk := await read_upload(request, idle):
        received += len(chunk)
        if received > max_bytes:
            raise ApiError(413, f"stream exceeds the limit of {max_bytes} bytes")
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            lineno += 1
            if end - start > max_line:
                raise ApiError(413, f"line {lineno} exceeds the limit of {max_line} bytes")
            line = bytes(buf[start:end])
            start = end + 1
            if line.strip():
                yield lineno, _line_ids(lineno, line)
        del buf[:start]
        if len(buf) > max_line:
            raise ApiError(413, f"line {lineno + 1} exceeds the limit of {max_line} bytes")
    if buf.strip():
        yield lineno + 1, _line_ids(lineno + 1, bytes(buf))


def _line_ids(lineno: int, line: bytes) -> np.ndarray:
    try:
        value = json.loads(line)
    except ValueError as e:
        raise ApiError(400, f"line {lineno} is not valid JSON: {e}") from None
    return ids_array(value, f"line {lineno}")


async def detokenize_stream(request: web.Request, st: Any) -> web.StreamResponse:
    """``POST /v1/detokenize_stream[?tokenizer=NAME]``: a body of NDJSON lines, each an id or a
    list of ids, read as they arrive (a chunked upload from a model generating tokens); one
    ``text`` event per line, then ``done``. ``st`` is the server's ServerState."""
    cfg = st.config
    entry = st.registry.resolve(request.query.get("tokenizer"))
    steps = _ndjson_steps(request, cfg.max_stream_bytes, cfg.max_body_bytes, cfg.stream_idle_timeout_s)
    return await _decode_events(EventStream(request, entry, cfg.stream_idle_timeout_s), entry, steps)


def stream_option(body: Dict[str, Any]) -> bool:
    """The JSON body's ``stream`` flag (a boolean, default false)."""
    value = body.get("stream", False)
    if not isinstance(value, bool):
        raise ApiError(400, "'stream' must be true or false")
    return value

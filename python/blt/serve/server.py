"""blt-serve: HTTP tokenization over the AsyncBatchTokenizer (aiohttp).

Routes: POST /v1/tokenize, /v1/tokenize_batch, /v1/detokenize, /v1/tokenize_stream (server-sent
events), /v1/inspect; GET / (a page that shows tokens and patches, see ``blt.serve.page``),
/v1/tokenizers, /v1/patchers, /healthz, /readyz, /metrics; with an admin token also
POST /v1/admin/tokenizers, POST /v1/admin/tokenizers/{name}/activate and
DELETE /v1/admin/tokenizers/{name}/{version}. Every tokenizing answer names the ``name@version``
that produced it. SIGTERM: stop accepting, drain in-flight requests, exit 0.

>>> from blt.serve.server import create_app
>>> from blt.serve.config import ServeConfig
>>> sorted({r.resource.canonical for r in create_app(ServeConfig()).router.routes()})[:4]
['/', '/healthz', '/metrics', '/readyz']
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import json
import signal
import sys
from typing import Any, AsyncIterator, Dict, Optional, Sequence

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .config import ServeConfig, load_config
from .engine import PRIORITIES, AsyncBatchTokenizer, EncodedJson
from .metrics import ServerMetrics
from .page import InspectPage, builtin_patchers
from .middleware import REQUEST_ID, STREAM_ERROR, ApiError, LimitedTCPSite, as_api_error, log, make_middleware, read_json, setup_logging
from .tokenizer_registry import WARMUP_TEXT, TokenizerLoadError, TokenizerRegistry

JSON_TYPES = ("application/json",)
DTYPES = ("uint16", "uint32", "int32", "int64")
STREAM_READ_BYTES = 1 << 16


class ServerState:
    """Everything the handlers share: config, registry, batch tokenizer, metrics, drain flag."""

    def __init__(self, config: ServeConfig, registry: Optional[TokenizerRegistry] = None) -> None:
        self.config = config
        if registry is None:
            registry = TokenizerRegistry(default=config.default_tokenizer, vocab_dir=config.vocab_dir)
            for t in config.tokenizers:
                try:
                    registry.load(t.name, t.version, t.spec, activate=t.activate)
                except (ValueError, OSError, ImportError, TypeError) as e:
                    raise TokenizerLoadError.wrap(f"{t.name}@{t.version}", t.spec, e) from e
        self.registry = registry
        self.abt = AsyncBatchTokenizer(
            registry, max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms,
            queue_capacity=config.queue_capacity, num_threads=config.threads, dtype=config.dtype,
            flush_each_tick=config.flush_each_tick)
        self.metrics = ServerMetrics(self.abt)
        self.draining = False


STATE = web.AppKey("blt_state", ServerState)


# -- request parsing -------------------------------------------------------------------------------
async def _json_body(request: web.Request) -> Dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "JSON body must be an object")
    return body


def _option(body: Dict[str, Any], request: web.Request, name: str, default: Any = None) -> Any:
    value = body.get(name, request.query.get(name, default))
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string")
    return value


def _priority(value: Optional[str]) -> str:
    value = value or "normal"
    if value not in PRIORITIES:
        raise ApiError(400, f"unknown priority {value!r} (expected high, normal or low)")
    return value


def _is_json(request: web.Request) -> bool:
    return request.content_type in JSON_TYPES


def _npy_body(ids: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(ids), allow_pickle=False)
    return buf.getvalue()


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "npy"):
        raise ApiError(400, f"unknown format {fmt!r} (expected json or npy)")
    return fmt


def _json_ids_body(key: str, r: EncodedJson) -> bytes:
    # The ids' JSON text comes from the native workers; only the envelope is built here.
    return b'{"tokenizer":"%s","count":%d,"ids":%s}' % (key.encode(), r.count, r.json)


# -- routes ----------------------------------------------------------------------------------------
async def tokenize(request: web.Request) -> web.Response:
    """Body ``{"text": ..., "tokenizer"?, "priority"?, "dtype"?}`` or raw bytes (options in the query)."""
    st = request.app[STATE]
    if _is_json(request):
        body = await _json_body(request)
        text = body.get("text")
        if not isinstance(text, str):
            raise ApiError(400, "JSON body needs a string field 'text'")
    else:
        body = {}
        text = await request.read()
    fmt = _format(request)
    opts = dict(priority=_priority(_option(body, request, "priority")),
                tokenizer=_option(body, request, "tokenizer"), dtype=_option(body, request, "dtype"))
    if fmt == "npy":
        ids, key = await st.abt.encode_with_version(text, **opts)
        st.metrics.count_tokens(ids.size)
        return web.Response(body=_npy_body(ids), content_type="application/x-npy",
                            headers={"X-Tokenizer": key, "X-Token-Count": str(ids.size)})
    r = await st.abt.encode_json(text, **opts)
    st.metrics.count_tokens(r.count)
    return web.Response(body=_json_ids_body(r.tokenizer, r), content_type="application/json",
                        headers={"X-Tokenizer": r.tokenizer, "X-Token-Count": str(r.count)})


async def tokenize_batch(request: web.Request) -> web.Response:
    """Body ``{"texts": [...], "tokenizer"?, "priority"?}``: all on one tokenizer version."""
    st = request.app[STATE]
    body = await _json_body(request)
    texts = body.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "JSON body needs a list of strings 'texts'")
    entry = st.registry.resolve(_option(body, request, "tokenizer"))
    priority = _priority(_option(body, request, "priority"))
    dtype = _option(body, request, "dtype")
    # Every text on the version resolved now, even if another is activated meanwhile.
    tasks = [asyncio.ensure_future(st.abt.encode_json(t, priority=priority, tokenizer=entry.key,
                                                      dtype=dtype))
             for t in texts]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        raise
    st.metrics.count_tokens(sum(r.count for r in results))
    out = b'{"tokenizer":"%s","counts":[%s],"ids":[%s]}' % (
        entry.key.encode(), b",".join(b"%d" % r.count for r in results), b",".join(r.json for r in results))
    return web.Response(body=out, content_type="application/json", headers={"X-Tokenizer": entry.key})


async def detokenize(request: web.Request) -> web.Response:
    """Body ``{"ids": [...], "tokenizer"?, "priority"?}`` -> ``{"text", "bytes_b64", "tokenizer"}``.

    Decoded in the native batch engine, batched with other requests."""
    st = request.app[STATE]
    body = await _json_body(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ApiError(400, "JSON body needs a list of integers 'ids'")
    entry = st.registry.resolve(_option(body, request, "tokenizer"))
    priority = _priority(_option(body, request, "priority"))
    try:
        arr = np.asarray(ids, dtype=np.int64)
    except OverflowError:
        raise ApiError(400, "ids must fit in 64-bit integers") from None
    data = await st.abt.decode_bytes(arr, tokenizer=entry.key, priority=priority)
    return web.json_response({"tokenizer": entry.key, "text": data.decode("utf-8", "replace"),
                              "bytes_b64": base64.b64encode(data).decode()},
                             headers={"X-Tokenizer": entry.key})


class _StalledReader(Exception):
    """The client of a stream took no data for stream_idle_timeout_s."""


async def tokenize_stream(request: web.Request) -> web.StreamResponse:
    """Raw body in, server-sent events out: one ``ids`` event per segment, then ``done``.

    ``?format=json`` (ids as a JSON list) or ``b64`` (little-endian ids of ``dtype``, base64).
    """
    st = request.app[STATE]
    cfg = st.config
    entry = st.registry.resolve(request.query.get("tokenizer"))
    priority = _priority(request.query.get("priority"))
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
    received = 0
    idle = cfg.stream_idle_timeout_s

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal received
        while True:
            try:
                chunk = await asyncio.wait_for(request.content.read(STREAM_READ_BYTES), idle)
            except (TimeoutError, asyncio.TimeoutError):
                raise ApiError(408, f"no stream data received for {idle:g} s") from None
            if not chunk:
                return
            received += len(chunk)
            if received > cfg.max_stream_bytes:
                raise ApiError(413, f"stream exceeds the limit of {cfg.max_stream_bytes} bytes")
            yield chunk

    async def send(event: bytes) -> None:
        # Waits while the client reads slowly (backpressure), but not for ever: a reader that
        # takes nothing for stream_idle_timeout_s would hold its segment and connection.
        try:
            await asyncio.wait_for(resp.write(event), idle)
        except (TimeoutError, asyncio.TimeoutError):
            raise _StalledReader(f"client took no data for {idle:g} s") from None

    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Tokenizer": entry.key,
                                       "X-Request-Id": request[REQUEST_ID]})
    seq = tokens = 0
    gen = st.abt.encode_stream(chunks(), segment_bytes=segment, priority=priority, dtype=dtype,
                               timeout=cfg.request_timeout_s, entry=entry, json=fmt == "json")
    try:
        async for seg in gen:
            if not resp.prepared:
                await resp.prepare(request)
            if fmt == "json":
                count = seg.count
                data = b'{"seq":%d,"count":%d,"ids":%s}' % (seq, count, seg.json)
            else:
                count = seg.size
                b64 = base64.b64encode(seg.astype(seg.dtype.newbyteorder("<"), copy=False).tobytes())
                data = b'{"seq":%d,"count":%d,"ids_b64":"%s"}' % (seq, count, b64)
            await send(b"event: ids\ndata: " + data + b"\n\n")
            seq += 1
            tokens += count
            st.metrics.count_tokens(count)
        if not resp.prepared:
            await resp.prepare(request)
        done = json.dumps({"segments": seq, "tokens": tokens, "bytes": received, "tokenizer": entry.key})
        await send(b"event: done\ndata: " + done.encode() + b"\n\n")
        await resp.write_eof()
    except Exception as exc:
        if not resp.prepared:
            raise  # nothing sent yet: the middleware answers with a proper status
        if isinstance(exc, (ConnectionError, _StalledReader)):
            _stream_gone(request, exc)  # nobody to tell
            return resp
        err = as_api_error(exc)
        request[STREAM_ERROR] = err.status  # the access log's status is the 200 sent first
        payload = json.dumps({"status": err.status, "code": err.code, "message": err.message})
        try:
            await send(b"event: error\ndata: " + payload.encode() + b"\n\n")
            await resp.write_eof()
        except (ConnectionError, _StalledReader) as gone:
            _stream_gone(request, gone)
    finally:
        await gen.aclose()
    return resp


def _stream_gone(request: web.Request, exc: Exception) -> None:
    """Note a stream whose client went away or stopped reading, and drop its connection."""
    if isinstance(exc, _StalledReader):
        request[STREAM_ERROR] = "reader_stalled"
        if request.transport is not None:
            request.transport.abort()  # its unsent events go with it
    else:
        request[STREAM_ERROR] = "client_gone"


async def tokenizers(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return web.json_response({"default": st.registry.default, "tokenizers": st.registry.describe()})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if st.draining or st.abt.closed:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready", "tokenizers": len(st.registry.describe())})


async def metrics(request: web.Request) -> web.Response:
    st = request.app[STATE]
    resp = web.Response(body=st.metrics.render())
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


# -- admin -----------------------------------------------------------------------------------------
def _check_admin(request: web.Request) -> ServerState:
    st = request.app[STATE]
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    admin_token = st.config.admin_token  # admin routes exist only with one
    if (admin_token is None or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.strip().encode(), admin_token.encode())):
        raise ApiError(401, "admin routes need 'Authorization: Bearer <admin token>'",
                       headers={"WWW-Authenticate": "Bearer"})
    return st


async def admin_load(request: web.Request) -> web.Response:
    """Body ``{"name", "version", "spec", "activate"?: false}``: load, warm up, maybe activate."""
    st = _check_admin(request)
    body = await _json_body(request)
    for field in ("name", "version", "spec"):
        if not isinstance(body.get(field), (str, int)) or isinstance(body.get(field), bool):
            raise ApiError(400, f"JSON body needs '{field}'")
    if str(body["spec"]).strip().startswith("python:"):
        # Importing code named by an HTTP request is more power than a tokenizer switch needs.
        raise ApiError(400, "python: tokenizer specs are accepted from the config file only")
    activate = bool(body.get("activate", False))
    loop = asyncio.get_running_loop()
    entry = await loop.run_in_executor(
        None, lambda: st.registry.load(str(body["name"]), str(body["version"]), str(body["spec"]),
                                       activate=False))
    await st.abt.encode(WARMUP_TEXT, tokenizer=entry.key)  # warm the native path too
    if activate:
        st.registry.activate(entry.name, entry.version)
    log.info("tokenizer loaded", extra={"fields": {"tokenizer": entry.key, "active": activate}})
    return web.json_response({"loaded": entry.key, "active": activate}, status=201)


async def admin_activate(request: web.Request) -> web.Response:
    """Body ``{"version": ...}``: switch ``name`` to that version atomically."""
    st = _check_admin(request)
    body = await _json_body(request)
    version = body.get("version")
    if not isinstance(version, (str, int)) or isinstance(version, bool):
        raise ApiError(400, "JSON body needs 'version'")
    entry = st.registry.activate(request.match_info["name"], str(version))
    log.info("tokenizer activated", extra={"fields": {"tokenizer": entry.key}})
    return web.json_response({"active": entry.key})


async def admin_unload(request: web.Request) -> web.Response:
    st = _check_admin(request)
    st.registry.unload(request.match_info["name"], request.match_info["version"])
    return web.json_response({"unloaded": f"{request.match_info['name']}@{request.match_info['version']}"})


# -- app and process -------------------------------------------------------------------------------
def create_app(config: ServeConfig, registry: Optional[TokenizerRegistry] = None) -> web.Application:
    """The aiohttp application (not yet listening); its batch tokenizer closes on app cleanup."""
    config.validate()
    state = ServerState(config, registry)
    # keepalive_timeout is aiohttp's one clock for a connection without a complete request head:
    # it runs from the connection's start and from each answer, and trickled header bytes do not
    # reset it, so it bounds slow-header clients as well as idle keep-alive connections.
    app = web.Application(client_max_size=config.max_body_bytes,
                          middlewares=[make_middleware(state)],
                          handler_args={"keepalive_timeout": config.idle_timeout_s})
    app[STATE] = state
    app.router.add_post("/v1/tokenize", tokenize)
    app.router.add_post("/v1/tokenize_batch", tokenize_batch)
    app.router.add_post("/v1/detokenize", detokenize)
    app.router.add_post("/v1/tokenize_stream", tokenize_stream)
    app.router.add_get("/v1/tokenizers", tokenizers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if config.page:
        try:
            patchers = builtin_patchers(config.entropy_model)
        except (ValueError, OSError) as e:
            raise TokenizerLoadError(f"cannot load entropy_model {config.entropy_model!r}: {e}") from e
        InspectPage(state.registry, patchers).add_routes(app)
    if config.admin_token:
        app.router.add_post("/v1/admin/tokenizers", admin_load)
        app.router.add_post("/v1/admin/tokenizers/{name}/activate", admin_activate)
        app.router.add_delete("/v1/admin/tokenizers/{name}/{version}", admin_unload)

    async def close_engine(app: web.Application) -> None:
        await app[STATE].abt.aclose(drain=True)

    app.on_cleanup.append(close_engine)
    return app


async def serve(config: ServeConfig, *, stop: Optional[asyncio.Event] = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set): then stop accepting, drain, return."""
    setup_logging(config.log_level)
    if config.switch_interval_ms > 0:
        sys.setswitchinterval(config.switch_interval_ms / 1000.0)
    app = create_app(config)
    state = app[STATE]
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=config.drain_timeout_s)
    await runner.setup()
    site = LimitedTCPSite(runner, config.host, config.port, max_connections=config.max_connections,
                          on_reject=state.metrics.rejected_connections.inc)
    await site.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", extra={"fields": {"host": config.host, "port": site.port,
                                            "tokenizers": [e["key"] for e in state.registry.describe()]}})
    print(f"blt-serve listening on http://{config.host}:{site.port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        state.draining = True
        log.info("draining", extra={"fields": {"inflight": state.metrics.inflight,
                                               "timeout_s": config.drain_timeout_s}})
        await runner.cleanup()  # stops listening, waits for in-flight requests, closes the engine
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped", extra={"fields": {}})


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point ``blt-serve``: settings from flags, BLT_SERVE_* and a YAML file."""
    try:
        config = load_config(argv)
    except (ValueError, OSError) as e:
        print(f"blt-serve: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except TokenizerLoadError as e:
        print(f"blt-serve: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

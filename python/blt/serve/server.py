"""blt-serve: HTTP tokenization over the AsyncBatchTokenizer (aiohttp).

Routes: POST /v1/tokenize, /v1/tokenize_batch, /v1/detokenize, /v1/tokenize_stream (server-sent
events), /v1/detokenize_stream, /v1/inspect; GET / (a page that shows tokens and patches, see ``blt.serve.page``),
/v1/tokenizers, /v1/patchers, /healthz, /readyz, /metrics; with an admin token also
POST /v1/admin/tokenizers, POST /v1/admin/tokenizers/{name}/activate and
DELETE /v1/admin/tokenizers/{name}/{version}. Every tokenizing answer names the ``name@version``
that produced it. SIGTERM: stop accepting, drain in-flight requests, exit 0.

Streaming text out (for a server streaming generated tokens): ``/v1/detokenize`` with
``"stream": true`` takes ``ids`` as steps (``[15339, [11410, 99], 250]``: an id or a run per
step), and ``/v1/detokenize_stream`` takes NDJSON lines of the same steps in a chunked body as
they are generated; both answer ``event: text`` with ``{"seq", "ids", "text"}`` per step, then
``event: done``. Each ``text`` holds complete characters only (:class:`blt.StreamDecoder` holds a
partial UTF-8 character back until its last byte arrives), and the ``text`` fields, ``done``'s
included, join to the one-shot decode. ``/v1/tokenize_stream?text=true`` adds each segment's
decoded text the same way.

``--workers N`` (config ``workers``): N processes on one port (SO_REUSEPORT), each with its own
engine, under a supervisor (:mod:`blt.serve.supervisor`). ``/metrics`` on any worker sums all of
them (``blt_workers`` says how many answered), an admin change reaches every worker (and is
replayed by a restarted one), ``/healthz`` names the worker (``worker``, ``pid``), SIGTERM to the
supervisor drains all workers together and exits 0, and a worker that dies is logged
(``worker exited``) and restarted.

>>> from blt.serve.server import create_app
>>> from blt.serve.config import ServeConfig
>>> sorted({r.resource.canonical for r in create_app(ServeConfig()).router.routes()})[:4]
['/', '/healthz', '/metrics', '/readyz']
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hmac
import io
import os
import signal
import socket
import sys
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .cluster import WorkerLink
from .config import ServeConfig, load_config
from .engine import AsyncBatchTokenizer, EncodedJson
from .metrics import ServerMetrics, merge_snapshots, render_snapshot
from .page import InspectPage, builtin_patchers
from . import streaming
from .middleware import ApiError, LimitedTCPSite, log, make_middleware, read_json, setup_logging
from .supervisor import supervise
from .tokenizer_registry import WARMUP_TEXT, TokenizerLoadError, TokenizerRegistry

JSON_TYPES = ("application/json",)
# Net container allocations between young-generation collections (CPython's default is 700). Each
# collection walks the objects of every request in flight, nearly all alive; most request garbage
# is freed by reference counting anyway, so collecting less often saves that walk.
GC_YOUNG_THRESHOLD = 10_000


class ServerState:
    """Everything the handlers share: config, registry, batch tokenizer, metrics, drain flag."""

    def __init__(self, config: ServeConfig, registry: Optional[TokenizerRegistry] = None,
                 cluster: Optional[WorkerLink] = None) -> None:
        self.config = config
        self.cluster = cluster  # the link to the supervisor of --workers N, else None
        if registry is None:
            registry = TokenizerRegistry(default=config.default_tokenizer, vocab_dir=config.vocab_dir)
            for t in config.tokenizers:
                try:
                    registry.load(t.name, t.version, t.spec, activate=t.activate)
                except (ValueError, OSError, ImportError, TypeError) as e:
                    raise TokenizerLoadError.wrap(f"{t.name}@{t.version}", t.spec, e) from e
            for change in cluster.replay if cluster is not None else ():
                try:
                    replay_change(registry, change)
                except (ValueError, LookupError, OSError, ImportError, TypeError) as e:
                    log.warning("admin change not replayed", extra={"fields": {"change": change, "error": str(e)}})
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


_priority = streaming.parse_priority


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


async def detokenize(request: web.Request) -> web.StreamResponse:
    """Body ``{"ids": [...], "tokenizer"?, "priority"?}`` -> ``{"text", "bytes_b64", "tokenizer"}``.

    Decoded in the native batch engine, batched with other requests. With ``"stream": true``
    each item of ``ids`` (an id or a list of ids) is one step of a :class:`blt.StreamDecoder`,
    answered as server-sent ``text`` events (see :mod:`blt.serve.streaming`)."""
    st = request.app[STATE]
    body = await _json_body(request)
    ids = body.get("ids")
    entry = st.registry.resolve(_option(body, request, "tokenizer"))
    priority = _priority(_option(body, request, "priority"))
    if streaming.stream_option(body):
        return await streaming.detokenize_runs(request, entry, ids, st.config.stream_idle_timeout_s)
    if not isinstance(ids, list):
        raise ApiError(400, "JSON body needs a list of integers 'ids'")
    arr = streaming.ids_array(ids)
    data = await st.abt.decode_bytes(arr, tokenizer=entry.key, priority=priority)
    return web.json_response({"tokenizer": entry.key, "text": data.decode("utf-8", "replace"),
                              "bytes_b64": base64.b64encode(data).decode()},
                             headers={"X-Tokenizer": entry.key})


async def tokenize_stream(request: web.Request) -> web.StreamResponse:
    """Raw body in, server-sent events out (see :func:`blt.serve.streaming.tokenize_stream`)."""
    return await streaming.tokenize_stream(request, request.app[STATE])


async def detokenize_stream(request: web.Request) -> web.StreamResponse:
    """NDJSON ids in as generated, text events out (:func:`blt.serve.streaming.detokenize_stream`)."""
    return await streaming.detokenize_stream(request, request.app[STATE])


async def tokenizers(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return web.json_response({"default": st.registry.default, "tokenizers": st.registry.describe()})


async def healthz(request: web.Request) -> web.Response:
    cluster = request.app[STATE].cluster
    if cluster is None:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "ok", "worker": cluster.index, "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if st.draining or st.abt.closed:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready", "tokenizers": len(st.registry.describe())})


async def metrics(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if st.cluster is not None:  # every worker's numbers, summed
        body = render_snapshot(merge_snapshots(await st.cluster.gather_snapshots()))
    else:
        body = st.metrics.render()
    resp = web.Response(body=body)
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


async def apply_change(st: ServerState, change: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
    """Apply one admin change (``action`` load, activate or unload) to this process; returns the
    HTTP status and answer. With ``--workers N`` every worker runs this for each change."""
    action, name, version = change["action"], change["name"], change["version"]
    if action == "load":
        loop = asyncio.get_running_loop()
        entry = await loop.run_in_executor(
            None, lambda: st.registry.load(name, version, change["spec"], activate=False))
        await st.abt.encode(WARMUP_TEXT, tokenizer=entry.key)  # warm the native path too
        if change["activate"]:
            st.registry.activate(name, version)
        log.info("tokenizer loaded", extra={"fields": {"tokenizer": entry.key, "active": change["activate"]}})
        return 201, {"loaded": entry.key, "active": change["activate"]}
    if action == "activate":
        entry = st.registry.activate(name, version)
        log.info("tokenizer activated", extra={"fields": {"tokenizer": entry.key}})
        return 200, {"active": entry.key}
    st.registry.unload(name, version)
    return 200, {"unloaded": f"{name}@{version}"}


def replay_change(registry: TokenizerRegistry, change: Dict[str, Any]) -> None:
    """Apply an admin change made before this worker started (blocking; before it listens)."""
    action, name, version = change["action"], change["name"], change["version"]
    if action == "load":
        registry.load(name, version, change["spec"], activate=False)
        if change["activate"]:
            registry.activate(name, version)
    elif action == "activate":
        registry.activate(name, version)
    else:
        registry.unload(name, version)


async def _admin(st: ServerState, change: Dict[str, Any]) -> web.Response:
    if st.cluster is not None:
        status, answer = await st.cluster.admin(change)  # every worker, through the supervisor
    else:
        status, answer = await apply_change(st, change)
    return web.json_response(answer, status=status)


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
    return await _admin(st, {"action": "load", "name": str(body["name"]), "version": str(body["version"]),
                             "spec": str(body["spec"]), "activate": bool(body.get("activate", False))})


async def admin_activate(request: web.Request) -> web.Response:
    """Body ``{"version": ...}``: switch ``name`` to that version atomically."""
    st = _check_admin(request)
    body = await _json_body(request)
    version = body.get("version")
    if not isinstance(version, (str, int)) or isinstance(version, bool):
        raise ApiError(400, "JSON body needs 'version'")
    return await _admin(st, {"action": "activate", "name": request.match_info["name"], "version": str(version)})


async def admin_unload(request: web.Request) -> web.Response:
    """Forget an inactive ``name@version``."""
    st = _check_admin(request)
    return await _admin(st, {"action": "unload", "name": request.match_info["name"],
                             "version": request.match_info["version"]})


# -- app and process -------------------------------------------------------------------------------
def create_app(config: ServeConfig, registry: Optional[TokenizerRegistry] = None, *,
               cluster: Optional[WorkerLink] = None) -> web.Application:
    """The aiohttp application (not yet listening); its batch tokenizer closes on app cleanup.
    ``cluster``: this process is a worker of ``--workers N`` (see :mod:`blt.serve.supervisor`)."""
    config.validate()
    state = ServerState(config, registry, cluster)
    if cluster is not None:
        cluster.apply = lambda change: apply_change(state, change)
        cluster.snapshot = state.metrics.snapshot
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
    app.router.add_post("/v1/detokenize_stream", detokenize_stream)
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


async def serve(config: ServeConfig, *, stop: Optional[asyncio.Event] = None,
                cluster: Optional[WorkerLink] = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set): then stop accepting, drain, return. A
    worker of ``--workers N`` (``cluster``) shares the port (SO_REUSEPORT) and also stops when
    its supervisor goes away. Once listening it tunes the process's garbage collector
    (``gc.freeze()``, young threshold ``GC_YOUNG_THRESHOLD``): it expects the process to itself."""
    setup_logging(config.log_level)
    if config.switch_interval_ms > 0:
        sys.setswitchinterval(config.switch_interval_ms / 1000.0)
    app = create_app(config, cluster=cluster)
    state = app[STATE]
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=config.drain_timeout_s)
    await runner.setup()
    site = LimitedTCPSite(runner, config.host, config.port, max_connections=config.max_connections,
                          on_reject=state.metrics.reject_connection, reuse_port=cluster is not None)
    await site.start()
    # Everything built so far (modules, tokenizers, the app) lives as long as the server: out of
    # the collector's sight, so collections triggered by request garbage do not walk it again.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    stop = stop or (cluster.stop if cluster is not None else asyncio.Event())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", extra={"fields": {"host": config.host, "port": site.port,
                                            "tokenizers": [e["key"] for e in state.registry.describe()]}})
    if cluster is not None:
        cluster.listening(site.port)  # the supervisor announces the port once all workers listen
    else:
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
    if config.workers > 1:
        return supervise(config)
    try:
        asyncio.run(serve(config))
    except TokenizerLoadError as e:
        print(f"blt-serve: {e}", file=sys.stderr)
        return 2
    return 0


def worker_main(control_fd: int) -> int:
    """Entry point of one worker of ``blt-serve --workers N``: the supervisor's start message
    (config, index, admin changes to replay) arrives on ``control_fd``; serve until told to stop."""
    async def run() -> None:
        link = WorkerLink(socket.socket(fileno=control_fd))
        start = await link.started()
        await serve(start["config"], cluster=link)

    try:
        asyncio.run(run())
    except TokenizerLoadError as e:
        print(f"blt-serve: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""blt-serve middleware: request ids and JSON access logs, JSON errors, per-client token-bucket
rate limiting, body size limits, request timeouts, a bounded read past a refused upload, and a
listening site with a connection limit.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

from .engine import EngineClosed, Overloaded
from .tokenizer_registry import UnknownTokenizer

log = logging.getLogger("blt.serve")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Generated request ids: a random per-process prefix and a counter, 32 hex digits. Unique like a
# uuid4 within and across processes, without a getrandom() call (which also drops the GIL) per request.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    """A fresh 32-hex-digit request id.

    >>> from blt.serve.middleware import new_request_id
    >>> a, b = new_request_id(), new_request_id()
    >>> len(a), a != b, a[:16] == b[:16]
    (32, True, True)
    """
    return "%s%016x" % (_ID_PREFIX, next(_id_counter))


UNLIMITED_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Routes whose body is read as it arrives: bounded by max_stream_bytes, and no request timeout
# (a stream lasts as long as its upload; each step has its own bounds).
STREAM_ROUTES = frozenset({"/v1/tokenize_stream", "/v1/detokenize_stream"})
# aiohttp >= 3.12 has typed request keys; older versions take a plain string.
REQUEST_ID = web.RequestKey("blt_request_id", str) if hasattr(web, "RequestKey") else "blt_request_id"
# How a stream ended after its 200 went out: an error event's status, "client_gone" or
# "reader_stalled". The access log reports it with the request.
STREAM_ERROR: Any = web.RequestKey("blt_stream_error", object) if hasattr(web, "RequestKey") else "blt_stream_error"
# nginx's status for a request whose client closed the connection before the answer.
CLIENT_GONE = 499
# An answer given before its request's body was received to the end (a refusal of an upload in
# progress) is followed by at most this many more body bytes read and dropped, for at most this
# many seconds, so that a client that reads while it uploads sees the answer before the
# connection closes; then the connection is closed. Left to aiohttp, the rest of the body would be
# read and dropped whatever its size, for up to 10 s (its lingering_time): a client refused within
# its first 128 KB could make the server read the rest of a 16 MB upload, again and again.
DISCARD_BYTES = 1 << 18
DISCARD_S = 2.0
# A client (client_key) refused an upload again within this many seconds of its last refusal has
# the connection held, reading nothing more, until DISCARD_S after the answer (unless it closes
# first), instead of closed at once: a client that retries refused uploads without reading the
# answers is slowed to one try per DISCARD_S per connection, while a one-off refusal stays quick
# for a client that reads only once its upload is sent.
REPEAT_REFUSAL_S = 60.0


class ApiError(Exception):
    """An error answered as JSON ``{"error": {status, code, message, request_id}}``."""

    def __init__(self, status: int, message: str, *, code: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers or {}


_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          408: "request_timeout", 413: "body_too_large", 429: "rate_limited", 499: "client_gone",
          500: "internal_error", 503: "unavailable", 504: "timeout"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, msg and the record's structured ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 6), "level": record.levelname.lower(), "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, default=str)


def setup_logging(level: str) -> None:
    if any(getattr(h, "_blt_json", False) for h in log.handlers):
        log.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._blt_json = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False


def error_response(err: ApiError, request_id: str) -> web.Response:
    body = {"error": {"status": err.status, "code": err.code, "message": err.message,
                      "request_id": request_id}}
    return web.json_response(body, status=err.status, headers=err.headers)


def as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return ApiError(413, "request body too large")
    if isinstance(exc, web.HTTPException):
        return ApiError(exc.status, exc.reason or "error")
    if isinstance(exc, UnknownTokenizer):
        return ApiError(404, str(exc.args[0]) if exc.args else "unknown tokenizer")
    if isinstance(exc, Overloaded):
        return ApiError(503, str(exc), code="overloaded", headers={"Retry-After": "1"})
    if isinstance(exc, EngineClosed):
        return ApiError(503, "server is shutting down", headers={"Retry-After": "1"})
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ApiError(504, "request timed out")
    if isinstance(exc, (ValueError, TypeError)):
        return ApiError(400, str(exc))
    return ApiError(500, "internal server error")


def route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


class TokenBucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Per-client token buckets: ``rate`` tokens/s refill, ``burst`` capacity.

    >>> from blt.serve.middleware import RateLimiter
    >>> rl = RateLimiter(rate=1.0, burst=2)
    >>> [rl.take("a", now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> rl.take("a", now=1.0), rl.take("b", now=1.0)
    (0.0, 0.0)
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = float(rate)
        self.burst = float(max(1, burst or math.ceil(rate)))
        self.max_clients = max_clients
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str, now: Optional[float] = None) -> float:
        """0.0 if the request may pass, else seconds until a token is available."""
        now = time.monotonic() if now is None else now
        b = self._buckets.get(client)
        if b is None:
            if len(self._buckets) >= self.max_clients:
                self._prune(now)
            b = self._buckets[client] = TokenBucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_clients:
            self._buckets.clear()


def client_key(request: web.Request) -> str:
    """``X-Client-Id`` when given (a gateway names the client), else the peer address."""
    return request.headers.get("X-Client-Id") or request.remote or "?"


class RefusedUploads:
    """When each client last had an upload refused before its end (see :func:`close_unread_upload`).

    >>> from blt.serve.middleware import RefusedUploads
    >>> r = RefusedUploads(window=60.0)
    >>> r.again("a", now=0.0), r.again("a", now=30.0), r.again("b", now=30.0), r.again("a", now=100.0)
    (False, True, False, False)
    """

    def __init__(self, window: float = REPEAT_REFUSAL_S, max_clients: int = 100_000) -> None:
        self.window = window
        self.max_clients = max_clients
        self._last: dict[str, float] = {}

    def again(self, client: str, now: float) -> bool:
        """Notes a refusal for ``client``; whether it had another within ``window`` seconds."""
        last = self._last.get(client)
        if last is None and len(self._last) >= self.max_clients:
            self._last = {k: t for k, t in self._last.items() if now - t < self.window}
            if len(self._last) >= self.max_clients:
                self._last.clear()
        self._last[client] = now
        return last is not None and now - last < self.window


class _Deadline:
    __slots__ = ("at", "task", "expired")

    def __init__(self, at: float, task: "asyncio.Task[Any]") -> None:
        self.at = at
        self.task = task
        self.expired = False


class RequestDeadlines:
    """Request timeouts of all running handlers from one periodic sweep.

    ``asyncio.timeout()`` pushes a timer onto the loop's heap and cancels it again for every
    request; here a request only enters and leaves a set, and a sweep every ``period`` seconds
    (a quarter of the timeout, at most 0.25 s; scheduled only while requests run) cancels the
    handlers past their deadline. A handler is cancelled between ``timeout_s`` and
    ``timeout_s + period`` after it started.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.period = min(0.25, timeout_s / 4)
        self._running: set[_Deadline] = set()
        self._timer: Optional[asyncio.TimerHandle] = None

    def enter(self, task: "asyncio.Task[Any]") -> _Deadline:
        loop = task.get_loop()
        d = _Deadline(loop.time() + self.timeout_s, task)
        self._running.add(d)
        if self._timer is None:
            self._timer = loop.call_later(self.period, self._sweep, loop)
        return d

    def leave(self, d: _Deadline) -> None:
        self._running.discard(d)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for d in [d for d in self._running if d.at <= now]:
            self._running.discard(d)
            d.expired = True
            d.task.cancel()
        self._timer = loop.call_later(self.period, self._sweep, loop) if self._running else None


def make_middleware(state: Any) -> Middleware:
    """The one middleware of every request: request id, rate limit (429 + Retry-After), body size
    (413), request timeout (504), JSON error bodies, metrics and the access log; a request answered
    before its body arrived in full then has its connection closed (:func:`close_unread_upload`).

    One coroutine rather than a chain of them: each aiohttp middleware layer costs a coroutine, a
    partial and a wrapper call per request, which showed in profiles of small requests.
    """
    cfg = state.config
    metrics = state.metrics
    limiter = RateLimiter(cfg.rate_limit_rps, cfg.rate_limit_burst) if cfg.rate_limit_rps > 0 else None
    refused = RefusedUploads()
    timeout_s = cfg.request_timeout_s
    # Python >= 3.11 (Task.uncancel); 3.10 falls back to a wait_for per request.
    deadlines = RequestDeadlines(timeout_s) if hasattr(asyncio.Task, "uncancel") else None

    @web.middleware
    async def serve_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        rid = request.headers.get("X-Request-Id")
        if not rid or not _REQUEST_ID.match(rid):
            rid = new_request_id()
        request[REQUEST_ID] = rid
        metrics.inflight += 1
        status = 500
        unread: Optional[str] = None  # what becomes of a body not received to its end
        try:
            try:
                path = request.path
                if limiter is not None and path not in UNLIMITED_ROUTES:
                    wait = limiter.take(client_key(request))
                    if wait > 0:
                        raise ApiError(429, f"rate limit of {cfg.rate_limit_rps:g} requests/s exceeded",
                                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
                stream = path in STREAM_ROUTES
                limit = cfg.max_stream_bytes if stream else cfg.max_body_bytes
                length = request.content_length
                if length is not None and length > limit:
                    raise ApiError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
                if stream:
                    resp = await handler(request)  # streams bound each segment instead
                else:
                    try:
                        if deadlines is not None:
                            task = asyncio.current_task()
                            assert task is not None  # a request handler always runs in a task
                            d = deadlines.enter(task)
                            try:
                                resp = await handler(request)
                            except BaseException as exc:
                                deadlines.leave(d)
                                # As asyncio.timeout decides: our cancellation is undone, and a
                                # CancelledError nobody else asked for is the timeout.
                                if (d.expired and task.uncancel() == 0
                                        and isinstance(exc, asyncio.CancelledError)):
                                    raise TimeoutError from None
                                raise
                            deadlines.leave(d)
                            if d.expired:
                                task.uncancel()  # the handler swallowed our cancellation
                        else:
                            resp = await asyncio.wait_for(handler(request), timeout_s)
                    except (TimeoutError, asyncio.TimeoutError):
                        raise ApiError(504, f"request not completed within {timeout_s:g} s") from None
            except asyncio.CancelledError:
                raise
            except ConnectionError:
                # The client closed the connection (e.g. mid-upload): no server error, and nobody
                # reads the answer (aiohttp drops it). Logged once, by the access log below.
                resp = error_response(ApiError(CLIENT_GONE, "client closed the connection"), rid)
            except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
                err = as_api_error(exc)
                if err.status == 500:
                    log.error("unhandled error", exc_info=exc, extra={"fields": {"request_id": rid, "path": request.path}})
                resp = error_response(err, rid)
            status = resp.status
            if not resp.prepared:
                resp.headers["X-Request-Id"] = rid
            if not request.content.is_eof() and _unread_rest_is_large(request):
                again = refused.again(client_key(request), time.monotonic())
                unread = "held" if again else "closed"
        finally:
            elapsed = time.perf_counter() - start
            metrics.inflight -= 1
            route = route_name(request)
            metrics.observe(route, request.method, status, elapsed)
            if cfg.access_log:
                fields = {"request_id": rid, "method": request.method, "path": request.path,
                          "route": route, "status": status, "duration_ms": round(elapsed * 1e3, 3),
                          "client": request.remote, "bytes_in": request.content_length}
                stream_error = request.get(STREAM_ERROR)
                if stream_error is not None:
                    fields["stream_error"] = stream_error
                if unread is not None:
                    fields["unread_upload"] = unread
                log.info("request", extra={"fields": fields})
        if unread is not None:  # answered before the whole body arrived
            await close_unread_upload(request, resp, hold=unread == "held")
        return resp

    return serve_request


def _unread_rest_is_large(request: web.Request) -> bool:
    """Whether the rest of a body not yet received is more than DISCARD_BYTES, or unknown (a
    chunked upload), on a connection still open. A smaller rest is left to aiohttp, which reads it
    and keeps the connection."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return False  # the client went away, or the connection was dropped (a stalled reader)
    length = request.content_length
    return length is None or length - request.content.total_bytes > DISCARD_BYTES


async def close_unread_upload(request: web.Request, resp: web.StreamResponse, *, hold: bool) -> None:
    """Ends the connection of a request answered before its body was received to the end: the
    answer (sent now if it is not yet, with ``Connection: close``), then at most
    ``DISCARD_BYTES`` more of the body read and dropped within ``DISCARD_S``, then the connection
    is closed (a reset if the client is still sending). With ``hold`` (a client refused again, see
    ``REPEAT_REFUSAL_S``) nothing more is read after that, and the connection is closed
    ``DISCARD_S`` after the answer unless the client closes it first."""
    content = request.content
    if not resp.prepared:
        resp.force_close()
        try:
            await resp.prepare(request)
            await resp.write_eof()
        except ConnectionError:
            return
    loop = asyncio.get_running_loop()
    end = loop.time() + DISCARD_S
    left = DISCARD_BYTES
    try:
        while left > 0 and not content.is_eof() and (wait := end - loop.time()) > 0:
            left -= len(await asyncio.wait_for(content.readany(), wait))
        if hold and not content.is_eof() and (wait := end - loop.time()) > 0:
            # Until then, or until aiohttp sees the connection end (it reads no further once
            # its buffer is full, so mostly it is the time).
            await asyncio.wait_for(content.wait_eof(), wait)
    except Exception:  # noqa: BLE001 - a timeout, a reset, a malformed rest: closed all the same
        pass
    # aiohttp, seeing the connection closed, does not read the rest of the body.
    request.protocol.force_close()


class _RejectConnection(asyncio.Protocol):
    """Answers a connection over the limit with 503 and closes it."""

    BODY = json.dumps({"error": {"status": 503, "code": "too_many_connections",
                                 "message": "connection limit reached; retry later"}}).encode()
    RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(BODY)).encode() +
                b"\r\n\r\n" + BODY)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # One line per refused connection: the refusal has no request, so no access-log line.
        log.warning("connection refused", extra={"fields": {
            "client": _peer_host(transport), "reason": "too_many_connections"}})
        transport.write(self.RESPONSE)  # type: ignore[attr-defined]
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass


def _peer_host(transport: asyncio.BaseTransport) -> Optional[str]:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else None


async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON; ApiError 400 when it is not JSON or nests too deeply
    for the parser (json.loads raises RecursionError past about a thousand levels)."""
    try:
        return await request.json()
    except ValueError as e:
        raise ApiError(400, f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise ApiError(400, "request body is JSON nested too deeply to read") from None


class LimitedTCPSite(web.TCPSite):
    """A TCPSite that refuses connections beyond ``max_connections`` with an immediate 503."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int,
                 on_reject: Optional[Callable[[], None]] = None, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._max_connections = max_connections
        self._on_reject = on_reject

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.Protocol:
            if len(server.connections) >= self._max_connections:
                if self._on_reject is not None:
                    self._on_reject()
                return _RejectConnection()
            return server()

        self._server = await loop.create_server(protocol, self._host, self._port,
                                                backlog=self._backlog,
                                                reuse_address=self._reuse_address,
                                                reuse_port=self._reuse_port)
        # aiohttp's TCPSite.port and .name read the port actually bound (port 0 asks for any) here.
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port

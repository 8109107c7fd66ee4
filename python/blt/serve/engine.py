"""AsyncBatchTokenizer: ``await`` tokenization from many coroutines, coalesced into native batches.

Requests go to the native batch engine (``blt._core.BatchEngine``): bounded queues per priority, a
batcher that forms batches by size or deadline, oneTBB workers that encode them without the GIL,
and completions that resolve futures on the owning event loop through ``call_soon_threadsafe``.
No polling, no thread per request.
"""

from __future__ import annotations

import asyncio
import atexit
import weakref
from typing import Any, AsyncGenerator, AsyncIterable, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .. import _core
from .._deprecation import UNSET, renamed
from .._inputs import fix_surrogates
from .._threads import resolve_num_threads
from .tokenizer_registry import TokenizerEntry, TokenizerRegistry

Overloaded = _core.Overloaded

PRIORITIES = ("high", "normal", "low")

# Status codes of native completions (serve::Status).
_OK, _INVALID, _TIMED_OUT, _SHUT_DOWN, _FAILED = range(5)

# A registered tokenizer whose decoding is not the native one (any object with native() and
# decode()) is decoded in Python: inline up to this many ids, beyond on a worker thread so the
# loop stays responsive.
_DECODE_INLINE_MAX = 1 << 16
_INT64_MAX = np.iinfo(np.int64).max

_live: "weakref.WeakSet[AsyncBatchTokenizer]" = weakref.WeakSet()

# One native completion: (id, status, error, payload, consumed, count). The payload's type
# depends on the request: ids (an array), JSON text or decoded bytes (bytes), or None on error.
_Completion = Tuple[int, int, str, Any, int, int]
# What a request's future resolves to: (payload, consumed, count).
_Result = Tuple[Any, int, int]


@atexit.register
def _close_all() -> None:
    # Engine threads take the GIL to deliver results; they must stop before the interpreter does.
    for abt in list(_live):
        abt.close()


class EngineClosed(RuntimeError):
    """The AsyncBatchTokenizer was closed before the request was encoded."""


class Encoded(NamedTuple):
    """Ids of one request and the ``name@version`` of the tokenizer that produced them."""

    ids: np.ndarray
    tokenizer: str


# The functional form, because the field ``count`` (the number of ids) deliberately replaces
# tuple.count, which the class form's type check rejects.
EncodedJson = NamedTuple("EncodedJson", [("json", bytes), ("count", int), ("tokenizer", str)])
EncodedJson.__doc__ = """Ids of one request as JSON text (``b"[1,2]"``), their number, and the ``name@version``."""


def _make_handler(ref: "weakref.ref[AsyncBatchTokenizer]") -> Callable[[List[_Completion]], None]:
    # A weak reference: the native engine holds the handler, and must not keep its owner alive.
    def on_done(results: List[_Completion]) -> None:
        abt = ref()
        if abt is not None:
            abt._on_done(results)

    return on_done


class AsyncBatchTokenizer:
    """Asynchronous, batching front end over registered tokenizers.

    Pass a :class:`TokenizerRegistry`, a single tokenizer (registered as ``default@1``), or nothing
    (``bytes@1``, a default ByteTokenizer). Bound to the event loop of its first call.

    A batch leaves when it holds ``max_batch_size`` requests, when its oldest request has waited
    ``max_wait_ms``, or (``flush_each_tick``, the default) at the end of the event-loop iteration
    that submitted it. ``queue_capacity`` bounds each priority's queue (then
    :class:`blt.Overloaded`); ``num_threads`` sizes the worker pool (None or 0: :func:`blt.get_num_threads`; ``threads=``
    is its deprecated spelling); ``timeout_s``
    is the default per-request timeout.

    >>> import asyncio, blt
    >>> async def main():
    ...     async with blt.AsyncBatchTokenizer(max_wait_ms=1) as abt:
    ...         ids = await asyncio.gather(*(abt.encode(t) for t in ["a", "bc"]))
    ...         return [x.tolist() for x in ids]
    >>> asyncio.run(main())
    [[1, 101, 2], [1, 102, 103, 2]]
    """

    def __init__(
        self,
        tokenizers: Union[TokenizerRegistry, Any, None] = None,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        queue_capacity: int = 1024,
        num_threads: Optional[int] = None,
        timeout_s: Optional[float] = None,
        dtype: str = "uint32",
        flush_each_tick: bool = True,
        threads: Any = UNSET,
    ) -> None:
        num_threads = renamed("AsyncBatchTokenizer", "threads", "num_threads", threads, num_threads)
        if tokenizers is None:
            registry = TokenizerRegistry.with_bytes()
        elif isinstance(tokenizers, TokenizerRegistry):
            registry = tokenizers
        else:
            registry = TokenizerRegistry()
            registry.load("default", "1", tokenizers)
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if queue_capacity < 1:
            raise ValueError(f"queue_capacity must be >= 1, got {queue_capacity}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.registry = registry
        self.max_batch_size = int(max_batch_size)
        self.max_wait_ms = float(max_wait_ms)
        self.queue_capacity = int(queue_capacity)
        self.num_threads = resolve_num_threads(num_threads or None)
        self.timeout_s = timeout_s
        self.dtype = dtype
        # Requests submitted in one event-loop iteration leave together at the end of it instead
        # of waiting max_wait_ms for a batch that closed-loop clients may never fill.
        self.flush_each_tick = bool(flush_each_tick)
        self._flush_scheduled = False
        self._engine: Optional[_core.BatchEngine] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._pending: dict[int, asyncio.Future[_Result]] = {}
        self._closed = False
        _live.add(self)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _engine_for_loop(self) -> tuple[_core.BatchEngine, asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise EngineClosed("AsyncBatchTokenizer is closed")
        if self._engine is None:
            # With flush_each_tick every submit is followed by a flush in the same loop iteration,
            # so submits need not wake the batcher (a futex wake per request or burst).
            self._engine = _core.BatchEngine(
                loop, _make_handler(weakref.ref(self)), self.max_batch_size, self.max_wait_ms,
                self.queue_capacity, self.num_threads, wake_on_submit=not self.flush_each_tick)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("AsyncBatchTokenizer is bound to another event loop")
        return self._engine, loop

    async def aclose(self, *, drain: bool = True) -> None:
        """Stop accepting requests; with ``drain`` queued requests are still encoded.

        >>> import asyncio, blt
        >>> async def main():
        ...     abt = blt.AsyncBatchTokenizer()
        ...     await abt.encode("x")
        ...     await abt.aclose()
        ...     return abt.closed
        >>> asyncio.run(main())
        True
        """
        self._closed = True
        engine = self._engine
        if engine is not None and not engine.closed:
            # The engine's threads hand results to this loop, so wait for them off the loop.
            await asyncio.get_running_loop().run_in_executor(None, engine.close, drain)
            await asyncio.sleep(0)  # run the completion callbacks they scheduled
        self._fail_pending()

    def close(self) -> None:
        """Stop now: queued requests fail with :class:`EngineClosed`. Safe to call twice."""
        self._closed = True
        if self._engine is not None and not self._engine.closed:
            self._engine.close(False)
        self._fail_pending()

    def _fail_pending(self) -> None:
        loop = self._loop
        if not self._pending or loop is None or loop.is_closed():
            return
        for fut in self._pending.values():
            if not fut.done():
                try:
                    fut.set_exception(EngineClosed("AsyncBatchTokenizer closed"))
                except RuntimeError:
                    pass  # future of a loop in another thread; it is cancelled with its loop
        self._pending.clear()

    @property
    def closed(self) -> bool:
        """Whether close() or aclose() was called."""
        return self._closed

    async def __aenter__(self) -> "AsyncBatchTokenizer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ------------------------------------------------------------------------------------
    def _on_done(self, results: List[_Completion]) -> None:
        for rid, status, error, ids, consumed, count in results:
            fut = self._pending.get(rid)
            if fut is None or fut.done():
                continue  # cancelled or timed out meanwhile
            if status == _OK:
                fut.set_result((ids, consumed, count))
            elif status == _INVALID:
                fut.set_exception(ValueError(error))
            elif status == _TIMED_OUT:
                fut.set_exception(TimeoutError(error))
            elif status == _SHUT_DOWN:
                fut.set_exception(EngineClosed(error))
            else:
                fut.set_exception(RuntimeError(error))

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._engine is not None and not self._engine.closed:
            self._engine.flush()

    def _expire(self, rid: int, timeout: float) -> None:
        fut = self._pending.get(rid)
        if fut is not None and not fut.done():
            if self._engine is not None and not self._engine.closed:
                self._engine.cancel(rid)
            fut.set_exception(TimeoutError(f"request not answered within {timeout:g} s"))

    async def _submit(self, entry: TokenizerEntry, data: Any, priority: str, dtype: Optional[str],
                      timeout: Optional[float], segment: bool = False, start: bool = False,
                      end: bool = False, target: int = 0, json: bool = False,
                      offset: int = 0) -> _Result:
        def submit(engine: _core.BatchEngine, timeout_s: float) -> int:
            args = (dtype or self.dtype, priority, timeout_s, segment, start, end, target, json, offset)
            try:
                return engine.submit(entry.native, data, *args)
            except UnicodeEncodeError:
                if not isinstance(data, str):
                    raise
                return engine.submit(entry.native, fix_surrogates(data), *args)

        return await self._await_request(submit, timeout)

    async def _await_request(self, submit: Callable[[_core.BatchEngine, float], int],
                             timeout: Optional[float]) -> _Result:
        """Submits through ``submit(engine, timeout_s)`` and waits for that request's completion."""
        engine, loop = self._engine_for_loop()
        timeout = self.timeout_s if timeout is None else timeout
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        rid = submit(engine, timeout or 0.0)
        if self.flush_each_tick and not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        fut: asyncio.Future[_Result] = loop.create_future()
        self._pending[rid] = fut
        timer = loop.call_later(timeout, self._expire, rid, timeout) if timeout else None
        try:
            return await fut
        except asyncio.CancelledError:
            if not engine.closed:
                engine.cancel(rid)  # still queued: removed; already encoding: its result is dropped
            raise
        finally:
            self._pending.pop(rid, None)
            if timer is not None:
                timer.cancel()

    async def encode(self, text: Any, *, priority: str = "normal", tokenizer: Optional[str] = None,
                     timeout: Optional[float] = None, dtype: Optional[str] = None) -> np.ndarray:
        """Encode one document (str or bytes-like) as part of a batch.

        ``priority`` is ``"high"``, ``"normal"`` or ``"low"``; ``tokenizer`` is ``name``,
        ``name@version`` or None for the registry default; ``timeout`` in seconds. Raises
        :class:`blt.Overloaded` when the priority's queue is full and ``TimeoutError`` on timeout.

        >>> import asyncio, blt
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         return (await abt.encode(b"Hi", priority="high")).tolist()
        >>> asyncio.run(main())
        [1, 76, 109, 2]
        """
        ids: np.ndarray  # the payload of an encode request
        ids, _, _ = await self._submit(self.registry.resolve(tokenizer), text, priority, dtype, timeout)
        return ids

    async def encode_with_version(self, text: Any, *, priority: str = "normal",
                                  tokenizer: Optional[str] = None, timeout: Optional[float] = None,
                                  dtype: Optional[str] = None) -> Encoded:
        """Like :meth:`encode`, also naming the ``name@version`` that encoded it.

        The version is fixed when the request is submitted; a later switch of the active version
        does not affect it.

        >>> import asyncio, blt
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         r = await abt.encode_with_version("A")
        ...         return r.ids.tolist(), r.tokenizer
        >>> asyncio.run(main())
        ([1, 69, 2], 'bytes@1')
        """
        entry = self.registry.resolve(tokenizer)
        ids, _, _ = await self._submit(entry, text, priority, dtype, timeout)
        return Encoded(ids, entry.key)

    async def encode_json(self, text: Any, *, priority: str = "normal", tokenizer: Optional[str] = None,
                          timeout: Optional[float] = None, dtype: Optional[str] = None) -> EncodedJson:
        """Like :meth:`encode_with_version`, with the ids as JSON text formatted by the native
        workers (no per-id Python work on the event loop).

        >>> import asyncio, blt
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         return await abt.encode_json("Hi")
        >>> asyncio.run(main())
        EncodedJson(json=b'[1,76,109,2]', count=4, tokenizer='bytes@1')
        """
        entry = self.registry.resolve(tokenizer)
        text_json, _, count = await self._submit(entry, text, priority, dtype, timeout, json=True)
        return EncodedJson(text_json, count, entry.key)

    async def encode_stream(self, chunks: AsyncIterable[Any], *, segment_bytes: int = 1 << 20,
                            priority: str = "normal", tokenizer: Optional[str] = None,
                            timeout: Optional[float] = None, dtype: Optional[str] = None,
                            entry: Optional[TokenizerEntry] = None,
                            json: bool = False,
                            max_window: Optional[int] = None) -> AsyncGenerator[Any, None]:
        """Encode a byte stream segment by segment; concatenated, the ids equal encode(whole).

        Segments are cut where the tokenizer says a cut is safe, about ``segment_bytes`` each. The
        next chunk is read only when the consumer asks for more ids (backpressure). With ``json``
        each segment comes as an :class:`EncodedJson` instead of an array. Where no cut is safe
        the window widens; ``max_window`` bounds it (ValueError past it), so one segment cannot
        become one job of the whole stream.

        >>> import asyncio, blt
        >>> async def chunks():
        ...     for c in (b"ab", b"c", b"de"):
        ...         yield c
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         return [ids.tolist() async for ids in abt.encode_stream(chunks(), segment_bytes=2)]
        >>> asyncio.run(main())
        [[1, 101, 102, 103, 104], [105, 2]]
        """
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        entry = entry or self.registry.resolve(tokenizer)  # one version for the whole stream
        it = chunks.__aiter__()
        buf = bytearray()
        start, eof, want = True, False, segment_bytes
        offset = 0  # stream bytes before buf: errors name their offset in the whole stream
        while True:
            while not eof and len(buf) <= want:
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    eof = True
                    break
                buf += chunk
            if eof:
                with memoryview(buf) as view:
                    ids, _, count = await self._submit(entry, view, priority, dtype, timeout, True,
                                                       start, True, len(buf), json, offset)
                yield EncodedJson(ids, count, entry.key) if json else ids
                return
            with memoryview(buf) as view:
                ids, consumed, count = await self._submit(entry, view, priority, dtype, timeout,
                                                          True, start, False, want, json, offset)
            if consumed == 0:
                want *= 2  # no safe cut within the window yet: read more and retry
                if max_window is not None and want > max_window:
                    raise ValueError(f"found no safe place to cut the stream in the {len(buf)} bytes from "
                                     f"byte {offset}, and one segment may not exceed {max_window} bytes")
                continue
            del buf[:consumed]
            offset += consumed
            start, want = False, segment_bytes
            yield EncodedJson(ids, count, entry.key) if json else ids

    async def decode(self, ids: Any, *, priority: str = "normal", tokenizer: Optional[str] = None,
                     timeout: Optional[float] = None, errors: str = "replace") -> str:
        """Text of ``ids`` under a registered tokenizer (:meth:`decode_bytes`, then UTF-8 with
        ``errors``, ``"replace"`` by default as in tiktoken).

        >>> import asyncio, blt
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         return await abt.decode([1, 76, 109, 2])
        >>> asyncio.run(main())
        'Hi'
        """
        data = await self.decode_bytes(ids, priority=priority, tokenizer=tokenizer, timeout=timeout)
        return data.decode("utf-8", errors)

    async def decode_bytes(self, ids: Any, *, priority: str = "normal", tokenizer: Optional[str] = None,
                           timeout: Optional[float] = None) -> bytes:
        """Bytes of ``ids`` under a registered tokenizer, decoded in a native batch.

        Decodes share the encode queues: ``priority``, ``timeout`` and :class:`blt.Overloaded`
        work as in :meth:`encode`. An unknown id raises ValueError naming it. Tokenizers of other
        types (any object with ``native()`` and ``decode()``) are decoded by their own ``decode``.

        >>> import asyncio, blt
        >>> async def main():
        ...     async with blt.AsyncBatchTokenizer() as abt:
        ...         return await abt.decode_bytes([1, 76, 109, 2])
        >>> asyncio.run(main())
        b'Hi'
        """
        entry = self.registry.resolve(tokenizer)
        if self._closed:
            raise EngineClosed("AsyncBatchTokenizer is closed")
        arr = np.asarray(ids)
        if not entry.native_decode:
            if arr.size <= _DECODE_INLINE_MAX:
                return entry.decode_bytes(arr)
            return await asyncio.get_running_loop().run_in_executor(None, entry.decode_bytes, arr)
        if arr.size == 0:
            return b""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
        if arr.dtype == np.uint64 and int(arr.max()) > _INT64_MAX:
            bad = int(np.argmax(arr > _INT64_MAX))
            raise ValueError(f"token id {int(arr[bad])} (at position {bad}) is not in the vocabulary")
        flat = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
        data: bytes  # the payload of a decode request
        data, _, _ = await self._await_request(
            lambda e, t: e.submit_decode(entry.native, flat, priority, t), timeout)
        return data

    # -- observation -------------------------------------------------------------------------------
    def queue_depth(self) -> dict[str, int]:
        """Requests waiting per priority.

        >>> import blt
        >>> blt.AsyncBatchTokenizer().queue_depth()
        {'high': 0, 'normal': 0, 'low': 0}
        """
        if self._engine is None or self._engine.closed:
            return dict.fromkeys(PRIORITIES, 0)
        return dict(zip(PRIORITIES, self._engine.queue_depth()))

    def stats(self) -> Dict[str, Any]:
        """Engine counters: submitted, completed, rejected, cancelled, timed_out, batches, the
        batch-size histogram (``batch_size_bounds``/``batch_size_counts``), queued, in flight."""
        if self._engine is None or self._engine.closed:
            return {}
        return self._engine.stats()

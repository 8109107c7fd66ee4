"""The control channel between ``blt-serve --workers N``'s supervisor and its workers.

Each worker holds one end of a private socketpair to the supervisor; messages are pickled dicts
behind a 4-byte length, and either side can send a request and await its reply. The supervisor
is the hub: a worker asked for ``/metrics`` asks it to gather every worker's snapshot, and a
worker given an admin change asks it to apply the change on every worker (one change at a time,
in the same order everywhere, and recorded so a restarted worker replays it before it listens).
Pickle is safe here: both ends are the same program, and the socketpair is inherited, never
reachable from outside.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import socket
import struct
from typing import Any, Awaitable, Callable, Dict, Optional, Set

from .middleware import ApiError, as_api_error

_HEADER = struct.Struct("<I")

# The supervisor's answers to workers' requests may wait on every worker (a tokenizer load warms
# up in each); this bounds a worker that never answers.
ADMIN_TIMEOUT_S = 300.0
GATHER_TIMEOUT_S = 10.0

Handler = Callable[[Dict[str, Any]], Awaitable[Any]]


class ChannelClosed(ConnectionError):
    """The other end of a control channel went away."""


class Channel:
    """Request/reply messages over one end of a socketpair.

    ``handle(body)`` answers the other side's requests; its exceptions travel back as
    (status, code, message) and are raised there as :class:`ApiError`.
    """

    def __init__(self, sock: socket.socket, handle: Handler,
                 on_close: Optional[Callable[[], None]] = None) -> None:
        self._sock = sock
        self._handle = handle
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._pending: Dict[int, "asyncio.Future[Any]"] = {}
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._writer: Optional[asyncio.StreamWriter] = None
        self._reader_task: Optional["asyncio.Task[None]"] = None
        self.closed = False

    async def open(self) -> "Channel":
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)
        self._reader_task = asyncio.create_task(self._read_loop(reader))
        return self

    def _send(self, message: Dict[str, Any]) -> None:
        if self.closed or self._writer is None:
            raise ChannelClosed("control channel is closed")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_HEADER.pack(len(data)) + data)

    async def request(self, body: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        """Send ``body`` and wait for the other side's answer."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._send({"id": rid, "body": body})
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                message = pickle.loads(await reader.readexactly(size))
                if "reply_to" in message:
                    fut = self._pending.get(message["reply_to"])
                    if fut is not None and not fut.done():
                        if "error" in message:
                            status, code, text = message["error"]
                            fut.set_exception(ApiError(status, text, code=code))
                        else:
                            fut.set_result(message["result"])
                else:
                    task = asyncio.create_task(self._answer(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.close()

    async def _answer(self, message: Dict[str, Any]) -> None:
        try:
            reply = {"reply_to": message["id"], "result": await self._handle(message["body"])}
        except Exception as exc:  # noqa: BLE001 - every failure is answered, as an HTTP error would be
            err = as_api_error(exc)
            reply = {"reply_to": message["id"], "error": (err.status, err.code, err.message)}
        if not self.closed:
            self._send(reply)

    def close(self) -> None:
        """Fail the requests still waiting and close the socket; calls ``on_close`` once."""
        if self.closed:
            return
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed("control channel closed"))
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()
        if self._on_close is not None:
            self._on_close()


class WorkerLink:
    """A worker's side of the channel: the start message (config, index, admin changes to
    replay), relayed admin changes and metrics, and a stop event set when the supervisor goes
    away (a worker never outlives it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.stop = asyncio.Event()
        self.index = 0
        self.replay: list[Dict[str, Any]] = []
        self._start: asyncio.Future[Dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.channel = Channel(sock, self._handle, on_close=self.stop.set)
        # Set by the server once its app exists: answers "apply" and "snapshot" requests.
        self.apply: Optional[Handler] = None
        self.snapshot: Optional[Callable[[], Dict[str, Any]]] = None

    async def started(self) -> Dict[str, Any]:
        """The supervisor's start message: ``config``, ``index``, ``replay``."""
        await self.channel.open()
        start = await self._start
        self.index = start["index"]
        self.replay = start["replay"]
        return start

    def listening(self, port: int) -> None:
        """Tell the supervisor this worker accepts connections (answers its start request)."""
        if not self._listening.done():
            self._listening.set_result(port)

    async def _handle(self, body: Dict[str, Any]) -> Any:
        op = body["op"]
        if op == "start":
            self._start.set_result(body)
            return await self._listening
        if op == "apply":
            if self.apply is None:
                raise ApiError(503, "worker is starting")
            return await self.apply(body["change"])
        if op == "snapshot":
            if self.snapshot is None:
                raise ApiError(503, "worker is starting")
            return self.snapshot()
        raise ApiError(400, f"unknown control request {op!r}")

    async def admin(self, change: Dict[str, Any]) -> Any:
        """Apply an admin change on every worker (through the supervisor); its answer."""
        return await self.channel.request({"op": "admin", "change": change}, ADMIN_TIMEOUT_S)

    async def gather_snapshots(self) -> list[Dict[str, Any]]:
        """Every worker's metrics snapshot, this one's included."""
        result: list[Dict[str, Any]] = await self.channel.request({"op": "gather"}, GATHER_TIMEOUT_S * 2)
        return result

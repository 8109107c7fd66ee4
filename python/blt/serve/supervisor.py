"""``blt-serve --workers N``: N server processes on one port, supervised by the process started.

Each worker is a fresh interpreter (``blt.serve.server.worker_main``) with its own batch engine
and tokenizers, listening with ``SO_REUSEPORT`` so the kernel spreads connections over them; the
supervisor holds the port bound (not listening) from the start, so ``--port 0`` gives every
worker the same port. The supervisor serves no HTTP itself; over a private socketpair per worker
(:mod:`blt.serve.cluster`) it:

- relays admin changes (load, activate, unload) to every worker, one change at a time, and keeps
  them so a restarted worker replays them before it listens: a hot swap reaches every worker;
- gathers every worker's metrics snapshot for the worker scraped at ``/metrics`` (summed there);
- on SIGTERM or SIGINT sends SIGTERM to every worker at once (each stops accepting and drains its
  in-flight requests), waits for all, and exits 0 when all exited 0;
- restarts a worker that dies (logged as ``worker exited`` with its exit code, then ``worker
  started``); a worker that fails to start, or one slot dying more than ``MAX_RESTARTS`` times in
  ``RESTART_WINDOW_S`` seconds, stops the whole server with a non-zero exit (the failing worker's
  code, else 1).
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
import sys
import time
from typing import Any, Dict, List, Optional

from .cluster import ADMIN_TIMEOUT_S, GATHER_TIMEOUT_S, Channel, ChannelClosed
from .config import ServeConfig
from .middleware import ApiError, log, setup_logging

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


class WorkerFailed(RuntimeError):
    """A worker could not start (its exit code is ``code``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT and not listening: it fixes the port
    (``port`` 0 picks a free one) for the workers, and takes no connections itself."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(info[4])
    except OSError:
        sock.close()
        raise
    return sock


class Worker:
    """One worker process and the supervisor's end of its channel."""

    def __init__(self, index: int, proc: "asyncio.subprocess.Process", channel: Channel) -> None:
        self.index = index
        self.proc = proc
        self.channel = channel
        self.ready = False


class Supervisor:
    """Starts, relays for, restarts and stops the workers of one ``blt-serve --workers N``."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.workers: Dict[int, Worker] = {}
        self.changes: List[Dict[str, Any]] = []  # admin changes applied so far, in order
        self.restarts: Dict[int, List[float]] = {}
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._stopping = False
        # Held while an admin change goes out and while a worker starts: each worker sees the
        # changes in one order, and a starting worker's replay is complete.
        self._admin_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------
    async def run(self) -> int:
        cfg = self.config
        try:
            reserved = reserve_port(cfg.host, cfg.port)
        except OSError as e:
            print(f"blt-serve: cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}", file=sys.stderr)
            return 1
        port = reserved.getsockname()[1]
        self.worker_config = dataclasses.replace(cfg, port=port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            try:
                async with self._admin_lock:
                    await asyncio.gather(*(self._spawn(i) for i in range(cfg.workers)))
            except WorkerFailed as e:
                log.error("worker failed to start", extra={"fields": {"error": str(e)}})
                self.exit_code = e.code
                self._stop.set()
            if not self._stop.is_set():
                log.info("listening", extra={"fields": {
                    "host": cfg.host, "port": port, "workers": cfg.workers,
                    "pids": [w.proc.pid for w in self.workers.values()]}})
                print(f"blt-serve listening on http://{cfg.host}:{port} ({cfg.workers} workers)",
                      file=sys.stderr, flush=True)
            await self._stop.wait()
            await self._shutdown()
        finally:
            reserved.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"fields": {"exit_code": self.exit_code}})
        return self.exit_code

    async def _spawn(self, index: int) -> None:
        """Start worker ``index``, hand it its config and the changes so far, wait until it
        listens. Call with the admin lock held."""
        ours, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c",
                f"import sys; from blt.serve.server import worker_main; sys.exit(worker_main({theirs.fileno()}))",
                pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        channel = Channel(ours, self._handler(index))
        worker = self.workers[index] = Worker(index, proc, channel)
        self._keep(asyncio.create_task(self._watch(worker)))
        await channel.open()
        try:
            await channel.request({"op": "start", "config": self.worker_config, "index": index,
                                   "replay": list(self.changes)})
        except (ApiError, ConnectionError) as e:
            code = await proc.wait()
            raise WorkerFailed(f"worker {index} (pid {proc.pid}) exited with code {code} before "
                               f"listening: {e}", code or 1) from None
        worker.ready = True
        log.info("worker started", extra={"fields": {"worker": index, "pid": proc.pid}})

    async def _watch(self, worker: Worker) -> None:
        code = await worker.proc.wait()
        worker.channel.close()
        if self._stopping or not worker.ready:
            return  # shutting down, or _spawn reports the failed start
        worker.ready = False
        log.error("worker exited", extra={"fields": {"worker": worker.index, "pid": worker.proc.pid,
                                                     "exit_code": code}})
        now = time.monotonic()
        recent = [t for t in self.restarts.get(worker.index, []) if now - t < RESTART_WINDOW_S]
        if len(recent) >= MAX_RESTARTS:
            log.error("worker keeps exiting; stopping", extra={"fields": {"worker": worker.index}})
            self.exit_code = 1
            self._stop.set()
            return
        self.restarts[worker.index] = recent + [now]
        try:
            async with self._admin_lock:
                if not self._stopping:
                    await self._spawn(worker.index)
        except WorkerFailed as e:
            log.error("worker failed to restart", extra={"fields": {"error": str(e)}})
            self.exit_code = e.code
            self._stop.set()

    async def _shutdown(self) -> None:
        """SIGTERM to every worker at once; wait for all (killing those past the drain time)."""
        self._stopping = True
        live = [w for w in self.workers.values() if w.proc.returncode is None]
        log.info("draining", extra={"fields": {"workers": [w.proc.pid for w in live]}})
        for w in live:
            try:
                w.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        wait_s = self.config.drain_timeout_s + 30.0
        for w in live:
            try:
                code = await asyncio.wait_for(w.proc.wait(), wait_s)
            except asyncio.TimeoutError:
                log.error("worker did not stop; killing it", extra={"fields": {"pid": w.proc.pid}})
                w.proc.kill()
                code = await w.proc.wait()
            if code != 0:
                log.error("worker exited", extra={"fields": {"worker": w.index, "pid": w.proc.pid,
                                                             "exit_code": code}})
                self.exit_code = self.exit_code or 1
            w.channel.close()

    def _keep(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests from workers ---------------------------------------------------------------------
    def _handler(self, index: int) -> Any:
        async def handle(body: Dict[str, Any]) -> Any:
            op = body["op"]
            if op == "gather":
                return await self._gather()
            if op == "admin":
                return await self._admin(body["change"])
            raise ApiError(400, f"unknown control request {op!r} from worker {index}")

        return handle

    def _ready(self) -> List[Worker]:
        return [w for w in self.workers.values() if w.ready and not w.channel.closed]

    async def _gather(self) -> List[Dict[str, Any]]:
        workers = self._ready()
        got = await asyncio.gather(*(w.channel.request({"op": "snapshot"}, GATHER_TIMEOUT_S)
                                     for w in workers), return_exceptions=True)
        return [s for s in got if not isinstance(s, BaseException)]

    async def _admin(self, change: Dict[str, Any]) -> Any:
        async with self._admin_lock:
            workers = self._ready()
            got = await asyncio.gather(*(w.channel.request({"op": "apply", "change": change}, ADMIN_TIMEOUT_S)
                                         for w in workers), return_exceptions=True)
            ok = [r for r in got if not isinstance(r, BaseException)]
            # A worker that died meanwhile is restarted with the change in its replay: not a failure.
            failed = [(w, r) for w, r in zip(workers, got)
                      if isinstance(r, BaseException) and not isinstance(r, ChannelClosed)]
            if ok:
                self.changes.append(change)  # a worker started later replays it
                if not failed:
                    return ok[0]
            if not failed:
                raise ApiError(503, "no worker answered the admin change")
            w, err = failed[0]
            if not ok:
                if isinstance(err, asyncio.TimeoutError):
                    raise ApiError(503, f"worker {w.index} did not answer the admin change")
                raise err
            log.error("admin change applied on some workers only",
                      extra={"fields": {"change": change, "applied": len(ok), "failed": len(failed)}})
            raise ApiError(500, f"admin change applied on {len(ok)} of {len(workers)} workers; "
                                f"worker {w.index} failed: {err}")


def supervise(config: ServeConfig) -> int:
    """Run ``config.workers`` worker processes until SIGTERM/SIGINT; the exit code."""
    setup_logging(config.log_level)
    return asyncio.run(Supervisor(config).run())

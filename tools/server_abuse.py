"""Latency of well-behaved blt-serve clients, unloaded and while each kind of abuse runs.

Starts blt-serve as a process (cl100k_base from the shared vocabularies, access log on, written to
a file), then for each case runs the abuse in a second process and measures, in this one, closed-loop
well-behaved clients (``--clients`` of them on keep-alive connections opened before the abuse
starts) posting a short text to /v1/tokenize for ``--seconds``. Prints one Markdown row per case:
requests, p50, p99, p99 over the unloaded p99, and the statuses the well-behaved clients got.
The numbers go into docs/reliability.md ("Server abuse"); tests/test_server_abuse.py asserts the
behaviour.

    python tools/server_abuse.py [--seconds 10] [--clients 4] [--rate 100] [--cases a,b,...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable, Dict, List

import aiohttp
import numpy as np

TEXT = "The quick brown fox jumps over the lazy dog; tokenizers sit at the front of every pipeline. " * 2
LIMIT = 65536  # --max-body-bytes of the server under test
STREAM_LIMIT = 16 << 20  # --max-stream-bytes
# Priority of the stalled-reader streams (--stream-priority; passed to the abuse process by env).
STREAM_PRIORITY = os.environ.get("SERVER_ABUSE_STREAM_PRIORITY", "normal").encode()


# -- abuse (runs in its own process: python tools/server_abuse.py --abuse CASE --port N) ---------
async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _forever(n: int, one: Callable[[], Awaitable[None]], pause: float = 0.5) -> None:
    """``n`` loops each running ``one`` again and again (errors are what abuse expects), ``pause``
    seconds apart: a dropped or refused client comes back, but does not hammer."""
    async def loop() -> None:
        while True:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, aiohttp.ClientError,
                                     asyncio.TimeoutError):
                await one()
            await asyncio.sleep(pause)
    await asyncio.gather(*(loop() for _ in range(n)))


async def _paced(rate: float, one: Callable[[], Awaitable[None]]) -> None:
    """Starts ``one`` ``rate`` times a second (at most 64 at once)."""
    busy = asyncio.Semaphore(64)

    async def guarded() -> None:
        async with busy:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, aiohttp.ClientError,
                                     asyncio.TimeoutError):
                await one()

    tasks = set()
    while True:
        t = asyncio.ensure_future(guarded())
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        await asyncio.sleep(1.0 / rate)


async def abuse(case: str, port: int, rate: float) -> None:
    base = f"http://127.0.0.1:{port}"
    if case == "slow_headers":  # 200 clients each sending one header line every 0.5 s
        async def trickle_headers() -> None:
            reader, writer = await _raw(port)
            writer.write(b"POST /v1/tokenize HTTP/1.1\r\nHost: x\r\n")
            for i in range(10**6):
                await asyncio.sleep(0.5)
                writer.write(b"X-Slow-%d: y\r\n" % i)
                await writer.drain()
                if reader.at_eof():
                    break
            writer.close()
        await _forever(200, trickle_headers)
    elif case == "slow_bodies":  # 200 clients each sending one body byte every 0.5 s
        async def trickle_body() -> None:
            reader, writer = await _raw(port)
            writer.write(b"POST /v1/tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10000\r\n\r\n{\"text\": \"")
            while not reader.at_eof():
                await asyncio.sleep(0.5)
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(asyncio.TimeoutError):
                    if await asyncio.wait_for(reader.read(65536), 0.01) == b"":
                        break
            writer.close()
        await _forever(200, trickle_body)
    elif case == "stalled_stream_uploads":  # 100 stream uploads that stop after 1 KB
        async def stall_upload() -> None:
            reader, writer = await _raw(port)
            writer.write(b"POST /v1/tokenize_stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"400\r\n" + b"s" * 1024 + b"\r\n")
            await reader.read()  # until the server gives up on it
            writer.close()
        await _forever(100, stall_upload)
    elif case == "idle_connections":  # 2,000 connections that never send a byte
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

        async def hold() -> None:
            reader, writer = await _raw(port)
            await reader.read()  # a 503 when over the limit, else closed at the idle timeout
            writer.close()
        await _forever(2000, hold, pause=5.0)  # idle clients, not a connection flood
    elif case in ("oversize_bodies", "malformed_json", "wrong_admin_token", "stream_disconnects",
                  "stalled_stream_readers"):
        async with aiohttp.ClientSession(base) as s:
            async def oversize() -> None:
                async with s.post("/v1/tokenize", data=b"x" * (LIMIT + 1)) as r:
                    await r.read()

            bad = [b"{not json", b"[" * 5000, b'{"text": 5}', b'{"texts": [1]}', b"null"]

            async def malformed() -> None:
                body = bad[int(time.monotonic() * 1000) % len(bad)]
                async with s.post("/v1/tokenize", data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()

            async def wrong_token() -> None:
                async with s.post("/v1/admin/tokenizers", json={"name": "x", "version": "1", "spec": "bytes"},
                                  headers={"Authorization": "Bearer wrong"}) as r:
                    await r.read()

            async def disconnect() -> None:
                reader, writer = await _raw(port)
                writer.write(b"POST /v1/tokenize_stream?segment_bytes=4096 HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n3000\r\n" + TEXT.encode()[:0x3000].ljust(0x3000) + b"\r\n")
                await reader.readuntil(b"\n\n")
                writer.transport.abort()

            async def no_reader() -> None:
                reader, writer = await _raw(port)
                body = b"0123456789" * (STREAM_LIMIT // 10)
                writer.write(b"POST /v1/tokenize_stream?segment_bytes=65536&priority=" + STREAM_PRIORITY + b" HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                writer.write(body)
                await writer.drain()  # the server stops reading, then drops the connection
                writer.close()

            if case == "stalled_stream_readers":
                await _forever(4, no_reader)
            one = {"oversize_bodies": oversize, "malformed_json": malformed, "wrong_admin_token": wrong_token,
                   "stream_disconnects": disconnect}[case]
            await _paced(rate, one)
    else:
        raise SystemExit(f"unknown abuse case {case!r}")


# -- measurement -----------------------------------------------------------------------------------
CASES = ["slow_headers", "slow_bodies", "stalled_stream_uploads", "idle_connections", "oversize_bodies",
         "malformed_json", "wrong_admin_token", "stream_disconnects", "stalled_stream_readers"]


async def well_behaved(s: aiohttp.ClientSession, clients: int, seconds: float) -> tuple[List[float], Dict[int, int]]:
    """``clients`` closed-loop clients on ``s`` for ``seconds``: latencies and statuses."""
    latencies: List[float] = []
    statuses: Dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                async with s.post("/v1/tokenize", json={"text": TEXT}) as r:
                    await r.read()
                    status = r.status
            except aiohttp.ClientError:
                status = 0  # connection refused or reset
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses


async def measure(args: argparse.Namespace, port: int) -> None:
    # One keep-alive pool for every case, opened before any abuse: the well-behaved clients are
    # already connected when the abuse starts (a new connection may meet a full server: 503).
    connector = aiohttp.TCPConnector(limit=args.clients, keepalive_timeout=3600)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as s:
        await well_behaved(s, args.clients, 2.0)  # warm-up
        unloaded_p99 = None
        for case in ["unloaded"] + [c for c in args.cases.split(",") if c]:
            abuser = None
            if case != "unloaded":
                abuser = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--abuse", case, "--port", str(port), "--rate", str(args.rate))
                await asyncio.sleep(3.0)  # let the abuse reach its steady state
            before = load()
            lat, statuses = await well_behaved(s, args.clients, args.seconds)
            if abuser is not None:
                abuser.kill()
                await abuser.wait()
            ms = np.array(lat) * 1e3
            p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
            if unloaded_p99 is None:
                unloaded_p99 = p99
            print(f"| {case} | {len(lat)} | {p50:.2f} | {p99:.2f} | {p99 / unloaded_p99:.2f}x | "
                  f"{json.dumps(statuses)} | {before} |", flush=True)
            await asyncio.sleep(1.0)  # abused connections close before the next case


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def start_server(log_path: Path) -> tuple[subprocess.Popen, int]:
    shared = Path(os.environ.get("BLT_SHARED_DIR", "/work/shared"))
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "blt.serve.server", "--port", "0", "--max-connections", "1000",
         "--idle-timeout-s", "10", "--stream-idle-timeout-s", "5", "--request-timeout-s", "10",
         "--max-body-bytes", str(LIMIT), "--max-stream-bytes", str(STREAM_LIMIT), "--admin-token", "secret",
         "--tokenizers", "cl100k_base@1=encoding:cl100k_base", "--vocab-dir", str(shared / "vocab")],
        stderr=log, text=True)
    for _ in range(600):
        m = re.search(r"listening on http://[\d.]+:(\d+)", log_path.read_text())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"blt-serve did not start:\n{log_path.read_text()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rate", type=float, default=100.0, help="requests/s of the request-flood cases")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--stream-priority", default="normal", choices=("high", "normal", "low"),
                    help="priority the stalled_stream_readers case asks for")
    ap.add_argument("--abuse", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.abuse:
        asyncio.run(abuse(args.abuse, args.port, args.rate))
        return
    os.environ["SERVER_ABUSE_STREAM_PRIORITY"] = args.stream_priority
    log_path = Path(tempfile.mkdtemp(prefix="server_abuse_")) / "serve.log"
    proc, port = start_server(log_path)
    print(f"load before: {load()}; {args.clients} well-behaved clients, {args.seconds:g} s per case")
    print("| case | requests | p50 ms | p99 ms | p99 / unloaded | statuses | load |")
    print("|---|---|---|---|---|---|---|")
    try:
        asyncio.run(measure(args, port))
    finally:
        proc.terminate()
        proc.wait(30)
    lines = log_path.read_text().splitlines()
    refused = sum('"connection refused"' in line for line in lines)
    errors = sum('"level": "error"' in line for line in lines)
    print(f"server log: {len(lines)} lines, {refused} refused connections, {errors} error lines ({log_path})")


if __name__ == "__main__":
    main()

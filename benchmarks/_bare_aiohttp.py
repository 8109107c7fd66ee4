"""The cheapest aiohttp server: POST /v1/tokenize echoes the body back, with no middleware, no
engine and no JSON. bench_server.py measures it next to blt-serve as the ceiling that any
aiohttp-based server reaches on the same machine (per-request HTTP cost alone).

    python benchmarks/_bare_aiohttp.py   # prints "listening on http://127.0.0.1:PORT" on stderr
"""

from __future__ import annotations

import asyncio
import socket
import sys

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/json")


async def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/tokenize", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=4096)
    await site.start()
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())

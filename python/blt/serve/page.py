"""The blt-serve page: ``GET /`` shows how a text is split into tokens or patches.

The page (``static/index.html``, ``app.js``, ``style.css``, package data, no build step) posts the
text to ``POST /v1/inspect``, which answers with the first ``max_items`` tokens or patches (id or
length and the text each covers) and the count over the whole input, so a large input renders only
its first part while the counts cover all of it. ``GET /v1/patchers`` lists the patchers.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from aiohttp import web

from ..bpe import BPETokenizer
from ..byte_tokenizer import ByteTokenizer
from ..entropy_model import EntropyModel
from ..patcher import Patcher
from .middleware import ApiError, read_json
from .tokenizer_registry import TokenizerRegistry

DEFAULT_ITEMS = 2000  # tokens or patches the page renders; the rest is only counted
MAX_ITEMS = 20000
STATIC_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
# Everything the page loads comes from this server: no CDN, no inline script.
CSP = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:"


def builtin_patchers(entropy_model: Optional[str] = None) -> Dict[str, Patcher]:
    """The patchers the page offers: space, static 4 and 8, and entropy when a model file is given.

    >>> from blt.serve.page import builtin_patchers
    >>> sorted(builtin_patchers())
    ['space', 'static-4', 'static-8']
    """
    patchers = {"space": Patcher.space(), "static-4": Patcher.static(4), "static-8": Patcher.static(8)}
    if entropy_model:
        patchers["entropy"] = Patcher.entropy(EntropyModel.load(entropy_model))
    return patchers


def _utf8_length(lead: int) -> int:
    """Length of the UTF-8 sequence a lead byte starts (0 for a byte that starts none)."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def _char_start(data: bytes, pos: int) -> int:
    """``pos``, or past the end of the valid UTF-8 character it falls inside."""
    for q in range(pos - 1, max(pos - 4, -1), -1):
        n = _utf8_length(data[q])
        if n:
            end = q + n
            if end > pos and end <= len(data):
                try:
                    data[q:end].decode("utf-8")
                    return end
                except UnicodeDecodeError:
                    return pos
            return pos
        if data[q] & 0xC0 != 0x80:
            return pos
    return pos


def pieces_of(data: bytes, sizes: List[int]) -> List[Optional[str]]:
    """The text each item covers, given how many bytes each holds (0: a special with no bytes,
    shown as None). A character split between items goes whole to the item holding its first
    byte, so an item of only continuation bytes shows as ``""``; bytes that are not UTF-8
    show as ``\\xNN``.

    >>> from blt.serve.page import pieces_of
    >>> pieces_of("é!".encode(), [0, 1, 1, 1])
    [None, 'é', '', '!']
    >>> pieces_of(b"\\xffa\\x80", [1, 1, 1])
    ['\\\\xff', 'a', '\\\\x80']
    """
    out: List[Optional[str]] = []
    pos = 0
    for n in sizes:
        if n == 0:
            out.append(None)
            continue
        a, b = _char_start(data, pos), _char_start(data, pos + n)
        out.append(data[a:b].decode("utf-8", "backslashreplace"))
        pos += n
    return out


def inspect_tokens(tokenizer: Any, data: bytes, max_items: int = DEFAULT_ITEMS) -> Dict[str, Any]:
    """The first ``max_items`` ids of ``tokenizer.encode(data)`` with the text of each, and the
    count over all of ``data``.

    >>> import blt
    >>> from blt.serve.page import inspect_tokens
    >>> r = inspect_tokens(blt.ByteTokenizer(), b"Hi!", max_items=3)
    >>> r["ids"], r["pieces"], r["count"]
    ([1, 76, 109], [None, 'H', 'i'], 5)
    """
    if isinstance(tokenizer, BPETokenizer):
        ids, _ = tokenizer.encode_prefix(data, max_items)
        count = tokenizer.count(data)
        sizes = [len(tokenizer.token_bytes(int(i))) for i in ids]
    else:
        all_ids = np.asarray(tokenizer.encode(data))
        count = int(all_ids.size)
        ids = all_ids[:max_items]
        if isinstance(tokenizer, ByteTokenizer):
            # Byte b is id b + 4 (see ByteTokenizer); the other ids are specials with no bytes.
            sizes = [1 if 4 <= i < 260 else 0 for i in ids.tolist()]
        else:
            sizes = [len(tokenizer.decode_bytes([int(i)])) for i in ids]
    id_list: List[int] = [int(i) for i in ids]
    return {"kind": "tokens", "count": count, "bytes": len(data), "shown": len(id_list),
            "ids": id_list, "pieces": pieces_of(data, sizes)}


def inspect_patches(patcher: Patcher, data: bytes, max_items: int = DEFAULT_ITEMS) -> Dict[str, Any]:
    """The first ``max_items`` patches of ``data``'s byte ids (BOS, bytes, EOS) with the text each
    covers, and the number of patches over all of ``data``.

    >>> import blt
    >>> from blt.serve.page import inspect_patches
    >>> r = inspect_patches(blt.Patcher.space(), b"a bc d")
    >>> r["lengths"], r["pieces"]
    ([1, 2, 3, 2], [None, 'a ', 'bc ', 'd'])
    """
    ids = ByteTokenizer().encode(data)
    lengths = [int(n) for n in np.asarray(patcher.patch(ids))]
    shown = lengths[:max_items]
    # Ids are BOS, one per byte, EOS: a patch holds its length in bytes less the specials in it.
    sizes, pos = [], 0
    for n in shown:
        sizes.append(min(pos + n, len(data) + 1) - max(pos, 1) if pos + n > 1 else 0)
        pos += n
    return {"kind": "patches", "count": len(lengths), "bytes": len(data), "shown": len(shown),
            "lengths": shown, "pieces": pieces_of(data, [max(n, 0) for n in sizes])}


class InspectPage:
    """Routes of the page: ``/``, ``/static/{name}``, ``/v1/inspect`` and ``/v1/patchers``."""

    def __init__(self, registry: TokenizerRegistry, patchers: Dict[str, Patcher]) -> None:
        self.registry = registry
        self.patchers = patchers

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_post("/v1/inspect", self.inspect)
        app.router.add_get("/v1/patchers", self.list_patchers)

    @staticmethod
    def _file(name: str) -> web.Response:
        kind = STATIC_FILES.get(name)
        if kind is None:
            raise ApiError(404, f"no static file {name!r}")
        body = importlib.resources.files("blt.serve").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=kind, charset="utf-8",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    async def index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        return self._file(request.match_info["name"])

    async def list_patchers(self, request: web.Request) -> web.Response:
        return web.json_response({"patchers": sorted(self.patchers)})

    async def inspect(self, request: web.Request) -> web.Response:
        """JSON ``{"text", "tokenizer"? | "patcher"?, "max_items"?}``, or the raw bytes of a file
        with those options in the query string."""
        if request.content_type == "application/json":
            body = await read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise ApiError(400, "JSON body needs a string field 'text'")
            data = body["text"].encode("utf-8", "surrogatepass")
        else:
            body = {}
            data = await request.read()
        opts = {k: body.get(k, request.query.get(k)) for k in ("tokenizer", "patcher", "max_items")}
        max_items = _max_items(opts["max_items"])
        work: Callable[[], Dict[str, Any]]
        if opts["patcher"] is not None:
            name = str(opts["patcher"])
            patcher = self.patchers.get(name)
            if patcher is None:
                raise ApiError(404, f"unknown patcher {name!r}; available: {sorted(self.patchers)}")
            work = lambda: dict(inspect_patches(patcher, data, max_items), name=name)  # noqa: E731
        else:
            entry = self.registry.resolve(None if opts["tokenizer"] is None else str(opts["tokenizer"]))
            work = lambda: dict(inspect_tokens(entry.tokenizer, data, max_items), name=entry.key)  # noqa: E731
        # The native calls release the GIL; the event loop keeps serving meanwhile.
        result = await asyncio.get_running_loop().run_in_executor(None, work)
        return web.json_response(result)


def _max_items(value: Any) -> int:
    if value is None:
        return DEFAULT_ITEMS
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"max_items must be an integer, got {value!r}") from None
    if not 1 <= n <= MAX_ITEMS:
        raise ApiError(400, f"max_items must be in 1..{MAX_ITEMS}, got {n}")
    return n

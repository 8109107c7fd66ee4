"""Text streamed out of blt-serve over real HTTP: /v1/detokenize with "stream": true,
/v1/detokenize_stream (NDJSON ids uploaded as they are generated) and /v1/tokenize_stream?text=true.
Every text event holds complete characters only, and the pieces join to the one-shot decode."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")

import blt  # noqa: E402

from support import run_async  # noqa: E402
from test_server import _bpe_config, _sse_events, error_of, server  # noqa: E402

BT = blt.ByteTokenizer()
# Emoji and CJK: byte-level BPE splits the emoji across ids (11410 ends in the parrot's first two
# bytes), so a step-by-step decode sees partial characters.
TEXT = "hi 🦜 ok: naïve 漢字, 👍🏽 and 🏳️‍🌈!"


def _joined(events) -> str:
    return "".join(data["text"] for kind, data in events if kind in ("text", "done"))


def test_detokenize_stream_true_holds_back_partial_characters(vocab_dir):
    cfg = _bpe_config(vocab_dir, "cl100k_base")
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    ids = enc.encode(TEXT).tolist()
    assert enc.decode_bytes([11410]) == " \xf0\x9f".encode("latin-1")  # a cut character, as assumed
    rng = random.Random(16)

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir) as s:
            r = await s.post("/v1/detokenize", json={"ids": ids, "stream": True})
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
            one_by_one = _sse_events(await r.read())
            # Runs of random lengths (some empty), as a generator emits several ids per step.
            runs, pos = [], 0
            while pos < len(ids):
                n = rng.randrange(0, 4)
                runs.append(ids[pos:pos + n])
                pos += n
            r = await s.post("/v1/detokenize", json={"ids": runs, "stream": True, "tokenizer": "cl100k_base"})
            in_runs = _sse_events(await r.read())
            r = await s.post("/v1/detokenize", json={"ids": ids})
            whole = (await r.json())["text"]
            return one_by_one, runs, in_runs, whole

    one_by_one, runs, in_runs, whole = run_async(main())
    assert whole == TEXT
    for events, steps in ((one_by_one, ids), (in_runs, runs)):
        texts = [d for kind, d in events if kind == "text"]
        assert [d["seq"] for d in texts] == list(range(len(steps)))
        assert [d["ids"] for d in texts] == [1 if isinstance(x, int) else len(x) for x in steps]
        assert all("\ufffd" not in d["text"] for d in texts)
        assert events[-1] == ("done", {"steps": len(steps), "tokens": len(ids), "tokenizer": "cl100k_base@1",
                                       "text": ""})
        assert _joined(events) == TEXT
    pos = ids.index(11410)
    assert [d["text"] for _, d in one_by_one[pos:pos + 3]] == [" ", "", "🦜"]


def test_detokenize_stream_true_ends_on_a_cut_character_and_refuses_bad_input():
    async def main():
        async with server() as s:
            cut = BT.encode("é€").tolist()[1:-2]  # no bos/eos; the euro sign loses its last byte
            r = await s.post("/v1/detokenize", json={"ids": [[i] for i in cut], "stream": True})
            events = _sse_events(await r.read())
            assert [d["text"] for _, d in events] == ["", "é", "", "", "\ufffd"]
            assert _joined(events) == bytes(i - 4 for i in cut).decode("utf-8", "replace")
            bad = [({"ids": 5, "stream": True}, "list"), ({"ids": [1, [2, "x"]], "stream": True}, "ids[1]"),
                   ({"ids": [9999], "stream": True}, "9999"), ({"ids": [1], "stream": "yes"}, "stream"),
                   ({"ids": [[1, 2**70]], "stream": True}, "64-bit")]
            for body, match in bad:
                r = await s.post("/v1/detokenize", json=body)
                assert r.status == 400, body
                assert match in (await error_of(r))["message"], body
            # An unknown id after the first event ends the stream with an error event.
            r = await s.post("/v1/detokenize", json={"ids": [70, 9999, 71], "stream": True})
            events = _sse_events(await r.read())
            assert [k for k, _ in events] == ["text", "error"]
            assert events[1][1]["status"] == 400 and "9999" in events[1][1]["message"]

    run_async(main())


def test_detokenize_stream_ndjson_answers_each_line_as_it_arrives(vocab_dir):
    cfg = _bpe_config(vocab_dir, "cl100k_base")
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    ids = enc.encode(TEXT).tolist()
    # Single ids (a bare number per line) and runs of two.
    steps = [x for i in range(0, len(ids), 3) for x in (ids[i], ids[i + 1:i + 3])]

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir) as s:
            answered = asyncio.Queue()

            async def generate():  # the next line only after the previous one was answered
                for i, step in enumerate(steps):
                    yield (json.dumps(step) + "\n").encode()
                    if i == 0:
                        yield b"\n"  # empty lines are skipped
                    await asyncio.wait_for(answered.get(), 10)

            events = []
            async with s.post("/v1/detokenize_stream?tokenizer=cl100k_base", data=generate(),
                              headers={"Content-Type": "application/x-ndjson"}) as r:
                assert r.status == 200
                while True:
                    (event,) = _sse_events(await r.content.readuntil(b"\n\n"))
                    events.append(event)
                    if event[0] != "text":
                        break
                    answered.put_nowait(None)
            return events

    events = run_async(main())
    assert [d["seq"] for k, d in events if k == "text"] == list(range(len(steps)))
    assert all("\ufffd" not in d["text"] for _, d in events)
    assert events[-1][0] == "done" and events[-1][1]["tokens"] == len(ids)
    assert _joined(events) == TEXT == enc.decode(ids)


def test_detokenize_stream_ndjson_errors():
    async def main():
        async with server(max_body_bytes=1000, max_stream_bytes=5000) as s:
            r = await s.post("/v1/detokenize_stream", data=b"[1, 2\n")
            assert r.status == 400 and "line 1" in (await error_of(r))["message"]
            r = await s.post("/v1/detokenize_stream", data=b"[70]\n[70, 71]\n{\"a\": 1}\n")
            events = _sse_events(await r.read())
            assert [k for k, _ in events] == ["text", "text", "error"]
            assert events[-1][1]["status"] == 400 and "line 3" in events[-1][1]["message"]
            r = await s.post("/v1/detokenize_stream", data=b"[70]\n[9999]\n")
            events = _sse_events(await r.read())
            assert events[-1][0] == "error" and "9999" in events[-1][1]["message"]
            r = await s.post("/v1/detokenize_stream", data=b"[" + b"70," * 600 + b"70]\n")
            assert r.status == 413  # one line over max_body_bytes
            r = await s.post("/v1/detokenize_stream", data=b"70\n" * 3000)
            assert r.status == 413  # Content-Length over max_stream_bytes
            r = await s.post("/v1/detokenize_stream?tokenizer=nope", data=b"70\n")
            assert r.status == 404
            r = await s.post("/v1/detokenize_stream", data=b"")
            events = _sse_events(await r.read())
            assert events == [("done", {"steps": 0, "tokens": 0, "tokenizer": "bytes@1", "text": ""})]

    run_async(main())


def test_tokenize_stream_text_true_gives_whole_characters_per_segment():
    text = "héllo wörld 🦜🦜 漢字 " * 20

    async def main():
        async with server() as s:
            got = {}
            for fmt in ("json", "b64"):
                r = await s.post(f"/v1/tokenize_stream?segment_bytes=7&text=true&format={fmt}",
                                 data=text.encode())
                assert r.status == 200
                got[fmt] = _sse_events(await r.read())
            r = await s.post("/v1/tokenize_stream?text=maybe", data=b"x")
            assert r.status == 400 and "text" in (await error_of(r))["message"]
            r = await s.post("/v1/tokenize_stream?segment_bytes=7", data=text.encode())
            plain = _sse_events(await r.read())
            return got, plain

    got, plain = run_async(main())
    events = got["json"]
    segments = [d for k, d in events if k == "ids"]
    assert len(segments) > 20
    assert [i for d in segments for i in d["ids"]] == BT.encode(text).tolist()
    assert any(d["text"] == "" or len(d["text"].encode()) != d["count"] for d in segments)  # cuts held back
    assert all("\ufffd" not in d["text"] for d in segments)
    assert _joined([(("text" if k == "ids" else k), d) for k, d in events]) == text
    assert [d["text"] for k, d in got["b64"] if k == "ids"] == [d["text"] for d in segments]
    assert all("text" not in d for _, d in plain)  # only when asked for
    assert [i for k, d in plain if k == "ids" for i in d["ids"]] == BT.encode(text).tolist()


def test_tokenize_stream_segment_without_a_safe_cut_is_bounded_by_max_body_bytes(vocab_dir):
    """Digits alone have no safe cut for cl100k: the segment would widen to the whole stream and
    be one engine job that holds a worker thread (the stalled-reader abuse case of
    tools/server_abuse.py). A segment may not exceed max_body_bytes: past it the stream is refused
    (a 400 before any event), while the same size with safe cuts streams in segments."""
    cfg = _bpe_config(vocab_dir, "cl100k_base")
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    digits = b"7" * 50_000
    spaced = b"7 " * 25_000

    async def main():
        async with server(tokenizers=cfg.tokenizers, vocab_dir=cfg.vocab_dir, max_body_bytes=4096) as s:
            r = await s.post("/v1/tokenize_stream?segment_bytes=1024", data=digits)
            refused = (r.status, (await error_of(r))["message"])
            r = await s.post("/v1/tokenize_stream?segment_bytes=1024", data=digits[:3000])
            small = (r.status, _sse_events(await r.read()))
            r = await s.post("/v1/tokenize_stream?segment_bytes=1024", data=spaced)
            return refused, small, (r.status, _sse_events(await r.read()))

    refused, small, ok = run_async(main())
    assert refused[0] == 400 and "no safe place to cut the stream" in refused[1] and "4096" in refused[1]
    assert small[0] == 200  # under the bound, the whole input is one segment as before
    assert [i for k, d in small[1] if k == "ids" for i in d["ids"]] == enc.encode(digits[:3000]).tolist()
    assert ok[0] == 200
    segments = [d for k, d in ok[1] if k == "ids"]
    assert len(segments) > 20
    assert [i for d in segments for i in d["ids"]] == enc.encode(spaced).tolist()

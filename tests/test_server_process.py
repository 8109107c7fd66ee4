"""blt-serve as a process: YAML/environment/flag configuration and SIGTERM draining (no accepted
request is lost, exit code 0)."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("yaml")

import blt  # noqa: E402
from blt.serve.config import load_config  # noqa: E402

from support import run_async, run_serve, start_serve  # noqa: E402

BT = blt.ByteTokenizer()


def test_config_precedence_yaml_env_flags(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9001\nmax_batch_size: 8\nadmin_token: from-yaml\n"
                    "tokenizers:\n  - {name: bytes, version: 3, spec: 'bytes:content_type=text'}\n")
    cfg = load_config(["--config", str(path), "--max-batch-size", "16"],
                      environ={"BLT_SERVE_PORT": "9002", "BLT_SERVE_RATE_LIMIT_RPS": "7.5"})
    assert (cfg.port, cfg.max_batch_size, cfg.rate_limit_rps, cfg.admin_token) == (9002, 16, 7.5, "from-yaml")
    assert [(t.name, t.version, t.spec) for t in cfg.tokenizers] == [("bytes", "3", "bytes:content_type=text")]
    path.write_text("prot: 1\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load_config(["--config", str(path)], environ={})
    with pytest.raises(ValueError, match="max_batch_size"):
        load_config(["--max-batch-size", "0"], environ={})
    with pytest.raises(ValueError, match="dtype"):
        load_config(["--dtype", "float32"], environ={})
    with pytest.raises(ValueError, match="port"):
        load_config(["--port", "http"], environ={})
    with pytest.raises(OSError, match="cannot read config"):
        load_config(["--config", str(tmp_path / "missing.yaml")], environ={})


def test_bad_config_exits_2_with_a_message():
    proc = run_serve("--queue-capacity", "-1")
    assert proc.returncode == 2 and "queue_capacity" in proc.stderr


def test_sigterm_drains_accepted_requests_and_exits_0(tmp_path):
    # Batches wait up to 1.5 s to fill, so the requests are in flight when SIGTERM arrives.
    proc, port = start_serve("--max-batch-size", "1000", "--max-wait-ms", "1500",
                             "--drain-timeout-s", "20", "--flush-each-tick", "false",
                             env={"BLT_SERVE_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"

    async def main():
        async with aiohttp.ClientSession() as s:
            texts = [f"request {i}" for i in range(50)]
            reqs = [asyncio.ensure_future(s.post(base + "/v1/tokenize", json={"text": t})) for t in texts]
            for _ in range(200):  # wait until the server has accepted and queued all 50
                metrics = await (await s.get(base + "/metrics")).text()
                m = re.search(r'blt_queue_depth\{priority="normal"\} (\S+)', metrics)
                if m and float(m.group(1)) == 50:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("requests were not queued")
            proc.send_signal(signal.SIGTERM)
            answers = []
            for r in reqs:
                resp = await r
                answers.append((resp.status, (await resp.json())["ids"]))
            await asyncio.sleep(0.2)
            try:
                async with s.get(base + "/healthz") as r:
                    refused = False
            except aiohttp.ClientConnectionError:
                refused = True
            return texts, answers, refused

    try:
        texts, answers, refused = run_async(main())
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [a[0] for a in answers] == [200] * 50
    assert [a[1] for a in answers] == [BT.encode(t).tolist() for t in texts]
    assert refused  # no longer accepting
    assert code == 0
    assert '"msg": "stopped"' in proc.stderr.read()

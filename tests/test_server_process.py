"""blt-serve as a process: YAML/environment/flag configuration and SIGTERM draining (no accepted
request is lost, exit code 0)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("yaml")

import blt  # noqa: E402
from blt.serve.config import load_config  # noqa: E402

from support import reap, run_async, run_serve, start_serve, wait_until  # noqa: E402

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
            answers = await _queue_then_sigterm(s, base, proc, texts, polls=200)
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
        reap(proc)
    assert [a[0] for a in answers] == [200] * 50
    assert [a[1] for a in answers] == [BT.encode(t).tolist() for t in texts]
    assert refused  # no longer accepting
    assert code == 0
    assert '"msg": "stopped"' in proc.stderr.read()


# ------------------------------------------------------------------- --workers N (issue 16)

TOKEN = "workers-admin"


async def _on_each_worker(base: str, want: int, path: str, tries: int = 200, **kw) -> dict:
    """{worker pid: answer body} of ``path`` from every one of ``want`` workers: each attempt is a
    fresh connection (the kernel picks its worker), /healthz names the worker, then ``path`` goes
    over the same kept-alive connection."""
    seen = {}
    for _ in range(tries):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
            async with s.get(base + "/healthz") as r:
                pid = (await r.json())["pid"]
            if pid not in seen:
                method = s.post if "json" in kw else s.get
                async with method(base + path, **kw) as r:
                    assert r.status in (200, 201), await r.text()
                    seen[pid] = await (r.json() if r.content_type == "application/json" else r.text())
        if len(seen) == want:
            return seen
    raise AssertionError(f"reached {len(seen)} of {want} workers")


def _counter(metrics: str, name: str, **labels) -> float:
    sel = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    m = re.search(rf"^{name}\{{{re.escape(sel)}\}} (\S+)$" if sel else rf"^{name} (\S+)$", metrics, re.M)
    assert m, f"{name}{{{sel}}} not in metrics"
    return float(m.group(1))


async def _queue_then_sigterm(s, base, proc, texts, *, polls):
    """Posts every text, waits until the server (all its workers, as /metrics sums them) holds
    them all queued, sends SIGTERM; the (status, ids) answers in order."""
    reqs = [asyncio.ensure_future(s.post(base + "/v1/tokenize", json={"text": t})) for t in texts]
    for _ in range(polls):
        metrics = await (await s.get(base + "/metrics")).text()
        if _counter(metrics, "blt_queue_depth", priority="normal") == len(texts):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("requests were not queued")
    proc.send_signal(signal.SIGTERM)
    answers = []
    for r in reqs:
        resp = await r
        answers.append((resp.status, (await resp.json())["ids"]))
    return answers


def _stop(proc, timeout=60):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    finally:
        reap(proc)
    return code, proc.stderr.read()


def test_two_workers_share_the_port_sum_metrics_and_all_see_a_hot_swap():
    proc, port = start_serve("--workers", "2", "--admin-token", TOKEN, env={"BLT_SERVE_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def main():
        health = await _on_each_worker(base, 2, "/healthz")
        # Requests on fresh connections, spread over both workers by the kernel.
        n = 60
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            for i in range(n):
                async with s.post(base + "/v1/tokenize", json={"text": f"t{i}"}) as r:
                    assert (await r.json())["ids"] == BT.encode(f"t{i}").tolist()
        metrics = await _on_each_worker(base, 2, "/metrics")
        # A hot swap through one worker reaches the other.
        async with aiohttp.ClientSession() as s:
            async with s.post(base + "/v1/admin/tokenizers", headers=auth,
                              json={"name": "bytes", "version": "2", "spec": "bytes:content_type=text",
                                    "activate": True}) as r:
                assert r.status == 201, await r.text()
        swapped = await _on_each_worker(base, 2, "/v1/tokenize", json={"text": "hi"})
        return health, n, metrics, swapped

    try:
        health, n, metrics, swapped = run_async(main())
        assert set(health) == {h["pid"] for h in health.values()} and proc.pid not in health
        assert sorted(h["worker"] for h in health.values()) == [0, 1]
        for text in metrics.values():  # either worker answers with both workers' counts
            assert _counter(text, "blt_workers") == 2
            assert _counter(text, "blt_requests_total", method="POST", route="/v1/tokenize", status="200") == n
            assert _counter(text, "blt_tokens_total") == sum(len(f"t{i}") + 2 for i in range(n))
        assert [b["tokenizer"] for b in swapped.values()] == ["bytes@2", "bytes@2"]
        assert all(b["ids"] == blt.ByteTokenizer(content_type="text").encode("hi").tolist()
                   for b in swapped.values())
    finally:
        code, err = _stop(proc)
    assert code == 0, err


def test_a_killed_worker_is_reported_and_restarted_with_the_hot_swaps_so_far():
    proc, port = start_serve("--workers", "2", "--admin-token", TOKEN, env={"BLT_SERVE_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def main():
        async with aiohttp.ClientSession() as s:
            async with s.post(base + "/v1/admin/tokenizers", headers=auth,
                              json={"name": "bytes", "version": "2", "spec": "bytes:content_type=text"}) as r:
                assert r.status == 201
            async with s.post(base + "/v1/admin/tokenizers/bytes/activate", headers=auth,
                              json={"version": "2"}) as r:
                assert (await r.json()) == {"active": "bytes@2"}
            async with s.post(base + "/v1/admin/tokenizers", headers=auth,
                              json={"name": "bytes", "version": "3", "spec": "bytes"}) as r:
                assert r.status == 201
            async with s.delete(base + "/v1/admin/tokenizers/bytes/3", headers=auth) as r:
                assert r.status == 200  # an unload is replayed too
            async with s.delete(base + "/v1/admin/tokenizers/bytes/2", headers=auth) as r:
                assert r.status == 400  # refused alike by every worker: bytes@2 is active
        before = await _on_each_worker(base, 2, "/healthz")
        victim = next(iter(before))
        os.kill(victim, signal.SIGKILL)
        for _ in range(400):  # until the replacement answers
            try:
                after = await _on_each_worker(base, 2, "/healthz", tries=20)
            except (AssertionError, aiohttp.ClientConnectionError):
                continue  # one worker only so far, or a connection queued at the killed one
            if victim not in after:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the killed worker was not replaced")
        tokenizers = await _on_each_worker(base, 2, "/v1/tokenizers")
        return victim, after, tokenizers

    try:
        victim, after, tokenizers = run_async(main())
        for listing in tokenizers.values():  # the new worker replayed the load and the activation
            assert [(t["key"], t["active"]) for t in listing["tokenizers"]] == [("bytes@1", False), ("bytes@2", True)]
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    exited = [json.loads(line) for line in err.splitlines() if '"worker exited"' in line]
    assert [(e["pid"], e["exit_code"]) for e in exited] == [(victim, -signal.SIGKILL)]


def test_sigterm_drains_every_worker_and_exits_0():
    proc, port = start_serve("--workers", "2", "--max-batch-size", "1000", "--max-wait-ms", "1500",
                             "--drain-timeout-s", "20", "--flush-each-tick", "false",
                             env={"BLT_SERVE_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"
    texts = [f"request {i}" for i in range(50)]

    async def main():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            return await _queue_then_sigterm(s, base, proc, texts, polls=400)

    try:
        answers = run_async(main())
        code = proc.wait(60)
    finally:
        reap(proc)
    err = proc.stderr.read()
    assert [a[0] for a in answers] == [200] * 50
    assert [a[1] for a in answers] == [BT.encode(t).tolist() for t in texts]
    assert code == 0, err
    assert err.count('"msg": "stopped"') == 3  # both workers, then the supervisor


@pytest.mark.parametrize("value, message", [("0", "workers must be in 1..256, got 0"),
                                            ("two", "workers: cannot read 'two' as int"),
                                            ("1.5", "workers: cannot read '1.5' as int")])
def test_bad_workers_values_are_refused_with_one_line(value, message):
    proc = run_serve("--workers", value)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"blt-serve: config {message}"]


def test_a_worker_that_cannot_start_stops_the_server_with_its_exit_code(tmp_path):
    proc = run_serve("--workers", "2", "--tokenizers", "x@1=encoding:no_such_encoding",
                     "--vocab-dir", str(tmp_path), env={**os.environ, "BLT_SERVE_ACCESS_LOG": "false"})
    assert proc.returncode == 2
    assert "cannot load tokenizer x@1" in proc.stderr and "Traceback" not in proc.stderr


def test_workers_stop_when_their_supervisor_is_killed():
    proc, port = start_serve("--workers", "2", env={"BLT_SERVE_ACCESS_LOG": "false"})
    try:
        pids = run_async(_on_each_worker(f"http://127.0.0.1:{port}", 2, "/healthz"))
    finally:
        proc.kill()  # SIGKILL: the supervisor cannot tell anyone
        proc.wait()

    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
        except FileNotFoundError:
            return True

    # The workers see their control channel close, drain and exit: nothing keeps the port.
    assert wait_until(lambda: all(gone(p) for p in pids), timeout=60)


def test_a_worker_that_keeps_dying_stops_the_server_with_exit_1():
    from blt.serve.supervisor import MAX_RESTARTS

    proc, port = start_serve("--workers", "2", env={"BLT_SERVE_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"

    async def worker_0_pid():
        for _ in range(400):
            try:
                seen = await _on_each_worker(base, 2, "/healthz", tries=20)
                return next(pid for pid, h in seen.items() if h["worker"] == 0)
            except (AssertionError, aiohttp.ClientConnectionError):
                await asyncio.sleep(0.05)  # worker 0 is being restarted
        raise AssertionError("worker 0 did not come back")

    killed = []
    try:
        for _ in range(MAX_RESTARTS + 1):  # restarted MAX_RESTARTS times, then the server gives up
            pid = run_async(worker_0_pid())
            assert pid not in killed
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        code = proc.wait(60)
    finally:
        reap(proc)
    err = proc.stderr.read()
    assert code == 1, err
    assert '"msg": "worker keeps exiting; stopping"' in err
    assert len([line for line in err.splitlines() if '"worker exited"' in line]) == MAX_RESTARTS + 1


def test_workers_on_a_port_in_use_exit_1_with_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_serve("--workers", "2", "--port", port)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"blt-serve: cannot listen on 127.0.0.1:{port}: Address already in use"]

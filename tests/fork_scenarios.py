"""Fork scenarios run by tests/test_fork.py, each in a fresh interpreter so that a hang is bounded
by the test's subprocess timeout and never reaches the test runner.

    python tests/fork_scenarios.py KIND FORKS VOCAB_DIR CORPUS_FILE

KIND names what another thread is doing at each os.fork(): ``encode_batch`` (a batch in flight),
``tokenize_file`` (a file pipeline run), ``async_batch`` (an AsyncBatchTokenizer batch), or
``non_main_thread`` (a batch in flight while a thread other than the main one forks). Every child
encodes a batch (and, per kind, runs the pipeline or a fresh AsyncBatchTokenizer), checks the ids
against the parent's and reports how many fork-pool workers ran it. The parent waits for each child
at most CHILD_SECONDS, then kills it and counts a hang. Prints one JSON line with the counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import blt
from blt import _core

CHILD_SECONDS = 30


HANG_STACKS: List[str] = []  # native stacks of hung children, for the report


def native_stacks(pid: int) -> str:
    """Every thread's native stack of process pid (gdb, when installed), so a hang names its place."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "gdb not installed"
    try:
        out = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                             capture_output=True, text=True, timeout=60)
        return out.stdout[-4000:]
    except (OSError, subprocess.SubprocessError) as e:
        return f"gdb failed: {e!r}"


def wait_child(pid: int, limit: float) -> Tuple[bool, int]:
    """(finished, exit code) of child pid; kills it after `limit` seconds (finished False)."""
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return True, os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            HANG_STACKS.append(native_stacks(pid))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False, -9
        time.sleep(0.001)


def fork_and_check(child: Callable[[], Dict[str, Any]]) -> Tuple[bool, int, Dict[str, Any]]:
    """Forks; the child runs `child` under an alarm and sends its report through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            signal.alarm(CHILD_SECONDS)
            report = child()
            os.write(w, json.dumps(report).encode())
            code = 0 if report.get("ok") else 3
        except BaseException as e:  # the child must always leave through os._exit
            try:
                os.write(w, json.dumps({"ok": False, "error": repr(e)}).encode())
            except Exception:
                pass
            code = 2
        finally:
            os._exit(code)
    os.close(w)
    finished, code = wait_child(pid, CHILD_SECONDS + 5)
    with os.fdopen(r, "rb") as f:
        raw = f.read()
    report: Dict[str, Any] = json.loads(raw) if raw else {}
    return finished, code, report


class Background:
    """Runs `work` in a loop on a daemon thread until stopped; started() waits for a first round."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.rounds = 0
        self.error: List[BaseException] = []
        self._stop = threading.Event()

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    work()
                    self.rounds += 1
            except BaseException as e:
                self.error.append(e)

        self._t = threading.Thread(target=loop, daemon=True)
        self._t.start()
        while self.rounds == 0 and not self.error:
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(60)


def main() -> None:
    kind, forks, vocab_dir, corpus = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    text = Path(corpus).read_bytes()[: 1 << 17]
    docs = [text[i : i + 1500] for i in range(0, len(text), 1500)]
    expected = enc.encode_batch(docs, num_threads=2)
    tmp = Path(tempfile.mkdtemp())
    src = tmp / "in.txt"
    src.write_bytes(text)
    expected_file = np.asarray(blt.tokenize_file(src, None, tokenizer=enc, dtype="uint32", num_threads=2).ids)

    def child_batch() -> Dict[str, Any]:
        got = enc.encode_batch(docs, num_threads=2)
        same = np.array_equal(got.ids, expected.ids) and np.array_equal(got.offsets, expected.offsets)
        return {"ok": bool(same) and _core.parallel_backend() == "fork_pool" and _core.fork_pool_workers() >= 1,
                "backend": _core.parallel_backend(), "workers": _core.fork_pool_workers()}

    background: Background
    child: Callable[[], Dict[str, Any]] = child_batch
    abt_holder: List[Any] = []
    if kind in ("encode_batch", "non_main_thread"):
        background = Background(lambda: None if enc.encode_batch(docs, num_threads=2) else None)
    elif kind == "tokenize_file":
        dst = tmp / "bg.bin"

        def run_file() -> None:
            blt.tokenize_file(src, dst, tokenizer=enc, dtype="uint32", num_threads=2, chunk_size=(4096, 4096))

        background = Background(run_file)

        def child_file() -> Dict[str, Any]:
            report = child_batch()
            got = np.asarray(blt.tokenize_file(src, None, tokenizer=enc, dtype="uint32", num_threads=2,
                                               chunk_size=(4096, 4096)).ids)
            report["ok"] = report["ok"] and bool(np.array_equal(got, expected_file))
            return report

        child = child_file
    elif kind == "async_batch":
        loop = asyncio.new_event_loop()
        abt = blt.AsyncBatchTokenizer(enc, max_wait_ms=0.5, num_threads=2)
        abt_holder.append(abt)

        async def burst() -> None:
            await asyncio.gather(*(abt.encode(d) for d in docs[:32]))

        background = Background(lambda: loop.run_until_complete(burst()))

        def child_async() -> Dict[str, Any]:
            report = child_batch()
            abt.close()  # inherited: released without touching the parent's engine threads

            async def fresh() -> List[int]:
                async with blt.AsyncBatchTokenizer(enc, max_wait_ms=0.5, num_threads=2) as mine:
                    return (await mine.encode(docs[0])).tolist()

            report["ok"] = report["ok"] and asyncio.run(fresh()) == expected[0].tolist()
            return report

        child = child_async
    else:
        raise SystemExit(f"unknown kind {kind!r}")

    hangs = failures = 0
    errors: List[Any] = []
    min_workers = 1 << 30

    def run_forks() -> None:
        nonlocal hangs, failures, min_workers
        for _ in range(forks):
            finished, code, report = fork_and_check(child)
            if not finished:
                hangs += 1
            elif code != 0:
                failures += 1
                if len(errors) < 3:
                    errors.append({"code": code, **report})
            else:
                min_workers = min(min_workers, int(report.get("workers", 0)))

    if kind == "non_main_thread":
        t = threading.Thread(target=run_forks)
        t.start()
        t.join()
    else:
        run_forks()
    background.stop()
    for abt in abt_holder:
        abt.close()
    print(json.dumps({"kind": kind, "forks": forks, "hangs": hangs, "failures": failures,
                      "min_child_workers": min_workers, "errors": errors, "hang_stacks": HANG_STACKS,
                      "background_rounds": background.rounds,
                      "background_error": [repr(e) for e in background.error]}))


if __name__ == "__main__":
    main()

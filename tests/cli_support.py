"""Shared by the CLI tests: how to start blt-tokenize in a child, and how to Ctrl-C it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

CLI = [sys.executable, "-c", "import sys; from blt.cli import main; sys.exit(main())"]


def interrupt(p: subprocess.Popen, ready, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Wait until ``ready()`` (the run reached the point to interrupt), send SIGINT, collect the
    result; the child is killed if it outlives the test."""
    try:
        end = time.monotonic() + timeout
        while not ready() and time.monotonic() < end and p.poll() is None:
            time.sleep(0.005)
        assert ready(), "the run did not reach the point to interrupt"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)

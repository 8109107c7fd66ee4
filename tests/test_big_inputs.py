"""Inputs over 4 GiB through the file pipeline (issue 15, docs/reliability.md "Hostile inputs"):
ids stay right past byte 2^32 and memory stays within the memcap.

One test, one run: a 4200 MiB sparse file (holes read as zeros) with text written around 2^31,
2^32 and the end. The CLI writes its 8.8 GB of uint16 ids to a pipe this test reads, keeping only
the windows it checks, so nothing that size touches a disk.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess

import numpy as np

import blt

from support import start_cli

SIZE = 4200 << 20  # 4,404,019,200 bytes: past 2^32 by 104 MiB
# Text at the signed and unsigned 32-bit boundaries and at the very end; multi-byte UTF-8
# characters straddle 2^32, where --type text must still cut chunks at character starts only.
PLACED = {
    (1 << 31) - 5: "signed 32-bit edge".encode(),
    (1 << 32) - 7: "héllo ☕ wörld \U0001F600 past 2^32".encode(),
    (1 << 32) + (1 << 20) + 3: b"one MiB further",
    SIZE - 12: b"the end\xe2\x98\x95.\n",
}
WINDOW = 64  # input bytes checked on either side of each placed text
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# The 1-byte run's RSS plus the cap plus slack for thread stacks and allocator rounding, as in
# tests/test_cli.py::test_peak_rss_respects_memcap_on_2gb_input.
MEMCAP = 64 * 10**6
SLACK_KIB = 16 << 10


def _make_input(path) -> None:
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for at, text in PLACED.items():
            f.seek(at)
            f.write(text)


def _expected_window(at: int, text: bytes) -> tuple[int, np.ndarray]:
    """(first id index, ids) for input bytes [at - WINDOW, at + len(text) + WINDOW) clipped to the file."""
    lo, hi = at - WINDOW, min(at + len(text) + WINDOW, SIZE)
    data = bytearray(hi - lo)
    data[WINDOW:WINDOW + len(text)] = text
    ids = blt.ByteTokenizer(bos=False, eos=False).encode(bytes(data), dtype="uint16")
    return 2 + lo, ids  # after BOS and the text meta token


def _run(args, windows):
    """Runs the CLI with stdout into a pipe; returns (exit code, stderr, total output bytes,
    {window start: bytes}, peak RSS KiB of the child)."""
    p = start_cli(*args)
    try:
        fcntl.fcntl(p.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # a smaller pipe only costs time
    want = sorted((2 * first, 2 * first + 2 * n) for first, n in windows)  # output byte ranges
    got = {a: bytearray() for a, _ in want}
    pos = 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    fd = p.stdout.fileno()
    while True:
        k = os.readv(fd, [buf])
        if k == 0:
            break
        for a, b in want:
            if a < pos + k and b > pos:
                got[a] += view[max(a, pos) - pos:min(b, pos + k) - pos]
        pos += k
    p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, pos, got, usage.ru_maxrss


def test_input_over_4gib_ids_right_past_2_32_and_memory_within_memcap(tmp_path):
    src = tmp_path / "big.txt"
    _make_input(src)
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(b"x")
    flags = ["--output", "-", "--type", "text", "--memcap", "64MB", "--threads", "2", "--verbose"]
    base = _run(["--input", tiny, *flags], [])[4]

    windows = [_expected_window(at, text) for at, text in PLACED.items()]
    windows.append((2 + SIZE, np.array([2], np.uint16)))  # EOS, the last id
    code, err, total, got, peak = _run(["--input", src, *flags], [(first, len(ids)) for first, ids in windows])
    assert code == 0, err
    # --verbose: "N bytes -> M ids in ..." (the pipeline's own counters, 64-bit end to end)
    m = re.search(r"(\d+) bytes -> (\d+) ids", err)
    assert m, err
    assert (int(m.group(1)), int(m.group(2))) == (SIZE, SIZE + 3)
    assert total == 2 * (SIZE + 3)  # every id written, uint16
    for first, ids in windows:
        seen = np.frombuffer(bytes(got[2 * first]), "<u2")
        assert np.array_equal(seen, ids), (first, seen[:16], ids[:16])
    assert peak <= base + MEMCAP // 1024 + SLACK_KIB, (base, peak)

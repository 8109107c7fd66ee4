"""blt-tokenize: formats, stdin/stdout, exit codes with one-line errors and no partial output,
bounded memory on a 2 GB input, Ctrl-C."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import blt

from support import CLI, assert_failed_cleanly, interrupt, read_ids, reap, run_cli, sparse_file, start_cli


@pytest.fixture
def small_text(tmp_path, corpus_text_files) -> Path:
    p = tmp_path / "in" / "sample.txt"
    p.parent.mkdir()
    p.write_bytes(corpus_text_files[-1].read_bytes()[:200_000])
    return p


def test_help_lists_every_flag_and_examples():
    r = run_cli("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for flag in ("--input", "--output", "--type", "--threads", "--memcap", "--chunksize", "--format",
                 "--dtype", "--bos", "--no-bos", "--eos", "--no-eos", "--strip-bom", "--quiet", "examples:",
                 "--vocab", "--vocab-dir", "--merges", "--vocab-json", "--allowed-special", "tokenizer.json",
                 ".tiktoken", "merges.txt", "cl100k_base"):
        assert flag in out, flag
    assert "--patch" in out and "patch_size" in out  # the YAML schema is in --help


@pytest.mark.parametrize("fmt", ["bin", "npy", "jsonl"])
def test_formats_equal_encode(tmp_path, small_text, fmt):
    out = tmp_path / f"ids.{fmt}"
    r = run_cli("--input", small_text, "--output", out, "--type", "text", "--threads", "2", "--chunksize", "1KB:8KB")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""  # not a TTY: silent
    want = blt.ByteTokenizer(content_type="text").encode(small_text.read_bytes())
    assert np.array_equal(read_ids(out, "uint16"), want)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_stdin_to_stdout_with_options():
    data = b"\xef\xbb\xbfhello \xe2\x98\x95" * 5000
    r = run_cli("--input", "-", "--output", "-", "--no-bos", "--eos", "--strip-bom", "--dtype", "int64",
            "--chunksize", "3", input=data)
    assert r.returncode == 0, r.stderr
    want = blt.ByteTokenizer(bos=False, eos=True, strip_bom=True).encode(data, dtype="int64")
    assert r.stdout == want.astype("<i8").tobytes()


def test_more_threads_than_cores_is_capped_silently(tmp_path, small_text):
    out = tmp_path / "ids.bin"
    r = run_cli("--input", small_text, "--output", out, "--threads", "64", "--chunksize", "4KiB")
    assert r.returncode == 0 and r.stderr == b""  # no oneTBB oversubscription warning
    assert np.array_equal(read_ids(out, "uint16"), blt.ByteTokenizer().encode(small_text.read_bytes()))


def test_progress_bar_only_on_a_tty(tmp_path, small_text):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # give tqdm columns
    try:
        r = run_cli("--input", small_text, "--output", tmp_path / "a.bin", stderr=slave, capture_output=False)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the pty is drained and the child is gone
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert r.returncode == 0
    assert b"blt-tokenize" in shown and b"B/s" in shown  # tqdm's bar, unit bytes
    quiet = run_cli("--input", small_text, "--output", tmp_path / "b.bin", "--quiet")
    assert quiet.stderr == b""


def test_explicit_format_overrides_extension(tmp_path, small_text):
    out = tmp_path / "ids.npy"
    r = run_cli("-i", small_text, "-o", out, "--format", "jsonl", "--no-bos", "--no-eos", "-q")
    assert r.returncode == 0, r.stderr
    want = np.frombuffer(small_text.read_bytes(), np.uint8).astype(np.uint16) + 4
    assert np.array_equal(read_ids(out, "uint16", fmt="jsonl"), want)


# -- bad input (acceptance check 6) --------------------------------------------------------------

def test_missing_input(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", tmp_path / "nope.txt", "--output", out_dir / "o.bin")
    assert_failed_cleanly(r, 1, "No such file or directory", out_dir)


def test_directory_input(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", tmp_path, "--output", out_dir / "o.bin")
    assert_failed_cleanly(r, 1, "directory", out_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; see test_input_read_error")
def test_unreadable_input(tmp_path, small_text):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    small_text.chmod(0)
    try:
        r = run_cli("--input", small_text, "--output", out_dir / "o.bin")
    finally:
        small_text.chmod(0o644)
    assert_failed_cleanly(r, 1, "Permission denied", out_dir)


def test_input_read_error(tmp_path):
    """An input that opens but fails to read (EIO from /proc/self/mem at address 0): works as root."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", "/proc/self/mem", "--output", out_dir / "o.bin")
    assert_failed_cleanly(r, 1, "cannot read '/proc/self/mem'", out_dir)


def test_missing_output_directory(tmp_path, small_text):
    r = run_cli("--input", small_text, "--output", tmp_path / "no" / "such" / "o.bin")
    assert_failed_cleanly(r, 1, "does not exist", tmp_path, keep=["in"])


def test_output_is_a_directory(tmp_path, small_text):
    r = run_cli("--input", small_text, "--output", tmp_path)
    assert_failed_cleanly(r, 1, "directory", tmp_path, keep=["in"])


@pytest.mark.parametrize(
    "flags,match",
    [
        (["--memcap", "lots"], "--memcap"),
        (["--memcap", "0%"], "--memcap"),
        (["--memcap", "150%"], "--memcap"),
        (["--chunksize", "4XB"], "--chunksize"),
        (["--chunksize", "8MB:1MB"], "--chunksize"),
        (["--chunksize", "0"], "--chunksize"),
        (["--threads", "0"], "--threads"),
        (["--threads", "two"], "--threads"),
        (["--type", "movie"], "--type"),
        (["--format", "csv"], "--format"),
        (["--dtype", "uint8"], "--dtype"),
    ],
)
def test_usage_errors_exit_2(tmp_path, small_text, flags, match):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", small_text, "--output", out_dir / "o.bin", *flags)
    assert_failed_cleanly(r, 2, match, out_dir)


def test_missing_required_flag_exits_2(tmp_path):
    r = run_cli("--output", tmp_path / "o.bin")
    assert_failed_cleanly(r, 2, "--input", tmp_path)


def test_memcap_too_small_is_runtime_error(tmp_path, small_text):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", small_text, "--output", out_dir / "o.bin", "--memcap", "10B")
    assert_failed_cleanly(r, 1, "too small", out_dir)


def test_npy_to_pipe_is_refused():
    r = run_cli("--input", "-", "--output", "-", "--format", "npy", input=b"abc")
    assert r.returncode == 1
    assert b"seekable" in r.stderr and r.stdout == b""


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_output_fails_mid_write(tmp_path):
    """RLIMIT_FSIZE of 1 MiB: the write of the 2nd MiB fails with EFBIG (Python ignores SIGXFSZ)."""
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(4 << 20))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("--input", src, "--output", out_dir / "o.bin", "--chunksize", "64KiB", preexec_fn=_limit_file_size)
    assert_failed_cleanly(r, 1, "File too large", out_dir)


@pytest.fixture(scope="module")
def sparse_2g(tmp_path_factory) -> Path:
    """One 2 GiB sparse input per test module: reading its holes the first time costs the kernel
    several seconds on some filesystems, later reads come from the page cache."""
    return sparse_file(tmp_path_factory.mktemp("big") / "big.bin", 2 << 30)


def test_ctrl_c_on_big_input(tmp_path, sparse_2g):
    src = sparse_2g
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    p = start_cli("--input", src, "--output", out_dir / "o.bin", "--memcap", "64MB")
    # Started once the temporary output exists and has grown; then interrupt.
    r = interrupt(p, lambda: any(f.stat().st_size > 0 for f in out_dir.iterdir()))
    assert_failed_cleanly(r, 130, "interrupted", out_dir)


def test_ctrl_c_while_waiting_on_a_stream(tmp_path):
    """Input from a FIFO whose writer stays silent: the blocked reader must still be cancelled."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    p = start_cli("--input", fifo, "--output", out_dir / "o.bin")
    w = os.open(fifo, os.O_WRONLY)  # returns once the CLI has opened the read end
    try:
        os.write(w, b"some bytes, then silence")
        # Once the temporary output exists the reader soon blocks on the silent FIFO.
        r = interrupt(p, lambda: len(os.listdir(out_dir)) == 1, settle=0.2)
    finally:
        os.close(w)
    assert_failed_cleanly(r, 130, "interrupted", out_dir)


def test_ctrl_c_with_a_stalled_stdout_reader(sparse_2g):
    """Output to a pipe nobody reads (e.g. a pager waiting for a key): Ctrl-C must still end the run."""
    src = sparse_2g
    p = start_cli("--input", src, "--output", "-")
    try:
        assert p.stdout.read(16)  # the pipeline is writing; from now on nobody reads
        time.sleep(0.5)  # the pipe (64 KiB) is full and the writer waits
        p.send_signal(signal.SIGINT)
        code = p.wait(timeout=30)
    finally:
        reap(p)
        p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    assert code == 130, err
    assert err.strip() == "blt-tokenize: interrupted"


# -- memory (acceptance check 5) ----------------------------------------------------------------

# The child's peak RSS is measured by a wrapper process (RUSAGE_CHILDREN is a maximum over all
# waited-for children, so measuring from the test process would mix in other tests' children).
_RSS = (
    "import resource, subprocess, sys\n"
    "stdin = open(sys.argv[1], 'rb') if sys.argv[1] != '-' else None\n"
    "gen = None\n"
    "if stdin is None:  # a generated 2 GiB stream through a pipe\n"
    "    gen = subprocess.Popen(['head', '-c', str(2 << 30), '/dev/zero'], stdout=subprocess.PIPE)\n"
    "    stdin = gen.stdout\n"
    "r = subprocess.run(sys.argv[2:], stdin=stdin, stdout=subprocess.DEVNULL)\n"
    "stdin.close()\n"
    "if gen: gen.wait()\n"
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)

# Fixed overhead allowed on top of memcap: the RSS of the same command on a 1-byte input
# (interpreter, NumPy, the extension, oneTBB; ~29 MB here) plus 16 MiB for thread stacks,
# allocator arenas and page-granular rounding of the pooled buffers.
SLACK_KIB = 16 << 10


def _peak_rss_kib(stdin, *args) -> int:
    """Peak RSS in KiB of the CLI (and of `head` for a generated stream, which is tiny)."""
    r = subprocess.run([sys.executable, "-c", _RSS, str(stdin), *CLI, *map(str, args)],
                       capture_output=True, timeout=300)
    code, kib = r.stdout.split()
    assert int(code) == 0, r.stderr
    return int(kib)


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_peak_rss_respects_memcap_on_2gb_input(tmp_path, sparse_2g, source):
    """2 GiB in, 4 GiB of uint16 ids out to /dev/null, memcap 64 MB.

    file: the mapped path (consumed pages unmapped); stdin: the buffered read() path from a pipe.
    Would fail if the input were held whole (2 GiB) or the output collected (4 GiB)."""
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"x")
    memcap = 64 * 10**6
    flags = ["--output", "-", "--memcap", "64MB", "--quiet"]
    base = _peak_rss_kib(tiny, "--input", "-", *flags)
    if source == "file":
        peak = _peak_rss_kib(tiny, "--input", sparse_2g, *flags)
    else:
        peak = _peak_rss_kib("-", "--input", "-", *flags)
    assert peak <= base + memcap // 1024 + SLACK_KIB, (base, peak)


def test_error_from_cleanup_during_ctrl_c_reports_the_interrupt(capsys):
    # A Ctrl-C that lands inside a library's clean-up can surface as that clean-up's own error
    # (zipfile did this: "Can't close the ZIP file while there is an open writing handle").
    # The user pressed Ctrl-C, so the exit is 130 and the one line says so.
    from blt.cli import _run_reporting

    def work(progress):
        try:
            raise KeyboardInterrupt
        finally:
            raise ValueError("clean-up failed")

    def plain_error(progress):
        raise ValueError("bad bytes at 12")

    args = argparse.Namespace(quiet=True)
    assert _run_reporting(args, work, str) == 130
    assert capsys.readouterr().err == "blt-tokenize: interrupted\n"
    assert _run_reporting(args, plain_error, str) == 1
    assert capsys.readouterr().err == "blt-tokenize: error: bad bytes at 12\n"

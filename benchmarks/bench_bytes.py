"""Byte tokenizer throughput: in-memory encode vs NumPy and memcpy; tokenize_file vs cp.

Writes the "bytes" section of benchmarks/RESULTS.md. Run: .venv/bin/python benchmarks/bench_bytes.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, git_rev, machine, mbps, median_time, write_section  # noqa: E402

import blt  # noqa: E402

FILE_BYTES = 200 * 10**6
FILE_RUNS = 7


def corpus_bytes() -> bytes:
    files = sorted(CORPUS.glob("*.txt"))
    if not files:
        raise SystemExit(f"corpus not found in {CORPUS} (set BLT_SHARED_DIR)")
    return b"".join(p.read_bytes() for p in files)


def interleaved_times(cases: dict, outputs: list, runs: int) -> dict:
    """Wall times of each case, runs interleaved so that load changes hit every case alike.

    Before each timed run the outputs of earlier runs are deleted and dirty pages are flushed
    (os.sync), so no run pays for another's writeback; one untimed warm-up run per case first.
    """
    times = {k: [] for k in cases}
    for r in range(runs + 1):
        for name, fn in cases.items():
            for p in outputs:
                p.unlink(missing_ok=True)
            os.sync()
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    for p in outputs:
        p.unlink(missing_ok=True)
    return times


SWEEP_SIZES = [1 << 10, 16 << 10, 256 << 10, 4 << 20, 64 << 20, 1 << 30]


def size_sweep(data: bytes) -> list[str]:
    """encode against NumPy's astype(uint16) + 4 at every input size from 1 KB to 1 GB (each a
    prefix of the corpus repeated): medians of interleaved rounds, calls per round so that one
    round takes about 50 ms."""
    tok = blt.ByteTokenizer(bos=False, eos=False)
    rows = []
    for size in SWEEP_SIZES:
        buf = (data * (size // len(data) + 1))[:size]
        arr = np.frombuffer(buf, np.uint8)
        calls = max(1, (50 << 20) // (size * 2 + 1) // 10)
        fns = {"blt": lambda: tok.encode(buf), "numpy": lambda: arr.astype(np.uint16) + 4}
        times: dict = {k: [] for k in fns}
        rounds = 7 if size < (256 << 20) else 3
        for r in range(rounds + 1):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                if r:  # the first round warms up
                    times[name].append((time.perf_counter() - t0) / calls)
        t_blt, t_np = statistics.median(times["blt"]), statistics.median(times["numpy"])
        label = f"{size >> 30} GB" if size >= 1 << 30 else f"{size >> 20} MB" if size >= 1 << 20 else f"{size >> 10} KB"
        rows.append(f"| {label} | {mbps(size, t_blt):.0f} | {mbps(size, t_np):.0f} | {t_np / t_blt:.2f}x |")
        del buf, arr
    return rows


def bpe_size_sweep(data: bytes, vocab: str = "cl100k_base", rounds: int = 3) -> list[str]:
    """BPE encode_ordinary at every input size from 1 KB to 1 GB, one thread, against its own
    speed at 16 KB: a large input must not cost more per byte than small ones (issue 16). Every
    size encodes the same text, the corpus's text files cut into consecutive slices of that size
    (repeated to reach 64 MB and 1 GB), so only the size of each call differs, not the text or how
    warm the caches are. Each round runs every size once (interleaved, so a change of the machine's
    load hits all sizes alike); process CPU time, medians of the rounds."""
    enc = blt.get_encoding(vocab, vocab_dir=str(VOCAB))

    def slices(size: int) -> list[bytes]:
        text = data if size <= len(data) else (data * (size // len(data) + 1))[:size]
        return [text[i:i + size] for i in range(0, len(text) - size + 1, size)]

    times: dict = {size: [] for size in SWEEP_SIZES}
    nbytes = {}
    for r in range(rounds + 1):
        for size in SWEEP_SIZES:
            parts = slices(size)
            nbytes[size] = sum(map(len, parts))
            t0 = time.process_time()
            for piece in parts:
                enc.encode_ordinary(piece)
            if r:  # the first round warms up
                times[size].append(time.process_time() - t0)
            del parts
    speed = {size: mbps(nbytes[size], statistics.median(t)) for size, t in times.items()}
    ref = speed[16 << 10]
    rows = []
    for size, v in speed.items():
        label = f"{size >> 30} GB" if size >= 1 << 30 else f"{size >> 20} MB" if size >= 1 << 20 else f"{size >> 10} KB"
        rows.append(f"| {label} | {v:.1f} | {v / ref:.2f}x |")
    return rows


def main() -> None:
    data = corpus_bytes()
    n = len(data)
    tok = blt.ByteTokenizer(bos=False, eos=False)
    rows = []

    # In-memory encode of the whole corpus into a new uint16 array.
    t_blt = median_time(lambda: tok.encode(data), runs=21)
    t_np = median_time(lambda: np.frombuffer(data, np.uint8).astype(np.uint16) + 4, runs=21)
    src16 = np.ones(n, np.uint16)
    dst16 = np.empty(n, np.uint16)
    t_copy = median_time(lambda: np.copyto(dst16, src16), runs=21)
    rows.append(("encode (in memory, uint16)", n, t_blt, "-"))
    rows.append(("NumPy `frombuffer(...).astype(uint16) + 4`", n, t_np, f"encode is {t_np / t_blt:.2f}x NumPy's speed (target >= 1.5x)"))
    rows.append(("memcpy of the output size (`np.copyto`, preallocated)", n, t_copy, f"encode takes {t_blt / t_copy:.2f}x memcpy's time"))

    # tokenize_file on a ~200 MB file vs cp of the same file, page cache warm, same directory.
    with tempfile.TemporaryDirectory(dir=os.environ.get("BLT_BENCH_TMP")) as d:
        src = Path(d) / "corpus200.txt"
        with open(src, "wb") as f:
            written = 0
            while written < FILE_BYTES:
                f.write(data)
                written += n
        size = src.stat().st_size
        dst = Path(d) / "out.bin"
        cp_dst = Path(d) / "copy.txt"

        big = Path(d) / "outsize.bin"  # as large as the uint16 output: 2 bytes per input byte
        with open(big, "wb") as f:
            f.write(src.read_bytes())
            f.write(src.read_bytes())
        outputs = [dst, cp_dst, Path(d) / "outsize.copy", Path(d) / "floor.bin"]
        block = np.frombuffer(data[: 2 << 20], np.uint8).copy()  # one 2 MiB block, as the writer uses

        def write_floor() -> None:
            # The least any tokenizer can do: write() the output's bytes, taken from memory, to a
            # new file through the page cache, in the pipeline's 2 MiB blocks. No reading, no encoding.
            with open(outputs[3], "wb", buffering=0) as f:
                left = 2 * size
                while left:
                    left -= f.write(memoryview(block)[: min(left, block.size)])

        cases = {
            "cp": lambda: subprocess.run(["cp", str(src), str(cp_dst)], check=True),
            "cp_big": lambda: subprocess.run(["cp", str(big), str(outputs[2])], check=True),
            "floor": write_floor,
            "tf1": lambda: blt.tokenize_file(src, dst, num_threads=1),
            "tfn": lambda: blt.tokenize_file(src, dst, num_threads=cores),
        }
        cores = blt._core.usable_cores()
        times = interleaved_times(cases, outputs, runs=FILE_RUNS)
        big.unlink()
        t_cp, t_cp_big, t_floor = (statistics.median(times[k]) for k in ("cp", "cp_big", "floor"))
        t_tf1, t_tfn = statistics.median(times["tf1"]), statistics.median(times["tfn"])
        rows.append((f"`cp` of the {size / 1e6:.0f} MB file", size, t_cp, "-"))
        rows.append((f"`cp` of a {2 * size / 1e6:.0f} MB file (the size of the uint16 output)", 2 * size, t_cp_big,
                     f"{t_cp_big / t_cp:.2f}x cp time"))
        rows.append((f"write() of {2 * size / 1e6:.0f} MB from memory in 2 MiB blocks (the output's bytes, no encoding)",
                     size, t_floor, f"{t_floor / t_cp:.2f}x cp time: the floor for a uint16 output"))
        rows.append(("tokenize_file, 1 thread (uint16 .bin: writes 2x the bytes of cp)", size, t_tf1,
                     f"{t_tf1 / t_cp:.2f}x cp time (target <= 1.3x), {t_tf1 / t_cp_big:.2f}x output-size cp"))
        rows.append((f"tokenize_file, {cores} threads", size, t_tfn,
                     f"{t_tfn / t_cp:.2f}x cp time, {t_tfn / t_cp_big:.2f}x output-size cp"))

    lines = [
        "## Byte tokenizer (bench_bytes.py)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_bytes.py` at {git_rev()}; {machine()}; "
        f"SIMD kernel: {blt._core.simd_arch()}. Median of 21 (in-memory) or {FILE_RUNS} (file) runs after "
        f"one warm-up; corpus = all of shared/corpus/*.txt ({n / 1e6:.1f} MB); file runs write to a temp "
        "dir on the same disk with a warm page cache, interleaved case by case, each after os.sync() "
        "with earlier outputs deleted (untimed). Targets: encode >= 1.5x NumPy; tokenize_file "
        "<= 1.3x cp time.",
        "",
        "| case | MB in | seconds | MB/s | relative |",
        "|---|---:|---:|---:|---|",
    ]
    for name, nbytes, secs, rel in rows:
        lines.append(f"| {name} | {nbytes / 1e6:.1f} | {secs:.4f} | {mbps(nbytes, secs):.0f} | {rel} |")
    lines += [
        "",
        "Every input size, in memory (uint16 ids, no BOS/EOS): MB/s of blt `encode` and of NumPy "
        "`frombuffer(...).astype(uint16) + 4`, medians of 7 interleaved rounds (3 at 1 GB). Outputs "
        "from 4 MiB are allocated with 2 MiB alignment and `MADV_HUGEPAGE`, as NumPy does. Target: "
        ">= 1.5x NumPy at every size.",
        "",
        "| input | blt MB/s | NumPy MB/s | blt / NumPy |",
        "|---|---:|---:|---:|",
        *size_sweep(data),
        "",
        "BPE at every input size: cl100k_base `encode_ordinary`, one thread, on the same text (the "
        "corpus's text files, cut into slices of each size; repeated for 64 MB and 1 GB), MB/s of "
        "process CPU time (medians of 3 rounds, sizes interleaved) and relative to its speed at 16 KB (target: a large input costs no more per byte than a small "
        "one, >= 1.0x within noise):",
        "",
        "| input | MB/s | vs 16 KB |",
        "|---|---:|---:|",
        *bpe_size_sweep(data),
    ]
    text = "\n".join(lines)
    write_section("bytes", text)
    print(text)


if __name__ == "__main__":
    main()

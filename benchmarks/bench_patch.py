"""BLT patching throughput: each patcher, the n-gram entropy model and hash n-gram ids, on one
thread and on all threads, next to plain NumPy versions of the same rules; plus the entropy
model's bits per byte and patch sizes. Writes the "bench_patch" section of RESULTS.md.

Run: .venv/bin/python benchmarks/bench_patch.py
     .venv/bin/python benchmarks/bench_patch.py --file-pipeline [MB]   (that section only)

The file-pipeline section ("bench_patch_pipeline") makes a file of at least 200 MB in a
temporary folder (removed after) and runs tokenize_file into .npy / .npz with 1 and 2 threads:
plain ids, ids + entropy patches, ids + patches + 6 hash sizes; beside each, every step's own
MB/s per thread from TokenizeStats.stage_times, the steps' isolated speeds, and the path patched
files took before the patch stage (ids spooled by the pipeline, one PatchStream over them).
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

import blt
from _results import CORPUS, VOCAB, git_rev, machine, mbps, median_time, write_section

DOC_BYTES = 64 << 10  # the corpus is patched as a batch of 64 KB documents
NUMPY_BYTES = 1 << 20  # NumPy versions run on the first 1 MB (they are slow)
THRESHOLD = 1.335442066192627


# --- NumPy versions of the rules (one sequence at a time, vectorised) -------------------------

def np_lengths(starts: np.ndarray, total: int) -> np.ndarray:
    starts = starts[starts < total]
    return np.diff(np.append(starts, total)).astype(np.int32)


def np_static(ids, size=4):
    return np_lengths(np.concatenate([[0], np.arange(1, len(ids), size)]), len(ids))


def np_space(ids):
    b = ids.astype(np.int64) - 4
    end = ((b < 48) | ((57 < b) & (b < 65)) | ((90 < b) & (b < 97)) | ((122 < b) & (b < 128)) | (b >= 192))
    end[1:] &= ~end[:-1].copy()
    end |= ids < 4
    start = np.concatenate([[True, True], end[1:]])
    return np_lengths(np.nonzero(start)[0], len(ids))


def np_bpe(ids):
    return np_lengths(np.concatenate([[0, 1], np.nonzero(ids[:-1] == 3)[0] + 1]), len(ids))


def np_entropy(h):
    return np_lengths(np.concatenate([[0, 1], np.nonzero(h[1:-1] > THRESHOLD)[0] + 2]), len(h))


def np_hash(ids, sizes=range(3, 9), prime=1000000007, max_hash=500002):
    x = ids.astype(np.int64)
    out = np.empty((len(ids), len(sizes)), dtype=np.int64)
    for c, n in enumerate(sizes):
        padded = np.concatenate([np.zeros(n - 1, dtype=np.int64), x])
        windows = np.lib.stride_tricks.sliding_window_view(padded, n)
        powers = np.array([pow(prime, k, 2**64) for k in range(n)], dtype=np.uint64).view(np.int64)
        out[:, c] = (windows * powers).sum(axis=1) % max_hash
    return out


def median_cpu(fn, runs: int = 3) -> float:
    """Median CPU time of fn() in this thread (single-threaded calls run here): robust against
    other processes sharing the cores, unlike wall time."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return sorted(times)[len(times) // 2]


def np_entropies(ids, keys, ent, order, reset_bytes=(10,)):
    """The n-gram model's entropy lookup in NumPy: packed context keys (see
    EntropyModel.context_table), then a sorted search per back-off level."""
    ids = ids.astype(np.int64)
    special = (ids < 4) | (ids >= 260)
    code = np.where(special, 257, ids - 3).astype(np.uint64)
    resets = special.copy()
    for b in reset_bytes:
        resets |= ids == b + 4
    key = code << np.uint64(36)
    ok = np.ones(len(ids), dtype=bool)
    for j in range(1, order - 1):
        ok &= np.concatenate([np.zeros(j - 1, dtype=bool), ~resets[: len(ids) - j + 1]])[: len(ids)]
        ok &= np.arange(len(ids)) >= j
        older = np.concatenate([np.zeros(j, dtype=np.uint64), code[: len(ids) - j]])
        key |= np.where(ok, older << np.uint64(36 - 9 * j), np.uint64(0))
    out = np.zeros(len(ids), dtype=np.float32)
    todo = np.ones(len(ids), dtype=bool)
    full = (1 << 45) - 1
    for level in range(order - 1, -1, -1):
        mask = np.uint64(full & ~((1 << (45 - 9 * level)) - 1)) if level else np.uint64(0)
        k = key & mask
        idx = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        found = todo & (keys[idx] == k)
        out[found] = ent[idx[found]]
        todo &= ~found
    return out


def per_doc(fn, docs):
    return [fn(d) for d in docs]


def file_patching(model_path: str, out_dir: str, runs: int = 3):
    """File -> .npz (tokenize_file(patch=...), i.e. blt-tokenize --patch) on en_prose.txt, next
    to plain tokenize_file -> .npy; and ByteTokenizer(bpe=cl100k) next to cl100k alone."""
    src = CORPUS / "en_prose.txt"
    size = src.stat().st_size
    out = os.path.join(out_dir, "bench_patch_out")
    rows = [("tokenize_file -> .npy (no patching)",
             mbps(size, median_time(lambda: blt.tokenize_file(src, out + ".npy"), runs=runs)))]
    configs = [("space", {"rule": "space"}), ("entropy (order-4 model)", {"rule": "entropy", "model": model_path}),
               ("bpe (cl100k delimiters)", {"rule": "bpe", "bpe": "cl100k_base", "vocab_dir": str(VOCAB)})]
    for name, cfg in configs:
        rows.append((f"tokenize_file(patch={name}) -> .npz",
                     mbps(size, median_time(lambda: blt.tokenize_file(src, out + ".npz", patch=cfg), runs=runs))))
    data = src.read_bytes()
    enc = blt.get_encoding("cl100k_base", vocab_dir=str(VOCAB))
    delimited = blt.ByteTokenizer(bpe=enc)
    rows.append(("cl100k encode (1 thread)", mbps(size, median_time(lambda: enc.encode(data), runs=runs))))
    rows.append(("ByteTokenizer(bpe=cl100k).encode (1 thread)",
                 mbps(size, median_time(lambda: delimited.encode(data), runs=runs))))
    for ext in (".npy", ".npz"):
        if os.path.exists(out + ext):
            os.unlink(out + ext)
    for name, rate in rows:
        print(f"{name:46s} {rate:9.1f}", flush=True)
    return rows


# --- the file pipeline with the patch stage -------------------------------------------------

HASH6 = {"group_sizes": [3, 4, 5, 6, 7, 8], "hash_functions": 1, "dtype": "int32"}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def serial_patch_path(src: str, dst: str, patcher: blt.Patcher, threads: int) -> None:
    """How a patched .npz was made before the patch stage: the pipeline writes the ids to a spool
    file, one PatchStream patches them in blocks on the calling thread, then the .npz is written."""
    from blt._npz import NpzStreamWriter

    block = 1 << 20
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dst)) as d:
        spool = os.path.join(d, "ids.bin")
        blt.tokenize_file(src, spool, num_threads=threads)
        ids = np.memmap(spool, dtype=np.uint16, mode="r")
        stream = patcher.stream()
        parts = [stream.feed(np.asarray(ids[a:a + block])) for a in range(0, len(ids), block)]
        parts.append(stream.finish())
        lengths = np.concatenate(parts)
        with open(dst, "wb") as f:
            w = NpzStreamWriter(f)
            w.add("ids", np.dtype(np.uint16), len(ids), (np.asarray(ids[a:a + block]) for a in range(0, len(ids), block)))
            w.add("patch_lengths", np.dtype(np.int32), len(lengths), [lengths])
            w.finish()


def write_alone(path: str, nbytes: int, threads: int, block: int = 16 << 20) -> float:
    """Seconds to write nbytes from memory into a new file at `path` with `threads` threads
    (os.pwrite of 16 MB blocks at disjoint offsets; the GIL is released while the kernel copies),
    the file removed after: the floor for the pipeline's ordered writer on this disk."""
    from concurrent.futures import ThreadPoolExecutor
    buf = np.full(block, 7, dtype=np.uint8).tobytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        def part(k: int) -> None:
            for off in range(k * block, nbytes, threads * block):
                os.pwrite(fd, buf[: min(block, nbytes - off)], off)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(part, range(threads)))
        return time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)


def file_pipeline(model: blt.EntropyModel, min_mb: int = 200, runs: int = 3) -> str:
    tmp = tempfile.mkdtemp(prefix="bench_patch_pipeline_")
    try:
        blob = b"".join((CORPUS / n).read_bytes() for n in ("en_prose.txt", "code_python.txt", "multilingual.txt"))
        src = os.path.join(tmp, "input.txt")
        with open(src, "wb") as f:
            written = 0
            while written < min_mb * 1_000_000:
                f.write(blob)
                written += len(blob)
        size = os.path.getsize(src)
        patcher = blt.Patcher.entropy(model)

        # Each step alone, one thread, in memory, on a 20 MB slice (CPU time).
        sample = blob * max(1, 20_000_000 // len(blob))
        ids = blt.ByteTokenizer().encode(sample)
        ent = model.entropies(ids, num_threads=1)
        rule = blt.Patcher.entropy(model)
        own = {
            "encode": mbps(len(sample), median_cpu(lambda: blt.ByteTokenizer().encode(sample), runs=1)),
            "entropy": mbps(len(sample), median_cpu(lambda: model.entropies(ids, num_threads=1), runs=1)),
            "patch": mbps(len(sample), median_cpu(lambda: rule.from_entropies(ent, ids, num_threads=1), runs=1)),
            "hash": mbps(len(sample), median_cpu(lambda: blt.hash_ngrams(ids, group_sizes=HASH6["group_sizes"],
                                                                        num_threads=1), runs=1)),
        }
        print("steps alone (MB/s, 1 thread):", own, flush=True)

        cases = [("plain ids -> .npy", ".npy", {}, ("encode",)),
                ("ids + entropy patches -> .npz", ".npz", {"patch": patcher}, ("encode", "entropy", "patch")),
                ("ids + entropy patches + 6 hash sizes (int32) -> .npz", ".npz",
                 {"patch": patcher, "hash_ngrams": HASH6}, ("encode", "entropy", "patch", "hash"))]
        rows = []
        for name, ext, kw, steps in cases:
            samples: dict = {1: [], 2: []}
            # An untimed run first: the first multi-GB write of a process is several times slower
            # (the kernel finds the page cache for it), which would count against whichever thread
            # count came first. Then 1 and 2 threads alternate, `runs` times each.
            warm = os.path.join(tmp, "warm" + ext)
            blt.tokenize_file(src, warm, num_threads=2, **kw)
            out_bytes = os.path.getsize(warm)
            os.unlink(warm)
            for _ in range(runs):
                for threads in (1, 2):
                    out = os.path.join(tmp, "out" + ext)
                    c0, t0 = cpu_seconds(), time.perf_counter()
                    r = blt.tokenize_file(src, out, num_threads=threads, **kw)
                    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                    os.unlink(out)
                    samples[threads].append((wall, cpu, r))
                    print(name, threads, f"{size / wall / 1e6:.1f} MB/s wall, {cpu:.2f} s CPU",
                          r.stage_report().replace("\n", "; "), flush=True)
            per_thread = {t: sorted(v, key=lambda x: x[0])[len(v) // 2] for t, v in samples.items()}
            # Writing the output's bytes alone, 1 and 2 threads into one file (medians).
            wr = {t: float(np.median([write_alone(os.path.join(tmp, "write_alone"), out_bytes, t)
                                      for _ in range(runs)])) for t in (1, 2)}
            print(name, f"output {out_bytes / 1e6:.0f} MB, written alone in {wr[1]:.3f} s (1 thread), "
                  f"{wr[2]:.3f} s (2 threads)", flush=True)
            sum_own = sum(size / 1e6 / own[s] for s in steps)
            rows.append((name, per_thread, sum_own, out_bytes, wr))
        old_runs: dict = {1: [], 2: []}
        for _ in range(runs):
            for threads in (1, 2):
                out = os.path.join(tmp, "old.npz")
                t0 = time.perf_counter()
                serial_patch_path(src, out, patcher, threads)
                old_runs[threads].append(time.perf_counter() - t0)
                os.unlink(out)
                print("serial path", threads, f"{size / old_runs[threads][-1] / 1e6:.1f} MB/s", flush=True)
        old = {t: float(np.median(v)) for t, v in old_runs.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    md = [f"Command: `.venv/bin/python benchmarks/bench_patch.py --file-pipeline {min_mb}` (git {git_rev()})",
          f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}",
          "",
          f"Input: {size / 1e6:.0f} MB file (en_prose + code_python + multilingual repeated) in a temporary "
          f"folder; output .npy / .npz beside it, writes included; after an untimed run, 1 and 2 threads "
          f"alternate {runs} times, medians. MB/s = 10^6 input bytes "
          "per second. Entropy patches: order-4 model trained on en_prose.txt, default threshold. "
          "Hash ids: sizes 3-8, one function, int32. 'CPU s' is the process's user + system time; "
          "'steps' gives each step's busy time as MB/s per thread (TokenizeStats.stage_times). "
          "'write alone': writing as many bytes as the output from memory into one new file in the same "
          "folder (os.pwrite of 16 MB blocks; with 2 threads at disjoint offsets), medians: the floor for "
          "the graph's one ordered writer, and whether a second writer thread could help.",
          "",
          "Each step alone (1 thread, in memory, CPU time, 20 MB): " +
          ", ".join(f"{k} {v:.0f} MB/s" for k, v in own.items()),
          "",
          "| run | output MB | 1 thread MB/s (wall) | 1 thread CPU s | 2 threads MB/s (wall) | 2 threads CPU s | 2 / 1 threads | "
          "write alone, s (1 / 2 threads) | sum of steps alone, s (in memory + write alone) | 1 thread s | steps (2 threads), MB/s per thread |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, pt, sum_own, out_bytes, wr in rows:
        (w1, c1, _), (w2, c2, r2) = pt[1], pt[2]
        steps = ", ".join(f"{n} {size / s / 1e6:.0f}" for n, s in r2.stage_times if s > 0)
        md.append(f"| {name} | {out_bytes / 1e6:.0f} | {size / w1 / 1e6:.1f} | {c1:.2f} | {size / w2 / 1e6:.1f} | {c2:.2f} | "
                  f"{w1 / w2:.2f}x | {wr[1]:.3f} / {wr[2]:.3f} | {sum_own:.2f} + {wr[1]:.2f} = {sum_own + wr[1]:.2f} | "
                  f"{w1:.2f} | {steps} |")
    md += ["",
           f"Before the patch stage (ids spooled by the pipeline, then one PatchStream, then the .npz): "
           f"{size / old[1] / 1e6:.1f} MB/s with 1 thread, {size / old[2] / 1e6:.1f} MB/s with 2 (medians of {runs}); the patch "
           f"stage with 2 threads is {old[2] / rows[1][1][2][0]:.2f}x that."]
    plain = rows[0]
    md += ["",
           f"Plain ids: writing the output's {plain[3] / 1e6:.0f} MB alone takes {plain[4][1]:.3f} s with one "
           f"thread and {plain[4][2]:.3f} s with two (the 1-thread run takes {plain[1][1][0]:.3f} s in all), so on "
           f"this machine 2 threads cannot run faster than {plain[1][1][0] / min(plain[4].values()):.2f}x of 1 "
           f"however the graph orders its work."]
    text = "\n".join(md)
    write_section("bench_patch_pipeline", text)
    print(text)
    return text


# ---------------------------------------------------------------------------------------------

def main() -> None:
    if "--file-pipeline" in sys.argv:
        i = sys.argv.index("--file-pipeline")
        mb = int(sys.argv[i + 1]) if len(sys.argv) > i + 1 else 200
        model = blt.EntropyModel.train([(CORPUS / "en_prose.txt").read_bytes()], order=4)
        file_pipeline(model, mb)
        return
    data = (CORPUS / "en_prose.txt").read_bytes()
    cut = int(len(data) * 0.9)
    train, held_out = data[:cut], data[cut:]
    corpus = b"".join((CORPUS / n).read_bytes() for n in ("en_prose.txt", "code_python.txt", "multilingual.txt"))
    tok = blt.ByteTokenizer()
    docs = [tok.encode(corpus[a : a + DOC_BYTES]) for a in range(0, len(corpus), DOC_BYTES)]
    batch = blt.RaggedIds(np.concatenate(docs), np.concatenate([[0], np.cumsum([len(d) for d in docs])]))
    n = len(batch.ids)
    cores = blt._core.usable_cores()

    t0 = time.perf_counter()
    model = blt.EntropyModel.train([train], order=4)
    train_s = time.perf_counter() - t0
    ent = model.entropies(batch, num_threads=1)
    np_docs = [d for d in docs[: max(1, NUMPY_BYTES // DOC_BYTES)]]
    np_n = sum(len(d) for d in np_docs)
    np_ent = [model.entropies(d) for d in np_docs]

    rows = []

    def row(name, fn, np_fn=None):
        one = mbps(n, median_time(lambda: fn(1), runs=3))
        cpu = mbps(n, median_cpu(lambda: fn(1)))
        alln = mbps(n, median_time(lambda: fn(None), runs=3))
        nps = mbps(np_n, median_cpu(np_fn, runs=1)) if np_fn else None
        rows.append((name, one, cpu, alln, nps))
        print(f"{name:42s} {one:9.1f} {cpu:9.1f} {alln:9.1f} {'' if nps is None else f'{nps:9.1f}'}", flush=True)

    row("byte patcher", lambda t: blt.Patcher.byte().patch(batch, num_threads=t))
    row("static(4) patcher", lambda t: blt.Patcher.static(4).patch(batch, num_threads=t),
        lambda: per_doc(np_static, np_docs))
    row("space patcher", lambda t: blt.Patcher.space().patch(batch, num_threads=t),
        lambda: per_doc(np_space, np_docs))
    row("bpe patcher (delimiter ids)", lambda t: blt.Patcher.bpe().patch(batch, num_threads=t),
        lambda: per_doc(np_bpe, np_docs))
    p_rule = blt.Patcher.entropy()
    row("entropy rule on given entropies", lambda t: p_rule.from_entropies(ent, num_threads=t),
        lambda: per_doc(np_entropy, np_ent))
    keys, kent = model.context_table()
    for d in np_docs[:4]:  # the NumPy lookup is a faithful copy of the model
        np.testing.assert_array_equal(np_entropies(d, keys, kent, 4), model.entropies(d))
    row("EntropyModel.entropies (order 4)", lambda t: model.entropies(batch, num_threads=t),
        lambda: per_doc(lambda d: np_entropies(d, keys, kent, 4), np_docs))
    p_model = blt.Patcher.entropy(model)
    row("entropy patching with order-4 model", lambda t: p_model.patch(batch, num_threads=t),
        lambda: per_doc(lambda d: np_entropy(np_entropies(d, keys, kent, 4)), np_docs))
    row("hash_ngrams (sizes 3-8, 1 function)", lambda t: blt.hash_ngrams(batch.ids, num_threads=t),
        lambda: per_doc(np_hash, np_docs))
    buf = np.empty((n, 6), dtype=np.int64)
    row("hash_ngrams into a reused out= array", lambda t: blt.hash_ngrams(batch.ids, num_threads=t, out=buf),
        lambda: per_doc(np_hash, np_docs))

    model_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".bench_patch_model.bin")
    model.save(model_path)
    try:
        file_rows = file_patching(model_path, os.path.dirname(model_path))
    finally:
        os.unlink(model_path)

    # Entropy model quality and patch sizes
    quality = []
    held_ids = tok.encode(held_out)
    for order in range(1, 7):
        t0 = time.perf_counter()
        m = model if order == 4 else blt.EntropyModel.train([train], order=order)
        secs = train_s if order == 4 else time.perf_counter() - t0
        bpb = m.bits_per_byte(held_out)
        bpb_reset = m.bits_per_byte(held_out, reset_context_at=["\n"])
        lengths = blt.Patcher.entropy(m).patch(held_ids)
        quality.append((order, m.n_contexts, secs, bpb, bpb_reset, len(held_ids) / len(lengths)))
        print(quality[-1], flush=True)
    calib = []
    sample = train[-500_000:]
    for target in (3.0, 4.5, 6.0, 8.0):
        p = blt.Patcher.calibrate(model, sample, target)
        lengths = p.patch(held_ids)
        calib.append((target, p.threshold, len(held_ids) / len(lengths)))
        print(calib[-1], flush=True)

    md = [f"Command: `.venv/bin/python benchmarks/bench_patch.py` (git {git_rev()})",
          f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}",
          "",
          f"Input: {n / 1e6:.1f} MB of BLT ids (en_prose + code_python + multilingual) as a batch of "
          f"{len(docs)} documents of 64 KB; NumPy versions on the first {np_n / 1e6:.1f} MB, one "
          "document at a time. MB/s = 10^6 input ids per second (median of 3).",
          "",
          "Wall-clock columns depend on what else runs on the machine; the CPU-time column (thread "
          "CPU time of the single-threaded call) does much less. NumPy is timed by CPU time too. "
          "The NumPy entropy model looks up the same context table (EntropyModel.context_table) "
          "with vectorised key packing and np.searchsorted per back-off level; its output is "
          "checked equal to the model's before timing.",
          "",
          "| operation | blt 1 thread MB/s (wall) | blt 1 thread MB/s (CPU time) | blt all threads MB/s (wall) | NumPy MB/s (CPU time) | blt vs NumPy (CPU time) |",
          "|---|---:|---:|---:|---:|---:|"]
    for name, one, cpu, alln, nps in rows:
        ratio = f"{cpu / nps:.0f}x" if nps else "-"
        md.append(f"| {name} | {one:.1f} | {cpu:.1f} | {alln:.1f} | {'-' if nps is None else f'{nps:.1f}'} | {ratio} |")
    md += ["",
           f"Files ({(CORPUS / 'en_prose.txt').stat().st_size / 1e6:.1f} MB en_prose.txt, all threads, "
           "wall clock, median of 3; MB/s = 10^6 input bytes per second). Patching a file runs "
           "the pipeline into a spool, then one PatchStream over the ids in blocks, then writes "
           "the .npz (docs/patch.md):",
           "",
           "| operation | MB/s |",
           "|---|---:|"]
    for name, rate in file_rows:
        md.append(f"| {name} | {rate:.1f} |")
    md += ["",
           f"Entropy model: trained on the first 90% of en_prose.txt ({cut / 1e6:.1f} MB), evaluated "
           f"on the last 10% ({len(held_out) / 1e6:.2f} MB). Order n uses n-1 bytes of context "
           "(order 1 = unigram, the 'order-0 context' baseline). Witten-Bell interpolation.",
           "",
           "| order | contexts | train s | bits/byte | bits/byte (reset at \\n) | bytes/patch at threshold 1.3354 |",
           "|---:|---:|---:|---:|---:|---:|"]
    for order, ctxs, secs, bpb, bpbr, size in quality:
        md.append(f"| {order} | {ctxs} | {secs:.2f} | {bpb:.3f} | {bpbr:.3f} | {size:.2f} |")
    md += ["",
           "Calibrated thresholds (order 4, `Patcher.calibrate` on 0.5 MB of training text, "
           "patch size measured on the held-out text):",
           "",
           "| target bytes/patch | threshold (nats) | held-out bytes/patch |",
           "|---:|---:|---:|"]
    for target, thr, size in calib:
        md.append(f"| {target} | {thr:.4f} | {size:.2f} |")
    write_section("bench_patch", "\n".join(md))
    print("\n".join(md))
    file_pipeline(model)


if __name__ == "__main__":
    main()

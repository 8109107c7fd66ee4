"""BPE training: blt.train_bpe against HF tokenizers' BpeTrainer, same split, same threads.

Both train byte-level BPE with the GPT-2 split on the same files: HF with a ``ByteLevel``
pre-tokenizer and alphabet, blt with ``hf_compatible=True`` (which learns the same merges). Each
training runs in a fresh subprocess, which reports its wall time and its peak RSS
(``ru_maxrss``: the interpreter and imports included, for both). Pre-tokenizing time: for blt,
``blt.train.count_pieces`` alone (read, split, count); for HF, the same ``train()`` call with
``vocab_size=257`` (read, split, count words and pairs; no merge), in their own subprocesses.

Corpora: the four text files of shared/corpus (about 16 MB), and one file repeating them to
200 MB (written to a temporary directory first; not timed).

Usage: ``python benchmarks/bench_train.py [--threads N] [--vocab 32000,100000] [--no-write]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from _results import CORPUS, git_rev, machine, write_section

REPEAT_BYTES = 200 * 10**6


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, vocab: int, files: List[str], threads: int) -> Dict[str, Any]:
    """One measurement, in this (fresh) process."""
    t0 = time.perf_counter()
    model_json: Callable[[], str] = str
    if kind in ("hf", "hf-pretokenize"):
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(vocab_size=257 if kind == "hf-pretokenize" else vocab, min_frequency=2,
                                      show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        t0 = time.perf_counter()
        tok.train(files, trainer)
        n = tok.get_vocab_size()
        model_json = tok.to_str
    elif kind == "blt-pretokenize":
        from blt.train import count_pieces

        t0 = time.perf_counter()
        n = count_pieces(files, pattern="gpt2", num_threads=threads, split_lines=True).n_pieces
    else:
        import blt

        t0 = time.perf_counter()
        enc = blt.train_bpe(files, vocab, pattern="gpt2", hf_compatible=kind == "blt", num_threads=threads,
                            progress=False)
        n = enc.n_vocab

        def model_json() -> str:
            with tempfile.TemporaryDirectory() as d:
                enc.save(Path(d) / "tokenizer.json", format="hf")
                return (Path(d) / "tokenizer.json").read_text(encoding="utf-8")
    out: Dict[str, Any] = {"seconds": time.perf_counter() - t0, "rss_mb": _peak_rss_mb(), "n": n}
    if kind in ("hf", "blt"):  # after the measurements: a digest of the learned vocab and merges
        model = json.loads(model_json())["model"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        out["digest"] = hashlib.sha256(json.dumps([sorted(model["vocab"].items()), merges]).encode()).hexdigest()
    return out


def run_worker(kind: str, vocab: int, files: List[str], threads: int) -> Dict[str, Any]:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--vocab", str(vocab), "--threads",
                          str(threads), "--files", *files], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def repeated_corpus(files: List[Path], directory: Path) -> Path:
    data = b"".join(f.read_bytes() for f in files)
    path = directory / "corpus_200MB.txt"
    with open(path, "wb") as f:
        written = 0
        while written < REPEAT_BYTES:
            f.write(data)
            written += len(data)
    return path


def memcap_cost(files: List[str], vocab: int, threads: int) -> List[str]:
    """Rows: memcap as a fraction of the unpruned piece table, the pruning threshold reached, and
    bytes per token on the corpus against training without a cap."""
    import blt
    from blt.train import count_pieces

    full = count_pieces(files, pattern="gpt2", num_threads=threads).memory_bytes
    texts = [Path(f).read_text(encoding="utf-8") for f in files]
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    rows, base = [], 0.0
    for fraction in (None, 0.5, 0.25, 0.125):
        cap = None if fraction is None else int(full * fraction)
        threshold = 0 if cap is None else count_pieces(files, pattern="gpt2", memcap=cap,
                                                       num_threads=threads).prune_threshold
        enc = blt.train_bpe(files, vocab, pattern="gpt2", memcap=cap, num_threads=threads, progress=False)
        bpt = n_bytes / sum(len(ids) for ids in enc.encode_batch(texts))
        base = base or bpt
        label = "none" if cap is None else f"{fraction:g} x table ({cap / 1e6:.1f} MB)"
        rows.append(f"| {label} | {threshold} | {bpt:.4f} | {100 * (bpt / base - 1):+.2f}% |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab", default="32000,100000")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    ap.add_argument("--text-only", action="store_true", help="skip the 200 MB repetition")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    vocabs = [int(v) for v in args.vocab.split(",")]
    if args.worker:
        print(json.dumps(worker(args.worker, vocabs[0], args.files, args.threads)))
        return

    texts = sorted(CORPUS.glob("*.txt"))
    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        corpora = [("text corpus", [str(f) for f in texts])]
        if not args.text_only:
            corpora.append(("200 MB repetition", [str(repeated_corpus(texts, Path(tmp)))]))
        load = os.getloadavg()[0]
        rows = []
        for label, files in corpora:
            size = sum(os.path.getsize(f) for f in files)
            pre = {k: run_worker(k, 0, files, args.threads) for k in ("blt-pretokenize", "hf-pretokenize")}
            for vocab in vocabs:
                hf = run_worker("hf", vocab, files, args.threads)
                mine = run_worker("blt", vocab, files, args.threads)
                rows.append((label, size, vocab, mine, hf, pre))
                print(label, vocab, "blt", mine, "hf", hf, flush=True)

    lines = [
        "## BPE training (bench_train.py)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_train.py --threads {args.threads} --vocab {args.vocab}` at "
        f"{git_rev()}; {machine()}; load average at start {load:.1f}. One run per cell (each in a fresh "
        "subprocess), GPT-2 split, min_frequency 2: HF `BpeTrainer` with a `ByteLevel` pre-tokenizer and "
        "alphabet (`RAYON_NUM_THREADS` = threads) against `blt.train_bpe(..., hf_compatible=True, "
        "num_threads=threads)`, which learns the same merges. Peak RSS is the subprocess's `ru_maxrss` "
        "(Python, imports and the trainer). Pre-tokenize: blt's `count_pieces` alone; HF's `train()` at "
        "vocab_size 257 (reading, splitting, counting words and pairs, no merges). Targets: >= 3x faster, "
        "<= 0.5x peak RSS.",
        "",
        "| corpus | vocab | blt s | HF s | speed-up | blt pre-tokenize s | HF pre-tokenize s | blt peak RSS MB "
        "| HF peak RSS MB | RSS ratio | same vocab and merges |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, size, vocab, mine, hf, pre in rows:
        lines.append(
            f"| {label} ({size / 1e6:.0f} MB) | {vocab:,} | {mine['seconds']:.2f} | {hf['seconds']:.2f} "
            f"| {hf['seconds'] / mine['seconds']:.1f}x | {pre['blt-pretokenize']['seconds']:.2f} "
            f"| {pre['hf-pretokenize']['seconds']:.2f} | {mine['rss_mb']:.0f} | {hf['rss_mb']:.0f} "
            f"| {mine['rss_mb'] / hf['rss_mb']:.2f} | {'yes' if mine['digest'] == hf['digest'] else 'NO'} |")
    lines += [
        "",
        f"memcap cost (blt default mode, text corpus, vocab {vocabs[0]:,}, files pre-tokenized whole; bytes "
        "per token measured on the training corpus; the unpruned piece table is "
        "`count_pieces(...).memory_bytes`): pieces seen fewer than the threshold times were dropped.",
        "",
        "| memcap | pruning threshold | bytes/token | vs no cap |",
        "|---|---:|---:|---:|",
        *memcap_cost([str(f) for f in texts], vocabs[0], args.threads),
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("bench_train", table)


if __name__ == "__main__":
    main()

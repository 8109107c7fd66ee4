"""BPE throughput of blt against tiktoken, HF tokenizers, tokendagger and bpe-openai.

Run: `make bench` (all benchmarks) or `.venv/bin/python benchmarks/bench_bpe.py` (this one).
Writes the `bench_bpe` section of benchmarks/RESULTS.md.

Each library runs in its own subprocess (same corpus, same vocabulary files from ../shared/vocab),
so peak RSS is per library and thread pools are sized before the library starts. Figures are
medians of --runs runs (default 5) in MB/s of input bytes (1 MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, machine, mbps, median_time, write_section  # noqa: E402

TEXT_FILES = ["en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt"]
ENCODINGS = ["cl100k_base", "o200k_base"]
LIBS = ["blt", "tiktoken", "hf_tokenizers", "tokendagger", "bpe_openai"]
DOC_BYTES = 4096


def split_docs(text: str, size: int = DOC_BYTES) -> list[str]:
    """Cut text into ~size-byte documents at line ends (as a DataLoader would see them)."""
    docs, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line.encode())
        if n >= size:
            docs.append("".join(cur))
            cur, n = [], 0
    if cur:
        docs.append("".join(cur))
    return docs


def worst_cases() -> dict[str, str]:
    rng = random.Random(0)
    mb = 1_000_000
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    cases = {}
    for size, tag in ((mb, "1MB"), (2 * mb, "2MB")):
        cases[f"repeat_a_{tag}"] = "a" * size
        cases[f"digits_{tag}"] = "".join(rng.choice("0123456789") for _ in range(size))
        cases[f"nospace_{tag}"] = "".join(rng.choice(alnum) for _ in range(size))
        cases[f"random_bytes_{tag}"] = bytes(rng.getrandbits(8) for _ in range(size)).decode("latin-1")
    return cases


# --- library adapters (each runs inside its own worker process) -------------------------------------


def load(lib: str, encoding: str, hf_json: str | None):
    meta = json.loads((VOCAB / f"{encoding}.meta.json").read_text())
    if lib == "blt":
        import blt

        enc = blt.get_encoding(encoding, vocab_dir=str(VOCAB))
        return {
            "one": enc.encode_ordinary,
            "batch": lambda docs, t: enc.encode_batch(docs, num_threads=t, disallowed_special=()),
            "count": lambda ids: len(ids),
        }
    if lib in ("tiktoken", "tokendagger"):
        import tiktoken.load

        ranks = tiktoken.load.load_tiktoken_bpe(str(VOCAB / f"{encoding}.tiktoken"))
        mod = __import__(lib)
        enc = mod.Encoding(name=encoding, pat_str=meta["pat_str"], mergeable_ranks=ranks,
                           special_tokens=meta["special_tokens"])
        batch = getattr(enc, "encode_ordinary_batch", None)
        return {
            "one": enc.encode_ordinary,
            "batch": (lambda docs, t: batch(docs, num_threads=t)) if batch else None,
            "count": len,
        }
    if lib == "hf_tokenizers":
        from tokenizers import Tokenizer

        if hf_json is None:
            return None
        tk = Tokenizer.from_file(hf_json)
        return {
            "one": lambda s: tk.encode(s, add_special_tokens=False).ids,
            "batch": lambda docs, t: tk.encode_batch(docs, add_special_tokens=False),
            "count": len,
        }
    if lib == "bpe_openai":
        import bpe_openai

        enc = bpe_openai.get_encoding(encoding)
        return {"one": enc.encode_ordinary, "batch": None, "count": len}
    raise ValueError(lib)


def worker(lib: str, encoding: str, threads: int, runs: int, hf_json: str | None,
           case: str | None = None) -> dict:
    try:
        api = load(lib, encoding, hf_json)
    except Exception as e:  # a peer that does not install or load is reported, not fatal
        return {"error": f"{type(e).__name__}: {e}"}
    if api is None:
        return {"error": "no tokenizer.json for this encoding"}
    if case is not None:
        text = worst_cases()[case]
        try:
            return {"seconds": median_time(lambda: api["one"](text), runs=max(1, runs // 2), warmup=0)}
        except Exception as e:
            return {"error": f"fails: {str(e)[:60]}"}
    out: dict = {"whole": {}, "docs": {}, "batch": {}, "tokens": {}, "worst": {}, "small": {}}
    for name in TEXT_FILES:
        text = (CORPUS / name).read_text(encoding="utf-8")
        nbytes = len(text.encode())
        docs = split_docs(text)
        try:
            t = median_time(lambda: api["one"](text), runs=runs)
            out["whole"][name] = mbps(nbytes, t)
            out["tokens"][name] = api["count"](api["one"](text)) / t
        except Exception as e:
            out["whole"][name] = f"fails: {str(e)[:60]}"
        try:
            t = median_time(lambda: [api["one"](d) for d in docs], runs=runs)
            out["docs"][name] = mbps(nbytes, t)
        except Exception as e:
            out["docs"][name] = f"fails: {str(e)[:60]}"
        if api["batch"] is not None:
            t = median_time(lambda: api["batch"](docs, threads), runs=runs)
            out["batch"][name] = mbps(nbytes, t)
    short = "Hello world, how are you?"  # 7 tokens with cl100k
    out["small"]["one_call_us"] = median_time(lambda: [api["one"](short) for _ in range(1000)], runs=runs) * 1e3
    small_docs = [f"document {i}: " + "lorem ipsum dolor sit amet " * 2 for i in range(10_000)]
    small_docs = [d[:50] for d in small_docs]
    if api["batch"] is not None:
        out["small"]["batch_10k_ms"] = median_time(lambda: api["batch"](small_docs, threads), runs=runs) * 1e3
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


WORST_TIMEOUT_S = 20


def run_worker(lib: str, encoding: str, threads: int, runs: int, hf_json: str | None,
               case: str | None = None, timeout: float | None = None) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), RAYON_RS_NUM_CPUS=str(threads),
               TOKENIZERS_PARALLELISM="true")
    cmd = [sys.executable, __file__, "--worker", lib, "--encoding", encoding, "--threads", str(threads),
           "--runs", str(runs)] + (["--hf-json", hf_json] if hf_json else []) + (["--case", case] if case else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"> {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "crashed"}
    return json.loads(proc.stdout)


def run_worst(lib: str, encoding: str, runs: int, hf_json: str | None) -> dict:
    """Each worst case in its own process with a time limit (some peers are quadratic)."""
    out: dict = {}
    for kind in ("repeat_a", "digits", "nospace", "random_bytes"):
        for tag in ("1MB", "2MB"):
            r = run_worker(lib, encoding, 1, runs, hf_json, case=f"{kind}_{tag}", timeout=WORST_TIMEOUT_S)
            out[f"{kind}_{tag}"] = r.get("seconds", r.get("error"))
            if "seconds" not in r:
                break  # 2 MB takes at least as long as 1 MB
    return out


def fmt(v, spec=".1f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker")
    ap.add_argument("--encoding", default="cl100k_base")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hf-json")
    ap.add_argument("--case")
    ap.add_argument("--file-only", action="store_true",
                    help="only the file-pipeline figure (section bench_bpe_file)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.encoding, args.threads, args.runs, args.hf_json, args.case)))
        return

    import blt

    file_pipeline_section(args.runs)
    if args.file_only:
        return
    all_threads = len(os.sched_getaffinity(0))
    lines = [
        "## BPE encoding (`bench_bpe`)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_bpe.py --runs {args.runs}`  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians of {args.runs} runs; "
        f"MB/s of input (10^6 bytes). Peers load the same rank files; HF tokenizers loads the "
        f"tokenizer.json that blt exports (parity-tested). bpe-openai ships its own copy of the "
        f"vocabulary and refuses long inputs ('fails').",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in ENCODINGS:
            hf_json = str(Path(tmp) / f"{encoding}.json")
            blt.get_encoding(encoding, vocab_dir=str(VOCAB)).save(hf_json, format="hf")
            res1 = {lib: run_worker(lib, encoding, 1, args.runs, hf_json) for lib in LIBS}
            for lib in LIBS:
                if "error" not in res1[lib]:
                    res1[lib]["worst"] = run_worst(lib, encoding, args.runs, hf_json)
            resn = {lib: run_worker(lib, encoding, all_threads, args.runs, hf_json)
                    for lib in ("blt", "tiktoken", "hf_tokenizers")}
            lines += table(encoding, res1, resn, all_threads)
    write_section("bench_bpe", "\n".join(lines))
    print("\n".join(lines))


def file_pipeline_section(runs: int) -> None:
    """blt.tokenize_file with BPE on a ~200 MB file built by repeating the corpus text files."""
    import blt

    corpus = b"".join((CORPUS / n).read_bytes() for n in TEXT_FILES)
    all_threads = len(os.sched_getaffinity(0))
    lines = [
        "## BPE file pipeline (`bench_bpe_file`)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_bpe.py --file-only --runs {runs}` (also part of the "
        f"full run)  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians of {runs} runs; input: the four "
        "corpus text files repeated to 200 MB, output uint32 .bin in a temp dir (warm page cache); "
        "the output equals enc.encode(whole file) (tested in tests/test_bpe_pipeline.py).",
        "",
        "| encoding | threads | MB/s | seconds | process peak RSS so far (MB) |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.txt"
        with open(src, "wb") as f:
            written = 0
            while written < 200 * 10**6:
                f.write(corpus)
                written += len(corpus)
        nbytes = src.stat().st_size
        for encoding in ENCODINGS:
            enc = blt.get_encoding(encoding, vocab_dir=str(VOCAB))
            for threads in sorted({1, all_threads}):
                t = median_time(lambda: blt.tokenize_file(src, Path(tmp) / "out.bin", tokenizer=enc,
                                                          threads=threads, dtype="uint32"), runs=runs)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                lines.append(f"| {encoding} | {threads} | {mbps(nbytes, t):.1f} | {t:.2f} | {rss:.0f} |")
    write_section("bench_bpe_file", "\n".join(lines))
    print("\n".join(lines))


def table(encoding: str, res1: dict, resn: dict, nthreads: int) -> list[str]:
    ours = res1["blt"]
    out = [f"### {encoding}", ""]
    for lib, r in res1.items():
        if "error" in r:
            out.append(f"- {lib}: not measured ({r['error']})")
    out += ["", "One thread, `encode_ordinary`, MB/s (ratio blt/peer):", "",
            "| file | mode | " + " | ".join(LIBS) + " |", "|---|---|" + "---|" * len(LIBS)]
    for name in TEXT_FILES:
        for mode in ("whole", "docs"):
            cells = []
            for lib in LIBS:
                r = res1[lib]
                v = r.get(mode, {}).get(name, "-") if "error" not in r else "-"
                mine = ours.get(mode, {}).get(name)
                if isinstance(v, float) and lib != "blt" and isinstance(mine, float):
                    cells.append(f"{v:.1f} ({mine / v:.1f}x)")
                else:
                    cells.append(fmt(v))
            label = "whole file" if mode == "whole" else f"{DOC_BYTES // 1024} KB docs"
            out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    out += ["", f"`encode_batch` of 4 KB docs, MB/s, 1 and {nthreads} threads:", "",
            "| file | blt 1 | blt all | tiktoken 1 | tiktoken all | HF 1 | HF all |", "|---|---|---|---|---|---|---|"]
    for name in TEXT_FILES:
        row = [fmt(res1[l].get("batch", {}).get(name, "-")) + " | " + fmt(resn[l].get("batch", {}).get(name, "-"))
               for l in ("blt", "tiktoken", "hf_tokenizers")]
        out.append(f"| {name} | " + " | ".join(row) + " |")
    out += ["", "Tokens/s (millions), one thread, whole files:", "", "| file | " + " | ".join(LIBS) + " |",
            "|---|" + "---|" * len(LIBS)]
    for name in TEXT_FILES:
        out.append(f"| {name} | " + " | ".join(
            fmt(res1[l].get("tokens", {}).get(name, "-") / 1e6 if isinstance(res1[l].get("tokens", {}).get(name), float) else "-", ".2f")
            for l in LIBS) + " |")
    out += ["", "Worst cases, one thread: seconds for 1 MB and 2 MB, and time(2 MB)/time(1 MB):", "",
            "| input | " + " | ".join(LIBS) + " |", "|---|" + "---|" * len(LIBS)]
    # each run is limited to WORST_TIMEOUT_S; "> 20 s" marks a peer stopped there
    for kind in ("repeat_a", "digits", "nospace", "random_bytes"):
        cells = []
        for lib in LIBS:
            w = res1[lib].get("worst", {})
            a, b = w.get(f"{kind}_1MB"), w.get(f"{kind}_2MB")
            if isinstance(a, float) and isinstance(b, float):
                cells.append(f"{a:.3f} / {b:.3f} s ({b / a:.2f})")
            else:
                cells.append(fmt(a if a is not None else "-"))
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    out += ["", "Small inputs, one thread: 1,000 `encode` calls of a 7-token string (ms), "
            "and `encode_batch` of 10,000 strings of 50 bytes (ms):", "",
            "| measure | " + " | ".join(LIBS) + " |", "|---|" + "---|" * len(LIBS)]
    for key, label in (("one_call_us", "1,000 x encode (ms)"), ("batch_10k_ms", "batch 10k x 50 B (ms)")):
        out.append(f"| {label} | " + " | ".join(fmt(res1[l].get("small", {}).get(key, "-"), ".2f") for l in LIBS) + " |")
    out.append(f"| peak RSS (MB) | " + " | ".join(fmt(res1[l].get("peak_rss_mb", "-"), ".0f") for l in LIBS) + " |")
    out.append("")
    return out


if __name__ == "__main__":
    main()

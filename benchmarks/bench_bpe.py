"""BPE throughput of blt against tiktoken, HF tokenizers, tokendagger and bpe-openai.

Run: `make bench` (all benchmarks) or `.venv/bin/python benchmarks/bench_bpe.py` (this one).
Writes the `bench_bpe` section of benchmarks/RESULTS.md.

The one-thread figures of every library come from one worker process per encoding that loads them
all and times them in interleaved rounds (each round runs each library once, in rotating order):
this VM's speed drifts by tens of percent over minutes, and interleaving makes every ratio compare
the same moments. encode_batch with all threads runs in a second such process (thread pools are
sized by the environment before a library starts). Worst cases run per library in their own process
with a time limit, since some peers are quadratic; peak RSS comes from a process per library.
Figures are medians of --runs rounds (default 5) in MB/s of input bytes (1 MB = 10^6 bytes).
Quick look without touching RESULTS.md: `--libs blt,tiktoken --encoding cl100k_base --no-write`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, git_rev, machine, mbps, median_time, write_section  # noqa: E402

CORPUS_FILES = ["en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt"]
# Documentation with inline code, tables and URLs that the vocabularies were not tuned on, built
# from this machine's installed docs (benchmarks/technical_sample.py) before the workers start.
TECHNICAL_SAMPLE = Path(__file__).resolve().parent.parent / "build" / "bench" / "technical_en.txt"
TEXT_FILES = CORPUS_FILES + [TECHNICAL_SAMPLE.name]
# Issue 16's one-thread targets, blt/tiktoken on whole files, for cl100k_base and o200k_base.
TARGETS = {"en_prose.txt": 8.0, TECHNICAL_SAMPLE.name: 8.0, "code_python.txt": 6.0, "code_c.txt": 6.0,
           "multilingual.txt": 5.0}


def text_path(name: str) -> Path:
    return TECHNICAL_SAMPLE if name == TECHNICAL_SAMPLE.name else CORPUS / name
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


SHORT_TEXT = "The quick brown fox jumps over the lazy dog."  # 10 tokens in cl100k and o200k


def interleaved_medians(fns: dict, runs: int, warmup: int = 1) -> dict:
    """Median wall time of each fn, timed in rounds: every round runs each fn once, in a rotating
    order. A slow spell of the VM then hits every library of that round alike, so the ratios
    between libraries hold even when the absolute figures drift by tens of percent."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict = {n: [] for n in names}
    for r in range(runs):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in times.items()}


def load_all(libs: list[str], encoding: str, hf_json: str | None) -> tuple[dict, dict]:
    apis, errors = {}, {}
    for lib in libs:
        try:
            api = load(lib, encoding, hf_json)
        except Exception as e:  # a peer that does not install or load is reported, not fatal
            errors[lib] = f"{type(e).__name__}: {e}"
            continue
        if api is None:
            errors[lib] = "no tokenizer.json for this encoding"
        else:
            apis[lib] = api
    return apis, errors


def runnable(apis: dict, call) -> tuple[dict, dict, dict]:
    """Runs `call(api)` once per library (also the warm-up): those that can, with their results,
    and those that refuse (with why)."""
    ok, failed, results = {}, {}, {}
    for lib, api in apis.items():
        try:
            results[lib] = call(api)
            ok[lib] = api
        except Exception as e:
            failed[lib] = f"fails: {str(e)[:60]}"
    return ok, failed, results


def worker_one_thread(libs: list[str], encoding: str, runs: int, hf_json: str | None) -> dict:
    """All libraries in this one process, interleaved: whole files, 4 KB docs, batch, small inputs."""
    apis, errors = load_all(libs, encoding, hf_json)
    out: dict = {lib: {"whole": {}, "docs": {}, "batch": {}, "tokens": {}, "small": {}} for lib in apis}
    for lib, err in errors.items():
        out[lib] = {"error": err}
    for name in TEXT_FILES:
        text = text_path(name).read_text(encoding="utf-8")
        nbytes = len(text.encode())
        docs = split_docs(text)
        for mode, call in (("whole", lambda a: a["one"](text)),
                           ("docs", lambda a: [a["one"](d) for d in docs]),
                           ("batch", lambda a: a["batch"](docs, 1))):
            cand = {l: a for l, a in apis.items() if mode != "batch" or a["batch"] is not None}
            ok, failed, results = runnable(cand, call)
            for lib, err in failed.items():
                out[lib][mode][name] = err
            med = interleaved_medians({l: (lambda a=a: call(a)) for l, a in ok.items()}, runs=runs, warmup=0)
            for lib, t in med.items():
                out[lib][mode][name] = mbps(nbytes, t)
                if mode == "whole":
                    out[lib]["tokens"][name] = apis[lib]["count"](results[lib]) / t
    ok, _, _ = runnable(apis, lambda a: a["one"](SHORT_TEXT))
    med = interleaved_medians({l: (lambda a=a: [a["one"](SHORT_TEXT) for _ in range(10_000)]) for l, a in ok.items()},
                              runs=runs)
    for lib, t in med.items():
        out[lib]["small"]["one_call_us"] = t / 10_000 * 1e6
    small_docs = [(f"document {i}: " + "lorem ipsum dolor sit amet " * 2)[:50] for i in range(10_000)]
    ok = {l: a for l, a in apis.items() if a["batch"] is not None}
    med = interleaved_medians({l: (lambda a=a: a["batch"](small_docs, 1)) for l, a in ok.items()}, runs=runs)
    for lib, t in med.items():
        out[lib]["small"]["batch_10k_ms"] = t * 1e3
    return out


def worker_all_threads(libs: list[str], encoding: str, threads: int, runs: int, hf_json: str | None) -> dict:
    """encode_batch of 4 KB docs with every thread, libraries interleaved in this one process."""
    apis, errors = load_all(libs, encoding, hf_json)
    apis = {l: a for l, a in apis.items() if a["batch"] is not None}
    out: dict = {lib: {"batch": {}, "batch_1": {}} for lib in apis}
    for name in TEXT_FILES:
        text = text_path(name).read_text(encoding="utf-8")
        docs = split_docs(text)
        fns = {l: (lambda a=a: a["batch"](docs, threads)) for l, a in apis.items()}
        if "blt" in apis:
            # blt's thread count is per call: its one-thread run joins the same rounds, so the
            # scaling figure compares the same moments of the VM.
            fns["blt@1"] = lambda a=apis["blt"]: a["batch"](docs, 1)
        med = interleaved_medians(fns, runs=runs)
        for key, t in med.items():
            lib, field = ("blt", "batch_1") if key == "blt@1" else (key, "batch")
            out[lib][field][name] = mbps(len(text.encode()), t)
        if "blt" in apis:
            out["blt"].setdefault("pair_scaling", {})[name] = paired_scaling(apis["blt"], docs, threads, 4 * runs + 1)
    return out


def paired_scaling(api: dict, docs: list, threads: int, pairs: int) -> dict:
    """blt's encode_batch speed-up from 1 to ``threads`` threads as the median of ratios of
    adjacent runs (1 thread, then ``threads``, the order swapped every pair). The two runs of a
    pair are ~0.1 s apart, while the round-based figure compares runs seconds apart (a round also
    runs the slow peers), so this one is less exposed to the VM's drift. The CPU time the guest
    lost to its host (steal, /proc/stat) over the pairs is reported with it."""
    api["batch"](docs, threads)
    steal0, total0 = _cpu_steal()
    ratios = []
    for k in range(pairs):
        t = {}
        for n in ((1, threads) if k % 2 == 0 else (threads, 1)):
            t0 = time.perf_counter()
            api["batch"](docs, n)
            t[n] = time.perf_counter() - t0
        ratios.append(t[1] / t[threads])
    steal1, total1 = _cpu_steal()
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "pairs": pairs,
            "steal_pct": 100.0 * (steal1 - steal0) / max(total1 - total0, 1)}


def _cpu_steal() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs from /proc/stat; (0, 0) where it is absent."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def worker_worst(lib: str, encoding: str, kind: str, runs: int, hf_json: str | None) -> dict:
    """One library, one worst-case kind: 1 MB and 2 MB timed alternately in this process.
    runs == 0 is the probe: one untimed-warm-up-free 1 MB run, to find quadratic peers fast."""
    api = load(lib, encoding, hf_json)
    cases = worst_cases()
    one, two = cases[f"{kind}_1MB"], cases[f"{kind}_2MB"]
    try:
        if runs == 0:
            t0 = time.perf_counter()
            api["one"](one)
            return {"probe": time.perf_counter() - t0}
        med = interleaved_medians({"1MB": lambda: api["one"](one), "2MB": lambda: api["one"](two)},
                                  runs=runs, warmup=1)
    except Exception as e:
        return {"error": f"fails: {str(e)[:60]}"}
    return med


def worker_rss(lib: str, encoding: str, hf_json: str | None) -> dict:
    """Peak RSS of a process that loads one library and encodes each corpus file once."""
    api = load(lib, encoding, hf_json)
    for name in TEXT_FILES:
        text = text_path(name).read_text(encoding="utf-8")
        try:
            api["one"](text)
        except Exception:
            for d in split_docs(text):
                api["one"](d)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a worker would report
    # the parent's peak whenever the parent had used more.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return {"peak_rss_mb": int(line.split()[1]) / 1024}
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker(args) -> dict:
    libs = args.libs.split(",")
    if args.worker == "one":
        return worker_one_thread(libs, args.encoding, args.runs, args.hf_json)
    if args.worker == "all":
        return worker_all_threads(libs, args.encoding, args.threads, args.runs, args.hf_json)
    if args.worker == "worst":
        return worker_worst(libs[0], args.encoding, args.case, args.runs, args.hf_json)
    if args.worker == "rss":
        return worker_rss(libs[0], args.encoding, args.hf_json)
    raise ValueError(args.worker)


WORST_PROBE_S = 20  # one 1 MB run longer than this: the peer is reported as quadratic, not timed
WORST_TIMEOUT_S = 600
WORST_KINDS = ("repeat_a", "digits", "nospace", "random_bytes")


def run_worker(kind: str, libs: list[str], encoding: str, threads: int, runs: int, hf_json: str | None,
               case: str | None = None, timeout: float | None = None) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), RAYON_RS_NUM_CPUS=str(threads),
               TOKENIZERS_PARALLELISM="true")
    cmd = [sys.executable, __file__, "--worker", kind, "--libs", ",".join(libs), "--encoding", encoding,
           "--threads", str(threads), "--runs", str(runs)] + (["--hf-json", hf_json] if hf_json else []) + \
          (["--case", case] if case else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"not done in {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "crashed"}
    return json.loads(proc.stdout)


def run_worst(lib: str, encoding: str, runs: int, hf_json: str | None) -> dict:
    """Each (library, kind) in its own process: a probe with a time limit (some peers are
    quadratic), then `runs` alternating rounds of 1 MB and 2 MB."""
    out: dict = {}
    for kind in WORST_KINDS:
        probe = run_worker("worst", [lib], encoding, 1, 0, hf_json, case=kind, timeout=WORST_PROBE_S)
        if "probe" not in probe:
            err = probe.get("error", "?")
            out[kind] = {"error": f"1 MB: > {WORST_PROBE_S} s" if err.startswith("not done") else err}
            continue
        out[kind] = run_worker("worst", [lib], encoding, 1, runs, hf_json, case=kind, timeout=WORST_TIMEOUT_S)
    return out


def fmt(v, spec=".1f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker", choices=["one", "all", "worst", "rss"], help=argparse.SUPPRESS)
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated subset of " + ",".join(LIBS))
    ap.add_argument("--encoding", help="one of " + ", ".join(ENCODINGS) + " (default: both)")
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--worst-runs", type=int, default=9,
                    help="rounds of the 1 MB / 2 MB worst cases (default 9; one round is cheap)")
    ap.add_argument("--hf-json", help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--file-only", action="store_true",
                    help="only the file-pipeline figure (section bench_bpe_file)")
    ap.add_argument("--no-write", action="store_true", help="print the tables, leave RESULTS.md alone")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import blt
    import technical_sample

    data, docs = technical_sample.build(technical_sample.DEFAULT_BYTES)
    TECHNICAL_SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    TECHNICAL_SAMPLE.write_bytes(data)
    sample_note = (f"{TECHNICAL_SAMPLE.name}: {len(data):,} bytes of English documentation from {docs} documents "
                   f"installed on this machine (package READMEs, pydoc topics, /usr/share/doc; "
                   f"benchmarks/technical_sample.py), sha256 {hashlib.sha256(data).hexdigest()[:16]}.")
    libs = args.libs.split(",")
    encodings = [args.encoding] if args.encoding else ENCODINGS
    if "blt" not in libs:
        ap.error("--libs must include blt (every ratio is blt/peer)")
    if not args.no_write:
        file_pipeline_section(args.runs)
    if args.file_only:
        return
    all_threads = len(os.sched_getaffinity(0))
    cmd = " ".join([".venv/bin/python", "benchmarks/bench_bpe.py"] + sys.argv[1:])
    lines = [
        "## BPE encoding (`bench_bpe`)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git {git_rev()}; medians of {args.runs} "
        f"runs; MB/s of input (10^6 bytes). The one-thread figures of all libraries come from ONE process "
        f"per encoding, timed in interleaved rounds (each round runs every library once, in rotating "
        f"order), so a slow spell of the VM hits them alike and the ratios are of the same moments. "
        f"Peers load the same rank files; HF tokenizers loads the tokenizer.json that blt exports "
        f"(parity-tested). bpe-openai ships its own copy of the vocabulary and refuses long inputs "
        f"('fails'). Worst cases run per library in their own process: medians of {args.worst_runs} rounds "
        f"of 1 MB and 2 MB alternating, after a probe that stops a peer whose single 1 MB run passes "
        f"{WORST_PROBE_S} s (quadratic); peak RSS comes from a separate "
        f"process per library that loads it and encodes the five files once. {sample_note}",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in encodings:
            hf_json = str(Path(tmp) / f"{encoding}.json")
            blt.get_encoding(encoding, vocab_dir=str(VOCAB)).save(hf_json, format="hf")
            res1 = run_worker("one", libs, encoding, 1, args.runs, hf_json)
            if "error" in res1:
                raise SystemExit(f"one-thread worker failed: {res1['error']}")
            for lib in libs:
                if "error" not in res1[lib]:
                    res1[lib]["worst"] = run_worst(lib, encoding, args.worst_runs, hf_json)
                    res1[lib].update(run_worker("rss", [lib], encoding, 1, 1, hf_json))
            multi = [l for l in ("blt", "tiktoken", "hf_tokenizers") if l in libs]
            resn = run_worker("all", multi, encoding, all_threads, args.runs, hf_json)
            if "error" in resn:
                raise SystemExit(f"all-threads worker failed: {resn['error']}")
            lines += table(encoding, libs, res1, resn, all_threads)
    if not args.no_write:
        write_section("bench_bpe", "\n".join(lines))
    print("\n".join(lines))


def file_pipeline_section(runs: int) -> None:
    """blt.tokenize_file with BPE on a ~200 MB file built by repeating the corpus text files."""
    import blt

    corpus = b"".join((CORPUS / n).read_bytes() for n in CORPUS_FILES)
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
                                                          num_threads=threads, dtype="uint32"), runs=runs)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                lines.append(f"| {encoding} | {threads} | {mbps(nbytes, t):.1f} | {t:.2f} | {rss:.0f} |")
    write_section("bench_bpe_file", "\n".join(lines))
    print("\n".join(lines))


def table(encoding: str, libs: list[str], res1: dict, resn: dict, nthreads: int) -> list[str]:
    ours = res1["blt"]
    out = [f"### {encoding}", ""]
    for lib in libs:
        if "error" in res1[lib]:
            out.append(f"- {lib}: not measured ({res1[lib]['error']})")
    out += ["", "One thread, `encode_ordinary`, MB/s (ratio blt/peer):", "",
            "| file | mode | " + " | ".join(libs) + " |", "|---|---|" + "---|" * len(libs)]

    def with_ratio(lib: str, v, mine) -> str:
        if isinstance(v, float) and lib != "blt" and isinstance(mine, float):
            return f"{v:.1f} ({mine / v:.1f}x)"
        return fmt(v)

    for name in TEXT_FILES:
        for mode in ("whole", "docs"):
            mine = ours.get(mode, {}).get(name)
            cells = [with_ratio(l, res1[l].get(mode, {}).get(name, "-"), mine) if "error" not in res1[l] else "-"
                     for l in libs]
            label = "whole file" if mode == "whole" else f"{DOC_BYTES // 1024} KB docs"
            out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    multi = [l for l in ("blt", "tiktoken", "hf_tokenizers") if l in libs]
    out += ["", f"`encode_batch` of 4 KB docs, MB/s, 1 and {nthreads} threads. The {nthreads}-thread figures come "
            "from a second process, interleaved the same way; blt's 1-thread figure there joins the same rounds "
            "(its thread count is per call), and the scaling is of those two. The peers' 1-thread figures are "
            "from the one-thread process above (HF's pool size is fixed when it starts). \"blt scaling, "
            "adjacent pairs\": median (range) of the speed-up over adjacent 1-thread/N-thread runs of blt "
            "alone, with the share of CPU time the host took from this VM (steal) meanwhile:", "",
            "| file | " + " | ".join(f"{l} 1 | {l} {nthreads}" for l in multi)
            + " | blt scaling | blt scaling, adjacent pairs |",
            "|---|" + "---|---|" * len(multi) + "---|---|"]
    for name in TEXT_FILES:
        def one(l: str):
            return resn.get("blt", {}).get("batch_1", {}).get(name, "-") if l == "blt" else res1[l].get("batch", {}).get(name, "-")
        row = [fmt(one(l)) + " | " + fmt(resn.get(l, {}).get("batch", {}).get(name, "-")) for l in multi]
        a, b = resn.get("blt", {}).get("batch_1", {}).get(name), resn.get("blt", {}).get("batch", {}).get(name)
        scale = f"{b / a:.2f}x" if isinstance(a, float) and isinstance(b, float) else "-"
        ps = resn.get("blt", {}).get("pair_scaling", {}).get(name)
        paired = (f"{ps['median']:.2f}x ({ps['min']:.2f}-{ps['max']:.2f}, steal {ps['steal_pct']:.1f}%)"
                  if ps else "-")
        out.append(f"| {name} | " + " | ".join(row) + f" | {scale} | {paired} |")
    out += ["", "Tokens/s (millions), one thread, whole files:", "", "| file | " + " | ".join(libs) + " |",
            "|---|" + "---|" * len(libs)]
    for name in TEXT_FILES:
        cells = []
        for l in libs:
            v = res1[l].get("tokens", {}).get(name) if "error" not in res1[l] else None
            cells.append(fmt(v / 1e6, ".2f") if isinstance(v, float) else "-")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "Worst cases, one thread: seconds for 1 MB and 2 MB, and time(2 MB)/time(1 MB):", "",
            "| input | " + " | ".join(libs) + " |", "|---|" + "---|" * len(libs)]
    for kind in WORST_KINDS:
        cells = []
        for lib in libs:
            w = res1[lib].get("worst", {}).get(kind, {}) if "error" not in res1[lib] else {}
            a, b = w.get("1MB"), w.get("2MB")
            if isinstance(a, float) and isinstance(b, float):
                cells.append(f"{a:.3f} / {b:.3f} s ({b / a:.2f})")
            else:
                cells.append(fmt(w.get("error", "-")))
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    out += ["", f"Small inputs, one thread: one `encode_ordinary` call on {SHORT_TEXT!r} (10 tokens; µs, "
            "mean of 10,000 calls per run), `encode_batch` of 10,000 strings of 50 bytes (ms), and the peak "
            "RSS of a process that loads the library and encodes the five files:", "",
            "| measure | " + " | ".join(libs) + " |", "|---|" + "---|" * len(libs)]
    for key, label, spec in (("one_call_us", "1 x encode (µs)", ".2f"), ("batch_10k_ms", "batch 10k x 50 B (ms)", ".2f")):
        out.append(f"| {label} | " + " | ".join(
            fmt(res1[l].get("small", {}).get(key, "-") if "error" not in res1[l] else "-", spec) for l in libs) + " |")
    out.append("| peak RSS (MB) | " + " | ".join(fmt(res1[l].get("peak_rss_mb", "-"), ".0f") for l in libs) + " |")
    if "tiktoken" in libs and "error" not in res1["tiktoken"]:
        out += ["", "Targets (issue 16), one thread, whole file, blt/tiktoken:", "", "| file | target | measured | |",
                "|---|---|---|---|"]
        for name, want in TARGETS.items():
            a, b = ours.get("whole", {}).get(name), res1["tiktoken"].get("whole", {}).get(name)
            if isinstance(a, float) and isinstance(b, float):
                out.append(f"| {name} | {want:.0f}x | {a / b:.1f}x | {'met' if a / b >= want else 'missed'} |")
    out.append("")
    return out


if __name__ == "__main__":
    main()

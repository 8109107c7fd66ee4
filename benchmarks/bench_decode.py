"""Decoding, offsets and counting: blt against tiktoken, HF tokenizers, tokendagger and bpe-openai.

Decode: ``decode``, ``decode_bytes`` of the ids of 1 MB of English prose, and ``decode_batch``,
``decode_bytes_batch`` of 10,000 short sequences (the ids of 20-400 byte pieces of the corpus).
Offsets: blt's ``encode_with_offsets`` (ids, byte and character offsets) against tiktoken's path
to offsets (encode, then ``decode_with_offsets``) and HF's ``encode`` (its Encoding carries
``offsets``, what ``return_offsets_mapping`` returns), on 1 MB of prose and on 1,000 documents of
1 KB. Counting: ``count`` against ``encode_ordinary`` of the same text (blt). Every library gets
the ids in the form its own encode returns (blt: NumPy arrays / RaggedIds; the others: lists).

One process per encoding, all libraries timed in interleaved rounds (bench_bpe.interleaved_medians):
medians of --runs rounds. Writes the "bench_decode" section of benchmarks/RESULTS.md.
Run: .venv/bin/python benchmarks/bench_decode.py [--runs 7] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, git_rev, machine, write_section  # noqa: E402
from bench_bpe import interleaved_medians  # noqa: E402

import blt  # noqa: E402

LIBS = ["blt", "tiktoken", "hf_tokenizers", "tokendagger", "bpe_openai"]
ENCODINGS = ["cl100k_base", "o200k_base"]


def texts() -> dict:
    prose = (CORPUS / "en_prose.txt").read_text(encoding="utf-8")
    corpus = "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.glob("*.txt")))
    rng = random.Random(7)
    short = []
    for _ in range(10_000):
        a = rng.randrange(0, len(corpus) - 400)
        short.append(corpus[a : a + rng.randrange(20, 400)])
    docs = [prose[i : i + 1000] for i in range(0, 1000 * 1000, 1000)]
    return {"mb": prose[:1_000_000], "short": short, "docs": docs}


def adapters(encoding: str, hf_json: str) -> dict:
    """lib -> dict of callables on that library's own id containers (None where it lacks one)."""
    meta = json.loads((VOCAB / f"{encoding}.meta.json").read_text())
    out: dict = {}
    enc = blt.get_encoding(encoding, vocab_dir=str(VOCAB))
    out["blt"] = dict(encode=enc.encode_ordinary, encode_batch=lambda d: enc.encode_batch(d, num_threads=1),
                      decode=enc.decode, decode_bytes=enc.decode_bytes, decode_batch=enc.decode_batch,
                      decode_bytes_batch=enc.decode_bytes_batch,
                      offsets=lambda t: enc.encode_with_offsets(t), count=enc.count)
    try:
        import tiktoken.load

        ranks = tiktoken.load.load_tiktoken_bpe(str(VOCAB / f"{encoding}.tiktoken"))
    except ImportError:
        ranks = None
    for lib in ("tiktoken", "tokendagger"):
        try:
            mod = __import__(lib)
        except ImportError:
            continue
        e = mod.Encoding(name=encoding, pat_str=meta["pat_str"], mergeable_ranks=ranks,
                         special_tokens=meta["special_tokens"])
        dwo = getattr(e, "decode_with_offsets", None)
        out[lib] = dict(encode=e.encode_ordinary, encode_batch=lambda d, e=e: [e.encode_ordinary(x) for x in d],
                        decode=getattr(e, "decode", None), decode_bytes=getattr(e, "decode_bytes", None),
                        decode_batch=getattr(e, "decode_batch", None),
                        decode_bytes_batch=getattr(e, "decode_bytes_batch", None),
                        offsets=(lambda t, e=e, dwo=dwo: dwo(e.encode_ordinary(t))) if dwo else None)
    try:
        from tokenizers import Tokenizer

        tk = Tokenizer.from_file(hf_json)
        out["hf_tokenizers"] = dict(
            encode=lambda t: tk.encode(t, add_special_tokens=False).ids,
            encode_batch=lambda d: [x.ids for x in tk.encode_batch(d, add_special_tokens=False)],
            decode=lambda ids: tk.decode(ids, skip_special_tokens=False), decode_bytes=None,
            decode_batch=lambda b: tk.decode_batch(b, skip_special_tokens=False), decode_bytes_batch=None,
            offsets=lambda t: tk.encode(t, add_special_tokens=False).offsets)
    except ImportError:
        pass
    try:
        import bpe_openai

        e = bpe_openai.get_encoding(encoding)
        out["bpe_openai"] = dict(encode=e.encode_ordinary, encode_batch=lambda d: [e.encode_ordinary(x) for x in d],
                                 decode=e.decode, decode_bytes=e.decode_bytes, decode_batch=e.decode_batch,
                                 decode_bytes_batch=e.decode_bytes_batch,
                                 offsets=lambda t: e.decode_with_offsets(e.encode_ordinary(t)))
    except (ImportError, Exception):  # bpe-openai refuses long inputs and some vocabularies
        pass
    return out


def run_encoding(encoding: str, runs: int) -> tuple[list[str], dict]:
    data = texts()
    with tempfile.TemporaryDirectory() as tmp:
        hf_json = str(Path(tmp) / "tokenizer.json")
        blt.get_encoding(encoding, vocab_dir=str(VOCAB)).save(hf_json, format="hf")
        libs = adapters(encoding, hf_json)
    ref = libs["blt"]
    want_text = data["mb"]
    # Each library's own ids for the inputs (checked equal to blt's), made before timing. A peer that
    # refuses an input (bpe-openai: 1 MB is "too long") is left out of the cases that need it.
    ids: dict = {}
    for lib, a in list(libs.items()):
        got = []
        for text, many in ((want_text, False), (data["short"], True)):
            try:
                got.append(a["encode_batch"](text) if many else a["encode"](text))
            except Exception as e:  # noqa: BLE001
                print(f"{lib}: cannot encode an input ({type(e).__name__}: {e}); left out of its cases", file=sys.stderr)
                got.append(None)
        if got[0] is not None and list(got[0]) != ref["encode"](want_text).tolist():
            raise SystemExit(f"{lib}: ids differ from blt's")
        ids[lib] = tuple(got)
    cases = {
        "decode, 1 MB of ids": ("decode", 0, lambda a, lib: a["decode"](ids[lib][0])),
        "decode_bytes, 1 MB of ids": ("decode_bytes", 0, lambda a, lib: a["decode_bytes"](ids[lib][0])),
        "decode_batch, 10,000 short": ("decode_batch", 1, lambda a, lib: a["decode_batch"](ids[lib][1])),
        "decode_bytes_batch, 10,000 short": ("decode_bytes_batch", 1,
                                             lambda a, lib: a["decode_bytes_batch"](ids[lib][1])),
        "offsets, 1 MB text": ("offsets", 0, lambda a, lib: a["offsets"](want_text)),
        "offsets, 1,000 x 1 KB": ("offsets", 1, lambda a, lib: [a["offsets"](d) for d in data["docs"]]),
    }
    rows, table = [], {}
    for case, (method, needs, call) in cases.items():
        fns = {lib: (lambda a=a, lib=lib: call(a, lib)) for lib, a in libs.items()
               if a.get(method) and ids[lib][needs] is not None}
        # Results must agree before they are timed.
        if method.startswith("decode"):
            got = {lib: fn() for lib, fn in fns.items()}
            base = got["blt"]
            for lib, g in got.items():
                assert g == base, f"{lib} {case}: result differs from blt's"
        times = interleaved_medians(fns, runs)
        table[case] = times
        cells = []
        for lib in LIBS:
            if lib not in times:
                cells.append("-")
            elif lib == "blt":
                cells.append(f"{times[lib] * 1e3:.2f}")
            else:
                cells.append(f"{times[lib] * 1e3:.2f} ({times[lib] / times['blt']:.1f}x)")
        rows.append(f"| {case} | " + " | ".join(cells) + " |")
    t = interleaved_medians({"count": lambda: ref["count"](want_text),
                             "encode_ordinary": lambda: ref["encode"](want_text)}, runs)
    rows.append(f"| count vs encode_ordinary, 1 MB text (blt) | {t['count'] * 1e3:.2f} | "
                f"encode_ordinary {t['encode_ordinary'] * 1e3:.2f} ({t['encode_ordinary'] / t['count']:.2f}x) | | | |")
    return rows, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--encoding", choices=ENCODINGS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    md = [
        "## Decoding, offsets and counting (`bench_decode`)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_decode.py --runs {args.runs}` (git {git_rev()})  ",
        f"Machine: {machine()}  ",
        f"Medians of {args.runs} interleaved rounds, one thread, milliseconds per call (peer's ratio to "
        "blt's time: > 1 means blt is faster). Each library decodes the ids its own encode returned "
        "(checked equal to blt's, and every decode result checked equal before timing). Offsets: "
        "blt `encode_with_offsets` (ids, byte and character offsets); tiktoken, tokendagger and "
        "bpe-openai `decode_with_offsets(encode_ordinary(text))`; HF `encode(text).offsets` "
        "(`return_offsets_mapping`). '-': the library has no such call.",
    ]
    for encoding in [args.encoding] if args.encoding else ENCODINGS:
        rows, _ = run_encoding(encoding, args.runs)
        md += ["", f"### {encoding}", "", "| case | " + " | ".join(LIBS) + " |",
               "|---|" + "---:|" * len(LIBS), *rows]
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("bench_decode", text)


if __name__ == "__main__":
    main()

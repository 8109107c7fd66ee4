"""Peak memory of the file pipeline with every stage on (issue 17, check 3).

Builds a text file of `--gb` GB by repeating the corpus text, trains an order-4 entropy model on
en_prose.txt, and runs `blt.tokenize_file` on it in a fresh process for each configuration:
ids only, ids + entropy patches, ids + entropy patches + hash n-gram ids, each under `--memcap`.
Output goes to `.npy` (ids only) or `.npz` (with patches; hash ids add 4 bytes per input byte
per size on disk, so `--hash-sizes` defaults to 1 of the sizes 3-8), deleted after each run. Reports the process's peak RSS (VmHWM) against the same process's RSS
just before the run (model and libraries loaded), so the difference is what the run held.

Run: `.venv/bin/python tools/patch_memcap.py --gb 2 --memcap 256MB --dir /var/tmp`
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("BLT_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
CORPUS = SHARED / "corpus"
HASH = {"group_sizes": [3, 4, 5, 6, 7, 8], "hash_functions": 1, "dtype": "int32"}


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(args: argparse.Namespace) -> None:
    import blt

    model = blt.EntropyModel.load(args.model)
    kw: dict = {}
    if args.stages in ("patch", "hash"):
        kw["patch"] = blt.Patcher.entropy(model)
    if args.stages == "hash":
        kw["hash_ngrams"] = dict(HASH, group_sizes=HASH["group_sizes"][: args.hash_sizes])
    before = vm_kib("VmRSS")
    t0 = time.perf_counter()
    stats = blt.tokenize_file(args.input, args.output, memcap=args.memcap, num_threads=args.threads, **kw)
    wall = time.perf_counter() - t0
    outputs = sorted(p for p in Path(args.output).parent.iterdir() if p.name.startswith(Path(args.output).name))
    print(json.dumps({"before_mib": before / 1024, "peak_mib": vm_kib("VmHWM") / 1024, "seconds": wall,
                      "ids": stats.ids_out, "output_gb": sum(p.stat().st_size for p in outputs) / 1e9}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--memcap", default="256MB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hash-sizes", type=int, default=1, help="how many of the sizes 3-8 (disk: 4 bytes per id each)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the input and outputs go (needs room)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stages", choices=["ids", "patch", "hash"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import blt

    work = Path(tempfile.mkdtemp(prefix="blt_patch_memcap_", dir=args.dir))
    try:
        blob = b"".join((CORPUS / n).read_bytes() for n in ("en_prose.txt", "code_python.txt", "multilingual.txt"))
        src = work / "input.txt"
        want = int(args.gb * 1e9)
        with open(src, "wb") as f:
            written = 0
            while written < want:
                f.write(blob[: want - written])
                written += min(len(blob), want - written)
        model_path = work / "model.blt"
        blt.EntropyModel.train([(CORPUS / "en_prose.txt").read_bytes()], order=4).save(model_path)
        print(f"input {src.stat().st_size / 1e9:.2f} GB, memcap {args.memcap}, {args.threads} threads, load "
              f"{os.getloadavg()[0]:.1f}")
        print("| stages | seconds | output GB | RSS before run (MiB) | peak RSS (MiB) | held by the run (MiB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for stages in ("ids", "patch", "hash"):
            out = work / ("out.npy" if stages == "ids" else "out.npz")
            r = subprocess.run([sys.executable, __file__, "--child", "--stages", stages, "--input", str(src),
                                "--output", str(out), "--model", str(model_path), "--memcap", args.memcap,
                                "--threads", str(args.threads), "--hash-sizes", str(args.hash_sizes)],
                               capture_output=True, text=True)
            for p in work.glob("out.*"):
                p.unlink()
            if r.returncode:
                raise SystemExit(f"{stages}: exit {r.returncode}: {r.stderr.strip()}")
            m = json.loads(r.stdout.strip().splitlines()[-1])
            label = {"ids": "ids", "patch": "ids + entropy patches",
                     "hash": f"ids + entropy patches + {args.hash_sizes} hash size(s), int32"}[stages]
            print(f"| {label} | {m['seconds']:.1f} | {m['output_gb']:.1f} | {m['before_mib']:.0f} | "
                  f"{m['peak_mib']:.0f} | {m['peak_mib'] - m['before_mib']:.0f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

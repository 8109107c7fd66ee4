"""How blt.compat.tiktoken builds its lists: the native list builder (BpeEncoder.encode_list_function)
against NumPy's .tolist() of the uint32 array, with tiktoken for scale; cl100k_base, prefixes of
en_prose.txt. Rewrites the compat_lists section of RESULTS.md.

Command: .venv/bin/python benchmarks/bench_compat_lists.py
"""

from __future__ import annotations

import timeit

import tiktoken
import tiktoken.load

import blt.compat.tiktoken as compat
from _results import CORPUS, VOCAB, git_rev, machine, write_section


def best_us(fn, n_chars: int) -> float:
    reps = max(3, 1_000_000 // max(n_chars, 1)) if n_chars < 100_000 else 5
    return min(timeit.repeat(fn, number=reps, repeat=9)) / reps * 1e6


def main() -> None:
    enc = compat.get_encoding("cl100k_base", vocab_dir=VOCAB)
    ref = tiktoken.Encoding("cl100k_base", pat_str=enc._pat_str, special_tokens=enc._special_tokens,
                            mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(VOCAB / "cl100k_base.tiktoken")))
    native = enc._tok.native()
    as_array, as_list = native.encode_u32_function(), native.encode_list_function()
    text = (CORPUS / "en_prose.txt").read_text(encoding="utf-8")
    rows = ["| chars | ids | array + .tolist() µs | native list µs | compat encode µs | tiktoken encode µs |",
            "|---:|---:|---:|---:|---:|---:|"]
    for n in (11, 200, 1_000, 100_000, 2_000_000):
        s = text[:n]
        ids = as_list(s)
        assert ids == as_array(s).tolist() == enc.encode(s) == ref.encode(s)
        t = [best_us(fn, n) for fn in (lambda: as_array(s).tolist(), lambda: as_list(s),
                                       lambda: enc.encode(s), lambda: ref.encode(s))]
        rows.append(f"| {n:,} | {len(ids):,} | " + " | ".join(f"{x:,.1f}" for x in t) + " |")
    write_section("compat_lists", "## Lists for tiktoken callers (`bench_compat_lists`)\n\n"
                  f"Command: `.venv/bin/python benchmarks/bench_compat_lists.py` at {git_rev()}; {machine()}. "
                  "Best of 9 repeats, one thread, cl100k_base, prefixes of en_prose.txt. The native list "
                  "builder is what `blt.compat.tiktoken` uses for `encode`/`encode_ordinary`.\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

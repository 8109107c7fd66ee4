"""Integrations: tokens/s through a PyTorch DataLoader (0, 1, 2 workers) and Hugging Face
datasets.map(batched=True) with blt returning Arrow, blt returning Python lists, and
transformers' fast tokenizer (PreTrainedTokenizerFast over GPT-2's vocab.json/merges.txt = r50k_base).

Writes the "integrations" section of benchmarks/RESULTS.md.
Run: .venv/bin/python benchmarks/bench_integrations.py   (needs: pip install transformers)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, git_rev, machine, write_section  # noqa: E402

import datasets  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import blt  # noqa: E402
import blt.hf_datasets  # noqa: E402
import blt.torch  # noqa: E402

DOC_BYTES = 2000
LOADER_DOCS = 30_000
MAP_DOCS = 3_000
RUNS = 3


def documents(n: int) -> list[str]:
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.glob("*.txt")))
    if not text:
        raise SystemExit(f"corpus not found in {CORPUS} (set BLT_SHARED_DIR)")
    docs = [text[i : i + DOC_BYTES] for i in range(0, len(text), DOC_BYTES)]
    return (docs * (n // len(docs) + 1))[:n]


def best(fn) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process pid so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dataloader_rows(docs: list[str], n_tokens: int) -> list[str]:
    rows = []
    base = None
    for workers in (0, 1, 2):
        # Each worker encodes its own batches on one thread: the workers are the parallelism.
        collate = blt.torch.Collator(tokenizer="r50k_base", vocab_dir=VOCAB, packed=True, num_threads=1)
        loader = DataLoader(docs, batch_size=256, num_workers=workers, collate_fn=collate,
                            persistent_workers=workers > 0)
        for _ in loader:  # start the workers (and load the tokenizer) outside the timed epochs
            pass
        # The persistent workers' pids (a private attribute; Linux only): where the CPU time goes.
        pids = [os.getpid()] + [w.pid for w in getattr(loader._iterator, "_workers", [])]
        timed = []
        for _ in range(RUNS):
            cpu0 = [_cpu_seconds(p) for p in pids]
            t0 = time.perf_counter()
            for _ in loader:
                pass
            timed.append((time.perf_counter() - t0, [_cpu_seconds(p) - c for p, c in zip(pids, cpu0)]))
        s, cpu = min(timed, key=lambda row: row[0])
        rate = n_tokens / s
        base = rate if workers == 1 else base
        rel = f"{rate / base:.2f}x" if base and workers >= 1 else "-"
        where = f"main {cpu[0]:.2f}" + "".join(f", worker {c:.2f}" for c in cpu[1:])
        rows.append(f"| DataLoader, {workers} workers, Collator(texts) packed | {rate / 1e6:.2f} | {rel} | "
                    f"{s:.2f} | {where} |")
    return rows


def map_rows(docs: list[str], n_tokens: int) -> tuple[list[str], dict]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # GPT-2's files as a fast tokenizer (transformers 5 builds GPT2TokenizerFast from a hub name).
    core = Tokenizer(models.BPE.from_file(str(VOCAB / "gpt2_vocab.json"), str(VOCAB / "gpt2_merges.txt")))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=core)
    enc = blt.get_encoding("r50k_base", vocab_dir=VOCAB)
    ds = datasets.Dataset.from_dict({"text": docs})
    arrow_fn = blt.hf_datasets.TokenizeBatch(enc)

    def lists_fn(batch):
        return {"input_ids": enc.encode_batch(batch["text"]).to_list()}

    def hf_fn(batch):
        return {"input_ids": hf_tok(batch["text"])["input_ids"]}

    cases = {"blt TokenizeBatch (Arrow)": arrow_fn, "blt encode_batch -> lists": lists_fn,
             "transformers PreTrainedTokenizerFast": hf_fn}
    check = {name: ds.map(fn, batched=True, batch_size=1000, keep_in_memory=True, load_from_cache_file=False)["input_ids"][:]
             for name, fn in cases.items()}
    assert check["blt TokenizeBatch (Arrow)"] == check["blt encode_batch -> lists"], "blt ids differ"
    ref_ids = check["transformers PreTrainedTokenizerFast"]
    same = sum(a == b for a, b in zip(check["blt TokenizeBatch (Arrow)"], ref_ids))
    rates = {}
    for name, fn in cases.items():
        s = best(lambda: ds.map(fn, batched=True, batch_size=1000, keep_in_memory=True, load_from_cache_file=False))
        rates[name] = n_tokens / s
    ref = rates["transformers PreTrainedTokenizerFast"]
    rows = [f"| datasets.map(batched=True), {name} | {r / 1e6:.2f} | {r / ref:.2f}x of transformers | | |"
            for name, r in rates.items()]
    rows.append(f"| (documents with ids equal to transformers': {same} of {len(docs)}) | | | | |")
    return rows, rates


def main() -> None:
    datasets.disable_progress_bars()
    enc = blt.get_encoding("r50k_base", vocab_dir=VOCAB)
    loader_docs = documents(LOADER_DOCS)
    map_docs = documents(MAP_DOCS)
    loader_tokens = int(enc.encode_batch(loader_docs).lengths().sum())
    map_tokens = int(enc.encode_batch(map_docs).lengths().sum())
    rows = dataloader_rows(loader_docs, loader_tokens)
    mrows, _ = map_rows(map_docs, map_tokens)
    text = "\n".join([
        "## Integrations (`bench_integrations.py`)",
        "",
        f"Machine: {machine()}; commit {git_rev()}. r50k_base (GPT-2) ids; {LOADER_DOCS} and {MAP_DOCS} "
        f"documents of {DOC_BYTES} characters from the shared corpus; best of {RUNS} runs. Tokens/s "
        "counts the ids produced. DataLoader: batch_size 256, the collate function encodes each "
        "batch on one thread, relative column is against 1 worker. datasets.map: batch_size 1000, "
        "in memory, no cache; relative column is against transformers' fast tokenizer. Epoch s and "
        "CPU s per process (user + system, from /proc) are of the fastest DataLoader epoch: with "
        "workers, a worker also spends CPU handing each batch to the main process (torch copies "
        "the tensors into shared memory and passes a descriptor), and on 2 cores the main process "
        "and the workers share the same two CPUs.",
        "",
        "| case | Mtokens/s | relative | epoch s | CPU s per process |",
        "|---|---:|---:|---:|---|",
        *rows,
        *mrows,
    ])
    print(text)
    write_section("integrations", text)


if __name__ == "__main__":
    main()

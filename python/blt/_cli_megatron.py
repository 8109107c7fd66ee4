"""blt-tokenize --format megatron: JSON lines (or whole files) to a Megatron indexed dataset.

Kept apart from :mod:`blt.cli` so the CLI module stays small; the work is
:func:`blt.megatron.write_megatron`.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, List, Optional

from .byte_tokenizer import ByteTokenizer
from .megatron import write_megatron

EPILOG = """\
megatron (--format megatron):
  --output is the shard prefix: PREFIX.bin (raw ids) and PREFIX.idx (megatron-core's MMIDIDX index,
  byte-identical to what its IndexedDatasetBuilder writes). Each non-blank line of each --input is a
  JSON object whose --json-key string (default text) is one document, as Megatron's
  tools/preprocess_data.py reads it; --doc-per-file makes each input file one document instead.
  --append-eod adds the end-of-document id after every non-empty document (default: EOS for byte
  ids, <|endoftext|> for BPE; --eod-id N to choose). --dtype defaults to Megatron's rule: uint16
  below a vocabulary of 65,500 ids, else int32. Several --input files go into one shard, in order.
  %(prog)s --format megatron --input a.jsonl b.jsonl --output shard --vocab cl100k_base --append-eod
"""


def add_megatron_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that apply with ``--format megatron``."""
    g = p.add_argument_group("Megatron shards (--format megatron; see 'megatron' below)")
    g.add_argument("--json-key", default=None, metavar="KEY",
                   help="JSON key holding each line's text (default: text)")
    g.add_argument("--doc-per-file", action="store_true", help="each input file is one document (no JSON)")
    g.add_argument("--append-eod", action="store_true", help="append the end-of-document id to each document")
    g.add_argument("--eod-id", type=int, default=None, metavar="N", help="end-of-document id for --append-eod")


def check_megatron_arguments(args: argparse.Namespace, fmt: str, error: Callable[[str], Any]) -> None:
    """Usage errors: megatron-only flags without --format megatron, and conflicting ones."""
    used = [flag for flag, val in (("--json-key", args.json_key), ("--doc-per-file", args.doc_per_file or None),
                                   ("--append-eod", args.append_eod or None), ("--eod-id", args.eod_id))
            if val is not None]
    if fmt != "megatron":
        if used:
            error(f"{', '.join(used)} appl{'ies' if len(used) == 1 else 'y'} with --format megatron only")
        if len(args.input) > 1:
            error("several --input files go into one output only with --format megatron")
        return
    if args.json_key is not None and args.doc_per_file:
        error("--json-key and --doc-per-file exclude each other")
    if args.eod_id is not None and not args.append_eod:
        error("--eod-id goes with --append-eod")
    if "-" in args.input or args.output == "-":
        error("--format megatron reads and writes files: --input and --output cannot be -")
    if args.patch is not None:
        error("--patch does not apply with --format megatron")


def megatron_work(args: argparse.Namespace, tokenizer: Any, byte_opts: dict[str, Any],
                  dtype: Optional[str], eot: Optional[int]) -> Callable[[Optional[Callable[[int, int], None]]], None]:
    """The run for ``_run_reporting``: ``tokenizer`` None means byte ids with ``byte_opts``; ``eot``
    is the BPE encoding's end-of-text id, the default --eod-id."""
    tok = tokenizer if tokenizer is not None else ByteTokenizer(**byte_opts)
    inputs: List[str] = list(args.input)

    def work(progress: Optional[Callable[[int, int], None]]) -> None:
        write_megatron(inputs, args.output, tokenizer=tok,
                       json_key=None if args.doc_per_file else (args.json_key or "text"),
                       append_eod=args.append_eod, eod_id=args.eod_id if args.eod_id is not None else
                       (eot if args.append_eod else None), dtype=dtype,
                       num_threads=args.threads, memcap=args.memcap, progress=progress)

    return work

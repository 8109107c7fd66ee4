"""blt-train: learn a byte-level BPE vocabulary from text files and save it.

Exit status: 0 on success, 2 on usage errors, 1 on runtime errors, 130 when interrupted; every
error is one line on stderr. Outputs are written under temporary names beside the target and
renamed only on success, so an error or Ctrl-C leaves no partial output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Literal, Optional, cast

from .bpe import BPETokenizer
from .cli import (RUNTIME_ERRORS, _memcap, _one_line, _Parser, _threads, failure_exit, int_at_least,
                  signals_as_exceptions)

PROG = "blt-train"
Format = Literal["tiktoken", "hf", "gpt2"]

EPILOG = """\
examples:
  %(prog)s --input corpus/*.txt --vocab-size 32000 --output tok.tiktoken
  %(prog)s --input a.txt b.txt --vocab-size 8000 --output tokenizer.json --format hf --hf-compatible --pattern gpt2
  %(prog)s --input code.py --vocab-size 4096 --output gpt2_dir --format gpt2 --special '<|endoftext|>'

Formats: tiktoken (OUTPUT gets the rank file, NAME.meta.json beside it gets the pattern and
specials), hf (OUTPUT is a tokenizer.json), gpt2 (OUTPUT is a directory for vocab.json and
merges.txt). Exit status: 0 ok, 1 runtime error, 2 usage error, 130 interrupted.
"""


_count = int_at_least(0, "count")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Train a byte-level BPE tokenizer on text files.", epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="+", required=True, metavar="FILE", help="training text files")
    p.add_argument("--vocab-size", type=_count, required=True, metavar="N",
                   help="tokens in the vocabulary, counting the 256 bytes and the specials")
    p.add_argument("--output", required=True, metavar="PATH", help="where to save the tokenizer")
    p.add_argument("--format", choices=("tiktoken", "hf", "gpt2"), default="tiktoken")
    p.add_argument("--pattern", default="cl100k", help="split regex: gpt2, cl100k, o200k or a regex (default cl100k)")
    p.add_argument("--special", action="append", default=[], metavar="TEXT", help="special token (repeatable)")
    p.add_argument("--min-frequency", type=_count, default=2, metavar="N")
    p.add_argument("--max-token-length", type=_count, default=None, metavar="N")
    p.add_argument("--threads", type=_threads, default=None, metavar="N")
    p.add_argument("--memcap", type=_memcap, default=None, metavar="SIZE",
                   help="bytes the piece table may hold, e.g. 2GB or 50%% (rare pieces are pruned beyond)")
    p.add_argument("--hf-compatible", action="store_true",
                   help="reproduce HF tokenizers' BpeTrainer (ByteLevel alphabet) merge for merge")
    p.add_argument("--name", default=None, help="tokenizer name (default: the output's stem)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def _outputs(target: Path, fmt: str) -> List[Path]:
    if fmt == "tiktoken":
        stem = target.name[: -len(".tiktoken")] if target.name.endswith(".tiktoken") else target.name
        return [target, target.with_name(stem + ".meta.json")]
    if fmt == "gpt2":
        return [target / "vocab.json", target / "merges.txt"]
    return [target]


def save_atomically(enc: BPETokenizer, target: Path, fmt: Format) -> None:
    """Save ``enc`` into a temporary directory beside ``target``, then rename each file into
    place; nothing is left behind on failure."""
    created = fmt == "gpt2" and not target.exists()
    if created:
        target.mkdir(parents=True)
    parent = target if fmt == "gpt2" else (target.parent if str(target.parent) else Path("."))
    if not parent.is_dir():
        raise FileNotFoundError(2, "No such directory", str(parent))
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".blt-train.", suffix=".tmp"))
    try:
        staged = tmp / ("out" if fmt == "gpt2" else target.name)
        enc.save(staged, format=fmt)
        finals = _outputs(target, fmt)
        sources = _outputs(staged, fmt)
        for src, dst in zip(sources, finals):
            os.replace(src, dst)
        created = False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(target, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    with signals_as_exceptions():  # SIGTERM unwinds like Ctrl-C: the staged files are removed
        try:
            return _main(argv)
        except KeyboardInterrupt as e:
            return failure_exit(PROG, e, _one_line)


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .train import train_bpe

    target = Path(args.output)
    if args.format != "gpt2" and target.is_dir():
        parser.error(f"--output {target} is a directory; --format {args.format} writes a file")
    progress = not args.quiet and sys.stderr.isatty()
    try:
        enc = train_bpe(
            args.input, args.vocab_size, pattern=args.pattern, special_tokens=args.special,
            min_frequency=args.min_frequency, max_token_length=args.max_token_length or None,
            num_threads=args.threads, memcap=args.memcap, progress=progress,
            hf_compatible=args.hf_compatible, name=args.name or target.name.split(".")[0],
        )
        save_atomically(enc, target, cast(Format, args.format))
    except RUNTIME_ERRORS as e:
        return failure_exit(PROG, e, _one_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

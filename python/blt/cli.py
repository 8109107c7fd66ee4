"""blt-tokenize: tokenize a file or stream to token ids (bin, npy or JSON lines) from the shell.

Exit status: 0 on success, 2 on usage errors, 1 on runtime errors, 130 when interrupted; every
failure prints one line on stderr and leaves no output file behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .byte_tokenizer import CONTENT_TYPES, DTYPES
from .pipeline import FORMATS, format_for, parse_chunk_size, parse_memcap, tokenize_file

PROG = "blt-tokenize"

EPILOG = """\
sizes:
  Units: B, KB/MB/GB (10^3, 10^6, 10^9), KiB/MiB/GiB or K/M/G (2^10, 2^20, 2^30).
  --memcap also takes a percentage of the RAM available now (e.g. 50%%).

formats:
  bin    raw little-endian ids of --dtype (np.fromfile(path, dtype))
  npy    NumPy array file (np.load(path, mmap_mode="r")); needs a seekable output
  jsonl  one line holding the document's ids as a JSON array

examples:
  %(prog)s --input corpus.txt --output corpus.npy --type text
  %(prog)s --input image.png --output ids.bin --type image --dtype uint32
  cat notes.txt | %(prog)s --input - --output - --format jsonl --no-bos --no-eos
  %(prog)s --input big.txt --output big.bin --threads 4 --memcap 512MB --chunksize 1MB:8MB
  %(prog)s --input data.txt --output data.npy --memcap 50%% --strip-bom --quiet

The output file is written beside the target under a temporary name and renamed on success;
on any error (or Ctrl-C) no output file is left. Exit status: 0 ok, 1 runtime error, 2 usage
error, 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _threads(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid thread count {text!r}: expected an integer >= 1") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid thread count {n}: must be >= 1")
    return n


def _memcap(text: str) -> int:
    try:
        return parse_memcap(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _chunksize(text: str):
    try:
        return parse_chunk_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Tokenize a file or stream into BLT byte ids, in parallel and in bounded memory.\n"
        "The output equals ByteTokenizer.encode of the whole input, byte for byte.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", "-i", required=True, metavar="PATH|-", help="input file, or - for stdin")
    p.add_argument("--output", "-o", required=True, metavar="PATH|-", help="output file, or - for stdout")
    p.add_argument("--type", choices=CONTENT_TYPES, default=None,
                   help="content type: adds its meta token after BOS; text also keeps UTF-8 "
                        "characters whole within chunks (default: none)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from the output extension .npy/.jsonl, else bin)")
    p.add_argument("--dtype", choices=DTYPES, default="uint16", help="id type (default: uint16)")
    p.add_argument("--bos", action=argparse.BooleanOptionalAction, default=True,
                   help="emit BOS (1) before the document (default: yes)")
    p.add_argument("--eos", action=argparse.BooleanOptionalAction, default=True,
                   help="emit EOS (2) after the document (default: yes)")
    p.add_argument("--strip-bom", action="store_true", help="drop a leading byte order mark")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="worker threads, at most the usable cores (default: all of them)")
    p.add_argument("--memcap", type=_memcap, default=None, metavar="SIZE|PCT%",
                   help="bound on bytes in flight, e.g. 512MB or 80%% of available RAM (default: 25%%)")
    p.add_argument("--chunksize", type=_chunksize, default=None, metavar="SIZE|MIN:MAX",
                   help="chunk size, fixed (4MB) or a range (64KiB:1MiB, the default; chunks that fit in L2 cache are fastest); the planner "
                        "uses input size / (4 x threads) clamped to the range")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_patch_arguments(p)
    return p


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        if e.filename and str(e.filename) not in msg:
            msg = f"{e.filename}: {msg}"
        return msg
    return str(e).splitlines()[0] if str(e) else e.__class__.__name__


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.patch is not None:
        return _main_patch(args)
    fmt = args.format or format_for(args.output)

    bar = None
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:  # created on the first report, when the total is known
                bar = tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1000,
                           desc=PROG, leave=False)
            bar.update(done - bar.n)

    try:
        try:
            tokenize_file(
                args.input,
                args.output,
                type=args.type,
                bos=args.bos,
                eos=args.eos,
                strip_bom=args.strip_bom,
                dtype=args.dtype,
                format=fmt,
                threads=args.threads,
                memcap=args.memcap,
                chunk_size=args.chunksize,
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as e:
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    if args.output == "-":
        try:
            sys.stdout.flush()
        except OSError:
            pass
    return 0


# --- patching (--patch patch.yml): BLT ids and patch lengths in an .npz ------------------------


def _add_patch_arguments(p: argparse.ArgumentParser) -> None:
    from .patch_pipeline import schema_help

    g = p.add_argument_group(
        "patching",
        "--patch FILE.yml also patches the ids and writes an .npz (arrays ids and patch_lengths,\n"
        "equal to Patcher.patch of ByteTokenizer.encode of the whole input) to --output, which\n"
        "must be a path. YAML keys ([rules] they apply to; see docs/patch.md):\n"
        + schema_help().replace("%", "%%")
        + "\nexample:  rule: entropy\n          model: model.bin\n          threshold: 1.3\n"
        "An unknown key or a bad value exits with status 2, naming the key.",
    )
    g.add_argument("--patch", default=None, metavar="FILE.yml",
                   help="patch configuration (YAML); output becomes an .npz")


def _main_patch(args: argparse.Namespace) -> int:
    """--patch: configuration errors exit 2, runtime errors 1, Ctrl-C 130; one line each."""
    from .patch_pipeline import PatchConfigError, load_patch_config, tokenize_and_patch

    def usage(msg: str) -> int:
        sys.stderr.write(f"{PROG}: error: {msg}\n")
        return 2

    if args.format is not None:
        return usage("--format does not apply with --patch (the output is an .npz file)")
    if args.output == "-":
        return usage("--patch writes an .npz file: --output must be a path, not -")
    bar = None
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1000,
                           desc=PROG, leave=False)
            bar.update(done - bar.n)

    try:
        try:
            config = load_patch_config(args.patch)
            tokenize_and_patch(
                args.input, args.output, patch=config, type=args.type, bos=args.bos, eos=args.eos,
                strip_bom=args.strip_bom, dtype=args.dtype, threads=args.threads, memcap=args.memcap,
                chunk_size=args.chunksize, progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
    except PatchConfigError as e:
        return usage(_one_line(e))
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as e:
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

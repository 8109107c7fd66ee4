"""blt-tokenize: tokenize a file or stream to token ids (bin, npy or JSON lines) from the shell.

Byte ids by default; ``--vocab NAME`` or ``--merges FILE`` switch to a BPE vocabulary.

Exit status: 0 on success, 2 on usage errors, 1 on runtime errors, 130 when interrupted (SIGINT),
143 when terminated (SIGTERM); every failure prints one line on stderr and leaves no output file
behind.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Dict, Iterator, List, Literal, NoReturn, Optional, Tuple, Type, Union

from ._sizes import parse_chunk_size, parse_memcap
from .bpe import BPETokenizer
from .byte_tokenizer import CONTENT_TYPES, DTYPES
from .encodings import ENCODINGS, get_encoding, list_encoding_names
from ._cli_megatron import EPILOG as MEGATRON_EPILOG
from ._cli_megatron import add_megatron_arguments, check_megatron_arguments, megatron_work
from .patch_pipeline import PatchConfigError, load_patch_config, schema_help, tokenize_and_patch
from .pipeline import FORMATS, TokenizeStats, format_for, tokenize_file

PROG = "blt-tokenize"
ENCODING_NAMES = list_encoding_names()

EPILOG = """\
sizes:
  Units: B, KB/MB/GB (10^3, 10^6, 10^9), KiB/MiB/GiB or K/M/G (2^10, 2^20, 2^30).
  --memcap also takes a percentage of the RAM available now (e.g. 50%%).

formats:
  bin    raw little-endian ids of --dtype (np.fromfile(path, dtype))
  npy    NumPy array file (np.load(path, mmap_mode="r")); needs a seekable output
  jsonl  one line holding the document's ids as a JSON array

vocabularies (BPE instead of byte ids):
  --vocab NAME     r50k_base, p50k_base, cl100k_base or o200k_base (as blt.get_encoding); the
                   NAME.tiktoken rank file is looked up in --vocab-dir, then $BLT_VOCAB_DIR, then
                   tiktoken's cache. Nothing is downloaded.
  --merges FILE    the kind is decided by the file:
                     *.json, or content starting with '{'    HF tokenizer.json (byte-level BPE)
                     *.tiktoken, or lines 'base64 rank'      tiktoken rank file; the split pattern
                                                             and specials come from NAME.meta.json
                                                             beside it
                     anything else                           GPT-2 merges.txt, with --vocab-json
                                                             (default: vocab.json beside it)
  Special-token text (e.g. <|endoftext|>) is an error unless allowed: --allowed-special all, or a
  comma-separated list. The error names the token and its byte offset in the whole input.
  With a vocabulary the default --dtype is uint32 (uint16 is refused when ids exceed 65535), and
  the byte-only flags --type/--bos/--eos/--strip-bom are usage errors: a BPE encoding adds no
  BOS/EOS and keeps a BOM as text, exactly like enc.encode(data).
  The output equals enc.encode(whole input) exactly, for every chunk size and thread count:
  chunks are cut only where the split pattern guarantees no token crosses (docs/pipeline.md).

examples:
  %(prog)s --input corpus.txt --output corpus.npy --type text
  %(prog)s --input image.png --output ids.bin --type image --dtype uint32
  cat notes.txt | %(prog)s --input - --output - --format jsonl --no-bos --no-eos
  %(prog)s --input big.txt --output big.bin --threads 4 --memcap 512MB --chunksize 1MB:8MB
  %(prog)s --input data.txt --output data.npy --memcap 50%% --strip-bom --quiet
  %(prog)s --input corpus.txt --output corpus.npy --vocab cl100k_base --vocab-dir ~/vocab
  %(prog)s --input docs.txt --output docs.bin --vocab o200k_base --allowed-special all
  %(prog)s --input docs.txt --output docs.bin --vocab r50k_base --dtype uint16 \\
      --allowed-special '<|endoftext|>'
  %(prog)s --input code.py --output code.npy --merges merges.txt --vocab-json vocab.json
  %(prog)s --input code.py --output code.npy --merges tokenizer.json
  %(prog)s --input code.py --output code.npy --merges cl100k_base.tiktoken

The output file is written beside the target under a temporary name and renamed on success;
on any error (or Ctrl-C, or SIGTERM) no output file is left. Exit status: 0 ok, 1 runtime error,
2 usage error, 130 interrupted, 143 terminated.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse ``type`` taking an integer >= ``minimum``; errors name ``what`` and the value."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected an integer >= {minimum}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"invalid {what} {n}: must be >= {minimum}")
        return n

    return parse


_threads = int_at_least(1, "thread count")


def _memcap(text: str) -> int:
    try:
        return parse_memcap(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _chunksize(text: str) -> Tuple[int, int]:
    try:
        return parse_chunk_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    """The blt-tokenize argument parser."""
    p = _Parser(
        prog=PROG,
        description="Tokenize a file or stream into BLT byte ids (or BPE ids with --vocab/--merges), in "
        "parallel and in bounded memory.\nThe output equals ByteTokenizer.encode (or the BPE "
        "encoding's encode) of the whole input, id for id.",
        epilog=EPILOG + "\n" + MEGATRON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", "-i", required=True, nargs="+", metavar="PATH|-",
                   help="input file, or - for stdin (several files with --format megatron)")
    p.add_argument("--output", "-o", required=True, metavar="PATH|-", help="output file, or - for stdout")
    p.add_argument("--type", choices=CONTENT_TYPES, default=None,
                   help="content type: adds its meta token after BOS; text also keeps UTF-8 "
                        "characters whole within chunks (default: none; bytes only)")
    p.add_argument("--format", choices=FORMATS + ("megatron",), default=None,
                   help="output format (default: from the output extension .npy/.jsonl, else bin); "
                        "megatron writes OUTPUT.bin and OUTPUT.idx")
    p.add_argument("--dtype", choices=DTYPES, default=None,
                   help="id type (default: uint16 for bytes, uint32 with --vocab/--merges)")
    p.add_argument("--bos", action=argparse.BooleanOptionalAction, default=None,
                   help="emit BOS (1) before the document (default: yes; bytes only)")
    p.add_argument("--eos", action=argparse.BooleanOptionalAction, default=None,
                   help="emit EOS (2) after the document (default: yes; bytes only)")
    p.add_argument("--strip-bom", action="store_true", default=None,
                   help="drop a leading byte order mark (bytes only)")
    v = p.add_argument_group("BPE vocabulary (see 'vocabularies' below)")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--vocab", metavar="NAME", choices=ENCODING_NAMES,
                     help="OpenAI encoding: " + ", ".join(ENCODING_NAMES))
    src.add_argument("--merges", metavar="FILE",
                     help="merges.txt (GPT-2, with --vocab-json), NAME.tiktoken or HF tokenizer.json")
    v.add_argument("--vocab-dir", metavar="DIR",
                   help="folder holding NAME.tiktoken for --vocab (then $BLT_VOCAB_DIR, tiktoken's cache)")
    v.add_argument("--vocab-json", metavar="FILE",
                   help="GPT-2 vocab.json for a merges.txt (default: vocab.json beside it)")
    v.add_argument("--allowed-special", metavar="all|TOKEN,...", default=None,
                   help="special tokens encoded as their ids; any other special token's text in the "
                        "input is an error (default: none allowed)")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="worker threads, at most the usable cores (default: all of them)")
    p.add_argument("--memcap", type=_memcap, default=None, metavar="SIZE|PCT%",
                   help="bound on bytes in flight, e.g. 512MB or 80%% of available RAM (default: 25%%)")
    p.add_argument("--chunksize", type=_chunksize, default=None, metavar="SIZE|MIN:MAX",
                   help="chunk size, fixed (4MB) or a range (64KiB:1MiB, the default; chunks that fit in L2 cache are fastest); the planner "
                        "uses input size / (4 x threads) clamped to the range")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="after the run, print to stderr each pipeline step's busy time and MB/s per "
                        "thread and the writer's queue depth (which step limits the run)")
    _add_patch_arguments(p)
    add_megatron_arguments(p)
    return p


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        if e.filename and str(e.filename) not in msg:
            msg = f"{e.filename}: {msg}"
        return msg
    return str(e).splitlines()[0] if str(e) else e.__class__.__name__


def _merges_kind(path: str) -> str:
    """'hf', 'tiktoken' or 'gpt2' for a --merges file, from its extension, else its first bytes."""
    low = path.lower()
    if low.endswith(".json"):
        return "hf"
    if low.endswith(".tiktoken"):
        return "tiktoken"
    with open(path, "rb") as f:
        head = f.read(4096)
    text = head.lstrip()
    if text.startswith(b"{"):
        return "hf"
    first = text.split(b"\n", 1)[0].strip()
    parts = first.split()
    if len(parts) == 2 and parts[1].isdigit() and re.fullmatch(rb"[A-Za-z0-9+/=]+", parts[0]):
        return "tiktoken"
    return "gpt2"


def _load_bpe(args: argparse.Namespace, parser: argparse.ArgumentParser) -> BPETokenizer:
    """The BPETokenizer named by --vocab or --merges."""
    if args.vocab:
        if args.vocab_json:
            parser.error("--vocab-json goes with --merges FILE (a GPT-2 merges.txt), not --vocab")
        return get_encoding(args.vocab, vocab_dir=args.vocab_dir)
    if args.vocab_dir:
        parser.error("--vocab-dir goes with --vocab NAME")
    path = args.merges
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, f"cannot open merges file {path!r}: No such file", path)
    kind = _merges_kind(path)
    if kind != "gpt2" and args.vocab_json:
        parser.error(f"--vocab-json goes with a GPT-2 merges.txt; {path} is a "
                     f"{'HF tokenizer.json' if kind == 'hf' else 'tiktoken rank file'}")
    if kind == "hf":
        return BPETokenizer.from_hf(path)
    if kind == "tiktoken":
        return BPETokenizer.from_tiktoken(path)
    vocab_json = args.vocab_json or os.path.join(os.path.dirname(path), "vocab.json")
    if not os.path.isfile(vocab_json):
        parser.error(f"{path} looks like a GPT-2 merges.txt: pass --vocab-json FILE "
                     f"({vocab_json} does not exist)")
    return BPETokenizer.from_gpt2(vocab_json, path)


def _allowed_special(text: Optional[str], enc: BPETokenizer,
                     parser: argparse.ArgumentParser) -> Union[Literal["all"], frozenset[str]]:
    if text is None or text.strip() == "":
        return frozenset()
    if text.strip() == "all":
        return "all"
    tokens = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(tokens - enc.special_tokens_set)
    if unknown:
        known = ", ".join(sorted(enc.special_tokens_set)) or "none"
        parser.error(f"--allowed-special: {', '.join(unknown)} is not a special token of "
                     f"{enc.name} (its special tokens: {known})")
    return tokens


_SPECIAL_RE = re.compile(r"disallowed special token '(.*)' at byte (\d+)")


def _error_line(e: BaseException, source: str) -> str:
    msg = _one_line(e)
    m = _SPECIAL_RE.search(msg) if isinstance(e, ValueError) else None
    if m:
        tok, at = m.group(1), m.group(2)
        where = "stdin" if source == "-" else source
        return (f"disallowed special token {tok!r} at byte {at} of {where}; pass "
                f"--allowed-special all (or --allowed-special {tok!r}) to encode it as a special token")
    return msg


def _one_line_all(e: BaseException) -> str:
    """The whole message on one line (a missing rank file lists every place looked)."""
    if isinstance(e, OSError) and e.filename and e.strerror:
        return _one_line(e)
    return " ".join(str(e).split()) or e.__class__.__name__


def _report_stages(args: argparse.Namespace, st: TokenizeStats) -> None:
    """--verbose: the run's totals, each step's busy time and the ordered writer's queue."""
    if not getattr(args, "verbose", False):
        return
    sys.stderr.write(f"{PROG}: {st.bytes_in} bytes -> {st.ids_out} ids in {st.seconds:.3f} s "
                     f"({st.mb_per_s:.1f} MB/s), {st.threads} threads, {st.chunks} chunks of "
                     f"{st.chunk_size} bytes\n")
    for line in st.stage_report().splitlines():
        sys.stderr.write(f"{PROG}:   {line}\n")
    sys.stderr.write(f"{PROG}:   writer queue: mean {st.queue_mean:.2f}, max {st.queue_max} chunks\n")


def _run_reporting(
    args: argparse.Namespace,
    work: Callable[[Optional[Callable[[int, int], None]]], None],
    error_line: Callable[[BaseException], str],
    usage_errors: Tuple[Type[BaseException], ...] = (),
) -> int:
    """Run ``work(progress)`` with a tqdm bar on a TTY (none otherwise) and turn failures into the
    CLI's exit codes: 130 on Ctrl-C, 1 with one stderr line on a runtime error. Exceptions in
    ``usage_errors`` propagate so the caller can report them as usage errors."""
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
            work(progress)
        finally:
            if bar is not None:
                bar.close()
    except usage_errors:
        raise
    except RUNTIME_ERRORS as e:
        return failure_exit(PROG, e, error_line)
    return 0


# What a CLI run reports as a runtime failure (exit 1, or 130 for Ctrl-C) rather than a traceback.
RUNTIME_ERRORS = (KeyboardInterrupt, OSError, ValueError, TypeError, RuntimeError, MemoryError)


class Terminated(KeyboardInterrupt):
    """SIGTERM delivered as an exception. Its default action kills the process on the spot, which
    left the temporary output file behind; raised instead, it unwinds like Ctrl-C (the native run
    is cancelled from its progress poll, the temporary file removed). A KeyboardInterrupt subclass
    so every path that already cleans up after Ctrl-C handles it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (main thread only: Python runs signal
    handlers there); the previous handler comes back afterwards, so an in-process ``main()``
    leaves the caller's handlers as they were."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def failure_exit(prog: str, e: BaseException, error_line: Callable[[BaseException], str]) -> int:
    """Writes the one stderr line for a failed run and returns its exit code: 130 for Ctrl-C, 143
    (128 + 15) for SIGTERM (also an error raised while either was unwinding), else 1."""
    stop = _interruption(e)
    if isinstance(stop, Terminated):
        sys.stderr.write(f"{prog}: terminated\n")
        return 128 + stop.signum
    if stop is not None:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    sys.stderr.write(f"{prog}: error: {error_line(e)}\n")
    return 1


def _interruption(e: BaseException) -> Optional[KeyboardInterrupt]:
    """``e`` if it is a KeyboardInterrupt, or one in its context chain when ``e`` came from
    clean-up that a Ctrl-C or SIGTERM was unwinding through: the user stopped the run, and that is
    what the exit status must say. None otherwise."""
    seen = set()
    c: Optional[BaseException] = e
    while c is not None and id(c) not in seen:
        if isinstance(c, KeyboardInterrupt):
            return c
        seen.add(id(c))
        c = c.__context__
    return None


def _byte_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Byte-tokenizer options from the flags; unset --bos/--eos mean on (None marks "not given"
    so that --vocab/--merges can refuse them)."""
    return dict(
        content_type=args.type,
        bos=True if args.bos is None else args.bos,
        eos=True if args.eos is None else args.eos,
        strip_bom=bool(args.strip_bom),
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Run blt-tokenize with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    with signals_as_exceptions():
        try:
            return _main(argv)
        except KeyboardInterrupt as e:
            # Stopped outside a run (e.g. while a vocabulary loads): still one line, no traceback.
            return failure_exit(PROG, e, _one_line)


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fmt = args.format or format_for(args.output)
    check_megatron_arguments(args, fmt, parser.error)
    if fmt != "megatron":
        args.input = args.input[0]
    if args.patch is not None:
        if args.vocab is not None or args.merges is not None:
            # Patchers work on BLT byte ids; BPE enters a patch run through the YAML `bpe:` key.
            parser.error("--patch works on byte ids: give the BPE encoding as `bpe:` in the patch "
                         "YAML instead of --vocab/--merges")
        return _main_patch(args)

    tokenizer = None
    bpe = args.vocab is not None or args.merges is not None
    if bpe:
        used = [flag for flag, val in (("--type", args.type), ("--bos/--no-bos", args.bos),
                                       ("--eos/--no-eos", args.eos), ("--strip-bom", args.strip_bom))
                if val is not None]
        if used:
            parser.error(f"{', '.join(used)} appl{'ies' if len(used) == 1 else 'y'} to byte ids only, "
                         "not with --vocab/--merges (a BPE encoding adds no BOS/EOS or meta token)")
        if args.vocab and args.dtype == "uint16":
            n = ENCODINGS[args.vocab].n_vocab
            if n > 65536:  # a usage error even before the rank file is found
                parser.error(f"--dtype uint16 cannot hold {args.vocab}'s ids (n_vocab {n} > 65536); use uint32")
        try:
            enc = _load_bpe(args, parser)
        except (OSError, ValueError, NotImplementedError) as e:
            msg = _one_line_all(e).replace("Pass vocab_dir=,", "Pass --vocab-dir DIR,")
            sys.stderr.write(f"{PROG}: error: {msg}\n")
            return 1
        allowed = _allowed_special(args.allowed_special, enc, parser)
        dtype = args.dtype or "uint32"
        if args.dtype == "uint16" and enc.n_vocab > 65536:
            parser.error(f"--dtype uint16 cannot hold {enc.name}'s ids (n_vocab {enc.n_vocab} > 65536); "
                         "use uint32")
        tokenizer = enc.native(allowed_special=allowed, disallowed_special="all")
    else:
        for flag, val in (("--vocab-dir", args.vocab_dir), ("--vocab-json", args.vocab_json),
                          ("--allowed-special", args.allowed_special)):
            if val is not None:
                parser.error(f"{flag} goes with --vocab NAME or --merges FILE")
        dtype = args.dtype or "uint16"
    byte_opts = {} if bpe else _byte_options(args)
    if fmt == "megatron":
        # The dtype is Megatron's choice for the vocabulary unless --dtype says otherwise.
        eot = enc.eot_token if bpe else None
        return _run_reporting(args, megatron_work(args, tokenizer, byte_opts, args.dtype, eot),
                              lambda e: _error_line(e, " ".join(args.input)))

    def work(progress: Optional[Callable[[int, int], None]]) -> None:
        res = tokenize_file(
            args.input,
            args.output,
            tokenizer=tokenizer,
            **byte_opts,
            dtype=dtype,
            format=fmt,
            num_threads=args.threads,
            memcap=args.memcap,
            chunk_size=args.chunksize,
            progress=progress,
        )
        _report_stages(args, res)

    status = _run_reporting(args, work, lambda e: _error_line(e, args.input))
    if status != 0:
        return status
    if args.output == "-":
        try:
            sys.stdout.flush()
        except OSError:
            pass
    return 0


# --- patching (--patch patch.yml): BLT ids and patch lengths in an .npz ------------------------


def _add_patch_arguments(p: argparse.ArgumentParser) -> None:
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
    def usage(msg: str) -> int:
        sys.stderr.write(f"{PROG}: error: {msg}\n")
        return 2

    if args.format is not None:
        return usage("--format does not apply with --patch (the output is an .npz file)")
    if args.output == "-":
        return usage("--patch writes an .npz file: --output must be a path, not -")

    def work(progress: Optional[Callable[[int, int], None]]) -> None:
        config = load_patch_config(args.patch)
        res = tokenize_and_patch(
            args.input, args.output, patch=config, dtype=args.dtype or "uint16",
            num_threads=args.threads, memcap=args.memcap, chunk_size=args.chunksize, progress=progress,
            **_byte_options(args),
        )
        _report_stages(args, res.tokenize)

    try:
        return _run_reporting(args, work, _one_line, usage_errors=(PatchConfigError,))
    except PatchConfigError as e:
        return usage(_one_line(e))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Tokenize a file and patch it in one run: BLT byte ids, patch lengths and (optionally) hashed
n-gram ids in an ``.npz``.

Everything runs in the native file pipeline's oneTBB graph (``blt_core/pipeline/patch_stage``):
each chunk's worker encodes it, computes its entropies, its patch starts and its hash ids in
parallel; the ordered writer recomputes the few leading positions that look back into the
previous chunk (from that chunk's tail) and carries the open patch across the seam, so the
arrays equal ``Patcher.patch`` and ``hash_ngrams`` of the one-shot ``encode`` for any chunk size
and thread count.

Memory stays bounded by the pipeline's memcap (which counts the stages' buffers). The ids are
written straight into the archive; lengths and hash ids go to unnamed spool files beside the
target and are copied in at the end (an ``.npy`` header needs the total length). The ``.npz`` is
written under a temporary name and renamed on success, so an error or Ctrl-C leaves no output
file. Top-k entropy patching (``threshold: null``) needs the whole sequence at once: it stays
in memory (``Patcher.patch``) and is not offered here.

The patch configuration (YAML file, mapping, or :class:`~blt.Patcher`) is described in
``docs/patch.md`` and by ``blt-tokenize --help``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeGuard, Union

import numpy as np
import numpy.typing as npt

from . import encodings
from ._atomic import check_output_path
from ._deprecation import UNSET, renamed
from ._hash_config import HASH_SCHEMA, HashConfigError, HashNgramConfig, hash_ngram_config
from ._native_pipeline import TokenizeStats, run_npz
from ._patch_inputs import DEFAULT_RESET
from ._sizes import parse_chunk_size
from .byte_tokenizer import ByteTokenizer
from .entropy_model import EntropyModel
from .patcher import DEFAULT_THRESHOLD, Patcher

RULES = ("static", "byte", "space", "bpe", "entropy")

# key -> (rules it applies to (None: all), description for --help and errors)
SCHEMA: Dict[str, Tuple[Optional[Tuple[str, ...]], str]] = {
    "rule": (None, "static | byte | space | bpe | entropy (required)"),
    "patch_size": (("static",), "integer >= 1: ids per patch after the BOS patch (required for static)"),
    "threshold": (("entropy",), f"number: entropy (nats) above which a patch starts (default {DEFAULT_THRESHOLD:.6g})"),
    "threshold_add": (("entropy",), "number: also require H[p-1] - H[p-2] > threshold_add"),
    "monotonicity": (("entropy",), "bool: compare entropy differences with threshold instead (default false)"),
    "model": (("entropy",), "path of an EntropyModel file (EntropyModel.save), relative to the YAML file (required for entropy)"),
    "reset_context_at": (("entropy",), "list of single characters/bytes or BLT ids after which the model forgets its context (default ['\\n', 2])"),
    "max_patch_length": (None, "integer >= 1: split longer patches (default: no limit)"),
    "include_next_token": (None, "bool: lengths sum to len(ids) + 1, as in the reference (default false)"),
    "force_boundaries": (None, "bool: BOS is its own patch and EOS ends one inside a sequence (default true)"),
    "bpe": (None, "encoding name (r50k_base, p50k_base, cl100k_base, o200k_base): put the BPE delimiter 3 before each of its tokens (required for bpe)"),
    "vocab_dir": (None, "folder holding the encoding's .tiktoken file, relative to the YAML file (with bpe)"),
    "allowed_special": (None, "'all' or a list of special tokens the bpe encoding turns into tokens (with bpe; default none)"),
    "hash_ngrams": (None, "mapping: also write hashed byte n-gram ids (array hash_ids, one row per id) with these keys:"),
}


def schema_help() -> str:
    """The YAML keys, one per line, for ``--help``.

    >>> "patch_size" in schema_help()
    True
    """
    lines = []
    for key, (rules, text) in SCHEMA.items():
        where = "" if rules is None else f" [{', '.join(rules)}]"
        lines.append(f"  {key}{where}: {text}")
    lines += [f"    {key}: {text}" for key, text in HASH_SCHEMA.items()]
    return "\n".join(lines)


class PatchConfigError(ValueError):
    """A patch configuration that cannot be used; ``key`` names the offending key (or None)."""

    def __init__(self, message: str, key: Optional[str] = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class PatchConfig:
    """A validated patch configuration: the patcher, and the BPE encoder for delimiters."""

    patcher: Optional[Patcher]  # None: no patch lengths (hash ids only)
    bpe: Any = None  # native BPE encoder (BLT ids get delimiter 3 before its tokens) or None
    source: str = "<config>"
    hash: Optional[HashNgramConfig] = None  # hashed n-gram ids to write, if any


@dataclass(frozen=True)
class PatchStats:
    """What one :func:`tokenize_and_patch` run did."""

    ids_out: int  #: ids written (BOS/EOS included)
    patches: int  #: patch lengths written
    seconds: float  #: wall time of the whole run
    tokenize: TokenizeStats  #: the tokenizing pass
    ids: Optional[npt.NDArray[Any]] = None  #: the ids when ``dst`` is None
    patch_lengths: Optional[npt.NDArray[np.int32]] = None  #: the patch lengths when ``dst`` is None
    hash_ids: Optional[npt.NDArray[Any]] = None  #: hash ids (ids_out x columns) when ``dst`` is None
    hash_columns: int = 0  #: hash ids per position (0: none written)


# ---------------------------------------------------------------------------------------------
# Configuration


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> TypeGuard[Union[int, float]]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_patch_config(path: Union[str, "os.PathLike[str]"]) -> PatchConfig:
    """Read a YAML patch configuration; relative paths in it are relative to its folder.

    Raises ``PatchConfigError`` (a ValueError naming the key) for bad content and OSError if
    the file (or the entropy model it names) cannot be read.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "patch.yml")
    >>> _ = open(p, "w").write("rule: static\\npatch_size: 4\\n")
    >>> load_patch_config(p).patcher
    Patcher.static(patch_size=4)
    """
    import yaml

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise e.__class__(e.errno, f"cannot read patch config: {e.strerror}", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PatchConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    return patch_config(data, base_dir=os.path.dirname(os.path.abspath(path)), source=path)


def patch_config(data: Any, *, base_dir: Optional[str] = None, source: str = "<config>") -> PatchConfig:
    """Validate a configuration mapping (the YAML schema) and build its patcher.

    >>> patch_config({"rule": "space", "max_patch_length": 8}).patcher
    Patcher.space(max_patch_length=8)
    >>> patch_config({"rule": "static"})
    Traceback (most recent call last):
    ...
    blt.patch_pipeline.PatchConfigError: <config>: patch_size: required for rule static
    """

    def fail(key: Optional[str], msg: str) -> PatchConfigError:
        return PatchConfigError(f"{source}: {key}: {msg}" if key else f"{source}: {msg}", key)

    if not isinstance(data, Mapping):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise fail(None, f"expected a mapping of keys (rule: ..., ...), got {got}")
    for key in data:
        if key not in SCHEMA:
            raise fail(str(key), f"unknown key (known: {', '.join(SCHEMA)})")
    if "rule" not in data:
        raise fail("rule", f"required (one of {', '.join(RULES)})")
    rule = data["rule"]
    if rule not in RULES:
        raise fail("rule", f"unknown rule {rule!r} (expected one of {', '.join(RULES)})")
    for key in data:
        rules = SCHEMA[key][0]
        if rules is not None and rule not in rules:
            raise fail(key, f"applies to rule {', '.join(rules)} only, not {rule}")

    def boolean(key: str, default: bool) -> bool:
        v = data.get(key, default)
        if not isinstance(v, bool):
            raise fail(key, f"must be true or false, got {v!r}")
        return v

    def positive_int(key: str) -> Optional[int]:
        v = data.get(key)
        if v is None:
            return None
        if not _is_int(v) or v < 1:
            raise fail(key, f"must be an integer >= 1, got {v!r}")
        return v

    def number(key: str, default: Optional[float]) -> Optional[float]:
        if key not in data:
            return default
        v = data[key]
        if not _is_number(v) or v != v:
            hint = " (top-k entropy patching needs the whole sequence and cannot be streamed)" if v is None and key == "threshold" else ""
            raise fail(key, f"must be a number, got {v!r}{hint}")
        return float(v)

    def path(key: str) -> str:
        v = data[key]
        if not isinstance(v, str) or not v:
            raise fail(key, f"must be a path, got {v!r}")
        p = os.path.expanduser(v)
        return p if os.path.isabs(p) or base_dir is None else os.path.join(base_dir, p)

    options: Dict[str, Any] = dict(
        max_patch_length=positive_int("max_patch_length"),
        include_next_token=boolean("include_next_token", False),
        force_boundaries=boolean("force_boundaries", True),
    )
    if rule == "static":
        if "patch_size" not in data:
            raise fail("patch_size", "required for rule static")
        patcher = Patcher("static", patch_size=positive_int("patch_size"), **options)
    elif rule == "entropy":
        if "model" not in data:
            raise fail("model", "required for rule entropy (a file written by EntropyModel.save)")
        model_path = path("model")
        if not os.path.isfile(model_path):
            raise FileNotFoundError(2, f"{source}: model: entropy model file not found: {model_path}", model_path)
        try:
            model = EntropyModel.load(model_path)
        except ValueError as e:
            raise fail("model", f"{model_path}: {str(e).splitlines()[0]}") from None
        reset = data.get("reset_context_at", list(DEFAULT_RESET))
        if not isinstance(reset, list):
            raise fail("reset_context_at", f"must be a list, got {reset!r}")
        try:
            patcher = Patcher.entropy(
                model,
                threshold=number("threshold", DEFAULT_THRESHOLD),
                threshold_add=number("threshold_add", None),
                monotonicity=boolean("monotonicity", False),
                reset_context_at=reset,
                **options,
            )
        except (TypeError, ValueError) as e:
            raise fail("reset_context_at", str(e).splitlines()[0]) from None
    else:
        patcher = Patcher(rule, **options)

    try:
        hash_cfg = hash_ngram_config(data.get("hash_ngrams"))
    except HashConfigError as e:
        raise PatchConfigError(f"{source}: {e}", e.key) from None

    bpe = None
    if "bpe" in data:
        bpe = _bpe_encoder(data, fail, path, source)
    else:
        for key in ("vocab_dir", "allowed_special"):
            if key in data:
                raise fail(key, "applies with key bpe only")
        if rule == "bpe":
            raise fail("bpe", "required for rule bpe (an encoding name such as cl100k_base whose tokens are delimited)")
    return PatchConfig(patcher=patcher, bpe=bpe, source=source, hash=hash_cfg)


def _bpe_encoder(data: Mapping[str, Any], fail: Callable[[Optional[str], str], PatchConfigError],
                 path: Callable[[str], str], source: str) -> Any:
    name = data["bpe"]
    if not isinstance(name, str) or name not in encodings.ENCODINGS:
        raise fail("bpe", f"unknown encoding {name!r} (known: {', '.join(encodings.list_encoding_names())})")
    vocab_dir = path("vocab_dir") if "vocab_dir" in data else None
    if vocab_dir is not None and not os.path.isdir(vocab_dir):
        raise FileNotFoundError(2, f"{source}: vocab_dir: folder not found: {vocab_dir}", vocab_dir)
    try:
        enc = encodings.get_encoding(name, vocab_dir=vocab_dir)
    except FileNotFoundError:
        raise FileNotFoundError(2, f"{source}: bpe: rank file for {name!r} not found in "
                                f"{vocab_dir or 'BLT_VOCAB_DIR or the tiktoken cache'} (set vocab_dir)",
                                vocab_dir or name) from None
    allowed = data.get("allowed_special", [])
    if not (allowed == "all" or (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed))):
        raise fail("allowed_special", f"must be 'all' or a list of special tokens, got {allowed!r}")
    unknown = [] if allowed == "all" else sorted(set(allowed) - enc.special_tokens_set)
    if unknown:
        raise fail("allowed_special", f"{unknown[0]!r} is not a special token of {name}")
    return enc.native(allowed_special=allowed if allowed == "all" else frozenset(allowed))


def as_patch_config(patch: Any) -> PatchConfig:
    """A PatchConfig from a Patcher, a mapping (the YAML schema) or a YAML file path.

    >>> as_patch_config(Patcher.byte()).patcher
    Patcher.byte()
    """
    if isinstance(patch, PatchConfig):
        return patch
    if isinstance(patch, Patcher):
        return PatchConfig(patcher=patch)
    if isinstance(patch, Mapping):
        return patch_config(patch)
    if isinstance(patch, (str, os.PathLike)):
        return load_patch_config(patch)
    raise TypeError(f"patch must be a blt.Patcher, a mapping or a YAML file path, got {type(patch).__name__}")


# ---------------------------------------------------------------------------------------------
# Running


def tokenize_and_patch(
    src: Any,
    dst: Any = None,
    *,
    patch: Any,
    hash_ngrams: Any = UNSET,
    tokenizer: Optional[ByteTokenizer] = None,
    dtype: Any = UNSET,
    chunk_size: Any = None,
    block_ids: Optional[int] = None,
    num_threads: Optional[int] = None,
    threads: Any = UNSET,
    **options: Any,
) -> PatchStats:
    """Tokenize ``src`` to BLT ids with the file pipeline and patch them with ``patch``.

    ``dst``: an ``.npz`` path (arrays ``ids``, ``patch_lengths`` and, with hash n-grams,
    ``hash_ids``; written atomically) or None to get the arrays in the result. ``patch`` may be
    None when only hash ids are wanted. ``hash_ngrams`` (a mapping of ``group_sizes``,
    ``hash_functions``, ``max_hash``, ``dtype``; True for the defaults; None/False for none)
    overrides the configuration's ``hash_ngrams`` section. ``tokenizer`` (a ByteTokenizer) must
    not be given together with a configuration's ``bpe`` key; other ``options``
    (``content_type``, ``bos``, ``eos``, ``strip_bom``, ``memcap``, ``progress``) and
    ``num_threads`` are those of ``tokenize_file``. ``block_ids`` is accepted for compatibility
    and ignored (the chunks are the blocks). Top-k entropy patching (no threshold) needs the
    whole sequence and is refused: use ``Patcher.patch`` in memory.

    >>> import blt
    >>> r = tokenize_and_patch(b"hi there", None, patch={"rule": "space"})
    >>> r.patch_lengths.tolist() == blt.Patcher.space().patch(b"hi there").tolist()
    True
    >>> r = tokenize_and_patch(b"hi", None, patch=None, hash_ngrams={"group_sizes": [2]})
    >>> r.hash_ids.tolist() == blt.hash_ngrams(r.ids, group_sizes=[2]).tolist()
    True
    """
    num_threads = renamed("tokenize_and_patch", "threads", "num_threads", threads, num_threads)
    if "type" in options:
        options["content_type"] = renamed("tokenize_and_patch", "type", "content_type", options.pop("type"),
                                          options.get("content_type", UNSET))
    t0 = time.monotonic()
    config = as_patch_config(patch) if patch is not None else PatchConfig(patcher=None)
    if hash_ngrams is not UNSET:
        try:
            config = PatchConfig(config.patcher, config.bpe, config.source, hash_ngram_config(hash_ngrams))
        except HashConfigError as e:
            raise PatchConfigError(str(e), e.key) from None
    if config.patcher is None and config.hash is None:
        raise ValueError("nothing to add to the ids: give patch= and/or hash_ngrams=")
    if tokenizer is None:
        tokenizer = ByteTokenizer(bpe=config.bpe)
    elif not isinstance(tokenizer, ByteTokenizer):
        raise TypeError(f"patching needs BLT byte ids: tokenizer must be a ByteTokenizer, got {type(tokenizer).__name__}")
    elif config.bpe is not None:
        raise ValueError("give the BPE delimiters either by the configuration's bpe key or by tokenizer=ByteTokenizer(bpe=...), not both")
    if block_ids is not None and block_ids < 1:
        raise ValueError(f"block_ids must be >= 1, got {block_ids}")

    target = None if dst is None else os.fspath(dst)
    if target is not None and target == "-":
        raise ValueError("patched output is an .npz file: the destination must be a path, not '-'")
    if target is not None:
        check_output_path(target)
    stage: Dict[str, Any] = {}
    p = config.patcher
    if p is not None:
        if p._rule.is_topk:
            raise ValueError("top-k entropy patching (threshold=None) needs the whole sequence at once and runs "
                             "in memory only (Patcher.patch); give a threshold to patch a file")
        stage.update(rule=p._rule, reset=list(p._reset))
        if p.model is not None:
            stage.update(model=p.model._m)
    if config.hash is not None:
        stage.update(config.hash.stage_args())
    tstats, res = run_npz(src, target, stage, tokenizer=tokenizer, dtype=dtype, chunk_size=chunk_size,
                          num_threads=num_threads, **options)
    arrays = res.get("arrays", {})
    return PatchStats(ids_out=tstats.ids_out, patches=int(res["patches"]), seconds=time.monotonic() - t0,
                      tokenize=tstats, ids=arrays.get("ids"), patch_lengths=arrays.get("patch_lengths"),
                      hash_ids=arrays.get("hash_ids"), hash_columns=int(res["hash_columns"]))

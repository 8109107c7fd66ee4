"""File formats of BPE vocabularies: readers and writers for tiktoken rank files (with their
``NAME.meta.json`` sidecar), GPT-2 ``vocab.json`` + ``merges.txt`` and HF ``tokenizer.json``.

Readers return plain Python data (token strings, merges, specials) with errors naming the file and
the line or field; :class:`blt.BPETokenizer` turns that data into a native model. Writers take the
data a model gives back.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import AbstractSet, Any, Callable, Dict, List, Literal, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._patterns import GPT2_PATTERN

PathLike = Union[str, "os.PathLike[str]"]
Merges = List[Tuple[str, str]]

def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's printable stand-in character for each byte (the 'byte-level' alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR: Dict[int, str] = _bytes_to_unicode()
_CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# str.translate table: byte-level characters -> latin-1 character of their byte; every other
# character below U+0400 -> U+FFFF, which makes the final latin-1 encode fail (caught, reported).
_DECODE_TABLE = {cp: "\uffff" for cp in range(0x400)}
_DECODE_TABLE.update({ord(c): chr(b) for c, b in _CHAR_TO_BYTE.items()})
_ENCODE_TABLE = "".join(BYTE_TO_CHAR[b] for b in range(256))


def byte_level_decode(s: str) -> Optional[bytes]:
    """Bytes of a GPT-2 byte-level token string, or None if it uses other characters.

    >>> byte_level_decode("Ġhello")
    b' hello'
    """
    try:
        return s.translate(_DECODE_TABLE).encode("latin-1")
    except UnicodeEncodeError:
        return None


def byte_level_encode(b: bytes) -> str:
    """GPT-2 byte-level string of ``b`` (inverse of :func:`byte_level_decode`).

    >>> byte_level_encode(b" hello")
    'Ġhello'
    """
    return "".join(_ENCODE_TABLE[x] for x in b)


def read_bytes(path: PathLike) -> bytes:
    """The whole content of ``path``."""
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# tiktoken rank files


def tiktoken_sidecar(path: PathLike) -> Path:
    """``NAME.meta.json`` beside the rank file ``NAME.tiktoken`` (pattern, specials, name).

    >>> tiktoken_sidecar("/v/cl100k_base.tiktoken").name
    'cl100k_base.meta.json'
    """
    p = Path(path)
    stem = p.name[: -len(".tiktoken")] if p.name.endswith(".tiktoken") else p.name
    return p.with_name(stem + ".meta.json")


def read_tiktoken_sidecar(path: PathLike) -> Tuple[str, Dict[str, int], Optional[str]]:
    """(pattern, special tokens, name or None) from the sidecar of rank file ``path``."""
    side = tiktoken_sidecar(path)
    if not side.is_file():
        raise ValueError(f"{path}: pattern= is required (no {side.name} next to the file)")
    meta = json.loads(side.read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or not isinstance(meta.get("pat_str"), str):
        raise ValueError(f"{side}: expected an object with a string 'pat_str'")
    special_tokens = meta.get("special_tokens", {})
    if not isinstance(special_tokens, dict):
        raise ValueError(f"{side}: 'special_tokens' must be an object")
    name = meta.get("name")
    return meta["pat_str"], special_tokens, name if isinstance(name, str) else None


def write_tiktoken(path: PathLike, rank_file: bytes, name: str, pattern: str, special_tokens: Dict[str, int]) -> None:
    """Write a rank file and its sidecar (read back by :func:`read_tiktoken_sidecar`)."""
    Path(path).write_bytes(rank_file)
    meta = {"name": name, "pat_str": pattern, "special_tokens": special_tokens}
    tiktoken_sidecar(path).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# GPT-2 vocab.json + merges.txt


class ByteLevelVocab(NamedTuple):
    """A byte-level BPE vocabulary as read from GPT-2 or HF files."""

    vocab: Dict[str, Any]  #: byte-level token string -> id (ids not yet validated)
    merges: Merges
    specials: Dict[str, int]
    always: Set[str]  #: added tokens matched even when not allowed (HF non-special added tokens)
    lstrip: Set[str]
    rstrip: Set[str]
    pattern: str
    whole_piece: bool  #: HF ignore_merges: a piece that is a token is not merged
    vocab_src: str  #: where the vocabulary came from (for errors)
    merge_where: Callable[[int], str]  #: where merge k (1-based) came from (for errors)


def read_gpt2(vocab_json: PathLike, merges_txt: PathLike, special_tokens: Optional[Sequence[str]],
              pattern: str = GPT2_PATTERN) -> ByteLevelVocab:
    """Read ``vocab.json`` and ``merges.txt``; ``special_tokens`` (default ``<|endoftext|>`` if
    present) name vocab entries treated as special text."""
    vocab = load_json(vocab_json)
    if not isinstance(vocab, dict):
        raise ValueError(f"{vocab_json}: expected a JSON object mapping token strings to ids")
    merges = parse_merges_txt(merges_txt)
    if special_tokens is None:
        special_tokens = [t for t in ("<|endoftext|>",) if t in vocab]
    specials = {}
    for t in special_tokens:
        if t not in vocab:
            raise ValueError(f"{vocab_json}: special token {t!r} is not in the vocabulary")
        specials[t] = vocab[t]
    return ByteLevelVocab(vocab, merges, specials, set(), set(), set(), pattern, False,
                          str(vocab_json), lambda i: f"{merges_txt}:{i}")


def write_gpt2(directory: PathLike, vocab_map: Dict[str, int], merges: Merges) -> None:
    """Write ``vocab.json`` and ``merges.txt`` into ``directory`` (created if missing)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "vocab.json").write_text(json.dumps(vocab_map, ensure_ascii=False), encoding="utf-8")
    with open(d / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


# ---------------------------------------------------------------------------------------------
# HF tokenizer.json


def write_json(path: PathLike, doc: Any) -> None:
    """Write ``doc`` as UTF-8 JSON (a ``tokenizer.json``)."""
    Path(path).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def read_hf(tokenizer_json: PathLike, ignore_post_processor: bool = False) -> ByteLevelVocab:
    """Read an HF ``tokenizer.json`` of a byte-level BPE model (see ``BPETokenizer.from_hf``)."""
    src = str(tokenizer_json)
    tj = load_json(tokenizer_json)
    if not isinstance(tj, dict):
        raise ValueError(f"{src}: expected a JSON object")
    pattern = hf_pattern(tj, src)
    hf_check_unsupported(tj, src, ignore_post_processor)
    model = tj.get("model")
    if not isinstance(model, dict):
        raise ValueError(f"{src}: 'model' must be an object")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ValueError(f"{src}: model.vocab must be an object mapping token strings to ids")
    raw_merges = model.get("merges", [])
    if not isinstance(raw_merges, list):
        raise ValueError(f"{src}: model.merges must be a list")
    merges: List[Tuple[str, str]] = []
    for i, m in enumerate(raw_merges):
        if isinstance(m, str):
            parts = m.split(" ")
        elif isinstance(m, list) and all(isinstance(x, str) for x in m):
            parts = m
        else:
            raise ValueError(f"{src}: model.merges[{i}] must be a string 'a b' or a pair of strings, got {m!r}")
        if len(parts) != 2:
            raise ValueError(f"{src}: model.merges[{i}] {m!r} does not have exactly two parts")
        merges.append((parts[0], parts[1]))
    added = tj.get("added_tokens") or []
    if not isinstance(added, list):
        raise ValueError(f"{src}: added_tokens must be a list")
    specials: Dict[str, int] = {}
    always: Set[str] = set()
    lstrip: Set[str] = set()
    rstrip: Set[str] = set()
    for i, t in enumerate(added):
        if not isinstance(t, dict) or not isinstance(t.get("content"), str) or isinstance(t.get("id"), bool) or not isinstance(t.get("id"), int):
            raise ValueError(f"{src}: added_tokens[{i}] must be an object with string 'content' and integer 'id'")
        if t.get("single_word"):
            raise NotImplementedError(f"{src}: added_tokens[{i}].single_word=true is not supported")
        specials[t["content"]] = t["id"]
        if not t.get("special", False):
            always.add(t["content"])
        if t.get("lstrip"):
            lstrip.add(t["content"])
        if t.get("rstrip"):
            rstrip.add(t["content"])
    whole = model.get("ignore_merges", False)
    if not isinstance(whole, bool):
        raise ValueError(f"{src}: model.ignore_merges must be a boolean")
    return ByteLevelVocab(vocab, merges, specials, always, lstrip, rstrip, pattern, whole,
                          f"{src}: model.vocab", lambda i: f"{src}: model.merges[{i}]")


def hf_json(vocab_map: Dict[str, int], merges: Merges, specials: Dict[str, int],
            flags: Dict[str, Tuple[bool, bool, bool]], pattern: str, whole_piece: bool) -> Dict[str, Any]:
    """An HF ``tokenizer.json`` document; ``flags[text]`` is (always, lstrip, rstrip)."""
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": flags[t][1], "rstrip": flags[t][2],
         "normalized": False, "special": not flags[t][0]}
        for t, i in sorted(specials.items(), key=lambda kv: kv[1])
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": whole_piece,
            "vocab": vocab_map,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


class _DuplicateKey(Exception):
    pass


def _object_without_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    # json keeps the last of repeated keys silently; in a vocabulary that hides an ambiguity.
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: Set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


def load_json(path: PathLike) -> Any:
    """The JSON document at ``path``; ValueError naming the file for invalid JSON, text that is
    not UTF-8, a key repeated within one object, or nesting too deep for the parser."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e})") from None
    except _DuplicateKey as e:
        raise ValueError(f"{path}: duplicate key {e.args[0]!r} in one JSON object") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to read") from None


def parse_merges_txt(path: PathLike) -> List[Tuple[str, str]]:
    text = read_bytes(path)
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e})") from None
    lines = s.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for n, line in enumerate(lines, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{n}: expected two tokens separated by one space, got {line!r}")
        out.append((parts[0], parts[1]))
    return out


def _as_list(x: object, what: str, src: str) -> List[Any]:
    if not isinstance(x, list):
        raise ValueError(f"{src}: {what} must be a list")
    return x


def hf_pattern(tj: Dict[str, Any], src: str) -> str:
    """The split regex implied by the pre-tokenizer (Split + ByteLevel, or ByteLevel alone)."""
    pre = tj.get("pre_tokenizer")
    if pre is None:
        raise NotImplementedError(f"{src}: pre_tokenizer is null (byte-level BPE needs ByteLevel)")
    if not isinstance(pre, dict):
        raise ValueError(f"{src}: pre_tokenizer must be an object")
    steps = _as_list(pre.get("pretokenizers"), "pre_tokenizer.pretokenizers", src) if pre.get("type") == "Sequence" else [pre]
    pattern: Optional[str] = None
    saw_byte_level = False
    for k, step in enumerate(steps):
        where = f"pre_tokenizer.pretokenizers[{k}]" if pre.get("type") == "Sequence" else "pre_tokenizer"
        if not isinstance(step, dict):
            raise ValueError(f"{src}: {where} must be an object")
        kind = step.get("type")
        if kind == "Split":
            if pattern is not None or saw_byte_level:
                raise NotImplementedError(f"{src}: {where}: only one split step before ByteLevel is supported")
            pat = step.get("pattern")
            if not isinstance(pat, dict) or not isinstance(pat.get("Regex"), str):
                raise NotImplementedError(f"{src}: {where}.pattern: only {{'Regex': ...}} patterns are supported")
            if step.get("behavior") != "Isolated":
                raise NotImplementedError(f"{src}: {where}.behavior={step.get('behavior')!r} (only 'Isolated')")
            if step.get("invert"):
                raise NotImplementedError(f"{src}: {where}.invert=true is not supported")
            pattern = pat["Regex"]
        elif kind == "ByteLevel":
            if saw_byte_level:
                raise NotImplementedError(f"{src}: {where}: a second ByteLevel step is not supported")
            saw_byte_level = True
            if step.get("add_prefix_space", False):
                raise NotImplementedError(f"{src}: {where}.add_prefix_space=true is not supported")
            if step.get("use_regex", True):
                if pattern is not None:
                    raise NotImplementedError(f"{src}: {where}.use_regex=true after a Split is not supported")
                pattern = GPT2_PATTERN
        else:
            raise NotImplementedError(f"{src}: {where}.type={kind!r} is not supported")
    if not saw_byte_level:
        raise NotImplementedError(f"{src}: pre_tokenizer has no ByteLevel step (not a byte-level BPE)")
    if pattern is None:
        raise NotImplementedError(f"{src}: pre_tokenizer has no split regex (ByteLevel use_regex=false alone)")
    return pattern


def hf_check_unsupported(tj: Dict[str, Any], src: str, ignore_post_processor: bool) -> None:
    for field in ("normalizer", "truncation", "padding"):
        if tj.get(field) is not None:
            raise NotImplementedError(f"{src}: {field} is not supported (must be null)")
    model = tj.get("model")
    if isinstance(model, dict):
        if model.get("type", "BPE") != "BPE":
            raise NotImplementedError(f"{src}: model.type={model.get('type')!r} is not supported (only BPE)")
        if model.get("dropout") not in (None, 0, 0.0):
            raise NotImplementedError(f"{src}: model.dropout is not supported")
        if model.get("byte_fallback"):
            raise NotImplementedError(f"{src}: model.byte_fallback=true is not supported")
        for f in ("continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(f):
                raise NotImplementedError(f"{src}: model.{f} is not supported")
    dec = tj.get("decoder")
    dec_steps = dec.get("decoders") if isinstance(dec, dict) and dec.get("type") == "Sequence" else [dec]
    if not isinstance(dec_steps, list) or not dec_steps or not all(isinstance(d, dict) and d.get("type") == "ByteLevel" for d in dec_steps):
        raise NotImplementedError(f"{src}: decoder {dec!r} is not supported (only ByteLevel)")
    post = tj.get("post_processor")
    if post is not None:
        steps = post.get("processors") if isinstance(post, dict) and post.get("type") == "Sequence" else [post]
        for s in steps or []:
            kind = s.get("type") if isinstance(s, dict) else None
            if kind == "ByteLevel":
                continue  # offsets only
            if not ignore_post_processor:
                raise NotImplementedError(
                    f"{src}: post_processor {kind!r} adds tokens; pass ignore_post_processor=True to get "
                    f"HF's encode(..., add_special_tokens=False) ids"
                )


def byte_level_parts(v: ByteLevelVocab, max_id: int) -> Tuple[List[bytes], "npt.NDArray[np.uint32]", "npt.NDArray[np.uint32]"]:
    """(token bytes, their ids, merge pairs as id pairs) of a byte-level vocabulary, checked:
    ValueError naming the file and entry for an id outside 0..max_id-1, a string outside the
    byte alphabet, or a merge whose parts or result are not in the vocabulary."""
    vocab, merges = v.vocab, v.merges
    special_ids = set(v.specials.values())
    tokens: List[bytes] = []
    ids: List[int] = []
    for s, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < max_id:
            raise ValueError(f"{v.vocab_src}: the id of {s!r} must be an integer in 0..{max_id - 1}, got {i!r}")
        b = byte_level_decode(s)
        if b is None or not b:
            if i in special_ids:
                continue  # a special's own entry, not byte-level text: the special covers it
            raise ValueError(f"{v.vocab_src}: {s!r} is not a byte-level token string (GPT-2 byte alphabet)")
        tokens.append(b)
        ids.append(i)
    pairs = np.empty((len(merges), 2), dtype=np.uint32)
    for k, (a, b2) in enumerate(merges):
        ia = vocab.get(a)
        ib = vocab.get(b2)
        if ia is None or ib is None:
            raise ValueError(f"{v.merge_where(k + 1)}: merge part {(a if ia is None else b2)!r} is not in the vocabulary")
        if (a + b2) not in vocab:
            raise ValueError(f"{v.merge_where(k + 1)}: merged token {a + b2!r} is not in the vocabulary")
        pairs[k, 0] = ia
        pairs[k, 1] = ib
    return tokens, np.asarray(ids, dtype=np.uint32), pairs


# ---------------------------------------------------------------------------------------------
# Native models from files and in-memory vocabularies

MAX_TOKEN_ID = 2**32 - 2  # ids are uint32; the top values are reserved as "none" markers
SpecialEntry = Tuple[bytes, int, bool, bool, bool]  # text, id, always, lstrip, rstrip


def special_entries(special_tokens: Mapping[str, int], always: AbstractSet[str] = frozenset(),
                  lstrip: AbstractSet[str] = frozenset(), rstrip: AbstractSet[str] = frozenset()) -> List[SpecialEntry]:
    out = []
    for text, i in special_tokens.items():
        if not isinstance(text, str) or isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"special_tokens must map str to int, got {text!r}: {i!r}")
        if not 0 <= i < MAX_TOKEN_ID:
            raise ValueError(f"special token {text!r} has id {i}, outside 0..{MAX_TOKEN_ID - 1}")
        out.append((text.encode("utf-8"), i, text in always, text in lstrip, text in rstrip))
    return out


def load_rank_file(data: bytes, source: str, name: str, pattern: str,
                   special_tokens: Mapping[str, int]) -> "_core.BpeModel":
    """A model from the bytes of a rank file (the native parser names bad lines)."""
    return _core.BpeModel.from_tiktoken(data, source, name, pattern, special_entries(special_tokens))


def load_tiktoken(path: PathLike, pattern: Optional[str], special_tokens: Optional[Mapping[str, int]],
                  name: Optional[str]) -> "_core.BpeModel":
    """A model from a ``.tiktoken`` file; pattern and specials from its sidecar when ``pattern`` is None."""
    if pattern is None:
        pattern, side_specials, side_name = read_tiktoken_sidecar(path)
        if special_tokens is None:
            special_tokens = side_specials
        name = name if name is not None else side_name
    data = read_bytes(path)
    name = name if name is not None else Path(path).name.split(".")[0]
    return load_rank_file(data, str(path), name, pattern, special_tokens or {})


def load_ranks(mergeable_ranks: Mapping[bytes, int], pat_str: str, special_tokens: Mapping[str, int],
               name: str) -> "_core.BpeModel":
    """A model from tiktoken's ``mergeable_ranks`` (token bytes -> rank)."""
    if not isinstance(pat_str, str):
        raise TypeError(f"pat_str must be a str, got {type(pat_str).__name__}")
    lines = []
    for token, rank in mergeable_ranks.items():
        if not isinstance(token, (bytes, bytearray)) or isinstance(rank, bool) or not isinstance(rank, int):
            raise TypeError(f"mergeable_ranks must map bytes to int, got {token!r}: {rank!r}")
        lines.append(base64.b64encode(token) + b" " + str(rank).encode("ascii"))
    return load_rank_file(b"\n".join(lines), "<mergeable_ranks>", name, pat_str, special_tokens)


def load_gpt2(vocab_json: PathLike, merges_txt: PathLike, special_tokens: Optional[Sequence[str]],
              pattern: str, name: Optional[str]) -> "_core.BpeModel":
    """A model from GPT-2 ``vocab.json`` and ``merges.txt``."""
    v = read_gpt2(vocab_json, merges_txt, special_tokens, pattern)
    return byte_level_model(v, name if name is not None else Path(vocab_json).name.split(".")[0])


def load_hf(tokenizer_json: PathLike, ignore_post_processor: bool, name: Optional[str]) -> "_core.BpeModel":
    """A model from an HF ``tokenizer.json``."""
    src = Path(tokenizer_json)
    v = read_hf(tokenizer_json, ignore_post_processor)
    return byte_level_model(v, name if name is not None else src.parent.name or src.stem)


def byte_level_model(v: ByteLevelVocab, name: str) -> "_core.BpeModel":
    """The native model of a byte-level vocabulary."""
    tokens, ids, pairs = byte_level_parts(v, MAX_TOKEN_ID)
    return _core.BpeModel.from_parts(name, v.pattern, tokens, ids, pairs, v.whole_piece,
                                     special_entries(v.specials, v.always, v.lstrip, v.rstrip))


SaveFormat = Literal["tiktoken", "hf", "gpt2"]


def save(m: "_core.BpeModel", path: PathLike, format: SaveFormat) -> None:
    """Write model ``m`` in ``format`` (see ``BPETokenizer.save``)."""
    specials = {t[0].decode("utf-8"): t[1] for t in m.specials}
    always = [t[0].decode("utf-8") for t in m.specials if t[2] or t[3] or t[4]]
    if format == "tiktoken":
        if always:
            raise ValueError(f"the tiktoken format cannot express HF added-token flags of {always!r}")
        ok, why = m.rank_file_equivalent()
        if not ok:
            raise ValueError(f"this vocabulary cannot be saved as a rank file: {why}")
        write_tiktoken(path, m.format_tiktoken(), m.name, m.pattern, specials)
    elif format == "hf":
        vocab_map, merges = _byte_level_vocab_and_merges(m, specials)
        flags = {t[0].decode("utf-8"): (t[2], t[3], t[4]) for t in m.specials}
        doc = hf_json(vocab_map, merges, specials, flags, m.pattern, bool(m.whole_piece_lookup))
        write_json(path, doc)
    elif format == "gpt2":
        if always:
            raise ValueError(f"the gpt2 format cannot express HF added-token flags of {always!r}")
        if m.whole_piece_lookup:
            ok, why = m.tokens_self_merge()
            if not ok:
                raise ValueError(f"merges alone do not reproduce this vocabulary ({why}); save as 'hf' or 'tiktoken'")
        vocab_map, merges = _byte_level_vocab_and_merges(m, specials)
        write_gpt2(path, vocab_map, merges)
    else:
        raise ValueError(f"unknown format {format!r}; expected 'tiktoken', 'hf' or 'gpt2'")


def _byte_level_vocab_and_merges(m: "_core.BpeModel", specials: Dict[str, int]) -> Tuple[Dict[str, int], Merges]:
    toks, ids = m.vocab()
    strs = [byte_level_encode(t) for t in toks]
    by_id = dict(zip(ids.tolist(), strs))
    vocab_map = dict(zip(strs, ids.tolist()))
    for text, i in specials.items():
        # Specials join the model vocab so HF keeps their ids (it would renumber them otherwise).
        vocab_map.setdefault(text, i)
    merges = [(by_id[a], by_id[b]) for a, b in m.merge_list().tolist()]
    return vocab_map, merges

"""atheris target for the Python surface of blt: random calls with random arguments.

Every input picks one scenario and feeds it arguments of any type (str with and without lone
surrogates, bytes, bytearray, memoryview, ints of every size and sign, floats, lists, nested
lists, NumPy arrays of every integer and a float dtype, strided and 2-D arrays, dicts, None).
Two things are checked:

* Only the documented exceptions come out: ValueError, TypeError, KeyError, OverflowError and
  UnicodeError everywhere; the file loaders also OSError and, for ``from_hf``, NotImplementedError;
  ``decode(..., errors=NAME)`` LookupError for an unknown handler (as ``bytes.decode``). Anything
  else (RuntimeError, IndexError, SystemError, a crash of the extension) is a finding.
* Results keep their properties: ``decode(encode(x)) == x`` for BPE and byte tokenizers (text and
  bytes, with and without allowed specials), ``count == len(encode)``, offsets agree with the ids,
  batch calls equal their one-by-one results, ``StreamDecoder`` pieces join to ``decode``, patch
  lengths sum to the ids' length, hash ids lie in ``[0, max_hash)`` with the documented shape, a
  ``.tiktoken`` file that loads round-trips text.

Run: ``python tests/fuzz/atheris_surface.py CORPUS_DIR SEED_DIR -max_total_time=600`` (libFuzzer
flags; ``tools/run_fuzzers.sh`` runs it with the native targets). Needs the shared vocabularies:
``$BLT_SHARED_DIR/vocab`` or ``$BLT_VOCAB_DIR``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Callable, List

import atheris

with atheris.instrument_imports(include=["blt"]):
    import blt
    from blt.bpe import GPT2_PATTERN

import numpy as np

DOCUMENTED = (ValueError, TypeError, KeyError, OverflowError, UnicodeError)
LOADER_DOCUMENTED = DOCUMENTED + (OSError, NotImplementedError)

VOCAB_DIR = os.environ.get("BLT_VOCAB_DIR") or os.path.join(os.environ.get("BLT_SHARED_DIR", "/work/shared"), "vocab")
ENCODINGS = [blt.get_encoding(n, vocab_dir=VOCAB_DIR) for n in ("cl100k_base", "r50k_base")]
BYTES = blt.ByteTokenizer()
SCRATCH = tempfile.mkdtemp(prefix="atheris_surface_")
SPECIAL_TEXTS = ["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>", "<|nope|>"]
INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
ERROR_HANDLERS = ["strict", "replace", "ignore", "surrogateescape", "backslashreplace", "no-such-handler"]

BPE_METHODS = ["encode", "encode_ordinary", "encode_prefix", "encode_with_offsets", "count",
               "encode_batch", "encode_ordinary_batch", "encode_single_token", "token_bytes",
               "decode", "decode_bytes", "decode_batch", "decode_bytes_batch", "safe_split",
               "decode_single_token_bytes"]
BYTE_METHODS = ["encode", "encode_batch", "decode", "decode_bytes", "native", "meta_id"]
KEYWORDS = ["allowed_special", "disallowed_special", "max_tokens", "out", "num_threads", "errors",
            "bos", "eos", "content_type", "strip_bom", "dtype"]


class Finding(AssertionError):
    """A broken property (never one of the documented exceptions)."""


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Finding(what)


# -- random values --------------------------------------------------------------------------------
def small_len(fdp: atheris.FuzzedDataProvider) -> int:
    return fdp.ConsumeIntInRange(0, 64) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 2048)


def text(fdp: atheris.FuzzedDataProvider) -> str:
    """Text without lone surrogates, sometimes with a special token's text inside."""
    s = fdp.ConsumeUnicodeNoSurrogates(small_len(fdp))
    if fdp.ConsumeIntInRange(0, 7) == 0:
        at = fdp.ConsumeIntInRange(0, len(s))
        s = s[:at] + fdp.PickValueInList(SPECIAL_TEXTS) + s[at:]
    return s


def any_int(fdp: atheris.FuzzedDataProvider) -> int:
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 0:
        return fdp.ConsumeIntInRange(-4, 300)
    if choice == 1:
        return fdp.ConsumeIntInRange(0, 200_000)
    if choice == 2:
        return fdp.PickValueInList([2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
                                    2**64, -2**63, -2**63 - 1, 10**30])
    return fdp.ConsumeInt(9)


def int_list(fdp: atheris.FuzzedDataProvider) -> List[int]:
    return [any_int(fdp) for _ in range(fdp.ConsumeIntInRange(0, 40))]


def id_array(fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    dtype = fdp.PickValueInList(INT_DTYPES)
    info = np.iinfo(dtype)
    n = fdp.ConsumeIntInRange(0, 64)
    hi = min(int(info.max), 200_000) if fdp.ConsumeBool() else int(info.max)
    lo = max(int(info.min), -2)
    return np.array([fdp.ConsumeIntInRange(lo, hi) for _ in range(n)], dtype=dtype)


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """A value of any type the public API might be handed."""
    kind = fdp.ConsumeIntInRange(0, 16)
    if kind == 0:
        return text(fdp)
    if kind == 1:
        return fdp.ConsumeUnicode(small_len(fdp))  # may hold lone surrogates
    if kind == 2:
        return fdp.ConsumeBytes(small_len(fdp))
    if kind == 3:
        return bytearray(fdp.ConsumeBytes(small_len(fdp)))
    if kind == 4:
        return memoryview(fdp.ConsumeBytes(small_len(fdp)))
    if kind == 5:
        return any_int(fdp)
    if kind == 6:
        return int_list(fdp)
    if kind == 7:
        return id_array(fdp)
    if kind == 8:
        return id_array(fdp)[::2]  # not contiguous
    if kind == 9:
        a = id_array(fdp)
        return a[: a.size // 2 * 2].reshape(-1, 2)  # 2-D (0 rows when short)
    if kind == 10:
        return np.array([fdp.ConsumeFloat() for _ in range(fdp.ConsumeIntInRange(0, 8))])
    if kind == 11:
        return fdp.ConsumeFloat()
    if kind == 12:
        return None
    if kind == 13:
        return fdp.ConsumeBool()
    if kind == 14 and depth < 2:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 15:
        return fdp.PickValueInList(["all", frozenset(), set(SPECIAL_TEXTS[:2]), ("<|endoftext|>",),
                                    "text", "image", "uint16", "int64", "float32"] + ERROR_HANDLERS)
    return {text(fdp): any_int(fdp)}


def keyword_value(fdp: atheris.FuzzedDataProvider, name: str) -> Any:
    if name == "num_threads" and fdp.ConsumeBool():
        return fdp.PickValueInList([None, 0, 1, 2, 3, -1])
    if name == "errors" and fdp.ConsumeBool():
        return fdp.PickValueInList(ERROR_HANDLERS)
    if name == "out" and fdp.ConsumeBool():
        return np.zeros(fdp.ConsumeIntInRange(0, 4096), dtype=fdp.PickValueInList(INT_DTYPES))
    return value(fdp)


# -- scenarios ------------------------------------------------------------------------------------
def random_call(fdp: atheris.FuzzedDataProvider) -> None:
    """Any method of a BPE or byte tokenizer with random arguments: documented errors only."""
    if fdp.ConsumeBool():
        obj: Any = fdp.PickValueInList(ENCODINGS)
        name = fdp.PickValueInList(BPE_METHODS)
    else:
        obj = BYTES
        name = fdp.PickValueInList(BYTE_METHODS)
    args = [value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    kwargs = {k: keyword_value(fdp, k) for k in KEYWORDS if fdp.ConsumeIntInRange(0, 5) == 0}
    # num_threads is a count of threads to start: only values a caller could mean are given
    if not isinstance(kwargs.get("num_threads", 0), (int, type(None))) or abs(kwargs.get("num_threads") or 0) > 64:
        kwargs["num_threads"] = 2
    allowed = DOCUMENTED + ((LookupError,) if "errors" in kwargs or name.startswith("decode") and len(args) > 1 else ())
    try:
        getattr(obj, name)(*args, **kwargs)
    except allowed:
        pass


def bpe_round_trip(fdp: atheris.FuzzedDataProvider) -> None:
    enc = fdp.PickValueInList(ENCODINGS)
    s = text(fdp)
    as_bytes = fdp.ConsumeBool()
    data: Any = s.encode("utf-8") if as_bytes else s
    if as_bytes and fdp.ConsumeBool():  # invalid UTF-8 too: encoded byte-level
        data = data + fdp.ConsumeBytes(8)
    allow = fdp.ConsumeBool()
    kwargs = {"allowed_special": "all"} if allow else {}
    has_special = any(t in s for t in enc.special_tokens_set)
    try:
        ids = enc.encode(data, **kwargs)
    except ValueError:
        check(has_special and not allow, f"encode refused {data!r} without a disallowed special")
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    check(enc.decode_bytes(ids) == raw, f"decode_bytes(encode(x)) != x for {data!r}")
    if not as_bytes:
        check(enc.decode(ids) == s, f"decode(encode(x)) != x for {s!r}")
    check(enc.count(data, **kwargs) == len(ids), f"count != len(encode) for {data!r}")
    offsets = enc.encode_with_offsets(data, **kwargs)
    check(offsets.ids.tolist() == ids.tolist(), f"encode_with_offsets ids differ for {data!r}")
    starts = offsets.byte_offsets.tolist()
    for k in range(0, len(ids), max(1, len(ids) // 8)):
        check(starts[k] == len(enc.decode_bytes(ids[:k])), f"byte offset {k} wrong for {data!r}")
    n = fdp.ConsumeIntInRange(0, len(ids) + 2)
    prefix = enc.encode_prefix(data, n, **kwargs)
    check(prefix.ids.tolist() == ids[:n].tolist(), f"encode_prefix({n}) is not a prefix for {data!r}")


def bpe_batches(fdp: atheris.FuzzedDataProvider) -> None:
    enc = fdp.PickValueInList(ENCODINGS)
    items: List[Any] = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        s = text(fdp).replace("<|", "<")  # default policy: no special text
        items.append(s.encode("utf-8") if fdp.ConsumeBool() else s)
    batch = enc.encode_batch(items, num_threads=fdp.ConsumeIntInRange(1, 3)).to_list()
    check(batch == [enc.encode(x).tolist() for x in items], "encode_batch != encode one by one")
    texts = enc.decode_batch(batch)
    check(texts == [enc.decode(ids) for ids in batch], "decode_batch != decode one by one")
    check(enc.decode_bytes_batch(batch) == [x if isinstance(x, bytes) else x.encode() for x in items],
          "decode_bytes_batch(encode_batch(x)) != x")


BOMS = [b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff"]


def bom_length(raw: bytes) -> int:
    """The byte order mark strip_bom drops (documented on ByteTokenizer): UTF-8, UTF-32, UTF-16."""
    return next((len(b) for b in BOMS if raw.startswith(b)), 0)


def byte_round_trip(fdp: atheris.FuzzedDataProvider) -> None:
    bpe = fdp.PickValueInList([None] + ENCODINGS)
    opts = dict(bos=fdp.ConsumeBool(), eos=fdp.ConsumeBool(),
                content_type=fdp.PickValueInList([None, *blt.CONTENT_TYPES]),
                strip_bom=fdp.ConsumeBool(), dtype=fdp.PickValueInList(["uint16", "int32", "int64", "uint32"]))
    tok = blt.ByteTokenizer(bpe=bpe, **opts)
    raw = (fdp.PickValueInList(BOMS) if fdp.ConsumeBool() else b"") + fdp.ConsumeBytes(small_len(fdp))
    if bpe is not None:
        raw = raw.replace(b"<|", b"<")  # the delimiting BPE refuses special text by default
    data: Any = raw
    if fdp.ConsumeBool():
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    ids = tok.encode(data)
    check(ids.dtype.name == opts["dtype"], "encode ignored dtype")
    want = raw[bom_length(raw):] if opts["strip_bom"] else raw
    check(tok.decode_bytes(ids) == want, f"ByteTokenizer{opts} decode_bytes(encode(x)) != x for {raw!r}")
    batch = tok.encode_batch([data, data[:1]]).to_list()
    check(batch == [ids.tolist(), tok.encode(data[:1]).tolist()], "ByteTokenizer encode_batch != encode")


def stream_decoder(fdp: atheris.FuzzedDataProvider) -> None:
    tok = fdp.PickValueInList([BYTES, *ENCODINGS])
    if fdp.ConsumeBool():
        ids = tok.encode(text(fdp).replace("<|", "<")).tolist()
        if fdp.ConsumeBool() and ids:  # cut characters apart
            ids = ids[fdp.ConsumeIntInRange(0, len(ids) - 1):]
    else:
        ids = [fdp.ConsumeIntInRange(0, tok.n_vocab + 2) for _ in range(fdp.ConsumeIntInRange(0, 30))]
    errors = fdp.PickValueInList(["replace", "ignore", "backslashreplace", "surrogateescape"])
    try:
        whole = tok.decode(ids, errors=errors)
    except (ValueError, KeyError):
        return  # an id outside the vocabulary: refused as one decode refuses it
    dec = blt.StreamDecoder(tok, errors=errors)
    pieces, i = [], 0
    while i < len(ids):
        n = fdp.ConsumeIntInRange(1, 5)
        run = ids[i:i + n]
        pieces.append(dec.step(run[0] if n == 1 else run))
        i += n
    pieces.append(dec.finish())
    check("".join(pieces) == whole, f"StreamDecoder pieces {pieces!r} != decode {whole!r}")


def patcher(fdp: atheris.FuzzedDataProvider) -> None:
    kind = fdp.PickValueInList(["static", "byte", "space", "bpe"])
    include_next = fdp.ConsumeBool()
    opts: dict = {"include_next_token": include_next, "force_boundaries": fdp.ConsumeBool()}
    if fdp.ConsumeBool():
        opts["max_patch_length"] = fdp.PickValueInList([None, 1, 2, 7, 0, -1])
    try:
        p = blt.Patcher.static(fdp.PickValueInList([1, 3, 8, 0, -2])) if kind == "static" else getattr(blt.Patcher, kind)(**opts)
    except DOCUMENTED:
        return
    if fdp.ConsumeBool():
        ids = [fdp.ConsumeIntInRange(0, 264) for _ in range(fdp.ConsumeIntInRange(0, 100))]  # BLT ids
        lengths = p.patch(ids)
        want = len(ids) + p.include_next_token
        check(int(lengths.sum()) == want, f"patch lengths {lengths.tolist()} do not sum to {want}")
        check(bool((lengths > 0).all()), "empty patch")
    else:
        try:
            p.patch(value(fdp))
        except DOCUMENTED:
            pass


def ngram_hashes(fdp: atheris.FuzzedDataProvider) -> None:
    ids = [fdp.ConsumeIntInRange(0, 300) for _ in range(fdp.ConsumeIntInRange(0, 60))]
    sizes = [fdp.ConsumeIntInRange(-1, 10) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    funcs: Any = fdp.ConsumeIntInRange(-1, 4) if fdp.ConsumeBool() else [fdp.ConsumeIntInRange(-1, 40) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    max_hash = fdp.PickValueInList([500002, 1, 2, 0, -5, 2**31, 2**31 + 1, 2**63 - 1, 2**64])
    dtype = fdp.PickValueInList([None, "int32", "int64", "float32", "uint8"])
    data: Any = ids if fdp.ConsumeBool() else value(fdp)
    try:
        out = blt.hash_ngrams(data, group_sizes=sizes, hash_functions=funcs, max_hash=max_hash, dtype=dtype)
    except DOCUMENTED:
        return
    if data is ids:
        n_funcs = funcs if isinstance(funcs, int) else len(funcs)
        check(out.shape == (len(ids), n_funcs * len(sizes)), f"hash_ngrams shape {out.shape}")
        check(out.size == 0 or (int(out.min()) >= 0 and int(out.max()) < max_hash), "hash id outside [0, max_hash)")


def loaders(fdp: atheris.FuzzedDataProvider) -> None:
    which = fdp.ConsumeIntInRange(0, 2)
    first = os.path.join(SCRATCH, "a")
    second = os.path.join(SCRATCH, "b")
    with open(first, "wb") as f:
        f.write(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8192)))
    with open(second, "wb") as f:
        f.write(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8192)))
    loader: Callable[[], Any] = [
        lambda: blt.BPETokenizer.from_tiktoken(first, pattern=GPT2_PATTERN, special_tokens={}),
        lambda: blt.BPETokenizer.from_hf(first, ignore_post_processor=fdp.ConsumeBool()),
        lambda: blt.BPETokenizer.from_gpt2(first, second),
    ][which]
    try:
        tok = loader()
    except LOADER_DOCUMENTED:
        return
    sample = fdp.ConsumeBytes(64)
    try:
        ids = tok.encode_ordinary(sample)
    except ValueError:
        return  # a byte with no token in this vocabulary
    check(bool((ids < tok.n_vocab).all()), "id past n_vocab")
    if which != 1:  # HF added tokens may swallow whitespace (lstrip/rstrip): no round trip there
        specials = tok.special_tokens
        if len(set(specials.values())) == len(specials):
            check(tok.decode_bytes(ids) == sample, f"loaded tokenizer does not round-trip {sample!r}")


SCENARIOS = [random_call, random_call, bpe_round_trip, bpe_batches, byte_round_trip, stream_decoder,
             patcher, ngram_hashes, loaders]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    SCENARIOS[fdp.ConsumeIntInRange(0, len(SCENARIOS) - 1)](fdp)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

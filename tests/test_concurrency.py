"""The concurrency contract: one tokenizer object (and one patcher, one entropy model) shared by 32
Python threads mixing encode, encode_batch, decode, count, encode_prefix and patching gives exactly
the serial results; the shared objects keep no per-call state (docs/reliability.md).

The C++ twin (tests/cpp/test_concurrency.cpp) runs the same mix under TSan (`make tsan-test`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

import blt

N_THREADS = 32
ROUNDS = 3

TEXTS = [
    "Hello world, it's a test of the concurrency contract.\n",
    "def f(x):\n    return x * 2  # doubled\n\n\n",
    "<|endoftext|>after the special <|endoftext|>",
    "caf\u00e9 \u4f60\u597d \U0001F600 naive e\u0301",
    " " * 3000 + "x" + "!" * 2000,
    "lone surrogate \ud800 in a str",
]


def _texts(corpus_dir: Path) -> list:
    prose = (corpus_dir / "en_prose.txt").read_text(encoding="utf-8")
    code = (corpus_dir / "code_python.txt").read_text(encoding="utf-8")
    return TEXTS + [prose[i * 9000: i * 9000 + 1500 + 400 * i] for i in range(6)] + [code[:4000]]


def _error_of(fn) -> str:
    try:
        fn()
    except ValueError as e:
        return str(e)
    return "no error"


def _calls(enc, byte_tok, delim_tok, patcher, entropy_patcher, texts):
    """Every call of the mix, each a (name, zero-argument function) returning a comparable value."""
    calls = []
    for i, t in enumerate(texts):
        calls += [
            (f"encode[{i}]", lambda t=t: enc.encode(t, disallowed_special=()).tolist()),
            (f"encode_special[{i}]", lambda t=t: enc.encode(t, allowed_special="all").tolist()),
            (f"encode_prefix[{i}]", lambda t=t: enc.encode(t, max_tokens=7, disallowed_special=()).tolist()),
            (f"count[{i}]", lambda t=t: enc.count(t, disallowed_special=())),
            (f"decode[{i}]", lambda t=t: enc.decode(enc.encode(t, disallowed_special=()))),
            (f"bytes[{i}]", lambda t=t: byte_tok.decode_bytes(byte_tok.encode(t))),
            (f"delimited[{i}]", lambda t=t: delim_tok.encode(t).tolist()),
            (f"patch[{i}]", lambda t=t: patcher.patch(delim_tok.encode(t)).tolist()),
            (f"entropy_patch[{i}]", lambda t=t: entropy_patcher.patch(byte_tok.encode(t)).tolist()),
        ]
    calls.append(("refused_special", lambda: _error_of(lambda: enc.encode(TEXTS[2]))))
    calls.append(("encode_batch", lambda: enc.encode_batch(texts, disallowed_special=(), num_threads=2).to_list()))
    calls.append(("byte_batch", lambda: byte_tok.encode_batch(texts, num_threads=2).to_list()))
    return calls


def test_one_tokenizer_shared_by_32_threads_gives_serial_results(vocab_dir: Path, corpus_dir: Path) -> None:
    texts = _texts(corpus_dir)
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    byte_tok = blt.ByteTokenizer()
    delim_tok = blt.ByteTokenizer(bpe=enc.native(allowed_special="all"))
    model = blt.EntropyModel.train([t.encode("utf-8", "surrogatepass") for t in texts], order=3)
    patcher = blt.Patcher.bpe()
    entropy_patcher = blt.Patcher.entropy(model, threshold=1.5)
    calls = _calls(enc, byte_tok, delim_tok, patcher, entropy_patcher, texts)
    serial = {name: fn() for name, fn in calls}

    mismatches: list = []
    errors: list = []
    start = threading.Barrier(N_THREADS)

    def worker(k: int) -> None:
        try:
            start.wait()
            for r in range(ROUNDS):
                # Each thread walks the mix from its own offset, so different calls overlap.
                for j in range(len(calls)):
                    name, fn = calls[(j * 7 + k + r) % len(calls)]
                    got = fn()
                    if got != serial[name]:
                        mismatches.append((k, name))
        except BaseException as e:  # noqa: BLE001 - reported below with the thread's number
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    assert not mismatches, mismatches[:10]
    # The serial results are real: the mix exercised specials, batches and patching.
    assert serial["encode_special[2]"][0] == enc.eot_token
    assert "disallowed special" in serial["refused_special"]
    assert len(serial["encode_batch"]) == len(texts)
    assert sum(serial[f"entropy_patch[{len(TEXTS)}]"]) == len(byte_tok.encode(texts[len(TEXTS)]))


def test_tokenizer_state_is_fixed_at_construction(vocab_dir: Path) -> None:
    """Calls change nothing on the shared object except its two memo caches (encoders per special
    policy, the token -> id map), whose entries are pure functions of their keys, so a thread that
    misses the cache builds an equal value (what makes the contract hold)."""
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    caches = {"_encoders", "_token_ids", "__weakref__"}
    fixed = {k: getattr(enc, k) for k in type(enc).__slots__ if k not in caches}
    enc.encode("hello", allowed_special="all")
    enc.encode("hello <|endoftext|>", disallowed_special=())
    enc.count("hello")
    enc.encode_batch(["a", "b"])
    enc.encode_single_token("hello")
    enc.decode(np.array([1, 2, 3], dtype=np.uint32))
    assert all(getattr(enc, k) is v for k, v in fixed.items())

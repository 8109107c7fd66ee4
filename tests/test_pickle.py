"""Pickling of every tokenizer, patcher and entropy model: round trips, compact and deterministic
pickles, no network on unpickling, and equal ``datasets`` fingerprints in two fresh interpreters
with the cache reused (issue 12, acceptance check 3)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import blt
from support import REPO

TEXTS = ["hello world", "Grüße, мир! 123", "  \n\tcode = f(x)\n"]


def _model() -> blt.EntropyModel:
    return blt.EntropyModel.train([b"the cat sat on the mat " * 20, b"abcabcabc"], order=3)


def objects(vocab_dir: Path) -> Dict[str, Any]:
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    model = _model()
    return {
        "encoding": enc,
        "r50k": blt.get_encoding("r50k_base", vocab_dir=vocab_dir),
        "tiktoken_file": blt.BPETokenizer.from_tiktoken(vocab_dir / "r50k_base.tiktoken",
                                                        pattern=blt.bpe.GPT2_PATTERN,
                                                        special_tokens={"<|endoftext|>": 50256}),
        "ranks": blt.BPETokenizer.from_ranks({bytes([b]): b for b in range(256)} | {b"ab": 256},
                                             pat_str=r"\w+|\s+", special_tokens={"<eos>": 257}),
        "bytes": blt.ByteTokenizer(),
        "bytes_options": blt.ByteTokenizer(bos=False, content_type="text", strip_bom=True, dtype="uint32"),
        "bytes_bpe": blt.ByteTokenizer(bpe=enc),
        "model": model,
        "patcher_static": blt.Patcher.static(4, max_patch_length=3),
        "patcher_space": blt.Patcher.space(),
        "patcher_entropy": blt.Patcher.entropy(model=model, threshold=1.2, monotonicity=True),
    }


def behaviour(obj: Any) -> List[Any]:
    """What an object does, as plain lists, to compare an original with its unpickled copy."""
    if isinstance(obj, blt.BPETokenizer):
        return [obj.encode(t + "<|endoftext|>", allowed_special="all").tolist() for t in TEXTS] + [obj.n_vocab, obj.name]
    if isinstance(obj, blt.ByteTokenizer):
        return [obj.encode(t).tolist() for t in TEXTS] + [obj.dtype]
    if isinstance(obj, blt.EntropyModel):
        return [obj.entropies(t).tolist() for t in TEXTS] + [obj.order, obj.n_contexts]
    if isinstance(obj, blt.Patcher):
        return [obj.patch(t).tolist() for t in TEXTS] + [repr(obj)]
    raise TypeError(type(obj))


@pytest.mark.parametrize("name", ["encoding", "r50k", "tiktoken_file", "ranks", "bytes", "bytes_options",
                                  "bytes_bpe", "model", "patcher_static", "patcher_space", "patcher_entropy"])
def test_round_trip_behaves_the_same_and_pickles_deterministically(name: str, vocab_dir: Path) -> None:
    obj = objects(vocab_dir)[name]
    data = pickle.dumps(obj)
    assert pickle.dumps(obj) == data
    copy = pickle.loads(data)
    assert type(copy) is type(obj)
    assert behaviour(copy) == behaviour(obj)
    assert pickle.dumps(copy) == data  # the copy pickles the same again


def test_registered_encoding_pickles_by_name_and_checksum(vocab_dir: Path) -> None:
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    data = pickle.dumps(enc)
    assert len(data) < 1000
    assert b"cl100k_base" in data
    assert blt.encodings.ENCODINGS["cl100k_base"].sha256.encode() in data
    # Not registered: the vocabulary's bytes.
    assert len(pickle.dumps(objects(vocab_dir)["tiktoken_file"])) > 100_000


def test_unpickling_finds_the_rank_file_elsewhere_or_says_where_it_looked(vocab_dir: Path, tmp_path: Path) -> None:
    moved = tmp_path / "vocab"
    moved.mkdir()
    shutil.copy(vocab_dir / "r50k_base.tiktoken", moved / "r50k_base.tiktoken")
    data = pickle.dumps(blt.get_encoding("r50k_base", vocab_dir=moved))
    (moved / "r50k_base.tiktoken").rename(tmp_path / "r50k_base.tiktoken")
    env = {k: v for k, v in os.environ.items() if k not in ("BLT_VOCAB_DIR", "TIKTOKEN_CACHE_DIR")}
    code = ("import pickle, sys; tok = pickle.loads(sys.stdin.buffer.read()); print(tok.encode('hi').tolist())")
    found = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120,
                           env=dict(env, BLT_VOCAB_DIR=str(tmp_path)))
    assert found.returncode == 0, found.stderr.decode()
    assert found.stdout.decode().strip() == "[5303]"
    missing = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120,
                             env=dict(env, TIKTOKEN_CACHE_DIR=""))
    assert missing.returncode != 0
    assert b"FileNotFoundError" in missing.stderr and b"never downloads" in missing.stderr


def test_a_pickle_from_another_rank_file_is_refused(vocab_dir: Path) -> None:
    data = pickle.dumps(blt.get_encoding("r50k_base", vocab_dir=vocab_dir))
    sha = blt.encodings.ENCODINGS["r50k_base"].sha256.encode()
    with pytest.raises(ValueError, match="SHA-256"):
        pickle.loads(data.replace(sha, b"0" * len(sha)))


def test_unpickling_never_touches_the_network(vocab_dir: Path) -> None:
    data = pickle.dumps([objects(vocab_dir)[k] for k in ("encoding", "bytes_bpe", "patcher_entropy", "ranks")])
    code = (
        "import pickle, socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "objs = pickle.loads(sys.stdin.buffer.read())\n"
        "print(len(objs))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "4"


def test_pickles_are_equal_in_two_fresh_interpreters(vocab_dir: Path) -> None:
    code = (
        "import hashlib, pickle, sys\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "from pathlib import Path\n"
        "from test_pickle import objects\n"
        "objs = objects(Path(sys.argv[1]))\n"
        "print(' '.join(k + '=' + hashlib.sha256(pickle.dumps(v)).hexdigest() for k, v in sorted(objs.items())))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code, str(vocab_dir)], capture_output=True, text=True,
                           timeout=120) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout == runs[1].stdout
    assert runs[0].stdout.count("=") == 11


def test_stateful_and_native_objects_refuse_to_pickle_with_a_clear_error(vocab_dir: Path) -> None:
    with pytest.raises(TypeError, match="PatchStream"):
        pickle.dumps(blt.Patcher.static(2).stream())
    enc = blt.get_encoding("r50k_base", vocab_dir=vocab_dir)
    with pytest.raises(TypeError, match="native encoder"):
        pickle.dumps(blt.ByteTokenizer(bpe=enc.native()))


def test_datasets_fingerprints_match_in_two_fresh_interpreters_and_map_reuses_its_cache(
        vocab_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "docs.txt"
    lines = (corpus_dir / "en_prose.txt").read_text(encoding="utf-8").splitlines()[:200]
    text.write_text("\n".join(line for line in lines if line.strip()) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))

    def run() -> Dict[str, Any]:
        out = subprocess.run([sys.executable, str(REPO / "tests" / "fingerprint_scenario.py"), str(vocab_dir),
                              str(text), str(cache)], capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    first, second = run(), run()
    assert first["fingerprints"] == second["fingerprints"]
    assert len(set(first["fingerprints"].values())) == len(first["fingerprints"])
    assert first["first_ids"] == first["direct_ids"]
    # The second interpreter's identical map found the first one's cache file and did not rewrite it.
    assert first["cache_file"] and first["cache_file"] == second["cache_file"]
    assert (first["cache_mtime_ns"], first["cache_inode"]) == (second["cache_mtime_ns"], second["cache_inode"])

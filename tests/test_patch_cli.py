"""blt-tokenize --patch and tokenize_file(patch=): the .npz holds ids and patch lengths equal to
one-shot Patcher.patch(ByteTokenizer.encode(data)) for every rule, chunk size and thread count;
bad configurations fail with one line naming the key or file and leave no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blt
from blt.cli import main

from support import assert_failed_cleanly, interrupt, one_error_line, read_patched, run_cli, sparse_file, start_cli


@pytest.fixture(scope="module")
def sample(corpus_dir) -> bytes:
    """About 24 KB from every corpus file (text, code, multilingual, binary), cut anywhere."""
    parts = []
    for name in ("en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt", "binary.bin"):
        data = (corpus_dir / name).read_bytes()
        mid = len(data) // 2 + 7
        parts.append(data[mid:mid + 5000])
    return b"".join(parts)


@pytest.fixture(scope="module")
def model_path(corpus_dir, tmp_path_factory) -> Path:
    data = (corpus_dir / "en_prose.txt").read_bytes()[:200_000]
    path = tmp_path_factory.mktemp("model") / "ngram3.bin"
    blt.EntropyModel.train([data], order=3).save(path)
    return path


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def reference(data: bytes, config: dict, *, model=None, enc=None, **encode_options):
    """One-shot result, built from the public API only."""
    tok = blt.ByteTokenizer(bpe=enc)
    ids = tok.encode(data, **encode_options)
    rule = config["rule"]
    common = {k: config[k] for k in ("max_patch_length", "include_next_token", "force_boundaries") if k in config}
    if rule == "static":
        p = blt.Patcher.static(config["patch_size"], **common)
    elif rule == "entropy":
        extra = {k: config[k] for k in ("threshold", "threshold_add", "monotonicity") if k in config}
        p = blt.Patcher.entropy(model, **extra, **common)
    else:
        p = blt.Patcher(rule, **common)
    return ids, p.patch(ids)


CONFIGS = {
    "static": ("rule: static\npatch_size: 5\n", {"rule": "static", "patch_size": 5}),
    "byte": ("rule: byte\ninclude_next_token: true\n", {"rule": "byte", "include_next_token": True}),
    "space": ("rule: space\nmax_patch_length: 6\n", {"rule": "space", "max_patch_length": 6}),
    "space_packed": ("rule: space\nforce_boundaries: false\n", {"rule": "space", "force_boundaries": False}),
    "bpe": ("rule: bpe\nbpe: cl100k_base\nvocab_dir: {vocab}\n", {"rule": "bpe"}),
    "entropy": ("rule: entropy\nmodel: {model}\nthreshold: 1.4\nmax_patch_length: 12\n",
                {"rule": "entropy", "threshold": 1.4, "max_patch_length": 12}),
    "entropy_mono": ("rule: entropy\nmodel: {model}\nmonotonicity: true\nthreshold: 0.3\ninclude_next_token: true\n",
                     {"rule": "entropy", "monotonicity": True, "threshold": 0.3, "include_next_token": True}),
    "entropy_add": ("rule: entropy\nmodel: {model}\nthreshold: 1.0\nthreshold_add: 0.2\n",
                    {"rule": "entropy", "threshold": 1.0, "threshold_add": 0.2}),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cli_npz_equals_one_shot_patching(name, sample, model_path, vocab_dir, cl100k, tmp_path):
    text, config = CONFIGS[name]
    yml = write_yaml(tmp_path / "patch.yml", text.format(model=model_path, vocab=vocab_dir))
    model = blt.EntropyModel.load(model_path) if config["rule"] == "entropy" else None
    enc = cl100k if config["rule"] == "bpe" else None
    want_ids, want_lengths = reference(sample, config, model=model, enc=enc)
    src = tmp_path / "in.bin"
    src.write_bytes(sample)
    out = tmp_path / "out.npz"
    # tiny chunks put a seam inside almost every patch; the default cuts few
    for chunk, threads in (("1:1", 1), ("7:7", 2), ("100:300", 2), (None, 1)):
        argv = ["-i", src, "-o", out, "--patch", yml, "-q"]
        if chunk:
            argv += ["--chunksize", chunk]
        argv += ["--threads", str(threads)]
        small = chunk == "1:1"
        if small:  # one-byte chunks: a shorter input keeps the run short
            src.write_bytes(sample[:3000])
        assert main([str(a) for a in argv]) == 0
        ids, lengths = read_patched(out)
        if small:
            w_ids, w_len = reference(sample[:3000], config, model=model, enc=enc)
            src.write_bytes(sample)
        else:
            w_ids, w_len = want_ids, want_lengths
        assert ids.dtype == np.uint16 and lengths.dtype == np.int32
        assert np.array_equal(ids, w_ids), (chunk, threads)
        assert np.array_equal(lengths, w_len), (chunk, threads)
        assert int(lengths.sum()) == len(ids) + int(config.get("include_next_token", False))
    assert sorted(os.listdir(tmp_path)) == ["in.bin", "out.npz", "patch.yml"]


def test_cli_byte_options_apply(sample, tmp_path):
    yml = write_yaml(tmp_path / "p.yml", "rule: space\n")
    src = tmp_path / "in.txt"
    src.write_bytes(b"\xef\xbb\xbf" + sample[:4000])
    out = tmp_path / "o.npz"
    assert main(["-i", str(src), "-o", str(out), "--patch", str(yml), "--type", "text", "--no-eos",
                 "--strip-bom", "--dtype", "int32", "--chunksize", "64:64"]) == 0
    ids, lengths = reference(src.read_bytes(), {"rule": "space"}, content_type="text", eos=False, strip_bom=True)
    got_ids, got_lengths = read_patched(out)
    assert got_ids.dtype == np.int32
    assert got_ids.tolist() == ids.tolist()
    assert np.array_equal(got_lengths, lengths)


def test_tokenize_file_patch_argument_forms(sample, model_path, tmp_path):
    data = sample[:8000]
    want_ids, want_len = reference(data, {"rule": "static", "patch_size": 3})
    for patch in (blt.Patcher.static(3), {"rule": "static", "patch_size": 3},
                  write_yaml(tmp_path / "s.yml", "rule: static\npatch_size: 3\n")):
        r = blt.tokenize_file(data, None, patch=patch, chunk_size="50:50")
        ids, lengths = r.ids, r.patch_lengths
        assert np.array_equal(ids, want_ids) and np.array_equal(lengths, want_len)
    st = blt.tokenize_file(data, tmp_path / "x.npz", patch={"rule": "entropy", "model": str(model_path)},
                           chunk_size=(10, 20), num_threads=2)
    _, want = reference(data, {"rule": "entropy"}, model=blt.EntropyModel.load(model_path))
    assert np.array_equal(read_patched(tmp_path / "x.npz")[1], want)
    assert st.ids_out == len(data) + 2 and st.patches == len(want)


def test_progress_error_leaves_no_file(sample, tmp_path):
    def boom(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        blt.tokenize_file(sample, tmp_path / "o.npz", patch=blt.Patcher.byte(), progress=boom)
    assert os.listdir(tmp_path) == []


BAD = [
    ("rule: space\npatchsize: 4\n", 2, "patchsize"),
    ("rule: static\npatch_size: '4'\n", 2, "patch_size"),
    ("rule: static\npatch_size: 0\n", 2, "patch_size"),
    ("rule: static\n", 2, "patch_size"),
    ("rule: byte\ninclude_next_token: 1\n", 2, "include_next_token"),
    ("rule: entropy\nmodel: {model}\nthreshold: high\n", 2, "threshold"),
    ("rule: entropy\nmodel: {model}\nthreshold: null\n", 2, "threshold"),
    ("rule: entropy\nmodel: {model}\nreset_context_at: ab\n", 2, "reset_context_at"),
    ("rule: space\nthreshold: 1.0\n", 2, "threshold"),
    ("rule: wordpiece\n", 2, "rule"),
    ("patch_size: 4\n", 2, "rule"),
    ("rule: bpe\n", 2, "bpe"),
    ("rule: bpe\nbpe: gpt5\n", 2, "bpe"),
    ("rule: byte\nvocab_dir: .\n", 2, "vocab_dir"),
    ("rule: entropy\nmodel: no_such_model.bin\n", 1, "no_such_model.bin"),
    ("rule: entropy\nmodel: {notmodel}\n", 2, "model"),
    ("- rule: byte\n", 2, "mapping"),
    ("", 2, "mapping"),
    ("rule: [byte\n", 2, "invalid YAML"),
]


@pytest.mark.parametrize("text,code,key", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_config_one_line_naming_key_and_no_output(text, code, key, model_path, tmp_path, capsys):
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    notmodel = cfg_dir / "not_a_model.bin"
    notmodel.write_bytes(b"hello, not a model")
    yml = write_yaml(cfg_dir / "patch.yml", text.format(model=model_path, notmodel=notmodel))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    src = tmp_path / "in.txt"
    src.write_bytes(b"some text\n")
    assert main(["-i", str(src), "-o", str(out_dir / "o.npz"), "--patch", str(yml)]) == code
    assert one_error_line(capsys.readouterr().err, key).startswith("blt-tokenize: error: ")
    assert os.listdir(out_dir) == []


def test_cli_process_failures_are_one_line(tmp_path, cl100k, vocab_dir):
    yml = write_yaml(tmp_path / "p.yml", "rule: space\nunknown_key: 1\n")
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("-i", yml, "-o", out / "o.npz", "--patch", yml)
    assert_failed_cleanly(r, 2, "unknown_key", out)
    # a runtime error inside the run (a disallowed special token in the text) exits 1, no file
    bpe = write_yaml(tmp_path / "b.yml", f"rule: bpe\nbpe: cl100k_base\nvocab_dir: {vocab_dir}\n")
    src = tmp_path / "in.txt"
    src.write_bytes(b"hello <|endoftext|> world" * 100)
    r = run_cli("-i", src, "-o", out / "o.npz", "--patch", bpe, "--chunksize", "16:16")
    assert_failed_cleanly(r, 1, "endoftext", out)
    # allowed_special makes it a token: one patch for it
    ok = write_yaml(tmp_path / "ok.yml", f"rule: bpe\nbpe: cl100k_base\nvocab_dir: {vocab_dir}\nallowed_special: all\n")
    r = run_cli("-i", src, "-o", out / "o.npz", "--patch", ok, "--chunksize", "16:16")
    assert r.returncode == 0, r.stderr
    want = blt.Patcher.bpe().patch(blt.ByteTokenizer(bpe=cl100k.native(allowed_special="all")).encode(src.read_bytes()))
    assert np.array_equal(read_patched(out / "o.npz")[1], want)
    # usage: --format and stdout do not apply
    for extra in (["-o", out / "x.npz", "--format", "npy"], ["-o", "-"]):
        r = run_cli("-i", src, "--patch", ok, *extra)
        assert_failed_cleanly(r, 2, out_dir=out, keep=["o.npz"])


def test_ctrl_c_while_tokenizing_leaves_nothing(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    yml = write_yaml(tmp_path / "p.yml", "rule: space\n")
    out = tmp_path / "out"
    out.mkdir()
    p = start_cli("-i", fifo, "-o", out / "o.npz", "--patch", yml)
    w = os.open(fifo, os.O_WRONLY)  # returns once the CLI reads the FIFO: the pipeline runs
    try:
        os.write(w, b"some bytes, then silence")
        r = interrupt(p, lambda: True)
    finally:
        os.close(w)
    assert_failed_cleanly(r, 130, "interrupted", out)


def test_ctrl_c_while_writing_npz_leaves_nothing(tmp_path):
    src = tmp_path / "zeros.bin"
    sparse_file(src, 48 << 20)  # cheap to create, 96 MB of ids to patch and write
    yml = write_yaml(tmp_path / "p.yml", "rule: static\npatch_size: 1000\n")
    out = tmp_path / "out"
    out.mkdir()
    p = start_cli("-i", src, "-o", out / "o.npz", "--patch", yml, "--chunksize", "64K:64K")
    # The temporary .npz appears once tokenizing is done and the patching pass writes it.
    r = interrupt(p, lambda: any(f.name.endswith(".tmp") for f in out.iterdir()))
    assert_failed_cleanly(r, 130, "interrupted", out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=600) | st.text(alphabet="ab \n.é\x00", max_size=600).map(str.encode),
    chunk=st.integers(1, 64),
    rule=st.sampled_from(["static", "space", "entropy", "bpe"]),
    threads=st.sampled_from([1, 2]),
)
def test_any_seam_gives_one_shot_patches(data, chunk, rule, threads, model_path, cl100k, vocab_dir):
    config = {"rule": rule, "max_patch_length": 5}
    if rule == "static":
        config["patch_size"] = 3
    if rule == "entropy":
        config["model"] = str(model_path)
    if rule == "bpe":
        config.update(bpe="cl100k_base", vocab_dir=str(vocab_dir))
    r = blt.tokenize_file(data, None, patch=config, chunk_size=(chunk, chunk), num_threads=threads)
    ids, lengths = r.ids, r.patch_lengths
    model = blt.EntropyModel.load(model_path) if rule == "entropy" else None
    want_ids, want_lengths = reference(data, {k: v for k, v in config.items() if k in ("rule", "patch_size", "max_patch_length")},
                                       model=model, enc=cl100k if rule == "bpe" else None)
    assert ids.tolist() == want_ids.tolist()
    assert lengths.tolist() == want_lengths.tolist()


def test_patch_refuses_a_bpe_vocabulary_flag(tmp_path):
    """BPE ids are not BLT byte ids: --patch with --vocab is a usage error, and nothing is written."""
    src = tmp_path / "in.txt"
    src.write_text("hello world\n")
    cfg = write_yaml(tmp_path / "p.yml", "rule: space\n")
    r = run_cli("--input", src, "--output", tmp_path / "out.npz", "--patch", cfg, "--vocab", "cl100k_base")
    assert_failed_cleanly(r, 2, "bpe:", tmp_path, keep=["in.txt", "p.yml"])


def test_peak_rss_with_every_stage_stays_within_memcap(corpus_dir, model_path, tmp_path):
    """Entropy patches and hash n-gram ids on 64 MB of text, memcap 32 MB: the CLI's peak RSS is
    at most that of the same command on a 1-byte input plus the memcap plus the fixed slack the
    encoder's memcap test allows. tools/patch_memcap.py measures the same on 2 GB (docs/pipeline.md).
    Would fail if a stage held a chunk's rows past the plan or collected an output array."""
    from test_cli import SLACK_KIB, _peak_rss_kib

    blob = b"".join((corpus_dir / n).read_bytes() for n in ("en_prose.txt", "code_python.txt", "multilingual.txt"))
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        for _ in range(64_000_000 // len(blob) + 1):
            f.write(blob)
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(b"x")
    yml = write_yaml(tmp_path / "p.yml", f"rule: entropy\nmodel: {model_path}\n"
                                         "hash_ngrams:\n  group_sizes: [3]\n  dtype: int32\n")
    memcap = 32 * 10**6
    flags = ["--patch", yml, "--memcap", "32MB", "--threads", "2", "--quiet"]
    base = _peak_rss_kib(tiny, "--input", tiny, "--output", tmp_path / "tiny.npz", *flags)
    peak = _peak_rss_kib(tiny, "--input", big, "--output", tmp_path / "big.npz", *flags)
    with np.load(tmp_path / "big.npz") as z:
        assert z["ids"].shape[0] == big.stat().st_size + 2 == z["hash_ids"].shape[0]
    assert peak <= base + memcap // 1024 + SLACK_KIB, (base, peak)

"""EntropyModel: entropies and bits per byte equal an independent pure-Python Witten-Bell
n-gram model; file format round trip and corruption; context resets; entropy patching with a
model (batches, chunked streams) and threshold calibration."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

import blt

B = 256  # boundary symbol in contexts, end-of-document outcome


class PyWittenBell:
    """Interpolated Witten-Bell over 257 outcomes, written directly from the formula."""

    def __init__(self, docs, order):
        self.n = order - 1
        self.counts = {}
        for doc in docs:
            syms = [B] + list(doc)
            targets = list(doc) + [B]
            for i, w in enumerate(targets, start=1):
                for l in range(0, min(self.n, i) + 1):
                    ctx = tuple(syms[i - l : i])
                    self.counts.setdefault(ctx, {}).setdefault(w, 0)
                    self.counts[ctx][w] += 1
        self.dist = lru_cache(maxsize=None)(self._dist)

    def _dist(self, ctx):
        base = np.full(257, 1 / 257) if not ctx else self.dist(ctx[1:])
        if ctx and ctx not in self.counts:
            return base
        c = self.counts[ctx]
        t, total = len(c), sum(c.values())
        p = t * base / (total + t)
        for w, k in c.items():
            p[w] += k / (total + t)
        return p

    def contexts(self, ids, reset=()):
        ctx = ()
        for i in ids:
            if i < 4 or i >= 260:
                ctx = (B,)
            elif i - 4 in reset:
                ctx = (i - 4,)
            else:
                ctx = (ctx + (i - 4,))[-self.n:] if self.n else ()
            ctx = ctx if self.n else ()
            yield ctx

    def entropies(self, ids, reset=()):
        out = []
        for ctx in self.contexts(ids, reset):
            p = self.dist(ctx)
            p = p[p > 0]
            out.append(float(-(p * np.log(p)).sum()))
        return np.array(out)

    def bits_per_byte(self, data):
        ids = [1] + [b + 4 for b in data]
        ctxs = list(self.contexts(ids))
        return float(np.mean([-math.log2(self.dist(c)[b]) for c, b in zip(ctxs, data)]))


@pytest.fixture(scope="module")
def prose(corpus_dir):
    return (corpus_dir / "en_prose.txt").read_bytes()


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_equals_python_witten_bell(prose, order):
    docs = [prose[:2500], prose[10_000:11_000]]
    model = blt.EntropyModel.train(docs, order=order)
    py = PyWittenBell(docs, order)
    test = prose[20_000:20_600] + b"\x00\xff"
    ids = blt.ByteTokenizer().encode(test)
    for reset in ((), (ord("\n"),)):
        got = model.entropies(ids, reset_context_at=[bytes([r]) for r in reset])
        np.testing.assert_allclose(got, py.entropies(ids.tolist(), reset), rtol=2e-5, atol=2e-5)
    assert model.bits_per_byte(test) == pytest.approx(py.bits_per_byte(test), rel=1e-9)


def test_context_reset_forgets_the_past(prose):
    model = blt.EntropyModel.train([prose[:200_000]], order=4)
    tok = blt.ByteTokenizer(eos=False)
    seqs = [tok.encode(p + b"\nAnd the end") for p in (b"the earth.", b"xy", b"God said,", b"and")]
    tails = [model.entropies(s)[-12:] for s in seqs]  # from the newline on
    for t in tails[1:]:
        np.testing.assert_array_equal(t, tails[0])
    no_reset = [model.entropies(s, reset_context_at=())[-12:] for s in seqs]
    assert any(not np.array_equal(t, no_reset[0]) for t in no_reset[1:])


def test_save_load_and_corruption(prose, tmp_path):
    model = blt.EntropyModel.train([prose[:50_000]], order=3)
    path = tmp_path / "m.bltngram"
    model.save(path)
    back = blt.EntropyModel.load(path)
    ids = blt.ByteTokenizer().encode(prose[60_000:62_000])
    np.testing.assert_array_equal(back.entropies(ids), model.entropies(ids))
    assert back.bits_per_byte(prose[:500]) == model.bits_per_byte(prose[:500])
    raw = bytearray(path.read_bytes())
    for mutate, what in ((lambda r: r.__setitem__(len(r) // 2, r[len(r) // 2] ^ 1), "checksum"),
                         (lambda r: r.__delitem__(slice(len(r) - 9, None)), "size"),
                         (lambda r: r.__setitem__(0, ord("X")), "magic"),
                         (lambda r: r.__setitem__(8, 99), "version")):
        bad = bytearray(raw)
        mutate(bad)
        p = tmp_path / f"bad_{what}"
        p.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match="not a valid entropy model"):
            blt.EntropyModel.load(p)
    with pytest.raises(FileNotFoundError):
        blt.EntropyModel.load(tmp_path / "missing")


def test_training_sources(corpus_dir, tmp_path):
    f1, f2 = tmp_path / "a.txt", tmp_path / "b.txt"
    f1.write_bytes(b"abcabc")
    f2.write_bytes(b"xyz")
    from_paths = blt.EntropyModel.train([f1, f2], order=3)
    from_iter = blt.EntropyModel.train(iter([b"abcabc", "xyz"]), order=3, batch_bytes=4)
    ids = blt.ByteTokenizer().encode(b"abcxyz")
    np.testing.assert_array_equal(from_paths.entropies(ids), from_iter.entropies(ids))
    single = blt.EntropyModel.train(str(f1), order=2)
    assert single.n_contexts == blt.EntropyModel.train([b"abcabc"], order=2).n_contexts
    for bad in (0, 7):
        with pytest.raises(ValueError):
            blt.EntropyModel.train([b"abc"], order=bad)
    with pytest.raises(ValueError):
        blt.EntropyModel.train([], order=2)


@pytest.fixture(scope="module")
def model4(prose):
    return blt.EntropyModel.train([prose[:400_000]], order=4, num_threads=2)


def test_patch_with_model_equals_from_entropies_and_streams(prose, model4):
    tok = blt.ByteTokenizer()
    docs = [tok.encode(prose[a : a + n]) for a, n in ((500_000, 3000), (510_000, 17), (520_000, 0), (530_000, 900))]
    for p in (blt.Patcher.entropy(model4), blt.Patcher.entropy(model4, monotonicity=True, threshold=0.5),
              blt.Patcher.entropy(model4, threshold=None, patch_size=4.5),
              blt.Patcher.entropy(model4, max_patch_length=6, include_next_token=True)):
        batch = p.patch(docs, num_threads=2)
        for ids, got in zip(docs, batch):
            want = p.from_entropies(model4.entropies(ids), ids)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(p.patch(ids), want)
            if p.threshold is not None:
                for chunk in (1, 5, 64, 1000):
                    s = p.stream()
                    parts = [s.feed(ids[a : a + chunk]) for a in range(0, len(ids), chunk)] + [s.finish()]
                    np.testing.assert_array_equal(np.concatenate(parts), want)
    packed = np.concatenate(docs)  # forced boundaries + context reset at BOS: no leakage
    p = blt.Patcher.entropy(model4)
    assert p.patch(packed).tolist() == sum((p.patch(d).tolist() for d in docs), [])


def test_calibrate_reaches_target(prose, model4):
    sample = prose[600_000:650_000]
    for target in (3.0, 4.5, 6.0):
        p = blt.Patcher.calibrate(model4, sample, target)
        lengths = p.patch(sample)
        assert lengths.sum() / len(lengths) == pytest.approx(target, abs=0.05)
        assert p.calibrated_bytes_per_patch == pytest.approx(lengths.sum() / len(lengths))
    with pytest.raises(ValueError):
        blt.Patcher.calibrate(model4, sample, 0.5)


def test_rules_on_corpus_entropies_equal_reference(corpus_text_files, model4):
    """Real next-byte entropies of corpus samples through every entropy rule vs the NumPy
    transcription of the reference (BOS/EOS forcing off: the reference has none)."""
    import _patch_reference as ref

    tok = blt.ByteTokenizer()
    rules = [dict(threshold=1.335442066192627), dict(threshold=0.4, monotonicity=True),
             dict(threshold=1.0, threshold_add=0.2), dict(threshold=None, patch_size=4.5)]
    for path in corpus_text_files:
        ids = tok.encode(path.read_bytes()[5000:8000])
        H = model4.entropies(ids)
        for rule in rules:
            for nxt in (False, True):
                p = blt.Patcher.entropy(include_next_token=nxt, force_boundaries=False, max_patch_length=10, **rule)
                starts = ref.entropy_start_ids(H, include_next_token=nxt, **rule)
                want = ref.lengths_from_start_ids(starts, len(H) + nxt, 10)
                assert p.from_entropies(H, ids).tolist() == want
                if rule["threshold"] is not None:
                    m = blt.Patcher.entropy(model4, include_next_token=nxt, force_boundaries=False,
                                            max_patch_length=10, **rule)
                    assert m.patch(ids).tolist() == want


def context_table_entropies(ids, keys, ent, order, reset_bytes=()):
    """Entropies by looking each position's context up in the model's sorted context table,
    longest suffix first (keys packed newest-first in 9-bit slots, see
    EntropyModel.context_table), one position at a time."""
    table = dict(zip(keys.tolist(), ent.tolist()))
    out, ctx = [], []
    for i in ids.tolist():
        code = 257 if (i < 4 or i >= 260) else i - 3
        if code == 257 or (i - 4) in reset_bytes:
            ctx = [code]
        else:
            ctx = ([code] + ctx)[: order - 1]
        ctx = ctx[: order - 1]
        for level in range(len(ctx), -1, -1):
            key = sum(c << (36 - 9 * j) for j, c in enumerate(ctx[:level]))
            if key in table:
                out.append(table[key])
                break
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_entropies_equal_context_table_lookup(corpus_dir, prose, order):
    """Exact (bitwise) equality with a plain lookup of the stored contexts, on familiar text,
    other languages, code and binary data (unseen contexts back off), with and without
    context resets, including specials and meta ids."""
    model = blt.EntropyModel.train([prose[:300_000]], order=order)
    keys, ent = model.context_table()
    data = (prose[400_000:402_000] + (corpus_dir / "multilingual.txt").read_bytes()[:3000]
            + (corpus_dir / "code_c.txt").read_bytes()[:1500] + (corpus_dir / "binary.bin").read_bytes()[:1500])
    ids = blt.ByteTokenizer().encode(data)
    ids = np.concatenate([ids[:3000], [2, 1, 3, 0, 264, 260], ids[3000:]]).astype(np.uint16)
    for reset in ((), (ord("\n"), ord(" "))):
        got = model.entropies(ids, reset_context_at=[bytes([r]) for r in reset])
        np.testing.assert_array_equal(got, context_table_entropies(ids, keys, ent, order, reset))

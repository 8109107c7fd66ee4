"""Pretokenizers: the OpenAI scanners split exactly like tiktoken and like PCRE2; safe cuts are safe.

The reference for the scanners is tiktoken itself. tiktoken does not expose its pieces, so
`tiktoken_pieces` builds an Encoding whose vocabulary holds every substring of the texts: tiktoken
looks each piece up whole before running BPE, so every piece comes back as one token.
"""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pytest
import tiktoken
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blt import _core

from bpe_helpers import ENCODINGS  # p50k_base shares r50k's pattern
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def patterns(vocab_dir) -> dict[str, str]:
    out = {}
    for name in ENCODINGS + ["p50k_base"]:
        out[name] = json.loads((vocab_dir / f"{name}.meta.json").read_text())["pat_str"]
    return out


def pieces(pre, data: bytes) -> list[bytes]:
    ends = pre.split(data).tolist()
    return [data[a:b] for a, b in zip([0] + ends[:-1], ends)]


def tiktoken_pieces(pattern: str, texts: list[str]) -> list[list[bytes]]:
    ranks = {bytes([i]): i for i in range(256)}
    for t in texts:
        for i in range(len(t)):
            for j in range(i + 1, len(t) + 1):
                ranks.setdefault(t[i:j].encode(), len(ranks))
    enc = tiktoken.Encoding("pieces", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    return [[enc.decode_single_token_bytes(tok) for tok in toks]
            for toks in enc.encode_ordinary_batch(texts, num_threads=1)]


# --- where PCRE2 and tiktoken (hence the scanners) classify characters differently -------------
# PCRE2 10.42 carries Unicode 14.0 tables, tiktoken's regex Unicode 16.0 (the scanners follow
# tiktoken). Measured over all 1,111,936 non-ASCII scalar values, the two differ on exactly
#   * the 9,485 code points unassigned in Unicode 14.0 that 15.0-16.0 made letters, marks or
#     numbers (PCRE2 sees Cn, i.e. "other"), and
#   * U+180E MONGOLIAN VOWEL SEPARATOR: PCRE2's \s lists it explicitly; it left White_Space in
#     Unicode 6.3, so tiktoken's \s does not match it.
# The PCRE2 comparisons therefore leave out code points unassigned in Unicode 14.0 (Python's
# unicodedata, when it is 14.0 like PCRE2) and U+180E; the tiktoken comparisons include them.
def _pcre2_equal_char(c: str) -> bool:
    return c != "\u180e" and unicodedata.category(c) != "Cn"


@pytest.fixture(scope="module")
def pcre2_exclusion_exact():
    if _core.pcre2_unicode_version() != unicodedata.unidata_version:
        pytest.skip(f"PCRE2 has Unicode {_core.pcre2_unicode_version()}, Python's unicodedata "
                    f"{unicodedata.unidata_version}: the exclusion set would not be exact")


def test_unicode_versions():
    assert _core.scanner_unicode_version() == "16.0.0"
    assert _core.pcre2_unicode_version().startswith("1")


# --- text strategies -----------------------------------------------------------------------------
SPACES = [" ", "  ", "\t", "\n", "\r", "\r\n", "\n\n", "\x0b", "\x0c", "\u00a0", "\u0085", "\u1680",
          "\u2000", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u180e",
          "\u200b", "\ufeff"]
DIGITS = ["0", "7", "42", "1234567", "\u0663", "\u096b", "\u0e53", "\U0001d7d8", "\u216b", "\u00bd",
          "\u00b2", "\U00011f55", "\U0001e4f3"]
APOSTROPHES = ["'", "\u2019"]
SUFFIXES = ["s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "rE", "Ve", "M", "LL", "lL", "D",
            "\u017f", "x", ""]
EMOJI = ["\U0001f44d", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
         "\u2764\ufe0f", "\U0001f3f3\ufe0f\u200d\U0001f308", "\u200d", "\ufe0f", "\U0001f3fb",
         "\U0001faea", "#\ufe0f\u20e3"]
LETTERS = ["a", "Z", "Hello", "WORLD", "camelCase", "\u00e9", "e\u0301", "\u0301", "\u20dd",
           "\u0915\u094d\u0937", "\u01c5", "\u01c8", "\u02b0", "\u4e2d\u6587", "\u0391\u03b2",
           "\u0416\u0436", "\u05e9\u05b8", "\U00010d50\U00010d70", "\U00031350", "\u1c89\u1c8a",
           "\ua7cb", "\u0e01\u0e34", "\u3042\u30a2", "\u00aa", "\u2160"]
PUNCT = [".", ",", "!?", "/", "//", "-", "(", ")", "\u2014", "\u00bf", "\u3002", "#", "@", "\\",
         "\x00", "\x1f", "\u00ad", "\ue000"]

fragments = st.one_of(
    st.sampled_from(SPACES),
    st.sampled_from(DIGITS),
    st.builds(lambda a, s: a + s, st.sampled_from(APOSTROPHES), st.sampled_from(SUFFIXES)),
    st.sampled_from(EMOJI),
    st.sampled_from(LETTERS),
    st.sampled_from(PUNCT),
    st.characters(exclude_categories=("Cs",)),  # any plane, any category
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=4),
)
texts = st.lists(fragments, max_size=24).map("".join)

# Invalid UTF-8 pieces: stray continuation bytes, truncated and overlong sequences, surrogates,
# code points above U+10FFFF, bytes that never occur in UTF-8.
INVALID = [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
           b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xfe\xff", b"\xe0\x80\xaf"]
byte_soups = st.lists(st.one_of(fragments.map(lambda s: s.encode("utf-8")),
                                st.sampled_from(INVALID), st.binary(max_size=3)),
                      max_size=24).map(b"".join)


def pcre2_comparable(data: bytes) -> bool:
    chars = set(data.decode("utf-8", errors="surrogateescape"))
    return all(_pcre2_equal_char(c) for c in chars if not "\udc80" <= c <= "\udcff")


# --- scanners vs tiktoken --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODINGS)
@SETTINGS
@given(text=texts)
def test_scanner_equals_tiktoken(patterns, name, text):
    pre = _core.Pretokenizer(patterns[name], "scanner")
    assert pieces(pre, text.encode()) == tiktoken_pieces(patterns[name], [text])[0]


# Code points whose class matters and that tiktoken (Unicode 16.0) and PCRE2 (14.0) may see
# differently: blocks added in Unicode 15.0-16.0, plus characters of every other kind.
NEW_BLOCKS = [(0x1C89, 0x1C8A), (0xA7CB, 0xA7DC), (0x0897, 0x0897), (0x0CF3, 0x0CF3),
              (0x0ECE, 0x0ECE), (0x105C0, 0x105F3), (0x10D40, 0x10D8F), (0x11380, 0x113E2),
              (0x11B00, 0x11B09), (0x11BC0, 0x11BF9), (0x11F00, 0x11F5A), (0x16100, 0x16139),
              (0x16D40, 0x16D79), (0x1D2C0, 0x1D2D3), (0x1E030, 0x1E08F), (0x1E4D0, 0x1E4F9),
              (0x1E5D0, 0x1E5FA), (0x1CC00, 0x1CCF9), (0x2EBF0, 0x2EC20), (0x31350, 0x31380)]


def _probe_code_points() -> list[str]:
    rng = random.Random(1)
    cps = {c for a, b in NEW_BLOCKS for c in range(a, b + 1)}
    cps |= {ord(c) for s in SPACES for c in s}
    cps |= {rng.randrange(0x80, 0x110000) for _ in range(1200)}
    cps |= {rng.randrange(0x80, 0x3400) for _ in range(800)}  # dense in scripts with case, marks
    return [chr(c) for c in sorted(cps) if not 0xD800 <= c <= 0xDFFF]


# Contexts that expose each class the patterns tell apart (L, N, \s, other; o200k: upper, lower,
# Lm/Lo, M): a piece joins or splits depending on it.
PROBES = ["a{}", "{}Aa", "1{}", "!{}", " {}x", "{}'s", "A{}a"]


@pytest.mark.parametrize("name", ENCODINGS)
def test_scanner_equals_tiktoken_per_code_point(patterns, name):
    probes = [p.format(c) for c in _probe_code_points() for p in PROBES]
    expected = tiktoken_pieces(patterns[name], probes)
    pre = _core.Pretokenizer(patterns[name], "scanner")
    got = [pieces(pre, t.encode()) for t in probes]
    bad = [(t, g, e) for t, g, e in zip(probes, got, expected) if g != e]
    assert not bad, f"{len(bad)} probes differ, e.g. {bad[:5]}"


def test_tiktoken_oracle_sees_new_letters(patterns):
    # Guards the claim above: Garay (16.0) letters are letters to tiktoken, CJK Ext. J (17.0) not.
    got = tiktoken_pieces(patterns["cl100k_base"], ["a\U00010d50", "a\U000323b0"])
    assert got == [["a\U00010d50".encode()], [b"a", "\U000323b0".encode()]]


# --- scanners vs PCRE2 -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODINGS)
def test_scanner_equals_pcre2_on_corpus(patterns, corpus_text_files, name, pcre2_exclusion_exact):
    scanner = _core.Pretokenizer(patterns[name], "scanner")
    regex = _core.Pretokenizer(patterns[name], "regex")
    assert corpus_text_files
    for path in corpus_text_files:
        data = path.read_bytes()
        assert pcre2_comparable(data), f"{path.name} holds a character PCRE2 classifies differently"
        a, b = scanner.split(data), regex.split(data)
        assert a[-1] == len(data)
        assert np.array_equal(a, b), path.name


@pytest.mark.parametrize("name", ENCODINGS)
@SETTINGS
@given(data=byte_soups)
def test_scanner_equals_pcre2_on_bytes(patterns, name, data, pcre2_exclusion_exact):
    data = data.decode("utf-8", "surrogateescape")
    data = "".join(c if "\udc80" <= c <= "\udcff" or _pcre2_equal_char(c) else "?" for c in data)
    data = data.encode("utf-8", "surrogateescape")
    assume(pcre2_comparable(data))  # replacing may have joined bytes into a new character
    scanner = _core.Pretokenizer(patterns[name], "scanner")
    regex = _core.Pretokenizer(patterns[name], "regex")
    got = pieces(scanner, data)
    assert got == pieces(regex, data)
    assert b"".join(got) == data and all(got)


# The scanners classify ASCII 16 bytes at a time and hand over to the Unicode code at the first
# byte >= 0x80: long ASCII runs of each case put the run ends, a following contraction or a
# non-ASCII letter, mark or space on every offset of a block and across block edges.
ASCII_RUNS = st.builds(lambda alphabet, n: (alphabet * 40)[:n],
                       st.sampled_from(["a", "Z", "aB", "Ab", "abcXYZ", "0", "19", " ", "\n", "\t",
                                        "!", ".,", "'", "/"]),
                       st.integers(0, 40))
MIXED_JOINS = ["", " ", "'s", "'LL", "'x", "\u017f", "\u00e9", "\u00c9", "\u0416\u0436", "\u4e2d",
               "\u01c5", "\u02b0", "\u0301", "\u0915\u094d", "\u2014", "\u00a0", "\u3000", "\u0663",
               "\u00bd", "\U0001f44d", " \n", "\r\n", "(", "1"]
block_parts = st.one_of(ASCII_RUNS, st.sampled_from(MIXED_JOINS))
block_texts = st.lists(block_parts, max_size=12).map("".join)
block_soups = st.lists(st.one_of(block_texts.map(lambda s: s.encode("utf-8")),
                                 st.sampled_from(INVALID)), max_size=4).map(b"".join)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=block_soups)
def test_scanner_equals_pcre2_across_ascii_blocks(patterns, name, data, pcre2_exclusion_exact):
    assume(pcre2_comparable(data))  # invalid bytes next to text may have formed a character
    scanner = _core.Pretokenizer(patterns[name], "scanner")
    regex = _core.Pretokenizer(patterns[name], "regex")
    got = pieces(scanner, data)
    assert got == pieces(regex, data)
    # The same text at every alignment: blocks then start at a different byte of it.
    for pad in (b"x", b"  ", b"1" * 7):
        shifted = pieces(scanner, pad + data)
        assert shifted == pieces(regex, pad + data)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(block_parts, max_size=5).map("".join))
def test_scanner_equals_tiktoken_across_ascii_blocks(patterns, name, text):
    pre = _core.Pretokenizer(patterns[name], "scanner")
    assert pieces(pre, text.encode()) == tiktoken_pieces(patterns[name], [text])[0]


def test_invalid_bytes_form_their_own_pieces(patterns):
    # A maximal run of bytes no match covers is one piece; pieces around it are unaffected.
    data = b"ab\xff\xfe cd\xe2\x82x"
    for kind in ("scanner", "regex"):
        pre = _core.Pretokenizer(patterns["cl100k_base"], kind)
        assert pieces(pre, data) == [b"ab", b"\xff\xfe", b" cd", b"\xe2\x82", b"x"]


# --- safe_split ------------------------------------------------------------------------------------
def cut_is_invisible(pre, data: bytes, p: int) -> bool:
    ends = pre.split(data).tolist()
    joined = pre.split(data[:p]).tolist() + [p + e for e in pre.split(data[p:]).tolist()]
    return ends == joined


safe_split_texts = st.lists(
    st.one_of(fragments, st.sampled_from(["\n", "\nA", "x\n", "\n\n", " \n", "a b", "\n  x",
                                          "\n/", "1 ", "\r\n"])),
    max_size=30).map(lambda parts: "".join(parts).encode("utf-8"))


@pytest.mark.parametrize("kind", ["scanner", "regex"])
@pytest.mark.parametrize("name", ENCODINGS)
@SETTINGS
@given(data=safe_split_texts, cut=st.integers(0, 1000), window_end=st.integers(0, 1000))
def test_safe_split_is_invisible(patterns, kind, name, data, cut, window_end):
    pre = _core.Pretokenizer(patterns[name], kind)
    target = cut % (len(data) + 1)
    window = data[: target + window_end % (len(data) - target + 1)]
    p = pre.safe_split(window, target)
    if p:
        assert 0 < p <= target and p < len(window)
        # whatever followed the window (here: the rest of data) and whatever preceded it
        assert cut_is_invisible(pre, data, p)
        assert cut_is_invisible(pre, b"x \n" + data, p + 3)


def test_safe_split_finds_cuts_and_the_check_can_fail(patterns):
    for name in ENCODINGS:
        pre = _core.Pretokenizer(patterns[name], "scanner")
        text = b"Hello world.\nNext line here"
        p = pre.safe_split(text, len(text) - 1)
        assert p > 0 and cut_is_invisible(pre, text, p)
    # Cutting after any newline is not safe: r50k's `\s+(?!\S)` sees the end of the text.
    r50k = _core.Pretokenizer(patterns["r50k_base"], "scanner")
    assert not cut_is_invisible(r50k, b"a \nb", 3)
    assert r50k.safe_split(b"a \nb", 3) != 3


def test_unknown_pattern_has_no_safe_split():
    pre = _core.Pretokenizer(r"\w+|\s+", "auto")
    assert pre.kind == "regex"
    assert pre.safe_split(b"abc def\nghi jkl", 10) == 0


# --- the PCRE2 fallback for other patterns -----------------------------------------------------------
def find_iter_pieces(pattern: str, text: str) -> list[str]:
    """Non-empty matches in tiktoken's find_iter order (an empty match moves the search one
    character on), and each stretch between them as one piece; by the Python regex module."""
    import regex

    rx = regex.compile(pattern)
    out, pos, search = [], 0, 0
    while search <= len(text):
        m = rx.search(text, search)
        if not m:
            break
        s, e = m.span()
        if e == s:
            search = s + 1
            continue
        if s > pos:
            out.append(text[pos:s])
        out.append(text[s:e])
        pos = search = e
    if pos < len(text):
        out.append(text[pos:])
    return out


@pytest.mark.parametrize("pattern", [r"\w+|[^\w\s]+|\s+", r"[a-z]+", r"a*", r"x*?b|", r"(?i)ab+",
                                     r"\d{2}(?=\D)", r"(?<=a)b+"])
@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="abAB xy12_.-\n", max_size=30))
def test_regex_pretokenizer_find_iter(pattern, text):
    pre = _core.Pretokenizer(pattern, "auto")
    assert pre.kind == "regex" and pre.pattern == pattern
    data = text.encode()
    assert [p.decode() for p in pieces(pre, data)] == find_iter_pieces(pattern, text)


def test_known_patterns_pick_scanners(patterns):
    assert patterns["p50k_base"] == patterns["r50k_base"]
    for name in ENCODINGS:
        assert _core.Pretokenizer(patterns[name]).kind == "scanner"
        assert _core.Pretokenizer(patterns[name], "regex").kind == "regex"


def test_errors(patterns):
    with pytest.raises(ValueError, match=r"invalid split pattern '\(ab'"):
        _core.Pretokenizer("(ab")
    with pytest.raises(ValueError, match="no scanner for pattern"):
        _core.Pretokenizer(r"\w+", "scanner")
    with pytest.raises(ValueError, match="unknown pretokenizer kind"):
        _core.Pretokenizer(r"\w+", "fast")
    pre = _core.Pretokenizer(patterns["cl100k_base"])
    with pytest.raises(TypeError):
        pre.split(12)
    assert pre.split(b"").tolist() == []
    assert pre.split("héllo wörld").tolist() == [6, 13]  # str is split as its UTF-8


def test_long_runs_do_not_break_pcre2(patterns):
    data = b" " * 300_000 + b"x" + b"\n" * 300_000 + "é".encode() * 100_000
    for name in ENCODINGS:
        a = _core.Pretokenizer(patterns[name], "scanner").split(data)
        b = _core.Pretokenizer(patterns[name], "regex").split(data)
        assert np.array_equal(a, b)

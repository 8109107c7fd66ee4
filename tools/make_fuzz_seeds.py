#!/usr/bin/env python3
"""Writes the text seed corpora of the fuzz targets under tests/fuzz/corpus (run once; the seeds
are committed). Samples come from the shared corpus and vocabularies (BLT_SHARED_DIR) plus hand-made
edge cases; the binary seeds (a BPE blob, an entropy-model file) come from the blt_fuzz_seeds tool
of the fuzz build. Usage: tools/make_fuzz_seeds.py [SHARED_DIR]
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BLT_SHARED_DIR", ROOT.parent / "shared"))
CORPUS = ROOT / "tests" / "fuzz" / "corpus"

EDGE_TEXTS = [
    b"",
    b"Hello world, it's 2024! I'll we've they're don't\n",
    b"   leading and trailing spaces   \n\n\n\t\t\r\n\r\n",
    b"1234567890 12 345 6789 3.14159 -42 1e10",
    b"!!!???...,,,;;;:::---___***",
    b"<|endoftext|>hello<|endoftext|> <|endoftext|",
    "caf\u00e9 na\u00efve \u00e9t\u00e9 \u4f60\u597d\u4e16\u754c \u3053\u3093\u306b\u3061\u306f \u041f\u0440\u0438\u0432\u0435\u0442".encode(),
    "e\u0301\u0301\u0301 a\u0300 \U0001F600\U0001F44D\U0001F3FD \u200b\u00a0\u2003x".encode(),
    b"\xff\xfe\x00a\x80\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82",
    b"\xef\xbb\xbfBOM first line\nsecond line",
    b"\x00\x00\x00 NUL \x00 bytes",
    b"def f(x):\n    return x  # comment\n\n\nclass A:\n\tpass\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody",
    b"ABCdefGHI jklMNO'S 'Ve 'LL \xce\xa3\xcf\x83\xcf\x82",
]


def slices(path: Path, n: int, size: int):
    data = path.read_bytes()
    for i in range(n):
        off = (len(data) // n) * i
        yield data[off:off + size]


def write(target: str, seeds):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds):
        (d / f"seed_{i:03d}").write_bytes(s)


def main() -> None:
    texts = list(EDGE_TEXTS)
    corpus = SHARED / "corpus"
    for name in ("en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt", "binary.bin"):
        if (corpus / name).exists():
            texts.extend(slices(corpus / name, 3, 400))
    # Each target reads a few decision bytes first; give each seed several prefixes.
    prefixed = [bytes([p, p >> 1, 7]) + t for t in texts for p in (0x00, 0x25, 0xd3)]
    write("fuzz_bpe_roundtrip", prefixed)
    write("fuzz_byte_codec", prefixed)
    write("fuzz_scanner_vs_pcre2", [bytes([16]) + t for t in texts])
    write("fuzz_file_pipeline", prefixed)
    write("fuzz_bpe_parts", [bytes([p, 1, 1, 0, 40]) + bytes(range(0, 200, 3)) + t
                             for t in texts[:14] for p in (0, 2, 3)])
    # Entropy model: mode 0 trains on the payload; the file seeds come from blt_fuzz_seeds.
    write("fuzz_entropy_model", [bytes([m]) + t for t in texts[:14] for m in (0x00, 0x14, 0x3c)])
    vocab = SHARED / "vocab" / "r50k_base.tiktoken"
    tik = []
    if vocab.exists():
        lines = vocab.read_bytes().splitlines(keepends=True)
        tik.append(b"".join(lines[:300]))
        tik.append(b"".join(lines[250:320]))
    tik += [b"IQ== 0\nIg== 1\n", b"IQ== 0\r\nIg== 1\r\n", b"IQ== 0\nIQ== 1\n", b"IQ== 0\nIg== 0\n",
            b"IQ==  0\n", b"IQ== x\n", b"!!! 0\n", b"IQ== 4000000000\n", b"IQ 0\n", b"\n\n", b"IQ==\n"]
    write("fuzz_tiktoken_loader", tik)


if __name__ == "__main__":
    main()

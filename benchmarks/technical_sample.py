"""A technical-English sample for the BPE benchmark, built from documentation on this machine.

The corpus's English is prose; users also tokenize documentation: inline code, tables, URLs,
option lists. This builds such a text from what every machine of this kind has, without a
download: the long descriptions (README markdown) of the Python packages installed in the venv,
the language reference of CPython's pydoc (`pydoc_data.topics`), and the markdown and README files
under /usr/share/doc. Sources are read in sorted order and cut at `--bytes`, so the same machine
gives the same file; its size and sha256 go into RESULTS.md beside the figures.

Run: `.venv/bin/python benchmarks/technical_sample.py --out build/bench/technical_en.txt`
"""

from __future__ import annotations

import argparse
import email.parser
import gzip
import hashlib
import sys
from pathlib import Path
from typing import Iterator

DEFAULT_BYTES = 4_000_000
MIN_DOC_BYTES = 2_000
ASCII_SHARE = 0.98  # English documentation; the corpus has its own multilingual file


def package_readmes() -> Iterator[tuple[str, str]]:
    """(name, markdown) of each installed distribution's long description."""
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for meta in sorted(site.glob("*.dist-info/METADATA")):
        msg = email.parser.Parser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        body = msg.get_payload()
        if isinstance(body, str):
            yield meta.parent.name, body


def pydoc_topics() -> Iterator[tuple[str, str]]:
    """(topic, text) of CPython's language reference as pydoc shows it."""
    import pydoc_data.topics as topics

    for name in sorted(topics.topics):
        yield f"pydoc:{name}", topics.topics[name]


def debian_docs() -> Iterator[tuple[str, str]]:
    """(path, text) of markdown and README files under /usr/share/doc (gzipped or not)."""
    root = Path("/usr/share/doc")
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        name = path.name.lower()
        if not path.is_file() or not (name.startswith("readme") or ".md" in name):
            continue
        raw = path.read_bytes()
        if name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                continue
        yield str(path), raw.decode("utf-8", errors="replace")


def english_docs() -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for source in (package_readmes(), pydoc_topics(), debian_docs()):
        for name, text in source:
            data = text.encode("utf-8")
            if len(data) < MIN_DOC_BYTES or sum(b < 128 for b in data) < ASCII_SHARE * len(data):
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            yield name, text


def build(limit: int) -> tuple[bytes, int]:
    """The sample (at most `limit` bytes, cut at a line end) and the number of documents in it."""
    out = bytearray()
    docs = 0
    for _, text in english_docs():
        data = text.encode("utf-8") + b"\n\n"
        if len(out) + len(data) > limit:
            room = limit - len(out)
            cut = data.rfind(b"\n", 0, room)
            if cut > 0:
                out += data[:cut + 1]
                docs += 1
            break
        out += data
        docs += 1
    return bytes(out), docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--bytes", type=int, default=DEFAULT_BYTES)
    args = ap.parse_args()
    data, docs = build(args.bytes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    print(f"{args.out}: {len(data)} bytes from {docs} documents, sha256 {hashlib.sha256(data).hexdigest()[:16]}")


if __name__ == "__main__":
    main()

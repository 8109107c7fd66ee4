"""Shared test settings: the one place that locates ../shared (vocabularies and corpus)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BLT_SHARED_DIR", REPO.parent / "shared")).resolve()


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set BLT_SHARED_DIR to the shared folder)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED)


@pytest.fixture(scope="session")
def vocab_dir() -> Path:
    return _require(SHARED / "vocab")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return _require(SHARED / "corpus")


@pytest.fixture(scope="session")
def corpus_text_files(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.glob("*.txt"))

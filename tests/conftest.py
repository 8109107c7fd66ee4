"""Shared test settings: the one place that locates ../shared (vocabularies and corpus).

Tests that need the shared data take one of the fixtures below. Without the data they skip, with
the reason; with BLT_REQUIRE_SHARED=1 (set by `make test` and CI) they fail instead, so a green run
always ran the parity suites.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bpe_helpers import blt_enc
from support import REPO

SHARED = Path(os.environ.get("BLT_SHARED_DIR") or REPO.parent / "shared").resolve()
REQUIRE_SHARED = os.environ.get("BLT_REQUIRE_SHARED") == "1"


@pytest.fixture(scope="session", autouse=True)
def _sigint_not_ignored():
    """Lets CLI children see SIGINT in the Ctrl-C tests, which act as a user at a terminal.

    A suite started as a background job of a non-interactive shell (``cmd &``) inherits an
    ignored SIGINT, and an ignored signal stays ignored across fork and exec: the children would
    never be interrupted. A handled signal is reset to the default on exec.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def _require(path: Path) -> Path:
    if not path.exists():
        reason = f"shared data not found at {path} (set BLT_SHARED_DIR to the shared folder)"
        if REQUIRE_SHARED:
            pytest.fail(f"{reason}; BLT_REQUIRE_SHARED=1 makes missing shared data a failure", pytrace=False)
        pytest.skip(reason)
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


@pytest.fixture(scope="session")
def cl100k(vocab_dir: Path):
    """cl100k_base from the shared vocabulary folder (one instance for the whole run)."""
    return blt_enc(vocab_dir, "cl100k_base")

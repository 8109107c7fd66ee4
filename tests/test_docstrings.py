"""Every public docstring example in the installed package runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import types

import pytest

import blt

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(blt.__path__, prefix="blt.") if not m.name.endswith("_core")
) + ["blt"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, vocab_dir):
    """Examples may use VOCAB_DIR, the shared vocabulary folder (tests pass it in)."""
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        extraglobs={"VOCAB_DIR": str(vocab_dir)},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_method_has_an_example():
    """The public classes document each public method with a runnable example."""
    missing = []
    for cls in (blt.ByteTokenizer, blt.BPETokenizer, blt.RaggedIds, blt.Patcher, blt.EntropyModel):
        for attr, value in vars(cls).items():
            if attr.startswith("_") or isinstance(value, types.MemberDescriptorType):
                continue
            doc = getattr(value, "__doc__", None) or getattr(getattr(value, "fget", None), "__doc__", None)
            if not doc or ">>>" not in doc:
                missing.append(f"{cls.__name__}.{attr}")
    assert not missing, f"public methods without a docstring example: {missing}"

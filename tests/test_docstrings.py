"""Every public docstring example in the installed package runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import blt

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(blt.__path__, prefix="blt.") if not m.name.endswith("_core")
) + ["blt"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"

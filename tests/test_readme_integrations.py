"""README's integration section: each integration is shown in under 10 lines, and every blt name
its snippets use exists."""

from __future__ import annotations

import re

import blt
import blt.hf_datasets
import blt.megatron
import blt.ray
import blt.torch
from support import REPO


def section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Training-data integrations")
    return text[start : text.index("\n## ", start + 1)]


def test_each_snippet_is_under_ten_lines():
    blocks = re.findall(r"```(?:python|sh)\n(.*?)```", section(), re.S)
    assert len(blocks) >= 4
    for b in blocks:
        assert len(b.strip().splitlines()) < 10, b


def test_names_in_snippets_exist():
    names = set(re.findall(r"blt\.(torch|hf_datasets|ray|megatron)\.(\w+)", section()))
    assert {m for m, _ in names} == {"torch", "hf_datasets", "ray", "megatron"}
    modules = {"torch": blt.torch, "hf_datasets": blt.hf_datasets, "ray": blt.ray, "megatron": blt.megatron}
    for module, name in names:
        assert hasattr(modules[module], name), f"blt.{module}.{name}"

"""The package's layering, read from the source tree: the modules of python/blt import each other
one way (no cycle, also through imports inside functions), no Python module is over 600 lines
and no translation unit of the binding is over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support import REPO

PACKAGE_ROOT = REPO / "python"
PACKAGE = PACKAGE_ROOT / "blt"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name; a .pyi without a .py (the extension _core)
    counts as a module too, so `from . import _core` reads as importing it."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py*")):
        if path.suffix in (".py", ".pyi"):
            found.setdefault(module_name(path), path)
    return {name: path for name, path in found.items()}


def is_package(path: Path) -> bool:
    return path.name in ("__init__.py", "__init__.pyi")


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that `name` imports anywhere in its body (module level, functions,
    TYPE_CHECKING blocks). `from X import y` imports X.y when that is a module, else X."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = name if is_package(path) else name.rpartition(".")[0]  # what `from .` means
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    out.add(sub)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports. Stubs (.pyi) run nothing: they are import targets
    only."""
    modules = package_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) if path.suffix == ".py" else set()
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path a -> ... -> a) through each strongly connected component of more
    than one module, by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [closed_path(graph, set(c), c[0]) for c in components]


def closed_path(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """A shortest path start -> ... -> start inside the component (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{start} is in a component without a cycle through it")


def test_the_cycle_finder_finds_and_prints_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_function_level_imports_are_read(tmp_path):
    pkg = tmp_path / "blt"
    (pkg / "serve").mkdir(parents=True)
    (pkg / "serve" / "__init__.py").write_text("from .engine import x\n")
    source = pkg / "serve" / "engine.py"
    source.write_text("from .. import _core\nfrom ..pipeline import f\n\n"
                      "def g():\n    import blt.patch\n    from . import registry\n")
    known = {"blt", "blt._core", "blt.pipeline", "blt.patch", "blt.serve", "blt.serve.engine",
             "blt.serve.registry"}
    assert imported_modules("blt.serve.engine", source, known) == {
        "blt._core", "blt.pipeline", "blt.patch", "blt.serve.registry"}
    assert imported_modules("blt.serve", pkg / "serve" / "__init__.py", known) == {"blt.serve.engine"}


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "blt.pipeline" in graph and graph["blt"], "the package was not read"
    found = cycles(graph)
    assert not found, "import cycles in python/blt:\n" + "\n".join("  " + " -> ".join(c) for c in found)


MAX_MODULE_LINES = 600
MAX_BINDING_LINES = 400


def limited_files() -> dict[str, int]:
    """Each file with a size limit (relative path -> limit): the package's Python modules and the
    binding's translation units (src/bindings/*.cpp)."""
    out = {str(p.relative_to(REPO)): MAX_MODULE_LINES for p in PACKAGE.rglob("*.py")}
    bindings = sorted((REPO / "src" / "bindings").glob("*.cpp"))
    assert bindings, "no binding translation units found under src/bindings"
    out.update({str(p.relative_to(REPO)): MAX_BINDING_LINES for p in bindings})
    return out


LIMITS = limited_files()


@pytest.mark.parametrize("relpath", sorted(LIMITS))
def test_file_is_within_its_line_limit(relpath):
    path = REPO / relpath
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LIMITS[relpath], f"{relpath} has {lines} lines, over the limit of {LIMITS[relpath]}"


def test_the_limits_cover_the_package_and_the_binding():
    assert "python/blt/__init__.py" in LIMITS and "python/blt/serve/server.py" in LIMITS
    assert "src/bindings/module.cpp" in LIMITS and "src/bindings/bpe.cpp" in LIMITS
